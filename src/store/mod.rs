//! Redis: the key layout, the Lua scripts and the typed calls the rest of the crate makes.
//!
//! Every key of one sale carries the sale's Redis Cluster hash tag (`fs:{<sale_id>}:...`), so
//! each script touches a single slot and the design moves to Redis Cluster unchanged. The only
//! keys outside a sale's slot are the purchase index (one key per purchase, written after the
//! script) and the set of sale ids (see `keys.rs`).
//!
//! One file per concern, each holding the Lua script it runs and the parsing of its reply:
//!
//! | file | what | used by |
//! |---|---|---|
//! | `client.rs` | the pool, timeouts, errors, the shared clock | everything below |
//! | `connection.rs` | pooled connections judged by their calls | `client.rs` |
//! | `keys.rs` | the key layout | everything below |
//! | `index.rs` | the purchase index, written after the scripts that make purchases | `reservation.rs`, `holds.rs`, `stock.rs` |
//! | `sales.rs` + `sale_start_round.lua` | create, replace, reset a sale; read it | admin, purchase routing |
//! | `reservation.rs` + `purchase_reserve.lua` | the purchase script; purchase lookups | reservation actors |
//! | `queue.rs` + `queue_ticket.lua`, `queue_admit.lua`, `queue_draw.lua` | the waiting room: tickets, admission at the sale's rate, the lottery | queue routes, admitters |
//! | `holds.rs` + `hold_settle.lua` | end a hold: pay, cancel, expire (the reaper) | hold routes, reaper |
//! | `stock.rs` + `sale_stock_change.lua` | add or remove units within a live round | admin |
//! | `waitlist.rs` + `waitlist_change.lua`, `waitlist_offer.lua` | join and leave a waitlist, read an entry; the offers made from released or added units | waitlist routes, `holds.rs`, `stock.rs` |
//! | `outbox.rs` + `outbox_ack.lua` | the outbox: read by the producers' group, claimed by the relay, acknowledged | producer, relay |
//! | `announcements.rs` | the round announcements (pub/sub) | per-process caches |
//! | `audit.rs` | full reads of a round | the audit |

mod announcements;
mod audit;
mod client;
mod connection;
mod holds;
mod index;
mod keys;
mod outbox;
mod queue;
mod reservation;
mod sales;
mod stock;
mod waitlist;

pub use announcements::RoundStarted;
pub use client::{Store, StoreError};
pub use holds::{HoldAction, Reaped, Settled};
pub use outbox::{Claimed, OutboxEntry};
pub use queue::{AdmissionStep, QueueProgress, Ticket, TicketLookup, TicketState};
pub use sales::{RoundChange, RoundOutcome};
pub use stock::{StockFigures, StockOutcome};

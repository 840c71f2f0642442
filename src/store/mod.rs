//! Redis by concern: one folder per concern, each with a small handle that owns its keys' use,
//! its Lua scripts and the parsing of their replies.
//!
//! Every key of one sale carries the sale's Redis Cluster hash tag (`fs:{<sale_id>}:...`), so
//! each script touches a single slot and the design moves to Redis Cluster unchanged. The only
//! keys outside a sale's slot are the purchase index (one key per purchase, written after the
//! script) and the sets of sale ids (see `keys.rs`).
//!
//! [`Store`] is the shared pool; its accessors hand out the handles, each a clone of the pool
//! with only its concern's calls. Where a rule of a purchase is decided:
//!
//! | folder / file | handle | what | used by |
//! |---|---|---|---|
//! | `client.rs`, `connection.rs` | [`Store`] | the pool, timeouts, errors, the shared clock, `PING` | every handle; readiness |
//! | `keys.rs` | | the key layout and the sale hash's keys, declared once | every handle |
//! | `reservations/` + `purchase_reserve.lua` | [`Reservations`] | the purchase: idempotency, the per-user limit, the sale's window, the purchase token, stock, the hold it makes; purchase lookups; the purchase index (`index.rs`) | reservation actors, purchase routes |
//! | `holds/` + `hold_settle.lua` | [`Holds`] | end a hold once: pay, cancel, expire (the reaper's batch); the set of sales with holds | hold routes, reapers |
//! | `waitlist/` + `waitlist_change.lua`, `waitlist_offer.lua` | [`Waitlist`] | join and leave a waitlist, read an entry; the offer library (`offers.rs`) that `holds/` and `sales/stock.rs` run to offer freed units | waitlist routes |
//! | `waiting_room/` + `queue_ticket.lua`, `queue_admit.lua`, `queue_draw.lua` | [`WaitingRoom`] | tickets, admission at the sale's rate, the lottery, the set of sales with a waiting room | queue routes, admitters, ticket streams |
//! | `outbox/` + `outbox_ack.lua` | [`Outbox`] | read by the producers' group, claimed by the relay, acknowledged, its length | producer, relay, dashboard |
//! | `sales/` + `sale_start_round.lua`, `sale_stock_change.lua` | [`Sales`] | create, replace, reset a sale (a new round); its reads and strategy; the set of every sale id; stock changes (`stock.rs`); round announcements (`announcements.rs`) | sale service, caches, producer, relay |
//! | `audit.rs` | [`Audit`] | full reads of a round, of every concern's records | the worker's audit |

mod audit;
mod client;
mod connection;
mod holds;
mod keys;
mod outbox;
mod reservations;
mod sales;
mod waiting_room;
mod waitlist;

pub use audit::{Audit, RoundWaitlist};
pub use client::{Store, StoreError};
pub use holds::{HoldAction, Holds, Reaped, Settled};
pub use outbox::{Claimed, Outbox, OutboxEntry};
pub use reservations::Reservations;
pub use sales::announcements::RoundStarted;
pub use sales::stock::{StockFigures, StockOutcome};
pub use sales::{RoundChange, RoundOutcome, Sales};
pub use waiting_room::{
    AdmissionStep, QueueProgress, Ticket, TicketLookup, TicketState, WaitingRoom,
};
pub use waitlist::Waitlist;

/// The handles, each sharing this pool.
impl Store {
    pub fn reservations(&self) -> Reservations {
        Reservations {
            redis: self.clone(),
        }
    }

    pub fn holds(&self) -> Holds {
        Holds {
            redis: self.clone(),
        }
    }

    pub fn waitlist(&self) -> Waitlist {
        Waitlist {
            redis: self.clone(),
        }
    }

    pub fn waiting_room(&self) -> WaitingRoom {
        WaitingRoom {
            redis: self.clone(),
        }
    }

    pub fn outbox(&self) -> Outbox {
        Outbox {
            redis: self.clone(),
        }
    }

    pub fn sales(&self) -> Sales {
        Sales {
            redis: self.clone(),
        }
    }

    pub fn audit(&self) -> Audit {
        Audit {
            redis: self.clone(),
        }
    }
}

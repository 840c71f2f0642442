//! flashsale: sells a limited stock to a stampede of buyers without overselling.
//!
//! The purchase path, in the order a request travels it:
//!
//! - [`http`]: actix-web handlers. They turn raw input into [`domain`] types (or a 4xx) and map
//!   every failure to one JSON error shape ([`http::errors`]).
//! - [`actors::reservation`]: the pool of `ReservationActor`s. Handlers hand a validated
//!   reservation to the pool; an actor batches whatever is queued at that moment into one Redis
//!   script call and answers each buyer separately.
//! - [`strategies`]: before the pool, each purchase is routed by its sale's strategy: `async`
//!   (the production path) and `redis` go to the pool; `naive` and `locking`, the seed's
//!   Postgres phases kept for comparison, sell from a Postgres row instead.
//! - [`store`]: everything that talks to Redis: key layout, the Lua scripts (in `store/lua/`),
//!   and the parsing of their replies.
//! - [`sold_out`]: the per-process sold-out cache that turns away buyers without a Redis round
//!   trip once a sale is gone, kept honest across processes by a Redis pub/sub channel.
//!
//!
//! Beside it: [`stock_watch`] feeds the sales' live stock streams, [`telemetry`] holds the logs
//! and the catalogue of metrics, and the pipeline that turns reservations into orders is in
//! [`actors`] (producer, relay, worker tree), [`kafka`], [`orders`] and [`worker`].
//!
//! [`startup`] wires these together into an [`startup::Application`]; [`config`] reads the
//! settings from the environment. The binaries in `src/bin/` only call into this library.

pub mod actors;
pub mod audit;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod kafka;
pub mod orders;
pub mod sold_out;
pub mod startup;
pub mod stock_watch;
pub mod store;
pub mod strategies;
pub mod telemetry;
pub mod worker;

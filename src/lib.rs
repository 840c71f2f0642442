//! flashsale: sells a limited stock to a stampede of buyers without overselling.
//!
//! Two processes share this library, and the folders say who runs what:
//!
//! - [`common`]: what both use: the domain and the purchase decision, events, settings,
//!   telemetry, the process lifecycle, and the clients of Redis ([`common::store`]),
//!   PostgreSQL ([`common::orders`]) and Kafka ([`common::kafka`]).
//! - The API process (`flashsale-api`): [`http`] (actix-web handlers), [`actors`] (the
//!   reservation pool, the Kafka producer, the outbox relay) and [`api`] (the application that
//!   wires them, the sale lifecycle, the purchase strategies, the per-process caches).
//! - The worker process (`flashsale-worker`): [`worker`] (the supervised consumer tree that
//!   persists events into PostgreSQL, and the audit).
//!
//! `common` imports neither process; neither process imports the other. A purchase travels
//! `http::purchases` -> `api::strategies` -> `actors::reservation` -> `common::store`
//! (one Lua script per batch) -> the sale's outbox -> `actors::producer` -> Kafka ->
//! `worker::consumer` -> `worker::persister` -> `common::orders` (docs/ARCHITECTURE.md).
//! The binaries in `src/bin/` only call into this library.

pub mod actors;
pub mod api;
pub mod common;
pub mod http;
pub mod worker;

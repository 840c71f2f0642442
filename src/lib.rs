//! flashsale: sells a limited stock to a stampede of buyers without overselling.
//!
//! Two processes share this library. Each has one top, its composition root in [`startup`],
//! which wires the layers below it; nothing imports it. The layers, each importing only the
//! ones below it (docs/ARCHITECTURE.md; `tests/architecture.rs` enforces the order):
//!
//! | layer | folders | what |
//! |---|---|---|
//! | the tops | [`startup`] | `startup::api` builds the API process, `startup::worker` the worker |
//! | the surfaces | [`http`], [`worker`] | the API's HTTP routes; the worker's consumer tree and the audit |
//! | the services | [`services`] | what the API decides: purchases by strategy, sales, checkout, admission, the GoFlash sales, stock streams |
//! | the actors | [`actors`] | the reservation pool, the Kafka producer, the outbox relay |
//! | the caches | [`caches`] | what an API process remembers per sale and round (sold-out flags, strategies) |
//! | the stores | [`store`], [`postgres`] | Redis by concern (keys, Lua scripts); PostgreSQL (orders) |
//! | the runtime | [`runtime`] | settings, telemetry, lifecycle, probes, the broker client, log limits |
//! | the domain | [`domain`] | validated types, the purchase decision, the events |
//!
//! A purchase travels `http::purchases` -> `services::purchases` -> `actors::reservation` ->
//! `store` (one Lua script per batch) -> the sale's outbox -> `actors::producer` -> Kafka ->
//! `worker::consumer` -> `worker::committer` -> `worker::leases::batch_commit` -> `postgres`.
//! The binaries in `src/bin/` only call into this library.

pub mod actors;
pub mod caches;
pub mod domain;
pub mod http;
pub mod postgres;
pub mod runtime;
pub mod services;
pub mod startup;
pub mod store;
pub mod worker;

//! The event pipeline end to end, against real services: Redis (a private one per test), the
//! Kafka-protocol broker (a topic and consumer group per test; a private broker where the
//! test stops it), PostgreSQL (a database per test). Processes are started, killed and
//! stopped for real where a test says so.
//!
//! These tests are heavy; `ops/test` runs them one at a time.

#[path = "../common/mod.rs"]
mod helpers;
mod support;

mod audit;
mod audit_endings;
mod delivery;
mod durability;
mod faults;
mod holds;
mod monitoring;
mod observability;
mod producer_cost;
mod recovery;
mod rounds;
mod strategies;

//! What only the worker process runs: the supervised consumer tree that persists the purchase
//! events, its counters ([`stats`]), and the audit command. The process itself (migrations,
//! topics, health endpoints) is built in `startup::worker`; `http` and this folder never
//! import each other (`tests/architecture.rs`).
//!
//! The tree: [`supervisor`] restarts [`consumer`] and [`committer`] together when either
//! fails. They are tokio tasks with bounded channels rather than actix actors: a panic in a
//! tokio task comes back to its supervisor as an error, while one in an actix actor takes down
//! its whole arbiter thread, and the supervisor's job is exactly to survive that.

pub mod audit;
pub mod committer;
pub mod consumer;
pub mod leases;
pub mod stats;
pub mod supervisor;

//! What only the worker process runs: the application (health endpoints and the supervised
//! consumer tree), the tree itself, and the audit command. Nothing here is imported by `api`,
//! `actors` or `http`.
//!
//! The tree: [`supervisor`] restarts [`consumer`] and [`persister`] together when either
//! fails. They are tokio tasks with bounded channels rather than actix actors: a panic in a
//! tokio task comes back to its supervisor as an error, while one in an actix actor takes down
//! its whole arbiter thread, and the supervisor's job is exactly to survive that.

pub mod audit;
pub mod consumer;
pub mod leases;
pub mod persister;
pub mod stats;
pub mod supervisor;

//! Actors. One file per actor, holding the actor, its messages and its handlers.
//!
//! API process (actix actors): [`reservation`] (the purchase path), [`producer`] (Kafka) and
//! [`relay`] (republishes what the producer did not get acknowledged).
//!
//! Worker process: [`supervisor`] over [`consumer`] and [`persister`]. These are tokio tasks
//! with bounded channels rather than actix actors: a panic in a tokio task comes back to its
//! supervisor as an error, while one in an actix actor takes down its whole arbiter thread, and
//! the supervisor's job is exactly to survive that.

pub mod consumer;
pub mod persister;
pub mod producer;
pub mod relay;
pub mod reservation;
pub mod supervisor;

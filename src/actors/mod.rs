//! The API process's actors (actix). One file per actor, holding the actor, its messages and
//! its handlers.
//!
//! - [`reservation`]: the pool of `ReservationActor`s on the purchase path.
//! - [`producer`]: the `KafkaProducerActor`, which drains the outboxes into Kafka, through
//!   [`producer::publisher`] (librdkafka and its delivery reports).
//! - [`relay`]: the `OutboxRelay`, which republishes what the producer did not get
//!   acknowledged.
//!
//! The worker's consumer tree lives in `src/worker/`: tokio tasks rather than actix actors,
//! because a panic in a tokio task comes back to its supervisor as an error, while one in an
//! actix actor takes down its whole arbiter thread, and the supervisor's job is exactly to
//! survive that.

pub mod producer;
pub mod relay;
pub mod reservation;

//! What both processes use: the domain and the purchase decision, the events they exchange,
//! settings, telemetry, the process lifecycle, and the clients of the services (Redis,
//! PostgreSQL, Kafka). Nothing here imports from `api`, `actors`, `http` or `worker`.

pub mod decision;
pub mod domain;
pub mod events;
pub mod kafka;
pub mod lifecycle;
pub mod log_limit;
pub mod log_throttle;
pub mod orders;
pub mod probes;
pub mod settings;
pub mod store;
pub mod telemetry;

//! What a process runs on, whatever it does: its settings, telemetry (logs and metrics), its
//! lifecycle (signals, set-up retries, the shutdown tree), the probes it serves, the broker
//! client's settings and topics, and the limits on repeated log lines.

pub mod broker;
pub mod lifecycle;
pub mod log_throttle;
pub mod outage_log;
pub mod probes;
pub mod settings;
pub mod telemetry;

//! Every environment variable flashsale reads, with its default and meaning: the one place a
//! default is written. docs/CONFIG.md's table is generated from [`ALL`] and a test fails when
//! the two differ (`UPDATE_DOCS=1 cargo test --lib settings` rewrites it).
//!
//! The declarations are split by the process that reads them (`catalogue/api.rs`,
//! `catalogue/worker.rs`, and `catalogue/shared.rs` for both); [`ALL`] fixes the docs' order.

mod api;
mod setting;
mod shared;
mod worker;

pub use api::*;
pub use setting::{DefaultValue, Process, Setting};
pub use shared::*;
pub use worker::*;

use Process::{Api, Both, Worker};

/// Every setting, in the order docs/CONFIG.md lists them.
pub const ALL: &[Setting] = &[
    HTTP_ADDR,
    HTTP_WORKERS,
    HTTP_BACKLOG,
    HTTP_BODY_TIMEOUT_MS,
    REDIS_URL,
    REDIS_POOL_SIZE,
    REDIS_TIMEOUT_MS,
    ADMIN_TOKEN,
    RESERVATION_ACTORS,
    RESERVATION_QUEUE,
    RESERVATION_BATCH,
    RESERVE_TIMEOUT_MS,
    SOLD_OUT_TTL_MS,
    SEED_SALES,
    SEED_STOCK,
    SEED_SALE_PREFIX,
    CORS_ORIGINS,
    SHUTDOWN_TIMEOUT_MS,
    KAFKA_MAX_IN_FLIGHT,
    OUTBOX_READ_BATCH,
    OUTBOX_RELAY_AGE_MS,
    OUTBOX_RELAY_INTERVAL_MS,
    OUTBOX_RELAY_BATCH,
    STREAM_MAX_CLIENTS,
    STREAM_MAX_CLIENTS_PER_ADDRESS,
    STREAM_HEARTBEAT_MS,
    RATE_LIMIT_IP_PER_SECOND,
    RATE_LIMIT_IP_BURST,
    RATE_LIMIT_USER_PER_SECOND,
    RATE_LIMIT_USER_BURST,
    RATE_LIMIT_MAX_KEYS,
    RATE_LIMIT_TRUSTED_PROXIES,
    PAYMENT_SECRET,
    TOKEN_SECRET,
    REAPER_INTERVAL_MS,
    REAPER_BATCH,
    DATABASE_URL,
    DB_POOL_SIZE,
    DB_TIMEOUT_MS,
    KAFKA_BROKERS,
    KAFKA_TOPIC,
    KAFKA_PARTITIONS,
    KAFKA_REPLICATION,
    KAFKA_LINGER_MS,
    KAFKA_BATCH,
    KAFKA_MESSAGE_TIMEOUT_MS,
    KAFKA_DEBUG,
    LOG_FORMAT,
    WORKER_HTTP_ADDR,
    WORKER_GROUP,
    WORKER_BATCH,
    WORKER_LINGER_MS,
    WORKER_LEASE_TTL_MS,
    WORKER_SHUTDOWN_MS,
];

/// The markdown table of [`ALL`], as docs/CONFIG.md carries it.
pub fn markdown_table() -> String {
    let mut table =
        String::from("| variable | default | read by | what it sets |\n|---|---|---|---|\n");
    for s in ALL {
        let default = match s.default {
            DefaultValue::Value(value) => format!("`{value}`"),
            DefaultValue::Unset => "unset".to_owned(),
            DefaultValue::OnePerCpu => "one per CPU".to_owned(),
        };
        let read_by = match s.read_by {
            Api => "API",
            Worker => "worker",
            Both => "both",
        };
        table.push_str(&format!(
            "| `{}` | {default} | {read_by} | {} |\n",
            s.name, s.meaning
        ));
    }
    table
}

//! The settings both processes read: PostgreSQL, Kafka and the log format.

use super::setting::Process::Both;
use super::setting::{setting, unset, Setting};

pub const DATABASE_URL: Setting = setting(
    "FLASHSALE_DATABASE_URL",
    "postgres://127.0.0.1:5432/flashsale",
    Both,
    "PostgreSQL connection URL; a password in it is never logged. The worker persists orders \
     there; the API reads whether a purchase is `confirmed`, and keeps the stock of `naive` and \
     `locking` sales there. The audit reads it too.",
);
pub const DB_POOL_SIZE: Setting = setting(
    "FLASHSALE_DB_POOL_SIZE",
    "4",
    Both,
    "Pooled PostgreSQL connections of each process (at least 1). In the API they serve the \
     `confirmed` lookups, the admin calls and the purchases of `naive`, `locking` and `redis` \
     sales.",
);
pub const DB_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_DB_TIMEOUT_MS",
    "3000",
    Both,
    "Longest wait for a pooled PostgreSQL connection (connecting included), and for each lookup \
     and stock-row write of the API. A whole `naive` or `locking` purchase is bounded by \
     `FLASHSALE_RESERVE_TIMEOUT_MS` instead; the worker's batch insert has a fixed limit of its \
     own.",
);
pub const KAFKA_BROKERS: Setting = setting(
    "FLASHSALE_KAFKA_BROKERS",
    "127.0.0.1:9092",
    Both,
    "Bootstrap brokers, comma-separated `host:port` (librdkafka `bootstrap.servers`).",
);
pub const KAFKA_TOPIC: Setting = setting(
    "FLASHSALE_KAFKA_TOPIC",
    "flashsale.purchases",
    Both,
    "Topic of the purchase events; dead letters go to `<topic>.dlq`.",
);
pub const KAFKA_PARTITIONS: Setting = setting(
    "FLASHSALE_KAFKA_PARTITIONS",
    "3",
    Both,
    "Partitions of both topics when a process creates them at start; existing topics are left \
     as they are.",
);
pub const KAFKA_REPLICATION: Setting = setting(
    "FLASHSALE_KAFKA_REPLICATION",
    "1",
    Both,
    "Replication factor of both topics when a process creates them at start.",
);
pub const KAFKA_LINGER_MS: Setting = setting(
    "FLASHSALE_KAFKA_LINGER_MS",
    "5",
    Both,
    "How long a producer waits to fill a batch (librdkafka `linger.ms`). API: purchase events; \
     worker: dead letters.",
);
pub const KAFKA_BATCH: Setting = setting(
    "FLASHSALE_KAFKA_BATCH",
    "1000",
    Both,
    "Most events in one producer batch (librdkafka `batch.num.messages`).",
);
pub const KAFKA_MESSAGE_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_KAFKA_MESSAGE_TIMEOUT_MS",
    "30000",
    Both,
    "How long a producer retries one event before giving up (librdkafka `message.timeout.ms`). \
     API: the entry stays in the outbox for the relay; worker: it also bounds each dead-letter \
     publish.",
);
pub const KAFKA_DEBUG: Setting = unset(
    "FLASHSALE_KAFKA_DEBUG",
    Both,
    "librdkafka `debug` contexts for every Kafka client of the process, comma-separated (for \
     example `cgrp,fetch`). Unset or blank: none.",
);
pub const LOG_FORMAT: Setting = setting(
    "FLASHSALE_LOG_FORMAT",
    "text",
    Both,
    "`json`: one JSON object per log line. Anything else: text. The level is `RUST_LOG` (below).",
);

//! Every environment variable flashsale reads, with its default and meaning: the one place a
//! default is written. docs/CONFIG.md's table is generated from [`ALL`] and a test fails when
//! the two differ (`UPDATE_DOCS=1 cargo test --lib settings` rewrites it).

/// Which process reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Api,
    Worker,
    Both,
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value.
    Value(&'static str),
    /// Unset: the feature it configures is off (or, for a secret, refused).
    Unset,
    /// The number of CPUs the process may use.
    OnePerCpu,
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub default: DefaultValue,
    pub read_by: Process,
    pub meaning: &'static str,
}

const fn setting(
    name: &'static str,
    default: &'static str,
    read_by: Process,
    meaning: &'static str,
) -> Setting {
    Setting {
        name,
        default: DefaultValue::Value(default),
        read_by,
        meaning,
    }
}

const fn unset(name: &'static str, read_by: Process, meaning: &'static str) -> Setting {
    Setting {
        name,
        default: DefaultValue::Unset,
        read_by,
        meaning,
    }
}

use Process::{Api, Both, Worker};

// The API process.
pub const HTTP_ADDR: Setting = setting(
    "FLASHSALE_HTTP_ADDR",
    "127.0.0.1:8080",
    Api,
    "Listen address of the API, `IP:port`. Port 0 picks a free port.",
);
pub const HTTP_WORKERS: Setting = Setting {
    name: "FLASHSALE_HTTP_WORKERS",
    default: DefaultValue::OnePerCpu,
    read_by: Api,
    meaning: "HTTP worker threads (0 counts as 1).",
};
pub const HTTP_BACKLOG: Setting = setting(
    "FLASHSALE_HTTP_BACKLOG",
    "4096",
    Api,
    "Connections the kernel queues for the API before it accepts them (the `listen` backlog); \
     at least 1; the kernel caps it at `net.core.somaxconn`. A stampede opens many at once; a full queue \
     drops SYNs, which clients retry only after a second.",
);
pub const HTTP_BODY_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_HTTP_BODY_TIMEOUT_MS",
    "5000",
    Api,
    "Longest time a request body (at most 4096 bytes) may take to arrive, counted once its \
     headers are in; past it, 408 `request_timeout` and the connection is closed. The headers \
     have their own 5 s.",
);
pub const REDIS_URL: Setting = setting(
    "FLASHSALE_REDIS_URL",
    "redis://127.0.0.1:6379",
    Api,
    "Redis connection URL; a password in it is never logged. The audit (`flashsale-worker \
     audit`) reads it too.",
);
pub const REDIS_POOL_SIZE: Setting = setting(
    "FLASHSALE_REDIS_POOL_SIZE",
    "16",
    Api,
    "Pooled Redis connections of the API, each multiplexed (at least 1). It sizes the Redis \
     pool only: the PostgreSQL pool is `FLASHSALE_DB_POOL_SIZE`.",
);
pub const REDIS_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_REDIS_TIMEOUT_MS",
    "1000",
    Api,
    "Longest wait for a pooled Redis connection (connecting included), and for each Redis call \
     on it; a connection whose call timed out or failed at the socket is replaced. PostgreSQL \
     has its own, `FLASHSALE_DB_TIMEOUT_MS`.",
);
pub const ADMIN_TOKEN: Setting = unset(
    "FLASHSALE_ADMIN_TOKEN",
    Api,
    "Bearer token of the admin API. Unset, empty or blank: every admin call gets 401.",
);
pub const RESERVATION_ACTORS: Setting = setting(
    "FLASHSALE_RESERVATION_ACTORS",
    "4",
    Api,
    "Reservation actors in the pool; each has at most one Redis call in flight (0 counts as 1).",
);
pub const RESERVATION_QUEUE: Setting = setting(
    "FLASHSALE_RESERVATION_QUEUE",
    "256",
    Api,
    "Purchases one reservation actor may hold, queued and in flight. When every actor is full, \
     a purchase gets 503 `overloaded` at once, without Redis.",
);
pub const RESERVATION_BATCH: Setting = setting(
    "FLASHSALE_RESERVATION_BATCH",
    "128",
    Api,
    "Most purchases an actor takes into one batch, which becomes one script call per sale in it \
     (0 counts as 1).",
);
pub const RESERVE_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_RESERVE_TIMEOUT_MS",
    "3000",
    Api,
    "Longest a purchase waits for its decision, queueing included; past it, 503 `unavailable`. \
     It also bounds a whole `naive` or `locking` purchase, the order write of a `redis` \
     purchase, and for a `broker` sale the wait for the broker's acknowledgement.",
);
pub const SOLD_OUT_TTL_MS: Setting = setting(
    "FLASHSALE_SOLD_OUT_TTL_MS",
    "1000",
    Api,
    "How long the local sold-out flag is trusted: until it expires, purchases without an \
     Idempotency-Key get 409 `sold_out` without asking Redis.",
);
pub const SEED_SALES: Setting = setting(
    "FLASHSALE_SEED_SALES",
    "true",
    Api,
    "`true` or `false`: create the seed's four sales (`<prefix>-naive`, `-locking`, `-redis`, \
     `-async`, one per strategy, limit 1, no window) at start unless they exist, each retried \
     every second until its store answers. The seed's routes (`POST /purchase`, ...) sell from \
     them; with `false` they answer 404 `sale_not_found` until someone creates the sales.",
);
pub const SEED_STOCK: Setting = setting(
    "FLASHSALE_SEED_STOCK",
    "100",
    Api,
    "Units of each seed sale when it is created at start (0 to 10000000), as the seed's 100.",
);
pub const SEED_SALE_PREFIX: Setting = setting(
    "FLASHSALE_SEED_SALE_PREFIX",
    "seed",
    Api,
    "First part of the seed sales' ids (`seed-async`, ...): lets several deployments share one \
     Redis. The ids must still be valid sale ids.",
);
pub const CORS_ORIGINS: Setting = unset(
    "FLASHSALE_CORS_ORIGINS",
    Api,
    "Comma-separated origins (`http://localhost:5173`) whose browser pages may call the API \
     (CORS, preflights answered). Unset: no cross-origin access.",
);
pub const SHUTDOWN_TIMEOUT_MS: Setting = setting(
    "FLASHSALE_SHUTDOWN_TIMEOUT_MS",
    "10000",
    Api,
    "After SIGTERM or Ctrl-C: the grace period for in-flight requests, used in whole seconds \
     (rounded down, at least 1); then, separately, the longest wait for the producer to flush.",
);
pub const KAFKA_MAX_IN_FLIGHT: Setting = setting(
    "FLASHSALE_KAFKA_MAX_IN_FLIGHT",
    "10000",
    Api,
    "Most events the producer holds unacknowledged; the rest wait in the outbox and are read \
     as acknowledgements make room.",
);
pub const OUTBOX_READ_BATCH: Setting = setting(
    "FLASHSALE_OUTBOX_READ_BATCH",
    "1000",
    Api,
    "Most entries the producer reads from one sale's outbox at a time (at most the room left \
     under `FLASHSALE_KAFKA_MAX_IN_FLIGHT`; 0 counts as 1).",
);
pub const OUTBOX_RELAY_AGE_MS: Setting = setting(
    "FLASHSALE_OUTBOX_RELAY_AGE_MS",
    "5000",
    Api,
    "How long an outbox entry a producer read may wait unacknowledged (by the Redis clock) \
     before the relay of any API process takes it over and publishes it again.",
);
pub const OUTBOX_RELAY_INTERVAL_MS: Setting = setting(
    "FLASHSALE_OUTBOX_RELAY_INTERVAL_MS",
    "1000",
    Api,
    "Time between relay scans, and between the producer's sweeps of every sale's outbox (which \
     read entries whose process died before it read them); a scan that takes longer is not \
     overlapped by the next.",
);
pub const OUTBOX_RELAY_BATCH: Setting = setting(
    "FLASHSALE_OUTBOX_RELAY_BATCH",
    "1000",
    Api,
    "Pending entries per page the relay takes over from one sale's outbox; a scan takes up to 10 pages per \
     sale.",
);
pub const STREAM_MAX_CLIENTS: Setting = setting(
    "FLASHSALE_STREAM_MAX_CLIENTS",
    "10000",
    Api,
    "Stock-stream clients one API process serves at once; one more gets 503 `overloaded`.",
);
pub const STREAM_HEARTBEAT_MS: Setting = setting(
    "FLASHSALE_STREAM_HEARTBEAT_MS",
    "15000",
    Api,
    "Time between heartbeats on a quiet stock stream (less than 100 counts as 100); a client \
     that left is noticed within two.",
);
pub const RATE_LIMIT_IP_PER_SECOND: Setting = unset(
    "FLASHSALE_RATE_LIMIT_IP_PER_SECOND",
    Api,
    "Purchases one client address may send per second, once its burst is spent: a number above \
     0 (`0.5` is one every 2 s). Unset or blank: no limit per address. Over it: 429 \
     `rate_limited` with `Retry-After`. Counted per API process (docs/OPERATIONS.md, section 6): \
     with N processes behind a balancer, set the total divided by N.",
);
pub const RATE_LIMIT_IP_BURST: Setting = setting(
    "FLASHSALE_RATE_LIMIT_IP_BURST",
    "20",
    Api,
    "Purchases one client address may send at once before its per-second rate applies; at \
     least 1. Read only when `FLASHSALE_RATE_LIMIT_IP_PER_SECOND` is set.",
);
pub const RATE_LIMIT_USER_PER_SECOND: Setting = unset(
    "FLASHSALE_RATE_LIMIT_USER_PER_SECOND",
    Api,
    "Purchases one `user_id` may send per second, once its burst is spent: a number above 0. \
     Unset or blank: no limit per user. Over it: 429 `rate_limited` with `Retry-After`. Per API \
     process, like the address's.",
);
pub const RATE_LIMIT_USER_BURST: Setting = setting(
    "FLASHSALE_RATE_LIMIT_USER_BURST",
    "5",
    Api,
    "Purchases one `user_id` may send at once before its per-second rate applies; at least 1. \
     Read only when `FLASHSALE_RATE_LIMIT_USER_PER_SECOND` is set.",
);
pub const RATE_LIMIT_MAX_KEYS: Setting = setting(
    "FLASHSALE_RATE_LIMIT_MAX_KEYS",
    "100000",
    Api,
    "Addresses (and, separately, users) whose recent requests one API process remembers; at \
     least 1. Past it the idle ones are forgotten, and if that is not enough (a flood of new \
     addresses or user ids) all of that kind are: memory stays bounded, and a key forgotten \
     starts again with its full burst.",
);
pub const RATE_LIMIT_TRUSTED_PROXIES: Setting = unset(
    "FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES",
    Api,
    "Comma-separated addresses or networks (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`) of the \
     reverse proxies in front of the API. A request from one of them is limited by the \
     address its `X-Forwarded-For` names: the rightmost one that is not itself a trusted \
     proxy. Unset or blank: the header is ignored and the limit is per connecting address.",
);
pub const PAYMENT_SECRET: Setting = unset(
    "FLASHSALE_PAYMENT_SECRET",
    Api,
    "Shared secret of the payment webhook (`POST /api/v1/purchases/{id}/payment`): the shop \
     signs each call with HMAC-SHA256 under it. Unset, empty or blank: every payment gets 401.",
);
pub const TOKEN_SECRET: Setting = unset(
    "FLASHSALE_TOKEN_SECRET",
    Api,
    "Key of the purchase tokens the waiting room of a `fifo` or `random` sale hands admitted \
     buyers (HMAC-SHA256); every API process must share it, so a token made by one is accepted \
     by all. Use 32 or more random bytes. Unset, empty or blank: sales with a waiting room \
     cannot be created (409 `admission_not_configured`) and tokens are refused as \
     `token_invalid`.",
);
pub const REAPER_INTERVAL_MS: Setting = setting(
    "FLASHSALE_REAPER_INTERVAL_MS",
    "200",
    Api,
    "How often each API process's reaper expires the holds whose deadline passed (0 counts as \
     1); a hold is released at most this long, plus the time of the batches before it, after \
     its deadline.",
);
pub const REAPER_BATCH: Setting = setting(
    "FLASHSALE_REAPER_BATCH",
    "1000",
    Api,
    "Holds expired by one script call at most (0 counts as 1); a reaper calls again at once \
     while batches come back full.",
);

// Both processes.
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

// The worker process.
pub const WORKER_HTTP_ADDR: Setting = setting(
    "FLASHSALE_WORKER_HTTP_ADDR",
    "127.0.0.1:9091",
    Worker,
    "Listen address of the worker's `/healthz`, `/readyz` and `/metrics`, `IP:port`. Port 0 \
     picks a free port. Not 8081: the seed's control room calls that port by default.",
);
pub const WORKER_GROUP: Setting = setting(
    "FLASHSALE_WORKER_GROUP",
    "flashsale-worker",
    Worker,
    "The group of workers that share the topic's partitions through leases in PostgreSQL \
     (table `partition_leases`); also librdkafka's `group.id`, though no Kafka consumer group \
     is joined.",
);
pub const WORKER_BATCH: Setting = setting(
    "FLASHSALE_WORKER_BATCH",
    "2000",
    Worker,
    "Most events persisted in one statement, and committed together.",
);
pub const WORKER_LINGER_MS: Setting = setting(
    "FLASHSALE_WORKER_LINGER_MS",
    "20",
    Worker,
    "How long the consumer waits to fill a batch once it holds at least one event.",
);
pub const WORKER_LEASE_TTL_MS: Setting = setting(
    "FLASHSALE_WORKER_LEASE_TTL_MS",
    "6000",
    Worker,
    "How long a worker's lease on a partition lasts without renewal (it renews every third of \
     this): a worker killed or hung loses its partitions this long after its last renewal, and \
     the others take them. See docs/DELIVERY.md.",
);
pub const WORKER_SHUTDOWN_MS: Setting = setting(
    "FLASHSALE_WORKER_SHUTDOWN_MS",
    "10000",
    Worker,
    "After SIGTERM or Ctrl-C: the time to persist and commit what was fetched and release the \
     leases; past it the process exits with code 1.",
);

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

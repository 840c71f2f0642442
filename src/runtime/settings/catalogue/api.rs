//! The settings only the API process reads.

use super::setting::Process::Api;
use super::setting::{setting, unset, DefaultValue, Setting};

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
    "Stream clients one API process serves at once, per kind (stock streams, the seed's `/stream` included, and ticket streams); one more gets 503 `overloaded`.",
);
pub const STREAM_MAX_CLIENTS_PER_ADDRESS: Setting = setting(
    "FLASHSALE_STREAM_MAX_CLIENTS_PER_ADDRESS",
    "100",
    Api,
    "Streams of one kind one client address (as the rate limits count it, behind \
     `FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES`) may hold open on one API process, so one client \
     cannot take every place of `FLASHSALE_STREAM_MAX_CLIENTS`; one more gets 503 `overloaded`.",
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

//! The settings only the worker process reads.

use super::setting::Process::Worker;
use super::setting::{setting, Setting};

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

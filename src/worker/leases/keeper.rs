//! The lease keeper: the task that renews this worker's leases and tells the consumer which
//! partitions it holds.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Held, Leases};
use crate::runtime::outage_log::OutageLog;

/// How often a worker whose last renewal failed tries again (Postgres down): resuming soon
/// after Postgres is back matters more than the few queries.
const RETRY_WHILE_DOWN: Duration = Duration::from_millis(500);

/// Renews the leases every third of the TTL, and publishes what the worker holds. When
/// renewals have failed for a whole TTL (Postgres down), it publishes that nothing is held:
/// the leases may have gone to another worker, and the consumer stops.
pub struct LeaseKeeper {
    leases: Leases,
    partitions: i32,
    held: watch::Sender<Held>,
}

impl LeaseKeeper {
    /// A keeper for `partitions` partitions; the receiver sees what is held, and is told
    /// when the set of partitions changes.
    pub fn new(leases: Leases, partitions: i32) -> (Self, watch::Receiver<Held>) {
        let (held, receiver) = watch::channel(Held::new());
        let keeper = Self {
            leases,
            partitions,
            held,
        };
        (keeper, receiver)
    }

    /// Renews until `stop`; then releases every lease (a clean stop hands over at once).
    pub async fn run(self, stop: CancellationToken) {
        static POSTGRES: OutageLog = OutageLog::new("worker: renew the partition leases");
        let every = self.leases.ttl() / 3;
        let mut last_renewal = Instant::now();
        loop {
            let wait = match self.leases.renew(self.partitions).await {
                Ok(held) => {
                    POSTGRES.succeeded();
                    last_renewal = Instant::now();
                    self.publish(held);
                    every
                }
                Err(error) => {
                    POSTGRES.failed(&error);
                    if last_renewal.elapsed() >= self.leases.ttl() {
                        self.publish(Held::new());
                    }
                    RETRY_WHILE_DOWN.min(every)
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(error) = self.leases.release_all().await {
            tracing::warn!(%error, "could not release the partition leases; they expire on their own");
        }
    }

    fn publish(&self, held: Held) {
        self.held.send_if_modified(|current| {
            // Offsets of partitions kept change as batches commit; only the set matters here.
            let changed = !current.keys().eq(held.keys());
            if changed {
                tracing::info!(partitions = ?held.keys().collect::<Vec<_>>(), "partition leases held");
            }
            *current = held;
            changed
        });
    }
}

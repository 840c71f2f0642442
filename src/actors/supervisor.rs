//! The worker's root supervisor: starts the persister and the consumer, and restarts them
//! together (one for all) when either fails or panics, with a doubling backoff. Restarting
//! both is what keeps the guarantee simple: a new consumer resumes from the last committed
//! offsets, so whatever the failed pair had fetched but not committed is read again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::consumer::ConsumerRun;
use super::persister::Persister;
use crate::config::WorkerSettings;
use crate::orders::Orders;
use crate::telemetry::names;

/// First wait before a restart; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run that lasted this long counts as healthy: the next failure starts from `MIN_BACKOFF`.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Counters of this worker instance, for its `healthz`; each also moves the process-wide
/// metric of the same meaning (see `telemetry::names`).
#[derive(Debug, Default)]
pub struct WorkerStats {
    restarts: AtomicU64,
    persisted: AtomicU64,
    duplicates: AtomicU64,
    dead_lettered: AtomicU64,
}

impl WorkerStats {
    /// Zero counters; the worker's metrics are listed from the start, at zero until the
    /// first of each happens.
    pub fn new() -> Self {
        metrics::counter!(names::ACTOR_RESTARTS, "actor" => "consumer_tree").increment(0);
        for counter in [
            names::WORKER_CONSUMED,
            names::WORKER_PERSISTED,
            names::WORKER_DUPLICATES,
            names::WORKER_DEAD_LETTERED,
            names::WORKER_COMMIT_FAILURES,
        ] {
            metrics::counter!(counter).increment(0);
        }
        Self::default()
    }
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
    pub fn persisted(&self) -> u64 {
        self.persisted.load(Ordering::Relaxed)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
    fn add_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::ACTOR_RESTARTS, "actor" => "consumer_tree").increment(1);
    }
    pub(super) fn add_persisted(&self, n: u64) {
        self.persisted.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_PERSISTED).increment(n);
    }
    pub(super) fn add_duplicates(&self, n: u64) {
        self.duplicates.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_DUPLICATES).increment(n);
    }
    pub(super) fn add_dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_DEAD_LETTERED).increment(n);
    }
}

/// Runs the consumer tree until `stop`, restarting it after every failure.
pub async fn supervise(
    settings: WorkerSettings,
    orders: Orders,
    dead_letters: FutureProducer,
    stats: Arc<WorkerStats>,
    stop: CancellationToken,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let started = Instant::now();
        let (persister, persister_task) = Persister::spawn(orders.clone());
        let run = ConsumerRun {
            settings: settings.clone(),
            persister,
            dead_letters: dead_letters.clone(),
            stats: Arc::clone(&stats),
            stop: stop.clone(),
        };
        // Its own task, so a panic inside ends up here as an error instead of ending the process.
        let outcome = tokio::spawn(run.run()).await;
        // The consumer held the only handle, so the persister has finished its last batch.
        if let Err(error) = persister_task.await {
            tracing::error!(%error, "the persister failed");
        }
        match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => tracing::error!(%error, "the consumer failed"),
            Err(error) => tracing::error!(%error, "the consumer panicked"),
        }
        if stop.is_cancelled() {
            return;
        }
        stats.add_restart();
        if started.elapsed() >= HEALTHY_RUN {
            backoff = MIN_BACKOFF;
        }
        tracing::info!(
            ?backoff,
            restarts = stats.restarts(),
            "restarting the consumer tree"
        );
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

//! The worker's counters: what its `healthz` shows, each also moving the process-wide metric
//! of the same meaning.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::telemetry::names;

/// Counters of this worker instance, for its `healthz`; each also moves the process-wide
/// metric of the same meaning (see `telemetry::names`).
#[derive(Debug, Default)]
pub struct WorkerStats {
    restarts: AtomicU64,
    persisted: AtomicU64,
    duplicates: AtomicU64,
    contradicting: AtomicU64,
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
            names::WORKER_CONTRADICTING,
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
    pub fn contradicting(&self) -> u64 {
        self.contradicting.load(Ordering::Relaxed)
    }
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
    pub fn add_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::ACTOR_RESTARTS, "actor" => "consumer_tree").increment(1);
    }
    pub fn add_persisted(&self, n: u64) {
        self.persisted.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_PERSISTED).increment(n);
    }
    pub fn add_duplicates(&self, n: u64) {
        self.duplicates.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_DUPLICATES).increment(n);
    }
    pub fn add_contradicting(&self, n: u64) {
        self.contradicting.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_CONTRADICTING).increment(n);
    }
    pub fn add_dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(names::WORKER_DEAD_LETTERED).increment(n);
    }
}

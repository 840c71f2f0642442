//! The worker's root supervisor: starts the persister and the consumer, and restarts them
//! together (one for all) when either fails or panics, with a doubling backoff. Restarting
//! both is what keeps the guarantee simple: a new consumer resumes from the last committed
//! offsets, so whatever the failed pair had fetched but not committed is read again.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::consumer::ConsumerRun;
use super::persister::Persister;
use super::stats::WorkerStats;
use crate::common::orders::Orders;
use crate::common::settings::WorkerSettings;

/// First wait before a restart; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run that lasted this long counts as healthy: the next failure starts from `MIN_BACKOFF`.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

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

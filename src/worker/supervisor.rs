//! The worker's root supervisor: starts the committer and the consumer, and restarts them
//! together (one for all) when either fails or panics, with a doubling backoff. Restarting
//! both is what keeps the guarantee simple: a new consumer resumes from the offsets stored
//! with the orders, so whatever the failed pair had fetched but not committed is read again.
//!
//! A failure is almost always a dependency going away (Postgres, the broker). The backoff only
//! keeps a failing run from spinning: while it waits, the supervisor probes both, and restarts
//! as soon as a dependency that did not answer answers again, so persisting resumes within a
//! probe interval of the outage's end however long the backoff had grown.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::committer::Committer;
use super::consumer::ConsumerRun;
use super::leases::Leases;
use super::stats::WorkerStats;
use crate::postgres::Orders;
use crate::runtime::broker::{broker_reachable, BROKER_CHECK_TIMEOUT};
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::WorkerSettings;

/// First wait before a restart; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A run that lasted this long counts as healthy: the next failure starts from `MIN_BACKOFF`.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// How often the dependencies are probed during a backoff.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Runs the consumer tree until `stop`, restarting it after every failure.
pub async fn supervise(
    settings: WorkerSettings,
    orders: Orders,
    dead_letters: FutureProducer,
    stats: Arc<WorkerStats>,
    stop: CancellationToken,
) {
    // One identity per process: a restarted tree renews the leases the failed one held.
    let leases = Leases::new(
        orders.pool().clone(),
        &settings.group_id,
        &settings.kafka.topic,
        settings.lease_ttl,
    );
    static RUN: OutageLog = OutageLog::new("worker: run the consumer tree");
    let mut backoff = MIN_BACKOFF;
    loop {
        let started = Instant::now();
        let (committer, committer_task) = Committer::spawn(leases.clone());
        let run = ConsumerRun {
            settings: settings.clone(),
            committer,
            leases: leases.clone(),
            dead_letters: dead_letters.clone(),
            stats: Arc::clone(&stats),
            stop: stop.clone(),
        };
        // Its own task, so a panic inside ends up here as an error instead of ending the process.
        let outcome = tokio::spawn(run.run()).await;
        // The consumer held the only handle, so the committer has finished its last batch.
        if let Err(error) = committer_task.await {
            tracing::error!(%error, "the committer failed");
        }
        if started.elapsed() >= HEALTHY_RUN {
            // The run went well for a while: whatever failed before had recovered.
            RUN.succeeded();
            backoff = MIN_BACKOFF;
        }
        match outcome {
            Ok(Ok(())) => return,
            // Expected while a dependency is down: logged once per outage, not per restart.
            Ok(Err(error)) => RUN.failed(&error),
            Err(error) => tracing::error!(%error, "the consumer panicked"),
        }
        if stop.is_cancelled() {
            return;
        }
        stats.add_restart();
        tracing::debug!(
            ?backoff,
            restarts = stats.restarts(),
            "restarting the consumer tree"
        );
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(MAX_BACKOFF),
            () = dependencies_back(&orders, &dead_letters) => {
                RUN.succeeded();
                backoff = MIN_BACKOFF;
            }
        }
    }
}

/// Resolves once Postgres and the broker both answer after at least one of them did not (a
/// failure with both up is not an outage: the backoff applies). Never resolves before
/// [`PROBE_EVERY`], which is longer than [`MIN_BACKOFF`].
async fn dependencies_back(orders: &Orders, broker: &FutureProducer) {
    let mut seen_down = false;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let (database, broker_up) = tokio::join!(
            orders.ping(),
            broker_reachable(Arc::new(broker.clone()), BROKER_CHECK_TIMEOUT)
        );
        let up = database.is_ok() && broker_up;
        if up && seen_down {
            return;
        }
        seen_down |= !up;
    }
}

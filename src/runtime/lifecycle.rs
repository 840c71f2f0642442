//! Process lifecycle shared by both binaries: the stop signals, and the retry of set-up steps
//! whose service may not be up yet.
//!
//! Each process has one shutdown tree: a root `CancellationToken` its `run_until` cancels when
//! its stop future resolves, and child tokens for its background tasks, so a stop reaches
//! every task and a task can also be stopped on its own.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Wait between attempts of a set-up step whose service is not up yet.
const SETUP_RETRY: Duration = Duration::from_secs(1);

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs `attempt` until it succeeds or `stop` is cancelled, waiting [`SETUP_RETRY`] between
/// attempts: for set-up steps that need a service that may not be up yet. The first failure
/// is logged, and then one line every minute while it lasts.
pub async fn retry_until_done<F, Fut, E>(what: &str, stop: CancellationToken, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    const LOG_EVERY: u32 = 60;
    let mut failures: u32 = 0;
    loop {
        match attempt().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(attempts = failures + 1, "{what}: done");
                }
                return;
            }
            Err(error) => {
                if failures % LOG_EVERY == 0 {
                    tracing::warn!(%error, failures = failures + 1, "cannot {what} yet; retrying");
                }
                failures = failures.saturating_add(1);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SETUP_RETRY) => {}
        }
    }
}

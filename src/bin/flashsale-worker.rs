//! The worker process: `flashsale-worker`. Persists purchase events from Kafka into
//! PostgreSQL. SIGTERM or Ctrl-C: stop fetching, persist and commit what was fetched, leave the
//! group, exit 0 (or 1 past FLASHSALE_WORKER_SHUTDOWN_MS). A second signal exits at once (130).

use std::process::ExitCode;

use flashsale::config::WorkerSettings;
use flashsale::startup::shutdown_signal;
use flashsale::telemetry;
use flashsale::worker::Worker;

#[actix_web::main]
async fn main() -> ExitCode {
    telemetry::init();
    let settings = match WorkerSettings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "invalid settings");
            return ExitCode::from(2);
        }
    };
    let worker = match Worker::build(settings).await {
        Ok(worker) => worker,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = worker.port(), "flashsale-worker running");
    let run = worker.run_until(shutdown_signal());
    tokio::pin!(run);
    let result = tokio::select! {
        result = &mut run => result,
        // The first signal resolved `shutdown_signal` inside `run`; this is the second.
        () = async { shutdown_signal().await; shutdown_signal().await } => {
            tracing::warn!("second signal: exiting without finishing");
            return ExitCode::from(130);
        }
    };
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "stopped badly");
            ExitCode::FAILURE
        }
    }
}

//! The worker process: `flashsale-worker`. Persists purchase events from Kafka into
//! PostgreSQL. SIGTERM or Ctrl-C: stop fetching, persist and commit what was fetched, leave the
//! leases, exit 0 (or 1 past FLASHSALE_WORKER_SHUTDOWN_MS). A second signal exits at once (130).
//!
//! `flashsale-worker audit --sale ID [--round N] [--wait SECS] [--json]` compares Redis and
//! PostgreSQL for a sale's round instead (see `flashsale::worker::audit`); exit 0 when it passes, 1
//! when something is oversold, missing or duplicated, 2 when it cannot run.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::runtime::lifecycle::shutdown_signal;
use flashsale::runtime::settings::{DatabaseSettings, Settings, WorkerSettings};
use flashsale::runtime::telemetry;
use flashsale::startup::worker::Worker;
use flashsale::store::Store;
use flashsale::worker::audit::Audit;

/// How long one Redis or Postgres read of the audit may take.
const AUDIT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(
    name = "flashsale-worker",
    about = "Persists flashsale purchase events into PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compare what Redis reserved for a sale's round with the orders in PostgreSQL.
    Audit {
        /// The sale id.
        #[arg(long)]
        sale: String,
        /// The round (default: the sale's current round).
        #[arg(long)]
        round: Option<u64>,
        /// Seconds to wait for pending purchases to be persisted before judging.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        None => {
            telemetry::init(telemetry::LogTo::Stdout);
            run_worker().await
        }
        Some(Command::Audit {
            sale,
            round,
            wait,
            json,
        }) => {
            // Its answer is on stdout (`--json`): a slow-query warning must not end up in it.
            telemetry::init(telemetry::LogTo::Stderr);
            audit(&sale, round, Duration::from_secs(wait), json).await
        }
    }
}

async fn audit(sale: &str, round: Option<u64>, wait: Duration, json: bool) -> ExitCode {
    let prepared = (|| {
        let settings = Settings::from_env().map_err(|e| e.to_string())?;
        let sale_id = SaleId::parse(sale).map_err(|e| e.to_string())?;
        // A round's full scan takes longer than the purchase path's Redis timeout allows.
        let store =
            Store::new(settings.redis_url.expose(), 1, AUDIT_TIMEOUT).map_err(|e| e.to_string())?;
        let orders = Orders::connect_lazy(&DatabaseSettings {
            url: settings.database.url,
            pool_size: 1,
            timeout: AUDIT_TIMEOUT,
        })
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((sale_id, store, orders))
    })();
    let (sale_id, store, orders) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("audit: {error}");
            return ExitCode::from(2);
        }
    };
    match Audit::settled(&store, &orders, &sale_id, round, wait).await {
        Ok(audit) => {
            if json {
                println!("{}", serde_json::to_string(&audit).unwrap_or_default());
            } else {
                println!(
                    "audit: {audit}: {}",
                    if audit.passed() { "OK" } else { "FAILED" }
                );
            }
            if audit.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("audit: cannot run: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run_worker() -> ExitCode {
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

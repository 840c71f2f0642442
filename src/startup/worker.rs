//! Builds the worker process: migrations, topics, the supervised consumer tree and the health
//! endpoints; runs it until a shutdown future resolves, then stops it within a deadline.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use rdkafka::producer::FutureProducer;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::postgres::Orders;
use crate::runtime::broker::{broker_reachable, BROKER_CHECK_TIMEOUT};
use crate::runtime::lifecycle::retry_until_done;
use crate::runtime::probes::{self, readiness, Dependency};
use crate::runtime::settings::WorkerSettings;
use crate::runtime::telemetry;
use crate::worker::stats::WorkerStats;
use crate::worker::supervisor::supervise;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot listen on the health address: {0}")]
    Listen(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("did not stop within the shutdown deadline")]
    DeadlineExceeded,
}

/// What the health endpoints read.
struct Health {
    orders: Orders,
    producer: FutureProducer,
    stats: Arc<WorkerStats>,
}

/// A built, running worker.
pub struct Worker {
    server: actix_web::dev::Server,
    port: u16,
    supervisor: JoinHandle<()>,
    stop: CancellationToken,
    stats: Arc<WorkerStats>,
    deadline: Duration,
}

impl Worker {
    /// Starts the health endpoints, then, in the background: applies the migrations and makes
    /// sure the topics exist (each retried until Postgres or the broker answers), and starts
    /// the consumer tree. Until then `readyz` says what is missing.
    pub async fn build(settings: WorkerSettings) -> Result<Self, WorkerError> {
        // Installed before anything records, so no early sample is lost.
        telemetry::metrics();
        let orders = Orders::connect_lazy(&settings.database)?;
        let dead_letters = settings.kafka.producer()?;
        let stats = Arc::new(WorkerStats::new());
        let stop = CancellationToken::new();
        let supervisor = tokio::spawn(prepare_then_supervise(
            settings.clone(),
            orders.clone(),
            dead_letters.clone(),
            Arc::clone(&stats),
            stop.clone(),
        ));

        let health = web::Data::new(Health {
            orders,
            producer: dead_letters,
            stats: Arc::clone(&stats),
        });
        let listener = TcpListener::bind(settings.http_addr)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(health.clone())
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(probes::metrics))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self {
            server,
            port,
            supervisor,
            stop,
            stats,
            deadline: settings.shutdown_deadline,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `stop` resolves; then the consumer stops fetching, persists and commits what
    /// it fetched and releases its partition leases. Fails if that takes longer than the shutdown deadline.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> Result<(), WorkerError> {
        let handle = self.server.handle();
        let server = actix_web::rt::spawn(self.server);
        let mut supervisor = self.supervisor;
        tokio::select! {
            () = stop => tracing::info!("stopping: persisting and committing what was fetched"),
            _ = &mut supervisor => tracing::error!("the supervisor ended on its own"),
        }
        self.stop.cancel();
        let drained = tokio::time::timeout(self.deadline, &mut supervisor).await;
        handle.stop(true).await;
        let _ = server.await;
        match drained {
            Ok(_) => Ok(()),
            Err(_) => {
                supervisor.abort();
                Err(WorkerError::DeadlineExceeded)
            }
        }
    }
}

/// Migrations and topics first (consuming needs both), then the supervised consumer tree.
async fn prepare_then_supervise(
    settings: WorkerSettings,
    orders: Orders,
    dead_letters: FutureProducer,
    stats: Arc<WorkerStats>,
    stop: CancellationToken,
) {
    let migrations = orders.clone();
    retry_until_done(
        "apply the database migrations",
        stop.child_token(),
        move || {
            let orders = migrations.clone();
            async move { orders.migrate().await }
        },
    )
    .await;
    settings
        .kafka
        .create_topics_until_done(stop.child_token())
        .await;
    if !stop.is_cancelled() {
        supervise(settings, orders, dead_letters, stats, stop).await;
    }
}

/// `GET /healthz`: the process is alive; with its counters.
async fn healthz(health: web::Data<Health>) -> HttpResponse {
    let stats = &health.stats;
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "restarts": stats.restarts(),
        "persisted": stats.persisted(),
        "duplicates": stats.duplicates(),
        "contradicting": stats.contradicting(),
        "dead_lettered": stats.dead_lettered(),
    }))
}

/// `GET /readyz`: Postgres and the broker both answer (the worker needs both).
async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let (database, broker) = tokio::join!(
        health.orders.ping(),
        broker_reachable(Arc::new(health.producer.clone()), BROKER_CHECK_TIMEOUT)
    );
    readiness(&[
        Dependency {
            name: "database",
            up: database.is_ok(),
            required: true,
        },
        Dependency {
            name: "broker",
            up: broker,
            required: true,
        },
    ])
}

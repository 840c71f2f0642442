//! Builds the API process from [`Settings`] and runs it until a shutdown future resolves.
//!
//! The shape follows mini-redis: `build` binds the listener (port 0 works, which is what tests
//! use) and `run_until` takes any future as the stop signal, so tests and the binary share it.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;

use crate::actors::producer::{Flush, KafkaProducerActor};
use crate::actors::relay::OutboxRelay;
use crate::actors::reservation::ReservationPool;
use crate::config::Settings;
use crate::domain::{SaleId, SaleSpec};
use crate::http::admin::DEFAULT_SALE_ID;
use crate::http::{self, AppState};
use crate::orders::Orders;
use crate::sold_out::{follow_rounds, SoldOutCache};
use crate::stock_watch::StockWatch;
use crate::store::{RoundChange, Store, StoreError};
use crate::strategies::{SaleStock, Strategies, StrategyCache};
use crate::telemetry;

/// Connections waiting to be accepted; a stampede opens many at once.
const LISTEN_BACKLOG: u32 = 4096;
/// Wait between attempts of a set-up step whose service is not up yet.
const SETUP_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on the HTTP address: {0}")]
    Listen(#[from] std::io::Error),
    #[error("bad Redis settings: {0}")]
    Redis(#[from] StoreError),
    #[error("bad Kafka settings: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("bad database settings: {0}")]
    Database(#[from] sqlx::Error),
}

/// A built, listening API process.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    /// Closed first at shutdown: open stock streams would otherwise hold up the server's stop.
    stock_watch: Arc<StockWatch>,
    /// Stops the background tasks (round announcements, default sale).
    background: CancellationToken,
    producer: actix::Addr<KafkaProducerActor>,
    /// How long the producer may take to flush at shutdown.
    flush_timeout: Duration,
}

impl Application {
    /// Binds the listener, starts the reservation actors on the current actix system and the
    /// background tasks. Redis need not be up yet: the process reports not ready until it is.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // Installed before anything records, so no early sample is lost.
        telemetry::metrics();
        http::purchases::register_metrics();
        let store = Store::new(
            &settings.redis_url,
            settings.redis_pool_size,
            settings.redis_timeout,
        )?;
        let orders = Orders::connect_lazy(
            &settings.database_url,
            settings.redis_pool_size,
            settings.redis_timeout,
        )?;
        let producer = KafkaProducerActor::new(
            settings.kafka.producer()?,
            settings.kafka.topic.clone(),
            store.clone(),
            settings.kafka_max_in_flight,
        )
        .start();
        OutboxRelay::new(store.clone(), producer.clone().recipient(), settings.relay).start();

        let sold_out = SoldOutCache::new(settings.sold_out_ttl);
        let reservations = ReservationPool::start(
            store.clone(),
            sold_out.clone(),
            producer.clone().recipient(),
            settings.pool,
        );
        let known_strategies = StrategyCache::default();
        let strategies = Strategies::new(
            store.clone(),
            &orders,
            reservations.clone(),
            known_strategies.clone(),
            settings.pool.timeout,
        );
        let background = CancellationToken::new();
        actix_web::rt::spawn(follow_rounds(
            store.clone(),
            sold_out.clone(),
            known_strategies.clone(),
            background.clone(),
        ));
        // Neither is needed to take purchases (the outbox holds events until the topic
        // exists), so both are retried in the background rather than holding up start-up.
        let kafka = settings.kafka.clone();
        actix_web::rt::spawn(retry_until_done(
            "create the Kafka topics",
            background.clone(),
            move || {
                let kafka = kafka.clone();
                async move { kafka.ensure_topics().await }
            },
        ));
        if settings.ensure_default_sale {
            let store = store.clone();
            actix_web::rt::spawn(retry_until_done(
                "ensure the default sale",
                background.clone(),
                move || {
                    let store = store.clone();
                    async move { ensure_default_sale(&store).await }
                },
            ));
        }

        let sale_stock = SaleStock::new(&orders);
        let stock_watch = StockWatch::new(
            store.clone(),
            sale_stock.clone(),
            settings.stream_max_clients,
            settings.stream_heartbeat,
        );
        let state = web::Data::new(AppState {
            store,
            sale_stock,
            orders,
            reservations,
            strategies,
            known_strategies,
            sold_out,
            stock_watch: Arc::clone(&stock_watch),
            producer: producer.clone(),
            admin_token: settings.admin_token,
        });
        let listener = TcpListener::bind(settings.http_addr)?;
        let port = listener.local_addr()?.port();
        let server =
            HttpServer::new(move || App::new().app_data(state.clone()).configure(http::routes))
                .workers(settings.http_workers.max(1))
                .backlog(LISTEN_BACKLOG)
                // Signals are the binary's business (see `shutdown_signal`); tests stop it directly.
                .disable_signals()
                .shutdown_timeout(settings.shutdown_timeout.as_secs().max(1))
                .listen(listener)?
                .run();
        Ok(Self {
            server,
            port,
            stock_watch,
            background,
            producer,
            flush_timeout: settings.shutdown_timeout,
        })
    }

    /// The port the API listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `stop` resolves, then stops accepting connections, lets in-flight requests
    /// (and so their reservations) finish within the shutdown timeout, flushes the producer
    /// (bounded by the same timeout; what does not make it stays in the outbox) and stops the
    /// background tasks.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = actix_web::rt::spawn(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            () = stop => {
                tracing::info!("stopping: no new connections, finishing in-flight requests");
                self.stock_watch.close();
                handle.stop(true).await;
                server.await
            }
        };
        self.background.cancel();
        if self.producer.send(Flush(self.flush_timeout)).await.is_err() {
            tracing::warn!(
                "the producer stopped before it could flush; the outbox keeps the events"
            );
        }
        result.unwrap_or_else(|join_error| Err(std::io::Error::other(join_error)))
    }
}

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

/// Creates the `default` sale (100 units, limit 1) unless it exists.
async fn ensure_default_sale(store: &Store) -> Result<(), StoreError> {
    let sale_id = SaleId::parse(DEFAULT_SALE_ID).map_err(|e| StoreError::Corrupt(e.0))?;
    let spec = SaleSpec::parse("Default sale".into(), 100, 1, None, None)
        .map_err(|e| StoreError::Corrupt(e.0))?;
    let outcome = store
        .start_round(&sale_id, &RoundChange::CreateIfAbsent(spec))
        .await?;
    tracing::info!(?outcome, "default sale ensured");
    Ok(())
}

/// Runs `attempt` until it succeeds or `stop` is cancelled, waiting [`SETUP_RETRY`] between
/// attempts: for set-up steps that need a service that may not be up yet.
pub async fn retry_until_done<F, Fut, E>(what: &str, stop: CancellationToken, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        match attempt().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "cannot {what} yet; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SETUP_RETRY) => {}
        }
    }
}

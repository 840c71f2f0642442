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

use super::rounds::{follow_rounds, FollowsRounds};
use super::sales::SaleService;
use super::seed::SeedSales;
use super::sold_out::SoldOutCache;
use super::stock_watch::StockWatch;
use super::strategies::{Strategies, StrategyCache};
use crate::actors::producer::{Flush, KafkaProducerActor};
use crate::actors::relay::OutboxRelay;
use crate::actors::reservation::ReservationPool;
use crate::common::domain::Invalid;
use crate::common::orders::Orders;
use crate::common::settings::Settings;
use crate::common::store::{Store, StoreError};
use crate::common::telemetry;
use crate::http::{self, state::AppState};

/// Connections waiting to be accepted; a stampede opens many at once.
const LISTEN_BACKLOG: u32 = 4096;

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
    #[error("bad seed sale settings: {0}")]
    Seed(#[from] Invalid),
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
            settings.redis_url.expose(),
            settings.redis_pool_size,
            settings.redis_timeout,
        )?;
        let orders = Orders::connect_lazy(&settings.database)?;
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
        let sales = Arc::new(SaleService::new(
            store.clone(),
            orders.clone(),
            sold_out.clone(),
            known_strategies.clone(),
        ));
        // The root of this process's shutdown tree (see `common::lifecycle`).
        let background = CancellationToken::new();
        let caches: Vec<Box<dyn FollowsRounds>> = vec![
            Box::new(sold_out.rounds().clone()),
            Box::new(known_strategies.rounds().clone()),
        ];
        actix_web::rt::spawn(follow_rounds(
            store.clone(),
            caches,
            background.child_token(),
        ));
        // Neither is needed to take purchases (the outbox holds events until the topic
        // exists), so both are retried in the background rather than holding up start-up.
        let kafka = settings.kafka.clone();
        let topics_stop = background.child_token();
        actix_web::rt::spawn(async move { kafka.create_topics_until_done(topics_stop).await });
        let seed = SeedSales::new(&settings.seed)?;
        if settings.seed.create {
            seed.ensure_in_background(&sales, &background);
        }

        let stock_watch = StockWatch::new(
            Arc::clone(&sales),
            settings.stream_max_clients,
            settings.stream_heartbeat,
        );
        let state = web::Data::new(AppState {
            store,
            orders,
            strategies,
            sales,
            stock_watch: Arc::clone(&stock_watch),
            producer: producer.clone(),
            admin_token: settings.admin_token,
            seed,
        });
        let cors_origins = settings.cors_origins;
        let listener = TcpListener::bind(settings.http_addr)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(http::cors::middleware(&cors_origins))
                .configure(http::routes)
        })
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

//! Builds the API process from [`Settings`] and runs it until a shutdown future resolves.
//!
//! The shape follows mini-redis: `build` binds the listener (port 0 works, which is what tests
//! use) and `run_until` takes any future as the stop signal, so tests and the binary share it.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::actors::producer::{Flush, KafkaProducerActor, ProducerConfig};
use crate::actors::relay::OutboxRelay;
use crate::actors::reservation::ReservationPool;
use crate::caches::rounds::{follow_rounds, FollowsRounds};
use crate::caches::sold_out::SoldOutCache;
use crate::caches::strategies::StrategyCache;
use crate::domain::Invalid;
use crate::http::{self, state::AppState};
use crate::postgres::Orders;
use crate::runtime::settings::Settings;
use crate::runtime::telemetry;
use crate::services::admission::admitter::admit_buyers;
use crate::services::admission::tokens::TokenKey;
use crate::services::admission::waiting_room::WaitingRoom;
use crate::services::checkout::reaper::reap_holds;
use crate::services::checkout::Checkout;
use crate::services::goflash::GoflashSales;
use crate::services::operations::Operations;
use crate::services::purchases::{PurchaseLookup, Strategies};
use crate::services::sales::SaleService;
use crate::services::stock_watch::{ClientLimits, QueueWatch, StockWatch};
use crate::store::{Store, StoreError};

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
    #[error("bad GoFlash sale settings (FLASHSALE_SEED_*): {0}")]
    Seed(#[from] Invalid),
}

/// A built, listening API process.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    /// Closed first at shutdown: open stock streams would otherwise hold up the server's stop.
    stock_watch: Arc<StockWatch>,
    /// Likewise for the ticket streams.
    queue_watch: Arc<QueueWatch>,
    /// Stops the background tasks (round announcements, topics, GoFlash sales).
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
        // This process's name in the outboxes' `publishers` group: new at every start, so a
        // restarted process never inherits its old self's pending entries (the relay does).
        let consumer = format!("api-{}", Uuid::new_v4().simple());
        let producer = KafkaProducerActor::new(
            &settings.kafka,
            store.outbox(),
            store.sales(),
            ProducerConfig {
                consumer: consumer.clone(),
                max_in_flight: settings.kafka_max_in_flight,
                read_batch: settings.outbox_read_batch,
                sweep_interval: settings.relay.interval,
            },
        )?;
        let publisher = producer.publisher();
        let producer = producer.start();
        OutboxRelay::new(
            store.outbox(),
            store.sales(),
            producer.clone().recipient(),
            consumer,
            settings.relay,
        )
        .start();

        let sold_out = SoldOutCache::new(settings.sold_out_ttl);
        let reservations = ReservationPool::start(
            store.reservations(),
            sold_out.clone(),
            producer.clone().recipient(),
            publisher,
            settings.pool,
        );
        let known_strategies = StrategyCache::default();
        let strategies = Strategies::new(
            store.sales(),
            &orders,
            reservations.clone(),
            known_strategies.clone(),
            settings.pool.timeout,
        );
        let sales = Arc::new(SaleService::new(
            store.sales(),
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
            store.sales(),
            caches,
            background.child_token(),
        ));
        // Neither is needed to take purchases (the outbox holds events until the topic
        // exists), so both are retried in the background rather than holding up start-up.
        let kafka = settings.kafka.clone();
        let topics_stop = background.child_token();
        actix_web::rt::spawn(async move { kafka.create_topics_until_done(topics_stop).await });
        let checkout = Arc::new(Checkout::new(
            store.reservations(),
            store.holds(),
            store.waitlist(),
            store.sales(),
            sold_out.clone(),
            producer.clone().recipient(),
        ));
        // Every process reaps: no leader to lose (see `services/checkout/reaper.rs`).
        actix_web::rt::spawn(reap_holds(
            Arc::clone(&checkout),
            settings.reaper,
            background.child_token(),
        ));
        // Every process admits: the rate is a budget shared in Redis (see `admitter.rs`).
        actix_web::rt::spawn(admit_buyers(store.waiting_room(), background.child_token()));
        let goflash_sales = GoflashSales::new(&settings.seed)?;
        if settings.seed.create {
            goflash_sales.ensure_in_background(&sales, &background);
        }

        let stream_limits = ClientLimits {
            total: settings.stream_max_clients,
            per_address: settings.stream_max_clients_per_address,
        };
        let stock_watch =
            StockWatch::of_sales(Arc::clone(&sales), stream_limits, settings.stream_heartbeat);
        let queue_watch = QueueWatch::of_queues(
            store.waiting_room(),
            stream_limits,
            settings.stream_heartbeat,
        );
        let state = web::Data::new(AppState {
            strategies,
            purchases: PurchaseLookup::new(store.reservations(), orders.clone()),
            sales,
            checkout,
            waiting_room: WaitingRoom::new(store.waiting_room()),
            operations: Operations::new(store, orders, producer.clone().recipient()),
            pipeline: http::pipeline::PipelineCache::default(),
            stock_watch: Arc::clone(&stock_watch),
            queue_watch: Arc::clone(&queue_watch),
            token_key: settings.token_secret.map(TokenKey::new),
            admin_token: settings.admin_token,
            payment_secret: settings.payment_secret,
            goflash_sales,
            rate_limits: http::rate_limits::RateLimits::new(&settings.rate_limits),
            sold_out,
        });
        let cors_origins = settings.cors_origins;
        let listener = bind_listener(settings.http_addr, settings.http_backlog)?;
        let port = listener.local_addr()?.port();
        let limits = http::request_limits::RequestLimits {
            body_timeout: settings.http_body_timeout,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(http::routes)
                .wrap(from_fn(move |req, next| {
                    http::request_limits::check(limits, req, next)
                }))
                // Outermost, so every answer (refusals of the limits included) carries the
                // CORS headers a browser needs to read it.
                .wrap(http::cors::middleware(&cors_origins))
        })
        .workers(settings.http_workers.max(1))
        // Signals are the binary's business (see `shutdown_signal`); tests stop it directly.
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout.as_secs().max(1))
        .listen(listener)?
        .run();
        Ok(Self {
            server,
            port,
            stock_watch,
            queue_watch,
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
                self.queue_watch.close();
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

/// Binds the API's listener and listens with `backlog`. actix's `HttpServer::backlog` only
/// reaches sockets actix binds itself; a listener handed over with `listen` keeps whatever
/// backlog it was created with (128 for `std::net::TcpListener::bind`), so it is set here.
fn bind_listener(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As actix does for its own sockets: a restarted process can bind while old connections of
    // the previous one linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps the figure at net.core.somaxconn.
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

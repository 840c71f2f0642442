//! Builds the API process from [`Settings`] and runs it until a shutdown future resolves.
//!
//! The shape follows mini-redis: `build` binds the listener (port 0 works, which is what tests
//! use) and `run_until` takes any future as the stop signal, so tests and the binary share it.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;

use crate::actors::reservation::ReservationPool;
use crate::config::Settings;
use crate::domain::{SaleId, SaleSpec};
use crate::http::admin::DEFAULT_SALE_ID;
use crate::http::{self, AppState};
use crate::sold_out::{follow_rounds, SoldOutCache};
use crate::store::{RoundChange, Store, StoreError};

/// Connections waiting to be accepted; a stampede opens many at once.
const LISTEN_BACKLOG: u32 = 4096;
/// Wait between attempts to create the default sale while Redis is unreachable.
const DEFAULT_SALE_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on the HTTP address: {0}")]
    Listen(#[from] std::io::Error),
    #[error("bad Redis settings: {0}")]
    Redis(#[from] StoreError),
}

/// A built, listening API process.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    /// Stops the background tasks (round announcements, default sale).
    background: CancellationToken,
}

impl Application {
    /// Binds the listener, starts the reservation actors on the current actix system and the
    /// background tasks. Redis need not be up yet: the process reports not ready until it is.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = Store::new(
            &settings.redis_url,
            settings.redis_pool_size,
            settings.redis_timeout,
        )?;
        let sold_out = SoldOutCache::new(settings.sold_out_ttl);
        let reservations = ReservationPool::start(store.clone(), sold_out.clone(), settings.pool);
        let background = CancellationToken::new();
        actix_web::rt::spawn(follow_rounds(
            store.clone(),
            sold_out.clone(),
            background.clone(),
        ));
        if settings.ensure_default_sale {
            actix_web::rt::spawn(ensure_default_sale(store.clone(), background.clone()));
        }

        let state = web::Data::new(AppState {
            store,
            reservations,
            sold_out,
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
            background,
        })
    }

    /// The port the API listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `stop` resolves, then stops accepting connections, lets in-flight requests
    /// (and so their reservations) finish within the shutdown timeout, and stops the
    /// background tasks.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = actix_web::rt::spawn(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            () = stop => {
                tracing::info!("stopping: no new connections, finishing in-flight requests");
                handle.stop(true).await;
                server.await
            }
        };
        self.background.cancel();
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

/// Creates the `default` sale (100 units, limit 1) if it does not exist, retrying until Redis
/// answers or the process stops.
async fn ensure_default_sale(store: Store, stop: CancellationToken) {
    let (Ok(sale_id), Ok(spec)) = (
        SaleId::parse(DEFAULT_SALE_ID),
        SaleSpec::parse("Default sale".into(), 100, 1, None, None),
    ) else {
        tracing::error!("the built-in default sale is invalid");
        return;
    };
    loop {
        match store
            .start_round(&sale_id, &RoundChange::CreateIfAbsent(spec.clone()))
            .await
        {
            Ok(outcome) => {
                tracing::info!(?outcome, "default sale ensured");
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot ensure the default sale yet"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(DEFAULT_SALE_RETRY) => {}
        }
    }
}

//! The stock watch behind `GET /api/v1/sales/{sale_id}/stream`: one Redis read per watched
//! sale every [`POLL_INTERVAL`] per API process, however many clients watch it. The same
//! follower, reading the waiting room's progress instead of the sale, serves the ticket
//! streams (`GET /api/v1/sales/{sale_id}/queue/{ticket_id}/stream`): a [`Watch`] of any value
//! read per sale.
//!
//! A sale's poller starts with its first client and stops with its last one. It publishes the
//! sale into a `tokio::sync::watch` channel only when it changed, so clients wake up at most
//! once per poll, and a client that falls behind skips to the latest value instead of
//! queueing: the memory a slow client costs is one `Sale`.
//!
//! Polling rather than a pub/sub message per purchase keeps the purchase script free of
//! anything but the sale itself; 10 reads a second per watched sale is nothing next to a
//! stampede.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::sales::SaleService;
use crate::domain::{Sale, SaleId};
use crate::runtime::outage_log::OutageLog;
use crate::runtime::telemetry::names;
use crate::store::{QueueProgress, WaitingRoom};

/// How often a watched sale is read, and so the most often a client hears of it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Why a client cannot watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this process already serves as many stock streams as it may")]
pub struct TooManyClients;

/// Reads the watched value of one sale (`None`: no such sale); the error is only logged.
type Reader<T> = Box<
    dyn Fn(SaleId) -> BoxFuture<'static, Result<Option<T>, Box<dyn std::error::Error + Send>>>
        + Send
        + Sync,
>;

/// The sale as buyers see it, for the stock streams.
pub type StockWatch = Watch<Sale>;
/// The waiting room's progress, for the ticket streams.
pub type QueueWatch = Watch<QueueProgress>;

/// The sales being watched and their pollers. Shared by every HTTP worker of the process.
pub struct Watch<T> {
    /// Reads the watched value of a sale.
    reader: Reader<T>,
    /// Says what the pollers read, in the log line of an outage.
    what: &'static OutageLog,
    /// The clients connected and the sales polled, this kind of stream's gauges.
    clients_gauge: metrics::Gauge,
    polled_gauge: metrics::Gauge,
    sales: DashMap<SaleId, watch::Sender<Option<T>>>,
    clients: Arc<AtomicUsize>,
    max_clients: usize,
    heartbeat: Duration,
    /// Cancelled at shutdown: pollers stop and every open stream ends.
    closed: CancellationToken,
}

/// One client's view of a sale; dropping it lets the sale's poller stop once nobody is left.
pub struct Watcher<T> {
    pub changes: watch::Receiver<Option<T>>,
    pub closed: CancellationToken,
    /// Time between heartbeats on a stream with no change.
    pub heartbeat: Duration,
    _client: ClientSlot,
}

/// Counts a connected client (and its gauge) for as long as it lives.
struct ClientSlot(Arc<AtomicUsize>, metrics::Gauge);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        self.1.decrement(1.0);
    }
}

impl StockWatch {
    /// Watches sales as `sales` reads them.
    pub fn of_sales(sales: Arc<SaleService>, max_clients: usize, heartbeat: Duration) -> Arc<Self> {
        static POLL: OutageLog = OutageLog::new("read the watched sales");
        let reader: Reader<Sale> = Box::new(move |sale_id| {
            let sales = Arc::clone(&sales);
            Box::pin(async move { sales.current(&sale_id).await.map_err(boxed) })
        });
        let gauges = (names::STREAM_CLIENTS, names::STREAM_POLLED_SALES);
        Self::new(reader, &POLL, gauges, max_clients, heartbeat)
    }
}

impl QueueWatch {
    /// Watches the waiting rooms' progress.
    pub fn of_queues(store: WaitingRoom, max_clients: usize, heartbeat: Duration) -> Arc<Self> {
        static POLL: OutageLog = OutageLog::new("read the watched waiting rooms");
        let reader: Reader<QueueProgress> = Box::new(move |sale_id| {
            let store = store.clone();
            Box::pin(async move { store.progress(&sale_id).await.map_err(boxed) })
        });
        let gauges = (
            names::QUEUE_STREAM_CLIENTS,
            names::QUEUE_STREAM_POLLED_SALES,
        );
        Self::new(reader, &POLL, gauges, max_clients, heartbeat)
    }
}

fn boxed(error: impl std::error::Error + Send + 'static) -> Box<dyn std::error::Error + Send> {
    Box::new(error)
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Watch<T> {
    fn new(
        reader: Reader<T>,
        what: &'static OutageLog,
        (clients, polled): (&'static str, &'static str),
        max_clients: usize,
        heartbeat: Duration,
    ) -> Arc<Self> {
        let clients_gauge = metrics::gauge!(clients);
        let polled_gauge = metrics::gauge!(polled);
        clients_gauge.increment(0.0);
        polled_gauge.increment(0.0);
        Arc::new(Self {
            reader,
            what,
            clients_gauge,
            polled_gauge,
            sales: DashMap::new(),
            clients: Arc::new(AtomicUsize::new(0)),
            max_clients,
            // A zero heartbeat would have every stream spin writing heartbeats.
            heartbeat: heartbeat.max(POLL_INTERVAL),
            closed: CancellationToken::new(),
        })
    }

    /// Starts watching `sale_id`, starting its poller if this is its first client.
    pub fn watch(self: &Arc<Self>, sale_id: &SaleId) -> Result<Watcher<T>, TooManyClients> {
        // Counted before checking, so two clients never both take the last place.
        let slot = ClientSlot(Arc::clone(&self.clients), self.clients_gauge.clone());
        self.clients_gauge.increment(1.0);
        if self.clients.fetch_add(1, Ordering::AcqRel) >= self.max_clients {
            return Err(TooManyClients);
        }
        // The entry holds its shard's lock, so a poller deciding to stop (see `poll`) cannot
        // slip between finding the channel and subscribing to it.
        let changes = self
            .sales
            .entry(sale_id.clone())
            .or_insert_with(|| {
                let (changes, _) = watch::channel(None);
                tokio::spawn(poll(Arc::clone(self), sale_id.clone(), changes.clone()));
                changes
            })
            .subscribe();
        Ok(Watcher {
            changes,
            closed: self.closed.clone(),
            heartbeat: self.heartbeat,
            _client: slot,
        })
    }

    /// Ends every stream and poller (at shutdown, so open streams do not hold it up).
    pub fn close(&self) {
        self.closed.cancel();
    }
}

/// Reads the sale's value every [`POLL_INTERVAL`] and publishes it when it changed, until its
/// last client is gone or the watch is closed.
async fn poll<T: Clone + PartialEq + Send + Sync + 'static>(
    watch: Arc<Watch<T>>,
    sale_id: SaleId,
    changes: watch::Sender<Option<T>>,
) {
    watch.polled_gauge.increment(1.0);
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = watch.closed.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // Removed under the shard lock only if still unwatched: see `StockWatch::watch`.
        if watch
            .sales
            .remove_if(&sale_id, |_, sender| sender.receiver_count() == 0)
            .is_some()
        {
            break;
        }
        // Logged once per outage, not per poll (ten a second per watched sale).
        match (watch.reader)(sale_id.clone()).await {
            Ok(sale) => {
                watch.what.succeeded();
                changes.send_if_modified(|current| {
                    let changed = *current != sale;
                    if changed {
                        *current = sale;
                    }
                    changed
                });
            }
            // Clients keep the last value; the next poll tries again.
            Err(error) => watch.what.failed(&error),
        }
    }
    watch.polled_gauge.decrement(1.0);
}

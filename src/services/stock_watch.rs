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

use std::net::IpAddr;
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
#[error("this process already serves as many streams of this kind as it may, to all or to this client address")]
pub struct TooManyClients;

/// How many clients one kind of stream serves at once in a process.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// In all.
    pub total: usize,
    /// From one client address, so one client cannot take every place.
    pub per_address: usize,
}

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
    /// The sales polled, this kind of stream's gauge.
    polled_gauge: metrics::Gauge,
    sales: DashMap<SaleId, watch::Sender<Option<T>>>,
    /// The clients connected (with their gauge).
    clients: Arc<Clients>,
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

/// A client's place, taken before anything is read for it (so a refused client costs no
/// Redis call); [`Place::watch`] turns it into a [`Watcher`] of a sale. Dropped, it frees the
/// place.
pub struct Place<T> {
    watch: Arc<Watch<T>>,
    client: ClientSlot,
}

/// The clients of one kind of stream: counted in all and per client address.
struct Clients {
    total: AtomicUsize,
    /// Only addresses with a stream open: at most `limits.total` entries.
    per_address: DashMap<IpAddr, usize>,
    limits: ClientLimits,
    gauge: metrics::Gauge,
}

/// Counts a connected client (and its gauge) for as long as it lives.
struct ClientSlot {
    clients: Arc<Clients>,
    /// The address it is counted under, once it was.
    address: Option<IpAddr>,
}

impl Clients {
    /// A place for a client from `address` (`None`: not known, counted in all only).
    fn take(self: &Arc<Self>, address: Option<IpAddr>) -> Result<ClientSlot, TooManyClients> {
        // Counted before checking, so two clients never both take the last place.
        let mut slot = ClientSlot {
            clients: Arc::clone(self),
            address: None,
        };
        self.gauge.increment(1.0);
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.limits.total {
            return Err(TooManyClients);
        }
        if let Some(address) = address {
            // The entry holds its shard's lock: the check and the count are one step.
            let mut open = self.per_address.entry(address).or_insert(0);
            if *open >= self.limits.per_address {
                drop(open);
                self.per_address.remove_if(&address, |_, open| *open == 0);
                return Err(TooManyClients);
            }
            *open += 1;
            slot.address = Some(address);
        }
        Ok(slot)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let clients = &self.clients;
        if let Some(address) = self.address {
            clients.per_address.remove_if_mut(&address, |_, open| {
                *open -= 1;
                *open == 0
            });
        }
        clients.total.fetch_sub(1, Ordering::AcqRel);
        clients.gauge.decrement(1.0);
    }
}

impl StockWatch {
    /// Watches sales as `sales` reads them.
    pub fn of_sales(
        sales: Arc<SaleService>,
        limits: ClientLimits,
        heartbeat: Duration,
    ) -> Arc<Self> {
        static POLL: OutageLog = OutageLog::new("read the watched sales");
        let reader: Reader<Sale> = Box::new(move |sale_id| {
            let sales = Arc::clone(&sales);
            Box::pin(async move { sales.current(&sale_id).await.map_err(boxed) })
        });
        let gauges = (names::STREAM_CLIENTS, names::STREAM_POLLED_SALES);
        Self::new(reader, &POLL, gauges, limits, heartbeat)
    }
}

impl QueueWatch {
    /// Watches the waiting rooms' progress.
    pub fn of_queues(store: WaitingRoom, limits: ClientLimits, heartbeat: Duration) -> Arc<Self> {
        static POLL: OutageLog = OutageLog::new("read the watched waiting rooms");
        let reader: Reader<QueueProgress> = Box::new(move |sale_id| {
            let store = store.clone();
            Box::pin(async move { store.progress(&sale_id).await.map_err(boxed) })
        });
        let gauges = (
            names::QUEUE_STREAM_CLIENTS,
            names::QUEUE_STREAM_POLLED_SALES,
        );
        Self::new(reader, &POLL, gauges, limits, heartbeat)
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
        limits: ClientLimits,
        heartbeat: Duration,
    ) -> Arc<Self> {
        let clients_gauge = metrics::gauge!(clients);
        let polled_gauge = metrics::gauge!(polled);
        clients_gauge.increment(0.0);
        polled_gauge.increment(0.0);
        Arc::new(Self {
            reader,
            what,
            polled_gauge,
            sales: DashMap::new(),
            clients: Arc::new(Clients {
                total: AtomicUsize::new(0),
                per_address: DashMap::new(),
                limits,
                gauge: clients_gauge,
            }),
            // A zero heartbeat would have every stream spin writing heartbeats.
            heartbeat: heartbeat.max(POLL_INTERVAL),
            closed: CancellationToken::new(),
        })
    }

    /// A place for a client from `address`, if this kind of stream has one left in all and
    /// for that address.
    pub fn take_place(
        self: &Arc<Self>,
        address: Option<IpAddr>,
    ) -> Result<Place<T>, TooManyClients> {
        Ok(Place {
            watch: Arc::clone(self),
            client: self.clients.take(address)?,
        })
    }

    /// Ends every stream and poller (at shutdown, so open streams do not hold it up).
    pub fn close(&self) {
        self.closed.cancel();
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Place<T> {
    /// Starts watching `sale_id`, starting its poller if this is its first client.
    pub fn watch(self, sale_id: &SaleId) -> Watcher<T> {
        let watch = &self.watch;
        // The entry holds its shard's lock, so a poller deciding to stop (see `poll`) cannot
        // slip between finding the channel and subscribing to it.
        let changes = watch
            .sales
            .entry(sale_id.clone())
            .or_insert_with(|| {
                let (changes, _) = watch::channel(None);
                tokio::spawn(poll(Arc::clone(watch), sale_id.clone(), changes.clone()));
                changes
            })
            .subscribe();
        Watcher {
            changes,
            closed: watch.closed.clone(),
            heartbeat: watch.heartbeat,
            _client: self.client,
        }
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
        // Removed under the shard lock only if still unwatched: see `Place::watch`.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(total: usize, per_address: usize) -> Arc<Clients> {
        Arc::new(Clients {
            total: AtomicUsize::new(0),
            per_address: DashMap::new(),
            limits: ClientLimits { total, per_address },
            gauge: metrics::Gauge::noop(),
        })
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("a valid address"))
    }

    #[test]
    fn one_address_gets_its_share_and_the_others_the_rest_until_the_total() {
        let clients = clients(4, 2);
        let first = clients.take(ip("198.51.100.1")).expect("a place");
        let _second = clients.take(ip("198.51.100.1")).expect("a place");
        assert_eq!(clients.take(ip("198.51.100.1")).err(), Some(TooManyClients));
        let _other = clients.take(ip("198.51.100.2")).expect("a place");
        // An unknown address counts in the total only.
        let _unknown = clients.take(None).expect("a place");
        assert_eq!(clients.take(ip("198.51.100.3")).err(), Some(TooManyClients));
        // A refusal holds nothing, and a client that leaves frees its address's place.
        assert_eq!(clients.total.load(Ordering::Acquire), 4);
        drop(first);
        let _again = clients.take(ip("198.51.100.1")).expect("a place");
        assert_eq!(clients.take(ip("198.51.100.1")).err(), Some(TooManyClients));
    }

    #[test]
    fn an_address_with_no_stream_open_is_forgotten() {
        let clients = clients(10, 1);
        let slot = clients.take(ip("198.51.100.1")).expect("a place");
        assert_eq!(clients.take(ip("198.51.100.1")).err(), Some(TooManyClients));
        drop(slot);
        assert!(clients.per_address.is_empty());
        let none = self::clients(10, 0);
        assert_eq!(none.take(ip("198.51.100.1")).err(), Some(TooManyClients));
        assert!(none.per_address.is_empty());
        assert_eq!(none.total.load(Ordering::Acquire), 0);
    }
}

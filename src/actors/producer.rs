//! `KafkaProducerActor`: drains the sales' outboxes into Kafka.
//!
//! The outbox is the queue (see `common/store/outbox.rs`). This actor is one consumer of
//! every outbox's `publishers` group: it reads entries no producer has had yet, as many as it
//! has room for in flight, publishes them, and once the broker acknowledged an event removes
//! its entry. A backlog therefore waits in Redis, not in memory, and is read again as soon as
//! acknowledgements make room: the reserve -> persisted latency grows with the backlog, with
//! no step, and the backlog drains at the broker's pace.
//!
//! What makes it read: a reservation of this process nudges it for its sale ([`Nudge`]); every
//! relay interval it looks at every sale, which picks up entries whose process died before it
//! read them. Entries it read but never got acknowledged (the broker was down past the message
//! timeout, or this process died) stay pending in the group, and the [`relay`](super::relay)
//! of any process takes them over and hands them back here ([`Publish`]).
//!
//! Delivery reports come to one callback on librdkafka's polling thread, which records them in
//! [`Reports`]; there is no future per event.
//!
//! A `broker` sale's purchase is answered only once the broker has its event, so its entries do
//! not wait to be read: the reservation actors hand them to the [`Publisher`] (this actor's
//! publishing half, shared) as soon as the script ran, each with a waiter the delivery callback
//! resolves. The entries stay in their outbox until acknowledged, like every other, so nothing
//! is lost when the broker refuses; another producer's sweep may publish one as well, a
//! duplicate the worker drops.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::prelude::*;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::{oneshot, Notify};

use crate::common::domain::{Purchase, SaleId};
use crate::common::events::PurchaseEvent;
use crate::common::kafka::{broker_reachable, KafkaSettings};
use crate::common::log_limit::OutageLog;
use crate::common::store::{OutboxEntry, Store};
use crate::common::telemetry::{names, ActorMetrics};

/// Outages as the producer sees them, each logged once per change of state.
static READ: OutageLog = OutageLog::new("producer: read the outboxes in Redis");
static QUEUE: OutageLog = OutageLog::new("producer: queue events for the broker");
static OUTBOX_ACK: OutageLog = OutageLog::new("producer: remove published entries from the outbox");

/// A sale of this process just reserved: its outbox has new entries.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Nudge(pub SaleId);

/// Publish these entries, which the relay took over (they waited too long unacknowledged).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Vec<OutboxEntry>);

/// Wait, at most the given time, until every event handed to the producer is acknowledged,
/// and remove the acknowledged ones from the outbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush(pub Duration);

/// Does the broker answer a metadata request within the given time?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct BrokerReachable(pub Duration);

/// How the producer paces itself.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// This process's name in the outboxes' `publishers` group.
    pub consumer: String,
    /// Events handed to librdkafka and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// Entries read from one outbox at a time, at most.
    pub read_batch: usize,
    /// How often every sale's outbox is looked at (and the list of sales read again).
    pub sweep_interval: Duration,
}

/// An event in flight, by sale and entry id.
type EntryKey = (SaleId, String);

/// Where an event in flight came from.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// Taken over by the relay: when acknowledged, it counts as published again.
    relayed: bool,
    since: Instant,
}

/// What one delivery report is about.
pub struct Sent {
    /// The outbox entry to remove once acknowledged; `None` for an event published only for
    /// its waiter (a replay, or an entry this process already has in flight).
    entry: Option<EntryKey>,
    /// Told when the broker acknowledged the event; dropped, which its receiver sees at once,
    /// when the broker refused it.
    waiter: Option<oneshot::Sender<()>>,
}

/// What librdkafka's delivery reports leave for the actor; written on its polling thread.
#[derive(Default)]
pub struct Reports {
    in_flight: Mutex<HashMap<EntryKey, InFlight>>,
    acknowledged: Mutex<HashMap<SaleId, Vec<String>>>,
    /// Rung after each report: room was made, or acknowledgements wait to be written.
    changed: Notify,
}

/// A poisoned lock only means a thread panicked while holding it; the maps stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Reports {
    fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }
}

/// The producer's client context: records each delivery report.
pub struct DeliveryReports(Arc<Reports>);

impl ClientContext for DeliveryReports {}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let Sent { entry, waiter } = *sent;
        if let (Some(waiter), Ok(_)) = (waiter, result) {
            // Its buyer may have stopped waiting.
            let _ = waiter.send(());
        }
        let Some(key) = entry else {
            return;
        };
        let Some(sent) = lock(&self.0.in_flight).remove(&key) else {
            return;
        };
        if result.is_ok() {
            metrics::histogram!(names::PRODUCER_PUBLISH_SECONDS)
                .record(sent.since.elapsed().as_secs_f64());
            if sent.relayed {
                metrics::counter!(names::RELAY_REPUBLISHED).increment(1);
            }
            let (sale_id, entry_id) = key;
            lock(&self.0.acknowledged)
                .entry(sale_id)
                .or_default()
                .push(entry_id);
        } else {
            // The entry stays pending in its outbox; the relay takes it over later.
            metrics::counter!(names::PRODUCER_ERRORS).increment(1);
        }
        self.0.changed.notify_one();
    }
}

/// Hands events to librdkafka and records each in flight. Cheap to clone: the producer actor
/// publishes what it reads through it, and the reservation actors what `broker` sales reserve.
#[derive(Clone)]
pub struct Publisher {
    producer: Arc<ThreadedProducer<DeliveryReports>>,
    reports: Arc<Reports>,
    topic: Arc<str>,
    /// Its queue depth is the number of events in flight.
    metrics: ActorMetrics,
}

impl Publisher {
    /// Hands outbox entries to librdkafka, skipping any already in flight.
    fn publish(&self, entries: Vec<OutboxEntry>, relayed: bool) {
        if entries.is_empty() {
            return;
        }
        self.metrics.messages.increment(1);
        let mut handed = 0;
        for entry in entries {
            let key: EntryKey = (entry.sale_id.clone(), entry.id.clone());
            if !self.track(&key, relayed) {
                continue;
            }
            let sent = Sent {
                entry: Some(key),
                waiter: None,
            };
            if !self.send(&entry.event, sent) {
                // What was not handed over stays in the outbox; the relay takes it over later.
                break;
            }
            handed += 1;
        }
        if handed > 0 {
            QUEUE.succeeded();
        }
        metrics::histogram!(names::PRODUCER_BATCH_SIZE).record(f64::from(handed));
        self.show_in_flight();
    }

    /// Publishes one purchase's event at once; the receiver is told when the broker has
    /// acknowledged it, and closed if it was refused or could not be handed over. With
    /// `entry_id` (the purchase's outbox entry) the entry is removed once acknowledged; without
    /// (a replay), the event is a copy the worker drops if the original made it.
    pub fn publish_awaited(
        &self,
        purchase: &Purchase,
        entry_id: Option<&str>,
    ) -> oneshot::Receiver<()> {
        let (waiter, acknowledged) = oneshot::channel();
        // An entry a sweep already handed over is sent again for its waiter alone: waiting on
        // that earlier send would need a second record per entry, for a race this rare.
        let entry = entry_id
            .map(|id| (purchase.sale_id.clone(), id.to_owned()))
            .filter(|key| self.track(key, false));
        let sent = Sent {
            entry,
            waiter: Some(waiter),
        };
        // When it cannot be handed over, the waiter is dropped with it: the buyer hears at once.
        if self.send(&PurchaseEvent::from_purchase(purchase), sent) {
            QUEUE.succeeded();
        }
        self.show_in_flight();
        acknowledged
    }

    /// Records an entry in flight unless it already is; whether it was not.
    fn track(&self, key: &EntryKey, relayed: bool) -> bool {
        let mut in_flight = lock(&self.reports.in_flight);
        if in_flight.contains_key(key) {
            return false;
        }
        // Recorded before sending, so a report can never arrive before its record.
        let since = Instant::now();
        in_flight.insert(key.clone(), InFlight { relayed, since });
        true
    }

    /// Hands one event to librdkafka; whether it took it (if not, its entry is no longer in
    /// flight).
    fn send(&self, event: &PurchaseEvent, sent: Sent) -> bool {
        let payload = event.encode();
        // Keyed by sale: one sale's events share a partition and keep their order.
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(sent))
            .key(event.sale_id.as_str())
            .payload(&payload);
        match self.producer.send(record) {
            Ok(()) => true,
            Err((error, record)) => {
                if let Some(key) = &record.delivery_opaque.entry {
                    lock(&self.reports.in_flight).remove(key);
                }
                metrics::counter!(names::PRODUCER_ERRORS).increment(1);
                QUEUE.failed(&error);
                false
            }
        }
    }

    fn show_in_flight(&self) {
        self.metrics
            .queue_depth
            .set(self.reports.in_flight() as f64);
    }
}

pub struct KafkaProducerActor {
    publisher: Publisher,
    producer: Arc<ThreadedProducer<DeliveryReports>>,
    reports: Arc<Reports>,
    store: Store,
    config: ProducerConfig,
    /// Sales whose outbox may hold unread entries, in the order they were found.
    dirty: VecDeque<SaleId>,
    dirty_set: HashSet<SaleId>,
    /// Every sale, as last read (the sweep looks at each).
    sales: Vec<SaleId>,
    /// One outbox read at a time; one acknowledgement write at a time.
    reading: bool,
    writing_acks: bool,
}

impl KafkaProducerActor {
    pub fn new(
        kafka: &KafkaSettings,
        store: Store,
        config: ProducerConfig,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        // Listed from the start, at zero until the first of each.
        metrics::counter!(names::PRODUCER_ERRORS).increment(0);
        metrics::counter!(names::RELAY_REPUBLISHED).increment(0);
        let reports = Arc::new(Reports::default());
        let producer = kafka
            .producer_config()
            .create_with_context(DeliveryReports(Arc::clone(&reports)))?;
        let producer = Arc::new(producer);
        Ok(Self {
            publisher: Publisher {
                producer: Arc::clone(&producer),
                reports: Arc::clone(&reports),
                topic: kafka.topic.as_str().into(),
                metrics: ActorMetrics::new("kafka_producer", None),
            },
            producer,
            reports,
            store,
            config,
            dirty: VecDeque::new(),
            dirty_set: HashSet::new(),
            sales: Vec::new(),
            reading: false,
            writing_acks: false,
        })
    }

    /// Its publishing half, for the reservation actors of this process.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    fn mark_dirty(&mut self, sale_id: SaleId) {
        if self.dirty_set.insert(sale_id.clone()) {
            self.dirty.push_back(sale_id);
        }
    }

    /// Reads the next dirty sale's outbox if there is room in flight.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        let room = self
            .config
            .max_in_flight
            .saturating_sub(self.reports.in_flight());
        if self.reading || room == 0 {
            return;
        }
        let Some(sale_id) = self.dirty.pop_front() else {
            return;
        };
        self.dirty_set.remove(&sale_id);
        self.reading = true;
        let count = room.min(self.config.read_batch.max(1));
        let store = self.store.clone();
        let consumer = self.config.consumer.clone();
        let read = async move {
            let read = store.outbox_read(&sale_id, &consumer, count).await;
            (sale_id, read)
        };
        ctx.spawn(
            read.into_actor(self)
                .map(move |(sale_id, read), actor, ctx| {
                    actor.reading = false;
                    match read {
                        Ok(entries) => {
                            READ.succeeded();
                            // A full read may have left more behind.
                            if entries.len() == count {
                                actor.mark_dirty(sale_id.clone());
                            }
                            actor.publisher.publish(entries, false);
                        }
                        // The next sweep reads this sale again.
                        Err(error) => READ.failed(&error),
                    }
                    actor.fill(ctx);
                }),
        );
    }

    /// Removes the acknowledged entries from their outboxes, one script call per sale.
    fn write_acks(&mut self, ctx: &mut Context<Self>) {
        if self.writing_acks {
            return;
        }
        let acknowledged = std::mem::take(&mut *lock(&self.reports.acknowledged));
        if acknowledged.is_empty() {
            return;
        }
        self.writing_acks = true;
        let store = self.store.clone();
        ctx.spawn(
            remove_acknowledged(store, acknowledged)
                .into_actor(self)
                .map(|(), actor, ctx| {
                    actor.writing_acks = false;
                    // Reports that came in meanwhile.
                    actor.write_acks(ctx);
                }),
        );
    }

    /// Every sale may have entries nobody read (their process died first): look at each.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        for sale_id in self.sales.clone() {
            self.mark_dirty(sale_id);
        }
        let store = self.store.clone();
        ctx.spawn(async move { store.sale_ids().await }.into_actor(self).map(
            |sales, actor, ctx| {
                match sales {
                    Ok(sales) => {
                        for sale_id in &sales {
                            actor.mark_dirty(sale_id.clone());
                        }
                        actor.sales = sales;
                    }
                    Err(error) => READ.failed(&error),
                }
                actor.fill(ctx);
            },
        ));
    }
}

/// Removes acknowledged entries; if that fails they stay pending, and the relay publishes
/// them again later: a duplicate the worker drops, never a loss.
async fn remove_acknowledged(store: Store, acknowledged: HashMap<SaleId, Vec<String>>) {
    for (sale_id, ids) in acknowledged {
        match store.outbox_ack(&sale_id, &ids).await {
            Ok(()) => OUTBOX_ACK.succeeded(),
            Err(error) => OUTBOX_ACK.failed(&error),
        }
    }
}

impl Actor for KafkaProducerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sweep(ctx);
        ctx.run_interval(self.config.sweep_interval, |actor, ctx| actor.sweep(ctx));
        // Each delivery report: write the acknowledgements and read on into the room it made.
        let reports = Arc::clone(&self.reports);
        ctx.add_stream(futures_util::stream::unfold(
            reports,
            |reports| async move {
                reports.changed.notified().await;
                Some(((), reports))
            },
        ));
    }
}

impl StreamHandler<()> for KafkaProducerActor {
    fn handle(&mut self, (): (), ctx: &mut Self::Context) {
        self.publisher.show_in_flight();
        self.write_acks(ctx);
        self.fill(ctx);
    }
}

impl Handler<Nudge> for KafkaProducerActor {
    type Result = ();

    fn handle(&mut self, Nudge(sale_id): Nudge, ctx: &mut Self::Context) {
        self.mark_dirty(sale_id);
        self.fill(ctx);
    }
}

impl Handler<Publish> for KafkaProducerActor {
    type Result = ();

    fn handle(&mut self, Publish(entries): Publish, _: &mut Self::Context) {
        self.publisher.publish(entries, true);
    }
}

impl Handler<Flush> for KafkaProducerActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Flush(timeout): Flush, _: &mut Self::Context) -> Self::Result {
        let producer = Arc::clone(&self.producer);
        let reports = Arc::clone(&self.reports);
        let store = self.store.clone();
        Box::pin(async move {
            // librdkafka's flush blocks its thread while it waits.
            let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
            if !matches!(flushed, Ok(Ok(()))) {
                tracing::warn!("producer flush did not finish in time; the outbox keeps the rest");
            }
            let acknowledged = std::mem::take(&mut *lock(&reports.acknowledged));
            remove_acknowledged(store, acknowledged).await;
        })
    }
}

impl Handler<BrokerReachable> for KafkaProducerActor {
    type Result = ResponseFuture<bool>;

    fn handle(
        &mut self,
        BrokerReachable(timeout): BrokerReachable,
        _: &mut Self::Context,
    ) -> Self::Result {
        let producer = Arc::clone(&self.producer);
        Box::pin(async move { broker_reachable(producer, timeout).await })
    }
}

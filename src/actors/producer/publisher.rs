//! The producer's publishing half: hands events to librdkafka and collects its delivery
//! reports, on librdkafka's polling thread, into [`Reports`] (no future per event). The
//! [`KafkaProducerActor`](super::producer::KafkaProducerActor) publishes what it reads from the
//! outboxes through the [`Publisher`], and the reservation actors what `broker` sales reserve,
//! each with a waiter the delivery callback resolves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::{oneshot, Notify};

use crate::domain::events::PurchaseEvent;
use crate::domain::{Purchase, SaleId};
use crate::runtime::broker::KafkaSettings;
use crate::runtime::outage_log::OutageLog;
use crate::runtime::telemetry::{names, ActorMetrics};
use crate::store::OutboxEntry;

/// The broker's queue refusing events, logged once per change of state.
static QUEUE: OutageLog = OutageLog::new("producer: queue events for the broker");

/// An event in flight, by sale and entry id.
pub(super) type EntryKey = (SaleId, String);

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
    pub(super) acknowledged: Mutex<HashMap<SaleId, Vec<String>>>,
    /// Rung after each report: room was made, or acknowledgements wait to be written.
    pub(super) changed: Notify,
}

/// A poisoned lock only means a thread panicked while holding it; the maps stay usable.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Reports {
    pub(super) fn in_flight(&self) -> usize {
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
    pub(super) producer: Arc<ThreadedProducer<DeliveryReports>>,
    pub(super) reports: Arc<Reports>,
    topic: Arc<str>,
    /// Its queue depth is the number of events in flight.
    metrics: ActorMetrics,
}

impl Publisher {
    /// A producer with the API's settings (`KafkaSettings::producer_config`) whose delivery
    /// reports come to one callback.
    pub fn new(kafka: &KafkaSettings) -> Result<Self, KafkaError> {
        let reports = Arc::new(Reports::default());
        let producer = kafka
            .producer_config()
            .create_with_context(DeliveryReports(Arc::clone(&reports)))?;
        Ok(Self {
            producer: Arc::new(producer),
            reports,
            topic: kafka.topic.as_str().into(),
            metrics: ActorMetrics::new("kafka_producer", None),
        })
    }

    /// Hands outbox entries to librdkafka, skipping any already in flight.
    pub(super) fn publish(&self, entries: Vec<OutboxEntry>, relayed: bool) {
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

    pub(super) fn show_in_flight(&self) {
        self.metrics
            .queue_depth
            .set(self.reports.in_flight() as f64);
    }
}

//! `KafkaProducerActor`: publishes reserved purchases to Kafka and, once the broker has
//! acknowledged an event, removes its entry from the sale's outbox in Redis.
//!
//! The outbox, not this actor, is what guarantees delivery: an event this actor drops (too
//! many in flight, broker down past the message timeout, process killed) is still in the outbox,
//! and the [`relay`](super::relay) publishes it again. So this actor may shed load freely, and its
//! memory stays bounded by `max_in_flight` whatever the broker does.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::Instrument;

use crate::common::domain::SaleId;
use crate::common::kafka::broker_reachable;
use crate::common::log_limit::OutageLog;
use crate::common::store::{OutboxEntry, Store};
use crate::common::telemetry::{names, ActorMetrics};

/// Publish these outbox entries (fire and forget: the outbox keeps what is not acknowledged).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Vec<OutboxEntry>, pub Origin);

/// Who offers the entries: what `flashsale_relay_republished_total` counts depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The reservation that just wrote them: a first publish.
    Reservation,
    /// The outbox relay: a publish again. Counted once the broker acknowledges it; an entry
    /// still in flight when the relay offers it is skipped, and not counted.
    Relay,
}

/// Wait, at most the given time, until every event handed to the producer is acknowledged.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush(pub Duration);

/// Does the broker answer a metadata request within the given time?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct BrokerReachable(pub Duration);

/// Outages of the broker as the producer sees them, logged once per change of state.
static QUEUE: OutageLog = OutageLog::new("producer: queue events for the broker");
static DELIVERY: OutageLog = OutageLog::new("producer: get events acknowledged by the broker");
static OUTBOX_ACK: OutageLog = OutageLog::new("producer: remove published entries from the outbox");

pub struct KafkaProducerActor {
    producer: FutureProducer,
    topic: String,
    store: Store,
    /// Outbox entries handed to the producer and not yet acknowledged or failed, so the relay's
    /// rescans never publish the same entry twice at once.
    in_flight: HashSet<(SaleId, String)>,
    max_in_flight: usize,
    /// Its queue depth is the number of events in flight.
    metrics: ActorMetrics,
}

impl KafkaProducerActor {
    pub fn new(
        producer: FutureProducer,
        topic: String,
        store: Store,
        max_in_flight: usize,
    ) -> Self {
        // Listed from the start, at zero until the first of each.
        metrics::counter!(names::PRODUCER_ERRORS).increment(0);
        metrics::counter!(names::RELAY_REPUBLISHED).increment(0);
        Self {
            producer,
            topic,
            store,
            in_flight: HashSet::new(),
            max_in_flight,
            metrics: ActorMetrics::new("kafka_producer", None),
        }
    }
}

impl Actor for KafkaProducerActor {
    type Context = Context<Self>;
}

impl Handler<Publish> for KafkaProducerActor {
    type Result = ();

    fn handle(&mut self, Publish(entries, origin): Publish, ctx: &mut Self::Context) {
        self.metrics.messages.increment(1);
        let started = tokio::time::Instant::now();
        let mut deliveries = Vec::new();
        for entry in entries {
            let key = (entry.sale_id.clone(), entry.id.clone());
            if self.in_flight.contains(&key) {
                continue;
            }
            if self.in_flight.len() >= self.max_in_flight {
                tracing::debug!("producer at its in-flight limit; the relay will publish the rest");
                break;
            }
            let payload = entry.event.encode();
            // Keyed by sale: one sale's events share a partition and keep their order.
            let record = FutureRecord::to(&self.topic)
                .key(entry.sale_id.as_str())
                .payload(&payload);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.insert(key);
                    deliveries.push((entry, delivery));
                }
                Err((error, _)) => {
                    metrics::counter!(names::PRODUCER_ERRORS).increment(1);
                    QUEUE.failed(&error);
                    break;
                }
            }
        }
        self.metrics
            .handling
            .record(started.elapsed().as_secs_f64());
        if deliveries.is_empty() {
            return;
        }
        QUEUE.succeeded();
        metrics::histogram!(names::PRODUCER_BATCH_SIZE).record(deliveries.len() as f64);
        self.metrics.queue_depth.set(self.in_flight.len() as f64);
        let store = self.store.clone();
        let settled_count = deliveries.len();
        let settle = async move {
            let outcomes = join_all(deliveries.into_iter().map(|(entry, delivery)| async move {
                let acknowledged = matches!(delivery.await, Ok(Ok(_)));
                if acknowledged {
                    metrics::histogram!(names::PRODUCER_PUBLISH_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    if origin == Origin::Relay {
                        metrics::counter!(names::RELAY_REPUBLISHED).increment(1);
                    }
                } else {
                    metrics::counter!(names::PRODUCER_ERRORS).increment(1);
                }
                (entry, acknowledged)
            }))
            .await;
            // An event not acknowledged stays in the outbox: the relay offers it again.
            if outcomes.iter().any(|(_, ok)| !ok) {
                DELIVERY.failed(&"events not acknowledged within the message timeout");
            } else {
                DELIVERY.succeeded();
            }
            let mut acknowledged: HashMap<SaleId, Vec<String>> = HashMap::new();
            let mut settled = Vec::with_capacity(outcomes.len());
            for (entry, ok) in outcomes {
                if ok {
                    acknowledged
                        .entry(entry.sale_id.clone())
                        .or_default()
                        .push(entry.id.clone());
                }
                settled.push((entry.sale_id, entry.id));
            }
            for (sale_id, ids) in acknowledged {
                // If this fails the entries stay, and the relay publishes them again: a
                // duplicate the worker drops, never a loss.
                match store.outbox_ack(&sale_id, &ids).await {
                    Ok(_) => OUTBOX_ACK.succeeded(),
                    Err(error) => OUTBOX_ACK.failed(&error),
                }
            }
            settled
        };
        let span = tracing::debug_span!("kafka_publish", events = settled_count);
        ctx.spawn(
            settle
                .instrument(span)
                .into_actor(self)
                .map(|settled, actor, _| {
                    for key in settled {
                        actor.in_flight.remove(&key);
                    }
                    actor.metrics.queue_depth.set(actor.in_flight.len() as f64);
                }),
        );
    }
}

impl Handler<Flush> for KafkaProducerActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Flush(timeout): Flush, _: &mut Self::Context) -> Self::Result {
        let producer = self.producer.clone();
        Box::pin(async move {
            // librdkafka's flush blocks its thread while it waits.
            let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
            if !matches!(flushed, Ok(Ok(()))) {
                tracing::warn!("producer flush did not finish in time; the outbox keeps the rest");
            }
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
        let producer = self.producer.clone();
        Box::pin(async move { broker_reachable(&producer, timeout).await })
    }
}

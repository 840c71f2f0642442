//! `KafkaProducerActor`: drains the sales' outboxes into Kafka.
//!
//! The outbox is the queue (see `store/outbox/`). This actor is one consumer of
//! every outbox's `publishers` group: it reads entries no producer has had yet, as many as it
//! has room for in flight, publishes them, and once the broker acknowledged an event removes
//! its entry. A backlog therefore waits in Redis, not in memory, and is read again as soon as
//! acknowledgements make room: the reserve -> persisted latency grows with the backlog, with
//! no step, and the backlog drains at the broker's pace.
//!
//! What makes it read: a reservation, a payment, a cancel, an expiry or an offer of this
//! process nudges it for its sale ([`Nudge`]); every relay interval it looks at every sale,
//! which picks up entries whose process died before it read them. Entries it read but never got acknowledged (the broker was down past the message
//! timeout, or this process died) stay pending in the group, and the [`relay`](super::relay)
//! of any process takes them over and hands them back here ([`Publish`]).
//!
//! Delivery reports come to one callback on librdkafka's polling thread, which records them in
//! [`Reports`](super::publisher::Reports) (`publisher.rs`); there is no future per event.
//!
//! A `broker` sale's purchase is answered only once the broker has its event, so its entries do
//! not wait to be read: the reservation actors hand them to the [`Publisher`] (this actor's
//! publishing half, shared) as soon as the script ran, each with a waiter the delivery callback
//! resolves. The entries stay in their outbox until acknowledged, like every other, so nothing
//! is lost when the broker refuses; another producer's sweep may publish one as well, a
//! duplicate the worker drops.

pub mod publisher;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rdkafka::producer::Producer;

use crate::domain::SaleId;
use crate::runtime::broker::{broker_reachable, KafkaSettings};
use crate::runtime::outage_log::OutageLog;
use crate::runtime::telemetry::names;
use crate::store::{Outbox, OutboxEntry, Sales};
use publisher::{lock, Publisher};

/// Outages as the producer sees them, each logged once per change of state.
static READ: OutageLog = OutageLog::new("producer: read the outboxes in Redis");
static OUTBOX_ACK: OutageLog = OutageLog::new("producer: remove published entries from the outbox");

/// A sale of this process just reserved, or ended or offered a hold: its outbox has new
/// entries.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Nudge(pub SaleId);

impl Nudge {
    /// Nudges `producer` for `sale_id`. A full mailbox only delays the events until its next
    /// sweep: they are in the outbox.
    pub fn send(producer: &Recipient<Nudge>, sale_id: &SaleId) {
        if producer.try_send(Nudge(sale_id.clone())).is_err() {
            tracing::debug!(%sale_id, "producer busy; its sweep will read the outbox");
        }
    }
}

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

pub struct KafkaProducerActor {
    publisher: Publisher,
    outbox: Outbox,
    /// Where the sweep reads every sale id.
    catalogue: Sales,
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
        outbox: Outbox,
        catalogue: Sales,
        config: ProducerConfig,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        // Listed from the start, at zero until the first of each.
        metrics::counter!(names::PRODUCER_ERRORS).increment(0);
        metrics::counter!(names::RELAY_REPUBLISHED).increment(0);
        Ok(Self {
            publisher: Publisher::new(kafka)?,
            outbox,
            catalogue,
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
            .saturating_sub(self.publisher.reports.in_flight());
        if self.reading || room == 0 {
            return;
        }
        let Some(sale_id) = self.dirty.pop_front() else {
            return;
        };
        self.dirty_set.remove(&sale_id);
        self.reading = true;
        let count = room.min(self.config.read_batch.max(1));
        let outbox = self.outbox.clone();
        let consumer = self.config.consumer.clone();
        let read = async move {
            let read = outbox.read(&sale_id, &consumer, count).await;
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
        let acknowledged = std::mem::take(&mut *lock(&self.publisher.reports.acknowledged));
        if acknowledged.is_empty() {
            return;
        }
        self.writing_acks = true;
        let outbox = self.outbox.clone();
        ctx.spawn(
            remove_acknowledged(outbox, acknowledged)
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
        let catalogue = self.catalogue.clone();
        ctx.spawn(
            async move { catalogue.sale_ids().await }
                .into_actor(self)
                .map(|sales, actor, ctx| {
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
                }),
        );
    }
}

/// Removes acknowledged entries; if that fails they stay pending, and the relay publishes
/// them again later: a duplicate the worker drops, never a loss.
async fn remove_acknowledged(outbox: Outbox, acknowledged: HashMap<SaleId, Vec<String>>) {
    for (sale_id, ids) in acknowledged {
        match outbox.ack(&sale_id, &ids).await {
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
        let reports = Arc::clone(&self.publisher.reports);
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
        let producer = Arc::clone(&self.publisher.producer);
        let reports = Arc::clone(&self.publisher.reports);
        let outbox = self.outbox.clone();
        Box::pin(async move {
            // librdkafka's flush blocks its thread while it waits.
            let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
            if !matches!(flushed, Ok(Ok(()))) {
                tracing::warn!("producer flush did not finish in time; the outbox keeps the rest");
            }
            let acknowledged = std::mem::take(&mut *lock(&reports.acknowledged));
            remove_acknowledged(outbox, acknowledged).await;
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
        let producer = Arc::clone(&self.publisher.producer);
        Box::pin(async move { broker_reachable(producer, timeout).await })
    }
}

//! The consumer: reads purchase events from the partitions this worker holds a lease on
//! ([`leases`](super::leases)), hands each batch to the [`committer`](super::committer), which
//! writes the orders and the batch's next offsets in one transaction under those leases. A
//! tokio task supervised by [`supervisor`](super::supervisor).
//!
//! No Kafka consumer group: the consumer `assign()`s the partitions whose leases it holds and
//! seeks to the offsets stored in PostgreSQL. Offsets move only in the transaction that made
//! the batch durable, so a crash means the batch is read again, and the orders' dedup key
//! turns the second write into a no-op. Nothing consumed-but-unpersisted is ever committed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::committer::{Committer, CommitterError};
use super::leases::batch_commit::CommitError;
use super::leases::keeper::LeaseKeeper;
use super::leases::{Held, Leases};
use super::stats::WorkerStats;
use crate::domain::events::PurchaseEvent;
use crate::runtime::outage_log::OutageLog;
use crate::runtime::settings::WorkerSettings;
use crate::runtime::telemetry::{names, ActorMetrics};

/// The longest a fetch waits for data (see `run`).
const FETCH_WAIT_MS: &str = "10";
/// How often librdkafka reports its statistics, the consumer lag among them.
const STATISTICS_INTERVAL_MS: &str = "1000";
/// How long the partition count of the topic may take to read.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer's client context: turns librdkafka's statistics into the lag metric.
struct LagReporter;

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for partition in topic.partitions.values() {
                // The lag behind the offsets stored after each durable batch (the same ones
                // PostgreSQL holds); -1 is librdkafka's "not known yet" (and partition -1 its
                // internal one).
                if partition.partition >= 0 && partition.consumer_lag_stored >= 0 {
                    set_lag(
                        &topic.topic,
                        partition.partition,
                        partition.consumer_lag_stored,
                    );
                }
            }
        }
    }
}

impl ConsumerContext for LagReporter {}

fn set_lag(topic: &str, partition: i32, lag: i64) {
    metrics::gauge!(
        names::WORKER_CONSUMER_LAG,
        "topic" => topic.to_owned(),
        "partition" => partition.to_string()
    )
    .set(lag as f64);
}

type PartitionConsumer = StreamConsumer<LagReporter>;

/// Why the consumer stopped with an error; the supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Commit(#[from] CommitterError),
    #[error("postgres: {0}")]
    Leases(#[from] sqlx::Error),
    #[error("dead-letter publish failed: {0}")]
    DeadLetter(KafkaError),
    #[error("the topic {0} has no partitions")]
    NoPartitions(String),
}

/// Why a batch ended.
enum BatchEnd {
    /// Full, or the linger time passed.
    Full,
    /// `stop` was seen: process this batch, then leave.
    Stop,
    /// The leases held changed (the batch is empty).
    LeasesChanged,
}

/// Everything one consumer run needs.
pub struct ConsumerRun {
    pub settings: WorkerSettings,
    pub committer: Committer,
    pub leases: Leases,
    pub dead_letters: FutureProducer,
    pub stats: Arc<WorkerStats>,
    pub stop: CancellationToken,
}

impl ConsumerRun {
    /// Keeps the leases and consumes the partitions held until `stop`; then persists what it
    /// fetched, releases the leases and returns.
    pub async fn run(self) -> Result<(), ConsumerError> {
        let consumer: PartitionConsumer = self
            .settings
            .kafka
            .client_config()
            // No group is joined (no subscribe); librdkafka wants a group id all the same.
            .set("group.id", &self.settings.group_id)
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            // Offsets live in PostgreSQL; the stored ones only feed the lag metric.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // How long a fetch may wait for data: librdkafka's default (500 ms) is spent in full
            // by tansu even when events are there, which alone put p50 reserve -> persisted at
            // 430 ms under a light load (README, "Benchmark"). A short wait costs an idle
            // worker a few more fetch requests a second.
            .set("fetch.wait.max.ms", FETCH_WAIT_MS)
            .create_with_context(LagReporter)?;
        let partitions = partition_count(&self.dead_letters, &self.settings.kafka.topic).await?;
        let (keeper, held) = LeaseKeeper::new(self.leases.clone(), partitions);
        // Not a child of `stop`: the leases are released only after the last batch is durable.
        let keeper_stop = CancellationToken::new();
        let keeper_task = tokio::spawn(keeper.run(keeper_stop.clone()));
        tracing::info!(
            topic = %self.settings.kafka.topic,
            group = %self.settings.group_id,
            worker = %self.leases.worker_id(),
            partitions,
            "consuming the partitions this worker holds a lease on"
        );
        let consumed = self.consume(&consumer, held, partitions).await;
        let _ = consumer.unassign();
        keeper_stop.cancel();
        if let Err(error) = keeper_task.await {
            tracing::error!(%error, "the lease keeper failed");
        }
        tracing::info!("released the partition leases");
        consumed
    }

    /// The consuming loop: follows the leases held, fetches batches, processes them.
    async fn consume(
        &self,
        consumer: &PartitionConsumer,
        mut held: watch::Receiver<Held>,
        partitions: i32,
    ) -> Result<(), ConsumerError> {
        let metrics = ActorMetrics::new("consumer", None);
        // What is assigned, with the next offset of each partition as far as this run knows.
        let mut positions = Held::new();
        loop {
            if positions.is_empty() {
                // Nothing to consume until a lease is taken.
                tokio::select! {
                    () = self.stop.cancelled() => break,
                    changed = held.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let now_held = held.borrow_and_update().clone();
                        positions = self.reassign(consumer, &positions, now_held)?;
                        continue;
                    }
                }
            }
            let (batch, ended) = self.fetch_batch(consumer, &mut held).await;
            let batch: Vec<OwnedMessage> = batch
                .into_iter()
                .filter(|m| is_due(&positions, m.partition(), m.offset()))
                .collect();
            if !batch.is_empty() {
                metrics::counter!(names::WORKER_CONSUMED).increment(batch.len() as u64);
                metrics.messages.increment(batch.len() as u64);
                metrics.queue_depth.set(batch.len() as f64);
                let started = Instant::now();
                let processed = self.process(&batch).await;
                // The worker's batch latency is the consumer actor's handling time.
                let seconds = started.elapsed().as_secs_f64();
                metrics::histogram!(names::WORKER_BATCH_SECONDS).record(seconds);
                metrics.handling.record(seconds);
                metrics.queue_depth.set(0.0);
                match processed {
                    Ok(next_offsets) => {
                        store_for_lag(consumer, &self.settings.kafka.topic, &next_offsets);
                        for (partition, offset) in next_offsets {
                            positions.insert(partition, Some(offset));
                        }
                    }
                    Err(ConsumerError::Commit(CommitterError::Commit(CommitError::LeaseLost(
                        partition,
                    )))) => {
                        metrics.errors.increment(1);
                        // Another worker took it (this one stalled past the TTL, or its share
                        // shrank): drop what was fetched and start over from what PostgreSQL
                        // says this worker holds, at the offsets stored there.
                        tracing::info!(partition, "a partition lease was lost; reassigning");
                        let fresh = self.leases.renew(partitions).await?;
                        held.borrow_and_update();
                        positions = self.reassign(consumer, &Held::new(), fresh)?;
                    }
                    Err(error) => {
                        metrics.errors.increment(1);
                        return Err(error);
                    }
                }
            }
            match ended {
                BatchEnd::Stop => break,
                BatchEnd::LeasesChanged => {
                    let now_held = held.borrow_and_update().clone();
                    positions = self.reassign(consumer, &positions, now_held)?;
                }
                BatchEnd::Full => {}
            }
        }
        Ok(())
    }

    /// Assigns exactly the partitions in `held`: the ones kept resume where this run got to,
    /// the new ones at the offset PostgreSQL holds for them (or the earliest).
    fn reassign(
        &self,
        consumer: &PartitionConsumer,
        current: &Held,
        held: Held,
    ) -> Result<Held, ConsumerError> {
        let topic = &self.settings.kafka.topic;
        let mut assignment = TopicPartitionList::new();
        let mut positions = Held::new();
        for (partition, stored) in held {
            let next = current.get(&partition).copied().unwrap_or(stored);
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            assignment.add_partition_offset(topic, partition, offset)?;
            positions.insert(partition, next);
        }
        consumer.assign(&assignment)?;
        let known: BTreeMap<i32, i64> = positions
            .iter()
            .filter_map(|(partition, next)| next.map(|offset| (*partition, offset)))
            .collect();
        store_for_lag(consumer, topic, &known);
        // This worker no longer reads the partitions it gave up: its lag on them is none.
        for partition in current.keys().filter(|p| !positions.contains_key(p)) {
            set_lag(topic, *partition, 0);
        }
        Ok(positions)
    }

    /// Waits for a first message (or `stop`, or a change of the leases held), then takes more
    /// for up to the linger time. Returns the batch and why it ended. A broker that
    /// does not answer is not an error here: librdkafka reconnects, and the outage is logged
    /// once.
    async fn fetch_batch(
        &self,
        consumer: &PartitionConsumer,
        held: &mut watch::Receiver<Held>,
    ) -> (Vec<OwnedMessage>, BatchEnd) {
        static BROKER: OutageLog = OutageLog::new("worker: fetch purchase events from the broker");
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.settings.batch_size {
            let linger = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => return (batch, BatchEnd::Stop),
                () = linger => break,
                // Only between batches: the caller reassigns at once.
                changed = held.changed(), if batch.is_empty() => {
                    return (batch, if changed.is_ok() { BatchEnd::LeasesChanged } else { BatchEnd::Stop });
                }
                message = consumer.recv() => match message {
                    Ok(message) => {
                        BROKER.succeeded();
                        batch.push(message.detach());
                        deadline.get_or_insert_with(|| Instant::now() + self.settings.linger);
                    }
                    Err(error) => BROKER.failed(&error),
                },
            }
        }
        (batch, BatchEnd::Full)
    }

    /// Dead-letters what cannot be decoded, then persists the rest with the batch's next
    /// offsets in one transaction; returns those offsets.
    #[tracing::instrument(level = "debug", skip_all, fields(batch = batch.len()))]
    async fn process(&self, batch: &[OwnedMessage]) -> Result<BTreeMap<i32, i64>, ConsumerError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut seen = HashSet::with_capacity(batch.len());
        let mut next_offsets = BTreeMap::new();
        for message in batch {
            let next = next_offsets.entry(message.partition()).or_insert(0);
            *next = (*next).max(message.offset() + 1);
            match PurchaseEvent::decode(message.payload().unwrap_or_default()) {
                Ok(event) => {
                    // The same event again is a duplicate; another state at the same version
                    // (a hold ended twice) is kept for the audit.
                    if seen.insert((event.purchase_id, event.version, event.kind)) {
                        events.push(event);
                    } else {
                        self.stats.add_duplicates(1);
                    }
                }
                Err(reason) => self.dead_letter(message, &reason.to_string()).await?,
            }
        }
        let persisted = self.committer.commit(events, next_offsets.clone()).await;
        let persisted = persisted.inspect_err(|_| {
            metrics::counter!(names::WORKER_COMMIT_FAILURES).increment(1);
        })?;
        self.stats.add_persisted(persisted.new);
        self.stats.add_duplicates(persisted.duplicates);
        self.stats.add_contradicting(persisted.contradicting);
        Ok(next_offsets)
    }

    /// Publishes a message that cannot be persisted to the dead-letter topic, with the reason
    /// and where it came from, and waits for the broker to acknowledge it.
    async fn dead_letter(&self, message: &OwnedMessage, reason: &str) -> Result<(), ConsumerError> {
        tracing::warn!(partition = message.partition(), offset = message.offset(), %reason, "dead-lettering a message");
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "flashsale-dlq-reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "flashsale-source-topic",
                value: Some(message.topic()),
            })
            .insert(Header {
                key: "flashsale-source-partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "flashsale-source-offset",
                value: Some(&offset),
            });
        let dlq = self.settings.kafka.dlq_topic();
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&dlq).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.dead_letters
            .send(record, self.settings.kafka.message_timeout)
            .await
            .map_err(|(error, _)| ConsumerError::DeadLetter(error))?;
        self.stats.add_dead_lettered(1);
        Ok(())
    }
}

/// Whether a fetched message is one this run still has to process: its partition is assigned
/// and it is not older than what was already committed (a fetch from before a reassignment).
fn is_due(positions: &Held, partition: i32, offset: i64) -> bool {
    match positions.get(&partition) {
        None => false,
        Some(next) => next.is_none_or(|next| offset >= next),
    }
}

/// Tells librdkafka the offsets now durable, so its statistics report the lag behind them.
fn store_for_lag(consumer: &PartitionConsumer, topic: &str, next_offsets: &BTreeMap<i32, i64>) {
    let mut offsets = TopicPartitionList::new();
    for (partition, next) in next_offsets {
        if offsets
            .add_partition_offset(topic, *partition, Offset::Offset(*next))
            .is_err()
        {
            return;
        }
    }
    if let Err(error) = consumer.store_offsets(&offsets) {
        tracing::debug!(%error, "cannot store offsets for the lag metric");
    }
}

/// How many partitions the topic has, from the broker's metadata (through any client of it).
async fn partition_count(client: &FutureProducer, topic: &str) -> Result<i32, ConsumerError> {
    let client = client.clone();
    let name = topic.to_owned();
    // librdkafka's metadata call blocks its thread.
    let metadata = tokio::task::spawn_blocking(move || {
        client
            .client()
            .fetch_metadata(Some(&name), METADATA_TIMEOUT)
    })
    .await
    .map_err(|_| ConsumerError::Kafka(KafkaError::Canceled))??;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    match i32::try_from(count) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(ConsumerError::NoPartitions(topic.to_owned())),
    }
}

//! The consumer: reads purchase events from Kafka in a consumer group, hands each batch to the
//! persister, and commits the batch's offsets only once the persister says it is durable.
//! A tokio task supervised by [`supervisor`](super::supervisor).
//!
//! The order of those three steps is the whole delivery guarantee: a crash before the commit
//! means the batch is read again, and the persister's dedup key turns the second write into a
//! no-op. Nothing consumed-but-unpersisted is ever committed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::persister::{PersistError, Persister};
use super::stats::WorkerStats;
use crate::common::events::PurchaseEvent;
use crate::common::settings::WorkerSettings;
use crate::common::telemetry::{names, ActorMetrics};

/// How often librdkafka reports its statistics, the consumer lag among them.
const STATISTICS_INTERVAL_MS: &str = "1000";

/// The consumer's client context: turns librdkafka's statistics into the lag metric.
struct LagReporter;

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for partition in topic.partitions.values() {
                // -1 is librdkafka's "not known yet" (and partition -1 its internal one).
                if partition.partition >= 0 && partition.consumer_lag >= 0 {
                    metrics::gauge!(
                        names::WORKER_CONSUMER_LAG,
                        "topic" => topic.topic.clone(),
                        "partition" => partition.partition.to_string()
                    )
                    .set(partition.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for LagReporter {}

type GroupConsumer = StreamConsumer<LagReporter>;

/// Why the consumer stopped with an error; the supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error("dead-letter publish failed: {0}")]
    DeadLetter(KafkaError),
    #[error("offset commit could not run: {0}")]
    Commit(String),
}

/// Everything one consumer run needs.
pub struct ConsumerRun {
    pub settings: WorkerSettings,
    pub persister: Persister,
    pub dead_letters: FutureProducer,
    pub stats: Arc<WorkerStats>,
    pub stop: CancellationToken,
}

impl ConsumerRun {
    /// Joins the group and consumes until `stop`; then persists and commits what it fetched,
    /// leaves the group and returns.
    pub async fn run(self) -> Result<(), ConsumerError> {
        let mut config = self.settings.kafka.client_config();
        if let Some(instance_id) = &self.settings.instance_id {
            config.set("group.instance.id", instance_id);
        }
        let consumer: GroupConsumer = config
            .set("group.id", &self.settings.group_id)
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            // Offsets are committed by hand, after the batch is durable.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                self.settings.session_timeout.as_millis().to_string(),
            )
            // Also the rebalance timeout: how long a join waits for members that stopped
            // answering. Brokers differ in which of the two expels a dead member first.
            .set(
                "max.poll.interval.ms",
                (self.settings.session_timeout * 2).as_millis().to_string(),
            )
            .create_with_context(LagReporter)?;
        consumer.subscribe(&[&self.settings.kafka.topic])?;
        let consumer = Arc::new(consumer);
        tracing::info!(topic = %self.settings.kafka.topic, group = %self.settings.group_id, "consuming");

        let metrics = ActorMetrics::new("consumer", None);
        loop {
            let (batch, stopping) = self.fetch_batch(&consumer).await?;
            if !batch.is_empty() {
                metrics::counter!(names::WORKER_CONSUMED).increment(batch.len() as u64);
                metrics.messages.increment(batch.len() as u64);
                metrics.queue_depth.set(batch.len() as f64);
                let started = Instant::now();
                let processed = self.process(&consumer, &batch).await;
                // The worker's batch latency is the consumer actor's handling time.
                let seconds = started.elapsed().as_secs_f64();
                metrics::histogram!(names::WORKER_BATCH_SECONDS).record(seconds);
                metrics.handling.record(seconds);
                metrics.queue_depth.set(0.0);
                if processed.is_err() {
                    metrics.errors.increment(1);
                }
                processed?;
            }
            if stopping {
                break;
            }
        }
        consumer.unsubscribe();
        tracing::info!("left the consumer group");
        Ok(())
    }

    /// Waits for a first message (or `stop`), then takes more for up to the linger time.
    /// Returns the batch and whether `stop` was seen.
    async fn fetch_batch(
        &self,
        consumer: &GroupConsumer,
    ) -> Result<(Vec<OwnedMessage>, bool), ConsumerError> {
        let mut batch = Vec::new();
        let first = tokio::select! {
            () = self.stop.cancelled() => return Ok((batch, true)),
            message = consumer.recv() => message?,
        };
        batch.push(first.detach());
        let deadline = Instant::now() + self.settings.linger;
        while batch.len() < self.settings.batch_size {
            tokio::select! {
                () = self.stop.cancelled() => return Ok((batch, true)),
                () = tokio::time::sleep_until(deadline) => break,
                message = consumer.recv() => batch.push(message?.detach()),
            }
        }
        Ok((batch, false))
    }

    /// Dead-letters what cannot be decoded, persists the rest, then commits the whole batch.
    #[tracing::instrument(level = "debug", skip_all, fields(batch = batch.len()))]
    async fn process(
        &self,
        consumer: &Arc<GroupConsumer>,
        batch: &[OwnedMessage],
    ) -> Result<(), ConsumerError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut seen = HashSet::with_capacity(batch.len());
        for message in batch {
            match PurchaseEvent::decode(message.payload().unwrap_or_default()) {
                Ok(event) => {
                    if seen.insert(event.purchase_id) {
                        events.push(event);
                    } else {
                        self.stats.add_duplicates(1);
                    }
                }
                Err(reason) => self.dead_letter(message, &reason.to_string()).await?,
            }
        }
        if !events.is_empty() {
            let persisted = self.persister.persist(events).await?;
            self.stats.add_persisted(persisted.new);
            self.stats.add_duplicates(persisted.duplicates);
        }
        commit(consumer, batch).await
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

/// Commits, per partition, the offset after the last message of the batch.
async fn commit(
    consumer: &Arc<GroupConsumer>,
    batch: &[OwnedMessage],
) -> Result<(), ConsumerError> {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for message in batch {
        let offset = next
            .entry((message.topic(), message.partition()))
            .or_insert(0);
        *offset = (*offset).max(message.offset() + 1);
    }
    let mut offsets = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        offsets.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    let consumer = Arc::clone(consumer);
    // A synchronous commit blocks its thread until the broker answers.
    let committed =
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(|e| ConsumerError::Commit(e.to_string()))
            .and_then(|result| result.map_err(ConsumerError::from));
    if committed.is_err() {
        metrics::counter!(names::WORKER_COMMIT_FAILURES).increment(1);
    }
    committed
}

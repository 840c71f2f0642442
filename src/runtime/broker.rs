//! Kafka client settings shared by the API (producer) and the worker (consumer, dead letters).
//!
//! Nothing here is specific to one broker: the local stack runs tansu, production runs Apache
//! Kafka or Redpanda, and all of them take these librdkafka settings.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer, ProducerContext};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::lifecycle::retry_until_done;

/// How both processes reach the broker and which topic carries purchases (the variables and
/// their defaults: `settings::catalogue`, `FLASHSALE_KAFKA_*`).
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub brokers: String,
    /// Dead letters go to `<topic>.dlq`.
    pub topic: String,
    /// Used when the topics are created at start-up.
    pub partitions: i32,
    pub replication: i32,
    /// How long the producer waits to fill a batch, and how many events a batch holds at most.
    pub linger: Duration,
    pub batch_size: usize,
    /// How long the producer retries one event before giving up on it (it stays in the outbox
    /// for the relay).
    pub message_timeout: Duration,
    /// librdkafka debug contexts for every client.
    pub debug: Option<String>,
}

/// The longest wait between two attempts to reconnect to a broker.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";
/// How long an admin or metadata request to the broker may take.
const BROKER_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a readiness probe waits for the broker's answer.
pub const BROKER_CHECK_TIMEOUT: Duration = Duration::from_millis(1000);

impl KafkaSettings {
    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.topic)
    }

    /// The settings every client shares; producers and consumers add their own.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        // librdkafka waits up to 10 s between reconnects by default: a broker back from an
        // outage would go unused that long. One second keeps resuming within the 3 s we promise.
        config.set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
        if let Some(contexts) = &self.debug {
            config.set("debug", contexts);
        }
        config
    }

    /// A producer that waits for every in-sync replica (`acks=all`): a delivered event is never
    /// lost by the broker.
    ///
    /// Not idempotent, on purpose. A producer retry may write an event twice, and so may the
    /// outbox relay whatever the producer does; the worker's dedup key (`purchase_id`) already
    /// makes either harmless, so idempotence would buy nothing we rely on. It costs a lot:
    /// against the local broker, producing one event took 15.8 us of CPU with
    /// `enable.idempotence=true` and 1.1 us without (same batches, `acks=all` both times;
    /// librdkafka's broker thread busy-polls while its five idempotent requests are in
    /// flight). Measured by `tests/pipeline/producer_cost.rs` (README, "Benchmark").
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        self.producer_config().create()
    }

    /// The producer's settings (see [`Self::producer`]).
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "false")
            .set("acks", "all")
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("batch.num.messages", self.batch_size.to_string())
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().to_string(),
            );
        config
    }

    /// Creates the topics, retrying until the broker answers or `stop` is cancelled. Both
    /// processes run it in the background: the API takes purchases without the topics (the
    /// outbox holds their events), and the worker waits for them before consuming.
    pub async fn create_topics_until_done(&self, stop: CancellationToken) {
        retry_until_done("create the Kafka topics", stop, || self.ensure_topics()).await;
    }

    /// Creates the purchase topic and its dead-letter topic unless they exist.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ensure_topics(&self) -> Result<(), KafkaError> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let dlq = self.dlq_topic();
        let topics = [&self.topic, &dlq].map(|name| {
            NewTopic::new(
                name,
                self.partitions,
                TopicReplication::Fixed(self.replication),
            )
        });
        let options = AdminOptions::new().operation_timeout(Some(BROKER_REQUEST_TIMEOUT));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    tracing::debug!(%topic, ?code, "cannot create topic");
                    return Err(KafkaError::AdminOp(code));
                }
            }
        }
        Ok(())
    }
}

/// Whether the broker answers a metadata request within `timeout`, asked through `producer`.
pub async fn broker_reachable<P, C>(producer: Arc<P>, timeout: Duration) -> bool
where
    P: Producer<C> + Send + Sync + 'static,
    C: ProducerContext + 'static,
{
    // librdkafka's metadata call blocks its thread.
    tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
        .await
        .unwrap_or(false)
}

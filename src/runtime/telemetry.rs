//! Logs and metrics.
//!
//! Logging: `RUST_LOG` picks the level (default `info`), `FLASHSALE_LOG_FORMAT=json` switches
//! to one JSON object per line.
//!
//! Metrics: every metric either process records is named and described in [`names`] and
//! [`describe`], so this file is the catalogue an operator reads (docs/OPERATIONS.md, section 4, carries the same
//! list). They are recorded with the `metrics` macros where the work happens and served as
//! Prometheus text by `GET /metrics` on both processes ([`render`]).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::log_throttle::LogThrottle;

/// Where log lines go: a service writes them to stdout; a command whose stdout is its answer
/// (the audit's `--json`) writes them to stderr, so they never mix with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    Stdout,
    Stderr,
}

/// Installs the global subscriber; call once at the top of a binary.
pub fn init(to: LogTo) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || -> Box<dyn std::io::Write> {
            match to {
                LogTo::Stdout => Box::new(std::io::stdout()),
                LogTo::Stderr => Box::new(std::io::stderr()),
            }
        });
    if super::settings::json_logs() {
        builder.json().finish().with(ThrottleNoisyLines).init();
    } else {
        builder.finish().with(ThrottleNoisyLines).init();
    }
}

/// Warnings and errors that something outside the process can repeat at will, each source
/// written at most once per interval:
/// - actix-http writes one ERROR line (`stream error: ...`) for every malformed request it
///   refuses itself (bad request line, bad header bytes, no `Host`, 97 headers or more...), so
///   a client could fill the log at will;
/// - librdkafka writes a line (and reports a "global error", another line) at every attempt to
///   reconnect to a broker that is down: 146 ERROR lines in 12 s from one API process with its
///   broker gone. The outage itself is logged once per change of state by the producer and
///   the consumer (`OutageLog`), so these add nothing after the first.
struct ThrottleNoisyLines;

/// One source of such lines: what its targets start with, and its throttle.
struct NoisySource {
    target_prefixes: &'static [&'static str],
    throttle: LogThrottle,
}

const NOISY_INTERVAL: Duration = Duration::from_secs(10);

static NOISY_SOURCES: [NoisySource; 2] = [
    NoisySource {
        target_prefixes: &["actix_http::h1::dispatcher"],
        throttle: LogThrottle::new(NOISY_INTERVAL),
    },
    NoisySource {
        // rdkafka forwards librdkafka's own lines under `librdkafka` and its error callback
        // under its module's path.
        target_prefixes: &["librdkafka", "rdkafka::"],
        throttle: LogThrottle::new(NOISY_INTERVAL),
    },
];

impl<S: tracing::Subscriber> Layer<S> for ThrottleNoisyLines {
    fn event_enabled(&self, event: &tracing::Event<'_>, _: Context<'_, S>) -> bool {
        // Lines that come through the `log` crate (librdkafka's, via rdkafka) carry their
        // real target in the normalized metadata.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if *metadata.level() > tracing::Level::WARN {
            return true;
        }
        let target = metadata.target();
        NOISY_SOURCES
            .iter()
            .find(|source| {
                source
                    .target_prefixes
                    .iter()
                    .any(|prefix| target.starts_with(prefix))
            })
            .is_none_or(|source| source.throttle.occurred().is_some())
    }
}

/// Metric names, one constant each, so a call site and the catalogue cannot drift apart.
pub mod names {
    // Actors (label `actor`; `member` for the reservation pool).
    pub const ACTOR_MESSAGES: &str = "flashsale_actor_messages_total";
    pub const ACTOR_QUEUE_DEPTH: &str = "flashsale_actor_queue_depth";
    pub const ACTOR_HANDLING_SECONDS: &str = "flashsale_actor_handling_seconds";
    pub const ACTOR_ERRORS: &str = "flashsale_actor_errors_total";
    pub const ACTOR_RESTARTS: &str = "flashsale_actor_restarts_total";
    // HTTP (labels `route`, `method`, `status`).
    pub const HTTP_REQUESTS: &str = "flashsale_http_requests_total";
    pub const HTTP_SECONDS: &str = "flashsale_http_request_duration_seconds";
    // The purchase path.
    pub const PURCHASES: &str = "flashsale_purchases_total";
    pub const RESERVATION_BATCH_SIZE: &str = "flashsale_reservation_batch_size";
    // Rate limits (label `limit`: `client_address` or `user`).
    pub const RATE_LIMITED: &str = "flashsale_rate_limited_total";
    pub const RATE_LIMIT_RESETS: &str = "flashsale_rate_limit_resets_total";
    pub const STREAM_CLIENTS: &str = "flashsale_stream_clients";
    pub const STREAM_POLLED_SALES: &str = "flashsale_stream_polled_sales";
    // Holds and the waitlist (API process).
    pub const HOLDS_ENDED: &str = "flashsale_holds_ended_total";
    pub const HOLDS_ACTIVE: &str = "flashsale_holds_active";
    pub const WAITLIST_LENGTH: &str = "flashsale_waitlist_length";
    pub const WAITLIST_OFFERS: &str = "flashsale_waitlist_offers_total";
    pub const REAPER_LAG_SECONDS: &str = "flashsale_reaper_lag_seconds";
    pub const LATE_PAYMENTS_REFUSED: &str = "flashsale_late_payments_refused_total";
    // Admission (API process): the waiting rooms and purchase tokens.
    pub const QUEUE_WAITING: &str = "flashsale_queue_waiting";
    pub const QUEUE_STREAM_CLIENTS: &str = "flashsale_queue_stream_clients";
    pub const QUEUE_STREAM_POLLED_SALES: &str = "flashsale_queue_stream_polled_sales";
    pub const QUEUE_ADMITTED: &str = "flashsale_queue_admitted_total";
    pub const TOKENS_REFUSED: &str = "flashsale_tokens_refused_total";
    // Producing (API process).
    pub const PRODUCER_BATCH_SIZE: &str = "flashsale_producer_batch_size";
    pub const PRODUCER_PUBLISH_SECONDS: &str = "flashsale_producer_publish_seconds";
    pub const PRODUCER_ERRORS: &str = "flashsale_producer_errors_total";
    pub const OUTBOX_LENGTH: &str = "flashsale_outbox_length";
    pub const RELAY_REPUBLISHED: &str = "flashsale_relay_republished_total";
    // Persisting (worker process).
    pub const WORKER_CONSUMED: &str = "flashsale_worker_consumed_total";
    pub const WORKER_PERSISTED: &str = "flashsale_worker_persisted_total";
    pub const WORKER_DUPLICATES: &str = "flashsale_worker_duplicates_total";
    pub const WORKER_CONTRADICTING: &str = "flashsale_worker_contradicting_events_total";
    pub const WORKER_DEAD_LETTERED: &str = "flashsale_worker_dead_lettered_total";
    pub const WORKER_BATCH_SECONDS: &str = "flashsale_worker_batch_seconds";
    pub const WORKER_CONSUMER_LAG: &str = "flashsale_worker_consumer_lag";
    pub const WORKER_COMMIT_FAILURES: &str = "flashsale_worker_commit_failures_total";
}

/// Histogram buckets for latencies: 0.5 ms to 10 s, the range between a Redis round trip and
/// a broker outage.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Histogram buckets for batch sizes: one purchase up to the largest worker batch.
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];
/// How often histogram samples are folded into their buckets between scrapes, which bounds
/// the memory they take under a stampede.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's metrics recorder, installed on first use; tests that build several apps in
/// one process share it, as the processes' own metrics would be shared.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS));
        let handle = match builder {
            Ok(builder) => {
                let recorder = builder.build_recorder();
                let handle = recorder.handle();
                if metrics::set_global_recorder(recorder).is_err() {
                    tracing::error!("another metrics recorder is installed; /metrics stays empty");
                }
                handle
            }
            // Only reachable with empty bucket lists, which the constants above are not.
            Err(error) => {
                tracing::error!(%error, "bad histogram buckets; /metrics stays empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        let upkeep = handle.clone();
        // A thread, not a task: the recorder lives as long as the process, across the runtimes
        // tests start and stop. It holds nothing that needs closing, so it ends with the process.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no metrics upkeep thread; histograms drain at each scrape only");
        }
        handle
    })
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render() -> String {
    metrics().render()
}

/// The handles of one actor's metrics (see [`names`]), looked up once: recording through a
/// handle costs an atomic operation, not a registry lookup.
#[derive(Clone)]
pub struct ActorMetrics {
    /// `flashsale_actor_messages_total{actor, member}`
    pub messages: Counter,
    /// `flashsale_actor_queue_depth{actor, member}`
    pub queue_depth: Gauge,
    /// `flashsale_actor_handling_seconds{actor}`
    pub handling: Histogram,
    /// `flashsale_actor_errors_total{actor}`
    pub errors: Counter,
}

impl ActorMetrics {
    /// The metrics of actor type `actor`; `member` tells apart the actors of a pool.
    pub fn new(actor: &'static str, member: Option<usize>) -> Self {
        let member = member.map_or_else(|| "0".to_owned(), |m| m.to_string());
        Self {
            messages: counter!(names::ACTOR_MESSAGES, "actor" => actor, "member" => member.clone()),
            queue_depth: gauge!(names::ACTOR_QUEUE_DEPTH, "actor" => actor, "member" => member),
            handling: histogram!(names::ACTOR_HANDLING_SECONDS, "actor" => actor),
            errors: counter!(names::ACTOR_ERRORS, "actor" => actor),
        }
    }
}

/// The HELP text and unit of every metric.
fn describe() {
    use names::*;
    describe_counter!(
        ACTOR_MESSAGES,
        "Messages an actor handled (for the reservation pool: purchases decided)"
    );
    describe_gauge!(
        ACTOR_QUEUE_DEPTH,
        "Messages an actor holds: in its mailbox, waiting for a batch, or in flight"
    );
    describe_histogram!(
        ACTOR_HANDLING_SECONDS,
        Unit::Seconds,
        "Time an actor took to handle one message or batch"
    );
    describe_counter!(
        ACTOR_ERRORS,
        "Messages or batches an actor failed to handle"
    );
    describe_counter!(
        ACTOR_RESTARTS,
        "Restarts of a supervised actor tree after a failure or panic"
    );
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route and status");
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to its response, by route"
    );
    describe_counter!(
        PURCHASES,
        "Purchase requests by outcome: reserved, duplicate (an idempotent replay), sold_out, \
         limit_reached, sale_not_active, not_found, overloaded, unavailable, invalid, \
         rate_limited"
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 rate_limited, by the limit they exceeded: client_address or user"
    );
    describe_counter!(
        RATE_LIMIT_RESETS,
        "Times a rate limit forgot every key of its kind because more keys than \
         FLASHSALE_RATE_LIMIT_MAX_KEYS were recent (a flood of new addresses or user ids)"
    );
    describe_histogram!(
        RESERVATION_BATCH_SIZE,
        "Purchases carried by one reservation script call"
    );
    describe_gauge!(STREAM_CLIENTS, "Clients connected to a stock stream");
    describe_gauge!(
        STREAM_POLLED_SALES,
        "Sales this process polls for its stock streams (one poll per sale, whatever the clients)"
    );
    describe_counter!(
        HOLDS_ENDED,
        "Holds this process ended, by state: paid, cancelled, expired (by its reaper, or by a \
         payment that came after the deadline)"
    );
    describe_gauge!(
        HOLDS_ACTIVE,
        "Units held and not yet paid in a sale's current round (offers included), by sale (label sale_id), as \
         this process's reaper last read them"
    );
    describe_gauge!(
        WAITLIST_LENGTH,
        "Buyers waiting on a sale's waitlist in its current round (label sale_id), as this process's \
         reaper last read them"
    );
    describe_counter!(
        WAITLIST_OFFERS,
        "Units this process offered to waitlisted buyers (released by a cancel or an expiry, or \
         added to the stock)"
    );
    describe_histogram!(
        REAPER_LAG_SECONDS,
        Unit::Seconds,
        "How long after its deadline the reaper released a hold (by the Redis clock)"
    );
    describe_counter!(
        LATE_PAYMENTS_REFUSED,
        "Payments refused with hold_expired: they came after the hold's deadline"
    );
    describe_gauge!(
        QUEUE_WAITING,
        "Tickets waiting in a sale's waiting room (label sale_id), as this process's admitter last saw it"
    );
    describe_gauge!(
        QUEUE_STREAM_CLIENTS,
        "Ticket-stream clients connected to this process"
    );
    describe_gauge!(
        QUEUE_STREAM_POLLED_SALES,
        "Waiting rooms this process polls for its ticket streams (one poll per sale, whatever the clients)"
    );
    describe_counter!(
        QUEUE_ADMITTED,
        "Buyers admitted from waiting rooms by this process's admitter (its rate: admitted per second)"
    );
    describe_counter!(
        TOKENS_REFUSED,
        "Purchases refused for their purchase token, by reason: missing, invalid, expired, used, wrong_user"
    );
    describe_histogram!(
        PRODUCER_BATCH_SIZE,
        "Events handed to the Kafka producer in one Publish message"
    );
    describe_histogram!(
        PRODUCER_PUBLISH_SECONDS,
        Unit::Seconds,
        "Time from handing an event to the producer to the broker's acknowledgement"
    );
    describe_counter!(
        PRODUCER_ERRORS,
        "Events the broker did not acknowledge or the producer queue refused (the outbox \
         keeps them)"
    );
    describe_gauge!(
        OUTBOX_LENGTH,
        "Events in the sales' outboxes not yet acknowledged by the broker, at the last relay scan"
    );
    describe_counter!(
        RELAY_REPUBLISHED,
        "Events published again: outbox entries the relay took over (pending unacknowledged \
         too long) and the broker then acknowledged"
    );
    describe_counter!(WORKER_CONSUMED, "Messages the worker read from the topic");
    describe_counter!(WORKER_PERSISTED, "Orders the worker inserted");
    describe_counter!(
        WORKER_DUPLICATES,
        "Events skipped because their purchase was already an order"
    );
    describe_counter!(
        WORKER_CONTRADICTING,
        "Events kept though their purchase already has another state at their version (a hold \
         ended twice): a fault in Redis the audit names (released_twice, released_and_paid)"
    );
    describe_counter!(
        WORKER_DEAD_LETTERED,
        "Messages sent to the dead-letter topic"
    );
    describe_histogram!(
        WORKER_BATCH_SECONDS,
        Unit::Seconds,
        "Time to persist a consumed batch and commit its offsets"
    );
    describe_gauge!(
        WORKER_CONSUMER_LAG,
        "Messages in a partition not yet consumed by the worker's group"
    );
    describe_counter!(
        WORKER_COMMIT_FAILURES,
        "Offset commits that failed (the batch is read again; its orders are deduplicated)"
    );
}

//! What producing one purchase event costs in CPU, measured against the real broker with the
//! API's producer settings (`KafkaSettings::producer_config`) and the event it publishes, two
//! ways:
//!
//! - `future_per_event`: what `KafkaProducerActor` does, one `send_result` and one delivery
//!   future per event, all awaited together;
//! - `callback`: the same producer settings on a `ThreadedProducer`, whose delivery reports come
//!   to one callback on librdkafka's polling thread, with no future per event.
//!
//! A measurement, not a check: `ops/bench` runs it (`--ignored`) and prints the figures. It
//! prints one JSON line per way: events, seconds, CPU microseconds per event of this process
//! (librdkafka's threads included) and, when `BENCH_BROKER_PID` names it, of the broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use flashsale::domain::events::{EventKind, PurchaseEvent, SCHEMA_VERSION};
use flashsale::runtime::settings::Settings;
use futures_util::future::join_all;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{
    BaseRecord, DeliveryFuture, FutureRecord, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;
use uuid::Uuid;

const EVENTS: usize = 100_000;

/// CPU seconds a process has used so far (user + system), from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields 14 and 15 (utime, stime), counted after the command name's closing parenthesis.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // /proc counts in clock ticks, USER_HZ, which is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn events() -> Vec<(String, Vec<u8>)> {
    (0..EVENTS)
        .map(|i| {
            let event = PurchaseEvent {
                schema_version: SCHEMA_VERSION,
                kind: EventKind::Reserved,
                version: 1,
                purchase_id: Uuid::new_v4(),
                sale_id: "bench-producer".into(),
                round: 1,
                user_id: format!("user-{i}"),
                quantity: 1,
                reserved_at: Utc::now(),
                occurred_at: Utc::now(),
            };
            ("bench-producer".to_owned(), event.encode())
        })
        .collect()
}

/// Measures `produce` and prints its line.
async fn measure<F, Fut>(way: &str, produce: F)
where
    F: FnOnce(Vec<(String, Vec<u8>)>) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let broker = std::env::var("BENCH_BROKER_PID").ok();
    let events = events();
    let (own, broker_before) = (
        cpu_seconds("self"),
        broker.as_deref().map(cpu_seconds).unwrap_or(0.0),
    );
    let started = Instant::now();
    let acknowledged = produce(events).await;
    let seconds = started.elapsed().as_secs_f64();
    let own = cpu_seconds("self") - own;
    let broker_cpu = broker.as_deref().map(cpu_seconds).unwrap_or(0.0) - broker_before;
    assert_eq!(acknowledged, EVENTS, "{way}: every event acknowledged");
    println!(
        "{{\"way\": \"{way}\", \"events\": {EVENTS}, \"seconds\": {seconds:.3}, \
         \"events_per_second\": {:.0}, \"producer_cpu_us_per_event\": {:.2}, \
         \"broker_cpu_us_per_event\": {:.2}}}",
        EVENTS as f64 / seconds,
        own * 1e6 / EVENTS as f64,
        broker_cpu * 1e6 / EVENTS as f64
    );
}

/// Counts acknowledged deliveries on librdkafka's polling thread.
struct Acks(Arc<AtomicU64>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[actix_web::test]
#[ignore = "a measurement for ops/bench, not a check"]
async fn the_cpu_one_purchase_event_costs_to_produce() {
    let settings = Settings::from_env().expect("valid FLASHSALE_* settings");
    let mut kafka = settings.kafka;
    kafka.topic = format!("fs-bench-{}", Uuid::new_v4().simple());
    kafka.ensure_topics().await.expect("the broker answers");
    let topic = kafka.topic.clone();

    let producer = kafka.producer().expect("a producer");
    measure("future_per_event", |events| async move {
        let deliveries: Vec<DeliveryFuture> = events
            .iter()
            .filter_map(|(key, payload)| {
                producer
                    .send_result(FutureRecord::to(&topic).key(key).payload(payload))
                    .ok()
            })
            .collect();
        join_all(deliveries)
            .await
            .into_iter()
            .filter(|d| matches!(d, Ok(Ok(_))))
            .count()
    })
    .await;

    let acks = Arc::new(AtomicU64::new(0));
    let threaded: ThreadedProducer<Acks> = kafka
        .producer_config()
        .create_with_context(Acks(Arc::clone(&acks)))
        .expect("a threaded producer");
    let topic = kafka.topic.clone();
    measure("callback", |events| async move {
        for (key, payload) in &events {
            let mut record = BaseRecord::to(&topic).key(key).payload(payload);
            // The queue is bounded: when full, wait for deliveries to make room.
            while let Err((_, back)) = threaded.send(record) {
                record = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while acks.load(Ordering::Relaxed) < EVENTS as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = threaded.flush(Duration::from_secs(10));
        acks.load(Ordering::Relaxed) as usize
    })
    .await;
}

//! `"durability": "broker"`: a purchase is answered 202 only once the broker has its event.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{free_port, raw_redis, spawn_app_with, TestApp, TOKEN};
use crate::support::{spawn_worker, start, wait_for, Pipeline, PrivateBroker, API_BIN};

/// The purchase id of a 202, or the status and body of any other answer.
async fn bought(response: reqwest::Response) -> Result<Uuid, (StatusCode, Value)> {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    match (status, body["purchase_id"].as_str()) {
        (StatusCode::ACCEPTED, Some(id)) => Ok(Uuid::parse_str(id).expect("a uuid")),
        _ => Err((status, body)),
    }
}

/// Buys with `key` until it is answered 202 (a retry returns the same purchase), for at most
/// `timeout`.
async fn buy_until_accepted(
    app: &TestApp,
    sale: &str,
    user: &str,
    key: &str,
    timeout: Duration,
) -> Uuid {
    wait_for(&format!("{user}'s purchase"), timeout, || async {
        bought(app.purchase(sale, user, 1, Some(key)).await)
            .await
            .ok()
    })
    .await
}

/// The purchase ids on `topic`, read from its start until `wanted` are all there (or 20 s).
async fn purchase_ids_on(brokers: &str, topic: &str, wanted: &HashSet<Uuid>) -> HashSet<Uuid> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    reader.subscribe(&[topic]).expect("subscribed");
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wanted.is_subset(&seen) && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), reader.recv()).await
        else {
            continue;
        };
        let event: Value =
            serde_json::from_slice(message.payload().unwrap_or_default()).expect("an event");
        seen.extend(
            event["purchase_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok()),
        );
    }
    seen
}

#[actix_web::test]
async fn a_broker_sales_202_means_its_event_is_in_kafka_so_losing_redis_loses_no_purchase() {
    let pipeline = Pipeline::new().await;
    pipeline
        .worker_settings()
        .kafka
        .ensure_topics()
        .await
        .expect("the topics are created");
    let port = free_port();
    let mut env = pipeline.process_env();
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}")));
    env.push(("FLASHSALE_ADMIN_TOKEN", TOKEN.into()));
    // Each event waits this long in the producer before it is sent: one not acknowledged
    // before its 202 would still be in the API's memory when the API is stopped below.
    env.push(("FLASHSALE_KAFKA_LINGER_MS", "300".into()));
    let api = start(API_BIN, &env);
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = crate::helpers::unique_sale_id();
    app.create_sale(
        &sale,
        json!({"name": "durable", "stock": 100, "durability": "broker"}),
    )
    .await;

    let mut accepted = HashSet::new();
    for i in 0..5 {
        let user = format!("buyer-{i}");
        let id = buy_until_accepted(&app, &sale, &user, &user, Duration::from_secs(20)).await;
        accepted.insert(id);
    }
    // From the last 202 on the API does nothing more: whatever Kafka holds, it held then.
    api.signal("STOP");
    let on_topic = purchase_ids_on(&pipeline.brokers, &pipeline.topic, &accepted).await;
    assert_eq!(
        accepted.difference(&on_topic).count(),
        0,
        "every purchase answered 202 was on the topic"
    );

    // Redis loses everything (a machine crash with nothing synced): the orders still come.
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut raw_redis(&pipeline.redis.url).await)
        .await
        .expect("flushed");
    drop(api);
    let worker = spawn_worker(pipeline.worker_settings()).await;
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn with_the_broker_down_a_broker_sale_is_503_in_time_a_fast_one_202_and_the_retry_after_is_the_same_purchase(
) {
    let mut broker = PrivateBroker::start();
    let pipeline = Pipeline::with_brokers(broker.brokers()).await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let mut settings = pipeline.api_settings();
    let timeout = Duration::from_millis(1500);
    settings.pool.timeout = timeout;
    let app = spawn_app_with(settings).await;
    let durable = crate::helpers::unique_sale_id();
    app.create_sale(
        &durable,
        json!({"name": "durable", "stock": 100, "durability": "broker"}),
    )
    .await;
    let fast = app.new_sale(100, 1).await;
    // Until the topics exist and the producer knows the broker, a purchase may be a 503.
    let first = buy_until_accepted(&app, &durable, "first", "first", Duration::from_secs(30)).await;

    broker.halt();
    let asked = Instant::now();
    let (durable_answer, fast_answer) = tokio::join!(
        async {
            let answer = bought(app.purchase(&durable, "late", 1, Some("late-key")).await).await;
            (answer, asked.elapsed())
        },
        async {
            let answer = bought(app.purchase(&fast, "quick", 1, None).await).await;
            (answer, asked.elapsed())
        }
    );
    let ((durable_answer, durable_took), (fast_answer, fast_took)) = (durable_answer, fast_answer);
    let (status, body) = durable_answer.expect_err("no 202 without the broker");
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    assert!(
        durable_took >= timeout && durable_took < timeout + Duration::from_secs(1),
        "answered after {durable_took:?}, the purchase timeout is {timeout:?}"
    );
    let quick = fast_answer.expect("the fast sale answers 202 without the broker");
    assert!(fast_took < timeout, "the fast sale took {fast_took:?}");
    // Reserved all the same: its stock is taken.
    assert_eq!(app.remaining(&durable).await, 98);

    broker.resume();
    let late =
        buy_until_accepted(&app, &durable, "late", "late-key", Duration::from_secs(30)).await;
    assert_eq!(
        app.remaining(&durable).await,
        98,
        "the retry made no new purchase"
    );
    pipeline
        .wait_for_orders(
            &durable,
            1,
            &HashSet::from([first, late]),
            Duration::from_secs(30),
        )
        .await;
    pipeline
        .wait_for_orders(&fast, 1, &HashSet::from([quick]), Duration::from_secs(30))
        .await;
    worker.stop().await.expect("the worker stops cleanly");
}

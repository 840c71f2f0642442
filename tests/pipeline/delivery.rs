use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use flashsale::domain::events::{EventKind, PurchaseEvent, SCHEMA_VERSION};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::spawn_app_with;
use crate::support::{buy, produce, producer, spawn_worker, wait_for, Pipeline};

fn event(sale_id: &str) -> PurchaseEvent {
    PurchaseEvent {
        schema_version: SCHEMA_VERSION,
        kind: EventKind::Reserved,
        version: 1,
        purchase_id: Uuid::new_v4(),
        sale_id: sale_id.into(),
        round: 1,
        user_id: "by-hand".into(),
        quantity: 1,
        reserved_at: Utc::now(),
        occurred_at: Utc::now(),
    }
}

#[actix_web::test]
async fn a_thousand_buyers_end_as_exactly_the_stock_in_orders_each_confirmed() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(100, 1).await;

    let accepted = buy(&app, &sale, "buyer", 1000, 1000).await;
    assert_eq!(accepted.len(), 100);

    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(20))
        .await;
    for id in &accepted {
        let purchase = app.get_json(&format!("/api/v1/purchases/{id}")).await;
        assert_eq!(purchase["status"], "confirmed", "{id}");
    }
    // Every published event was acknowledged and taken out of the outbox.
    wait_for("the outbox to drain", Duration::from_secs(10), || async {
        (app.outbox_len(&sale).await == 0).then_some(())
    })
    .await;
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn the_same_event_delivered_twice_makes_one_order() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let producer = producer(&pipeline.brokers);
    let event = event("dup-sale");

    produce(&producer, &pipeline.topic, "dup-sale", &event.encode()).await;
    produce(&producer, &pipeline.topic, "dup-sale", &event.encode()).await;
    let marker = self::event("dup-sale");
    produce(&producer, &pipeline.topic, "dup-sale", &marker.encode()).await;

    let expected: HashSet<Uuid> = [event.purchase_id, marker.purchase_id].into();
    pipeline
        .wait_for_orders("dup-sale", 1, &expected, Duration::from_secs(20))
        .await;
    assert_eq!(worker.stats.duplicates(), 1);
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_partition_keeps_flowing() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let producer = producer(&pipeline.brokers);
    let valid = event("poisoned-sale");
    let future_version = PurchaseEvent {
        schema_version: 99,
        ..event("poisoned-sale")
    };

    // Same key, so all three land on one partition, poison first.
    produce(&producer, &pipeline.topic, "poisoned-sale", b"{not json").await;
    produce(
        &producer,
        &pipeline.topic,
        "poisoned-sale",
        &future_version.encode(),
    )
    .await;
    produce(&producer, &pipeline.topic, "poisoned-sale", &valid.encode()).await;

    pipeline
        .wait_for_orders(
            "poisoned-sale",
            1,
            &[valid.purchase_id].into(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(worker.stats.dead_lettered(), 2);

    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.brokers)
        .set("group.id", format!("{}-dlq-reader", pipeline.group))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    reader
        .subscribe(&[&format!("{}.dlq", pipeline.topic)])
        .expect("subscribed");
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(20), reader.recv())
            .await
            .expect("dead letters arrive")
            .expect("a message");
        let headers = message.headers().expect("dead letters carry headers");
        let reason = headers
            .iter()
            .find(|h| h.key == "flashsale-dlq-reason")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .expect("a reason");
        reasons.push((message.payload().map(<[u8]>::to_vec), reason));
    }
    assert_eq!(reasons[0].0.as_deref(), Some(&b"{not json"[..]));
    assert!(
        reasons[0].1.starts_with("not a purchase event"),
        "{}",
        reasons[0].1
    );
    assert!(
        reasons[1].1.contains("schema_version 99"),
        "{}",
        reasons[1].1
    );
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn the_api_reports_a_broker_it_cannot_reach_and_keeps_selling() {
    let pipeline = Pipeline::with_brokers("127.0.0.1:1".into()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(10, 1).await;

    let ready = app.get_json("/readyz").await;
    assert_eq!(
        (ready["status"].as_str(), ready["broker"].as_str()),
        (Some("degraded"), Some("unreachable"))
    );
    assert_eq!(
        app.purchase(&sale, "still-buying", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.outbox_len(&sale).await, 1);
}

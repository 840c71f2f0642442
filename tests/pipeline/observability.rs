//! `GET /metrics` of a real API process and a real worker process: valid Prometheus text, every
//! family listed, and counters that match the purchases the test made.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{free_port, sample, scrape, total, MetricSample, TestApp, TOKEN};
use crate::support::{start, wait_for, Pipeline, API_BIN, WORKER_BIN};

/// The families each process shows from its first scrape on.
const API_FAMILIES: &[&str] = &[
    "flashsale_actor_messages_total",
    "flashsale_actor_queue_depth",
    "flashsale_actor_handling_seconds",
    "flashsale_actor_errors_total",
    "flashsale_http_requests_total",
    "flashsale_http_request_duration_seconds",
    "flashsale_purchases_total",
    "flashsale_reservation_batch_size",
    "flashsale_stream_clients",
    "flashsale_stream_polled_sales",
    "flashsale_producer_batch_size",
    "flashsale_producer_publish_seconds",
    "flashsale_producer_errors_total",
    "flashsale_outbox_length",
    "flashsale_relay_republished_total",
];
const WORKER_FAMILIES: &[&str] = &[
    "flashsale_actor_messages_total",
    "flashsale_actor_queue_depth",
    "flashsale_actor_handling_seconds",
    "flashsale_actor_errors_total",
    "flashsale_actor_restarts_total",
    "flashsale_worker_consumed_total",
    "flashsale_worker_persisted_total",
    "flashsale_worker_duplicates_total",
    "flashsale_worker_dead_lettered_total",
    "flashsale_worker_batch_seconds",
    "flashsale_worker_consumer_lag",
    "flashsale_worker_commit_failures_total",
];

fn assert_families(samples: &[MetricSample], families: &[&str], process: &str) {
    for family in families {
        assert!(
            samples.iter().any(|s| s.family == *family),
            "{process} /metrics lacks {family}"
        );
    }
}

/// A purchase's id from its 202 body.
async fn accepted_id(response: reqwest::Response) -> Uuid {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("a JSON body");
    Uuid::parse_str(body["purchase_id"].as_str().expect("an id")).expect("a UUID")
}

#[actix_web::test]
async fn both_processes_expose_every_family_with_counts_that_match_the_sale() {
    let pipeline = Pipeline::new().await;
    let worker_port = free_port();
    let api_port = free_port();
    let mut env = pipeline.process_env();
    env.retain(|(name, _)| *name != "FLASHSALE_WORKER_HTTP_ADDR");
    env.push((
        "FLASHSALE_WORKER_HTTP_ADDR",
        format!("127.0.0.1:{worker_port}"),
    ));
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{api_port}")));
    env.push(("FLASHSALE_ADMIN_TOKEN", TOKEN.into()));
    let _worker = start(WORKER_BIN, &env);
    let _api = start(API_BIN, &env);
    let app = TestApp::at(format!("http://127.0.0.1:{api_port}")).await;
    let api_metrics = app.url("/metrics");
    let worker_metrics = format!("http://127.0.0.1:{worker_port}/metrics");

    // Every outcome once or more, in an order that makes each count certain.
    let sale = app.new_sale(10, 1).await;
    let mut accepted = HashSet::new();
    accepted.insert(accepted_id(app.purchase(&sale, "first", 1, Some("k1")).await).await);
    let replayed = accepted_id(app.purchase(&sale, "first", 1, Some("k1")).await).await;
    assert!(
        accepted.contains(&replayed),
        "a replay answers the same purchase"
    );
    let over_limit = app.purchase(&sale, "first", 1, None).await;
    assert_eq!(over_limit.status(), StatusCode::CONFLICT);
    let invalid = app
        .client
        .post(app.url(&format!("/api/v1/sales/{sale}/purchases")))
        .json(&serde_json::json!({"user_id": ""}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    for i in 0..9 {
        accepted
            .insert(accepted_id(app.purchase(&sale, &format!("buyer-{i}"), 1, None).await).await);
    }
    for i in 0..3 {
        let late = app.purchase(&sale, &format!("late-{i}"), 1, None).await;
        assert_eq!(late.status(), StatusCode::CONFLICT);
    }
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;

    let api = scrape(&app.client, &api_metrics).await;
    assert_families(&api, API_FAMILIES, "the API's");
    let purchases = |outcome| sample(&api, "flashsale_purchases_total", &[("outcome", outcome)]);
    assert_eq!(purchases("reserved"), Some(10.0));
    assert_eq!(purchases("duplicate"), Some(1.0));
    assert_eq!(purchases("limit_reached"), Some(1.0));
    assert_eq!(purchases("invalid"), Some(1.0));
    assert_eq!(purchases("sold_out"), Some(3.0));
    for outcome in ["sale_not_active", "not_found", "overloaded", "unavailable"] {
        assert_eq!(purchases(outcome), Some(0.0), "{outcome}");
    }
    let route = ("route", "/api/v1/sales/{sale_id}/purchases");
    let statuses = |status| {
        sample(
            &api,
            "flashsale_http_requests_total",
            &[route, ("status", status)],
        )
    };
    assert_eq!(statuses("202"), Some(11.0));
    assert_eq!(statuses("409"), Some(4.0));
    assert_eq!(statuses("400"), Some(1.0));
    assert_eq!(
        sample(&api, "flashsale_http_request_duration_seconds", &[route]),
        Some(16.0)
    );
    // 12 reached Redis for certain; the sold-out answers may come from the local flag that the
    // last unit's reservation raised, without an actor.
    let decided = total(&api, "flashsale_actor_messages_total")
        - sample(
            &api,
            "flashsale_actor_messages_total",
            &[("actor", "kafka_producer")],
        )
        .unwrap_or(0.0);
    assert!(
        (12.0..=15.0).contains(&decided),
        "reservations decided: {decided}"
    );
    assert!(sample(&api, "flashsale_producer_publish_seconds", &[]).unwrap_or(0.0) >= 10.0);
    assert_eq!(
        sample(
            &api,
            "flashsale_actor_errors_total",
            &[("actor", "reservation")]
        ),
        Some(0.0)
    );

    let worker = wait_for(
        "the worker's lag to reach 0",
        Duration::from_secs(15),
        || async {
            let worker = scrape(&app.client, &worker_metrics).await;
            (worker
                .iter()
                .any(|s| s.family == "flashsale_worker_consumer_lag")
                && total(&worker, "flashsale_worker_consumer_lag") == 0.0)
                .then_some(worker)
        },
    )
    .await;
    assert_families(&worker, WORKER_FAMILIES, "the worker's");
    assert_eq!(
        sample(&worker, "flashsale_worker_persisted_total", &[]),
        Some(10.0)
    );
    assert!(sample(&worker, "flashsale_worker_consumed_total", &[]).unwrap_or(0.0) >= 10.0);
    assert_eq!(
        sample(&worker, "flashsale_worker_dead_lettered_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&worker, "flashsale_actor_restarts_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&worker, "flashsale_worker_commit_failures_total", &[]),
        Some(0.0)
    );

    wait_for(
        "the outbox gauge to reach 0",
        Duration::from_secs(10),
        || async {
            let api = scrape(&app.client, &api_metrics).await;
            (sample(&api, "flashsale_outbox_length", &[]) == Some(0.0)).then_some(())
        },
    )
    .await;
}

//! `GET /api/v1/sales/{sale_id}/stream`: Server-Sent Events of the sale as it sells; and the
//! places every kind of stream has, in all and per client address.
//!
//! The first test is the only one in this binary that opens stock streams, so the
//! process-wide stock-stream gauges it reads count its clients alone.

use std::time::Duration;

use chrono::Utc;
use flashsale::runtime::settings::Settings;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    error_code, sample, scrape, spawn_app_with, test_settings, unique_sale_id, EventStream, TestApp,
};

/// One client's stream of a sale.
struct Stream(EventStream);

impl Stream {
    async fn open(app: &TestApp, sale: &str) -> Self {
        Self(EventStream::new(
            app.get(&format!("/api/v1/sales/{sale}/stream")).await,
        ))
    }

    /// The data of the next `sale` event (heartbeats and the retry hint are skipped).
    async fn next_sale(&mut self) -> Value {
        loop {
            let event = self.0.next_event().await;
            if let Some(data) = event.strip_prefix("event: sale\ndata: ").map(str::trim_end) {
                return serde_json::from_str(data).expect("JSON event data");
            }
        }
    }
}

async fn stream_gauges(app: &TestApp) -> (f64, f64) {
    let metrics = scrape(&app.client, &app.url("/metrics")).await;
    (
        sample(&metrics, "flashsale_stream_clients", &[]).unwrap_or(-1.0),
        sample(&metrics, "flashsale_stream_polled_sales", &[]).unwrap_or(-1.0),
    )
}

#[actix_web::test]
async fn the_stream_shows_the_stock_going_down_with_one_poll_for_many_clients_and_ends_with_them() {
    let mut settings = test_settings();
    // Short heartbeats, so a client that left is noticed quickly.
    settings.stream_heartbeat = Duration::from_millis(200);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(5, 1).await;

    let mut watchers = Vec::new();
    for _ in 0..3 {
        let mut stream = Stream::open(&app, &sale).await;
        let first = stream.next_sale().await;
        assert_eq!(
            (first["remaining"].as_u64(), first["status"].as_str()),
            (Some(5), Some("active"))
        );
        watchers.push(stream);
    }
    // Three clients of one sale: one poll.
    assert_eq!(stream_gauges(&app).await, (3.0, 1.0));

    // Each purchase shows as a lower `remaining` (changes that come within one poll may be
    // merged into one event), down to sold out.
    for i in 0..5 {
        let response = app.purchase(&sale, &format!("buyer-{i}"), 1, None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    for stream in &mut watchers {
        let mut last = 5;
        while last > 0 {
            let event = stream.next_sale().await;
            let remaining = event["remaining"].as_u64().expect("remaining");
            assert!(
                remaining < last,
                "remaining went from {last} to {remaining}"
            );
            last = remaining;
            if remaining == 0 {
                assert_eq!(event["status"], "sold_out");
            }
        }
    }

    drop(watchers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stream_gauges(&app).await != (0.0, 0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "clients and polls still open after the clients left: {:?}",
            stream_gauges(&app).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let unknown = app.get("/api/v1/sales/no-such-sale/stream").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "sale_not_found");
    let invalid = app.get("/api/v1/sales/Not_Valid/stream").await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

    // A process at its limit of clients refuses more (here, one whose limit is none).
    let mut settings = test_settings();
    settings.stream_max_clients = 0;
    let full = spawn_app_with(settings).await;
    let refused = full.get(&format!("/api/v1/sales/{sale}/stream")).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(refused).await, "overloaded");

    // One client address gets its share of the limit; another still gets a stream.
    let shared = spawn_app_with(trusting_loopback(1)).await;
    let sale = shared.new_sale(5, 1).await;
    let path = format!("/api/v1/sales/{sale}/stream");
    let _held = EventStream::new(get_from(&shared, &path, "198.51.100.1").await);
    assert_overloaded(get_from(&shared, &path, "198.51.100.1").await).await;
    let _other = EventStream::new(get_from(&shared, &path, "198.51.100.2").await);
}

/// Test settings whose API trusts the test's loopback as a proxy (so `X-Forwarded-For` names
/// the client) and serves `per_address` streams of a kind to each client address.
fn trusting_loopback(per_address: usize) -> Settings {
    let mut settings = test_settings();
    settings.rate_limits.trusted_proxies = vec!["127.0.0.0/8".parse().expect("a network")];
    settings.stream_max_clients_per_address = per_address;
    settings
}

/// A GET of `path` as if through a proxy that saw it come from `client`.
async fn get_from(app: &TestApp, path: &str, client: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("X-Forwarded-For", client)
        .send()
        .await
        .expect("request sent")
}

async fn assert_overloaded(response: Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(response).await, "overloaded");
}

/// A waiting room whose draw is a minute away, and one ticket waiting in it.
async fn waiting_ticket(app: &TestApp) -> String {
    let sale = unique_sale_id();
    let starts_at = (Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
    app.create_sale(
        &sale,
        json!({"name": "waiting room", "stock": 10, "per_user_limit": 1, "starts_at": starts_at,
               "admission": {"mode": "random", "rate_per_second": 1}}),
    )
    .await;
    let ticket: Value = app
        .client
        .post(app.url(&format!("/api/v1/sales/{sale}/queue")))
        .json(&json!({"user_id": "waiter"}))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("a ticket");
    let ticket_id = ticket["ticket_id"].as_str().expect("a ticket id");
    format!("/api/v1/sales/{sale}/queue/{ticket_id}/stream")
}

#[actix_web::test]
async fn one_address_past_its_share_of_ticket_streams_is_refused_and_another_is_not() {
    let mut settings = trusting_loopback(2);
    // Short heartbeats, so a client that left is noticed quickly.
    settings.stream_heartbeat = Duration::from_millis(200);
    let app = spawn_app_with(settings).await;
    let path = waiting_ticket(&app).await;

    let first = EventStream::new(get_from(&app, &path, "198.51.100.1").await);
    let _second = EventStream::new(get_from(&app, &path, "198.51.100.1").await);
    assert_overloaded(get_from(&app, &path, "198.51.100.1").await).await;
    // The same client behind two proxies is the same address.
    assert_overloaded(get_from(&app, &path, "198.51.100.1, 127.0.0.9").await).await;
    let _other = EventStream::new(get_from(&app, &path, "198.51.100.2").await);

    // A client that leaves gives its address the place back.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = get_from(&app, &path, "198.51.100.1").await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_overloaded(response).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_ticket_stream_refused_for_want_of_a_place_never_asks_redis() {
    // Nothing listens at this Redis: any call to it would answer `unavailable`.
    let ticket = format!("/api/v1/sales/phones/queue/{}/stream", uuid::Uuid::new_v4());
    for (total, per_address) in [(0, 100), (100, 0)] {
        let mut settings = test_settings();
        settings.redis_url = "redis://127.0.0.1:1".into();
        settings.redis_timeout = Duration::from_millis(300);
        settings.stream_max_clients = total;
        settings.stream_max_clients_per_address = per_address;
        let app = spawn_app_with(settings).await;
        assert_overloaded(app.get(&ticket).await).await;
    }
}

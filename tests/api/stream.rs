//! `GET /api/v1/sales/{sale_id}/stream`: Server-Sent Events of the sale as it sells.
//!
//! The only test in this binary that opens streams, so the process-wide stream gauges it reads
//! count its clients alone.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    error_code, sample, scrape, spawn_app_with, test_settings, EventStream, TestApp,
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
}

//! The seed's routes: `POST /purchase`, `/purchase-lock`, `/purchase-redis`,
//! `/purchase-async`, `POST /reset`, `GET /stream`, and CORS for its control room.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app_with, test_settings, EventStream, TestApp, TOKEN};

/// The seed's routes and the strategy each sells with.
const ROUTES: [(&str, &str); 4] = [
    ("/purchase", "naive"),
    ("/purchase-lock", "locking"),
    ("/purchase-redis", "redis"),
    ("/purchase-async", "async"),
];

/// An app that creates its own seed sales of `stock` units at start; returns it once all four
/// exist, with their prefix.
async fn app_with_seed_sales(stock: u64, cors_origins: &[&str]) -> (TestApp, String) {
    let mut settings = test_settings();
    settings.seed.create = true;
    settings.seed.stock = stock;
    settings.cors_origins = cors_origins.iter().map(|o| (*o).to_owned()).collect();
    let prefix = settings.seed.prefix.clone();
    let app = spawn_app_with(settings).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    for (_, strategy) in ROUTES {
        let path = format!("/api/v1/sales/{prefix}-{strategy}");
        while app.get(&path).await.status() != StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "the seed sale {path} was not created"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (app, prefix)
}

async fn post(app: &TestApp, path: &str, body: Option<Value>) -> reqwest::Response {
    let request = app.client.post(app.url(path));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.expect("request sent")
}

#[actix_web::test]
async fn each_seed_route_sells_its_own_sale_with_its_strategy_and_an_optional_body() {
    let (app, prefix) = app_with_seed_sales(4, &[]).await;
    for (route, strategy) in ROUTES {
        let sale_id = format!("{prefix}-{strategy}");
        let sale = app.sale(&sale_id).await;
        assert_eq!(
            (
                sale["strategy"].as_str(),
                sale["stock"].as_u64(),
                sale["per_user_limit"].as_u64()
            ),
            (Some(strategy), Some(4), Some(1))
        );

        // No body, as the seed's control room sends; then `{}`, as its load script sends. Each
        // is a new anonymous buyer.
        let mut buyers = Vec::new();
        for body in [None, Some(json!({}))] {
            let response = post(&app, route, body).await;
            assert_eq!(response.status(), StatusCode::OK, "{route}");
            assert!(response.headers().contains_key("location"));
            let purchase: Value = response.json().await.expect("a body");
            assert_eq!(purchase["message"], "purchase reserved");
            assert_eq!(
                (purchase["sale_id"].as_str(), purchase["quantity"].as_u64()),
                (Some(sale_id.as_str()), Some(1))
            );
            buyers.push(purchase["user_id"].as_str().expect("a user id").to_owned());
        }
        assert_ne!(
            buyers[0], buyers[1],
            "{route}: anonymous buyers must differ"
        );

        // A named buyer is that buyer: the second purchase meets the per-user limit.
        let named = post(&app, route, Some(json!({"user_id": "alice"}))).await;
        assert_eq!(named.status(), StatusCode::OK);
        let named: Value = named.json().await.expect("a body");
        assert_eq!(
            (named["user_id"].as_str(), named["remaining"].as_u64()),
            (Some("alice"), Some(1))
        );
        let again = post(&app, route, Some(json!({"user_id": "alice"}))).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(again).await, "limit_reached");
        assert_eq!(post(&app, route, None).await.status(), StatusCode::OK);

        // Flashsale's answers: sold out is a 409 in the one error shape; a body the seed never
        // sends is a 400.
        let sold_out = post(&app, route, None).await;
        assert_eq!(sold_out.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(sold_out).await, "sold_out");
        let unknown = post(&app, route, Some(json!({"product_id": 1}))).await;
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_code(unknown).await, "invalid_request");
        assert_eq!(app.remaining(&sale_id).await, 0, "{route}");
    }
}

#[actix_web::test]
async fn post_reset_needs_the_admin_token_and_starts_the_next_round_of_all_four_seed_sales() {
    let (app, prefix) = app_with_seed_sales(2, &[]).await;
    for (route, _) in ROUTES {
        assert_eq!(post(&app, route, None).await.status(), StatusCode::OK);
    }
    let refused = post(&app, "/reset", None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(refused).await, "unauthorized");

    let reset = app
        .client
        .post(app.url("/reset"))
        .bearer_auth(TOKEN)
        .json(&json!({"stock": 5}))
        .send()
        .await
        .expect("sent");
    assert_eq!(reset.status(), StatusCode::OK);
    let reset: Value = reset.json().await.expect("a body");
    assert_eq!(reset["message"], "4 seed sales reset");
    for (_, strategy) in ROUTES {
        let sale = app.sale(&format!("{prefix}-{strategy}")).await;
        assert_eq!(
            (
                sale["round"].as_u64(),
                sale["stock"].as_u64(),
                sale["remaining"].as_u64()
            ),
            (Some(2), Some(5), Some(5)),
            "{strategy}"
        );
    }

    // With the seed sales turned off and none created, there is nothing to reset.
    let mut settings = test_settings();
    settings.seed.create = false;
    let bare = spawn_app_with(settings).await;
    let none = bare
        .client
        .post(bare.url("/reset"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(none).await, "sale_not_found");
    assert_eq!(
        error_code(post(&bare, "/purchase-async", None).await).await,
        "sale_not_found"
    );
}

/// Reads the seed's events: `data: {"stock": n}` lines, nothing else but the retry hint.
struct SeedStream(EventStream);

impl SeedStream {
    async fn next_stock(&mut self) -> u64 {
        loop {
            let event = self.0.next_event().await;
            if event.starts_with("retry: ") {
                continue;
            }
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a seed event: {event:?}"));
            let data: Value = serde_json::from_str(data.trim_end()).expect("JSON data");
            assert_eq!(data.as_object().map(|o| o.len()), Some(1), "{data}");
            return data["stock"].as_u64().expect("a number of units");
        }
    }
}

#[actix_web::test]
async fn the_seed_stream_sends_the_async_sales_stock_every_half_second_and_on_change() {
    let (app, _) = app_with_seed_sales(4, &[]).await;
    let mut stream = SeedStream(EventStream::new(app.get("/stream").await));
    assert_eq!(stream.next_stock().await, 4);

    // Nothing changes: the stock is repeated every 500 ms (some slack for a loaded machine).
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(stream.next_stock().await, 4);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_millis(2500),
        "three quiet events took {elapsed:?}"
    );

    // A purchase shows before the next half second is over, down to 0.
    for expected in (0..4).rev() {
        assert_eq!(
            post(&app, "/purchase-async", None).await.status(),
            StatusCode::OK
        );
        let started = Instant::now();
        let mut stock = stream.next_stock().await;
        while stock != expected {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the stock stayed at {stock}"
            );
            stock = stream.next_stock().await;
        }
    }
}

#[actix_web::test]
async fn pages_of_the_configured_origins_may_call_the_api_and_others_get_no_cors_headers() {
    let seed_dev_server = "http://localhost:5173";
    // The same page opened by address instead of by name: another origin to the browser.
    let seed_by_address = "http://127.0.0.1:5173";
    let (app, _) = app_with_seed_sales(10, &[seed_dev_server, seed_by_address]).await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/purchase-async"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight(seed_dev_server).await.expect("sent");
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        seed_dev_server
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ASCII");
    assert!(methods.contains("POST"), "{methods}");
    let by_address = preflight(seed_by_address).await.expect("sent");
    assert_eq!(
        by_address.headers()["access-control-allow-origin"],
        seed_by_address
    );

    let purchase = app
        .client
        .post(app.url("/purchase-async"))
        .header("Origin", seed_dev_server)
        .send()
        .await
        .expect("sent");
    assert_eq!(purchase.status(), StatusCode::OK);
    assert_eq!(
        purchase.headers()["access-control-allow-origin"],
        seed_dev_server
    );

    // Another origin gets its answer without CORS headers, which a browser keeps from its page.
    let other = app
        .client
        .post(app.url("/purchase-async"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), StatusCode::OK);
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    // No origins configured (the default): no CORS at all.
    let (plain, _) = app_with_seed_sales(1, &[]).await;
    let response = plain
        .client
        .post(plain.url("/purchase-async"))
        .header("Origin", seed_dev_server)
        .send()
        .await
        .expect("sent");
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
}

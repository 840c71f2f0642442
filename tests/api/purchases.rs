use std::collections::HashSet;

use chrono::{Duration as ChronoDuration, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app, unique_sale_id};

#[actix_web::test]
async fn a_thousand_concurrent_buyers_get_exactly_the_stock_and_the_outbox_holds_each_sale_once() {
    let app = spawn_app().await;
    let sale = app.new_sale(100, 1).await;

    let responses = join_all((0..1000).map(|i| {
        let (app, sale) = (&app, &sale);
        async move {
            let response = app.purchase(sale, &format!("buyer-{i}"), 1, None).await;
            let status = response.status();
            let body: Value = response.json().await.expect("a JSON body");
            (status, body)
        }
    }))
    .await;

    let accepted: Vec<&Value> = responses
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b)
        .collect();
    let sold_out = responses
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "sold_out")
        .count();
    assert_eq!(accepted.len(), 100, "accepted");
    assert_eq!(sold_out, 900, "sold_out");
    let ids: HashSet<&str> = accepted
        .iter()
        .filter_map(|b| b["purchase_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 100, "every accepted purchase has its own id");
    let sale_now = app.sale(&sale).await;
    assert_eq!(
        (sale_now["remaining"].as_u64(), sale_now["sold"].as_u64()),
        (Some(0), Some(100))
    );
    assert_eq!(sale_now["status"], "sold_out");
    assert_eq!(app.outbox_len(&sale).await, 100);
}

#[actix_web::test]
async fn one_user_firing_twenty_concurrent_purchases_with_limit_two_gets_exactly_two() {
    let app = spawn_app().await;
    let sale = app.new_sale(100, 2).await;

    let statuses = join_all((0..20).map(|_| app.purchase(&sale, "greedy", 1, None))).await;
    let mut accepted = 0;
    for response in statuses {
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::CONFLICT => assert_eq!(error_code(response).await, "limit_reached"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 2);
    assert_eq!(app.remaining(&sale).await, 98);
    assert_eq!(app.outbox_len(&sale).await, 2);
}

#[actix_web::test]
async fn a_quantity_larger_than_the_remaining_stock_is_refused_without_taking_anything() {
    let app = spawn_app().await;
    let sale = app.new_sale(5, 10).await;

    let response = app.purchase(&sale, "big-buyer", 6, None).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "sold_out");
    assert_eq!(app.remaining(&sale).await, 5);

    // What is left can still be bought, and then nothing more.
    assert_eq!(
        app.purchase(&sale, "big-buyer", 5, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.remaining(&sale).await, 0);
    assert_eq!(app.outbox_len(&sale).await, 1);
}

#[actix_web::test]
async fn purchases_before_the_start_or_after_the_end_are_refused_as_not_active() {
    let app = spawn_app().await;
    let now = Utc::now();
    let hour = ChronoDuration::hours(1);
    for (starts_at, ends_at, status) in [
        (Some(now + hour), None, "scheduled"),
        (Some(now - hour - hour), Some(now - hour), "ended"),
    ] {
        let sale = unique_sale_id();
        app.create_sale(
            &sale,
            json!({"name": "window", "stock": 10, "starts_at": starts_at, "ends_at": ends_at}),
        )
        .await;
        assert_eq!(app.sale(&sale).await["status"], status);

        let response = app.purchase(&sale, "early-bird", 1, None).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(response).await, "sale_not_active");
        assert_eq!(app.remaining(&sale).await, 10);
    }

    let open = unique_sale_id();
    app.create_sale(
        &open,
        json!({"name": "open", "stock": 10, "starts_at": now - hour, "ends_at": now + hour}),
    )
    .await;
    assert_eq!(
        app.purchase(&open, "on-time", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
}

#[actix_web::test]
async fn a_purchase_of_an_unknown_sale_is_404() {
    let app = spawn_app().await;
    let response = app.purchase(&unique_sale_id(), "someone", 1, None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "sale_not_found");
}

#[actix_web::test]
async fn an_accepted_purchase_answers_202_with_its_location_and_can_be_read_back() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 3).await;

    let response = app.purchase(&sale, "reader", 2, None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("a body");
    assert_eq!(body["sale_id"], sale.as_str());
    assert_eq!(
        (body["round"].as_u64(), body["quantity"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        (body["status"].as_str(), body["remaining"].as_u64()),
        (Some("reserved"), Some(8))
    );
    let purchase_id = body["purchase_id"].as_str().expect("an id");
    assert_eq!(location, format!("/api/v1/purchases/{purchase_id}"));

    let read = app.get(&location).await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.expect("a body");
    assert_eq!(read, body);

    let unknown = app
        .get(&format!("/api/v1/purchases/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "purchase_not_found");
}

/// Purchase ids are UUIDv7: a later purchase's id sorts after an earlier one's, so the orders'
/// index in PostgreSQL grows at its right edge.
#[actix_web::test]
async fn purchase_ids_are_time_ordered_uuids() {
    let app = spawn_app().await;
    let sale = app.new_sale(20, 1).await;
    let mut ids = Vec::new();
    for buyer in 0..10 {
        let response = app
            .purchase(&sale, &format!("ordered-{buyer}"), 1, None)
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("a body");
        let id = body["purchase_id"].as_str().expect("an id");
        ids.push(uuid::Uuid::parse_str(id).expect("a uuid"));
    }
    assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

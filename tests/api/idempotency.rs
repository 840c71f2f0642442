use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_code, spawn_app};

#[actix_web::test]
async fn concurrent_retries_with_one_key_return_one_purchase_and_take_one_unit() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 5).await;

    let bodies = join_all((0..25).map(|_| async {
        let response = app.purchase(&sale, "retrier", 1, Some("order-42")).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json::<Value>().await.expect("a body")
    }))
    .await;

    let ids: HashSet<&str> = bodies
        .iter()
        .filter_map(|b| b["purchase_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one purchase for one key");
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every retry gets the same body"
    );
    assert_eq!(app.remaining(&sale).await, 9);
    assert_eq!(app.outbox_len(&sale).await, 1);

    // The key belongs to this user: another user with the same key buys on their own.
    let other = app
        .purchase(&sale, "someone-else", 1, Some("order-42"))
        .await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    assert_eq!(app.remaining(&sale).await, 8);
}

#[actix_web::test]
async fn reusing_a_key_with_a_different_quantity_is_422_and_takes_nothing() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 5).await;

    assert_eq!(
        app.purchase(&sale, "changer", 1, Some("k1")).await.status(),
        StatusCode::ACCEPTED
    );
    let reused = app.purchase(&sale, "changer", 2, Some("k1")).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(reused).await, "idempotency_key_reused");
    assert_eq!(app.remaining(&sale).await, 9);
}

#[actix_web::test]
async fn a_retry_after_the_sale_sold_out_still_gets_the_original_purchase() {
    let app = spawn_app().await;
    let sale = app.new_sale(1, 1).await;

    let first = app.purchase(&sale, "lucky", 1, Some("attempt")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("a body");
    // The sale is now sold out and this process knows it.
    let late = app.purchase(&sale, "late", 1, None).await;
    assert_eq!(error_code(late).await, "sold_out");

    let retry = app.purchase(&sale, "lucky", 1, Some("attempt")).await;
    assert_eq!(retry.status(), StatusCode::ACCEPTED);
    assert_eq!(retry.json::<Value>().await.expect("a body"), first);
}

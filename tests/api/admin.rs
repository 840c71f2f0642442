use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app, spawn_app_with, test_settings, unique_sale_id, TOKEN};

#[actix_web::test]
async fn admin_calls_without_or_with_a_wrong_token_are_401_and_change_nothing() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 1).await;
    assert_eq!(
        app.purchase(&sale, "buyer", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    let bad_auth: [Option<&str>; 4] = [
        None,
        Some("Bearer wrong"),
        Some(TOKEN),
        Some("Basic dGVzdA=="),
    ];
    for auth in bad_auth {
        let requests = [
            app.client
                .put(app.url(&format!("/api/v1/admin/sales/{sale}")))
                .json(&json!({"name": "hijacked", "stock": 999})),
            app.client
                .post(app.url(&format!("/api/v1/admin/sales/{sale}/reset"))),
            app.client.post(app.url("/reset")),
        ];
        for request in requests {
            let request = match auth {
                Some(value) => request.header("authorization", value),
                None => request,
            };
            let response = request.send().await.expect("sent");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "authorization {auth:?}"
            );
            assert_eq!(error_code(response).await, "unauthorized");
        }
    }

    let unchanged = app.sale(&sale).await;
    assert_eq!(unchanged["name"], "test sale");
    assert_eq!(
        (unchanged["round"].as_u64(), unchanged["remaining"].as_u64()),
        (Some(1), Some(9))
    );
}

#[actix_web::test]
async fn putting_a_sale_creates_it_then_replaces_it_in_a_new_round() {
    let app = spawn_app().await;
    let sale = unique_sale_id();

    let created = app
        .put_sale(&sale, json!({"name": "phones", "stock": 100}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("a body");
    assert_eq!(
        created,
        json!({"sale_id": sale, "name": "phones", "round": 1, "stock": 100, "remaining": 100, "sold": 0,
               "per_user_limit": 1, "starts_at": null, "ends_at": null, "status": "active",
               "strategy": "async", "durability": "fast", "hold_seconds": 0, "held": 0, "paid": 0,
               "waiting": 0, "offered": 0,
               "admission": {"mode": "open", "rate_per_second": 0, "token_seconds": 0}})
    );
    assert_eq!(
        app.purchase(&sale, "first", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    let replaced = app
        .put_sale(&sale, json!({"name": "tablets", "stock": 5, "per_user_limit": 2, "ends_at": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced: Value = replaced.json().await.expect("a body");
    assert_eq!(
        (replaced["round"].as_u64(), replaced["remaining"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(
        (
            replaced["name"].as_str(),
            replaced["per_user_limit"].as_u64()
        ),
        (Some("tablets"), Some(2))
    );
    assert_eq!(replaced["ends_at"], "2099-01-01T00:00:00Z");
}

#[actix_web::test]
async fn a_reset_puts_the_stock_back_clears_limits_and_starts_a_new_round() {
    let app = spawn_app().await;
    let sale = app.new_sale(2, 1).await;
    assert_eq!(
        app.purchase(&sale, "alice", 1, Some("a1")).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.purchase(&sale, "bob", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        error_code(app.purchase(&sale, "carol", 1, None).await).await,
        "sold_out"
    );

    let reset = app.reset_sale(&sale).await;
    assert_eq!(
        (reset["round"].as_u64(), reset["remaining"].as_u64()),
        (Some(2), Some(2))
    );

    // Limits and idempotency records belong to the old round; the outbox keeps its purchases.
    let again = app.purchase(&sale, "alice", 1, Some("a1")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.json::<Value>().await.expect("a body")["round"], 2);
    assert_eq!(app.outbox_len(&sale).await, 3);

    let restocked = app
        .client
        .post(app.url(&format!("/api/v1/admin/sales/{sale}/reset")))
        .bearer_auth(TOKEN)
        .json(&json!({"stock": 7}))
        .send()
        .await
        .expect("sent");
    let restocked: Value = restocked.json().await.expect("a body");
    assert_eq!(
        (
            restocked["round"].as_u64(),
            restocked["stock"].as_u64(),
            restocked["remaining"].as_u64()
        ),
        (Some(3), Some(7), Some(7))
    );

    let unknown = app
        .client
        .post(app.url(&format!("/api/v1/admin/sales/{}/reset", unique_sale_id())))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "sale_not_found");
}

#[actix_web::test]
async fn a_reset_through_one_process_clears_the_sold_out_flag_of_another() {
    // Flags that never expire on their own: only the round announcement can clear them.
    let mut settings = test_settings();
    settings.sold_out_ttl = Duration::from_secs(3600);
    let seller = spawn_app_with(settings.clone()).await;
    let admin = spawn_app_with(settings).await;
    let sale = seller.new_sale(1, 1).await;
    assert_eq!(
        seller.purchase(&sale, "first", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        error_code(seller.purchase(&sale, "second", 1, None).await).await,
        "sold_out"
    );

    admin.reset_sale(&sale).await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = seller.purchase(&sale, "second", 1, None).await;
        if response.status() == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(error_code(response).await, "sold_out");
        assert!(
            Instant::now() < deadline,
            "the seller process never learned of the reset"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_sale_redis_does_not_hold_is_refused_503_while_postgres_cannot_tell_its_last_round() {
    // Without PostgreSQL's last round the new round could start at 1 over rounds already sold.
    let mut settings = test_settings();
    settings.database.url = "postgres://flashsale@127.0.0.1:1/flashsale".into();
    settings.database.timeout = Duration::from_secs(1);
    let app = spawn_app_with(settings).await;
    let sale = unique_sale_id();
    let response = app
        .put_sale(
            &sale,
            json!({"name": "Phones", "stock": 5, "per_user_limit": 1}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(response).await, "unavailable");
    assert_eq!(
        app.get(&format!("/api/v1/sales/{sale}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

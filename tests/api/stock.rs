//! Stock changes within a live round against the real Redis: atomic with purchases, added
//! units to the waitlist first, never a removal below what is held or paid.

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, pay, unique_sale_id, TestApp, TOKEN};
use crate::waitlist::{figures, hold, hold_sale, joined, spawn_patient_app};

async fn change_stock(app: &TestApp, sale_id: &str, body: &Value) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/admin/sales/{sale_id}/stock")))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

#[actix_web::test]
async fn added_units_go_to_the_waitlist_first_then_on_sale() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 2, 60).await;
    hold(&app, &sale_id, "h1").await;
    hold(&app, &sale_id, "h2").await;
    let waiting = [
        joined(&app, &sale_id, "w1").await,
        joined(&app, &sale_id, "w2").await,
        joined(&app, &sale_id, "w3").await,
    ];
    let response = change_stock(&app, &sale_id, &json!({"add": 5})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sale: Value = response.json().await.expect("a sale");
    assert_eq!(
        (
            sale["stock"].as_u64(),
            sale["remaining"].as_u64(),
            sale["offered"].as_u64()
        ),
        (Some(7), Some(2), Some(3))
    );
    // stock == remaining + held + paid: the 2 holds and the 3 offers are held.
    assert_eq!(figures(&app, &sale_id).await, [7, 2, 5, 0, 0, 3]);
    for entry in &waiting {
        let now = app
            .waitlist_entry(&sale_id, entry["entry_id"].as_str().expect("an id"))
            .await;
        assert_eq!(now["state"], "offered", "{now}");
    }
    // The 2 units nobody waited for are on sale, at once in this process.
    assert_eq!(
        app.purchase(&sale_id, "late", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
}

#[actix_web::test]
async fn a_removal_below_what_is_held_or_paid_is_refused_with_the_figures_and_changes_nothing() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 10, 60).await;
    for user in ["a", "b", "c"] {
        hold(&app, &sale_id, user).await;
    }
    let (paid, _) = hold(&app, &sale_id, "d").await;
    assert_eq!(pay(&app, &paid, "p").await.status(), StatusCode::OK);
    let before = figures(&app, &sale_id).await;
    assert_eq!(before, [10, 6, 3, 1, 0, 0]);

    let refused = change_stock(&app, &sale_id, &json!({"remove": 7})).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.expect("an error");
    assert_eq!(body["error"], "stock_below_taken");
    assert_eq!(
        body["message"],
        "at most 6 units can be removed: stock 10, remaining 6, held 3, paid 1"
    );
    assert_eq!(figures(&app, &sale_id).await, before, "nothing changed");

    let removed = change_stock(&app, &sale_id, &json!({"remove": 6})).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(figures(&app, &sale_id).await, [4, 0, 3, 1, 0, 0]);
    let sold_out = app.purchase(&sale_id, "e", 1, None).await;
    assert_eq!(error_code(sold_out).await, "sold_out");
}

#[actix_web::test]
async fn stock_changes_racing_purchases_never_lose_or_invent_a_unit() {
    const BUYERS: usize = 300;
    let app = spawn_patient_app().await;
    let sale_id = app.new_sale(100, 1).await;
    let purchases = join_all((0..BUYERS).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move {
            app.purchase(sale_id, &format!("b{i}"), 1, None)
                .await
                .status()
        }
    }));
    let changes = join_all((0..40).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move {
            let body = if i % 2 == 0 {
                json!({"add": 3})
            } else {
                json!({"remove": 5})
            };
            (i % 2 == 0, change_stock(app, sale_id, &body).await.status())
        }
    }));
    let (purchases, changes) = tokio::join!(purchases, changes);
    let accepted = purchases
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count() as u64;
    assert!(purchases
        .iter()
        .all(|s| *s == StatusCode::ACCEPTED || *s == StatusCode::CONFLICT));
    let mut stock = 100;
    for (added, status) in changes {
        match (added, status) {
            (true, StatusCode::OK) => stock += 3,
            (false, StatusCode::OK) => stock -= 5,
            (false, StatusCode::CONFLICT) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let [now_stock, remaining, ..] = figures(&app, &sale_id).await;
    assert_eq!(now_stock, stock);
    assert_eq!(
        accepted + remaining,
        stock,
        "every unit sold or on sale, once"
    );
    assert_eq!(app.outbox_len(&sale_id).await, accepted);
}

#[actix_web::test]
async fn bad_stock_changes_are_refused_in_the_admins_terms_and_change_nothing() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 5, 60).await;
    let naive = unique_sale_id();
    app.create_sale(
        &naive,
        json!({"name": "n", "stock": 5, "strategy": "naive"}),
    )
    .await;
    let cases: [(&str, Value, StatusCode, &str); 8] = [
        (
            &sale_id,
            json!({}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"add": 1, "remove": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"add": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"remove": -1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"add": "3"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"add": 9_999_996}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no-such-sale",
            json!({"add": 1}),
            StatusCode::NOT_FOUND,
            "sale_not_found",
        ),
        (
            &naive,
            json!({"add": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_strategy",
        ),
    ];
    for (sale, body, status, code) in cases {
        let response = change_stock(&app, sale, &body).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_code(response).await, code, "{body}");
    }
    let no_token = app
        .client
        .post(app.url(&format!("/api/v1/admin/sales/{sale_id}/stock")))
        .json(&json!({"add": 1}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(figures(&app, &sale_id).await, [5, 5, 0, 0, 0, 0]);
}

//! Checkout holds through the pipeline: every transition of a hold (held, then paid, cancelled
//! or expired) is an event from the sale's outbox to Postgres, which keeps each purchase's
//! current state and its history, and never moves a state back, whatever order the events
//! arrive in and however often. Offers to waitlisted buyers travel the same way.

use std::time::Duration;

use chrono::Utc;
use flashsale::domain::events::{EventKind, PurchaseEvent, SCHEMA_VERSION};
use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::worker::audit::Audit;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{cancel, pay, spawn_app_with, unique_sale_id, TestApp};
use crate::support::{produce, producer, spawn_worker, wait_for, Pipeline};

/// A sale of `stock` units whose purchases are holds of `hold_seconds`.
async fn hold_sale(app: &TestApp, stock: u64, hold_seconds: u64) -> String {
    let sale_id = unique_sale_id();
    app.create_sale(
        &sale_id,
        json!({"name": "checkout", "stock": stock, "per_user_limit": 1,
               "hold_seconds": hold_seconds}),
    )
    .await;
    sale_id
}

/// Holds one unit; the purchase id and its hold_token.
async fn hold(app: &TestApp, sale_id: &str, user: &str) -> (Uuid, String) {
    let response = app.purchase(sale_id, user, 1, None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("a purchase body");
    let id = body["purchase_id"].as_str().expect("an id");
    (
        Uuid::parse_str(id).expect("a uuid"),
        body["hold_token"].as_str().expect("a token").to_owned(),
    )
}

fn history(entries: &[(i32, &str)]) -> Vec<(i32, String)> {
    entries.iter().map(|(v, s)| (*v, (*s).to_owned())).collect()
}

#[actix_web::test]
async fn a_paid_a_cancelled_and_an_expired_hold_end_in_postgres_in_that_state_with_their_history() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let long = hold_sale(&app, 10, 60).await;
    let short = hold_sale(&app, 10, 1).await;

    let (paid, _) = hold(&app, &long, "payer").await;
    let (cancelled, token) = hold(&app, &long, "canceller").await;
    let (expired, _) = hold(&app, &short, "forgetter").await;
    let held = pipeline.wait_for_state(paid, "held").await;
    assert_eq!(held.history, history(&[(1, "held")]));

    assert_eq!(
        pay(&app, &paid.to_string(), "pay-1").await.status(),
        StatusCode::OK
    );
    let answer = cancel(&app, &cancelled.to_string(), Some(&token), false).await;
    assert_eq!(answer.status(), StatusCode::OK);

    for (id, state) in [
        (paid, "paid"),
        (cancelled, "cancelled"),
        (expired, "expired"),
    ] {
        let order = pipeline.wait_for_state(id, state).await;
        assert_eq!(order.version, 2, "{state}");
        assert_eq!(
            order.history,
            history(&[(1, "held"), (2, state)]),
            "{state}"
        );
        // Redis says the same: GET purchase still reads it from there.
        let purchase = app.get_json(&format!("/api/v1/purchases/{id}")).await;
        assert_eq!(purchase["hold_state"], state);
    }
    // Each purchase is one order; its transitions are history, not orders.
    assert_eq!(pipeline.orders(&long, 1).await.1, 2);
    assert_eq!(pipeline.orders(&short, 1).await.1, 1);
    wait_for("the outboxes to drain", Duration::from_secs(10), || async {
        (app.outbox_len(&long).await + app.outbox_len(&short).await == 0).then_some(())
    })
    .await;
    worker.stop().await.expect("the worker stops cleanly");
}

fn transition(purchase_id: Uuid, kind: EventKind) -> PurchaseEvent {
    let at = Utc::now();
    PurchaseEvent {
        schema_version: SCHEMA_VERSION,
        kind,
        version: kind.version(),
        purchase_id,
        sale_id: "reordered".into(),
        round: 1,
        user_id: "by-hand".into(),
        quantity: 1,
        reserved_at: at,
        occurred_at: at,
    }
}

#[actix_web::test]
async fn duplicate_late_and_reordered_events_never_move_a_state_back_or_apply_twice() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let producer = producer(&pipeline.brokers);
    let (paid, expired) = (Uuid::new_v4(), Uuid::new_v4());
    let old_style = Uuid::new_v4();
    // Published in a burst, so several arrive in one batch; then again, in reverse, once the
    // first ones are persisted, so they also arrive late, behind what they would undo.
    let events = [
        transition(paid, EventKind::Paid),
        transition(paid, EventKind::Held),
        transition(paid, EventKind::Paid),
        transition(expired, EventKind::Held),
        transition(expired, EventKind::Expired),
        transition(expired, EventKind::Held),
    ];
    for event in &events {
        produce(&producer, &pipeline.topic, "reordered", &event.encode()).await;
    }
    pipeline.wait_for_state(paid, "paid").await;
    pipeline.wait_for_state(expired, "expired").await;
    for event in events.iter().rev() {
        produce(&producer, &pipeline.topic, "reordered", &event.encode()).await;
    }
    // A marker behind them on the same partition, written by an earlier build (schema 1, a
    // plain reservation): once it is persisted, everything before it was.
    let v1 = json!({"schema_version": 1, "purchase_id": old_style, "sale_id": "reordered",
                    "round": 1, "user_id": "old-build", "quantity": 1,
                    "reserved_at": "2026-06-01T09:00:00.125Z"});
    produce(
        &producer,
        &pipeline.topic,
        "reordered",
        v1.to_string().as_bytes(),
    )
    .await;
    let marker = pipeline.wait_for_state(old_style, "reserved").await;
    assert_eq!(
        (marker.version, marker.history),
        (1, history(&[(1, "reserved")]))
    );

    let paid_order = pipeline.order_state(paid).await.expect("an order");
    assert_eq!((paid_order.state.as_str(), paid_order.version), ("paid", 2));
    assert_eq!(paid_order.history, history(&[(1, "held"), (2, "paid")]));
    let expired_order = pipeline.order_state(expired).await.expect("an order");
    assert_eq!(
        (expired_order.state.as_str(), expired_order.version),
        ("expired", 2)
    );
    assert_eq!(
        expired_order.history,
        history(&[(1, "held"), (2, "expired")])
    );
    assert_eq!(pipeline.orders("reordered", 1).await.1, 3);
    // 13 events, 5 distinct (purchase, version): every other one was dropped as a duplicate.
    assert_eq!(worker.stats.duplicates(), 8);
    worker.stop().await.expect("the worker stops cleanly");
}

/// Joins the sale's waitlist as `user`; the entry's id.
async fn join_waitlist(app: &TestApp, sale_id: &str, user: &str) -> String {
    let response = app.join_waitlist(sale_id, json!({ "user_id": user })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let entry: Value = response.json().await.expect("an entry");
    entry["entry_id"].as_str().expect("an id").to_owned()
}

/// Waits until a waitlist entry was offered a unit; the offer's purchase id.
async fn wait_for_offer(app: &TestApp, sale_id: &str, entry_id: &str) -> Uuid {
    let offer = wait_for("the entry's offer", Duration::from_secs(10), || async {
        let entry = app.waitlist_entry(sale_id, entry_id).await;
        (entry["state"] == "offered").then(|| entry["offer"]["purchase_id"].clone())
    })
    .await;
    Uuid::parse_str(offer.as_str().expect("an id")).expect("a uuid")
}

#[actix_web::test]
async fn waitlist_offers_reach_postgres_as_holds_of_their_own_and_the_audit_passes() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = hold_sale(&app, 2, 2).await;
    let sale_id = SaleId::parse(&sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let (paid, _) = hold(&app, &sale, "payer").await;
    let (forgotten, _) = hold(&app, &sale, "forgetter").await;
    assert_eq!(
        pay(&app, &paid.to_string(), "pay-1").await.status(),
        StatusCode::OK
    );
    let first = join_waitlist(&app, &sale, "first").await;
    let second = join_waitlist(&app, &sale, "second").await;
    let third = join_waitlist(&app, &sale, "third").await;

    // The forgotten hold expires: its unit is offered to the first buyer waiting, and the
    // offer is in Postgres as a purchase of its own, 'offered'.
    let offer_1 = wait_for_offer(&app, &sale, &first).await;
    let order = pipeline.wait_for_state(offer_1, "offered").await;
    assert_eq!(order.history, history(&[(1, "offered")]));
    let audit = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert!(audit.passed(), "{audit}");
    assert_eq!(
        (audit.held, audit.paid, audit.released, audit.offered),
        (1, 1, 1, 1),
        "{audit}"
    );
    assert_eq!(audit.state_mismatched, 0, "{audit}");

    // The first buyer lets the offer lapse: it expires and goes on to the second, who pays.
    let offer_2 = wait_for_offer(&app, &sale, &second).await;
    assert_eq!(
        pay(&app, &offer_2.to_string(), "pay-2").await.status(),
        StatusCode::OK
    );
    let lapsed = pipeline.wait_for_state(offer_1, "expired").await;
    assert_eq!(lapsed.history, history(&[(1, "offered"), (2, "expired")]));
    let bought = pipeline.wait_for_state(offer_2, "paid").await;
    assert_eq!(bought.history, history(&[(1, "offered"), (2, "paid")]));
    pipeline.wait_for_state(forgotten, "expired").await;
    assert_eq!(app.waitlist_entry(&sale, &third).await["position"], 1);

    let audit = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert!(audit.passed(), "{audit}");
    assert_eq!(
        (
            audit.stock,
            audit.held,
            audit.paid,
            audit.released,
            audit.offered
        ),
        (2, 0, 2, 2, 2),
        "{audit}"
    );
    assert_eq!((audit.persisted, audit.offers_orphaned), (4, 0), "{audit}");
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn the_audit_balances_a_round_whose_stock_changed_while_it_was_sold() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = hold_sale(&app, 2, 60).await;
    let sale_id = SaleId::parse(&sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let (paid, _) = hold(&app, &sale, "a").await;
    hold(&app, &sale, "b").await;
    let waiting = join_waitlist(&app, &sale, "w").await;
    let change = |body: Value| {
        app.client
            .post(app.url(&format!("/api/v1/admin/sales/{sale}/stock")))
            .bearer_auth(crate::helpers::TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(
        change(json!({"add": 4})).await.expect("sent").status(),
        StatusCode::OK
    );
    let offer = wait_for_offer(&app, &sale, &waiting).await;
    assert_eq!(
        change(json!({"remove": 2})).await.expect("sent").status(),
        StatusCode::OK
    );
    assert_eq!(
        pay(&app, &paid.to_string(), "p").await.status(),
        StatusCode::OK
    );
    hold(&app, &sale, "c").await;
    pipeline.wait_for_state(offer, "offered").await;
    let audit = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    // 2 + 4 - 2: a, b, the offer and c hold or paid 4 units; 0 left.
    assert_eq!(
        (
            audit.stock,
            audit.held,
            audit.paid,
            audit.offered,
            audit.unaccounted
        ),
        (4, 3, 1, 1, 0),
        "{audit}"
    );
    assert!(audit.passed(), "{audit}");
    worker.stop().await.expect("the worker stops cleanly");
}

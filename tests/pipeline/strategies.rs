//! The four strategies against real Redis, Postgres and the broker: `naive` oversells under
//! concurrent buyers, the others never do; the purchase contract and the audit per strategy; a
//! sale that changes strategy while another process still believes the old one.

use std::collections::HashSet;
use std::time::Duration;

use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::worker::audit::Audit;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, unique_sale_id, TestApp};
use crate::support::{buy, spawn_worker, wait_for, Pipeline};

/// Creates a sale with `strategy`, `stock` units and `limit` per user.
async fn sale_with(app: &TestApp, strategy: &str, stock: u64, limit: u64) -> String {
    let sale = unique_sale_id();
    let created = app
        .create_sale(
            &sale,
            json!({"name": strategy, "stock": stock, "per_user_limit": limit, "strategy": strategy}),
        )
        .await;
    assert_eq!(created["strategy"], strategy);
    assert_eq!(created["remaining"].as_u64(), Some(stock));
    sale
}

async fn audit(pipeline: &Pipeline, app: &TestApp, sale: &str, wait: Duration) -> Audit {
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let sale_id = SaleId::parse(sale).expect("valid id");
    Audit::settled(&app.store, &orders, &sale_id, None, wait)
        .await
        .expect("the audit runs")
}

/// 300 distinct buyers, 100 at a time, on 10 units: what each strategy sells, and what
/// Postgres holds right after the last answer (before any worker ran).
async fn stampede(strategy: &str) -> (Pipeline, TestApp, String, HashSet<Uuid>) {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = sale_with(&app, strategy, 10, 1).await;
    let accepted = buy(&app, &sale, "racer", 300, 100).await;
    (pipeline, app, sale, accepted)
}

#[actix_web::test]
async fn naive_oversells_when_buyers_race_for_a_small_stock_and_the_audit_says_so() {
    let (pipeline, app, sale, accepted) = stampede("naive").await;

    // Many buyers read the same remaining figure before any of them wrote it back.
    assert!(
        accepted.len() > 10,
        "naive sold only {} of 10: no race happened",
        accepted.len()
    );
    // Every 202 is an order, written before the answer: oversold, but nothing lost.
    let (ids, rows) = pipeline.orders(&sale, 1).await;
    assert_eq!((&ids, rows), (&accepted, accepted.len()));
    // The stock counter lost updates: it claims fewer units sold than there are orders.
    let sale_now = app.sale(&sale).await;
    assert!(
        sale_now["sold"].as_u64().expect("a number") <= 10,
        "{sale_now}"
    );

    let audit = audit(&pipeline, &app, &sale, Duration::ZERO).await;
    assert_eq!(audit.strategy.as_str(), "naive");
    let sold = accepted.len() as u64;
    assert_eq!(
        (audit.sold, audit.persisted, audit.oversold),
        (sold, sold, sold - 10)
    );
    assert_eq!((audit.pending, audit.missing, audit.duplicated), (0, 0, 0));
    assert!(!audit.passed(), "an oversold round fails the audit");
}

#[actix_web::test]
async fn locking_never_oversells_and_every_order_is_written_before_the_answer() {
    let (pipeline, app, sale, accepted) = stampede("locking").await;
    assert_eq!(accepted.len(), 10);
    let (ids, rows) = pipeline.orders(&sale, 1).await;
    assert_eq!((&ids, rows), (&accepted, 10));
    assert_eq!(app.remaining(&sale).await, 0);
    assert_eq!(app.sale(&sale).await["status"], "sold_out");
    let audit = audit(&pipeline, &app, &sale, Duration::ZERO).await;
    assert_eq!(audit.strategy.as_str(), "locking");
    assert_eq!((audit.sold, audit.persisted, audit.oversold), (10, 10, 0));
    assert!(audit.passed());
}

#[actix_web::test]
async fn redis_never_oversells_and_writes_each_order_in_the_request_once_even_after_the_worker() {
    let (pipeline, app, sale, accepted) = stampede("redis").await;
    assert_eq!(accepted.len(), 10);
    // No worker has run yet: these rows were written by the API before each 202.
    let (ids, rows) = pipeline.orders(&sale, 1).await;
    assert_eq!((&ids, rows), (&accepted, 10));
    // Their events still reach the worker, which adds nothing.
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let audit = audit(&pipeline, &app, &sale, Duration::from_secs(20)).await;
    assert_eq!(audit.strategy.as_str(), "redis");
    assert_eq!(
        (audit.sold, audit.persisted, audit.pending, audit.oversold),
        (10, 10, 0, 0)
    );
    assert_eq!((audit.missing, audit.duplicated), (0, 0));
    wait_for(
        "the worker to see every event",
        Duration::from_secs(20),
        || async { (worker.stats.duplicates() >= 10).then_some(()) },
    )
    .await;
    assert_eq!(pipeline.orders(&sale, 1).await.1, 10);
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn async_never_oversells_and_the_worker_persists_each_sale_once() {
    let (pipeline, app, sale, accepted) = stampede("async").await;
    assert_eq!(accepted.len(), 10);
    let worker = spawn_worker(pipeline.worker_settings()).await;
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(20))
        .await;
    let audit = audit(&pipeline, &app, &sale, Duration::from_secs(20)).await;
    assert_eq!(audit.strategy.as_str(), "async");
    assert_eq!((audit.sold, audit.persisted, audit.oversold), (10, 10, 0));
    assert!(audit.passed());
    worker.stop().await.expect("the worker stops cleanly");
}

/// POSTs a purchase and returns its status, Location header and body.
async fn purchase(
    app: &TestApp,
    sale: &str,
    user: &str,
    quantity: u64,
    key: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = app.purchase(sale, user, quantity, Some(key)).await;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    (
        status,
        location,
        response.json().await.expect("a JSON body"),
    )
}

#[actix_web::test]
async fn every_strategy_keeps_the_purchase_contract_idempotency_limit_sold_out_and_rounds() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    for strategy in ["naive", "locking", "redis", "async"] {
        let sale = sale_with(&app, strategy, 5, 2).await;

        let (status, location, first) = purchase(&app, &sale, "alice", 1, "k1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{strategy}: {first}");
        let id = first["purchase_id"].as_str().expect("an id").to_owned();
        assert_eq!(location, Some(format!("/api/v1/purchases/{id}")));
        assert_eq!(
            (
                &first["sale_id"],
                &first["round"],
                &first["user_id"],
                &first["quantity"],
                &first["status"],
                &first["remaining"]
            ),
            (
                &json!(sale),
                &json!(1),
                &json!("alice"),
                &json!(1),
                &json!("reserved"),
                &json!(4)
            ),
            "{strategy}"
        );
        // A retry with the key: the same answer, nothing taken twice.
        let (status, replay_location, replay) = purchase(&app, &sale, "alice", 1, "k1").await;
        assert_eq!(
            (status, &replay_location, &replay),
            (StatusCode::ACCEPTED, &location, &first),
            "{strategy}"
        );
        // Then, in order: the key reused for another quantity; the per-user limit of 2 units;
        // with 3 units left, bob takes 2, carol's 2 are more than the 1 left, her 1 fits.
        let steps = [
            ("alice", 2, "k1", 422, "idempotency_key_reused"),
            ("alice", 1, "k2", 202, ""),
            ("alice", 1, "k3", 409, "limit_reached"),
            ("bob", 2, "b1", 202, ""),
            ("carol", 2, "c1", 409, "sold_out"),
            ("carol", 1, "c2", 202, ""),
            ("dave", 1, "d1", 409, "sold_out"),
        ];
        for (user, quantity, key, status, error) in steps {
            let (got, _, body) = purchase(&app, &sale, user, quantity, key).await;
            assert_eq!(
                (got.as_u16(), body["error"].as_str().unwrap_or_default()),
                (status, error),
                "{strategy}: {user} buying {quantity} with {key}"
            );
        }
        let sale_now = app.sale(&sale).await;
        assert_eq!(
            (
                &sale_now["remaining"],
                &sale_now["sold"],
                &sale_now["status"]
            ),
            (&json!(0), &json!(5), &json!("sold_out")),
            "{strategy}"
        );

        // Read back: the orders written in the request are confirmed at once.
        let read = app.get_json(&format!("/api/v1/purchases/{id}")).await;
        let expected_status = if strategy == "async" {
            "reserved"
        } else {
            "confirmed"
        };
        assert_eq!(read["status"], expected_status, "{strategy}: {read}");
        assert_eq!(
            (&read["remaining"], &read["reserved_at"], &read["round"]),
            (&first["remaining"], &first["reserved_at"], &first["round"]),
            "{strategy}"
        );

        // A reset: a new round with the stock back, in which the old key buys anew.
        let reset = app.reset_sale(&sale).await;
        assert_eq!(
            (&reset["round"], &reset["remaining"], &reset["strategy"]),
            (&json!(2), &json!(5), &json!(strategy))
        );
        let (status, _, again) = purchase(&app, &sale, "alice", 1, "k1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{strategy}");
        assert_eq!(
            (&again["round"], &again["remaining"]),
            (&json!(2), &json!(4))
        );
        assert_ne!(again["purchase_id"], first["purchase_id"], "{strategy}");
        if strategy != "async" {
            let per_round = (
                pipeline.orders(&sale, 1).await.1,
                pipeline.orders(&sale, 2).await.1,
            );
            assert_eq!(per_round, (4, 1), "{strategy}: orders per round");
        }
    }
}

#[actix_web::test]
async fn locking_holds_the_per_user_limit_and_the_key_under_concurrency() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = sale_with(&app, "locking", 100, 2).await;

    let answers = join_all((0..20).map(|i| {
        let key = format!("k{i}");
        let app = &app;
        let sale = &sale;
        async move { app.purchase(sale, "greedy", 1, Some(&key)).await.status() }
    }))
    .await;
    let accepted = answers
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 2, "{answers:?}");

    let ids = join_all((0..20).map(|_| async {
        let response = app.purchase(&sale, "retrier", 1, Some("same")).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("a body");
        body["purchase_id"].as_str().expect("an id").to_owned()
    }))
    .await;
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        1,
        "one purchase for one key"
    );
    assert_eq!(pipeline.orders(&sale, 1).await.1, 3);
    assert_eq!(app.remaining(&sale).await, 97);
}

/// Replaces the sale through the first app with 3 units sold by `strategy` (which starts
/// `round`), then buys one unit through the second at once, whether or not the round
/// announcement reached it yet: it must be sold by `strategy`, in `round`.
async fn switch_then_buy(
    pipeline: &Pipeline,
    (admin, other): (&TestApp, &TestApp),
    sale: &str,
    strategy: &str,
    round: i64,
) {
    admin
        .create_sale(
            sale,
            json!({"name": strategy, "stock": 3, "strategy": strategy}),
        )
        .await;
    let (status, _, bought) = purchase(other, sale, strategy, 1, strategy).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{strategy}: {bought}");
    assert_eq!(
        (&bought["round"], &bought["remaining"]),
        (&json!(round), &json!(2))
    );
    assert_eq!(
        admin.remaining(sale).await,
        2,
        "{strategy}: the stock it sold from"
    );
    // Only naive writes the order in the request (no worker runs here).
    let orders = usize::from(strategy == "naive");
    assert_eq!(pipeline.orders(sale, round).await.1, orders, "{strategy}");
}

#[actix_web::test]
async fn a_sale_replaced_with_another_strategy_is_sold_by_the_new_one_in_every_process() {
    let pipeline = Pipeline::new().await;
    let admin = spawn_app_with(pipeline.api_settings()).await;
    let other = spawn_app_with(pipeline.api_settings()).await;
    let sale = sale_with(&admin, "async", 5, 5).await;
    // The other process learns the sale is async.
    assert_eq!(
        other.purchase(&sale, "a", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    // Replaced as naive through the first process: the Lua script refuses a stale async route,
    // and the unit comes from the Postgres stock.
    switch_then_buy(&pipeline, (&admin, &other), &sale, "naive", 2).await;
    let redis_side = admin
        .store
        .sales()
        .sale(&SaleId::parse(&sale).expect("valid id"))
        .await
        .expect("redis answers")
        .expect("the sale");
    assert_eq!(redis_side.remaining, 3, "nothing taken in Redis");

    // And back to async: the stale naive route is refused by the stock row, and Redis sells.
    switch_then_buy(&pipeline, (&admin, &other), &sale, "async", 3).await;
    assert_eq!(admin.remaining(&sale).await, 2);
}

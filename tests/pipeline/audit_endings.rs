//! The audit against faults of Redis itself, made by hand: a hold ended twice (a second,
//! contradicting ending appended to the sale's outbox, which the pipeline must persist, not
//! drop as a duplicate) and a counter of the sale's hash apart from the round's records. The
//! same event again stays a duplicate.

use std::time::Duration;

use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::worker::audit::{Audit, CounterApart};
use redis::aio::MultiplexedConnection;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::audit::audit_command;
use crate::helpers::{cancel, pay, raw_redis, spawn_app_with, unique_sale_id, TestApp};
use crate::support::{hold_one_each, spawn_worker, wait_for, Pipeline};

/// A sale of 5 units held 60 s with three holds: one paid, one cancelled, one still held.
/// Returns the sale, the paid hold and the cancelled one.
async fn sale_with_endings(app: &TestApp) -> (String, Uuid, Uuid) {
    let sale = unique_sale_id();
    app.create_sale(
        &sale,
        json!({"name": "endings", "stock": 5, "per_user_limit": 1, "hold_seconds": 60}),
    )
    .await;
    let holds = hold_one_each(app, &sale, &["payer", "canceller", "waiter"]).await;
    let (paid, cancelled) = (&holds[0], &holds[1]);
    assert_eq!(pay(app, &paid.0, "pay-1").await.status(), StatusCode::OK);
    let answer = cancel(app, &cancelled.0, Some(&cancelled.1), false).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let id = |raw: &str| Uuid::parse_str(raw).expect("a uuid");
    (sale, id(&paid.0), id(&cancelled.0))
}

/// Appends to the sale's outbox an ending of the hold `purchase_id` as `kind`, version 2, the
/// way hold_settle.lua writes one, from the hold's purchase record.
async fn emit_ending(conn: &mut MultiplexedConnection, sale: &str, purchase_id: Uuid, kind: &str) {
    let record: String = redis::cmd("HGET")
        .arg(format!("fs:{{{sale}}}:purchases"))
        .arg(purchase_id.to_string())
        .query_async(conn)
        .await
        .expect("the purchase record");
    // round|quantity|reserved_at_ms|remaining|user_id
    let fields: Vec<&str> = record.splitn(5, '|').collect();
    let now_ms = chrono::Utc::now().timestamp_millis();
    redis::cmd("XADD")
        .arg(format!("fs:{{{sale}}}:outbox"))
        .arg("*")
        .arg(&[
            ("purchase_id", purchase_id.to_string()),
            ("round", fields[0].to_owned()),
            ("user_id", fields[4].to_owned()),
            ("quantity", fields[1].to_owned()),
            ("reserved_at_ms", fields[2].to_owned()),
            ("kind", kind.to_owned()),
            ("version", "2".to_owned()),
            ("occurred_at_ms", now_ms.to_string()),
        ])
        .query_async::<()>(conn)
        .await
        .expect("appended to the outbox");
}

/// Waits until `purchase_id`'s history in Postgres has `state` at version 2.
async fn wait_for_ending(pipeline: &Pipeline, purchase_id: Uuid, state: &str) {
    let ending = (2, state.to_owned());
    wait_for(
        &format!("{purchase_id} to have {state} in its history"),
        Duration::from_secs(20),
        || async {
            let order = pipeline.order_state(purchase_id).await?;
            order.history.contains(&ending).then_some(())
        },
    )
    .await;
}

/// The sale's id, the pipeline's orders, and the sale's audit once settled, which passes.
async fn settled(pipeline: &Pipeline, app: &TestApp, sale: &str) -> (SaleId, Orders, Audit) {
    let sale_id = SaleId::parse(sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let clean = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert!(clean.passed(), "{clean}");
    (sale_id, orders, clean)
}

#[actix_web::test]
async fn a_hold_ended_twice_is_kept_and_fails_the_audit_while_the_same_ending_again_is_a_duplicate()
{
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let (sale, paid, cancelled) = sale_with_endings(&app).await;
    let (sale_id, orders, _) = settled(&pipeline, &app, &sale).await;
    let audit = || async {
        Audit::run(&app.store, &orders, &sale_id, None)
            .await
            .expect("the audit runs")
    };
    let mut conn = raw_redis(&pipeline.redis.url).await;

    // The same ending again (a republish): a duplicate, and the audit still passes.
    let duplicates = worker.stats.duplicates();
    emit_ending(&mut conn, &sale, paid, "paid").await;
    wait_for(
        "the repeated ending to count as a duplicate",
        Duration::from_secs(20),
        || async { (worker.stats.duplicates() > duplicates).then_some(()) },
    )
    .await;
    let repeated = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert!(repeated.passed(), "{repeated}");
    assert_eq!(worker.stats.contradicting(), 0);

    // Redis ends the paid hold a second time, as expired: kept, counted, and the audit fails.
    emit_ending(&mut conn, &sale, paid, "expired").await;
    wait_for_ending(&pipeline, paid, "expired").await;
    let order = pipeline.order_state(paid).await.expect("an order");
    assert_eq!((order.state.as_str(), order.version), ("paid", 2));
    assert_eq!(worker.stats.contradicting(), 1);
    let released_and_paid = audit().await;
    assert_eq!(
        (
            released_and_paid.released_and_paid,
            released_and_paid.released_twice,
            released_and_paid.state_mismatched
        ),
        (1, 0, 0)
    );
    assert!(!released_and_paid.passed());
    let (code, printed) = audit_command(&pipeline, &sale, &["--wait", "0"]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("released_and_paid 1"), "{printed}");

    // And the cancelled hold a second time, as expired: released twice.
    emit_ending(&mut conn, &sale, cancelled, "expired").await;
    wait_for_ending(&pipeline, cancelled, "expired").await;
    assert_eq!(worker.stats.contradicting(), 2);
    let released_twice = audit().await;
    assert_eq!(
        (
            released_twice.released_and_paid,
            released_twice.released_twice
        ),
        (1, 1)
    );
    assert!(!released_twice.passed());
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn a_counter_of_the_sale_changed_by_hand_fails_the_audit_which_names_it() {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let (sale, _, _) = sale_with_endings(&app).await;
    let (sale_id, orders, clean) = settled(&pipeline, &app, &sale).await;
    assert!(clean.counters_apart.is_empty(), "{clean}");
    let conn = raw_redis(&pipeline.redis.url).await;
    let hincrby = |counter: &'static str, by: i64| {
        let mut conn = conn.clone();
        let key = format!("fs:{{{sale}}}:sale");
        async move {
            redis::cmd("HINCRBY")
                .arg(key)
                .arg(counter)
                .arg(by)
                .query_async::<()>(&mut conn)
                .await
                .expect("incremented");
        }
    };

    // Three holds of one unit: one held, one paid, one released (back in `remaining`).
    for (counter, records) in [
        ("held", 1),
        ("paid", 1),
        ("remaining", 3),
        ("waiting", 0),
        ("offered", 0),
    ] {
        hincrby(counter, 1).await;
        let apart = Audit::run(&app.store, &orders, &sale_id, None)
            .await
            .expect("the audit runs");
        assert_eq!(
            apart.counters_apart,
            vec![CounterApart {
                counter,
                redis: records + 1,
                records
            }],
            "{apart}"
        );
        assert!(!apart.passed(), "{apart}");
        let (code, printed) = audit_command(&pipeline, &sale, &["--wait", "0"]);
        assert_eq!(code, Some(1), "{printed}");
        let named = format!(
            "counter {counter} apart: redis {}, records {records}",
            records + 1
        );
        assert!(printed.contains(&named), "{printed}");
        hincrby(counter, -1).await;
    }
    let restored = Audit::run(&app.store, &orders, &sale_id, None)
        .await
        .expect("the audit runs");
    assert!(restored.passed(), "{restored}");
    worker.stop().await.expect("the worker stops cleanly");
}

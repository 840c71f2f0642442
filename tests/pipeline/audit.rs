use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::worker::audit::Audit;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{cancel, pay, raw_redis, spawn_app_with, unique_sale_id};
use crate::support::{buy, hold_one_each, spawn_worker, Pipeline, WORKER_BIN};

/// Runs `flashsale-worker audit --sale <sale> <extra>` on the pipeline and returns its exit
/// code and output (stdout, then stderr).
pub(crate) fn audit_command(
    pipeline: &Pipeline,
    sale: &str,
    extra: &[&str],
) -> (Option<i32>, String) {
    let output = Command::new(WORKER_BIN)
        .args(["audit", "--sale", sale])
        .args(extra)
        .envs(pipeline.process_env().iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the audit runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[actix_web::test]
async fn the_audit_passes_a_clean_sale_and_catches_an_oversell_a_missing_order_and_a_duplicate() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(10, 1).await;
    // No worker has migrated this database yet: the audit cannot judge, and says why.
    let (code, printed) = audit_command(&pipeline, &sale, &["--wait", "0"]);
    assert_eq!(code, Some(2), "{printed}");
    assert!(printed.contains("no orders table yet"), "{printed}");
    // The audit waits for a worker that is still applying them (as CI once showed it must).
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let accepted: HashSet<Uuid> = buy(&app, &sale, "buyer", 10, 10).await;
    let sale_id = SaleId::parse(&sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    // Once the sale is settled, audits judge at once: nothing is in flight any more.
    let clean = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    let audit = || async {
        Audit::run(&app.store, &orders, &sale_id, None)
            .await
            .expect("the audit runs")
    };

    assert_eq!((clean.sold, clean.persisted, clean.pending), (10, 10, 0));
    assert_eq!((clean.oversold, clean.missing, clean.duplicated), (0, 0, 0));
    assert!(clean.passed());
    let (code, printed) = audit_command(&pipeline, &sale, &[]);
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        printed.contains("sold 10, persisted 10, pending 0, oversold 0, missing 0, duplicated 0"),
        "{printed}"
    );

    // A missing order: one accepted purchase never reached Postgres.
    let lost = *accepted.iter().next().expect("a purchase");
    let row: (String, i64, String, i32, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("DELETE FROM orders WHERE purchase_id = $1 RETURNING sale_id, round, user_id, quantity, reserved_at")
            .bind(lost)
            .fetch_one(&pipeline.db)
            .await
            .expect("deleted");
    let missing = audit().await;
    assert_eq!(
        (missing.missing, missing.oversold, missing.duplicated),
        (1, 0, 0)
    );
    assert!(!missing.passed());
    assert_eq!(audit_command(&pipeline, &sale, &[]).0, Some(1));

    // A duplicate: the same sale written again under another id (and so one unit too many).
    let insert = "INSERT INTO orders (purchase_id, sale_id, round, user_id, quantity, reserved_at) VALUES ($1, $2, $3, $4, $5, $6)";
    for id in [lost, Uuid::new_v4()] {
        sqlx::query(insert)
            .bind(id)
            .bind(&row.0)
            .bind(row.1)
            .bind(&row.2)
            .bind(row.3)
            .bind(row.4)
            .execute(&pipeline.db)
            .await
            .expect("inserted");
    }
    let duplicated = audit().await;
    assert_eq!(
        (
            duplicated.missing,
            duplicated.duplicated,
            duplicated.oversold
        ),
        (0, 1, 1)
    );
    assert!(!duplicated.passed());

    // An oversell in Redis: an eleventh unit reserved beyond the stock of ten (written the way
    // purchase_reserve.lua records a purchase), and persisted.
    sqlx::query("DELETE FROM orders WHERE purchase_id NOT IN (SELECT unnest($1::uuid[]))")
        .bind(accepted.iter().copied().collect::<Vec<_>>())
        .execute(&pipeline.db)
        .await
        .expect("the duplicate removed");
    let extra = Uuid::new_v4();
    let mut conn = raw_redis(&pipeline.redis.url).await;
    redis::cmd("HSET")
        .arg(format!("fs:{{{sale}}}:purchases"))
        .arg(extra.to_string())
        .arg("1|1|1764000000000|0|eleventh")
        .query_async::<()>(&mut conn)
        .await
        .expect("recorded");
    sqlx::query(insert)
        .bind(extra)
        .bind(&sale)
        .bind(1_i64)
        .bind("eleventh")
        .bind(1_i32)
        .bind(row.4)
        .execute(&pipeline.db)
        .await
        .expect("inserted");
    let oversold = audit().await;
    assert_eq!((oversold.sold, oversold.persisted), (11, 11));
    assert_eq!(
        (oversold.oversold, oversold.missing, oversold.duplicated),
        (1, 0, 0)
    );
    assert!(!oversold.passed());
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn the_audit_checks_holds_and_catches_a_state_apart_a_unit_released_twice_or_released_and_paid(
) {
    let pipeline = Pipeline::new().await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = unique_sale_id();
    app.create_sale(
        &sale,
        json!({"name": "checkout", "stock": 5, "per_user_limit": 1, "hold_seconds": 60}),
    )
    .await;
    let holds = hold_one_each(&app, &sale, &["payer", "canceller", "waiter", "ditherer"]).await;
    let (paid, cancelled) = (&holds[0].0, &holds[1]);
    assert_eq!(pay(&app, paid, "pay-1").await.status(), StatusCode::OK);
    let answer = cancel(&app, &cancelled.0, Some(&cancelled.1), false).await;
    assert_eq!(answer.status(), StatusCode::OK);

    let sale_id = SaleId::parse(&sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let clean = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert_eq!((clean.sold, clean.persisted, clean.pending), (4, 4, 0));
    assert_eq!((clean.held, clean.paid, clean.released), (2, 1, 1));
    assert_eq!(
        (
            clean.unaccounted,
            clean.state_mismatched,
            clean.released_and_paid,
            clean.released_twice,
            clean.oversold
        ),
        (0, 0, 0, 0, 0)
    );
    assert!(clean.passed(), "{clean}");
    let (code, printed) = audit_command(&pipeline, &sale, &[]);
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        printed.contains(
            "holds: held 2, paid 1, released 1, offered 0, offers_orphaned 0, unaccounted 0"
        ),
        "{printed}"
    );
    let audit = || async {
        Audit::run(&app.store, &orders, &sale_id, None)
            .await
            .expect("the audit runs")
    };
    let paid = Uuid::parse_str(paid).expect("a uuid");
    let cancelled = Uuid::parse_str(&cancelled.0).expect("a uuid");
    let sql = |statement: &'static str, id: Uuid| {
        let db = pipeline.db.clone();
        async move {
            sqlx::query(statement)
                .bind(id)
                .execute(&db)
                .await
                .expect("the statement runs");
        }
    };

    // Postgres apart from Redis: the paid hold still `held` there.
    sql(
        "UPDATE orders SET state = 'held' WHERE purchase_id = $1",
        paid,
    )
    .await;
    let apart = audit().await;
    assert_eq!((apart.state_mismatched, apart.pending), (1, 0));
    assert!(!apart.passed());
    assert_eq!(audit_command(&pipeline, &sale, &["--wait", "0"]).0, Some(1));
    sql(
        "UPDATE orders SET state = 'paid' WHERE purchase_id = $1",
        paid,
    )
    .await;

    // The paid hold released as well, and the cancelled one released a second time.
    let release = "INSERT INTO order_history (purchase_id, version, state, occurred_at) \
                   VALUES ($1, 3, 'expired', now())";
    sql(release, paid).await;
    sql(release, cancelled).await;
    let released = audit().await;
    assert_eq!(
        (released.released_and_paid, released.released_twice),
        (1, 1)
    );
    assert!(!released.passed());
    sql(
        "DELETE FROM order_history WHERE purchase_id = $1 AND version = 3",
        paid,
    )
    .await;
    sql(
        "DELETE FROM order_history WHERE purchase_id = $1 AND version = 3",
        cancelled,
    )
    .await;
    assert!(audit().await.passed());

    // A unit given back twice in Redis: one more remaining than the stock allows.
    let mut conn = raw_redis(&pipeline.redis.url).await;
    redis::cmd("HINCRBY")
        .arg(format!("fs:{{{sale}}}:sale"))
        .arg("remaining")
        .arg(1)
        .query_async::<()>(&mut conn)
        .await
        .expect("incremented");
    let unaccounted = audit().await;
    assert_eq!(unaccounted.unaccounted, 1);
    assert!(!unaccounted.passed());
    worker.stop().await.expect("the worker stops cleanly");
}

#[actix_web::test]
async fn the_audit_s_json_answer_is_alone_on_stdout_whatever_it_logs() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(5, 1).await;
    let _worker = spawn_worker(pipeline.worker_settings()).await;
    let accepted: HashSet<Uuid> = buy(&app, &sale, "buyer", 5, 5).await;
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;
    // At debug level the audit logs every query it makes: to stderr, not into its answer.
    let output = Command::new(WORKER_BIN)
        .args(["audit", "--sale", &sale, "--json"])
        .envs(pipeline.process_env().iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "debug")
        .output()
        .expect("the audit runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(answer["sold"], 5, "{answer}");
    assert!(!output.stderr.is_empty(), "the debug lines went to stderr");
}

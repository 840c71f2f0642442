use std::time::Duration;

use flashsale::domain::SaleId;
use flashsale::postgres::Orders;
use flashsale::worker::audit::Audit;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{raw_redis, spawn_app_with, unique_sale_id};
use crate::support::{buy, spawn_worker, Pipeline};

#[actix_web::test]
async fn a_sale_redis_lost_starts_again_above_the_rounds_postgres_remembers() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let worker = spawn_worker(pipeline.worker_settings()).await;
    let sale = unique_sale_id();
    let body = json!({"name": "Rounds", "stock": 3, "per_user_limit": 1});
    assert_eq!(app.create_sale(&sale, body.clone()).await["round"], 1);
    for round in 1..=3 {
        if round > 1 {
            assert_eq!(app.reset_sale(&sale).await["round"], round);
        }
        let accepted = buy(&app, &sale, &format!("round{round}"), 3, 3).await;
        assert_eq!(accepted.len(), 3);
        pipeline
            .wait_for_orders(&sale, round, &accepted, Duration::from_secs(20))
            .await;
    }

    // Redis loses the sale's data: every key under its hash tag, the round included.
    let mut conn = raw_redis(&pipeline.redis.url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("fs:{{{sale}}}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys listed");
    assert!(!keys.is_empty());
    redis::cmd("DEL")
        .arg(&keys)
        .query_async::<()>(&mut conn)
        .await
        .expect("keys deleted");
    assert_eq!(
        app.get(&format!("/api/v1/sales/{sale}")).await.status(),
        StatusCode::NOT_FOUND
    );

    // Put again: Redis knows no round, PostgreSQL remembers three.
    let response = app.put_sale(&sale, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("a sale body");
    assert_eq!(created["round"], 4, "{created}");
    let accepted = buy(&app, &sale, "round4", 3, 3).await;
    assert_eq!(accepted.len(), 3);
    pipeline
        .wait_for_orders(&sale, 4, &accepted, Duration::from_secs(20))
        .await;

    let sale_id = SaleId::parse(&sale).expect("valid id");
    let orders = Orders::connect_lazy(&pipeline.database_settings()).expect("valid url");
    let audit = Audit::settled(&app.store, &orders, &sale_id, None, Duration::from_secs(20))
        .await
        .expect("the audit runs");
    assert_eq!(audit.round, 4);
    assert_eq!((audit.sold, audit.persisted, audit.pending), (3, 3, 0));
    assert!(audit.passed(), "{audit:?}");
    worker.stop().await.expect("the worker stops cleanly");
}

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_code, raw_redis, spawn_app_with, test_settings, PrivateRedis, TestApp};

/// An app on a private Redis with short timeouts, and a sale on it.
async fn app_on_private_redis(redis: &PrivateRedis, stock: u64) -> (TestApp, String) {
    let mut settings = test_settings();
    settings.redis_url = redis.url.as_str().into();
    settings.redis_timeout = Duration::from_millis(300);
    settings.pool.timeout = Duration::from_millis(1000);
    settings.sold_out_ttl = Duration::from_secs(3600);
    settings.pool.actors = 1;
    settings.pool.queue_per_actor = 4;
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(stock, 1).await;
    (app, sale)
}

#[actix_web::test]
async fn a_redis_call_slower_than_redis_rs_defaults_is_answered_within_the_configured_timeout() {
    // redis-rs gives up on an answer after 500 ms unless told otherwise: a purchase that
    // waits 1.2 s for a busy Redis must still be decided within the 3 s configured.
    let redis = PrivateRedis::start();
    let mut settings = test_settings();
    settings.redis_url = redis.url.as_str().into();
    settings.redis_timeout = Duration::from_secs(3);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(10, 1).await;
    assert_eq!(
        app.purchase(&sale, "warm", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    // Redis runs one script at a time: this one keeps it busy for 1.2 s.
    let mut busy = raw_redis(&redis.url).await;
    let busy_script = redis::cmd("EVAL")
        .arg(
            "local t = redis.call('TIME') \
             local until_us = t[1] * 1000000 + t[2] + 1200000 \
             repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= until_us \
             return 1",
        )
        .arg(0)
        .to_owned();
    let keeping_busy = busy_script.query_async::<i64>(&mut busy);
    let buying = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let status = app.purchase(&sale, "patient", 1, None).await.status();
        (status, started.elapsed())
    };
    let (busy, (status, waited)) = tokio::join!(keeping_busy, buying);
    assert_eq!(busy.expect("the busy script ran"), 1);
    assert!(
        waited >= Duration::from_millis(600),
        "it did wait: {waited:?}"
    );
    assert_eq!(status, StatusCode::ACCEPTED, "after {waited:?}");
}

#[actix_web::test]
async fn with_redis_down_readyz_is_503_and_purchases_are_503_unavailable_within_the_timeout() {
    let mut redis = PrivateRedis::start();
    let (app, sale) = app_on_private_redis(&redis, 10).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(
        app.purchase(&sale, "before", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    redis.process.kill9();

    let started = Instant::now();
    let response = app.purchase(&sale, "during", 1, None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(error_code(response).await, "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(ready).await, "unavailable");
    let sale_read = app.get(&format!("/api/v1/sales/{sale}")).await;
    assert_eq!(sale_read.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = sale_read.text().await.expect("a body");
    assert!(
        !body.to_lowercase().contains("redis"),
        "internal detail leaked: {body}"
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    // The metric tells the two 503s apart too (the recorder is shared by this test binary,
    // so at least this test's one).
    let metrics = app.get("/metrics").await.text().await.expect("a body");
    let unavailable = metrics
        .lines()
        .find_map(|line| line.strip_prefix("flashsale_purchases_total{outcome=\"unavailable\"} "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(unavailable >= Some(1.0), "{unavailable:?}");
}

#[actix_web::test]
async fn a_saturated_pool_answers_503_at_once_instead_of_queueing() {
    let redis = PrivateRedis::start();
    let (app, sale) = app_on_private_redis(&redis, 100).await;

    // Redis frozen: the first requests fill the one actor's queue of 4, the rest must be
    // turned away immediately rather than wait.
    redis.process.signal("STOP");
    let started = Instant::now();
    let responses = join_all((0..20).map(|i| {
        let (app, sale) = (&app, &sale);
        async move {
            let response = app.purchase(sale, &format!("crowd-{i}"), 1, None).await;
            (
                response.status(),
                error_code(response).await,
                started.elapsed(),
            )
        }
    }))
    .await;
    redis.process.signal("CONT");

    let turned_away: Vec<_> = responses
        .iter()
        .filter(|(status, ..)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(
        turned_away.len(),
        20,
        "every request is refused while Redis is frozen"
    );
    // The 4 the actor holds wait for Redis and give up: `unavailable`. The other 16 find no
    // room and are refused without trying: `overloaded`.
    let with_code = |wanted: &str| {
        turned_away
            .iter()
            .filter(|(_, code, _)| code == wanted)
            .count()
    };
    assert_eq!(with_code("unavailable"), 4, "{turned_away:?}");
    assert_eq!(with_code("overloaded"), 16, "{turned_away:?}");
    let immediate = turned_away
        .iter()
        .filter(|(.., after)| *after < Duration::from_millis(250))
        .count();
    assert!(
        immediate >= 16,
        "only {immediate} of the 16 over the queue limit were refused at once"
    );

    // Back to normal once Redis is.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.purchase(&sale, "after", 1, None).await.status() != StatusCode::ACCEPTED {
        assert!(Instant::now() < deadline, "purchases did not recover");
    }
}

#[actix_web::test]
async fn a_sold_out_sale_is_answered_without_redis() {
    let mut redis = PrivateRedis::start();
    let (app, sale) = app_on_private_redis(&redis, 1).await;
    assert_eq!(
        app.purchase(&sale, "only", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    redis.process.kill9();

    let response = app.purchase(&sale, "latecomer", 1, None).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "sold_out");
}

#[actix_web::test]
async fn purchases_go_on_after_redis_forgets_the_scripts() {
    let redis = PrivateRedis::start();
    let (app, sale) = app_on_private_redis(&redis, 10).await;
    assert_eq!(
        app.purchase(&sale, "before", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    // A restarted or failed-over Redis has no scripts cached: EVALSHA gets NOSCRIPT.
    let mut conn = raw_redis(&redis.url).await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut conn)
        .await
        .expect("flushed");

    assert_eq!(
        app.purchase(&sale, "after", 1, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.remaining(&sale).await, 8);
}

#[actix_web::test]
async fn purchases_go_on_after_redis_restarts_and_every_old_connection_is_dead() {
    let mut redis = PrivateRedis::start();
    let (app, sale) = app_on_private_redis(&redis, 10).await;
    assert_eq!(
        app.purchase(&sale, "before", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    // The new Redis is empty. Each pooled connection fails its first call and is replaced.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let created = app
            .put_sale(&sale, json!({"name": "again", "stock": 10}))
            .await
            .status()
            .is_success();
        if created && app.purchase(&sale, "after", 1, None).await.status() == StatusCode::ACCEPTED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "purchases did not recover after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn callers_that_gave_up_are_not_sold_to_once_redis_returns() {
    let redis = PrivateRedis::start();
    let mut settings = test_settings();
    settings.redis_url = redis.url.as_str().into();
    settings.redis_timeout = Duration::from_secs(2);
    settings.pool.timeout = Duration::from_millis(200);
    settings.pool.actors = 1;
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(100, 1).await;

    redis.process.signal("STOP");
    let responses = join_all((0..5).map(|i| {
        let (app, sale) = (&app, &sale);
        async move { app.purchase(sale, &format!("impatient-{i}"), 1, None).await }
    }))
    .await;
    assert!(responses
        .iter()
        .all(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE));
    redis.process.signal("CONT");

    // Once a new purchase goes through, the actor has worked through everything queued before.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.purchase(&sale, "patient", 1, None).await.status() != StatusCode::ACCEPTED {
        assert!(Instant::now() < deadline, "purchases did not recover");
    }
    // Only the request already on its way to Redis when its caller gave up may have gone
    // through (the documented "outcome unknown" of a 503); the queued ones were dropped.
    let sold = 100 - app.remaining(&sale).await;
    assert!(sold <= 2, "{sold} units sold for 1 accepted purchase");
}

//! Checkout holds against the real Redis: a hold ends exactly one way (paid, cancelled or
//! expired), whoever reaches Redis first, and released units go back exactly once.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flashsale::domain::{SaleId, SaleSpec};
use flashsale::store::{RoundChange, Store};
use futures_util::future::join_all;
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    cancel, error_code, free_port, now_secs, pay, pay_signed, raw_redis, reserve_directly, sign,
    spawn_app, spawn_app_with, test_settings, unique_sale_id, until_answered, PrivateRedis,
    Process, TestApp, PAYMENT_SECRET,
};

/// A sale of `stock` units, `limit` per user, whose purchases are holds of `hold_seconds`.
async fn hold_sale(app: &TestApp, stock: u64, limit: u64, hold_seconds: u64) -> String {
    let sale_id = unique_sale_id();
    app.create_sale(
        &sale_id,
        json!({"name": "checkout", "stock": stock, "per_user_limit": limit,
               "hold_seconds": hold_seconds}),
    )
    .await;
    sale_id
}

/// Buys one unit; the 202 body.
async fn hold(app: &TestApp, sale_id: &str, user: &str) -> Value {
    let response = app.purchase(sale_id, user, 1, None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.expect("a purchase body")
}

fn id_and_token(purchase: &Value) -> (String, String) {
    (
        purchase["purchase_id"].as_str().expect("an id").to_owned(),
        purchase["hold_token"].as_str().expect("a token").to_owned(),
    )
}

/// `(remaining, held, paid)` of a sale.
async fn figures(app: &TestApp, sale_id: &str) -> (u64, u64, u64) {
    let sale = app.sale(sale_id).await;
    let number = |name: &str| sale[name].as_u64().expect("a number");
    (number("remaining"), number("held"), number("paid"))
}

async fn state_of(app: &TestApp, purchase_id: &str) -> String {
    app.get_json(&format!("/api/v1/purchases/{purchase_id}"))
        .await["hold_state"]
        .as_str()
        .expect("a hold state")
        .to_owned()
}

async fn redis() -> redis::aio::MultiplexedConnection {
    raw_redis(test_settings().redis_url.expose()).await
}

#[actix_web::test]
async fn a_hold_is_paid_once_and_the_same_payment_gets_the_same_answer() {
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, 2, 1, 60).await;
    let before = chrono::Utc::now();
    let purchase = hold(&app, &sale_id, "alice").await;
    assert_eq!(purchase["hold_state"], "held");
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(purchase["hold_expires_at"].clone()).expect("a timestamp");
    let hold_for = (expires_at - before).num_milliseconds();
    assert!((59_000..=61_000).contains(&hold_for), "{hold_for} ms");
    let (id, token) = id_and_token(&purchase);
    assert_eq!(token.len(), 32);
    assert_eq!(figures(&app, &sale_id).await, (1, 1, 0));

    let paid = pay(&app, &id, "pay-1").await;
    assert_eq!(paid.status(), StatusCode::OK);
    let paid: Value = paid.json().await.expect("a purchase");
    assert_eq!(
        (paid["hold_state"].as_str(), paid["payment_ref"].as_str()),
        (Some("paid"), Some("pay-1"))
    );
    assert!(paid.get("hold_token").is_none(), "{paid}");
    let again: Value = pay(&app, &id, "pay-1")
        .await
        .json()
        .await
        .expect("a purchase");
    assert_eq!(again, paid, "the same payment gets the same answer");
    let other = pay(&app, &id, "pay-2").await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(other).await, "payment_conflict");
    let late_cancel = cancel(&app, &id, Some(&token), false).await;
    assert_eq!(late_cancel.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(late_cancel).await, "hold_paid");

    assert_eq!(figures(&app, &sale_id).await, (1, 0, 1));
    let read = app.get_json(&format!("/api/v1/purchases/{id}")).await;
    assert_eq!(read["hold_state"], "paid");
    assert_eq!(read["payment_ref"], "pay-1");
    assert!(
        read.get("hold_token").is_none(),
        "a read never shows the token: {read}"
    );
}

#[actix_web::test]
async fn a_replayed_purchase_shows_its_hold_as_it_stands() {
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, 5, 1, 60).await;
    let first: Value = app
        .purchase(&sale_id, "bob", 1, Some("k1"))
        .await
        .json()
        .await
        .expect("a purchase");
    let (id, token) = id_and_token(&first);
    assert_eq!(pay(&app, &id, "p").await.status(), StatusCode::OK);
    let replay: Value = app
        .purchase(&sale_id, "bob", 1, Some("k1"))
        .await
        .json()
        .await
        .expect("a purchase");
    assert_eq!(replay["purchase_id"], first["purchase_id"]);
    assert_eq!(replay["hold_token"].as_str(), Some(token.as_str()));
    assert_eq!(replay["hold_state"], "paid");
}

#[actix_web::test]
async fn bad_signatures_and_stale_timestamps_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, 3, 1, 60).await;
    let (id, _) = id_and_token(&hold(&app, &sale_id, "carol").await);
    let body = json!({"payment_ref": "p"}).to_string();
    let other_id = Uuid::new_v4().to_string();
    let cases = [
        (
            "wrong secret",
            pay_signed(&app, &id, &body, "guess", now_secs()).await,
        ),
        (
            "stale",
            pay_signed(&app, &id, &body, PAYMENT_SECRET, now_secs() - 301).await,
        ),
        (
            "future",
            pay_signed(&app, &id, &body, PAYMENT_SECRET, now_secs() + 301).await,
        ),
    ];
    for (what, response) in cases {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(error_code(response).await, "invalid_signature", "{what}");
    }
    // Signed for another purchase, or over another body.
    let timestamp = now_secs().to_string();
    let foreign = [
        sign(PAYMENT_SECRET, &timestamp, &other_id, &body),
        sign(PAYMENT_SECRET, &timestamp, &id, r#"{"payment_ref": "q"}"#),
        "zz".into(),
    ];
    for signature in foreign {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/purchases/{id}/payment")))
            .header("Content-Type", "application/json")
            .header("Flashsale-Timestamp", &timestamp)
            .header("Flashsale-Signature", signature)
            .body(body.clone())
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response).await, "invalid_signature");
    }
    let unsigned = app
        .client
        .post(app.url(&format!("/api/v1/purchases/{id}/payment")))
        .json(&json!({"payment_ref": "p"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(state_of(&app, &id).await, "held");
    assert_eq!(figures(&app, &sale_id).await, (2, 1, 0));
    // A signed call with a bad body is the client's 400, after the signature.
    let bad = pay_signed(
        &app,
        &id,
        r#"{"payment_ref": ""}"#,
        PAYMENT_SECRET,
        now_secs(),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn a_cancel_gives_the_unit_and_the_limit_back_once() {
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, 1, 1, 60).await;
    let (id, token) = id_and_token(&hold(&app, &sale_id, "dave").await);
    let sold_out = app.purchase(&sale_id, "erin", 1, None).await;
    assert_eq!(error_code(sold_out).await, "sold_out");

    let no_token = cancel(&app, &id, None, false).await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let wrong = cancel(&app, &id, Some("0123456789abcdef"), false).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(wrong).await, "wrong_hold_token");
    let empty = cancel(&app, &id, Some(""), false).await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(figures(&app, &sale_id).await, (0, 1, 0));

    let cancelled = cancel(&app, &id, Some(&token), false).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancelled: Value = cancelled.json().await.expect("a purchase");
    assert_eq!(cancelled["hold_state"], "cancelled");
    assert!(cancelled["settled_at"].is_string());
    let again = cancel(&app, &id, Some(&token), false).await;
    assert_eq!(again.status(), StatusCode::OK, "a cancel is idempotent");
    let late_pay = pay(&app, &id, "p").await;
    assert_eq!(late_pay.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(late_pay).await, "hold_cancelled");
    assert_eq!(figures(&app, &sale_id).await, (1, 0, 0), "released once");

    // The buyer's limit came back too: dave may buy again (once this process's sold-out
    // flag, set by erin's attempt, lapsed: FLASHSALE_SOLD_OUT_TTL_MS); the admin cancels it.
    let started = Instant::now();
    let second = loop {
        let response = app.purchase(&sale_id, "dave", 1, None).await;
        if response.status() == StatusCode::ACCEPTED {
            let body: Value = response.json().await.expect("a purchase");
            break id_and_token(&body).0;
        }
        assert_eq!(error_code(response).await, "sold_out");
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "the unit never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let by_admin = cancel(&app, &second, None, true).await;
    assert_eq!(by_admin.status(), StatusCode::OK);
    assert_eq!(figures(&app, &sale_id).await, (1, 0, 0));
}

#[actix_web::test]
async fn a_final_purchase_is_not_a_hold() {
    let app = spawn_app().await;
    let sale_id = app.new_sale(5, 1).await;
    let purchase: Value = app
        .purchase(&sale_id, "u", 1, None)
        .await
        .json()
        .await
        .expect("a purchase");
    assert!(purchase.get("hold_state").is_none(), "{purchase}");
    let id = purchase["purchase_id"].as_str().expect("an id");
    let paid = pay(&app, id, "p").await;
    assert_eq!(paid.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(paid).await, "not_a_hold");
    let unknown = pay(&app, &Uuid::new_v4().to_string(), "p").await;
    assert_eq!(error_code(unknown).await, "purchase_not_found");
}

#[actix_web::test]
async fn hold_seconds_are_checked_when_a_sale_is_put() {
    let app = spawn_app().await;
    let sale_id = unique_sale_id();
    for (body, status) in [
        (
            json!({"name": "x", "stock": 1, "hold_seconds": 86_401}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "stock": 1, "hold_seconds": -1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "stock": 1, "hold_seconds": 5, "strategy": "naive"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(app.put_sale(&sale_id, body).await.status(), status);
    }
    let sale = app
        .create_sale(
            &sale_id,
            json!({"name": "x", "stock": 1, "hold_seconds": 86_400}),
        )
        .await;
    assert_eq!(sale["hold_seconds"], 86_400);
}

#[actix_web::test]
async fn an_unpaid_hold_is_released_within_a_second_of_its_deadline() {
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, 1, 1, 1).await;
    let purchase = hold(&app, &sale_id, "frank").await;
    let (id, _) = id_and_token(&purchase);
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(purchase["hold_expires_at"].clone()).expect("a timestamp");
    loop {
        if figures(&app, &sale_id).await == (1, 0, 0) {
            break;
        }
        let late = chrono::Utc::now() - expires_at;
        assert!(
            late.num_milliseconds() < 1_000,
            "not released {late} after its deadline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state_of(&app, &id).await, "expired");
    let late_pay = pay(&app, &id, "p").await;
    assert_eq!(late_pay.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(late_pay).await, "hold_expired");
    assert_eq!(figures(&app, &sale_id).await, (1, 0, 0));
}

#[actix_web::test]
async fn payments_racing_two_reapers_end_each_hold_paid_or_expired_never_both() {
    const HOLDS: usize = 1_000;
    let a = spawn_app().await;
    let b = spawn_app().await;
    let sale_id = hold_sale(&a, HOLDS as u64, 1, 2).await;
    let purchases = join_all((0..HOLDS).map(|i| {
        let (a, sale_id) = (&a, &sale_id);
        async move { hold(a, sale_id, &format!("buyer-{i}")).await }
    }))
    .await;
    // Each payment goes out somewhere from 400 ms before its hold's deadline to 400 ms after
    // it, half through each process, while both reapers run. (Its own deadline, not the
    // first: on a busy machine the holds take a while to make.)
    let answers = join_all(purchases.iter().enumerate().map(|(i, purchase)| {
        let app = if i % 2 == 0 { &a } else { &b };
        let id = purchase["purchase_id"].as_str().expect("an id").to_owned();
        let deadline: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(purchase["hold_expires_at"].clone()).expect("a timestamp");
        let at = deadline + chrono::Duration::milliseconds((i as i64 * 800 / HOLDS as i64) - 400);
        async move {
            let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            // As a payment system would: a 503 (outcome unknown) is sent again, same ref.
            loop {
                let response = pay(app, &id, &format!("ref-{i}")).await;
                let code = if response.status() == StatusCode::OK {
                    "paid".to_owned()
                } else {
                    error_code(response).await
                };
                if code != "unavailable" {
                    break (id, code);
                }
            }
        }
    }))
    .await;
    // Every hold is due by now; let the reapers finish.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (id, answer) in &answers {
        let state = state_of(&a, id).await;
        match answer.as_str() {
            "paid" => assert_eq!(state, "paid", "{id} was answered paid"),
            "hold_expired" => assert_eq!(state, "expired", "{id} was answered expired"),
            other => panic!("{id}: unexpected answer {other}"),
        }
        *outcomes.entry(state).or_default() += 1;
    }
    let paid = outcomes.get("paid").copied().unwrap_or(0) as u64;
    let expired = outcomes.get("expired").copied().unwrap_or(0) as u64;
    assert_eq!(paid + expired, HOLDS as u64, "{outcomes:?}");
    assert!(
        paid > 0 && expired > 0,
        "both sides of the race happened: {outcomes:?}"
    );
    assert_eq!(
        figures(&a, &sale_id).await,
        (expired, 0, paid),
        "stock == remaining + held + paid"
    );
    // Each expired buyer's limit was given back once; each paid buyer's stays taken.
    let users: HashMap<String, i64> = redis()
        .await
        .hgetall(format!("fs:{{{sale_id}}}:users"))
        .await
        .expect("redis answers");
    assert_eq!(users.len() as u64, paid);
    assert!(users.values().all(|bought| *bought == 1), "{users:?}");
}

#[actix_web::test]
async fn cancels_racing_payments_end_each_hold_one_way() {
    const HOLDS: usize = 300;
    let app = spawn_app().await;
    let sale_id = hold_sale(&app, HOLDS as u64, 1, 60).await;
    let purchases = join_all((0..HOLDS).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move { id_and_token(&hold(app, sale_id, &format!("u{i}")).await) }
    }))
    .await;
    let answers = join_all(purchases.iter().map(|(id, token)| {
        let app = &app;
        async move {
            // A 503 (outcome unknown) is sent again, as the shop and the buyer would.
            let (paid, cancelled) = tokio::join!(
                until_answered(|| pay(app, id, "p")),
                until_answered(|| cancel(app, id, Some(token), false))
            );
            (id, paid.status(), cancelled.status())
        }
    }))
    .await;
    let mut paid = 0;
    for (id, pay_status, cancel_status) in answers {
        let state = state_of(&app, id).await;
        match (pay_status, cancel_status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(state, "paid");
                paid += 1;
            }
            (StatusCode::CONFLICT, StatusCode::OK) => assert_eq!(state, "cancelled"),
            other => panic!("{id}: both or neither won: {other:?}"),
        }
    }
    assert_eq!(
        figures(&app, &sale_id).await,
        (HOLDS as u64 - paid, 0, paid)
    );
}

#[actix_web::test]
async fn a_reaper_killed_mid_reap_leaves_the_rest_to_another_none_twice() {
    const HOLDS: usize = 20_000;
    // A Redis of its own, so the only reapers are the two processes of this test.
    let private = PrivateRedis::start();
    // Generous: 20,000 holds go through this Redis while every other test runs too.
    let store = Store::new(&private.url, 2, Duration::from_secs(20)).expect("valid url");
    let sale = SaleId::parse(&unique_sale_id()).expect("valid id");
    let spec = SaleSpec::parse("checkout".into(), HOLDS as u64, 1, None, None).expect("valid");
    store
        .sales()
        .start_round(
            &sale,
            &RoundChange::Put(SaleSpec {
                hold_seconds: 1,
                ..spec
            }),
            0,
        )
        .await
        .expect("created");
    // Holds made straight through the reservation script, for speed.
    reserve_directly(&store, &sale, HOLDS).await;
    let held = || async {
        store
            .sales()
            .sale(&sale)
            .await
            .expect("redis answers")
            .expect("the sale")
            .held
    };
    assert_eq!(held().await, HOLDS as u64);
    // The doomed process reaps 20 holds per script call.
    let mut doomed = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_flashsale-api"))
            .env("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("FLASHSALE_REDIS_URL", &private.url)
            .env("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:1")
            .env("FLASHSALE_SEED_SALES", "false")
            .env("FLASHSALE_REAPER_BATCH", "20")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let started = Instant::now();
    while held().await > HOLDS as u64 - 1_000 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the doomed reaper never reaped"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    doomed.kill9();
    let held_at_kill = held().await;
    assert!(held_at_kill > 0, "killed mid-reap, not after");
    // Another process takes over.
    let mut settings = test_settings();
    settings.redis_url = private.url.clone().into();
    let _other = spawn_app_with(settings).await;
    let started = Instant::now();
    while held().await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rest was not reaped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Released exactly once each: the stock is whole again, not more.
    let after = store
        .sales()
        .sale(&sale)
        .await
        .expect("redis answers")
        .expect("the sale");
    assert_eq!(
        (after.remaining, after.held, after.paid),
        (HOLDS as u64, 0, 0)
    );
    let mut conn = raw_redis(&private.url).await;
    let holds: HashMap<String, String> = conn
        .hgetall(format!("fs:{{{sale}}}:holds"))
        .await
        .expect("redis answers");
    assert_eq!(holds.len(), HOLDS);
    assert!(holds.values().all(|record| record.starts_with("expired|")));
    let users: u64 = conn
        .hlen(format!("fs:{{{sale}}}:users"))
        .await
        .expect("redis answers");
    assert_eq!(users, 0, "every buyer's limit given back");
}

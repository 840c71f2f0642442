//! The waitlist against the real Redis: units released by cancels and expiries go to the
//! buyers waiting, first come first served, each as a hold of its own, in the call that frees
//! them: a unit goes to exactly one buyer or back on sale, never both.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    cancel, error_code, pay, sample, scrape, spawn_app_with, test_settings, until_answered,
    MetricSample, TestApp, TOKEN,
};

/// An app whose Redis calls may take up to 5 s: these tests assert who gets which unit, not
/// how fast, and the shared 2-core machine they run on stalls a call past the default 1 s now
/// and then (a 503 whose outcome is unknown would leave a join's entry id unknown).
pub async fn spawn_patient_app() -> TestApp {
    let mut settings = test_settings();
    settings.redis_timeout = Duration::from_secs(5);
    spawn_app_with(settings).await
}

/// A sale of `stock` units, one per buyer, whose purchases are holds of `hold_seconds`.
pub async fn hold_sale(app: &TestApp, stock: u64, hold_seconds: u64) -> String {
    let sale_id = crate::helpers::unique_sale_id();
    app.create_sale(
        &sale_id,
        json!({"name": "waitlist", "stock": stock, "per_user_limit": 1,
               "hold_seconds": hold_seconds}),
    )
    .await;
    sale_id
}

/// Holds one unit for `user`; the purchase's id and hold_token.
pub async fn hold(app: &TestApp, sale_id: &str, user: &str) -> (String, String) {
    let response = app.purchase(sale_id, user, 1, None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{user}");
    let body: Value = response.json().await.expect("a purchase");
    (
        body["purchase_id"].as_str().expect("an id").to_owned(),
        body["hold_token"].as_str().expect("a token").to_owned(),
    )
}

/// Joins as `user`; the 201 body.
pub async fn joined(app: &TestApp, sale_id: &str, user: &str) -> Value {
    let response = app.join_waitlist(sale_id, json!({ "user_id": user })).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{user}");
    response.json().await.expect("an entry")
}

async fn leave(app: &TestApp, sale_id: &str, entry_id: &str) -> Response {
    app.client
        .delete(app.url(&format!("/api/v1/sales/{sale_id}/waitlist/{entry_id}")))
        .send()
        .await
        .expect("request sent")
}

/// `(stock, remaining, held, paid, waiting, offered)` of a sale.
pub async fn figures(app: &TestApp, sale_id: &str) -> [u64; 6] {
    let sale = app.sale(sale_id).await;
    ["stock", "remaining", "held", "paid", "waiting", "offered"].map(|name| {
        sale[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {sale}"))
    })
}

/// Waits until `done` holds of the sale's figures, for at most `within`.
pub async fn wait_for_figures(
    app: &TestApp,
    sale_id: &str,
    within: Duration,
    done: impl Fn(&[u64; 6]) -> bool,
) -> [u64; 6] {
    let started = Instant::now();
    loop {
        let now = figures(app, sale_id).await;
        if done(&now) {
            return now;
        }
        assert!(started.elapsed() < within, "still {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

#[actix_web::test]
async fn when_200_holds_expire_the_first_200_of_500_waiting_buyers_get_them_in_arrival_order() {
    const HOLDS: usize = 200;
    const WAITING: usize = 500;
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, HOLDS as u64, 4).await;
    join_all((0..HOLDS).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move { hold(app, sale_id, &format!("holder-{i}")).await }
    }))
    .await;
    // 500 buyers join at once; the position each is answered is its arrival.
    let entries = join_all((0..WAITING).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move { joined(app, sale_id, &format!("waiter-{i}")).await }
    }))
    .await;
    let mut positions: Vec<u64> = entries
        .iter()
        .map(|e| e["position"].as_u64().expect("a position"))
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=WAITING as u64).collect::<Vec<_>>());
    assert_eq!(
        figures(&app, &sale_id).await,
        [HOLDS as u64, 0, HOLDS as u64, 0, WAITING as u64, 0]
    );

    // The holds expire; their units go to the waitlist, none back on sale.
    let after = wait_for_figures(&app, &sale_id, Duration::from_secs(8), |f| {
        f[5] >= HOLDS as u64
    })
    .await;
    assert_eq!(
        after,
        [
            HOLDS as u64,
            0,
            HOLDS as u64,
            0,
            (WAITING - HOLDS) as u64,
            HOLDS as u64
        ],
        "every released unit was offered in the call that released it"
    );
    // Read before the offers' own deadline (4 s): exactly the first 200 arrivals hold them.
    let now = join_all(entries.iter().map(|e| {
        let (app, sale_id) = (&app, &sale_id);
        async move { app.waitlist_entry(sale_id, str_of(e, "entry_id")).await }
    }))
    .await;
    let mut offers = HashSet::new();
    for (joined, now) in entries.iter().zip(&now) {
        let arrival = joined["position"].as_u64().expect("a position");
        if arrival <= HOLDS as u64 {
            assert_eq!(now["state"], "offered", "arrival {arrival}: {now}");
            assert!(now.get("position").is_none());
            let offer = &now["offer"];
            assert_eq!(offer["hold_state"], "held");
            assert_eq!(offer["quantity"], 1);
            assert_eq!(offer["user_id"], joined["user_id"]);
            assert_eq!(str_of(offer, "hold_token").len(), 32);
            assert!(offers.insert(str_of(offer, "purchase_id").to_owned()));
        } else {
            assert_eq!(now["state"], "waiting", "arrival {arrival}: {now}");
            assert_eq!(now["position"].as_u64(), Some(arrival - HOLDS as u64));
        }
    }
    assert_eq!(
        offers.len(),
        HOLDS,
        "one offer each, never the same unit twice"
    );
    // An offer is a purchase like any other: a UUIDv7, readable by its id, without its token.
    assert!(
        offers
            .iter()
            .all(|id| Uuid::parse_str(id).is_ok_and(|id| id.get_version_num() == 7)),
        "{offers:?}"
    );
    let one = offers.iter().next().expect("an offer");
    let read = app.get_json(&format!("/api/v1/purchases/{one}")).await;
    assert_eq!(read["hold_state"], "held");
    assert!(read.get("hold_token").is_none());
}

#[actix_web::test]
async fn an_offer_is_paid_or_cancelled_like_any_hold_and_a_cancelled_offer_goes_to_the_next_buyer()
{
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 1, 60).await;
    let (first, token) = hold(&app, &sale_id, "holder").await;
    let bea = joined(&app, &sale_id, "bea").await;
    let cal = joined(&app, &sale_id, "cal").await;
    assert_eq!(
        (bea["position"].as_u64(), cal["position"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(bea["state"], "waiting");

    let cancelled = cancel(&app, &first, Some(&token), false).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(figures(&app, &sale_id).await, [1, 0, 1, 0, 1, 1]);
    let bea_now = app.waitlist_entry(&sale_id, str_of(&bea, "entry_id")).await;
    assert_eq!(bea_now["state"], "offered");
    let cal_now = app.waitlist_entry(&sale_id, str_of(&cal, "entry_id")).await;
    assert_eq!(cal_now["position"], 1, "cal moved up");
    // Bea cancels her offer with its token: the unit goes on to cal, not back on sale.
    let offer = &bea_now["offer"];
    let (bea_offer, bea_token) = (str_of(offer, "purchase_id"), str_of(offer, "hold_token"));
    assert_eq!(
        cancel(&app, bea_offer, Some(bea_token), false)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(figures(&app, &sale_id).await, [1, 0, 1, 0, 0, 2]);
    let cal_now = app.waitlist_entry(&sale_id, str_of(&cal, "entry_id")).await;
    assert_eq!(cal_now["state"], "offered");
    let cal_offer = str_of(&cal_now["offer"], "purchase_id");
    assert_eq!(
        pay(&app, cal_offer, "pay-cal").await.status(),
        StatusCode::OK
    );
    assert_eq!(figures(&app, &sale_id).await, [1, 0, 0, 1, 0, 2]);
    // Bea's entry still shows her offer, now cancelled.
    let bea_now = app.waitlist_entry(&sale_id, str_of(&bea, "entry_id")).await;
    assert_eq!(bea_now["offer"]["hold_state"], "cancelled");
    // An offered entry cannot leave: its hold ends it.
    let refused = leave(&app, &sale_id, str_of(&cal, "entry_id")).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(refused).await, "not_waiting");
}

#[actix_web::test]
async fn racing_cancels_give_each_unit_to_one_waiting_buyer_or_back_on_sale_never_both() {
    const HOLDS: usize = 300;
    const WAITING: usize = 120;
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, HOLDS as u64, 60).await;
    let holds = join_all((0..HOLDS).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move { hold(app, sale_id, &format!("h{i}")).await }
    }))
    .await;
    let entries = join_all((0..WAITING).map(|i| {
        let (app, sale_id) = (&app, &sale_id);
        async move { joined(app, sale_id, &format!("w{i}")).await }
    }))
    .await;
    // Every hold cancelled at once, half by their buyers, half by the admin.
    let answers = join_all(holds.iter().enumerate().map(|(i, (id, token))| {
        let app = &app;
        async move {
            let by_admin = i % 2 == 1;
            let token = (!by_admin).then_some(token.as_str());
            until_answered(|| cancel(app, id, token, by_admin))
                .await
                .status()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK), "{answers:?}");
    assert_eq!(
        figures(&app, &sale_id).await,
        [
            HOLDS as u64,
            (HOLDS - WAITING) as u64,
            WAITING as u64,
            0,
            0,
            WAITING as u64
        ]
    );
    let offers: HashSet<String> = join_all(entries.iter().map(|e| {
        let (app, sale_id) = (&app, &sale_id);
        async move {
            let now = app.waitlist_entry(sale_id, str_of(e, "entry_id")).await;
            assert_eq!(now["state"], "offered");
            str_of(&now["offer"], "purchase_id").to_owned()
        }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(offers.len(), WAITING);
}

#[actix_web::test]
async fn a_buyer_who_left_is_skipped_and_may_join_again_at_the_back() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 1, 60).await;
    let (held, token) = hold(&app, &sale_id, "holder").await;
    let ann = joined(&app, &sale_id, "ann").await;
    let ben = joined(&app, &sale_id, "ben").await;
    let ann_id = str_of(&ann, "entry_id");

    let left = leave(&app, &sale_id, ann_id).await;
    assert_eq!(left.status(), StatusCode::OK);
    let left: Value = left.json().await.expect("an entry");
    assert_eq!(left["state"], "left");
    assert!(left.get("position").is_none());
    assert_eq!(leave(&app, &sale_id, ann_id).await.status(), StatusCode::OK);
    assert_eq!(app.waitlist_entry(&sale_id, ann_id).await["state"], "left");
    let ben_now = app.waitlist_entry(&sale_id, str_of(&ben, "entry_id")).await;
    assert_eq!(ben_now["position"], 1);
    assert_eq!(figures(&app, &sale_id).await[4], 1);

    // Ann joins again, behind ben; the released unit goes to ben.
    let again = joined(&app, &sale_id, "ann").await;
    assert_ne!(again["entry_id"], ann["entry_id"]);
    assert_eq!(again["position"], 2);
    let twice = app.join_waitlist(&sale_id, json!({"user_id": "ann"})).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(twice).await, "already_waitlisted");
    assert_eq!(
        cancel(&app, &held, Some(&token), false).await.status(),
        StatusCode::OK
    );
    let ben_now = app.waitlist_entry(&sale_id, str_of(&ben, "entry_id")).await;
    assert_eq!(ben_now["state"], "offered");
    assert_eq!(app.waitlist_entry(&sale_id, ann_id).await["state"], "left");
    let ann_now = app
        .waitlist_entry(&sale_id, str_of(&again, "entry_id"))
        .await;
    assert_eq!(
        (ann_now["state"].as_str(), ann_now["position"].as_u64()),
        (Some("waiting"), Some(1))
    );
}

#[actix_web::test]
async fn the_waitlist_ends_with_the_round() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 1, 60).await;
    hold(&app, &sale_id, "holder").await;
    let dan = joined(&app, &sale_id, "dan").await;
    let reset = app.reset_sale(&sale_id).await;
    assert_eq!(
        (reset["waiting"].as_u64(), reset["offered"].as_u64()),
        (Some(0), Some(0))
    );
    let ended = app.waitlist_entry(&sale_id, str_of(&dan, "entry_id")).await;
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["round"], 1);
    let refused = leave(&app, &sale_id, str_of(&dan, "entry_id")).await;
    assert_eq!(error_code(refused).await, "not_waiting");
    // The new round has stock again: dan buys instead of waiting.
    let waiting = app.join_waitlist(&sale_id, json!({"user_id": "dan"})).await;
    assert_eq!(waiting.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(waiting).await, "not_sold_out");
    let (_, _) = hold(&app, &sale_id, "dan").await;
    // Sold out again: dan's old entry does not stop a new one, and it starts at 1.
    let eve = joined(&app, &sale_id, "eve").await;
    assert_eq!(
        (eve["round"].as_u64(), eve["position"].as_u64()),
        (Some(2), Some(1))
    );
}

#[actix_web::test]
async fn bad_joins_and_leaves_are_refused_in_the_clients_terms_and_change_nothing() {
    let app = spawn_patient_app().await;
    let sale_id = hold_sale(&app, 1, 60).await;
    let open_sale = hold_sale(&app, 5, 60).await;
    let final_sale = app.new_sale(0, 1).await;
    hold(&app, &sale_id, "limit-taker").await;
    let cases: [(&str, Value, StatusCode, &str); 7] = [
        (
            &sale_id,
            json!({}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"user_id": "bad user"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &sale_id,
            json!({"user_id": "u", "quantity": 2}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no-such-sale",
            json!({"user_id": "u"}),
            StatusCode::NOT_FOUND,
            "sale_not_found",
        ),
        (
            &open_sale,
            json!({"user_id": "u"}),
            StatusCode::CONFLICT,
            "not_sold_out",
        ),
        (
            &final_sale,
            json!({"user_id": "u"}),
            StatusCode::CONFLICT,
            "waitlist_unavailable",
        ),
        (
            &sale_id,
            json!({"user_id": "limit-taker"}),
            StatusCode::CONFLICT,
            "limit_reached",
        ),
    ];
    for (sale, body, status, code) in cases {
        let response = app.join_waitlist(sale, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_code(response).await, code, "{body}");
    }
    let not_json = app
        .client
        .post(app.url(&format!("/api/v1/sales/{sale_id}/waitlist")))
        .header("Content-Type", "text/plain")
        .body("user_id=u")
        .send()
        .await
        .expect("request sent");
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown = Uuid::new_v4().to_string();
    let bad_id = app
        .get(&format!("/api/v1/sales/{sale_id}/waitlist/not-a-uuid"))
        .await;
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad_id).await, "invalid_request");
    let missing = app
        .get(&format!("/api/v1/sales/{sale_id}/waitlist/{unknown}"))
        .await;
    assert_eq!(error_code(missing).await, "waitlist_entry_not_found");
    let missing = leave(&app, &sale_id, &unknown).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // Another sale's entry is not this sale's.
    let entry_elsewhere = joined(&app, &sale_id, "someone").await;
    let foreign = leave(&app, &open_sale, str_of(&entry_elsewhere, "entry_id")).await;
    assert_eq!(error_code(foreign).await, "waitlist_entry_not_found");
    let put = app
        .client
        .put(app.url(&format!("/api/v1/sales/{sale_id}/waitlist")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request sent");
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Only "someone" got on: every refusal left the waitlist as it was.
    assert_eq!(figures(&app, &sale_id).await, [1, 0, 1, 0, 1, 0]);
    assert_eq!(figures(&app, &open_sale).await[4], 0);
}

#[actix_web::test]
async fn hold_and_waitlist_metrics_move_with_what_happens() {
    let app = spawn_patient_app().await;
    let url = app.url("/metrics");
    let before = scrape(&app.client, &url).await;
    let count = |samples: &[MetricSample], family: &str, labels: &[(&str, &str)]| {
        sample(samples, family, labels).unwrap_or(0.0)
    };
    // The reaper shows each sale's figures as Redis holds them.
    let gauges = |sale_id: String, held: f64, waiting: f64| {
        let (app, url) = (&app, &url);
        async move {
            let started = Instant::now();
            loop {
                let now = scrape(&app.client, url).await;
                let shown = (
                    sample(&now, "flashsale_holds_active", &[("sale_id", &sale_id)]),
                    sample(&now, "flashsale_waitlist_length", &[("sale_id", &sale_id)]),
                );
                if shown == (Some(held), Some(waiting)) {
                    return;
                }
                assert!(started.elapsed() < Duration::from_secs(5), "{shown:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let sale_id = hold_sale(&app, 2, 60).await;
    let (paid, _) = hold(&app, &sale_id, "payer").await;
    let (dropped, _) = hold(&app, &sale_id, "dropper").await;
    let waiter = joined(&app, &sale_id, "waiter").await;
    assert_eq!(pay(&app, &paid, "p").await.status(), StatusCode::OK);
    gauges(sale_id.clone(), 1.0, 1.0).await;
    // The admin cancels a hold: it becomes the waiter's offer, which the waiter cancels.
    assert_eq!(
        cancel(&app, &dropped, None, true).await.status(),
        StatusCode::OK
    );
    gauges(sale_id.clone(), 1.0, 0.0).await;
    let offer = app
        .waitlist_entry(&sale_id, str_of(&waiter, "entry_id"))
        .await["offer"]
        .clone();
    let cancelled = cancel(
        &app,
        str_of(&offer, "purchase_id"),
        Some(str_of(&offer, "hold_token")),
        false,
    )
    .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    gauges(sale_id, 0.0, 0.0).await;
    // A hold of another sale lapses; its late payment is refused.
    let short = hold_sale(&app, 1, 1).await;
    let (lapsed, _) = hold(&app, &short, "forgetter").await;
    let started = Instant::now();
    while app.get_json(&format!("/api/v1/purchases/{lapsed}")).await["hold_state"] != "expired" {
        assert!(started.elapsed() < Duration::from_secs(5), "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late = pay(&app, &lapsed, "late").await;
    assert_eq!(error_code(late).await, "hold_expired");

    let after = scrape(&app.client, &url).await;
    for (family, labels, moved) in [
        ("flashsale_holds_ended_total", &[("state", "paid")][..], 1.0),
        (
            "flashsale_holds_ended_total",
            &[("state", "cancelled")][..],
            2.0,
        ),
        (
            "flashsale_holds_ended_total",
            &[("state", "expired")][..],
            1.0,
        ),
        ("flashsale_waitlist_offers_total", &[][..], 1.0),
        ("flashsale_late_payments_refused_total", &[][..], 1.0),
        ("flashsale_reaper_lag_seconds", &[][..], 1.0),
    ] {
        // Other tests of this binary share the process's metrics: at least this much.
        let delta = count(&after, family, labels) - count(&before, family, labels);
        assert!(delta >= moved, "{family} {labels:?} moved {delta}");
    }
}

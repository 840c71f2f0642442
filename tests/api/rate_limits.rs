//! The rate limits per client address and per user (`FLASHSALE_RATE_LIMIT_*`): off by
//! default; over a limit, 429 `rate_limited` with `Retry-After`, nothing taken, and the metric
//! counts it; a limited client is served again once `Retry-After` has passed.

use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::time::Duration;

use flashsale::runtime::settings::{RateLimit, Settings};
use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    error_code, free_port, sample, scrape, spawn_app_with, test_settings, Process, TestApp, TOKEN,
};

const API_BIN: &str = env!("CARGO_BIN_EXE_flashsale-api");

/// `burst` at once, then one every `replenish`.
fn limit(replenish: Duration, burst: u32) -> Option<RateLimit> {
    Some(RateLimit {
        replenish,
        burst: NonZeroU32::new(burst).expect("not zero"),
    })
}

/// How many of `responses` have `status`.
fn count(responses: &[Response], status: StatusCode) -> usize {
    responses.iter().filter(|r| r.status() == status).count()
}

/// The `Retry-After` of a 429, in whole seconds; checks the error's code and shape too.
async fn retry_after(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds = response
        .headers()
        .get("Retry-After")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After in whole seconds");
    assert_eq!(error_code(response).await, "rate_limited");
    seconds
}

/// `flashsale_rate_limited_total{limit}` and `flashsale_purchases_total{outcome="rate_limited"}`
/// now. The recorder is shared by this test binary, so tests compare before and after, and
/// expect at least their own.
async fn limited_counts(app: &TestApp, limit: &str) -> (f64, f64) {
    let samples = scrape(&app.client, &app.url("/metrics")).await;
    (
        sample(
            &samples,
            "flashsale_rate_limited_total",
            &[("limit", limit)],
        )
        .expect("listed from the start"),
        sample(
            &samples,
            "flashsale_purchases_total",
            &[("outcome", "rate_limited")],
        )
        .expect("listed from the start"),
    )
}

#[actix_web::test]
async fn limits_are_off_by_default_so_a_burst_from_one_client_and_one_user_passes() {
    let settings = test_settings();
    assert_eq!(settings.rate_limits.per_client_address, None);
    assert_eq!(settings.rate_limits.per_user, None);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(100, 100).await;
    let responses = join_all((0..50).map(|_| app.purchase(&sale, "eager", 1, None))).await;
    assert_eq!(count(&responses, StatusCode::ACCEPTED), 50);
    assert_eq!(app.remaining(&sale).await, 50);
}

#[actix_web::test]
async fn concurrent_purchases_from_one_address_beyond_its_burst_get_429_and_take_nothing() {
    let mut settings = test_settings();
    // One more every 30 s: none comes back while the test runs.
    settings.rate_limits.per_client_address = limit(Duration::from_secs(30), 5);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(100, 1).await;
    let before = limited_counts(&app, "client_address").await;

    // Every buyer a different user: only the address is over its limit.
    let responses = join_all((0..40).map(|buyer| {
        let app = &app;
        let sale = &sale;
        async move { app.purchase(sale, &format!("buyer-{buyer}"), 1, None).await }
    }))
    .await;
    assert_eq!(count(&responses, StatusCode::ACCEPTED), 5);
    assert_eq!(count(&responses, StatusCode::TOO_MANY_REQUESTS), 35);
    for response in responses {
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let seconds = retry_after(response).await;
            assert!((1..=30).contains(&seconds), "Retry-After: {seconds}");
        }
    }
    assert_eq!(app.remaining(&sale).await, 95);
    assert_eq!(app.outbox_len(&sale).await, 5);

    let after = limited_counts(&app, "client_address").await;
    assert!(after.0 - before.0 >= 35.0, "{before:?} -> {after:?}");
    assert!(after.1 - before.1 >= 35.0, "{before:?} -> {after:?}");
}

#[actix_web::test]
async fn a_user_over_its_limit_gets_429_other_users_do_not_and_it_recovers_after_retry_after() {
    let mut settings = test_settings();
    settings.rate_limits.per_user = limit(Duration::from_secs(2), 2);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(100, 10).await;
    let before = limited_counts(&app, "user").await;

    for _ in 0..2 {
        let response = app.purchase(&sale, "hasty", 1, None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let refused = app.purchase(&sale, "hasty", 1, None).await;
    let seconds = retry_after(refused).await;
    assert!((1..=2).contains(&seconds), "Retry-After: {seconds}");
    // The same address, another user: the user's limit is the user's alone.
    let other = app.purchase(&sale, "patient", 1, None).await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    // Refused, so nothing taken: 3 units sold, 2 of them to `hasty`.
    assert_eq!(app.remaining(&sale).await, 97);

    let after = limited_counts(&app, "user").await;
    assert!(after.0 - before.0 >= 1.0, "{before:?} -> {after:?}");

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let recovered = app.purchase(&sale, "hasty", 1, None).await;
    assert_eq!(recovered.status(), StatusCode::ACCEPTED);
    assert_eq!(app.remaining(&sale).await, 96);
}

#[actix_web::test]
async fn a_sold_out_sale_answers_sold_out_to_a_client_over_its_limit() {
    let mut settings = test_settings();
    settings.rate_limits.per_client_address = limit(Duration::from_secs(30), 1);
    settings.rate_limits.per_user = limit(Duration::from_secs(30), 1);
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(1, 1).await;
    let bought = app.purchase(&sale, "first", 1, None).await;
    assert_eq!(bought.status(), StatusCode::ACCEPTED);

    // This process saw the last unit go: the stampede learns `sold_out` at once, uncounted.
    let responses = join_all((0..20).map(|_| app.purchase(&sale, "first", 1, None))).await;
    for response in responses {
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(response).await, "sold_out");
    }
    // A request the shortcut does not answer (an Idempotency-Key: only Redis knows its
    // answer) is counted, and this address has spent its one.
    let keyed = app.purchase(&sale, "second", 1, Some("k-1")).await;
    retry_after(keyed).await;
}

/// A purchase sent as if through a proxy that wrote `forwarded_for`.
async fn purchase_forwarded_for(
    app: &TestApp,
    sale: &str,
    user: &str,
    forwarded_for: &str,
) -> StatusCode {
    app.client
        .post(app.url(&format!("/api/v1/sales/{sale}/purchases")))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"user_id": user}))
        .send()
        .await
        .expect("request sent")
        .status()
}

#[actix_web::test]
async fn x_forwarded_for_separates_clients_only_behind_a_trusted_proxy() {
    // Untrusted: forged headers do not make a client into many.
    let mut settings = test_settings();
    settings.rate_limits.per_client_address = limit(Duration::from_secs(30), 1);
    let app = spawn_app_with(settings.clone()).await;
    let sale = app.new_sale(100, 1).await;
    let first = purchase_forwarded_for(&app, &sale, "a", "198.51.100.1").await;
    let forged = purchase_forwarded_for(&app, &sale, "b", "198.51.100.2").await;
    assert_eq!(
        (first, forged),
        (StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS)
    );

    // Behind a trusted proxy (this test's loopback): each forwarded client has its own limit,
    // and what a client wrote left of the proxy's entry is not believed.
    settings.rate_limits.trusted_proxies = vec!["127.0.0.0/8".parse().expect("a network")];
    let app = spawn_app_with(settings).await;
    let sale = app.new_sale(100, 1).await;
    let statuses = [
        purchase_forwarded_for(&app, &sale, "a", "198.51.100.1").await,
        purchase_forwarded_for(&app, &sale, "b", "198.51.100.2").await,
        purchase_forwarded_for(&app, &sale, "c", "203.0.113.7, 198.51.100.1").await,
        purchase_forwarded_for(&app, &sale, "d", "198.51.100.1").await,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(app.remaining(&sale).await, 98);
}

/// Starts the API binary on `port` with the test settings and `env`; its log (stdout)
/// piped.
fn api_process(port: u16, env: &[(&str, &str)]) -> Process {
    let settings: Settings = test_settings();
    let mut command = Command::new(API_BIN);
    command
        .env("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FLASHSALE_REDIS_URL", settings.redis_url.expose())
        .env("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:1")
        .env("FLASHSALE_SEED_SALES", "false")
        .env("FLASHSALE_ADMIN_TOKEN", TOKEN)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    Process::spawn(&mut command)
}

#[actix_web::test]
async fn the_api_process_refuses_to_start_with_a_bad_rate_limit_setting() {
    let bad = [
        ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "0"),
        ("FLASHSALE_RATE_LIMIT_USER_PER_SECOND", "lots"),
        ("FLASHSALE_RATE_LIMIT_USER_PER_SECOND", "-2"),
        ("FLASHSALE_RATE_LIMIT_MAX_KEYS", "0"),
        ("FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES", "my-proxy"),
    ];
    for (variable, value) in bad {
        let mut process = api_process(free_port(), &[(variable, value)]);
        let status = process.wait(Duration::from_secs(20)).await;
        assert_eq!(status.code(), Some(2), "{variable}={value}");
        let mut printed = String::new();
        std::io::Read::read_to_string(
            &mut process.take_stdout().expect("stdout piped"),
            &mut printed,
        )
        .expect("stdout readable");
        assert!(printed.contains(variable), "{variable}={value}: {printed}");
    }
    // A burst of 0 is refused once its limit is on.
    let mut process = api_process(
        free_port(),
        &[
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "5"),
            ("FLASHSALE_RATE_LIMIT_IP_BURST", "0"),
        ],
    );
    assert_eq!(process.wait(Duration::from_secs(20)).await.code(), Some(2));
}

#[actix_web::test]
async fn the_api_process_limits_by_its_environment_and_serves_again_after_retry_after() {
    let port = free_port();
    let mut api = api_process(
        port,
        &[
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "0.5"),
            ("FLASHSALE_RATE_LIMIT_IP_BURST", "3"),
        ],
    );
    // Its log is not read: dropped, so a full pipe never blocks it.
    drop(api.take_stdout());
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = app.new_sale(100, 1).await;
    for buyer in 0..3 {
        let response = app.purchase(&sale, &format!("p-{buyer}"), 1, None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let refused = app.purchase(&sale, "p-3", 1, None).await;
    let seconds = retry_after(refused).await;
    assert!((1..=2).contains(&seconds), "Retry-After: {seconds}");
    assert_eq!(app.remaining(&sale).await, 97);

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let served = app.purchase(&sale, "p-3", 1, None).await;
    assert_eq!(served.status(), StatusCode::ACCEPTED);
    assert_eq!(app.remaining(&sale).await, 96);
}

#[actix_web::test]
async fn each_api_process_counts_its_own_budget_so_two_admit_twice_the_burst() {
    // docs/OPERATIONS.md, section 6: the limits are per process, and the setting is the total
    // divided by the processes. Two processes on one Redis, one client, one sale.
    let mut settings = test_settings();
    settings.rate_limits.per_client_address = limit(Duration::from_secs(30), 3);
    let first = spawn_app_with(settings.clone()).await;
    let second = spawn_app_with(settings).await;
    let sale = first.new_sale(100, 1).await;
    let apps = [&first, &second];
    let responses = join_all((0..20).map(|buyer| {
        let (app, sale) = (apps[buyer % 2], &sale);
        async move { app.purchase(sale, &format!("buyer-{buyer}"), 1, None).await }
    }))
    .await;
    assert_eq!(count(&responses, StatusCode::ACCEPTED), 6);
    assert_eq!(count(&responses, StatusCode::TOO_MANY_REQUESTS), 14);
    assert_eq!(first.remaining(&sale).await, 94);
}

#[actix_web::test]
async fn the_waiting_room_counts_against_the_limits_tickets_per_user_and_reads_per_address() {
    let mut settings = test_settings();
    settings.rate_limits.per_user = limit(Duration::from_secs(60), 2);
    settings.rate_limits.per_client_address = limit(Duration::from_secs(60), 8);
    let app = spawn_app_with(settings).await;
    let sale = crate::helpers::unique_sale_id();
    app.create_sale(
        &sale,
        json!({"name": "room", "stock": 5,
               "admission": {"mode": "fifo", "rate_per_second": 1}}),
    )
    .await;
    let join = |user: &'static str| {
        let (app, sale) = (&app, &sale);
        async move {
            app.client
                .post(app.url(&format!("/api/v1/sales/{sale}/queue")))
                .json(&json!({ "user_id": user }))
                .send()
                .await
                .expect("request sent")
        }
    };

    // Per user: two tickets' worth of asks, then 429 (asking again is the same ticket anyway).
    let first = join("eager").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let ticket: serde_json::Value = first.json().await.expect("a ticket");
    let ticket_id = ticket["ticket_id"].as_str().expect("an id").to_owned();
    assert_eq!(join("eager").await.status(), StatusCode::OK);
    retry_after(join("eager").await).await;
    assert_eq!(join("calm").await.status(), StatusCode::CREATED);

    // Per address: the 4 asks so far each counted (the address is checked before the user),
    // so 4 reads of the ticket are left in the address's burst of 8, then 429, stream too.
    let path = format!("/api/v1/sales/{sale}/queue/{ticket_id}");
    let mut served = 0;
    loop {
        let response = app.get(&path).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after(response).await;
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        served += 1;
        assert!(served <= 8, "the address's burst is 8");
    }
    assert_eq!(served, 4, "8 in the burst, 4 spent on tickets");
    let stream = app
        .get(&format!("/api/v1/sales/{sale}/queue/{ticket_id}/stream"))
        .await;
    retry_after(stream).await;
}

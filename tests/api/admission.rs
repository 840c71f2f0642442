//! Admission against the real Redis: the waiting room admits in ticket order at the sale's
//! rate across API processes, the lottery does not follow arrival, purchase tokens buy once
//! and only for their holder, and sold-out reaches every waiting ticket at once.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flashsale::domain::{Admission, AdmissionMode, SaleId, SaleSpec};
use flashsale::services::admission::admitter::admit_buyers;
use flashsale::store::{RoundChange, Store};
use futures_util::stream::{self, StreamExt};
use redis::AsyncCommands;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    error_code, free_port, raw_redis, sample, scrape, spawn_app, test_settings, total,
    unique_sale_id, EventStream, PrivateRedis, Process, TestApp, TOKEN, TOKEN_SECRET,
};

/// How many requests a test keeps in flight at once.
const IN_FLIGHT: usize = 64;

/// A sale with a waiting room.
async fn queued_sale(
    app: &TestApp,
    stock: u64,
    admission: Value,
    starts_in: Option<Duration>,
) -> String {
    let sale_id = unique_sale_id();
    let mut body = json!({"name": "waiting room", "stock": stock, "per_user_limit": 1,
                          "admission": admission});
    if let Some(wait) = starts_in {
        body["starts_at"] =
            json!((Utc::now() + chrono::Duration::from_std(wait).expect("short")).to_rfc3339());
    }
    app.create_sale(&sale_id, body).await;
    sale_id
}

async fn join(app: &TestApp, sale_id: &str, user: &str) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/sales/{sale_id}/queue")))
        .json(&json!({ "user_id": user }))
        .send()
        .await
        .expect("request sent")
}

async fn ticket(app: &TestApp, sale_id: &str, ticket_id: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/sales/{sale_id}/queue/{ticket_id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("a ticket")
}

/// Waits (at most `within`) until the ticket reads `status`; the ticket.
async fn until_status(
    app: &TestApp,
    sale_id: &str,
    ticket_id: &str,
    status: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let ticket = ticket(app, sale_id, ticket_id).await;
        if ticket["status"] == status {
            return ticket;
        }
        assert!(Instant::now() < deadline, "never {status}: {ticket}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn buy(
    app: &TestApp,
    sale_id: &str,
    user: &str,
    token: Option<&str>,
    key: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/sales/{sale_id}/purchases")))
        .json(&json!({ "user_id": user }));
    if let Some(token) = token {
        request = request.header("Flashsale-Purchase-Token", token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request sent")
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

/// An API process of its own (the binary), on the test Redis, with the tests' token key.
fn api_process() -> (Process, String) {
    let port = free_port();
    let process = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_flashsale-api"))
            .env("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("FLASHSALE_REDIS_URL", test_settings().redis_url.expose())
            .env("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:1")
            .env("FLASHSALE_SEED_SALES", "false")
            .env("FLASHSALE_TOKEN_SECRET", TOKEN_SECRET)
            .env("FLASHSALE_ADMIN_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    (process, format!("http://127.0.0.1:{port}"))
}

#[actix_web::test]
async fn fifo_admits_in_ticket_order_at_its_rate_across_two_processes() {
    const TICKETS: usize = 2_000;
    const RATE: f64 = 200.0;
    let local = spawn_app().await;
    let (_process, address) = api_process();
    let other = TestApp::at(address).await;
    let sale_id = queued_sale(
        &local,
        TICKETS as u64,
        json!({"mode": "fifo", "rate_per_second": RATE as u64, "token_seconds": 600}),
        Some(Duration::from_secs(12)),
    )
    .await;
    let apps = [&local, &other];
    // Taken concurrently, half through each process.
    let taken: Vec<Value> = stream::iter(0..TICKETS)
        .map(|i| {
            let sale_id = sale_id.clone();
            async move {
                let response = join(apps[i % 2], &sale_id, &format!("f{i}")).await;
                assert_eq!(response.status(), StatusCode::CREATED);
                response.json::<Value>().await.expect("a ticket")
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    // Every ticket was taken before the start, or the rate below would measure the takers.
    let sale = local.sale(&sale_id).await;
    let starts_at: DateTime<Utc> = str_of(&sale, "starts_at").parse().expect("a timestamp");
    assert!(
        Utc::now() < starts_at,
        "the tickets took longer than the lead time"
    );
    // Each ticket's place, as the room keeps it: 1 to TICKETS, each once, and its position
    // before the start.
    let places = places(&sale_id).await;
    let mut by_place: Vec<(u64, String)> = taken
        .iter()
        .map(|t| {
            let id = str_of(t, "ticket_id").to_owned();
            let place = places[&id].expect("a fifo ticket has a place");
            assert_eq!(t["position"], place, "{t}");
            (place, id)
        })
        .collect();
    by_place.sort();
    assert_eq!(
        by_place.iter().map(|(place, _)| *place).collect::<Vec<_>>(),
        (1..=TICKETS as u64).collect::<Vec<_>>()
    );
    // Asking again gives the same ticket.
    let again = join(&other, &sale_id, "f0").await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("a ticket");
    let first = taken
        .iter()
        .find(|t| t["user_id"] == "f0")
        .expect("f0's ticket");
    assert_eq!(again["ticket_id"], first["ticket_id"]);

    // The queue's length, as the admitters report it, while it drains (some 10 s).
    let waiting = || async {
        let samples = scrape(&local.client, &local.url("/metrics")).await;
        sample(
            &samples,
            "flashsale_queue_waiting",
            &[("sale_id", sale_id.as_str())],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match waiting().await {
            Some(length) if length > 0.0 && length < TICKETS as f64 => break,
            length => assert!(Instant::now() < deadline, "queue length {length:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = &by_place[TICKETS - 1].1;
    until_status(&local, &sale_id, last, "admitted", Duration::from_secs(60)).await;
    // Each ticket's admission time (its token's expiry minus token_seconds) never goes back
    // along the ticket order: admitted strictly in order.
    let admitted: Vec<DateTime<Utc>> = stream::iter(by_place.iter())
        .map(|(_, id)| {
            let (local, sale_id) = (&local, &sale_id);
            async move {
                let t = ticket(local, sale_id, id).await;
                assert_eq!(t["status"], "admitted", "{t}");
                str_of(&t, "token_expires_at")
                    .parse::<DateTime<Utc>>()
                    .expect("a timestamp")
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    for (place, pair) in admitted.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "place {} admitted after place {}",
            place + 1,
            place + 2
        );
    }
    // The rate: from the first admission step to the last, within 10% of the setting.
    let first_step = admitted.iter().filter(|at| **at == admitted[0]).count();
    let seconds = (admitted[TICKETS - 1] - admitted[0]).num_milliseconds() as f64 / 1000.0;
    let rate = (TICKETS - first_step) as f64 / seconds;
    assert!(
        (rate - RATE).abs() <= RATE * 0.1,
        "admitted {rate:.1}/s, asked {RATE}/s"
    );
    // Both processes' admitters took part.
    for app in apps {
        let samples = scrape(&app.client, &app.url("/metrics")).await;
        let admitted = total(&samples, "flashsale_queue_admitted_total");
        assert!(admitted > 0.0, "{} admitted nothing", app.address);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while waiting().await != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the drained queue's length is not 0"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn random_admission_does_not_follow_the_order_tickets_were_taken_in() {
    const TICKETS: usize = 600;
    let app = spawn_app().await;
    let sale_id = queued_sale(
        &app,
        TICKETS as u64,
        json!({"mode": "random", "rate_per_second": 1}),
        Some(Duration::from_secs(12)),
    )
    .await;
    // Taken one after another: the arrival order is unambiguous.
    let mut arrivals = Vec::new();
    for i in 0..TICKETS {
        let response = join(&app, &sale_id, &format!("r{i}")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let t: Value = response.json().await.expect("a ticket");
        // Before the draw every lobby ticket reads the lobby's size.
        assert_eq!(t["position"], (i + 1) as u64, "{t}");
        arrivals.push(str_of(&t, "ticket_id").to_owned());
    }
    // The draw gives the lobby its places, which are the admission order (the admitters move
    // one counter along them).
    let deadline = Instant::now() + Duration::from_secs(30);
    let drawn = loop {
        let drawn = places(&sale_id).await;
        if drawn.values().all(Option::is_some) {
            break drawn;
        }
        assert!(Instant::now() < deadline, "never drawn");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let places: Vec<u64> = arrivals
        .iter()
        .map(|id| drawn[id].expect("drawn") - 1)
        .collect();
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(sorted, (0..TICKETS as u64).collect::<Vec<_>>());
    // And the API admits by them: the first place is the first admitted.
    let first = places
        .iter()
        .position(|place| *place == 0)
        .expect("place 1");
    until_status(
        &app,
        &sale_id,
        &arrivals[first],
        "admitted",
        Duration::from_secs(10),
    )
    .await;
    // Spearman's rank correlation of arrival and drawn place: about N(0, 1/sqrt(599) = 0.041)
    // for a fair lottery; the tolerance 0.2 is about 5 standard errors (a fair draw fails
    // about once in 3 million runs), while a draw that kept arrival order gives 1.
    let n = TICKETS as f64;
    let squares: f64 = places
        .iter()
        .enumerate()
        .map(|(arrival, place)| (arrival as f64 - *place as f64).powi(2))
        .sum();
    let rho = 1.0 - 6.0 * squares / (n * (n * n - 1.0));
    assert!(rho.abs() < 0.2, "arrival predicts admission: rho {rho}");
}

/// A sale with a waiting room whose buyers are admitted at once; the admitted tokens of
/// `users`.
async fn admitted_tokens(
    app: &TestApp,
    stock: u64,
    token_seconds: u64,
    users: &[&str],
) -> (String, Vec<String>) {
    let sale_id = queued_sale(
        app,
        stock,
        json!({"mode": "fifo", "rate_per_second": 1000, "token_seconds": token_seconds}),
        None,
    )
    .await;
    let mut tokens = Vec::new();
    for user in users {
        let t: Value = join(app, &sale_id, user)
            .await
            .json()
            .await
            .expect("a ticket");
        let t = until_status(
            app,
            &sale_id,
            str_of(&t, "ticket_id"),
            "admitted",
            Duration::from_secs(10),
        )
        .await;
        tokens.push(str_of(&t, "purchase_token").to_owned());
    }
    (sale_id, tokens)
}

#[actix_web::test]
async fn ten_thousand_purchases_with_bad_tokens_take_nothing() {
    const ATTEMPTS: usize = 10_000;
    let app = spawn_app().await;
    let (sale_id, tokens) = admitted_tokens(&app, 100, 600, &["buyer", "victim"]).await;
    let (lapsing_sale, lapsing) = admitted_tokens(&app, 100, 1, &["late"]).await;
    // The one legitimate purchase: its token is then a reused one.
    let bought = buy(&app, &sale_id, "buyer", Some(&tokens[0]), None).await;
    assert_eq!(bought.status(), StatusCode::ACCEPTED);
    let forged = {
        let (body, signature) = tokens[1].rsplit_once('~').expect("a signature");
        let flipped = if signature.starts_with('0') { "1" } else { "0" };
        format!("{body}~{flipped}{}", &signature[1..])
    };
    let stretched = tokens[1].replacen("~victim~", "~mallory~", 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let app = Arc::new(app);
    // (sale, user, token, the expected refusal)
    let kinds: Vec<(String, &str, Option<String>, &str)> = vec![
        (sale_id.clone(), "bot", None, "token_missing"),
        (sale_id.clone(), "victim", Some(forged), "token_invalid"),
        (sale_id.clone(), "mallory", Some(stretched), "token_invalid"),
        (
            sale_id.clone(),
            "mallory",
            Some(tokens[1].clone()),
            "token_wrong_user",
        ),
        (
            sale_id.clone(),
            "buyer",
            Some(tokens[0].clone()),
            "token_used",
        ),
        (
            lapsing_sale.clone(),
            "late",
            Some(lapsing[0].clone()),
            "token_expired",
        ),
        // A token of one sale does not buy in another.
        (
            lapsing_sale.clone(),
            "victim",
            Some(tokens[1].clone()),
            "token_invalid",
        ),
    ];
    let refusals: Vec<(String, String)> = stream::iter(0..ATTEMPTS)
        .map(|i| {
            let (sale, user, token, expected) = kinds[i % kinds.len()].clone();
            let app = Arc::clone(&app);
            async move {
                let response = buy(&app, &sale, user, token.as_deref(), None).await;
                assert_eq!(response.status(), StatusCode::FORBIDDEN, "{expected}");
                (error_code(response).await, expected.to_owned())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for (code, expected) in &refusals {
        assert_eq!(code, expected);
    }
    // Nothing taken but the one purchase.
    assert_eq!(app.remaining(&sale_id).await, 99);
    assert_eq!(app.outbox_len(&sale_id).await, 1);
    assert_eq!(app.remaining(&lapsing_sale).await, 100);
    assert_eq!(app.outbox_len(&lapsing_sale).await, 0);
    let samples = scrape(&app.client, &app.url("/metrics")).await;
    assert!(total(&samples, "flashsale_tokens_refused_total") >= ATTEMPTS as f64);
}

#[actix_web::test]
async fn a_token_bought_with_twice_at_once_buys_once_and_its_retry_gets_the_purchase() {
    let app = spawn_app().await;
    let (sale_id, tokens) = admitted_tokens(&app, 10, 600, &["twice"]).await;
    let app = Arc::new(app);
    let answers: Vec<(StatusCode, Value)> = stream::iter(0..20)
        .map(|i| {
            let (app, sale_id, token) = (Arc::clone(&app), sale_id.clone(), tokens[0].clone());
            async move {
                let key = format!("key-{i}");
                let response = buy(&app, &sale_id, "twice", Some(&token), Some(&key)).await;
                (
                    response.status(),
                    response.json::<Value>().await.expect("a body"),
                )
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let bought: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(bought.len(), 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|(status, body)| *status == StatusCode::ACCEPTED || body["error"] == "token_used"));
    assert_eq!(app.remaining(&sale_id).await, 9);
    // The winner's retry, same key and token, is the same purchase.
    let purchase_id = str_of(bought[0], "purchase_id");
    let mut replayed = None;
    for i in 0..20 {
        let retry = buy(
            &app,
            &sale_id,
            "twice",
            Some(&tokens[0]),
            Some(&format!("key-{i}")),
        )
        .await;
        if retry.status() == StatusCode::ACCEPTED {
            replayed = Some(retry.json::<Value>().await.expect("a purchase"));
        }
    }
    let replayed = replayed.expect("the retry is answered 202");
    assert_eq!(str_of(&replayed, "purchase_id"), purchase_id);
    assert_eq!(app.remaining(&sale_id).await, 9);
    let t = app.outbox_len(&sale_id).await;
    assert_eq!(t, 1);
}

#[actix_web::test]
async fn every_waiting_ticket_reads_sold_out_within_a_second_of_the_last_unit() {
    const WAITING: usize = 200;
    let app = spawn_app().await;
    let sale_id = queued_sale(&app, 3, json!({"mode": "fifo", "rate_per_second": 3}), None).await;
    let mut tickets = Vec::new();
    for i in 0..WAITING {
        let t: Value = join(&app, &sale_id, &format!("s{i}"))
            .await
            .json()
            .await
            .expect("a ticket");
        tickets.push(str_of(&t, "ticket_id").to_owned());
    }
    // A stream of the last ticket, which waits throughout.
    let mut stream = EventStream::new(
        app.get(&format!(
            "/api/v1/sales/{sale_id}/queue/{}/stream",
            tickets[WAITING - 1]
        ))
        .await,
    );
    assert_eq!(stream.next_event().await, "retry: 1000\n\n");
    let opening = stream.next_event().await;
    assert!(opening.contains("\"status\":\"waiting\""), "{opening}");
    // The first three buy.
    for (i, id) in tickets.iter().take(3).enumerate() {
        let t = until_status(&app, &sale_id, id, "admitted", Duration::from_secs(10)).await;
        let response = buy(
            &app,
            &sale_id,
            &format!("s{i}"),
            Some(str_of(&t, "purchase_token")),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let sold_out_at = Instant::now();
    // The stream hears it within the second (its follower polls every 100 ms).
    loop {
        let event = stream.next_event().await;
        if event.contains("\"status\":\"sold_out\"") {
            break;
        }
        assert!(
            event.starts_with(": heartbeat") || event.contains("waiting"),
            "{event}"
        );
    }
    assert!(
        sold_out_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        sold_out_at.elapsed()
    );
    // A read works its status out from the stock then and there: the first read of every
    // waiting ticket after the last unit says sold_out, however long the reads take on a busy
    // machine.
    let read: Vec<Value> = stream::iter(tickets.iter().skip(3))
        .map(|id| ticket(&app, &sale_id, id))
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    let waiting: Vec<&Value> = read.iter().filter(|t| t["status"] != "sold_out").collect();
    assert!(waiting.is_empty(), "{waiting:?}");
    // And nobody new gets a ticket.
    let late = join(&app, &sale_id, "latecomer").await;
    assert_eq!(late.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(late).await, "sold_out");
}

#[actix_web::test]
async fn tickets_and_positions_survive_an_api_restart() {
    let (mut first, address) = api_process();
    let app = TestApp::at(address).await;
    let sale_id = queued_sale(
        &app,
        10,
        json!({"mode": "fifo", "rate_per_second": 1}),
        Some(Duration::from_secs(3600)),
    )
    .await;
    let mut before = Vec::new();
    for user in ["a", "b", "c"] {
        before.push(
            join(&app, &sale_id, user)
                .await
                .json::<Value>()
                .await
                .expect("a ticket"),
        );
    }
    first.kill9();
    let (_second, address) = api_process();
    let app = TestApp::at(address).await;
    for t in &before {
        let after = ticket(&app, &sale_id, str_of(t, "ticket_id")).await;
        assert_eq!(&after, t);
        let again: Value = join(&app, &sale_id, str_of(t, "user_id"))
            .await
            .json()
            .await
            .expect("a ticket");
        assert_eq!(&again, t);
    }
}

#[actix_web::test]
async fn bad_admission_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let sale_id = unique_sale_id();
    for (admission, status, code) in [
        (json!({"mode": "lottery"}), 400, "invalid_request"),
        (json!({"mode": "fifo"}), 400, "invalid_request"),
        (
            json!({"mode": "fifo", "rate_per_second": 0}),
            400,
            "invalid_request",
        ),
        (
            json!({"mode": "fifo", "rate_per_second": 5, "token_seconds": 0}),
            400,
            "invalid_request",
        ),
        (
            json!({"mode": "open", "rate_per_second": 5}),
            400,
            "invalid_request",
        ),
        (
            json!({"mode": "fifo", "rate_per_second": 5, "extra": 1}),
            400,
            "invalid_request",
        ),
        (json!("fifo"), 400, "invalid_request"),
    ] {
        let response = app
            .put_sale(
                &sale_id,
                json!({"name": "x", "stock": 5, "admission": admission}),
            )
            .await;
        assert_eq!(response.status().as_u16(), status, "{admission}");
        assert_eq!(error_code(response).await, code, "{admission}");
    }
    let response = app
        .put_sale(
            &sale_id,
            json!({"name": "x", "stock": 5, "strategy": "locking",
                   "admission": {"mode": "fifo", "rate_per_second": 5}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await, "invalid_strategy");
    // None of it made the sale.
    assert_eq!(
        app.get(&format!("/api/v1/sales/{sale_id}")).await.status(),
        StatusCode::NOT_FOUND
    );

    // An open sale has no waiting room, shows its admission, and ignores tokens.
    let open = app.new_sale(5, 1).await;
    assert_eq!(
        app.sale(&open).await["admission"],
        json!({"mode": "open", "rate_per_second": 0, "token_seconds": 0})
    );
    let refused = join(&app, &open, "u").await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(refused).await, "no_waiting_room");

    let queued = queued_sale(
        &app,
        5,
        json!({"mode": "random", "rate_per_second": 7}),
        None,
    )
    .await;
    assert_eq!(
        app.sale(&queued).await["admission"],
        json!({"mode": "random", "rate_per_second": 7, "token_seconds": 300})
    );
    for (path, status, code) in [
        (
            format!("/api/v1/sales/{queued}/queue/not-a-uuid"),
            400,
            "invalid_request",
        ),
        (
            format!("/api/v1/sales/{queued}/queue/{}", uuid::Uuid::new_v4()),
            404,
            "ticket_not_found",
        ),
        (
            format!(
                "/api/v1/sales/{}/queue/{}",
                unique_sale_id(),
                uuid::Uuid::new_v4()
            ),
            404,
            "sale_not_found",
        ),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(error_code(response).await, code, "{path}");
    }
    for body in [
        json!({}),
        json!({"user_id": ""}),
        json!({"user_id": "u", "x": 1}),
    ] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/sales/{queued}/queue")))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(response).await, "invalid_request");
    }
    // Without a token, a sale with a waiting room sells nothing.
    let response = buy(&app, &queued, "u", None, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response).await, "token_missing");
    assert_eq!(app.remaining(&queued).await, 5);
}

#[actix_web::test]
async fn a_server_without_a_token_key_refuses_a_waiting_room() {
    let mut settings = test_settings();
    settings.token_secret = None;
    let app = crate::helpers::spawn_app_with(settings).await;
    let response = app
        .put_sale(
            &unique_sale_id(),
            json!({"name": "x", "stock": 5, "admission": {"mode": "fifo", "rate_per_second": 5}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "admission_not_configured");
}

#[actix_web::test]
async fn a_token_shown_by_one_process_buys_through_another() {
    let local = spawn_app().await;
    let (_process, address) = api_process();
    let other = TestApp::at(address).await;
    let sale_id = queued_sale(
        &local,
        5,
        json!({"mode": "fifo", "rate_per_second": 1000}),
        None,
    )
    .await;
    let t: Value = join(&other, &sale_id, "roamer")
        .await
        .json()
        .await
        .expect("a ticket");
    let t = until_status(
        &other,
        &sale_id,
        str_of(&t, "ticket_id"),
        "admitted",
        Duration::from_secs(10),
    )
    .await;
    // Both processes show the same token for the ticket.
    let read_here = ticket(&local, &sale_id, str_of(&t, "ticket_id")).await;
    assert_eq!(read_here["purchase_token"], t["purchase_token"]);
    let response = buy(
        &local,
        &sale_id,
        "roamer",
        Some(str_of(&t, "purchase_token")),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let used = ticket(&other, &sale_id, str_of(&t, "ticket_id")).await;
    assert_eq!(used["token_used"], true);
    assert_eq!(local.remaining(&sale_id).await, 4);
}

#[actix_web::test]
async fn random_tickets_taken_after_the_start_join_behind_the_draw_in_order() {
    const LOBBY: u64 = 30;
    let app = spawn_app().await;
    let sale_id = queued_sale(
        &app,
        100,
        json!({"mode": "random", "rate_per_second": 1}),
        Some(Duration::from_secs(3)),
    )
    .await;
    for i in 0..LOBBY {
        let response = join(&app, &sale_id, &format!("early{i}")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let sale = app.sale(&sale_id).await;
    let starts_at: DateTime<Utc> = str_of(&sale, "starts_at").parse().expect("a timestamp");
    let wait = (starts_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let mut late = Vec::new();
    for i in 0..5 {
        let t: Value = join(&app, &sale_id, &format!("late{i}"))
            .await
            .json()
            .await
            .expect("a ticket");
        late.push(str_of(&t, "ticket_id").to_owned());
    }
    // Once drawn (admission waits for it), the lobby holds places 1 to LOBBY, each once, and
    // the late tickets the places behind it, in the order they came.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ticket(&app, &sale_id, &late[0]).await["position"].as_u64() == Some(LOBBY + 1) {
        assert!(Instant::now() < deadline, "never admitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let places = places(&sale_id).await;
    let mut lobby: Vec<u64> = places
        .iter()
        .filter(|(id, _)| !late.contains(id))
        .map(|(_, place)| place.expect("the drawn lobby has places"))
        .collect();
    lobby.sort();
    assert_eq!(lobby, (1..=LOBBY).collect::<Vec<_>>());
    let behind: Vec<Option<u64>> = late.iter().map(|id| places[id]).collect();
    assert_eq!(
        behind,
        (LOBBY + 1..=LOBBY + 5).map(Some).collect::<Vec<_>>()
    );
}

/// Every ticket's place in the sale's waiting room, read from Redis behind the API's back
/// (`None` in a lobby before the draw).
async fn places(sale_id: &str) -> std::collections::HashMap<String, Option<u64>> {
    let records: std::collections::HashMap<String, String> =
        raw_redis(test_settings().redis_url.expose())
            .await
            .hgetall(format!("fs:{{{sale_id}}}:queue-tickets"))
            .await
            .expect("redis answers");
    records
        .into_iter()
        .map(|(id, record)| {
            let place = record.split('|').next().and_then(|p| p.parse().ok());
            (id, place)
        })
        .collect()
}

/// Admitters forget a sale whose waiting room is over; one that stepped a sale while a `PUT`
/// was creating it (the id already in the admitters' set, the sale not yet in Redis) found it
/// "over" and forgot it for good, so its waiting room never opened (seen once in CI as a lottery
/// never drawn). Sales created while many admitters step as often as they can must all stay
/// in the set the admitters read.
#[tokio::test]
async fn a_sale_created_while_admitters_step_keeps_its_waiting_room() {
    const SALES: usize = 300;
    const ADMITTERS: usize = 16;
    // A Redis of its own: only this test's admitters look at its sales.
    let private = PrivateRedis::start();
    let store = Store::new(&private.url, 4, Duration::from_secs(20)).expect("valid url");
    let stop = tokio_util::sync::CancellationToken::new();
    let admitters: Vec<_> = (0..ADMITTERS)
        .map(|_| tokio::spawn(admit_buyers(store.waiting_room(), stop.child_token())))
        .collect();
    let mut spec = SaleSpec::parse(
        "waiting room".into(),
        10,
        1,
        Some(Utc::now() + chrono::Duration::hours(1)),
        None,
    )
    .expect("valid");
    spec.admission = Admission::parse(AdmissionMode::Fifo, Some(10), None).expect("valid");
    let mut created = Vec::new();
    for _ in 0..SALES {
        let sale_id = SaleId::parse(&unique_sale_id()).expect("valid id");
        store
            .sales()
            .start_round(&sale_id, &RoundChange::Put(spec.clone()), 0)
            .await
            .expect("created");
        created.push(sale_id);
    }
    // Long enough for every admitter to step every sale a few times.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for admitter in admitters {
        admitter.await.expect("the admitter stops");
    }
    let tracked = store
        .waiting_room()
        .sale_ids()
        .await
        .expect("redis answers");
    let lost: Vec<_> = created.iter().filter(|id| !tracked.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {SALES} sales forgotten: {lost:?}",
        lost.len()
    );
}

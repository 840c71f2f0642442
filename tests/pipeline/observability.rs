//! `GET /metrics` of a real API process and a real worker process: valid Prometheus text, every
//! family listed, and counters that match the purchases the test made.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    free_port, sample, scrape, total, wait_until_listening, MetricSample, Process, TestApp, TOKEN,
};
use crate::monitoring::{dashboard_metrics, declared_families, Prometheus};
use crate::support::{start, wait_for, Pipeline, API_BIN, WORKER_BIN};

/// The families each process shows from its first scrape on.
const API_FAMILIES: &[&str] = &[
    "flashsale_actor_messages_total",
    "flashsale_actor_queue_depth",
    "flashsale_actor_handling_seconds",
    "flashsale_actor_errors_total",
    "flashsale_http_requests_total",
    "flashsale_http_request_duration_seconds",
    "flashsale_purchases_total",
    "flashsale_reservation_batch_size",
    "flashsale_stream_clients",
    "flashsale_stream_polled_sales",
    "flashsale_producer_batch_size",
    "flashsale_producer_publish_seconds",
    "flashsale_producer_errors_total",
    "flashsale_outbox_length",
    "flashsale_relay_republished_total",
    "flashsale_holds_ended_total",
    "flashsale_waitlist_offers_total",
    "flashsale_late_payments_refused_total",
];
const WORKER_FAMILIES: &[&str] = &[
    "flashsale_actor_messages_total",
    "flashsale_actor_queue_depth",
    "flashsale_actor_handling_seconds",
    "flashsale_actor_errors_total",
    "flashsale_actor_restarts_total",
    "flashsale_worker_consumed_total",
    "flashsale_worker_persisted_total",
    "flashsale_worker_duplicates_total",
    "flashsale_worker_contradicting_events_total",
    "flashsale_worker_dead_lettered_total",
    "flashsale_worker_batch_seconds",
    "flashsale_worker_consumer_lag",
    "flashsale_worker_commit_failures_total",
];

fn assert_families(samples: &[MetricSample], families: &[&str], process: &str) {
    for family in families {
        assert!(
            samples.iter().any(|s| s.family == *family),
            "{process} /metrics lacks {family}"
        );
    }
}

/// A purchase's id from its 202 body.
async fn accepted_id(response: reqwest::Response) -> Uuid {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("a JSON body");
    Uuid::parse_str(body["purchase_id"].as_str().expect("an id")).expect("a UUID")
}

#[actix_web::test]
async fn both_processes_expose_every_family_with_counts_that_match_the_sale() {
    let pipeline = Pipeline::new().await;
    let worker_port = free_port();
    let api_port = free_port();
    let mut env = pipeline.process_env();
    env.retain(|(name, _)| *name != "FLASHSALE_WORKER_HTTP_ADDR");
    env.push((
        "FLASHSALE_WORKER_HTTP_ADDR",
        format!("127.0.0.1:{worker_port}"),
    ));
    env.push(("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{api_port}")));
    env.push(("FLASHSALE_ADMIN_TOKEN", TOKEN.into()));
    let _worker = start(WORKER_BIN, &env);
    let _api = start(API_BIN, &env);
    let app = TestApp::at(format!("http://127.0.0.1:{api_port}")).await;
    let api_metrics = app.url("/metrics");
    let worker_metrics = format!("http://127.0.0.1:{worker_port}/metrics");

    // Every outcome once or more, in an order that makes each count certain.
    let sale = app.new_sale(10, 1).await;
    let mut accepted = HashSet::new();
    accepted.insert(accepted_id(app.purchase(&sale, "first", 1, Some("k1")).await).await);
    let replayed = accepted_id(app.purchase(&sale, "first", 1, Some("k1")).await).await;
    assert!(
        accepted.contains(&replayed),
        "a replay answers the same purchase"
    );
    let over_limit = app.purchase(&sale, "first", 1, None).await;
    assert_eq!(over_limit.status(), StatusCode::CONFLICT);
    let invalid = app
        .client
        .post(app.url(&format!("/api/v1/sales/{sale}/purchases")))
        .json(&serde_json::json!({"user_id": ""}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    for i in 0..9 {
        accepted
            .insert(accepted_id(app.purchase(&sale, &format!("buyer-{i}"), 1, None).await).await);
    }
    for i in 0..3 {
        let late = app.purchase(&sale, &format!("late-{i}"), 1, None).await;
        assert_eq!(late.status(), StatusCode::CONFLICT);
    }
    pipeline
        .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
        .await;

    let api = scrape(&app.client, &api_metrics).await;
    assert_families(&api, API_FAMILIES, "the API's");
    let purchases = |outcome| sample(&api, "flashsale_purchases_total", &[("outcome", outcome)]);
    assert_eq!(purchases("reserved"), Some(10.0));
    assert_eq!(purchases("duplicate"), Some(1.0));
    assert_eq!(purchases("limit_reached"), Some(1.0));
    assert_eq!(purchases("invalid"), Some(1.0));
    assert_eq!(purchases("sold_out"), Some(3.0));
    for outcome in ["sale_not_active", "not_found", "overloaded", "unavailable"] {
        assert_eq!(purchases(outcome), Some(0.0), "{outcome}");
    }
    let route = ("route", "/api/v1/sales/{sale_id}/purchases");
    let statuses = |status| {
        sample(
            &api,
            "flashsale_http_requests_total",
            &[route, ("status", status)],
        )
    };
    assert_eq!(statuses("202"), Some(11.0));
    assert_eq!(statuses("409"), Some(4.0));
    assert_eq!(statuses("400"), Some(1.0));
    assert_eq!(
        sample(&api, "flashsale_http_request_duration_seconds", &[route]),
        Some(16.0)
    );
    // 12 reached Redis for certain; the sold-out answers may come from the local flag that the
    // last unit's reservation raised, without an actor.
    let decided = total(&api, "flashsale_actor_messages_total")
        - sample(
            &api,
            "flashsale_actor_messages_total",
            &[("actor", "kafka_producer")],
        )
        .unwrap_or(0.0);
    assert!(
        (12.0..=15.0).contains(&decided),
        "reservations decided: {decided}"
    );
    assert!(sample(&api, "flashsale_producer_publish_seconds", &[]).unwrap_or(0.0) >= 10.0);
    assert_eq!(
        sample(
            &api,
            "flashsale_actor_errors_total",
            &[("actor", "reservation")]
        ),
        Some(0.0)
    );

    let worker = wait_for(
        "the worker's lag to reach 0",
        Duration::from_secs(15),
        || async {
            let worker = scrape(&app.client, &worker_metrics).await;
            (worker
                .iter()
                .any(|s| s.family == "flashsale_worker_consumer_lag")
                && total(&worker, "flashsale_worker_consumer_lag") == 0.0)
                .then_some(worker)
        },
    )
    .await;
    assert_families(&worker, WORKER_FAMILIES, "the worker's");
    assert_eq!(
        sample(&worker, "flashsale_worker_persisted_total", &[]),
        Some(10.0)
    );
    assert!(sample(&worker, "flashsale_worker_consumed_total", &[]).unwrap_or(0.0) >= 10.0);
    assert_eq!(
        sample(&worker, "flashsale_worker_dead_lettered_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&worker, "flashsale_actor_restarts_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&worker, "flashsale_worker_commit_failures_total", &[]),
        Some(0.0)
    );

    wait_for(
        "the outbox gauge to reach 0",
        Duration::from_secs(10),
        || async {
            let api = scrape(&app.client, &api_metrics).await;
            (sample(&api, "flashsale_outbox_length", &[]) == Some(0.0)).then_some(())
        },
    )
    .await;

    // Every metric the Grafana dashboard plots is one of these processes'. A family a process
    // lists only once it records one (the gauges of holds, waitlists and waiting rooms, which
    // this sale has none of; refusals by reason) must at least be one the code declares.
    let families: HashSet<&str> = api
        .iter()
        .chain(&worker)
        .map(|s| s.family.as_str())
        .collect();
    let declared = declared_families();
    let first_scrape: HashSet<&str> = API_FAMILIES
        .iter()
        .chain(WORKER_FAMILIES)
        .copied()
        .collect();
    for metric in dashboard_metrics() {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| metric.strip_suffix(suffix))
            .unwrap_or(&metric);
        let on_first_use = !first_scrape.contains(family) && declared.iter().any(|d| d == family);
        assert!(
            families.contains(family) || on_first_use,
            "the dashboard plots {metric}, which nobody exports"
        );
    }

    // Prometheus, with the shipped scrape config, scrapes both and sees the same numbers.
    let prometheus = Prometheus::start(api_port, worker_port);
    let up = format!("{}/api/v1/query?query=up", prometheus.url);
    wait_for(
        "Prometheus to scrape both processes",
        Duration::from_secs(30),
        || async {
            let answer: Value = app.client.get(&up).send().await.ok()?.json().await.ok()?;
            let jobs: HashSet<String> = answer["data"]["result"]
                .as_array()?
                .iter()
                .filter(|series| series["value"][1] == "1")
                .filter_map(|series| series["metric"]["job"].as_str().map(str::to_owned))
                .collect();
            (jobs.len() == 2 && jobs.contains("flashsale-api") && jobs.contains("flashsale-worker"))
                .then_some(())
        },
    )
    .await;
    let persisted = format!(
        "{}/api/v1/query?query=flashsale_worker_persisted_total",
        prometheus.url
    );
    let answer: Value = app
        .client
        .get(&persisted)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["data"]["result"][0]["value"][1], "10", "{answer}");
}

#[actix_web::test]
async fn purchases_log_json_lines_inside_a_span_that_names_the_purchase_and_the_sale() {
    let pipeline = Pipeline::new().await;
    let port = free_port();
    let (_api, logged) = api_with_json_logs(&pipeline, port, "flashsale=debug");
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = app.new_sale(5, 1).await;
    let purchase_id = accepted_id(app.purchase(&sale, "logged", 1, None).await).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let event = loop {
        let line = logged
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("a log line about the purchase within 10 s");
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            panic!("a log line that is not JSON: {line}");
        };
        if event["span"]["purchase_id"] == purchase_id.to_string() {
            break event;
        }
    };
    assert_eq!(event["span"]["name"], "purchase");
    assert_eq!(event["span"]["sale_id"], sale);
    assert_eq!(event["fields"]["message"], "purchase decided");
    assert_eq!(event["fields"]["outcome"], "reserved");
    assert_eq!(event["level"], "DEBUG");
}

/// An API process on `port` logging JSON lines at `level`, and its lines as they come.
fn api_with_json_logs(
    pipeline: &Pipeline,
    port: u16,
    level: &str,
) -> (Process, std::sync::mpsc::Receiver<String>) {
    let env = pipeline.process_env();
    let mut api = Process::spawn(
        Command::new(API_BIN)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("FLASHSALE_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("FLASHSALE_ADMIN_TOKEN", TOKEN)
            .env("FLASHSALE_SEED_SALES", "false")
            .env("FLASHSALE_LOG_FORMAT", "json")
            .env("RUST_LOG", level)
            .stdout(Stdio::piped()),
    );
    let stdout = api.take_stdout().expect("a piped stdout");
    let (lines, logged) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (api, logged)
}

#[actix_web::test]
async fn a_redis_outage_is_logged_once_when_it_starts_and_once_when_it_ends_not_per_batch() {
    let mut pipeline = Pipeline::new().await;
    let port = free_port();
    let (_api, logged) = api_with_json_logs(&pipeline, port, "flashsale=info");
    let app = TestApp::at(format!("http://127.0.0.1:{port}")).await;
    let sale = app.new_sale(1_000, 1).await;
    assert_eq!(
        app.purchase(&sale, "before", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    // Redis dies: every reservation batch fails, 100 purchases in waves of 10.
    pipeline.redis.process.kill9();
    let mut unavailable = 0;
    for wave in 0..10 {
        let answers = futures_util::future::join_all((0..10).map(|i| {
            let (app, sale) = (&app, &sale);
            async move {
                app.purchase(sale, &format!("down-{wave}-{i}"), 1, None)
                    .await
            }
        }))
        .await;
        unavailable += answers
            .iter()
            .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
            .count();
    }
    assert!(unavailable >= 90, "{unavailable} of 100 answered 503");

    // An empty Redis on the same port: the next reservation reaches it (the sale is gone).
    pipeline.redis.restart();
    wait_for("Redis to answer again", Duration::from_secs(15), || async {
        let status = app.purchase(&sale, "after", 1, None).await.status();
        (status != StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;

    // Every warning or error of the outage, once the lines up to a second after it are in.
    // (The request's own error line is the HTTP edge's: `flashsale::http` is left out here.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut warnings: Vec<String> = Vec::new();
    while let Ok(line) = logged.recv_timeout(Duration::from_millis(200)) {
        let event: Value = serde_json::from_str(&line).expect("JSON log lines");
        let target = event["target"].as_str().unwrap_or_default();
        if matches!(event["level"].as_str(), Some("WARN" | "ERROR"))
            && !target.starts_with("flashsale::http")
        {
            warnings.push(
                event["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    let distinct: HashSet<&String> = warnings.iter().collect();
    assert_eq!(
        distinct.len(),
        warnings.len(),
        "each thing that failed is logged once, not per batch or retry: {warnings:#?}"
    );
    assert!(
        warnings.iter().any(|m| m.starts_with("dependency down")),
        "the outage is logged: {warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .all(|m| !m.contains("reservation batch failed")),
        "{warnings:#?}"
    );
}

#[actix_web::test]
async fn librdkafka_retrying_a_broker_that_is_down_writes_one_line_per_10_s_not_one_per_attempt() {
    // Nothing listens there: librdkafka retries the connection at least once a second and,
    // unthrottled, writes two or three ERROR lines per attempt.
    let pipeline = Pipeline::with_brokers(format!("127.0.0.1:{}", free_port())).await;
    let port = free_port();
    let (_api, logged) = api_with_json_logs(&pipeline, port, "info");
    wait_until_listening(port, "the API");
    tokio::time::sleep(Duration::from_secs(6)).await;

    let mut kafka_lines = Vec::new();
    while let Ok(line) = logged.recv_timeout(Duration::from_millis(200)) {
        let event: Value = serde_json::from_str(&line).expect("JSON log lines");
        let target = event["target"].as_str().unwrap_or_default();
        if matches!(event["level"].as_str(), Some("WARN" | "ERROR"))
            && (target.starts_with("librdkafka") || target.starts_with("rdkafka"))
        {
            kafka_lines.push(event["fields"]["message"].to_string());
        }
    }
    assert_eq!(
        kafka_lines.len(),
        1,
        "the first of librdkafka's complaints is written, the rest of the 10 s held back: \
         {kafka_lines:#?}"
    );
}

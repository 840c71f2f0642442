//! Shared by the test binaries: `spawn_app`, typed request helpers, a private Redis.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use flashsale::domain::SaleId;
use flashsale::runtime::settings::Settings;
use flashsale::startup::api::Application;
use flashsale::store::Store;
use hmac::{Hmac, Mac};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-admin-token";
/// The payment webhook's secret of every test app.
pub const PAYMENT_SECRET: &str = "test-payment-secret";
/// The purchase tokens' key of every test app.
pub const TOKEN_SECRET: &str = "test-token-secret-of-32-bytes-ok";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    _stop: oneshot::Sender<()>,
}

/// A broker address where nothing listens: these tests check the reservation core, so every
/// reserved purchase must stay in its outbox, where the tests count it.
const NO_BROKER: &str = "127.0.0.1:1";

/// Settings for a test app: the stack's Redis (from `ops/stack env`), no broker, port 0, the
/// test token, no default sale.
pub fn test_settings() -> Settings {
    let mut settings = Settings::from_env().expect("valid FLASHSALE_* settings");
    settings.kafka.brokers = NO_BROKER.into();
    settings.http_addr = "127.0.0.1:0".parse().expect("valid address");
    settings.http_workers = 2;
    // The defaults (1 s per Redis call, 3 s per purchase) are for a machine that serves; on
    // one that also builds and runs every test at once, a call can take longer, and these
    // tests assert what is decided, not how fast. Tests of the timeouts set their own.
    settings.redis_timeout = Duration::from_secs(5);
    settings.pool.timeout = Duration::from_secs(10);
    settings.admin_token = Some(TOKEN.into());
    settings.payment_secret = Some(PAYMENT_SECRET.into());
    settings.token_secret = Some(TOKEN_SECRET.into());
    settings.seed.create = false;
    // Seed sales of its own, should a test create them.
    settings.seed.prefix = unique_sale_id();
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings()).await
}

impl TestApp {
    /// A client for an API that is already running (as a process) at `address`; waits until
    /// it answers.
    pub async fn at(address: String) -> Self {
        let store = Store::new(
            test_settings().redis_url.expose(),
            1,
            Duration::from_secs(2),
        )
        .expect("valid redis url");
        let (stop, _) = oneshot::channel();
        let app = TestApp {
            address,
            client: client(),
            store,
            _stop: stop,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while app.client.get(app.url("/healthz")).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the API at {} did not start",
                app.address
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        // The API closes a connection idle for 5 s (actix's keep-alive); a request sent on a
        // pooled connection just as it closes fails (IncompleteMessage). Dropping idle
        // connections first avoids the race.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("a client builds")
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let store = Store::new(settings.redis_url.expose(), 2, Duration::from_secs(2))
        .expect("valid redis url");
    let app = Application::build(settings).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    actix_web::rt::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client builds");
    TestApp {
        address,
        client,
        store,
        _stop: stop,
    }
}

/// A sale id no other test uses.
pub fn unique_sale_id() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates (or replaces) a sale with the admin token; panics unless 200/201.
    pub async fn create_sale(&self, sale_id: &str, body: Value) -> Value {
        let response = self.put_sale(sale_id, body).await;
        assert!(
            response.status().is_success(),
            "creating {sale_id}: {}",
            response.status()
        );
        response.json().await.expect("a sale body")
    }

    /// Resets a sale with the admin token (no body); panics unless 200.
    pub async fn reset_sale(&self, sale_id: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/admin/sales/{sale_id}/reset")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "resetting {sale_id}");
        response.json().await.expect("a sale body")
    }

    pub async fn put_sale(&self, sale_id: &str, body: Value) -> Response {
        self.client
            .put(self.url(&format!("/api/v1/admin/sales/{sale_id}")))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// A fresh sale with `stock` units and `limit` per user.
    pub async fn new_sale(&self, stock: u64, limit: u64) -> String {
        let sale_id = unique_sale_id();
        self.create_sale(
            &sale_id,
            json!({"name": "test sale", "stock": stock, "per_user_limit": limit}),
        )
        .await;
        sale_id
    }

    pub async fn purchase(
        &self,
        sale_id: &str,
        user_id: &str,
        quantity: u64,
        key: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/api/v1/sales/{sale_id}/purchases")))
            .json(&json!({"user_id": user_id, "quantity": quantity}));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// GETs `path` and returns its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    pub async fn sale(&self, sale_id: &str) -> Value {
        let response = self.get(&format!("/api/v1/sales/{sale_id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a sale body")
    }

    pub async fn remaining(&self, sale_id: &str) -> u64 {
        self.sale(sale_id).await["remaining"]
            .as_u64()
            .expect("remaining is a number")
    }

    /// `POST /api/v1/sales/{sale_id}/waitlist` with `body`.
    pub async fn join_waitlist(&self, sale_id: &str, body: Value) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/sales/{sale_id}/waitlist")))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// A waitlist entry as it stands; panics unless 200.
    pub async fn waitlist_entry(&self, sale_id: &str, entry_id: &str) -> Value {
        let response = self
            .get(&format!("/api/v1/sales/{sale_id}/waitlist/{entry_id}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("an entry")
    }

    pub async fn outbox_len(&self, sale_id: &str) -> u64 {
        let sale_id = SaleId::parse(sale_id).expect("valid id");
        self.store
            .outbox()
            .len(&sale_id)
            .await
            .expect("redis answers")
    }
}

/// Reads an error body and checks its shape: `{"error": code, "message": text}`.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.expect("a JSON error body");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error without a message: {body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "extra fields in {body}"
    );
    body["error"].as_str().expect("an error code").to_owned()
}

/// A free TCP port on loopback (free when asked; good enough for tests).
/// A plain connection to the Redis at `url`, for what a test reads or does behind the API's
/// back. Without redis-rs's default limit of 500 ms per answer: a test reading 20,000 holds
/// while every other test runs may wait longer, and a slow answer is not what it tests.
pub async fn raw_redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("valid url")
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .expect("redis answers")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Blocks until something accepts connections on `port`, for at most 20 s.
pub fn wait_until_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn spawn(command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
        Self { child }
    }

    /// The child's stdout, if it was spawned with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, for at most `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the process can be waited for")
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `redis-server` of the test's own, on a free port, killed when dropped.
pub struct PrivateRedis {
    pub url: String,
    pub process: Process,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = free_port();
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            process: Self::run(port),
        }
    }

    /// Kills Redis (`-9`) and starts an empty one on the same port: every connection to the
    /// old one is dead.
    pub fn restart(&mut self) {
        self.process.kill9();
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port in the url");
        self.process = Self::run(port);
    }

    fn run(port: u16) -> Process {
        let process = Process::spawn(
            Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null()),
        );
        wait_until_listening(port, "private redis");
        process
    }
}

/// Makes `count` purchases of one unit each, by distinct buyers, straight through the
/// reservation script in batches of 1,000 (for speed: no HTTP).
pub async fn reserve_directly(store: &Store, sale: &SaleId, count: usize) {
    use flashsale::domain::{Quantity, Reservation, UserId};
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<Reservation> = chunk
            .iter()
            .map(|i| Reservation {
                purchase_id: uuid::Uuid::new_v4(),
                sale_id: sale.clone(),
                user_id: UserId::parse(&format!("k{i}")).expect("valid user"),
                quantity: Quantity::parse(1).expect("valid quantity"),
                idempotency_key: None,
                token: None,
            })
            .collect();
        store
            .reservations()
            .reserve(sale, &batch)
            .await
            .expect("reserved");
    }
}

/// One sample of a scrape: its family, labels and value (for a histogram, its count).
pub struct MetricSample {
    pub family: String,
    pub labels: std::collections::HashMap<String, String>,
    pub value: f64,
}

/// Scrapes a `/metrics` endpoint; fails the test unless it answers Prometheus text that a
/// Prometheus parser accepts.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Vec<MetricSample> {
    use openmetrics_parser::PrometheusValue;
    let response = client.get(url).send().await.expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.expect("a text body");
    let exposition = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|error| panic!("invalid Prometheus text ({error:?}):\n{text}"));
    let mut samples = Vec::new();
    for (family, metrics) in &exposition.families {
        for metric in metrics.iter_samples() {
            let labels = metric.get_labelset().expect("a label set");
            samples.push(MetricSample {
                family: family.clone(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value: match &metric.value {
                    PrometheusValue::Unknown(v) | PrometheusValue::Gauge(v) => v.as_f64(),
                    PrometheusValue::Counter(counter) => counter.value.as_f64(),
                    PrometheusValue::Histogram(histogram) => histogram.count.unwrap_or(0) as f64,
                    PrometheusValue::Summary(summary) => summary.count.unwrap_or(0) as f64,
                },
            });
        }
    }
    samples
}

/// The value of `family{labels..}` (other labels may be there too), `None` when no sample
/// matches.
pub fn sample(samples: &[MetricSample], family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.family == family
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The sum of every sample of `family`, over all its label values.
pub fn total(samples: &[MetricSample], family: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.family == family)
        .map(|s| s.value)
        .sum()
}

/// The shop's signature, computed here independently of the API's code.
pub fn sign(secret: &str, timestamp: &str, purchase_id: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{purchase_id}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A payment call signed with `secret` at `timestamp`.
pub async fn pay_signed(
    app: &TestApp,
    purchase_id: &str,
    body: &str,
    secret: &str,
    timestamp: i64,
) -> Response {
    let timestamp = timestamp.to_string();
    app.client
        .post(app.url(&format!("/api/v1/purchases/{purchase_id}/payment")))
        .header("Content-Type", "application/json")
        .header("Flashsale-Timestamp", &timestamp)
        .header(
            "Flashsale-Signature",
            sign(secret, &timestamp, purchase_id, body),
        )
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent")
}

pub async fn pay(app: &TestApp, purchase_id: &str, payment_ref: &str) -> Response {
    let body = json!({ "payment_ref": payment_ref }).to_string();
    pay_signed(app, purchase_id, &body, PAYMENT_SECRET, now_secs()).await
}

/// Sends a call again while it answers 503 (its outcome unknown), as a client would: a retried
/// payment or cancel is idempotent. At most 20 times.
pub async fn until_answered<F, Fut>(mut call: F) -> Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    for _ in 0..20 {
        let response = call().await;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still 503 after 20 tries");
}

pub async fn cancel(
    app: &TestApp,
    purchase_id: &str,
    token: Option<&str>,
    admin: bool,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/purchases/{purchase_id}/cancel")));
    if let Some(token) = token {
        request = request.json(&json!({ "hold_token": token }));
    }
    if admin {
        request = request.bearer_auth(TOKEN);
    }
    request.send().await.expect("request sent")
}

/// A server-sent event stream, read one event at a time.
pub struct EventStream {
    response: Response,
    /// Text received but not yet split into events.
    pending: String,
}

impl EventStream {
    /// Reads `response`, which must be a `text/event-stream`.
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "text/event-stream"
        );
        Self {
            response,
            pending: String::new(),
        }
    }

    /// The next whole event (its lines, with the blank line that ends it), within 5 s.
    pub async fn next_event(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                return self.pending.drain(..end + 2).collect();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("an event within 5 s")
                .expect("the stream reads")
                .expect("the stream is open");
            self.pending
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        }
    }
}

//! What the pipeline tests share: an isolated pipeline, workers in process or as processes,
//! a private broker, a proxy that cuts a service off, and order counting.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flashsale::postgres::is_not_migrated;
use flashsale::runtime::settings::{DatabaseSettings, Settings, WorkerSettings};
use flashsale::startup::worker::{Worker, WorkerError};
use futures_util::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::helpers::{
    free_port, sample, scrape, test_settings, wait_until_listening, PrivateRedis, Process, TestApp,
};

/// Polls `check` every 100 ms until it returns `Some`, for at most `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One test's own Redis, topic, consumer group and database.
pub struct Pipeline {
    pub redis: PrivateRedis,
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub database_url: String,
    pub db: PgPool,
}

impl Pipeline {
    /// Uses the stack's broker (`FLASHSALE_KAFKA_BROKERS`).
    pub async fn new() -> Self {
        let brokers =
            std::env::var("FLASHSALE_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
        Self::with_brokers(brokers).await
    }

    pub async fn with_brokers(brokers: String) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let base = std::env::var("FLASHSALE_DATABASE_URL")
            .expect("FLASHSALE_DATABASE_URL (ops/stack env)");
        let name = format!("fs_test_{id}");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await
            .expect("postgres answers");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("database created");
        admin.close().await;
        let (prefix, _) = base.rsplit_once('/').expect("a database url");
        let database_url = format!("{prefix}/{name}");
        let db = PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(&database_url)
            .expect("valid url");
        Self {
            redis: PrivateRedis::start(),
            brokers,
            topic: format!("fs-test-{id}.purchases"),
            group: format!("fs-test-{id}"),
            database_url,
            db,
        }
    }

    /// API settings on this pipeline: the outbox relay looks for entries older than 1 s.
    pub fn api_settings(&self) -> Settings {
        let mut settings = test_settings();
        settings.redis_url = self.redis.url.as_str().into();
        settings.database.url = self.database_url.as_str().into();
        settings.kafka.brokers = self.brokers.clone();
        settings.kafka.topic = self.topic.clone();
        settings.kafka.partitions = 2;
        settings.relay.min_age = Duration::from_secs(1);
        settings.relay.interval = Duration::from_millis(200);
        settings
    }

    /// A small pool on this pipeline's database, for tests that read it through the library.
    pub fn database_settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.as_str().into(),
            pool_size: 1,
            timeout: Duration::from_secs(5),
        }
    }

    pub fn worker_settings(&self) -> WorkerSettings {
        let mut settings = WorkerSettings::from_env().expect("valid FLASHSALE_* settings");
        settings.http_addr = "127.0.0.1:0".parse().expect("valid address");
        settings.database.url = self.database_url.as_str().into();
        settings.kafka.brokers = self.brokers.clone();
        settings.kafka.topic = self.topic.clone();
        settings.kafka.partitions = 2;
        settings.group_id = self.group.clone();
        settings
    }

    /// Environment for a worker or API process on this pipeline.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FLASHSALE_REDIS_URL", self.redis.url.clone()),
            ("FLASHSALE_DATABASE_URL", self.database_url.clone()),
            ("FLASHSALE_KAFKA_BROKERS", self.brokers.clone()),
            ("FLASHSALE_KAFKA_TOPIC", self.topic.clone()),
            ("FLASHSALE_KAFKA_PARTITIONS", "2".into()),
            ("FLASHSALE_WORKER_GROUP", self.group.clone()),
            ("FLASHSALE_WORKER_HTTP_ADDR", "127.0.0.1:0".into()),
            ("FLASHSALE_SEED_SALES", "false".into()),
            ("FLASHSALE_OUTBOX_RELAY_AGE_MS", "1000".into()),
            ("FLASHSALE_OUTBOX_RELAY_INTERVAL_MS", "200".into()),
            ("RUST_LOG", "warn".into()),
        ]
    }

    /// The purchase ids persisted for a sale's round, with how many rows they took.
    pub async fn orders(&self, sale_id: &str, round: i64) -> (HashSet<Uuid>, usize) {
        // Before the worker applied its migrations there is no table: no orders yet.
        let ids: Vec<Uuid> =
            sqlx::query_scalar("SELECT purchase_id FROM orders WHERE sale_id = $1 AND round = $2")
                .bind(sale_id)
                .bind(round)
                .fetch_all(&self.db)
                .await
                .or_else(|e| {
                    if is_not_migrated(&e) {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                })
                .expect("the orders query runs");
        let rows = ids.len();
        (ids.into_iter().collect(), rows)
    }

    /// A purchase as Postgres keeps it: its state and version in `orders`, and its history
    /// as (version, state), oldest first; `None` while it has no order (or no table yet).
    pub async fn order_state(&self, purchase_id: Uuid) -> Option<OrderState> {
        let current: Result<Option<(String, i32)>, _> =
            sqlx::query_as("SELECT state, version FROM orders WHERE purchase_id = $1")
                .bind(purchase_id)
                .fetch_optional(&self.db)
                .await;
        let (state, version) = match current {
            Err(e) if is_not_migrated(&e) => return None,
            other => other.expect("the orders query runs")?,
        };
        let history: Vec<(i32, String)> = sqlx::query_as(
            "SELECT version, state FROM order_history WHERE purchase_id = $1 ORDER BY version",
        )
        .bind(purchase_id)
        .fetch_all(&self.db)
        .await
        .expect("the history query runs");
        Some(OrderState {
            state,
            version,
            history,
        })
    }

    /// Waits until a purchase's state in Postgres is `state`; returns it with its history.
    pub async fn wait_for_state(&self, purchase_id: Uuid, state: &str) -> OrderState {
        wait_for(
            &format!("purchase {purchase_id} to be {state} in Postgres"),
            Duration::from_secs(20),
            || async {
                self.order_state(purchase_id)
                    .await
                    .filter(|order| order.state == state)
            },
        )
        .await
    }

    /// Sessions on this pipeline's database waiting for their client inside a transaction
    /// that locked partition leases: a worker frozen mid-batch.
    pub async fn sessions_frozen_on_leases(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(DISTINCT activity.pid) FROM pg_stat_activity activity \
             JOIN pg_locks lock ON lock.pid = activity.pid \
             WHERE activity.datname = current_database() \
               AND activity.state = 'idle in transaction' \
               AND lock.relation = 'partition_leases'::regclass",
        )
        .fetch_one(&self.db)
        .await
        .expect("pg_stat_activity reads")
    }

    /// Waits until the round's orders are exactly `expected`, one row each.
    pub async fn wait_for_orders(
        &self,
        sale_id: &str,
        round: i64,
        expected: &HashSet<Uuid>,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        let (ids, rows) = loop {
            let (ids, rows) = self.orders(sale_id, round).await;
            if ids.len() >= expected.len() || Instant::now() >= deadline {
                break (ids, rows);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(rows, ids.len(), "a purchase was persisted twice");
        let missing = expected.difference(&ids).count();
        let unexpected = ids.difference(expected).count();
        assert_eq!(
            (missing, unexpected),
            (0, 0),
            "after {timeout:?}: {} of {} accepted purchases persisted",
            expected.len() - missing,
            expected.len()
        );
    }
}

/// A purchase's state in `orders` and its rows in `order_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub state: String,
    pub version: i32,
    pub history: Vec<(i32, String)>,
}

/// A worker running inside the test process.
pub struct InProcessWorker {
    stop: Option<oneshot::Sender<()>>,
    done: actix_web::rt::task::JoinHandle<Result<(), WorkerError>>,
    pub stats: std::sync::Arc<flashsale::worker::stats::WorkerStats>,
}

pub async fn spawn_worker(settings: WorkerSettings) -> InProcessWorker {
    let worker = Worker::build(settings).await.expect("the worker builds");
    let stats = worker.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = actix_web::rt::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    InProcessWorker {
        stop: Some(stop),
        done,
        stats,
    }
}

impl InProcessWorker {
    pub async fn stop(mut self) -> Result<(), WorkerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.done).await.expect("the worker task ends")
    }
}

/// Starts one of the project's binaries with `env`; its logs (stdout) show in the test output
/// at the level the env sets.
pub fn start(binary: &str, env: &[(&'static str, String)]) -> Process {
    Process::spawn(
        Command::new(binary)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::inherit()),
    )
}

pub const WORKER_BIN: &str = env!("CARGO_BIN_EXE_flashsale-worker");
pub const API_BIN: &str = env!("CARGO_BIN_EXE_flashsale-api");

/// A tansu broker of the test's own, with sqlite storage in a temporary folder, so it can be
/// stopped and started again with its data.
pub struct PrivateBroker {
    pub port: u16,
    dir: PathBuf,
    process: Option<Process>,
}

impl PrivateBroker {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("fs-broker-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a broker folder");
        let mut broker = Self {
            port: free_port(),
            dir,
            process: None,
        };
        broker.resume();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on its port and data.
    pub fn resume(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        self.process = Some(Process::spawn(
            Command::new(tansu_binary())
                .current_dir(&self.dir)
                .args(["broker", "--storage-engine", "sqlite://tansu.db"])
                .args([
                    "--listener-url",
                    &listener,
                    "--advertised-listener-url",
                    &listener,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        wait_until_listening(self.port, "private broker");
    }

    /// Kills the broker (its data stays).
    pub fn halt(&mut self) {
        self.process = None;
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tansu_binary() -> String {
    let in_cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"))
        .join("bin/tansu");
    if in_cargo_home.exists() {
        in_cargo_home.to_string_lossy().into_owned()
    } else {
        "tansu".into()
    }
}

/// Every purchase id in `sets`.
/// A TCP proxy in front of a real service (Redis, PostgreSQL), to cut a process off from it:
/// while cut, the connections through it are closed and new ones are closed as soon as they
/// are accepted, as when the service is down; restored, connections pass again to the same
/// service with its data. The proxy runs on the test's runtime, so it serves while the test
/// awaits.
pub struct FaultProxy {
    pub port: u16,
    up: tokio::sync::watch::Sender<bool>,
    accepting: actix_web::rt::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        let (up, watching) = tokio::sync::watch::channel(true);
        let accepting = actix_web::rt::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut up = watching.clone();
                if !*up.borrow() {
                    continue;
                }
                let target = target.clone();
                actix_web::rt::spawn(async move {
                    let Ok(mut service) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut service) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            port,
            up,
            accepting,
        }
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a url with a scheme");
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map_or("", |slash| &rest[slash..]);
        format!("{scheme}://{credentials}127.0.0.1:{}{path}", self.port)
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// The `host:port` of a service's url.
pub fn address_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

pub fn union(sets: &[&HashSet<Uuid>]) -> HashSet<Uuid> {
    sets.iter().flat_map(|set| set.iter().copied()).collect()
}

/// Fires `count` purchases by distinct users (`<prefix>-<i>`), `concurrency` at a time, and
/// returns the ids of the accepted ones. Every answer must be 202 or 409 sold_out.
pub async fn buy(
    app: &TestApp,
    sale: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> HashSet<Uuid> {
    let mut accepted = HashSet::new();
    let users: Vec<usize> = (0..count).collect();
    for wave in users.chunks(concurrency.max(1)) {
        let answers = join_all(wave.iter().map(|i| async move {
            let response = app.purchase(sale, &format!("{prefix}-{i}"), 1, None).await;
            let status = response.status();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }))
        .await;
        for (status, body) in answers {
            match status {
                StatusCode::ACCEPTED => {
                    let id = body["purchase_id"]
                        .as_str()
                        .and_then(|id| Uuid::parse_str(id).ok());
                    accepted.insert(id.expect("a purchase id"));
                }
                StatusCode::CONFLICT => assert_eq!(body["error"], "sold_out"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    accepted
}

/// Sells in waves of 20 while `event` runs, and one last wave after it; returns every
/// accepted purchase id.
/// One unit held by each of `users` on `sale` (a sale with holds): each purchase's id and
/// `hold_token`, in the order of `users`.
pub async fn hold_one_each(app: &TestApp, sale: &str, users: &[&str]) -> Vec<(String, String)> {
    let mut holds = Vec::new();
    for user in users {
        let body: Value = app
            .purchase(sale, user, 1, None)
            .await
            .json()
            .await
            .expect("a purchase");
        let id = body["purchase_id"].as_str().expect("an id").to_owned();
        holds.push((id, body["hold_token"].as_str().expect("a token").to_owned()));
    }
    holds
}

pub async fn sell_during(
    app: &TestApp,
    sale: &str,
    event: impl std::future::Future<Output = ()>,
) -> HashSet<Uuid> {
    let done = AtomicBool::new(false);
    let seller = async {
        let mut accepted = HashSet::new();
        for wave in 0.. {
            let finished = done.load(Ordering::Relaxed);
            accepted.extend(buy(app, sale, &format!("wave{wave}"), 20, 20).await);
            if finished {
                break;
            }
        }
        accepted
    };
    let trigger = async {
        event.await;
        done.store(true, Ordering::Relaxed);
    };
    tokio::join!(seller, trigger).0
}

/// Waits until the producer of the API at `app` holds `count` events in flight (read from the
/// outbox, not yet acknowledged): for an API without a broker, everything it reserved.
pub async fn wait_until_in_flight(app: &TestApp, count: u32) {
    wait_for(
        &format!("the producer to hold {count} events in flight"),
        Duration::from_secs(10),
        || async {
            let metrics = scrape(&app.client, &app.url("/metrics")).await;
            let depth = sample(
                &metrics,
                "flashsale_actor_queue_depth",
                &[("actor", "kafka_producer")],
            );
            (depth == Some(f64::from(count))).then_some(())
        },
    )
    .await;
}

/// A plain producer, to publish events by hand.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("a producer")
}

/// Publishes one message and waits for the broker's acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .expect("the broker acknowledges");
}

//! Cheap anonymous reads cost PostgreSQL a bounded amount: the app talks to the stack's
//! PostgreSQL through a proxy that counts the statements it sends.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flashsale::http::pipeline::PIPELINE_TTL;
use flashsale::runtime::settings::Settings;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::helpers::{error_code, spawn_app_with, test_settings};

/// A TCP proxy in front of the stack's PostgreSQL that counts the statements clients run
/// through it: each `Execute` (extended protocol) and `Query` (simple protocol) message.
struct CountingPostgres {
    port: u16,
    statements: Arc<AtomicU64>,
    accepting: actix_web::rt::task::JoinHandle<()>,
}

impl CountingPostgres {
    async fn start() -> Self {
        let target = postgres_address(&database_url());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        let statements = Arc::new(AtomicU64::new(0));
        let counted = statements.clone();
        let accepting = actix_web::rt::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                actix_web::rt::spawn(relay(client, server, counted.clone()));
            }
        });
        Self {
            port,
            statements,
            accepting,
        }
    }

    /// Test settings whose database is reached through this proxy (without TLS, so the proxy
    /// can read the messages).
    fn settings(&self) -> Settings {
        let url = database_url();
        let (credentials, rest) = url.rsplit_once('@').expect("a url with credentials");
        let path = rest.find('/').map_or("", |slash| &rest[slash..]);
        let mut settings = test_settings();
        settings.database.url = format!(
            "{credentials}@127.0.0.1:{}{path}?sslmode=disable",
            self.port
        )
        .into();
        settings
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }
}

impl Drop for CountingPostgres {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

fn database_url() -> String {
    std::env::var("FLASHSALE_DATABASE_URL").expect("FLASHSALE_DATABASE_URL (ops/stack env)")
}

/// The `host:port` of a PostgreSQL url.
fn postgres_address(url: &str) -> String {
    let rest = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// Passes bytes both ways, counting the client's statements as they pass.
async fn relay(client: TcpStream, server: TcpStream, statements: Arc<AtomicU64>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    actix_web::rt::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    let mut pending = Vec::new();
    // The first message (startup, or a TLS request before it) has no type byte.
    let mut started = false;
    let mut chunk = [0u8; 8192];
    while let Ok(read) = from_client.read(&mut chunk).await {
        if read == 0 || to_server.write_all(&chunk[..read]).await.is_err() {
            return;
        }
        pending.extend_from_slice(&chunk[..read]);
        loop {
            let header = if started { 5 } else { 4 };
            if pending.len() < header {
                break;
            }
            let length = &pending[header - 4..header];
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            let whole = header - 4 + length as usize;
            if pending.len() < whole {
                break;
            }
            if started && matches!(pending[0], b'E' | b'Q') {
                statements.fetch_add(1, Ordering::SeqCst);
            }
            // 80877103: a TLS request, refused under sslmode=disable; the startup follows.
            let tls_request = !started && pending.get(4..8) == Some(&[4, 210, 22, 47][..]);
            started = started || !tls_request;
            pending.drain(..whole);
        }
    }
}

/// A UUIDv7 stamped `ahead` after now.
fn stamped_ahead(ahead: Duration) -> Uuid {
    let since = (SystemTime::now() + ahead)
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    let stamp = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
    Uuid::new_v7(stamp)
}

#[actix_web::test]
async fn lookups_of_ids_flashsale_never_issues_answer_not_found_without_postgresql() {
    let postgres = CountingPostgres::start().await;
    let app = spawn_app_with(postgres.settings()).await;
    let sale = app.new_sale(5, 1).await;
    let bought = app.purchase(&sale, "reader", 1, None).await;
    assert_eq!(bought.status(), StatusCode::ACCEPTED);
    let bought: Value = bought.json().await.expect("a body");
    let id = bought["purchase_id"].as_str().expect("an id");
    let read = app.get(&format!("/api/v1/purchases/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);

    let before = postgres.statements();
    for round in 0..10 {
        let lookups = join_all((0..100).map(|i| {
            // Half random (v4), half v7 stamped an hour or more ahead.
            let id = if i % 2 == 0 {
                Uuid::new_v4()
            } else {
                stamped_ahead(Duration::from_secs(3600 + round * 100 + i))
            };
            let app = &app;
            async move { app.get(&format!("/api/v1/purchases/{id}")).await }
        }))
        .await;
        for lookup in lookups {
            assert_eq!(lookup.status(), StatusCode::NOT_FOUND);
            assert_eq!(error_code(lookup).await, "purchase_not_found");
        }
    }
    assert_eq!(postgres.statements(), before, "1,000 impossible ids");

    // An id flashsale could have issued is still looked up in PostgreSQL, and still not found.
    let unknown = app
        .get(&format!("/api/v1/purchases/{}", Uuid::now_v7()))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "purchase_not_found");
    assert!(postgres.statements() > before);
}

#[actix_web::test]
async fn a_flood_of_stats_reads_each_listed_sale_at_most_once_per_ttl() {
    let postgres = CountingPostgres::start().await;
    let app = spawn_app_with(postgres.settings()).await;
    let sale = app.new_sale(5, 1).await;
    assert_eq!(
        app.purchase(&sale, "counted", 1, None).await.status(),
        StatusCode::ACCEPTED
    );

    let before = postgres.statements();
    let started = Instant::now();
    let mut listed = HashSet::new();
    for _ in 0..4 {
        let answers = join_all((0..50).map(|_| app.get_json("/api/v1/stats"))).await;
        for stats in answers {
            for sale in stats["pipeline"].as_array().expect("a pipeline") {
                listed.insert(sale["sale_id"].as_str().expect("an id").to_owned());
            }
        }
    }
    let statements = postgres.statements() - before;
    // Each listed sale is read at most once per TTL that began while the flood ran (one
    // statement: its orders summed, or its stock row); without the cache, once per request.
    let windows = (started.elapsed().as_secs_f64() / PIPELINE_TTL.as_secs_f64()).ceil();
    let bound = listed.len() as u64 * (windows as u64 + 1);
    assert!(
        statements <= bound,
        "200 stats over {} sales in {:?}: {statements} statements, bound {bound}",
        listed.len(),
        started.elapsed()
    );
    assert!(statements > 0, "the persisted units are still counted");
}

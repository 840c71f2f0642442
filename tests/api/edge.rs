//! The HTTP edge against real sockets: bodies that stall, chunked bodies, oversized heads, the
//! listen backlog, the admin prefix. Raw TCP, because an HTTP client would not send these.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{error_code, spawn_app, spawn_app_with, test_settings, TestApp, TOKEN};

/// The body timeout these tests run with: short, so a test that waits for it stays short.
const BODY_TIMEOUT: Duration = Duration::from_millis(800);
/// actix's `client_disconnect_timeout`: after an answer that closes the connection, how long the
/// server waits for the client to close first.
const LINGER: Duration = Duration::from_secs(1);
/// Slack for a loaded machine (two cores, other builds running).
const SLACK: Duration = Duration::from_secs(2);

async fn spawn_with_body_timeout(timeout: Duration) -> TestApp {
    let mut settings = test_settings();
    settings.http_body_timeout = timeout;
    spawn_app_with(settings).await
}

fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port in the address")
}

/// One raw connection to the app.
struct Raw {
    stream: TcpStream,
    read: Vec<u8>,
}

/// A response as read off the socket.
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!("a JSON body, got {:?}", String::from_utf8_lossy(&self.body))
        })
    }

    fn error_code(&self) -> String {
        let body = self.json();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        body["error"].as_str().expect("an error code").to_owned()
    }
}

impl Raw {
    async fn connect(app: &TestApp) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port(app)))
            .await
            .expect("connects");
        Self {
            stream,
            read: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("sent");
    }

    /// Reads one response (head, and a body of its `Content-Length`), within `within`.
    async fn response(&mut self, within: Duration) -> RawResponse {
        tokio::time::timeout(within, self.read_response())
            .await
            .unwrap_or_else(|_| panic!("no response within {within:?}"))
    }

    async fn read_response(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(at) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(self.fill().await > 0, "closed before a response");
        };
        let head = String::from_utf8_lossy(&self.read[..head_end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .expect("a status line");
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while self.read.len() < head_end + length {
            assert!(self.fill().await > 0, "closed inside a response body");
        }
        let body = self.read[head_end..head_end + length].to_vec();
        self.read.drain(..head_end + length);
        RawResponse { status, head, body }
    }

    async fn fill(&mut self) -> usize {
        let mut buffer = [0u8; 4096];
        match self.stream.read(&mut buffer).await {
            Ok(n) => {
                self.read.extend_from_slice(&buffer[..n]);
                n
            }
            // A reset is the server closing too.
            Err(_) => 0,
        }
    }

    /// Waits until the server closes the connection, for at most `within`.
    async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.fill().await > 0 {} })
            .await
            .is_ok()
    }
}

fn post_head(path: &str, extra_headers: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra_headers}\r\n"
    )
}

#[actix_web::test]
async fn a_body_that_stops_arriving_gets_408_within_the_timeout_and_the_connection_is_closed() {
    let app = spawn_with_body_timeout(BODY_TIMEOUT).await;
    let sale = app.new_sale(10, 1).await;
    let mut conn = Raw::connect(&app).await;
    let started = Instant::now();
    conn.send(
        post_head(
            &format!("/api/v1/sales/{sale}/purchases"),
            "Content-Length: 100\r\n",
        )
        .as_bytes(),
    )
    .await;
    conn.send(br#"{"user_id""#).await;

    let response = conn.response(BODY_TIMEOUT + SLACK).await;
    let answered = started.elapsed();
    assert_eq!(response.status, 408);
    assert_eq!(response.error_code(), "request_timeout");
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        response.head
    );
    assert!(answered >= BODY_TIMEOUT, "answered after {answered:?}");
    assert!(
        conn.closed_within(LINGER + SLACK).await,
        "the connection stays open"
    );
    assert_eq!(app.remaining(&sale).await, 10, "nothing was taken");
}

#[actix_web::test]
async fn routes_that_do_not_read_a_body_cannot_be_held_by_a_stalled_one() {
    let app = spawn_with_body_timeout(BODY_TIMEOUT).await;
    for head in [
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n".to_owned(),
        post_head("/api/v1/nowhere", "Content-Length: 100\r\n"),
        post_head("/api/v1/admin/sales/x", "Content-Length: 100\r\n"),
    ] {
        let mut conn = Raw::connect(&app).await;
        conn.send(head.as_bytes()).await;
        conn.send(b"0123456789").await;
        let response = conn.response(BODY_TIMEOUT + SLACK).await;
        assert_eq!(
            (response.status, response.error_code().as_str()),
            (408, "request_timeout"),
            "{head}"
        );
        assert!(
            conn.closed_within(LINGER + SLACK).await,
            "{head}: still open"
        );
    }
}

#[actix_web::test]
async fn a_chunked_body_is_refused_at_once_however_large_it_announces_itself() {
    // A long body timeout: an answer within SLACK cannot be the timeout's.
    let app = spawn_with_body_timeout(Duration::from_secs(30)).await;
    let sale = app.new_sale(10, 1).await;
    for path in [
        format!("/api/v1/sales/{sale}/purchases"),
        "/api/v1/nowhere".to_owned(),
    ] {
        let mut conn = Raw::connect(&app).await;
        let started = Instant::now();
        conn.send(post_head(&path, "Transfer-Encoding: chunked\r\n").as_bytes())
            .await;
        conn.send(b"8000000000000000\r\n").await;
        let response = conn.response(SLACK).await;
        assert!(started.elapsed() < SLACK);
        assert_eq!(
            (response.status, response.error_code().as_str()),
            (411, "length_required"),
            "{path}"
        );
        // The client keeps sending: the connection is closed all the same, not drained.
        let trickle = async {
            loop {
                if conn.stream.write_all(&[b'x'; 64]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let _ = tokio::time::timeout(LINGER + SLACK, trickle).await;
        assert!(
            conn.closed_within(Duration::from_millis(100)).await,
            "{path}: still open"
        );
    }
    assert_eq!(app.remaining(&sale).await, 10);
}

#[actix_web::test]
async fn a_declared_body_over_the_limit_is_refused_at_once() {
    let app = spawn_with_body_timeout(Duration::from_secs(30)).await;
    let mut conn = Raw::connect(&app).await;
    conn.send(post_head("/api/v1/sales/x/purchases", "Content-Length: 4097\r\n").as_bytes())
        .await;
    let response = conn.response(SLACK).await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (413, "payload_too_large")
    );
    assert!(conn.closed_within(LINGER + SLACK).await);
}

#[actix_web::test]
async fn two_hundred_stalled_connections_are_all_answered_and_closed_within_the_timeout() {
    const CONNECTIONS: usize = 200;
    let app = spawn_with_body_timeout(BODY_TIMEOUT).await;
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut conn = Raw::connect(&app).await;
        conn.send(post_head("/api/v1/sales/x/purchases", "Content-Length: 100\r\n").as_bytes())
            .await;
        conn.send(b"0123456789").await;
        connections.push(conn);
    }
    let started = Instant::now();
    let outcomes =
        futures_util::future::join_all(connections.into_iter().map(|mut conn| async move {
            let response = conn.response(BODY_TIMEOUT + SLACK).await;
            (response.status, conn.closed_within(LINGER + SLACK).await)
        }))
        .await;
    let bound = BODY_TIMEOUT + LINGER + SLACK;
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
    assert!(outcomes
        .iter()
        .all(|&(status, closed)| status == 408 && closed));
}

#[actix_web::test]
async fn heads_over_the_proxy_limits_get_431_or_414_with_the_json_shape() {
    let app = spawn_app().await;
    let line = "x".repeat(9 * 1024);
    let seven_kib = "y".repeat(7 * 1024);
    let cases = [
        (
            "a header line over 8 KiB",
            format!("GET /healthz HTTP/1.1\r\nHost: l\r\nX-Big: {line}\r\n\r\n"),
            431,
            "header_too_large",
        ),
        (
            "a head over 32 KiB in lines under 8 KiB",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: l\r\n{}\r\n",
                (0..5)
                    .map(|i| format!("X-Part-{i}: {seven_kib}\r\n"))
                    .collect::<String>()
            ),
            431,
            "header_too_large",
        ),
        (
            "a target over 8 KiB",
            format!("GET /healthz?{line} HTTP/1.1\r\nHost: l\r\n\r\n"),
            414,
            "uri_too_long",
        ),
    ];
    for (what, request, status, code) in cases {
        let mut conn = Raw::connect(&app).await;
        conn.send(request.as_bytes()).await;
        let response = conn.response(SLACK).await;
        assert_eq!(
            (response.status, response.error_code().as_str()),
            (status, code),
            "{what}"
        );
    }
}

/// These actix-http refuses itself, before any of our code runs: the status is right, the body
/// is empty (docs/API.md, section 1, lists them).
#[actix_web::test]
async fn what_actix_refuses_itself_gets_the_documented_status_without_a_body() {
    let app = spawn_app().await;
    let many: String = (0..97).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = "z".repeat(130 * 1024);
    let cases = [
        (
            "97 headers",
            format!("GET /healthz HTTP/1.1\r\nHost: l\r\n{many}\r\n"),
            431,
        ),
        (
            "a head over 128 KiB",
            format!("GET /healthz HTTP/1.1\r\nHost: l\r\nX-Huge: {huge}\r\n\r\n"),
            431,
        ),
        ("no Host", "GET /healthz HTTP/1.1\r\n\r\n".to_owned(), 400),
        (
            "a bad request line",
            "GET /healthz HTTP/9\r\nHost: l\r\n\r\n".to_owned(),
            400,
        ),
        (
            "a bad header byte",
            "GET /healthz HTTP/1.1\r\nHost: l\r\nX-Bad: a\x01b\r\n\r\n".to_owned(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let mut conn = Raw::connect(&app).await;
        // The server may answer and close before it has read all of a huge head.
        let _ = conn.stream.write_all(request.as_bytes()).await;
        let response = conn.response(SLACK).await;
        assert_eq!(response.status, status, "{what}");
        assert!(response.body.is_empty(), "{what}");
    }
}

#[actix_web::test]
async fn the_listen_backlog_is_the_configured_one_capped_by_somaxconn() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("somaxconn is readable")
        .trim()
        .parse()
        .expect("a number");
    for backlog in [1000, 4096] {
        let mut settings = test_settings();
        settings.http_backlog = backlog;
        let app = spawn_app_with(settings).await;
        let filter = format!("sport = :{}", port(&app));
        let output = std::process::Command::new("ss")
            .args(["-ltnH", &filter])
            .output()
            .expect("ss runs");
        let listing = String::from_utf8_lossy(&output.stdout);
        // State, Recv-Q, Send-Q (the backlog of a listening socket), local, peer.
        let send_q: u32 = listing
            .split_whitespace()
            .nth(2)
            .and_then(|column| column.parse().ok())
            .unwrap_or_else(|| panic!("no listening socket in {listing:?}"));
        assert_eq!(send_q, backlog.min(somaxconn), "{listing}");
    }
}

#[actix_web::test]
async fn every_path_under_the_admin_prefix_is_401_without_the_token() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/admin",
        "/api/v1/admin/",
        "/api/v1/admin/nothing/here",
    ] {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(anonymous).await, "unauthorized");
        let wrong = app
            .client
            .get(app.url(path))
            .bearer_auth("guess")
            .send()
            .await
            .expect("sent");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let admin = app
            .client
            .get(app.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            admin.status(),
            StatusCode::NOT_FOUND,
            "{path} with the token"
        );
        assert_eq!(error_code(admin).await, "not_found");
    }
    let beside = app.get("/api/v1/administrator").await;
    assert_eq!(
        beside.status(),
        StatusCode::NOT_FOUND,
        "not under the prefix"
    );
}

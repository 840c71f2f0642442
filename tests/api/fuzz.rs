//! A fuzz suite of our own: generated requests (methods, paths, ids, headers, bodies of every
//! shape and size) against the real app and Redis. Whatever comes, the API answers no 5xx but
//! the documented 503s, every error is the JSON shape with a code of docs/API.md's table, no
//! message names an internal or quotes much of the input, and no stock moves. And the reverse:
//! every declared code is documented, in docs/API.md and in the OpenAPI document.
//!
//! `PROPTEST_CASES` sets the number of requests (proptest's default, 256, for a quick run);
//! `ops/test` runs 10,000.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

use flashsale::http::errors::ErrorKind;

use crate::helpers::{spawn_app, TestApp};

/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// Words that would show the client how the server is built.
const INTERNAL_NAMES: &[&str] = &[
    "PurchaseBody",
    "SaleBody",
    "ResetBody",
    "JsonObject",
    "serde",
    "u64",
    "u32",
    "i64",
    "struct",
    "Option",
    "String",
    "invalid type",
    "expected",
    "redis",
    "Redis",
    "sqlx",
    "postgres",
    "actix",
    "kafka",
    "tokio",
    "panick",
    "flashsale::",
];
/// The longest message a client gets: a sentence and a short excerpt, never its input back.
const MAX_MESSAGE_CHARS: usize = 200;
/// Field names the bodies use, so generated objects often come close to valid ones.
const FIELDS: &[&str] = &[
    "user_id",
    "quantity",
    "name",
    "stock",
    "per_user_limit",
    "starts_at",
    "ends_at",
    "strategy",
    "durability",
];

/// The reverse of the fuzz: every code the catalogue declares is explained in docs/API.md and
/// named by the served OpenAPI `ErrorCode` enum, and neither lists a code the API cannot answer.
#[actix_web::test]
async fn the_declared_the_documented_and_the_openapi_error_codes_are_the_same() {
    let declared: BTreeSet<String> = ErrorKind::codes().into_iter().map(str::to_owned).collect();
    let app = spawn_app().await;
    let document: Value = app
        .get("/openapi.json")
        .await
        .json()
        .await
        .expect("the document");
    let in_openapi: BTreeSet<String> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the ErrorCode enum")
        .iter()
        .filter_map(|code| code.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        declared,
        documented_codes(),
        "declared vs docs/API.md section 4"
    );
    assert_eq!(
        declared, in_openapi,
        "declared vs the OpenAPI ErrorCode enum"
    );
}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

#[actix_web::test]
async fn generated_requests_get_documented_answers_and_change_no_stock() {
    let app = spawn_app().await;
    let documented = documented_codes();
    // Two sales no generated purchase can buy from: one whose window has not started, one
    // with nothing in stock. A random user_id changes nothing to either.
    let scheduled = crate::helpers::unique_sale_id();
    app.create_sale(
        &scheduled,
        json!({"name": "later", "stock": 10, "per_user_limit": 5, "starts_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let empty = app.new_sale(0, 5).await;
    let before = (app.sale(&scheduled).await, app.sale(&empty).await);

    let cases = Config::default().cases as usize;
    let strategy = case(vec![scheduled.clone(), empty.clone()]);
    let mut runner = TestRunner::default();
    let mut sent = 0;
    let mut seen = std::collections::BTreeMap::<(u16, String), usize>::new();
    while sent < cases {
        let batch: Vec<Case> = (0..CONCURRENCY.min(cases - sent))
            .map(|_| {
                strategy
                    .new_tree(&mut runner)
                    .expect("a case generates")
                    .current()
            })
            .collect();
        sent += batch.len();
        let answers =
            futures_util::future::join_all(batch.iter().map(|case| send(&app, case))).await;
        for (case, (status, body)) in batch.iter().zip(answers) {
            let code = check(case, status, &body, &documented);
            *seen.entry((status, code)).or_default() += 1;
        }
    }
    // Shown with `--nocapture`: what the cases reached.
    println!("{sent} requests; (status, code): count = {seen:?}");

    for (sale, was) in [(&scheduled, &before.0), (&empty, &before.1)] {
        let now = app.sale(sale).await;
        assert_eq!(
            (&now["remaining"], &now["round"], &now["stock"]),
            (&was["remaining"], &was["round"], &was["stock"]),
            "{sale} changed"
        );
        assert_eq!(
            app.outbox_len(sale).await,
            0,
            "{sale}: a purchase was queued"
        );
    }
}

async fn send(app: &TestApp, case: &Case) -> (u16, Vec<u8>) {
    let method = Method::from_bytes(case.method.as_bytes()).expect("a valid method token");
    let mut request = app
        .client
        .request(method, app.url(&case.path))
        .body(case.body.clone());
    for (name, value) in &case.headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(HeaderName::from_static(name), value);
        }
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{case:?}: no answer: {e}"));
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    (status, body)
}

/// Checks one answer; returns its error code (empty for a success or a HEAD).
fn check(case: &Case, status: u16, body: &[u8], documented: &BTreeSet<String>) -> String {
    let text = String::from_utf8_lossy(body);
    let what = || format!("{case:?} -> {status} {text}");
    if (200..300).contains(&status) {
        assert!(
            case.method == "GET" || case.method == "HEAD",
            "a {} succeeded: {}",
            case.method,
            what()
        );
        return String::new();
    }
    assert!(status >= 400, "{}", what());
    if case.method == "HEAD" {
        return String::new();
    }
    let error: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not the JSON error shape: {}", what()));
    let code = error["error"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    assert_eq!(error.as_object().map(|o| o.len()), Some(2), "{}", what());
    assert!(documented.contains(code), "undocumented code: {}", what());
    assert!(
        status < 500 || (status == 503 && matches!(code, "overloaded" | "unavailable")),
        "{}",
        what()
    );
    assert!(!message.is_empty(), "{}", what());
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS,
        "a long message: {}",
        what()
    );
    for name in INTERNAL_NAMES {
        assert!(!message.contains(name), "names `{name}`: {}", what());
    }
    code.to_owned()
}

/// The codes of docs/API.md, section 4: the first column of its table.
fn documented_codes() -> BTreeSet<String> {
    let api = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md"))
        .expect("docs/API.md");
    let section = api
        .split("## 4. Error codes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("section 4");
    let codes: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(codes.len() > 10, "the table was not found: {codes:?}");
    codes
}

fn case(sales: Vec<String>) -> impl Strategy<Value = Case> {
    (method(), path(sales), headers(), body()).prop_map(|(method, path, headers, body)| Case {
        method,
        path,
        headers,
        body,
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just("POST".to_owned()),
        3 => Just("GET".to_owned()),
        2 => Just("PUT".to_owned()),
        1 => select(vec!["DELETE", "PATCH", "HEAD", "OPTIONS", "FUZZ"]).prop_map(str::to_owned),
    ]
}

fn path(sales: Vec<String>) -> impl Strategy<Value = String> {
    let known = select(sales);
    prop_oneof![
        8 => known.clone().prop_map(|sale| format!("/api/v1/sales/{sale}/purchases")),
        1 => known.prop_map(|sale| format!("/api/v1/sales/{sale}")),
        2 => segment().prop_map(|id| format!("/api/v1/sales/{id}/purchases")),
        1 => segment().prop_map(|id| format!("/api/v1/sales/{id}")),
        1 => segment().prop_map(|id| format!("/api/v1/sales/{id}/stream")),
        1 => segment().prop_map(|id| format!("/api/v1/purchases/{id}")),
        1 => segment().prop_map(|id| format!("/api/v1/admin/sales/{id}")),
        1 => segment().prop_map(|id| format!("/api/v1/admin/sales/{id}/reset")),
        1 => segment().prop_map(|id| format!("/api/v1/admin/{id}")),
        1 => segment().prop_map(|id| format!("/{id}")),
        1 => select(vec!["/reset", "/healthz", "/metrics", "/api/v1/admin", "/"]).prop_map(str::to_owned),
    ]
}

/// A path segment: a plausible id, or anything at all, percent-encoded.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9_-]{0,70}",
        "[A-Za-z0-9._~-]{1,20}",
        prop::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| percent_encode(&bytes)),
        text().prop_map(|text| percent_encode(text.as_bytes())),
    ]
}

fn percent_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let content_type = prop_oneof![
        5 => Just(b"application/json".to_vec()),
        1 => select(vec!["text/plain", "application/merge-patch+json", "APPLICATION/JSON; charset=utf-8", ""])
            .prop_map(|t| t.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..30),
    ];
    let key = prop_oneof![
        "[ -~]{0,140}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..140),
    ];
    let authorization = prop_oneof![
        select(vec![
            "Bearer wrong",
            "Bearer ",
            "bearer test-admin-token",
            "Basic dGVzdA=="
        ])
        .prop_map(|a| a.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..60),
    ];
    (
        prop::option::weighted(0.9, content_type),
        prop::option::of(key),
        prop::option::weighted(0.2, authorization),
    )
        .prop_map(|(content_type, key, authorization)| {
            let mut headers = Vec::new();
            headers.extend(content_type.map(|v| ("content-type", v)));
            headers.extend(key.map(|v| ("idempotency-key", v)));
            headers.extend(authorization.map(|v| ("authorization", v)));
            headers
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => purchase().prop_map(|o| o.to_string().into_bytes()),
        6 => object().prop_map(|o| o.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => (object(), any::<prop::sample::Index>()).prop_map(|(o, cut)| {
            let text = o.to_string().into_bytes();
            text[..cut.index(text.len().max(1))].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (4000usize..6000).prop_map(|n| format!(r#"{{"user_id": "{}"}}"#, "u".repeat(n)).into_bytes()),
        1 => Just(Vec::new()),
    ]
}

/// A purchase body that is valid more often than not, so that cases reach the sale.
fn purchase() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z0-9_.:-]{1,64}",
        prop::option::of(prop_oneof![4 => 1u64..20, 1 => any::<u64>()]),
    )
        .prop_map(|(user_id, quantity)| match quantity {
            Some(quantity) => json!({"user_id": user_id, "quantity": quantity}),
            None => json!({"user_id": user_id}),
        })
}

/// A JSON object, mostly of the fields the API knows, with values of any kind.
fn object() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        4 => select(FIELDS).prop_map(str::to_owned),
        1 => text(),
    ];
    prop::collection::vec((name, field_value()), 0..6)
        .prop_map(|fields| Value::Object(fields.into_iter().collect()))
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => "[A-Za-z0-9_.:-]{0,70}".prop_map(Value::String),
        2 => any::<u64>().prop_map(Value::from),
        1 => (0u64..20).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        1 => select(vec!["2026-06-01T09:00:00Z", "2999-01-01T00:00:00+02:00", "tomorrow", "naive", "async"])
            .prop_map(|s| Value::String(s.to_owned())),
        1 => json_value(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Any text, control characters and non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..50).prop_map(String::from_iter)
}

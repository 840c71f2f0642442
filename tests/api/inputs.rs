use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, TOKEN};

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    path: Option<String>,
    content_type: &'static str,
    body: String,
    key: Option<Vec<u8>>,
    status: StatusCode,
    code: &'static str,
}

/// A JSON purchase body that must be refused as `invalid_request`, unless changed below.
fn case(what: &'static str, body: impl Into<String>) -> Case {
    Case {
        what,
        path: None,
        content_type: "application/json",
        body: body.into(),
        key: None,
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
    }
}

impl Case {
    fn path(self, path: String) -> Self {
        Self {
            path: Some(path),
            ..self
        }
    }
    fn content_type(self, content_type: &'static str) -> Self {
        Self {
            content_type,
            ..self
        }
    }
    fn key(self, key: &[u8]) -> Self {
        Self {
            key: Some(key.to_vec()),
            ..self
        }
    }
    fn answers(self, status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            ..self
        }
    }
}

#[actix_web::test]
async fn bad_purchase_requests_get_the_documented_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 5).await;
    let purchases = format!("/api/v1/sales/{sale}/purchases");
    let valid = r#"{"user_id": "u"}"#;

    let cases = [
        case("malformed JSON", r#"{"user_id": "#),
        case("user_id of the wrong type", r#"{"user_id": 5}"#),
        case(
            "quantity as a string",
            r#"{"user_id": "u", "quantity": "1"}"#,
        ),
        case("negative quantity", r#"{"user_id": "u", "quantity": -1}"#),
        case(
            "fractional quantity",
            r#"{"user_id": "u", "quantity": 1.5}"#,
        ),
        case("zero quantity", r#"{"user_id": "u", "quantity": 0}"#),
        case(
            "quantity over the maximum",
            r#"{"user_id": "u", "quantity": 10000001}"#,
        ),
        case("missing user_id", "{}"),
        case("unknown field", r#"{"user_id": "u", "price": 1}"#),
        case("empty user_id", r#"{"user_id": ""}"#),
        case("user_id with a space", r#"{"user_id": "a b"}"#),
        case(
            "user_id too long",
            format!(r#"{{"user_id": "{}"}}"#, "u".repeat(65)),
        ),
        case("a JSON array", "[]"),
        case("no body", ""),
        case(
            "body over 4 KiB",
            format!(r#"{{"user_id": "u", "pad": "{}"}}"#, "x".repeat(5000)),
        )
        .answers(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        case("text/plain body", valid)
            .content_type("text/plain")
            .answers(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        case("form body", "user_id=u")
            .content_type("application/x-www-form-urlencoded")
            .answers(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        case("Idempotency-Key too long", valid).key("k".repeat(129).as_bytes()),
        case("Idempotency-Key not ASCII", valid).key("clé".as_bytes()),
        case("sale id with capitals", valid).path("/api/v1/sales/Bad-Id/purchases".into()),
        case("sale id too long", valid).path(format!("/api/v1/sales/{}/purchases", "s".repeat(65))),
        case("unknown endpoint", "{}")
            .path("/api/v1/nowhere".into())
            .answers(StatusCode::NOT_FOUND, "not_found"),
    ];

    for c in cases {
        let path = c.path.as_deref().unwrap_or(&purchases);
        let mut request = app
            .client
            .post(app.url(path))
            .header("content-type", c.content_type)
            .body(c.body);
        if let Some(key) = &c.key {
            request = request.header(
                "Idempotency-Key",
                HeaderValue::from_bytes(key).expect("a header value"),
            );
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), c.status, "{}", c.what);
        assert_eq!(error_code(response).await, c.code, "{}", c.what);
    }

    let wrong_method = app.get(&purchases).await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(wrong_method).await, "method_not_allowed");

    assert_eq!(app.remaining(&sale).await, 10, "nothing was taken");
    assert_eq!(app.outbox_len(&sale).await, 0, "nothing was queued");
}

#[actix_web::test]
async fn bad_sale_definitions_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let cases = [
        ("negative stock", json!({"name": "x", "stock": -1})),
        (
            "stock over the maximum",
            json!({"name": "x", "stock": 10_000_001}),
        ),
        ("missing stock", json!({"name": "x"})),
        ("blank name", json!({"name": " ", "stock": 1})),
        (
            "zero per-user limit",
            json!({"name": "x", "stock": 1, "per_user_limit": 0}),
        ),
        (
            "a date that is not RFC 3339",
            json!({"name": "x", "stock": 1, "starts_at": "tomorrow"}),
        ),
        (
            "ends before it starts",
            json!({"name": "x", "stock": 1, "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}),
        ),
    ];
    for (what, body) in cases {
        let sale = crate::helpers::unique_sale_id();
        let response = app.put_sale(&sale, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(error_code(response).await, "invalid_request", "{what}");
        let read = app.get(&format!("/api/v1/sales/{sale}")).await;
        assert_eq!(
            read.status(),
            StatusCode::NOT_FOUND,
            "{what}: nothing created"
        );
    }

    let bad_id = app
        .client
        .put(app.url("/api/v1/admin/sales/Not_Valid"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "x", "stock": 1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad_id).await, "invalid_request");
}

#[actix_web::test]
async fn an_unknown_strategy_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 1).await;
    assert_eq!(app.sale(&sale).await["strategy"], "async", "the default");
    for strategy in ["fast", "Naive", ""] {
        let response = app
            .put_sale(
                &sale,
                json!({"name": "x", "stock": 1, "strategy": strategy}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{strategy:?}"
        );
        assert_eq!(error_code(response).await, "invalid_strategy");
    }
    let fresh = crate::helpers::unique_sale_id();
    let response = app
        .put_sale(&fresh, json!({"name": "x", "stock": 1, "strategy": "sync"}))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unchanged = app.sale(&sale).await;
    assert_eq!(
        (
            unchanged["name"].as_str(),
            unchanged["round"].as_u64(),
            unchanged["stock"].as_u64()
        ),
        (Some("test sale"), Some(1), Some(10))
    );
    let read = app.get_json(&format!("/api/v1/sales/{fresh}")).await;
    assert_eq!(read["error"], "sale_not_found", "nothing created");
}

#[actix_web::test]
async fn a_sale_keeps_the_durability_it_was_put_with_until_a_put_leaves_it_out() {
    let app = spawn_app().await;
    let sale = crate::helpers::unique_sale_id();
    let created = app
        .create_sale(
            &sale,
            json!({"name": "x", "stock": 3, "durability": "broker"}),
        )
        .await;
    assert_eq!(created["durability"], "broker");
    assert_eq!(app.sale(&sale).await["durability"], "broker");
    assert_eq!(app.reset_sale(&sale).await["durability"], "broker");
    let replaced = app
        .create_sale(&sale, json!({"name": "x", "stock": 3}))
        .await;
    assert_eq!(replaced["durability"], "fast", "the default again");
}

#[actix_web::test]
async fn an_unknown_durability_is_400_naming_the_allowed_values_and_changes_nothing() {
    let app = spawn_app().await;
    let sale = crate::helpers::unique_sale_id();
    app.create_sale(
        &sale,
        json!({"name": "kept", "stock": 10, "durability": "broker"}),
    )
    .await;
    for durability in [json!("always"), json!("Broker"), json!(""), json!(1)] {
        let response = app
            .put_sale(
                &sale,
                json!({"name": "x", "stock": 1, "durability": durability}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{durability}");
        let body: serde_json::Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"], "invalid_request", "{durability}");
        let expected = if durability.is_string() {
            "durability must be one of fast, broker"
        } else {
            "field `durability` must be a string"
        };
        assert_eq!(body["message"], expected, "{durability}");
    }
    let unchanged = app.sale(&sale).await;
    assert_eq!(
        (
            unchanged["name"].as_str(),
            unchanged["round"].as_u64(),
            unchanged["stock"].as_u64(),
            unchanged["durability"].as_str()
        ),
        (Some("kept"), Some(1), Some(10), Some("broker"))
    );
}

//! `GET /openapi.json`: the OpenAPI 3.1 document, with a path for every registered route.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

/// Every `(METHOD, path)` that `src/http/mod.rs` registers with `resource(path, ..)` and a
/// method call after it, read from the source as tests/architecture.rs reads imports: a new
/// route is caught without anyone listing it twice.
fn registered_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/http/mod.rs");
    let mut routes = BTreeSet::new();
    // rustfmt puts a long path on a line of its own: `resource(\n "/..."`.
    for part in source.split("resource(").skip(1) {
        let Some((path, rest)) = part
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split_once('"'))
        else {
            continue;
        };
        // The methods chained on this resource: up to the next registration.
        let chained = rest.split(".service(").next().unwrap_or(rest);
        for method in ["get", "post", "put", "delete", "patch"] {
            if chained.contains(&format!(".{method}(")) {
                routes.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

/// The credentials an operation takes, as its security requirements: alternatives, each naming
/// the schemes sent together (`{}`: none).
fn expected_security(method: &str, path: &str) -> Value {
    let admin = path.starts_with("/api/v1/admin/") || path == "/reset";
    let purchase = path == "/api/v1/sales/{sale_id}/purchases" || path.starts_with("/purchase");
    match (method, path) {
        _ if admin => json!([{"admin": []}]),
        (_, "/api/v1/purchases/{purchase_id}/payment") => {
            json!([{"payment_signature": [], "payment_timestamp": []}])
        }
        // The buyer's hold_token travels in the body: the anonymous alternative.
        (_, "/api/v1/purchases/{purchase_id}/cancel") => json!([{}, {"admin": []}]),
        _ if purchase => json!([{}, {"purchase_token": []}]),
        _ => json!([{}]),
    }
}

#[actix_web::test]
async fn the_openapi_document_describes_every_registered_route_and_its_credentials() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("a JSON document");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "not OpenAPI 3.1: {}",
        document["openapi"]
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["admin"]["type"], "http");
    assert_eq!(schemes["admin"]["scheme"], "bearer");
    for (scheme, header) in [
        ("payment_signature", "Flashsale-Signature"),
        ("payment_timestamp", "Flashsale-Timestamp"),
        ("purchase_token", "Flashsale-Purchase-Token"),
    ] {
        assert_eq!(
            (
                &schemes[scheme]["type"],
                &schemes[scheme]["in"],
                &schemes[scheme]["name"]
            ),
            (&json!("apiKey"), &json!("header"), &json!(header)),
            "{scheme}"
        );
    }
    let tags: BTreeSet<&str> = document["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag["name"].as_str())
        .collect();

    let registered = registered_routes();
    assert!(
        registered.len() >= 20,
        "too few routes read from src/http/mod.rs: {registered:?}"
    );
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|methods| methods.keys())
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unserved.is_empty(),
        "documented routes that are not registered: {unserved:?}"
    );

    // Every operation names the credentials it takes (its own requirements, or the document's
    // default of none), says what it does under a declared tag, and documents its statuses.
    for (method, path) in &documented {
        let operation = &document["paths"][path][method];
        let security = operation.get("security").unwrap_or(&document["security"]);
        assert_eq!(
            security,
            &expected_security(method, path),
            "{method} {path}: security"
        );
        for field in ["summary", "description"] {
            assert!(
                operation[field].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: no {field}"
            );
        }
        assert!(
            operation["tags"].as_array().is_some_and(|t| t
                .iter()
                .all(|t| t.as_str().is_some_and(|t| tags.contains(t)))),
            "{method} {path}: a tag not declared: {}",
            operation["tags"]
        );
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}"
        );
    }
    let purchase = &document["paths"]["/api/v1/sales/{sale_id}/purchases"]["post"]["responses"];
    for status in ["202", "400", "404", "409", "413", "415", "422", "503"] {
        assert!(
            purchase.get(status).is_some(),
            "the purchase does not document {status}"
        );
    }
}

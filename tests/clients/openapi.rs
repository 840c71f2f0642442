//! `GET /openapi.json`: the OpenAPI 3.1 document, with a path for every registered route.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

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

#[actix_web::test]
async fn the_openapi_document_describes_every_registered_route_and_the_admin_scheme() {
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
    assert_eq!(
        document["components"]["securitySchemes"]["admin"],
        serde_json::json!({"type": "http", "scheme": "bearer", "description": "FLASHSALE_ADMIN_TOKEN"})
    );

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

    // Every admin operation asks for the token, and only those require it (an operation may
    // accept it as an alternative to none, `{}`, like a hold's cancel); every operation
    // documents its statuses.
    for (method, path) in &documented {
        let operation = &document["paths"][path][method];
        let secured = operation["security"].as_array().is_some_and(|s| {
            !s.is_empty()
                && !s
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        let admin = path.starts_with("/api/v1/admin/") || path == "/reset";
        assert_eq!(
            secured, admin,
            "{method} {path}: security {}",
            operation["security"]
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

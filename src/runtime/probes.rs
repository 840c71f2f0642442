//! The endpoints both processes serve for their operators: readiness (`GET /readyz`) and
//! metrics (`GET /metrics`). Each process decides what it depends on; the answer's shape is
//! decided here, once.

use actix_web::http::header;
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use super::telemetry;

/// One service a process depends on, as a readiness check found it.
#[derive(Debug, Clone, Copy)]
pub struct Dependency {
    pub name: &'static str,
    pub up: bool,
    /// Whether the process needs it to do its work (`false`: without it the work is only
    /// slower or later, and the process reports `degraded`).
    pub required: bool,
}

/// `GET /readyz`: 200 `ready` when every dependency answers; 200 `degraded` when only ones the
/// process can work without are down; each listed as `up` or `unreachable`. When a required
/// one is down: 503 with `Retry-After` and the JSON error shape every error has
/// (`{"error": "unavailable", "message": "not ready: redis unreachable, broker up"}`).
pub fn readiness(dependencies: &[Dependency]) -> HttpResponse {
    let state = |d: &Dependency| if d.up { "up" } else { "unreachable" };
    if dependencies.iter().any(|d| d.required && !d.up) {
        let states: Vec<String> = dependencies
            .iter()
            .map(|d| format!("{} {}", d.name, state(d)))
            .collect();
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(json!({
                "error": "unavailable",
                "message": format!("not ready: {}", states.join(", ")),
            }));
    }
    let status = if dependencies.iter().all(|d| d.up) {
        "ready"
    } else {
        "degraded"
    };
    let mut body = Map::new();
    body.insert("status".into(), json!(status));
    for dependency in dependencies {
        body.insert(dependency.name.into(), json!(state(dependency)));
    }
    HttpResponse::Ok().json(Value::Object(body))
}

/// `GET /metrics`: every metric of this process in the Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(telemetry::render())
}

//! The recording of HTTP requests (`flashsale_http_*`). `GET /metrics` itself is served by
//! `common::probes::metrics`, shared with the worker.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use dashmap::DashMap;
use metrics::{Counter, Histogram};
use std::sync::LazyLock;
use tokio::time::Instant;

use crate::runtime::probes;
use crate::runtime::telemetry::names;

/// The process's metrics, for Prometheus.
///
/// Every metric of the process in the Prometheus text format (docs/OPERATIONS.md lists them).
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn serve_metrics() -> actix_web::HttpResponse {
    probes::metrics().await
}

/// Middleware body (see `http::resource`): counts and times the requests of one route. The
/// route's pattern is given, not looked up per request: matching the path against every
/// pattern again would cost the hot path a regex.
pub async fn record_http(
    route: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    count_request(route, &method, status);
    cached(
        &DURATIONS,
        route,
        || metrics::histogram!(names::HTTP_SECONDS, "route" => route),
    )
    .record(started.elapsed().as_secs_f64());
    result
}

/// The handles of the HTTP metrics, by their labels, made once. The `metrics` macros build and
/// hash their label set on every call, which every request paid (README, "Benchmark").
static REQUESTS: LazyLock<DashMap<(&'static str, &'static str, u16), Counter>> =
    LazyLock::new(DashMap::new);
static DURATIONS: LazyLock<DashMap<&'static str, Histogram>> = LazyLock::new(DashMap::new);

/// The handle stored under `key`, made by `make` the first time.
pub(super) fn cached<K, H>(handles: &DashMap<K, H>, key: K, make: impl FnOnce() -> H) -> H
where
    K: std::hash::Hash + Eq,
    H: Clone,
{
    if let Some(handle) = handles.get(&key) {
        return handle.clone();
    }
    handles.entry(key).or_insert_with(make).clone()
}

/// Counts one answered request.
pub fn count_request(
    route: &'static str,
    method: &actix_web::http::Method,
    status: actix_web::http::StatusCode,
) {
    let method = method_label(method);
    cached(&REQUESTS, (route, method, status.as_u16()), || {
        metrics::counter!(
            names::HTTP_REQUESTS,
            "route" => route,
            "method" => method,
            "status" => status.as_str().to_owned()
        )
    })
    .increment(1);
}

/// A method as a label: a client may send any token as a method, and each distinct label value
/// is a time series kept for the life of the process, so methods outside the standard ones
/// share `other`.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or("other", |(_, label)| label)
}

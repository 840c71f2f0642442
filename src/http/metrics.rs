//! `GET /metrics` (both processes) and the recording of HTTP requests.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use tokio::time::Instant;

use crate::telemetry::{self, names};

/// `GET /metrics`: every metric of this process in the Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(telemetry::render())
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
    metrics::histogram!(names::HTTP_SECONDS, "route" => route)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Counts one answered request.
pub fn count_request(
    route: &'static str,
    method: &actix_web::http::Method,
    status: actix_web::http::StatusCode,
) {
    metrics::counter!(
        names::HTTP_REQUESTS,
        "route" => route,
        "method" => method.to_string(),
        "status" => status.as_str().to_owned()
    )
    .increment(1);
}

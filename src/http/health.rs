//! Liveness and readiness.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::errors::ApiError;
use super::AppState;
use crate::actors::producer::BrokerReachable;

/// `GET /healthz`: the process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for the broker's answer.
const BROKER_CHECK_TIMEOUT: Duration = Duration::from_millis(1000);

/// `GET /readyz`: 200 while Redis answers, since that is all a purchase needs; the body also
/// says whether the broker answers (while it does not, purchases wait in the outbox).
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Err(error) = state.store.ping().await {
        tracing::warn!(%error, "not ready: redis does not answer");
        return Err(ApiError::unavailable());
    }
    let broker_up = state
        .producer
        .send(BrokerReachable(BROKER_CHECK_TIMEOUT))
        .await
        .unwrap_or(false);
    Ok(HttpResponse::Ok().json(json!({
        "status": if broker_up { "ready" } else { "degraded" },
        "redis": "up",
        "broker": if broker_up { "up" } else { "unreachable" },
    })))
}

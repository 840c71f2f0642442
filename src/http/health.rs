//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::errors::ApiError;
use super::AppState;

/// `GET /healthz`: the process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: Redis answers, so purchases can be decided.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready", "redis": "up"}))),
        Err(error) => {
            tracing::warn!(%error, "not ready: redis does not answer");
            Err(ApiError::unavailable())
        }
    }
}

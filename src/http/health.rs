//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::state::AppState;
use crate::runtime::probes::readiness;

/// Liveness: the process serves HTTP.
///
/// 200 as long as the process answers at all; it checks nothing else.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the API can take purchases.
///
/// 200 while Redis answers, since that is all a purchase needs (503 without it); the body also says
/// whether the broker answers (while it does not, purchases wait in the outbox and the status is
/// `degraded`).
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "`ready` or `degraded` (the broker does not answer)", body = Object),
        super::schemas::ReadyzErrors,
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    readiness(&state.operations.dependencies().await)
}

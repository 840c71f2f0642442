//! The one error type of the HTTP layer and its one JSON shape:
//! `{"error": "<code>", "message": "<text for a person>"}`.
//!
//! Client mistakes carry a message that explains them. Failures of ours (Redis down, a timeout)
//! are logged here with their cause and reach the client only as a code and a generic message.

use std::borrow::Cow;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::actors::reservation::ReserveError;
use crate::domain::Invalid;
use crate::store::StoreError;
use crate::strategies::SaleReadError;

/// Seconds a client is asked to wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin bearer token is required",
        )
    }
    pub fn sale_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "sale_not_found",
            "no sale has this id",
        )
    }
    pub fn purchase_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "purchase_not_found",
            "no purchase has this id",
        )
    }
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take this method",
        )
    }
    pub fn sold_out() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "sold_out",
            "not enough stock left for this quantity",
        )
    }
    pub fn limit_reached() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "limit_reached",
            "this purchase would exceed the per-user limit of the sale",
        )
    }
    pub fn sale_not_active() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "sale_not_active",
            "the sale has not started or has ended",
        )
    }
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used before with a different request body",
        )
    }
    pub fn invalid_strategy(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_strategy",
            message,
        )
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body may be at most {limit} bytes"),
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
    }
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many purchases at once or the stock service is unreachable; retry with the same Idempotency-Key",
        )
    }
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service cannot answer right now; retry shortly",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(Body {
            error: self.code,
            message: &self.message,
        })
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::invalid_request(invalid.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "redis call failed");
        Self::unavailable()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "postgres call failed");
        Self::unavailable()
    }
}

impl From<SaleReadError> for ApiError {
    fn from(error: SaleReadError) -> Self {
        match error {
            SaleReadError::Store(error) => error.into(),
            SaleReadError::Database(error) => error.into(),
        }
    }
}

impl From<ReserveError> for ApiError {
    fn from(error: ReserveError) -> Self {
        tracing::warn!(%error, "reservation not decided");
        Self::overloaded()
    }
}

//! The one error type of the HTTP layer and its one JSON shape:
//! `{"error": "<code>", "message": "<text for a person>"}`.
//!
//! Client mistakes carry a message that explains them. Failures of ours (Redis down, a timeout)
//! reach the client only as a code and a generic message; their cause travels inside the error
//! and is logged once, where the error becomes a response ([`ApiError::error_response`]), never
//! in the conversions.
//!
//! A message never names a Rust type, a crate or a service's internals, and quotes at most a
//! short, cleaned excerpt of what the client sent ([`excerpt`]).

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::decision::ReserveError;
use crate::domain::{Invalid, TokenRefusal};
use crate::runtime::log_throttle::LogThrottle;
use crate::services::ServiceError;
use crate::store::{StockFigures, StoreError};

/// The code of a request a rate limit refused (429), also its purchase outcome label.
pub const RATE_LIMITED: &str = "rate_limited";

/// Seconds a client is asked to wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

/// At most one line per this interval about failures of ours, and one summary of client errors.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Client errors in one interval from which their summary is a warning: a flood rather than a
/// client with a bug.
const CLIENT_ERROR_FLOOD: u64 = 100;
/// Failures of ours: during an outage every request fails the same way.
static OUR_FAILURES: LogThrottle = LogThrottle::new(LOG_INTERVAL);
/// Client errors: anyone can send bad requests at will.
static CLIENT_ERRORS: LogThrottle = LogThrottle::new(LOG_INTERVAL);

/// The most characters of a client's input a message quotes.
const EXCERPT_CHARS: usize = 40;

/// A client's input as a message may quote it: at most [`EXCERPT_CHARS`] characters, anything
/// but printable ASCII shown as `?`, and `...` when cut short.
pub fn excerpt(input: &str) -> String {
    let mut quoted: String = input
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if input.chars().nth(EXCERPT_CHARS).is_some() {
        quoted.push_str("...");
    }
    quoted
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    /// Seconds the client should wait before retrying (`Retry-After`), when the error says.
    retry_after: Option<u64>,
    /// What went wrong on our side, for the log only.
    cause: Option<String>,
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
            retry_after: None,
            cause: None,
        }
    }

    /// The same error, with the cause the log should show.
    fn caused_by(self, cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..self
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
    pub fn hold_expired() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "hold_expired",
            "the hold's deadline passed: its units were released",
        )
    }
    pub fn hold_cancelled() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "hold_cancelled",
            "the hold was cancelled: its units were released",
        )
    }
    pub fn hold_paid() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "hold_paid",
            "the hold is paid already",
        )
    }
    pub fn payment_conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "payment_conflict",
            "the hold was paid already with another payment_ref",
        )
    }
    pub fn not_a_hold() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "not_a_hold",
            "this purchase is final: its sale has no holds",
        )
    }
    pub fn not_sold_out() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "not_sold_out",
            "the sale has units left: buy one instead of waiting",
        )
    }
    pub fn waitlist_unavailable() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "waitlist_unavailable",
            "this sale has no waitlist: its purchases are not holds",
        )
    }
    pub fn already_waitlisted() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "already_waitlisted",
            "this user is on the sale's waitlist already, or was offered a unit, in this round",
        )
    }
    pub fn waitlist_entry_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "waitlist_entry_not_found",
            "this sale has no waitlist entry with this id",
        )
    }
    pub fn not_waiting() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "not_waiting",
            "the entry no longer waits: it was offered a unit (cancel its hold instead), passed over, or its round ended",
        )
    }
    pub fn stock_below_taken(figures: &StockFigures) -> Self {
        let StockFigures {
            stock,
            remaining,
            held,
            paid,
        } = figures;
        Self::new(
            StatusCode::CONFLICT,
            "stock_below_taken",
            format!(
                "at most {remaining} units can be removed: stock {stock}, remaining {remaining}, held {held}, paid {paid}"
            ),
        )
    }
    pub fn invalid_signature(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
    }
    pub fn hold_token_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the purchase's hold_token in the body, or the admin bearer token",
        )
    }
    pub fn wrong_hold_token() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "wrong_hold_token",
            "this hold_token is not the purchase's",
        )
    }
    pub fn token_refused(refusal: TokenRefusal) -> Self {
        let (code, message) = match refusal {
            TokenRefusal::Missing => (
                "token_missing",
                "this sale sells only to buyers admitted by its waiting room: send the purchase token in the Flashsale-Purchase-Token header",
            ),
            TokenRefusal::Invalid => (
                "token_invalid",
                "this purchase token was not issued by this service for this sale",
            ),
            TokenRefusal::Expired => (
                "token_expired",
                "this purchase token has expired (or belongs to an earlier round of the sale)",
            ),
            TokenRefusal::Used => ("token_used", "this purchase token has bought already"),
            TokenRefusal::WrongUser => (
                "token_wrong_user",
                "this purchase token was issued to another user",
            ),
        };
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn ticket_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ticket_not_found",
            "no ticket of the sale's current round has this id",
        )
    }
    pub fn no_waiting_room() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "no_waiting_room",
            "this sale is open to every buyer: purchase directly",
        )
    }
    pub fn admission_not_configured() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "admission_not_configured",
            "this server has no purchase token key (FLASHSALE_TOKEN_SECRET): it cannot run a waiting room",
        )
    }
    /// An admitted ticket whose token this process cannot make: its key is not configured.
    pub fn token_key_missing() -> Self {
        Self::unavailable().caused_by("FLASHSALE_TOKEN_SECRET is unset on this API process")
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
    pub fn request_timeout(timeout: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )
    }
    pub fn length_required(limit: usize) -> Self {
        Self::new(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            format!(
                "send the body with a Content-Length header (at most {limit} bytes); chunked bodies are not accepted"
            ),
        )
    }
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the path and query may be at most {limit} bytes"),
        )
    }
    pub fn header_too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_too_large",
            message,
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
    }
    /// 429: `client` sent more than its rate limit allows; it may send again in `wait`
    /// (rounded up to whole seconds for `Retry-After`, at least 1).
    pub fn rate_limited(client: &str, wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                RATE_LIMITED,
                format!("too many requests from this {client}; retry in {seconds} s"),
            )
        }
    }
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests at once; retry shortly (a purchase with the same Idempotency-Key)",
        )
    }
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service cannot answer right now; retry shortly (a purchase with the same Idempotency-Key)",
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

    /// The one place an error becomes a response, so the one place it is logged (see
    /// [`ApiError::log`]).
    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(Body {
            error: self.code,
            message: &self.message,
        })
    }
}

impl ApiError {
    /// A failure of ours with its cause, at most once per [`LOG_INTERVAL`] with the count of
    /// those it stands for. Every client error at debug level, and a summary of them at most
    /// once per interval: info, or a warning when they come in a flood. A 503 without a cause
    /// was logged where its cause was dropped.
    fn log(&self) {
        if let Some(cause) = &self.cause {
            if let Some(failures) = OUR_FAILURES.occurred() {
                tracing::error!(
                    code = self.code,
                    %cause,
                    failures,
                    "request failed (failures: how many since the last such line)"
                );
            }
            return;
        }
        tracing::debug!(code = self.code, message = %self.message, "answered an error");
        if !self.status.is_client_error() {
            return;
        }
        match CLIENT_ERRORS.occurred() {
            Some(client_errors) if client_errors >= CLIENT_ERROR_FLOOD => tracing::warn!(
                client_errors,
                "a flood of client errors since the last summary (details at debug level)"
            ),
            Some(client_errors) => tracing::info!(
                client_errors,
                "client errors since the last summary (details at debug level)"
            ),
            None => {}
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::invalid_request(invalid.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::unavailable().caused_by(error)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self::unavailable().caused_by(error)
    }
}

/// Both are 503 with `Retry-After`; the code tells a client (and the metrics) which: too much
/// at once, or a store that did not answer. Their causes were logged where they were dropped.
impl From<ReserveError> for ApiError {
    fn from(error: ReserveError) -> Self {
        match error {
            ReserveError::Overloaded => Self::overloaded(),
            ReserveError::Unavailable => Self::unavailable(),
        }
    }
}

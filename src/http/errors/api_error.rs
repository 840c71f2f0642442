//! The error type, its response and its log line; see the folder's doc.

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::decision::ReserveError;
use crate::domain::Invalid;
use crate::runtime::log_throttle::LogThrottle;
use crate::services::ServiceError;
use crate::store::StoreError;

/// Seconds a client is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECS: &str = "1";

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
    /// The one way to make an error: the catalogue's constructors call it.
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
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

    /// An admitted ticket whose token this process cannot make: its key is not configured.
    pub fn token_key_missing() -> Self {
        Self::unavailable().caused_by("FLASHSALE_TOKEN_SECRET is unset on this API process")
    }
    /// 429: `client` sent more than its rate limit allows; it may send again in `wait`
    /// (rounded up to whole seconds for `Retry-After`, at least 1).
    pub fn rate_limited(client: &str, wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::rate_limited_in(client, seconds)
        }
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

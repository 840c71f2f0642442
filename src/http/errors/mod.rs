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
//!
//! Every error's status, code and message is declared once, in `catalogue.rs`, which makes its
//! constructor and its [`ErrorKind`] (what the OpenAPI document names); `api_error.rs` holds
//! the type, its response and log line, and the constructors that add a cause or a
//! `Retry-After` to a declared error.

mod api_error;
mod catalogue;

pub use api_error::{excerpt, ApiError, RETRY_AFTER_SECS};
pub use catalogue::{ErrorKind, RATE_LIMITED};

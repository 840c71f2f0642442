//! Every error the API answers, each declared once: its kind, its constructor on [`ApiError`],
//! its HTTP status, its code and its message. The OpenAPI document takes the codes and each
//! route's refusals from here (`http::schemas`); docs/API.md section 4 explains every code, and
//! `tests/api/fuzz.rs` keeps the three the same set.

use std::borrow::Cow;

use actix_web::http::StatusCode;

use super::api_error::ApiError;
use crate::domain::TokenRefusal;
use crate::store::StockFigures;

/// The code of a request a rate limit refused (429), also its purchase outcome label.
pub const RATE_LIMITED: &str = ErrorKind::RateLimited.code();

/// Declares the errors: per line `Kind: fn constructor(args) => STATUS "code": message;`.
/// A kind may share its code with another (two ways of being `unauthorized`).
macro_rules! errors {
    ($(
        $(#[$doc:meta])*
        $kind:ident: $vis:vis fn $name:ident($($arg:ident: $ty:ty),*)
            => $status:ident $code:literal: $message:expr;
    )*) => {
        /// One error of the catalogue, as the OpenAPI document names it without making one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in the catalogue's order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];

            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorKind::$kind => StatusCode::$status,)*
                }
            }

            pub const fn code(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $code,)*
                }
            }
        }

        impl ApiError {
            $(
                $(#[$doc])*
                $vis fn $name($($arg: $ty),*) -> Self {
                    Self::new(StatusCode::$status, $code, $message)
                }
            )*
        }
    };
}

impl ErrorKind {
    /// Every code once, in the catalogue's order: the OpenAPI `ErrorCode` enum.
    pub fn codes() -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = Vec::new();
        for code in Self::ALL.iter().map(|kind| kind.code()) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }
}

impl ApiError {
    /// 403: why a purchase token was refused, each refusal its own code.
    pub fn token_refused(refusal: TokenRefusal) -> Self {
        match refusal {
            TokenRefusal::Missing => Self::token_missing(),
            TokenRefusal::Invalid => Self::token_invalid(),
            TokenRefusal::Expired => Self::token_expired(),
            TokenRefusal::Used => Self::token_used(),
            TokenRefusal::WrongUser => Self::token_wrong_user(),
        }
    }
}

errors! {
    InvalidRequest: pub fn invalid_request(message: impl Into<Cow<'static, str>>)
        => BAD_REQUEST "invalid_request": message;
    Unauthorized: pub fn unauthorized()
        => UNAUTHORIZED "unauthorized": "a valid admin bearer token is required";
    /// A hold's cancel without its hold_token and without the admin token.
    HoldTokenRequired: pub fn hold_token_required()
        => UNAUTHORIZED "unauthorized": "send the purchase's hold_token in the body, or the admin bearer token";
    InvalidSignature: pub fn invalid_signature(message: impl Into<Cow<'static, str>>)
        => UNAUTHORIZED "invalid_signature": message;
    WrongHoldToken: pub fn wrong_hold_token()
        => FORBIDDEN "wrong_hold_token": "this hold_token is not the purchase's";
    TokenMissing: fn token_missing()
        => FORBIDDEN "token_missing": "this sale sells only to buyers admitted by its waiting room: send the purchase token in the Flashsale-Purchase-Token header";
    TokenInvalid: fn token_invalid()
        => FORBIDDEN "token_invalid": "this purchase token was not issued by this service for this sale";
    TokenExpired: fn token_expired()
        => FORBIDDEN "token_expired": "this purchase token has expired (or belongs to an earlier round of the sale)";
    TokenUsed: fn token_used()
        => FORBIDDEN "token_used": "this purchase token has bought already";
    TokenWrongUser: fn token_wrong_user()
        => FORBIDDEN "token_wrong_user": "this purchase token was issued to another user";
    /// No route has this path.
    RouteNotFound: pub fn route_not_found()
        => NOT_FOUND "not_found": "no such endpoint";
    SaleNotFound: pub fn sale_not_found()
        => NOT_FOUND "sale_not_found": "no sale has this id";
    PurchaseNotFound: pub fn purchase_not_found()
        => NOT_FOUND "purchase_not_found": "no purchase has this id";
    WaitlistEntryNotFound: pub fn waitlist_entry_not_found()
        => NOT_FOUND "waitlist_entry_not_found": "this sale has no waitlist entry with this id";
    TicketNotFound: pub fn ticket_not_found()
        => NOT_FOUND "ticket_not_found": "no ticket of the sale's current round has this id";
    MethodNotAllowed: pub fn method_not_allowed()
        => METHOD_NOT_ALLOWED "method_not_allowed": "this endpoint does not take this method";
    RequestTimeout: pub fn request_timeout(timeout: std::time::Duration)
        => REQUEST_TIMEOUT "request_timeout":
            format!("the request body did not arrive within {} ms", timeout.as_millis());
    SaleNotActive: pub fn sale_not_active()
        => CONFLICT "sale_not_active": "the sale has not started or has ended";
    LimitReached: pub fn limit_reached()
        => CONFLICT "limit_reached": "this purchase would exceed the per-user limit of the sale";
    SoldOut: pub fn sold_out()
        => CONFLICT "sold_out": "not enough stock left for this quantity";
    HoldExpired: pub fn hold_expired()
        => CONFLICT "hold_expired": "the hold's deadline passed: its units were released";
    HoldCancelled: pub fn hold_cancelled()
        => CONFLICT "hold_cancelled": "the hold was cancelled: its units were released";
    HoldPaid: pub fn hold_paid()
        => CONFLICT "hold_paid": "the hold is paid already";
    PaymentConflict: pub fn payment_conflict()
        => CONFLICT "payment_conflict": "the hold was paid already with another payment_ref";
    NotAHold: pub fn not_a_hold()
        => CONFLICT "not_a_hold": "this purchase is final: its sale has no holds";
    NotSoldOut: pub fn not_sold_out()
        => CONFLICT "not_sold_out": "the sale has units left: buy one instead of waiting";
    WaitlistUnavailable: pub fn waitlist_unavailable()
        => CONFLICT "waitlist_unavailable": "this sale has no waitlist: its purchases are not holds";
    AlreadyWaitlisted: pub fn already_waitlisted()
        => CONFLICT "already_waitlisted": "this user is on the sale's waitlist already, or was offered a unit, in this round";
    NotWaiting: pub fn not_waiting()
        => CONFLICT "not_waiting": "the entry no longer waits: it was offered a unit (cancel its hold instead), passed over, or its round ended";
    StockBelowTaken: pub fn stock_below_taken(figures: &StockFigures)
        => CONFLICT "stock_below_taken": {
            let StockFigures { stock, remaining, held, paid } = figures;
            format!(
                "at most {remaining} units can be removed: stock {stock}, remaining {remaining}, held {held}, paid {paid}"
            )
        };
    NoWaitingRoom: pub fn no_waiting_room()
        => CONFLICT "no_waiting_room": "this sale is open to every buyer: purchase directly";
    AdmissionNotConfigured: pub fn admission_not_configured()
        => CONFLICT "admission_not_configured": "this server has no purchase token key (FLASHSALE_TOKEN_SECRET): it cannot run a waiting room";
    LengthRequired: pub fn length_required(limit: usize)
        => LENGTH_REQUIRED "length_required": format!(
            "send the body with a Content-Length header (at most {limit} bytes); chunked bodies are not accepted"
        );
    PayloadTooLarge: pub fn payload_too_large(limit: usize)
        => PAYLOAD_TOO_LARGE "payload_too_large": format!("the request body may be at most {limit} bytes");
    UriTooLong: pub fn uri_too_long(limit: usize)
        => URI_TOO_LONG "uri_too_long": format!("the path and query may be at most {limit} bytes");
    UnsupportedMediaType: pub fn unsupported_media_type()
        => UNSUPPORTED_MEDIA_TYPE "unsupported_media_type": "send the body as application/json";
    IdempotencyKeyReused: pub fn idempotency_key_reused()
        => UNPROCESSABLE_ENTITY "idempotency_key_reused": "this Idempotency-Key was used before with a different request body";
    InvalidStrategy: pub fn invalid_strategy(message: impl Into<Cow<'static, str>>)
        => UNPROCESSABLE_ENTITY "invalid_strategy": message;
    /// Made by [`ApiError::rate_limited`], which also sets `Retry-After`.
    RateLimited: pub(super) fn rate_limited_in(client: &str, seconds: u64)
        => TOO_MANY_REQUESTS "rate_limited": format!("too many requests from this {client}; retry in {seconds} s");
    HeaderTooLarge: pub fn header_too_large(message: impl Into<Cow<'static, str>>)
        => REQUEST_HEADER_FIELDS_TOO_LARGE "header_too_large": message;
    Overloaded: pub fn overloaded()
        => SERVICE_UNAVAILABLE "overloaded": "too many requests at once; retry shortly (a purchase with the same Idempotency-Key)";
    Unavailable: pub fn unavailable()
        => SERVICE_UNAVAILABLE "unavailable": "the service cannot answer right now; retry shortly (a purchase with the same Idempotency-Key)";
}

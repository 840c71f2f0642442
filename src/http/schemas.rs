//! The documentation-only types of the OpenAPI document (`openapi.rs`) that the handlers'
//! `#[utoipa::path]` annotations refer to: the error shape and the refusals shared by several
//! routes. A file of its own, so handlers and the document do not import each other.

use utoipa::ToSchema;

/// The one error shape (section 1 of docs/API.md).
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used: errors.rs writes the body.
pub struct ErrorBody {
    error: ErrorCode,
    /// Text for a person; do not parse it.
    message: String,
}

/// Every error code (docs/API.md, section 4).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    NotFound,
    SaleNotFound,
    PurchaseNotFound,
    MethodNotAllowed,
    SaleNotActive,
    LimitReached,
    SoldOut,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    InvalidStrategy,
    HoldExpired,
    HoldCancelled,
    HoldPaid,
    PaymentConflict,
    NotAHold,
    InvalidSignature,
    WrongHoldToken,
    NotSoldOut,
    WaitlistUnavailable,
    AlreadyWaitlisted,
    WaitlistEntryNotFound,
    NotWaiting,
    StockBelowTaken,
    TokenMissing,
    TokenInvalid,
    TokenExpired,
    TokenUsed,
    TokenWrongUser,
    TicketNotFound,
    NoWaitingRoom,
    AdmissionNotConfigured,
    RateLimited,
    Overloaded,
    Unavailable,
}

/// The refusals of a JSON body, whatever the route, documented once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its responses are used.
pub enum BodyErrors {
    #[response(
        status = 413,
        description = "`payload_too_large`: body over 4096 bytes"
    )]
    PayloadTooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "`unsupported_media_type`: a non-empty body that is not JSON"
    )]
    UnsupportedMediaType(ErrorBody),
}

/// The refusals every admin route with a body shares besides [`BodyErrors`], documented once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its responses are used.
pub enum AdminErrors {
    #[response(
        status = 400,
        description = "`invalid_request`: the body, a path id or a header breaks a rule"
    )]
    InvalidRequest(ErrorBody),
    #[response(
        status = 401,
        description = "`unauthorized`: no or a wrong admin token (checked first)"
    )]
    Unauthorized(ErrorBody),
}

/// The refusals of every purchase route (this API's and the seed's) besides [`BodyErrors`],
/// documented once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its responses are used.
pub enum PurchaseErrors {
    #[response(
        status = 400,
        description = "`invalid_request`: the body, a path id or a header breaks a rule"
    )]
    InvalidRequest(ErrorBody),
    #[response(
        status = 403,
        description = "A sale with a waiting room (`fifo`, `random`): the purchase token is `token_missing`, `token_invalid`, `token_expired`, `token_used` or `token_wrong_user`; nothing was taken"
    )]
    TokenRefused(ErrorBody),
    #[response(
        status = 404,
        description = "`sale_not_found`: no sale has this id (`not_found`: no such route, e.g. an empty id)"
    )]
    SaleNotFound(ErrorBody),
    #[response(
        status = 409,
        description = "`sold_out`, `limit_reached` or `sale_not_active`"
    )]
    Conflict(ErrorBody),
    #[response(
        status = 422,
        description = "`idempotency_key_reused`: the key was used with another quantity"
    )]
    KeyReused(ErrorBody),
    #[response(
        status = 429,
        description = "`rate_limited`: this client address or this `user_id` sent more purchases than its rate limit allows (only when `FLASHSALE_RATE_LIMIT_*` turn limits on); nothing was tried",
        headers(("Retry-After" = u64, description = "Whole seconds until the limit lets one more through (at least 1)"))
    )]
    RateLimited(ErrorBody),
    #[response(
        status = 503,
        description = "`overloaded` (nothing tried) or `unavailable` (outcome unknown); `Retry-After: 1`"
    )]
    Unavailable(ErrorBody),
}

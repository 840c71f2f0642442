//! The documentation-only types of the OpenAPI document (`openapi.rs`) that the handlers'
//! `#[utoipa::path]` annotations refer to: the error shape, its codes, and each route's errors.
//! A file of its own, so handlers and the document do not import each other.
//!
//! Every code, status and message is declared once, in `errors/catalogue.rs`; here a route only
//! names the kinds it may answer (with a note where the route adds something, e.g. what a 503
//! leaves done), and each becomes one response per status listing its codes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::{Content, HeaderBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::errors::{ErrorKind, RETRY_AFTER_SECS};

/// The one error shape (section 1 of docs/API.md).
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used: errors/api_error.rs writes the body.
pub struct ErrorBody {
    error: ErrorCode,
    /// Text for a person; do not parse it.
    message: String,
}

/// Every error code (docs/API.md, section 4): the schema of [`ErrorBody`]'s `error`, the codes
/// of the catalogue.
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Every error code (docs/API.md, section 4)."))
            .enum_values(Some(ErrorKind::codes()))
            .into()
    }
}

impl ToSchema for ErrorCode {}

/// An error a route may answer, and what the route says about it ("" for nothing).
type Documented = (ErrorKind, &'static str);

/// A list of [`Documented`] errors: `Kind` or `Kind: "note"`, comma separated.
macro_rules! documented {
    ($($kind:ident $(: $note:literal)?),* $(,)?) => {
        &[$((ErrorKind::$kind, concat!("" $(, $note)?))),*]
    };
}

/// Declares a route's errors as a type for `responses(...)` of `#[utoipa::path]`: shared lists,
/// then the route's own, then notes for a whole status (`where CONFLICT: "..."`).
macro_rules! route_errors {
    ($(
        $(#[$doc:meta])*
        $name:ident = $($shared:ident +)* [$($own:tt)*] $(where $($status:ident: $note:literal),*)?;
    )*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                error_responses(
                    &[$($shared,)* documented!($($own)*)],
                    &[$($((StatusCode::$status, $note)),*)?],
                )
            }
        }
    )*};
}

/// One response per status: its codes in the order listed, each with its note, then the note
/// for the whole status; `Retry-After` where `ApiError::error_response` sends it.
fn error_responses(
    lists: &[&[Documented]],
    status_notes: &[(StatusCode, &str)],
) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<StatusCode, Vec<Documented>> = BTreeMap::new();
    for &(kind, note) in lists.iter().copied().flatten() {
        by_status
            .entry(kind.status())
            .or_default()
            .push((kind, note));
    }
    by_status
        .into_iter()
        .map(|(status, documented)| {
            let mut description = match documented.as_slice() {
                [(kind, "")] => format!("`{}`", kind.code()),
                [(kind, note)] => format!("`{}`: {note}", kind.code()),
                several => {
                    let codes: Vec<String> = several
                        .iter()
                        .map(|(kind, note)| match *note {
                            "" => format!("`{}`", kind.code()),
                            note => format!("`{}` ({note})", kind.code()),
                        })
                        .collect();
                    match codes.split_last() {
                        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                        None => String::new(),
                    }
                }
            };
            for (_, note) in status_notes.iter().filter(|(s, _)| *s == status) {
                description = format!("{description}; {note}");
            }
            (
                status.as_u16().to_string(),
                error_response(status, description),
            )
        })
        .collect()
}

fn error_response(status: StatusCode, description: String) -> RefOr<Response> {
    let body = Content::new(Some(Ref::from_schema_name(ErrorBody::name())));
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body);
    let retry_after: Option<Cow<str>> = match status {
        StatusCode::TOO_MANY_REQUESTS => {
            Some("Whole seconds until the limit lets one more through (at least 1)".into())
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Some(format!("Seconds to wait before retrying: {RETRY_AFTER_SECS}").into())
        }
        _ => None,
    };
    match retry_after {
        Some(description) => response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(u64::schema())
                .description(Some(description))
                .build(),
        ),
        None => response,
    }
    .into()
}

/// The refusals of a JSON body, whatever the route.
const BODY: &[Documented] = documented![
    PayloadTooLarge: "body over 4096 bytes",
    UnsupportedMediaType: "a non-empty body that is not JSON",
];
/// The refusals every admin route shares.
const ADMIN: &[Documented] = documented![
    InvalidRequest: "the body, a path id or a header breaks a rule",
    Unauthorized: "no or a wrong admin token (checked first)",
];
/// A `{sale_id}` that is not valid or names no sale.
const SALE: &[Documented] = documented![
    InvalidRequest: "a bad id",
    SaleNotFound,
    RouteNotFound: "no such route",
];
/// A waiting-room ticket read by its ids.
const TICKET: &[Documented] = documented![
    InvalidRequest: "a bad id",
    TicketNotFound: "none this round",
    SaleNotFound,
    RouteNotFound: "no such route",
    NoWaitingRoom: "the sale is `open`",
    RateLimited: "per client address, when `FLASHSALE_RATE_LIMIT_IP_PER_SECOND` is set",
];
/// A waitlist entry read by its ids.
const WAITLIST_ENTRY: &[Documented] = documented![
    InvalidRequest: "a bad sale or entry id",
    WaitlistEntryNotFound,
    RouteNotFound: "no such route",
];
/// The answer a stream cannot start with: every stream the process may serve is open, or every
/// one its client's address may hold.
const STREAMS_FULL: &[Documented] =
    documented![Overloaded: "too many streams, in all or from this client address"];

route_errors! {
    /// A purchase: this API's and the seed's.
    PurchaseErrors = BODY + [
        InvalidRequest: "the body, a path id or a header breaks a rule",
        TokenMissing, TokenInvalid, TokenExpired, TokenUsed, TokenWrongUser,
        SaleNotFound, RouteNotFound: "no such route, e.g. an empty id",
        SoldOut, LimitReached, SaleNotActive,
        IdempotencyKeyReused: "the key was used with another quantity",
        RateLimited: "this client address or this `user_id` sent more purchases than its rate limit allows (only when `FLASHSALE_RATE_LIMIT_*` turn limits on); nothing was tried",
        Overloaded: "nothing tried",
        Unavailable: "outcome unknown",
    ] where FORBIDDEN: "a sale with a waiting room (`fifo`, `random`) refused the purchase token; nothing was taken";
    GetPurchaseErrors = [
        InvalidRequest: "not a UUID",
        PurchaseNotFound, RouteNotFound: "no such route",
        Unavailable: "Redis (or PostgreSQL) failed",
    ];
    PayHoldErrors = BODY + [
        InvalidRequest: "the body or the purchase id breaks a rule",
        InvalidSignature: "no, a stale or a wrong signature (checked first; nothing changed)",
        PurchaseNotFound,
        HoldExpired, HoldCancelled, PaymentConflict: "paid with another ref", NotAHold,
        Unavailable: "the payment may have been recorded; retry it",
    ];
    CancelHoldErrors = BODY + [
        InvalidRequest: "the body or the purchase id breaks a rule",
        HoldTokenRequired: "neither a hold_token nor the admin token",
        WrongHoldToken: "not this purchase's",
        PurchaseNotFound,
        HoldPaid, HoldExpired, NotAHold,
        Unavailable: "the cancel may have happened; retry it",
    ];
    GetSaleErrors = SALE + [Unavailable];
    StreamSaleErrors = SALE + STREAMS_FULL + [Unavailable];
    ListSalesErrors = [
        Unavailable: "Redis (or PostgreSQL for a naive or locking sale) did not answer",
    ];
    StatsErrors = [Unavailable: "Redis did not answer"];
    ReadyzErrors = [Unavailable: "Redis does not answer"];
    JoinWaitlistErrors = BODY + [
        InvalidRequest: "the body or the sale id breaks a rule",
        SaleNotFound, RouteNotFound: "no such route",
        NotSoldOut: "units left: buy one",
        WaitlistUnavailable: "the sale has no holds",
        SaleNotActive, LimitReached, AlreadyWaitlisted,
        RateLimited: "per client address or per user, when `FLASHSALE_RATE_LIMIT_*` are set",
        Unavailable: "the join may have happened",
    ];
    GetWaitlistEntryErrors = WAITLIST_ENTRY + [Unavailable];
    LeaveWaitlistErrors = WAITLIST_ENTRY + [
        NotWaiting: "offered a unit (cancel its hold instead), passed over, or its round ended",
        Unavailable: "the leave may have happened",
    ];
    JoinQueueErrors = BODY + [
        InvalidRequest: "the body or the id breaks a rule",
        SaleNotFound, RouteNotFound: "no such route",
        NoWaitingRoom: "the sale is `open`: buy directly",
        SoldOut, SaleNotActive: "ended",
        RateLimited: "per client address or per user, when `FLASHSALE_RATE_LIMIT_*` are set",
        Unavailable: "asking again is safe",
    ] where CONFLICT: "no ticket is made";
    GetTicketErrors = TICKET + [Unavailable];
    StreamTicketErrors = TICKET + STREAMS_FULL + [Unavailable];
    SeedStreamErrors = STREAMS_FULL + [
        SaleNotFound, RouteNotFound: "no such route",
        Unavailable,
    ];
    PutSaleErrors = ADMIN + BODY + [
        RouteNotFound: "no such route (an empty id)",
        AdmissionNotConfigured: "a waiting room asked for, and this server has no FLASHSALE_TOKEN_SECRET",
        InvalidStrategy: "also: `hold_seconds` above 0 with another strategy than `async`; a waiting room with `naive` or `locking`",
        Unavailable: "the round may have started",
    ];
    ResetSaleErrors = ADMIN + BODY + [
        SaleNotFound, RouteNotFound: "no such route",
        Unavailable: "the reset may have happened",
    ];
    ResetGoflashSalesErrors = ADMIN + BODY + [
        SaleNotFound: "none of the seed sales exists",
        Unavailable: "some resets may have happened",
    ];
    ChangeStockErrors = ADMIN + BODY + [
        SaleNotFound, RouteNotFound: "no such route",
        StockBelowTaken: "fewer units left on sale than asked to remove; the message gives stock, remaining, held and paid; nothing changed",
        InvalidStrategy: "the sale's stock lives in Postgres (`naive`, `locking`)",
        Unavailable: "the change may have happened",
    ];
}

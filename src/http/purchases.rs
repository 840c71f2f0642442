//! `POST /api/v1/sales/{sale_id}/purchases` and `GET /api/v1/purchases/{purchase_id}`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use std::sync::LazyLock;

use dashmap::DashMap;
use uuid::Uuid;

use super::errors::{ApiError, RATE_LIMITED};
use super::extract::{purchase_id, sale_id, FromJsonObject, JsonBody, JsonObject};
use super::state::AppState;
use crate::domain::decision::{ReserveError, ReserveOutcome, OUTCOME_LABELS};
use crate::domain::{IdempotencyKey, Purchase, Quantity, Reservation, TokenRefusal, UserId};
use crate::runtime::telemetry::names;
use crate::services::admission::tokens::TOKEN_HEADER;

/// The header that makes a purchase safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The body of a purchase. Read field by field (`FromJsonObject`), so every message about it
/// is ours; the `serde` attributes only shape its OpenAPI schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    user_id: String,
    /// 1 to 10000000.
    #[serde(default)]
    #[schema(default = 1, minimum = 1, maximum = 10_000_000)]
    quantity: u64,
}

impl FromJsonObject for PurchaseBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            user_id: object.string("user_id")?,
            quantity: object.whole_number_or("quantity", 1)?,
        })
    }
}

/// What a purchase asks for, whichever route it came by (this API's or the seed's).
pub(super) struct PurchaseRequest {
    pub user_id: String,
    pub quantity: u64,
}

/// Buy units of a sale.
///
/// Reserves `quantity` units (1 by default) of the sale for `user_id` and answers 202 with the
/// purchase, `reserved` until the worker persists it as an order, then `confirmed` (`GET
/// /api/v1/purchases/{purchase_id}`). On a sale with holds the purchase is held: pay it or cancel
/// it within `hold_seconds`, with the `hold_token` it carries. A sale with a waiting room (`fifo`,
/// `random`) sells only to buyers sending the purchase token their admitted ticket gave them. An
/// `Idempotency-Key` makes a retry answer the first purchase instead of buying again.
#[utoipa::path(post, path = "/api/v1/sales/{sale_id}/purchases", tag = "purchases",
    params(("sale_id" = String, Path, description = "The sale"), ("Idempotency-Key" = Option<String>, Header, pattern = "^[ -~]{1,128}$", description = "1 to 128 printable ASCII characters; makes a retry safe")),
    // None for an `open` sale; the purchase token for a sale with a waiting room.
    security((), ("purchase_token" = [])),
    request_body(content = PurchaseBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Reserved (or the replay of a reservation); `Location` points at the purchase", body = Purchase,
            headers(("Location" = String, description = "/api/v1/purchases/{purchase_id}"))),
        super::schemas::PurchaseErrors,
    ))]
pub async fn create_purchase(
    req: HttpRequest,
    path: web::Path<String>,
    body: Result<JsonBody<PurchaseBody>, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request = body.map(|JsonBody(body)| PurchaseRequest {
        user_id: body.user_id,
        quantity: body.quantity,
    });
    let purchase = decide(&req, &path, request, &state).await?;
    Ok(located(HttpResponse::Accepted(), &purchase).json(purchase))
}

/// `response` (a success) pointing at where `purchase` can be read.
pub(super) fn located(
    mut response: HttpResponseBuilder,
    purchase: &Purchase,
) -> HttpResponseBuilder {
    response.insert_header((
        header::LOCATION,
        format!("/api/v1/purchases/{}", purchase.purchase_id),
    ));
    response
}

/// Decides a purchase of the sale `sale_id`: the purchase that took stock, or why not. Every
/// request counts once in `flashsale_purchases_total` under its outcome, bad bodies included.
// At debug level: a span per purchase at info level cost the stampede an allocation and a
// registry entry per request while the default filter shows none of its lines.
#[tracing::instrument(name = "purchase", level = "debug", skip_all, fields(sale_id = %sale_id, purchase_id = tracing::field::Empty))]
pub(super) async fn decide(
    req: &HttpRequest,
    sale_id: &str,
    request: Result<PurchaseRequest, ApiError>,
    state: &AppState,
) -> Result<Purchase, ApiError> {
    let decided = purchase(req, sale_id, request, state).await;
    let outcome = match &decided {
        Ok(Ok(decided)) => decided.label(),
        Ok(Err(error)) => error.label(),
        // The request never reached a decision: refused by a rate limit, or not a valid
        // purchase.
        // Its outcome label is its error code.
        Err(error) if error.code() == RATE_LIMITED => RATE_LIMITED,
        Err(_) => "invalid",
    };
    outcome_counter(outcome).increment(1);
    if let Ok(Ok(ReserveOutcome::TokenRefused(refusal))) = &decided {
        refusal_counter(*refusal).increment(1);
    }
    if let Ok(Ok(ReserveOutcome::Replayed(original))) = &decided {
        // A replay answers with the original purchase, whose id differs from the new one.
        tracing::Span::current()
            .record("purchase_id", tracing::field::display(original.purchase_id));
    }
    // One line per purchase at debug level (`RUST_LOG=flashsale=debug`), inside the span.
    tracing::debug!(outcome, "purchase decided");
    match decided?? {
        ReserveOutcome::Reserved { purchase, .. }
        | ReserveOutcome::Ordered(purchase)
        | ReserveOutcome::Replayed(purchase) => Ok(purchase),
        ReserveOutcome::SoldOut { .. } => Err(ApiError::sold_out()),
        ReserveOutcome::LimitReached => Err(ApiError::limit_reached()),
        ReserveOutcome::SaleNotActive => Err(ApiError::sale_not_active()),
        ReserveOutcome::SaleNotFound => Err(ApiError::sale_not_found()),
        ReserveOutcome::KeyReused => Err(ApiError::idempotency_key_reused()),
        ReserveOutcome::TokenRefused(refusal) => Err(ApiError::token_refused(refusal)),
        // `Strategies::purchase` asks again rather than answer this.
        ReserveOutcome::StrategyChanged => Err(ApiError::unavailable()),
    }
}

/// Validates the request and applies the rate limits (the outer error: not a valid purchase,
/// or 429), then has the sale's strategy decide it (the inner result).
///
/// The limits come after the sold-out shortcut: a purchase this process answers `sold_out`
/// without Redis takes nothing and costs nothing, so it is not counted against anyone, the
/// stampede on a sold-out sale pays no limit check, and a buyer over the limit still learns at
/// once that the stock is gone. Everything else is counted before it reaches the strategy.
async fn purchase(
    req: &HttpRequest,
    path: &str,
    request: Result<PurchaseRequest, ApiError>,
    state: &AppState,
) -> Result<Result<ReserveOutcome, ReserveError>, ApiError> {
    let request = request?;
    let idempotency_key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()?;
    let sale_id = sale_id(path)?;
    let user_id = UserId::parse(&request.user_id)?;
    let quantity = Quantity::parse(request.quantity)?;
    // Checked before the actors, so a forgery costs no Redis call; a sale with a waiting room
    // refuses a purchase without one in its reservation script (an `open` sale ignores it).
    let token = match req.headers().get(TOKEN_HEADER) {
        None => None,
        Some(raw) => {
            let verified = state
                .token_key
                .as_ref()
                .ok_or(TokenRefusal::Invalid)
                .and_then(|key| key.verify(raw.as_bytes(), &sale_id, &user_id));
            match verified {
                Ok(claims) => Some(claims),
                Err(refusal) => return Ok(Ok(ReserveOutcome::TokenRefused(refusal))),
            }
        }
    };
    let reservation = Reservation {
        // Time-ordered (UUIDv7: a millisecond timestamp, then 74 random bits, as unguessable as
        // a purchase id needs): the worker's orders are keyed by it, and ids that grow with time
        // land at the right edge of PostgreSQL's index instead of on a random page each, which
        // keeps persisting as cheap at millions of orders as at the first (README, "Benchmark").
        purchase_id: Uuid::now_v7(),
        sale_id,
        user_id,
        quantity,
        idempotency_key,
        token,
    };
    tracing::Span::current().record(
        "purchase_id",
        tracing::field::display(reservation.purchase_id),
    );
    if state.rate_limits.any() && state.sold_out.shortcut(&reservation).is_none() {
        state.rate_limits.admit(req, &reservation.user_id)?;
    }
    Ok(state.strategies.purchase(reservation).await)
}

/// Shows every outcome from the first scrape on, at zero until it happens, so a dashboard's
/// "overloaded" line exists before the first overload.
pub fn register_metrics() {
    for outcome in OUTCOME_LABELS {
        outcome_counter(outcome).increment(0);
    }
    for refusal in TokenRefusal::ALL {
        refusal_counter(refusal).increment(0);
    }
}

/// `flashsale_tokens_refused_total{reason}`, its handle made once per reason.
fn refusal_counter(refusal: TokenRefusal) -> metrics::Counter {
    static REASONS: LazyLock<DashMap<&'static str, metrics::Counter>> = LazyLock::new(DashMap::new);
    let reason = refusal.as_str();
    super::metrics::cached(
        &REASONS,
        reason,
        || metrics::counter!(names::TOKENS_REFUSED, "reason" => reason),
    )
}

/// `flashsale_purchases_total{outcome}`, its handle made once per outcome.
fn outcome_counter(outcome: &'static str) -> metrics::Counter {
    static OUTCOMES: LazyLock<DashMap<&'static str, metrics::Counter>> =
        LazyLock::new(DashMap::new);
    super::metrics::cached(
        &OUTCOMES,
        outcome,
        || metrics::counter!(names::PURCHASES, "outcome" => outcome),
    )
}

/// Read a purchase.
///
/// The purchase as it stands: `reserved` until the worker persisted it as an order, then
/// `confirmed`; a held purchase also shows its hold's state. Purchases of the `naive` and `locking`
/// strategies exist only as orders, `confirmed` from the start.
#[utoipa::path(get, path = "/api/v1/purchases/{purchase_id}", tag = "purchases",
    params(("purchase_id" = uuid::Uuid, Path, description = "A purchase id")),
    responses(
        (status = 200, description = "The purchase, `reserved` or `confirmed`", body = Purchase),
        super::schemas::GetPurchaseErrors,
    ))]
pub async fn get_purchase(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let purchase_id = purchase_id(&path)?;
    let purchase = state
        .purchases
        .find(purchase_id)
        .await?
        .ok_or_else(ApiError::purchase_not_found)?;
    Ok(HttpResponse::Ok().json(purchase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::read_object;

    /// Reads `body` as a purchase body; the error as the client would see it.
    fn read(body: &str) -> Result<(), String> {
        read_object::<PurchaseBody>(body.as_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_body_reads() {
        assert_eq!(read(r#"{"user_id": "u"}"#), Ok(()));
        assert_eq!(read(r#"{"user_id": "u", "quantity": 2}"#), Ok(()));
    }

    #[test]
    fn messages_say_what_is_wrong_in_the_clients_terms() {
        let cases = [
            (
                r#"{"user_id": "#,
                "the body is not valid JSON (line 1, column 12)",
            ),
            ("[1]", "the body must be a JSON object"),
            ("5", "the body must be a JSON object"),
            ("{}", "field `user_id` is required: a string"),
            (r#"{"user_id": 5}"#, "field `user_id` must be a string"),
            (
                r#"{"user_id": "u", "quantity": "1"}"#,
                "field `quantity` must be a whole number between 0 and 18446744073709551615",
            ),
            (
                r#"{"user_id": "u", "quantity": -1}"#,
                "field `quantity` must be a whole number between 0 and 18446744073709551615",
            ),
            (
                r#"{"user_id": "u", "quantity": 1e40}"#,
                "field `quantity` must be a whole number between 0 and 18446744073709551615",
            ),
            (
                r#"{"user_id": "u", "price": 1}"#,
                "unknown field `price`; the fields are user_id, quantity",
            ),
            (
                r#"{"user_id": "u", "user_id": "v"}"#,
                "field `user_id` appears more than once",
            ),
        ];
        for (body, message) in cases {
            let error = read(body).err().unwrap_or_default();
            assert_eq!(error, format!("invalid_request: {message}"), "{body}");
        }
    }

    #[test]
    fn a_quoted_field_name_is_a_short_printable_excerpt() {
        let long = format!(r#"{{"user_id": "u", "{}\u0007": 1}}"#, "p".repeat(4000));
        let error = read(&long).err().unwrap_or_default();
        assert!(error.len() < 150, "{error}");
        assert!(error.contains("ppp...`"), "{error}");
    }
}

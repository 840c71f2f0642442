//! `POST /api/v1/sales/{sale_id}/purchases` and `GET /api/v1/purchases/{purchase_id}`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::errors::ApiError;
use super::json::JsonBody;
use super::{sale_id, AppState};
use crate::domain::{IdempotencyKey, PurchaseStatus, Quantity, Reservation, UserId};
use crate::orders::is_not_migrated;
use crate::store::ReserveOutcome;
use crate::telemetry::names;

/// The header that makes a purchase safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    user_id: String,
    #[serde(default = "one")]
    quantity: u64,
}

fn one() -> u64 {
    1
}

/// Reserves stock for one buyer: 202 with the purchase, or why not. Every request counts
/// once in `flashsale_purchases_total` under its outcome, bad bodies included.
#[tracing::instrument(name = "purchase", skip_all, fields(sale_id = %path, purchase_id = tracing::field::Empty))]
pub async fn create_purchase(
    req: HttpRequest,
    path: web::Path<String>,
    body: Result<JsonBody<PurchaseBody>, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let decided = purchase(&req, &path, body, &state).await;
    let outcome = outcome_label(&decided);
    metrics::counter!(names::PURCHASES, "outcome" => outcome).increment(1);
    if let Ok(ReserveOutcome::Replayed(original)) = &decided {
        // A replay answers with the original purchase, whose id differs from the new one.
        tracing::Span::current()
            .record("purchase_id", tracing::field::display(original.purchase_id));
    }
    // One line per purchase at debug level (`RUST_LOG=flashsale=debug`), inside the span.
    tracing::debug!(outcome, "purchase decided");
    match decided? {
        ReserveOutcome::Reserved { purchase, .. }
        | ReserveOutcome::Ordered(purchase)
        | ReserveOutcome::Replayed(purchase) => Ok(HttpResponse::Accepted()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/purchases/{}", purchase.purchase_id),
            ))
            .json(purchase)),
        ReserveOutcome::SoldOut { .. } => Err(ApiError::sold_out()),
        ReserveOutcome::LimitReached => Err(ApiError::limit_reached()),
        ReserveOutcome::SaleNotActive => Err(ApiError::sale_not_active()),
        ReserveOutcome::SaleNotFound => Err(ApiError::sale_not_found()),
        ReserveOutcome::KeyReused => Err(ApiError::idempotency_key_reused()),
        // `Strategies::purchase` asks again rather than answer this.
        ReserveOutcome::StrategyChanged => Err(ApiError::overloaded()),
    }
}

/// Validates the request and has the sale's strategy decide it.
async fn purchase(
    req: &HttpRequest,
    path: &str,
    body: Result<JsonBody<PurchaseBody>, ApiError>,
    state: &AppState,
) -> Result<ReserveOutcome, ApiError> {
    let JsonBody(body) = body?;
    let idempotency_key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()?;
    let reservation = Reservation {
        purchase_id: Uuid::new_v4(),
        sale_id: sale_id(path)?,
        user_id: UserId::parse(&body.user_id)?,
        quantity: Quantity::parse(body.quantity)?,
        idempotency_key,
    };
    tracing::Span::current().record(
        "purchase_id",
        tracing::field::display(reservation.purchase_id),
    );
    Ok(state.strategies.purchase(reservation).await?)
}

/// Every value of the `outcome` label of `flashsale_purchases_total`.
const OUTCOMES: [&str; 9] = [
    "reserved",
    "duplicate",
    "sold_out",
    "limit_reached",
    "sale_not_active",
    "not_found",
    "overloaded",
    "unavailable",
    "invalid",
];

/// Shows every outcome from the first scrape on, at zero until it happens, so a dashboard's
/// "overloaded" line exists before the first overload.
pub fn register_metrics() {
    for outcome in OUTCOMES {
        metrics::counter!(names::PURCHASES, "outcome" => outcome).increment(0);
    }
}

/// The `outcome` label of `flashsale_purchases_total` (one of [`OUTCOMES`]).
fn outcome_label(decided: &Result<ReserveOutcome, ApiError>) -> &'static str {
    match decided {
        Ok(ReserveOutcome::Reserved { .. } | ReserveOutcome::Ordered(_)) => "reserved",
        Ok(ReserveOutcome::Replayed(_)) => "duplicate",
        Ok(ReserveOutcome::SoldOut { .. }) => "sold_out",
        Ok(ReserveOutcome::LimitReached) => "limit_reached",
        Ok(ReserveOutcome::SaleNotActive) => "sale_not_active",
        Ok(ReserveOutcome::SaleNotFound) => "not_found",
        // The same key with another body: a client mistake, like a bad body.
        Ok(ReserveOutcome::KeyReused) => "invalid",
        // Answered 503 like an overload (see below): the sale kept changing strategy.
        Ok(ReserveOutcome::StrategyChanged) => "overloaded",
        Err(error) => match error.code() {
            "overloaded" => "overloaded",
            "unavailable" => "unavailable",
            _ => "invalid",
        },
    }
}

/// A purchase and its status: `confirmed` once the worker persisted it as an order. Purchases
/// of the `naive` and `locking` strategies exist only as orders, `confirmed` from the start.
pub async fn get_purchase(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let purchase_id = Uuid::parse_str(&path)
        .map_err(|_| ApiError::invalid_request("purchase_id must be a UUID"))?;
    let Some(mut purchase) = state.store.purchase(purchase_id).await? else {
        return match state.orders.written_purchase(purchase_id).await {
            Ok(Some(purchase)) => Ok(HttpResponse::Ok().json(purchase)),
            Ok(None) => Err(ApiError::purchase_not_found()),
            // No table (or no column) yet: no Postgres strategy ever wrote an order here.
            Err(error) if is_not_migrated(&error) => Err(ApiError::purchase_not_found()),
            Err(error) => Err(error.into()),
        };
    };
    match state.orders.is_confirmed(purchase_id).await {
        Ok(true) => purchase.status = PurchaseStatus::Confirmed,
        Ok(false) => {}
        // "reserved" stays true: the purchase holds its stock whatever Postgres says.
        Err(error) => tracing::warn!(%error, "cannot check whether the purchase is persisted"),
    }
    Ok(HttpResponse::Ok().json(purchase))
}

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

/// Reserves stock for one buyer: 202 with the purchase, or why not.
#[tracing::instrument(name = "purchase", skip_all, fields(sale_id = %path, purchase_id = tracing::field::Empty))]
pub async fn create_purchase(
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody<PurchaseBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let idempotency_key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()?;
    let reservation = Reservation {
        purchase_id: Uuid::new_v4(),
        sale_id: sale_id(&path)?,
        user_id: UserId::parse(&body.user_id)?,
        quantity: Quantity::parse(body.quantity)?,
        idempotency_key,
    };
    match state.strategies.purchase(reservation).await? {
        ReserveOutcome::Reserved { purchase, .. }
        | ReserveOutcome::Ordered(purchase)
        | ReserveOutcome::Replayed(purchase) => {
            tracing::Span::current()
                .record("purchase_id", tracing::field::display(purchase.purchase_id));
            Ok(HttpResponse::Accepted()
                .insert_header((
                    header::LOCATION,
                    format!("/api/v1/purchases/{}", purchase.purchase_id),
                ))
                .json(purchase))
        }
        ReserveOutcome::SoldOut { .. } => Err(ApiError::sold_out()),
        ReserveOutcome::LimitReached => Err(ApiError::limit_reached()),
        ReserveOutcome::SaleNotActive => Err(ApiError::sale_not_active()),
        ReserveOutcome::SaleNotFound => Err(ApiError::sale_not_found()),
        ReserveOutcome::KeyReused => Err(ApiError::idempotency_key_reused()),
        // `Strategies::purchase` asks again rather than answer this.
        ReserveOutcome::StrategyChanged => Err(ApiError::overloaded()),
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

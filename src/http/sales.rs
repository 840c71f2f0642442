//! `GET /api/v1/sales/{sale_id}`.

use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::errors::ApiError;
use super::{sale_id, AppState};
use crate::domain::{Sale, SaleId};

/// The sale with its round, stock, remaining units, status and strategy.
pub async fn get_sale(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let sale = current_sale(&state, &sale_id).await?;
    Ok(HttpResponse::Ok().json(sale))
}

/// The sale as Redis holds it; for a sale whose stock lives in Postgres (`naive`, `locking`),
/// with the remaining units of the Postgres stock row.
async fn current_sale(state: &AppState, sale_id: &SaleId) -> Result<Sale, ApiError> {
    let mut sale = state
        .store
        .sale(sale_id)
        .await?
        .ok_or_else(ApiError::sale_not_found)?;
    if sale.strategy.stock_in_postgres() {
        if let Some(remaining) = state.sale_stock.remaining(sale_id, sale.round).await? {
            sale.remaining = u64::try_from(remaining).unwrap_or(0);
            sale.sold = sale.stock.saturating_sub(sale.remaining);
            sale.status = Sale::status_at(Utc::now(), sale.starts_at, sale.ends_at, sale.remaining);
        }
    }
    Ok(sale)
}

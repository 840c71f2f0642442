//! `GET /api/v1/sales/{sale_id}`.

use actix_web::{web, HttpResponse};

use super::errors::ApiError;
use super::extract::sale_id;
use super::state::AppState;
use crate::domain::{Sale, SaleId};

/// Read a sale.
///
/// The sale with its round, stock, remaining units, status and strategy.
#[utoipa::path(get, path = "/api/v1/sales/{sale_id}", tag = "sales",
    params(("sale_id" = String, Path, description = "The sale")),
    responses(
        (status = 200, description = "The sale", body = Sale),
        super::schemas::GetSaleErrors,
    ))]
pub async fn get_sale(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current_sale(&state, &sale_id(&path)?).await?))
}

/// The sale as buyers see it (see `SaleService::current`).
pub(super) async fn current_sale(state: &AppState, sale_id: &SaleId) -> Result<Sale, ApiError> {
    state
        .sales
        .current(sale_id)
        .await?
        .ok_or_else(ApiError::sale_not_found)
}

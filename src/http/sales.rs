//! `GET /api/v1/sales/{sale_id}`.

use actix_web::{web, HttpResponse};

use super::errors::ApiError;
use super::{sale_id, AppState};
use crate::domain::Sale;

/// The sale with its round, stock, remaining units, status and strategy.
pub async fn get_sale(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current_sale(&state, &path).await?))
}

/// The sale of the `{sale_id}` segment as buyers see it (see `SaleStock::current_sale`).
pub(super) async fn current_sale(state: &AppState, path: &str) -> Result<Sale, ApiError> {
    state
        .sale_stock
        .current_sale(&state.store, &sale_id(path)?)
        .await?
        .ok_or_else(ApiError::sale_not_found)
}

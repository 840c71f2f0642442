//! `GET /api/v1/sales/{sale_id}`.

use actix_web::{web, HttpResponse};

use super::errors::ApiError;
use super::{sale_id, AppState};

/// The sale with its round, stock, remaining units, status and strategy.
pub async fn get_sale(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let sale = state
        .sale_stock
        .current_sale(&state.store, &sale_id)
        .await?
        .ok_or_else(ApiError::sale_not_found)?;
    Ok(HttpResponse::Ok().json(sale))
}

//! The admin API: create or replace a sale, reset it. Every route here sits behind
//! [`require_admin`]; the work is done by the sale service (`api/sales.rs`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use super::extract::{sale_id, FromJsonObject, JsonBody, JsonObject, OptionalJsonBody};
use super::state::AppState;
use crate::api::sales::DEFAULT_SALE_ID;
use crate::common::domain::{parse_stock, SaleId, SaleSpec, Strategy};
use crate::common::store::RoundOutcome;

/// Every path under this prefix is the admin's: without a valid token it is 401, whether or
/// not a route is there (so the answer does not reveal which admin routes exist).
pub const ADMIN_PREFIX: &str = "/api/v1/admin";

/// Middleware: lets the request through only with `Authorization: Bearer <admin token>`.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if holds_admin_token(req.request()) {
        next.call(req).await
    } else {
        Err(ApiError::unauthorized().into())
    }
}

/// Whether `req` carries `Authorization: Bearer <admin token>` and a token is configured.
pub fn holds_admin_token(req: &HttpRequest) -> bool {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.admin_token.as_ref())
        .map(|token| token.expose_secret().as_bytes().to_vec());
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    match (expected, presented) {
        // Constant-time, so response timing does not reveal how much of a guess was right.
        (Some(expected), Some(presented)) => bool::from(expected.ct_eq(presented)),
        _ => false,
    }
}

/// Whether `path` is the admin prefix or under it (`/api/v1/administrator` is not).
pub fn is_admin_path(path: &str) -> bool {
    path.strip_prefix(ADMIN_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub struct SaleBody {
    name: String,
    stock: u64,
    per_user_limit: u64,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    /// `naive`, `locking`, `redis` or `async` (the default); see `crate::strategies`.
    strategy: Option<String>,
}

impl FromJsonObject for SaleBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            name: object.string("name")?,
            stock: object.whole_number("stock")?,
            per_user_limit: object.whole_number_or("per_user_limit", 1)?,
            starts_at: object.optional_timestamp("starts_at")?,
            ends_at: object.optional_timestamp("ends_at")?,
            strategy: object.optional_string("strategy")?,
        })
    }
}

pub struct ResetBody {
    /// A new stock figure; the sale's current one when left out.
    stock: Option<u64>,
}

impl FromJsonObject for ResetBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            stock: object.optional_whole_number("stock")?,
        })
    }
}

/// `PUT /api/v1/admin/sales/{sale_id}`: creates the sale (201) or replaces it (200). Replacing
/// starts a new round with the full new stock.
pub async fn put_sale(
    path: web::Path<String>,
    JsonBody(body): JsonBody<SaleBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let spec = SaleSpec::parse(
        body.name,
        body.stock,
        body.per_user_limit,
        body.starts_at,
        body.ends_at,
    )?;
    let strategy = match body.strategy.as_deref() {
        Some(raw) => Strategy::parse(raw).map_err(|e| ApiError::invalid_strategy(e.0))?,
        None => Strategy::default(),
    };
    let (outcome, sale) = state
        .sales
        .put(&sale_id, SaleSpec { strategy, ..spec })
        .await?;
    Ok(match outcome {
        RoundOutcome::Created => HttpResponse::Created().json(sale),
        _ => HttpResponse::Ok().json(sale),
    })
}

/// `POST /api/v1/admin/sales/{sale_id}/reset`, optional body `{"stock": n}`.
pub async fn reset_sale(
    path: web::Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ResetBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    reset(&state, &sale_id, body).await
}

/// `POST /reset`: the seed's command; resets the default sale.
pub async fn reset_default_sale(
    OptionalJsonBody(body): OptionalJsonBody<ResetBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    reset(&state, &sale_id(DEFAULT_SALE_ID)?, body).await
}

async fn reset(
    state: &AppState,
    sale_id: &SaleId,
    body: Option<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let stock = body.and_then(|b| b.stock).map(parse_stock).transpose()?;
    let sale = state
        .sales
        .reset(sale_id, stock)
        .await?
        .ok_or_else(ApiError::sale_not_found)?;
    Ok(HttpResponse::Ok().json(sale))
}

//! The admin API: create or replace a sale, reset it, change its stock. Every route here sits
//! behind [`require_admin`]; the work is done by the sale service (`services/sales.rs`) and,
//! for the stock, by checkout (`services/checkout/`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use super::extract::{sale_id, FromJsonObject, JsonBody, JsonObject, OptionalJsonBody};
use super::state::AppState;
use crate::domain::{
    parse_hold_seconds, parse_stock, Admission, AdmissionMode, Durability, Sale, SaleId, SaleSpec,
    StockChange, Strategy, MAX_STOCK,
};
use crate::store::{RoundOutcome, StockOutcome};

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

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleBody {
    /// 1 to 200 characters, not blank, no control characters.
    name: String,
    #[schema(maximum = 10_000_000)]
    stock: u64,
    #[serde(default)]
    #[schema(default = 1, minimum = 1, maximum = 4_294_967_295_u64)]
    per_user_limit: u64,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    /// `naive`, `locking`, `redis` or `async` (the default); see `crate::strategies`.
    #[schema(value_type = Option<Strategy>)]
    strategy: Option<String>,
    /// `fast` (the default: 202 once Redis has the purchase) or `broker` (202 once the broker
    /// has its event too).
    #[schema(value_type = Option<Durability>)]
    durability: Option<String>,
    /// 0 (the default): a purchase is final. Otherwise each purchase is a hold that must be
    /// paid within this many seconds; `async` sales only.
    #[serde(default)]
    #[schema(default = 0, maximum = 86_400)]
    hold_seconds: u64,
    /// Who may buy: `{"mode": "open"}` (the default: anyone), or a waiting room admitting
    /// `rate_per_second` buyers (`fifo`: in ticket order; `random`: tickets taken before the
    /// start shuffled once at the start), each with a purchase token valid `token_seconds`.
    admission: Option<AdmissionBody>,
}

/// A sale's `admission`; read field by field like [`SaleBody`].
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionBody {
    /// `open` (the default), `fifo` or `random`.
    #[schema(value_type = Option<AdmissionMode>)]
    mode: Option<String>,
    /// Buyers admitted per second, all API processes together: 1 to 100000; required for
    /// `fifo` and `random`.
    #[schema(minimum = 1, maximum = 100_000)]
    rate_per_second: Option<u64>,
    /// How long an admitted buyer's purchase token is valid: 1 to 86400 (default 300);
    /// `fifo` and `random` only.
    #[schema(minimum = 1, maximum = 86_400)]
    token_seconds: Option<u64>,
}

impl AdmissionBody {
    /// Reads the sale body's `admission` object, if there is one.
    fn read(object: &mut JsonObject) -> Result<Option<Self>, ApiError> {
        let Some(mut nested) = object.optional_object("admission", "admission.")? else {
            return Ok(None);
        };
        let body = Self {
            mode: nested.optional_string("mode")?,
            rate_per_second: nested.optional_whole_number("rate_per_second")?,
            token_seconds: nested.optional_whole_number("token_seconds")?,
        };
        nested.finish()?;
        Ok(Some(body))
    }

    fn parse(body: Option<Self>) -> Result<Admission, ApiError> {
        let Some(body) = body else {
            return Ok(Admission::default());
        };
        let mode = body
            .mode
            .as_deref()
            .map_or(Ok(AdmissionMode::default()), AdmissionMode::parse)?;
        Ok(Admission::parse(
            mode,
            body.rate_per_second,
            body.token_seconds,
        )?)
    }
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
            durability: object.optional_string("durability")?,
            hold_seconds: object.whole_number_or("hold_seconds", 0)?,
            admission: AdmissionBody::read(object)?,
        })
    }
}

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// A new stock figure; the sale's current one when left out.
    #[schema(maximum = 10_000_000)]
    stock: Option<u64>,
}

impl FromJsonObject for ResetBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            stock: object.optional_whole_number("stock")?,
        })
    }
}

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
/// Exactly one of the two.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    /// Units to add: they go to the waitlist first, then on sale.
    #[schema(minimum = 1, maximum = 10_000_000)]
    add: Option<u64>,
    /// Units to take off sale: at most `remaining` (never what is held or paid).
    #[schema(minimum = 1, maximum = 10_000_000)]
    remove: Option<u64>,
}

impl FromJsonObject for StockBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            add: object.optional_whole_number("add")?,
            remove: object.optional_whole_number("remove")?,
        })
    }
}

/// Add units to a sale or remove some.
///
/// Changes the stock of the current round, atomically with purchases and without a new round: units
/// added go to waitlisted buyers first; units removed must still be on sale.
#[utoipa::path(post, path = "/api/v1/admin/sales/{sale_id}/stock", tag = "admin",
    params(("sale_id" = String, Path, description = "The sale")),
    request_body(content = StockBody, content_type = "application/json", description = "`{\"add\": n}` or `{\"remove\": n}`"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The sale as it now stands (units added went to waitlisted buyers first: `offered`)", body = Sale),
        super::schemas::ChangeStockErrors,
    ))]
pub async fn change_stock(
    path: web::Path<String>,
    JsonBody(body): JsonBody<StockBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let change = StockChange::parse(body.add, body.remove)?;
    match state.checkout.change_stock(&sale_id, change).await? {
        StockOutcome::Changed { .. } => {}
        StockOutcome::NotFound => return Err(ApiError::sale_not_found()),
        StockOutcome::StockInPostgres => {
            return Err(ApiError::invalid_strategy(
                "stock changes need a sale whose stock is in Redis: the redis or async strategy",
            ))
        }
        StockOutcome::TooMuch(figures) => {
            return Err(ApiError::invalid_request(format!(
                "the stock would pass {MAX_STOCK}: it is {} now",
                figures.stock
            )))
        }
        StockOutcome::BelowTaken(figures) => return Err(ApiError::stock_below_taken(&figures)),
    }
    let sale = state
        .sales
        .current(&sale_id)
        .await?
        .ok_or_else(ApiError::sale_not_found)?;
    Ok(HttpResponse::Ok().json(sale))
}

/// Create or replace a sale.
///
/// Creates the sale (201) or replaces it (200): its stock, strategy, window, per-user limit, holds
/// and admission. Replacing starts a new round with the full new stock.
#[utoipa::path(put, path = "/api/v1/admin/sales/{sale_id}", tag = "admin",
    params(("sale_id" = String, Path, description = "The sale to create or replace")),
    request_body(content = SaleBody, content_type = "application/json"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Replaced: a new round with the full new stock", body = Sale),
        (status = 201, description = "Created", body = Sale),
        super::schemas::PutSaleErrors,
    ))]
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
    let durability = body
        .durability
        .as_deref()
        .map_or(Ok(Durability::default()), Durability::parse)?;
    let hold_seconds = parse_hold_seconds(body.hold_seconds)?;
    if hold_seconds > 0 && strategy != Strategy::Async {
        return Err(ApiError::invalid_strategy(
            "hold_seconds above 0 needs the async strategy",
        ));
    }
    let admission = AdmissionBody::parse(body.admission)?;
    if admission.mode.is_gated() {
        if strategy.stock_in_postgres() {
            return Err(ApiError::invalid_strategy(
                "a waiting room (admission fifo or random) needs the redis or async strategy",
            ));
        }
        if state.token_key.is_none() {
            return Err(ApiError::admission_not_configured());
        }
    }
    let spec = SaleSpec {
        strategy,
        durability,
        hold_seconds,
        admission,
        ..spec
    };
    let (outcome, sale) = state.sales.put(&sale_id, spec).await?;
    Ok(match outcome {
        RoundOutcome::Created => HttpResponse::Created().json(sale),
        _ => HttpResponse::Ok().json(sale),
    })
}

/// Start a sale's next round.
///
/// A new round with the full stock, or with `{"stock": n}` the new stock.
#[utoipa::path(post, path = "/api/v1/admin/sales/{sale_id}/reset", tag = "admin",
    params(("sale_id" = String, Path, description = "The sale to reset")),
    request_body(content = Option<ResetBody>, content_type = "application/json", description = "Optional: none or `{}` keeps the stock"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The sale in its new round", body = Sale),
        super::schemas::ResetSaleErrors,
    ))]
pub async fn reset_sale(
    path: web::Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ResetBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    reset(&state, &sale_id, body).await
}

/// Start the next round of every seed sale (the seed's command).
///
/// Resets each of the seed's sales that exists (all four after start-up), with the same optional
/// body as a sale's reset; 404 when none does.
#[utoipa::path(post, path = "/reset", tag = "seed",
    request_body(content = Option<ResetBody>, content_type = "application/json", description = "Optional: none or `{}` keeps the stock"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The seed sales in their new rounds", body = SeedReset),
        super::schemas::ResetGoflashSalesErrors,
    ))]
pub async fn reset_seed_sales(
    OptionalJsonBody(body): OptionalJsonBody<ResetBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let stock = new_stock(body)?;
    let mut sales = Vec::new();
    for (_, sale_id) in state.goflash_sales.all() {
        sales.extend(state.sales.reset(sale_id, stock).await?);
    }
    if sales.is_empty() {
        return Err(ApiError::sale_not_found());
    }
    Ok(HttpResponse::Ok().json(SeedReset {
        message: format!("{} seed sales reset", sales.len()),
        sales,
    }))
}

/// The answer to `POST /reset`: the seed's `message`, and the sales as they now stand.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeedReset {
    message: String,
    sales: Vec<Sale>,
}

/// The stock a reset asks for; `None`: keep the sale's.
fn new_stock(body: Option<ResetBody>) -> Result<Option<u64>, ApiError> {
    Ok(body.and_then(|b| b.stock).map(parse_stock).transpose()?)
}

async fn reset(
    state: &AppState,
    sale_id: &SaleId,
    body: Option<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let stock = new_stock(body)?;
    let sale = state
        .sales
        .reset(sale_id, stock)
        .await?
        .ok_or_else(ApiError::sale_not_found)?;
    Ok(HttpResponse::Ok().json(sale))
}

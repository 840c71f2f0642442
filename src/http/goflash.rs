//! The seed's routes, so its load script and its control room work against flashsale as they
//! are: `POST /purchase` (naive), `/purchase-lock` (locking), `/purchase-redis` (redis),
//! `/purchase-async` (async), each on a seed sale of its own (`services/goflash.rs`), and `GET
//! /stream`. (`POST /reset` is an admin route: `admin.rs`.)
//!
//! A purchase here is a purchase of `POST /api/v1/sales/{sale_id}/purchases` with what the
//! seed leaves out filled in: the body is optional, and a buyer who names no `user_id` is a
//! new anonymous buyer, as every request of the seed's load is. A success is the seed's `200`
//! (its clients count only `=== 200`) with flashsale's purchase, `Location` and the seed's
//! `message`; errors have flashsale's shape (`409 sold_out`, as the seed's sold out).

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream;
use serde::Serialize;
use uuid::Uuid;

use super::errors::ApiError;
use super::extract::{FromJsonObject, JsonObject, OptionalJsonBody};
use super::purchases::{decide, located, PurchaseRequest};
use super::sales::current_sale;
use super::state::AppState;
use super::stream::{event_stream, take_place};
use crate::domain::{Purchase, Sale, Strategy};
use crate::services::stock_watch::Watcher;

/// The seed's stream sends the stock at least this often, changed or not.
pub const SEED_STREAM_INTERVAL: Duration = Duration::from_millis(500);

/// The body of a seed purchase; `{}` or none at all, as the seed sends. Read field by field
/// (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedPurchaseBody {
    /// The buyer; a fresh anonymous one per request when left out.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    user_id: Option<String>,
    /// Units; 1 when left out.
    #[schema(minimum = 1, maximum = 10_000_000)]
    quantity: Option<u64>,
}

impl FromJsonObject for SeedPurchaseBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            user_id: object.optional_string("user_id")?,
            quantity: object.optional_whole_number("quantity")?,
        })
    }
}

/// A seed purchase's 200: the purchase, and the seed's `message`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeedPurchase {
    message: &'static str,
    #[serde(flatten)]
    purchase: Purchase,
}

/// One seed purchase route: its handler and its OpenAPI entry, which differ only in the path,
/// the strategy of the sale they sell from and what their 200 says.
macro_rules! seed_purchase_route {
    ($(#[$doc:meta])* $name:ident, $path:tt, $strategy:expr, $reserved:tt) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "seed",
            security((), ("purchase_token" = [])),
            params(("Idempotency-Key" = Option<String>, Header, pattern = "^[ -~]{1,128}$", description = "1 to 128 printable ASCII characters; makes a retry safe")),
            request_body(content = Option<SeedPurchaseBody>, content_type = "application/json", description = "Optional: none or `{}` buys 1 unit as a new anonymous buyer"),
            responses(
                (status = 200, description = $reserved, body = SeedPurchase,
                    headers(("Location" = String, description = "/api/v1/purchases/{purchase_id}"))),
                super::schemas::PurchaseErrors,
            ))]
        pub async fn $name(
            req: HttpRequest,
            body: Result<OptionalJsonBody<SeedPurchaseBody>, ApiError>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, ApiError> {
            purchase($strategy, &req, body, &state).await
        }
    };
}

seed_purchase_route!(
    /// Buy from the seed's `naive` sale (the seed's phase 1).
    ///
    /// The seed's `POST /purchase`: one unit (or `quantity`) for `user_id`, or for a new
    /// anonymous buyer without a body; a PostgreSQL row update per purchase.
    purchase_naive, "/purchase", Strategy::Naive, "Reserved from the seed's `naive` sale"
);
seed_purchase_route!(
    /// Buy from the seed's `locking` sale (the seed's phase 2).
    ///
    /// The seed's `POST /purchase-lock`: like `/purchase`, the row locked for each purchase.
    purchase_locking, "/purchase-lock", Strategy::Locking, "Reserved from the seed's `locking` sale"
);
seed_purchase_route!(
    /// Buy from the seed's `redis` sale (the seed's phase 3).
    ///
    /// The seed's `POST /purchase-redis`: like `/purchase`, the stock taken in Redis.
    purchase_redis, "/purchase-redis", Strategy::Redis, "Reserved from the seed's `redis` sale"
);
seed_purchase_route!(
    /// Buy from the seed's `async` sale (the seed's phase 4).
    ///
    /// The seed's `POST /purchase-async`: like `/purchase`, the stock taken in Redis and the
    /// order persisted by the worker through the broker.
    purchase_async, "/purchase-async", Strategy::Async, "Reserved from the seed's `async` sale"
);

async fn purchase(
    strategy: Strategy,
    req: &HttpRequest,
    body: Result<OptionalJsonBody<SeedPurchaseBody>, ApiError>,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let request = body.map(|OptionalJsonBody(body)| {
        let body = body.unwrap_or_default();
        PurchaseRequest {
            user_id: body.user_id.unwrap_or_else(anonymous_buyer),
            quantity: body.quantity.unwrap_or(1),
        }
    });
    let sale_id = state.goflash_sales.sale_id(strategy).as_str().to_owned();
    let purchase = decide(req, &sale_id, request, state).await?;
    Ok(located(HttpResponse::Ok(), &purchase).json(SeedPurchase {
        message: "purchase reserved",
        purchase,
    }))
}

/// A user id no one else has: the seed's load never names its buyers, and one id for all of
/// them would stop at the per-user limit after the first purchase.
fn anonymous_buyer() -> String {
    format!("anon-{}", Uuid::new_v4().simple())
}

/// Follow the seed's `async` sale (the seed's stream).
///
/// The seed's Server-Sent Events, `data: {"stock": <remaining>}`, for its `async` sale: when the
/// stock changes, and at least every 500 ms (the seed's cadence, which also serves as the
/// heartbeat).
#[utoipa::path(get, path = "/stream", tag = "seed",
    responses(
        (status = 200, description = "Server-Sent Events `data: {\"stock\": n}` of the seed's async sale, on change and every 500 ms", content_type = "text/event-stream", body = String),
        super::schemas::SeedStreamErrors,
    ))]
pub async fn seed_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let place = take_place(&state.stock_watch, &state, &req)?;
    let sale = current_sale(&state, state.goflash_sales.sale_id(Strategy::Async)).await?;
    let watcher = place.watch(&sale.sale_id);
    let first = format!("retry: 1000\n\n{}", stock_event(sale.remaining));
    let changes = stream::unfold(
        (watcher, sale.remaining),
        |(mut watcher, mut stock)| async move {
            let chunk = next_stock(&mut watcher, &mut stock).await?;
            Some((Ok::<_, actix_web::Error>(chunk), (watcher, stock)))
        },
    );
    Ok(event_stream(first, changes))
}

/// The next event: the stock as soon as it changed, or as it is after
/// [`SEED_STREAM_INTERVAL`]; `None` ends the stream (the process is stopping).
async fn next_stock(watcher: &mut Watcher<Sale>, stock: &mut u64) -> Option<Bytes> {
    let deadline = tokio::time::Instant::now() + SEED_STREAM_INTERVAL;
    loop {
        tokio::select! {
            () = watcher.closed.cancelled() => return None,
            () = tokio::time::sleep_until(deadline) => return Some(Bytes::from(stock_event(*stock))),
            changed = watcher.changes.changed() => {
                changed.ok()?;
                let remaining = watcher.changes.borrow_and_update().as_ref().map(|sale| sale.remaining);
                if let Some(remaining) = remaining.filter(|remaining| remaining != stock) {
                    *stock = remaining;
                    return Some(Bytes::from(stock_event(remaining)));
                }
            }
        }
    }
}

/// One event in the seed's format.
fn stock_event(stock: u64) -> String {
    format!("data: {{\"stock\": {stock}}}\n\n")
}

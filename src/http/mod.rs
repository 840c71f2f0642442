//! The HTTP surface: one file per resource, the JSON extractors and the error type.
//!
//! | route | file |
//! |---|---|
//! | `POST /api/v1/sales/{sale_id}/purchases`, `GET /api/v1/purchases/{purchase_id}` | `purchases.rs` |
//! | `GET /api/v1/sales/{sale_id}` | `sales.rs` |
//! | `PUT /api/v1/admin/sales/{sale_id}`, `POST .../reset`, `POST /reset` | `admin.rs` |
//! | `GET /healthz`, `GET /readyz` | `health.rs` |

pub mod admin;
pub mod errors;
pub mod health;
pub mod json;
pub mod purchases;
pub mod sales;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse, Resource};
use secrecy::SecretString;

use actix::Addr;

use crate::actors::producer::KafkaProducerActor;
use crate::actors::reservation::ReservationPool;
use crate::domain::SaleId;
use crate::orders::Orders;
use crate::sold_out::SoldOutCache;
use crate::store::Store;
use crate::strategies::{SaleStock, Strategies, StrategyCache};
use errors::ApiError;

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub orders: Orders,
    pub reservations: Arc<ReservationPool>,
    /// Routes each purchase by its sale's strategy.
    pub strategies: Strategies,
    /// The strategies' cache, which admin calls keep current.
    pub known_strategies: StrategyCache,
    /// The Postgres stock of `naive` and `locking` sales.
    pub sale_stock: SaleStock,
    pub sold_out: SoldOutCache,
    pub producer: Addr<KafkaProducerActor>,
    pub admin_token: Option<SecretString>,
}

/// Registers every route. Unknown paths and wrong methods get the JSON error shape too.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // actix tries routes in this order, matching `{...}` segments with a regex each time:
    // the purchase route, which takes the stampede, goes first.
    cfg.service(resource("/api/v1/sales/{sale_id}/purchases").post(purchases::create_purchase))
        .service(resource("/healthz").get(health::healthz))
        .service(resource("/readyz").get(health::readyz))
        .service(
            resource("/reset")
                .wrap(from_fn(admin::require_admin))
                .post(admin::reset_default_sale),
        )
        .service(
            web::scope("/api/v1/admin")
                .wrap(from_fn(admin::require_admin))
                .service(resource("/sales/{sale_id}").put(admin::put_sale))
                .service(resource("/sales/{sale_id}/reset").post(admin::reset_sale)),
        )
        .service(resource("/api/v1/sales/{sale_id}").get(sales::get_sale))
        .service(resource("/api/v1/purchases/{purchase_id}").get(purchases::get_purchase))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::route_not_found())
        }));
}

/// A resource that answers a method it does not take with a JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::method_not_allowed())
    }))
}

/// Parses the `{sale_id}` path segment.
fn sale_id(path: &str) -> Result<SaleId, ApiError> {
    Ok(SaleId::parse(path)?)
}

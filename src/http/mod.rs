//! The API's HTTP surface: one file per resource, the extractors, the state and the error type.
//!
//! | route | file |
//! |---|---|
//! | `POST /api/v1/sales/{sale_id}/purchases`, `GET /api/v1/purchases/{purchase_id}` | `purchases.rs` |
//! | `POST /api/v1/purchases/{purchase_id}/payment`, `POST .../cancel` (holds) | `holds.rs` |
//! | `GET /api/v1/sales/{sale_id}` | `sales.rs` |
//! | `POST /api/v1/sales/{sale_id}/waitlist`, `GET`/`DELETE .../waitlist/{entry_id}` | `waitlist.rs` |
//! | `PUT /api/v1/admin/sales/{sale_id}`, `POST .../reset`, `POST .../stock`, `POST /reset` | `admin.rs` |
//! | `POST /purchase`, `/purchase-lock`, `/purchase-redis`, `/purchase-async`, `GET /stream` (the seed's) | `goflash.rs` |
//! | `GET /healthz`, `GET /readyz` | `health.rs` |
//! | `GET /metrics` | `metrics.rs` (the handler is `common::probes`, shared with the worker) |
//! | `GET /api/v1/sales/{sale_id}/stream` | `stream.rs` |
//! | `POST /api/v1/sales/{sale_id}/queue`, `GET .../queue/{ticket_id}`, `GET .../queue/{ticket_id}/stream` (the waiting room) | `queue.rs` |
//! | `GET /`, `GET /control-room`, `GET /api/v1/sales`, `GET /api/v1/stats` (the control room) | `dashboard.rs` (the page: `control_room.html`) |
//! | `GET /openapi.json` | `openapi.rs` (every handler carries its `#[utoipa::path]`) |
//! | every path: head size, body framing, size and timeout, checked before routing | `request_limits.rs` |
//! | the rate limits per client address and per user, which a handler applies (`purchases.rs` does) | `rate_limits.rs`, `client_address.rs` |
//!
//! Every failure becomes an [`errors::ApiError`], which is turned into the JSON error shape in
//! one place (and logged there when it is ours).

pub mod admin;
pub mod client_address;
pub mod cors;
pub mod dashboard;
pub mod errors;
pub mod extract;
pub mod goflash;
pub mod health;
pub mod holds;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod purchases;
pub mod queue;
pub mod rate_limits;
pub mod request_limits;
pub mod sales;
pub mod schemas;
pub mod state;
pub mod stream;
pub mod waitlist;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, HttpRequest, HttpResponse, Resource, ResponseError};

use errors::ApiError;

/// Registers every route. Unknown paths and wrong methods get the JSON error shape too.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // actix tries routes in this order, matching `{...}` segments with a regex each time:
    // the purchase route, which takes the stampede, goes first.
    cfg.service(
        resource("/api/v1/sales/{sale_id}/purchases", Access::Public)
            .post(purchases::create_purchase),
    )
    .service(resource("/healthz", Access::Public).get(health::healthz))
    .service(resource("/readyz", Access::Public).get(health::readyz))
    .service(resource("/purchase-async", Access::Public).post(goflash::purchase_async))
    .service(resource("/purchase-redis", Access::Public).post(goflash::purchase_redis))
    .service(resource("/purchase-lock", Access::Public).post(goflash::purchase_locking))
    .service(resource("/purchase", Access::Public).post(goflash::purchase_naive))
    .service(resource("/stream", Access::Public).get(goflash::seed_stream))
    .service(resource("/reset", Access::Admin).post(admin::reset_seed_sales))
    .service(resource("/api/v1/admin/sales/{sale_id}", Access::Admin).put(admin::put_sale))
    .service(resource("/api/v1/admin/sales/{sale_id}/reset", Access::Admin).post(admin::reset_sale))
    .service(
        resource("/api/v1/admin/sales/{sale_id}/stock", Access::Admin).post(admin::change_stock),
    )
    .service(resource("/api/v1/sales/{sale_id}", Access::Public).get(sales::get_sale))
    .service(resource("/api/v1/sales/{sale_id}/stream", Access::Public).get(stream::stream_sale))
    .service(resource("/api/v1/sales/{sale_id}/queue", Access::Public).post(queue::join_queue))
    .service(
        resource("/api/v1/sales/{sale_id}/queue/{ticket_id}", Access::Public)
            .get(queue::get_ticket),
    )
    .service(
        resource(
            "/api/v1/sales/{sale_id}/queue/{ticket_id}/stream",
            Access::Public,
        )
        .get(queue::stream_ticket),
    )
    .service(
        resource("/api/v1/sales/{sale_id}/waitlist", Access::Public).post(waitlist::join_waitlist),
    )
    .service(
        resource(
            "/api/v1/sales/{sale_id}/waitlist/{entry_id}",
            Access::Public,
        )
        .get(waitlist::get_waitlist_entry)
        .delete(waitlist::leave_waitlist),
    )
    .service(
        resource("/api/v1/purchases/{purchase_id}", Access::Public).get(purchases::get_purchase),
    )
    .service(
        resource("/api/v1/purchases/{purchase_id}/payment", Access::Public).post(holds::pay_hold),
    )
    .service(
        resource("/api/v1/purchases/{purchase_id}/cancel", Access::Public).post(holds::cancel_hold),
    )
    .service(resource("/metrics", Access::Public).get(metrics::serve_metrics))
    .service(resource("/api/v1/sales", Access::Public).get(dashboard::list_sales))
    .service(resource("/api/v1/stats", Access::Public).get(dashboard::stats))
    .service(resource("/openapi.json", Access::Public).get(openapi::openapi_json))
    .service(resource("/control-room", Access::Public).get(dashboard::control_room))
    .service(resource("/", Access::Public).get(dashboard::root))
    .app_data(web::PathConfig::default().error_handler(|_, _| {
        ApiError::invalid_request("the path is not valid UTF-8 once percent-decoded").into()
    }))
    .default_service(web::to(|req: HttpRequest| async move {
        let error = if admin::is_admin_path(req.path()) && !admin::holds_admin_token(&req) {
            ApiError::unauthorized()
        } else {
            ApiError::route_not_found()
        };
        metrics::count_request("unmatched", req.method(), error.status_code());
        Err::<HttpResponse, _>(error)
    }));
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    /// Only with the admin bearer token (see [`admin::require_admin`]).
    Admin,
}

/// A resource whose requests are counted and timed under its pattern (refusals included),
/// that checks the admin token when `access` asks, and answers a method it does not take with
/// a JSON 405.
fn resource(
    path: &'static str,
    access: Access,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::method_not_allowed())
        }))
        .wrap(Condition::new(
            access == Access::Admin,
            from_fn(admin::require_admin),
        ))
        .wrap(from_fn(move |req, next| {
            metrics::record_http(path, req, next)
        }))
}

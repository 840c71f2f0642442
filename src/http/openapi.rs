//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types they take and answer, served at `GET /openapi.json`.
//! `tests/clients/openapi.rs` fails when a route registered in `routes` has no path here, and
//! `ops/clients` has schemathesis check the live API against it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schemas::{ErrorBody, ErrorCode};

/// The name of the admin bearer scheme the admin routes refer to.
pub const ADMIN_SECURITY: &str = "admin";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flashsale",
        description = "Sells a limited stock to a stampede of buyers without overselling. \
                       Prose and semantics: docs/API.md.",
        license(name = "MIT")
    ),
    paths(
        super::purchases::create_purchase,
        super::purchases::get_purchase,
        super::holds::pay_hold,
        super::holds::cancel_hold,
        super::sales::get_sale,
        super::waitlist::join_waitlist,
        super::waitlist::get_waitlist_entry,
        super::waitlist::leave_waitlist,
        super::stream::stream_sale,
        super::queue::join_queue,
        super::queue::get_ticket,
        super::queue::stream_ticket,
        super::admin::put_sale,
        super::admin::reset_sale,
        super::admin::change_stock,
        super::admin::reset_seed_sales,
        super::goflash::purchase_naive,
        super::goflash::purchase_locking,
        super::goflash::purchase_redis,
        super::goflash::purchase_async,
        super::goflash::seed_stream,
        super::dashboard::list_sales,
        super::dashboard::stats,
        super::dashboard::control_room,
        super::dashboard::root,
        super::health::healthz,
        super::health::readyz,
        super::metrics::serve_metrics,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&AdminSecurity)
)]
pub struct ApiDoc;

struct AdminSecurity;

impl Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_SECURITY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("FLASHSALE_ADMIN_TOKEN"))
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

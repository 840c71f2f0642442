//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types they take and answer, served at `GET /openapi.json`.
//! `tests/clients/openapi.rs` fails when a route registered in `routes` has no path here, and
//! `ops/clients` has schemathesis check the live API against it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The name of the admin bearer scheme the admin routes refer to.
pub const ADMIN_SECURITY: &str = "admin";

/// The one error shape (section 1 of docs/API.md).
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used: errors.rs writes the body.
pub struct ErrorBody {
    error: ErrorCode,
    /// Text for a person; do not parse it.
    message: String,
}

/// Every error code (docs/API.md, section 4).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    NotFound,
    SaleNotFound,
    PurchaseNotFound,
    MethodNotAllowed,
    SaleNotActive,
    LimitReached,
    SoldOut,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    InvalidStrategy,
    Overloaded,
    Unavailable,
}

/// The refusals of every purchase route (this API's and the seed's), documented once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its responses are used.
pub enum PurchaseErrors {
    #[response(
        status = 400,
        description = "`invalid_request`: the body, a path id or a header breaks a rule"
    )]
    InvalidRequest(ErrorBody),
    #[response(
        status = 404,
        description = "`sale_not_found`: no sale has this id (`not_found`: no such route, e.g. an empty id)"
    )]
    SaleNotFound(ErrorBody),
    #[response(
        status = 409,
        description = "`sold_out`, `limit_reached` or `sale_not_active`"
    )]
    Conflict(ErrorBody),
    #[response(
        status = 413,
        description = "`payload_too_large`: body over 4096 bytes"
    )]
    PayloadTooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "`unsupported_media_type`: a non-empty body that is not JSON"
    )]
    UnsupportedMediaType(ErrorBody),
    #[response(
        status = 422,
        description = "`idempotency_key_reused`: the key was used with another quantity"
    )]
    KeyReused(ErrorBody),
    #[response(
        status = 503,
        description = "`overloaded` (nothing tried) or `unavailable` (outcome unknown); `Retry-After: 1`"
    )]
    Unavailable(ErrorBody),
}

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
        super::sales::get_sale,
        super::stream::stream_sale,
        super::admin::put_sale,
        super::admin::reset_sale,
        super::admin::reset_seed_sales,
        super::seed::purchase_naive,
        super::seed::purchase_locking,
        super::seed::purchase_redis,
        super::seed::purchase_async,
        super::seed::seed_stream,
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

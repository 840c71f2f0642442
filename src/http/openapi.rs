//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types they take and answer, served at `GET /openapi.json`.
//! `tests/clients/openapi.rs` fails when a route registered in `routes` has no path here, and
//! `ops/clients` has schemathesis check the live API against it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::holds::{REPLAY_WINDOW_SECS, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::schemas::{ErrorBody, ErrorCode};
use crate::services::admission::tokens::TOKEN_HEADER;

// The security schemes, one per credential the API takes; each operation's `security(...)`
// names the ones it accepts (an attribute cannot take a constant, hence the literals there).
// The buyer identity of the identity issue gets its scheme here when it lands.
/// The admin bearer token: the admin routes, and a hold's cancel.
const ADMIN: &str = "admin";
/// The payment webhook's HMAC signature; sent together with [`PAYMENT_TIMESTAMP`].
const PAYMENT_SIGNATURE: &str = "payment_signature";
/// When the payment webhook's call was signed.
const PAYMENT_TIMESTAMP: &str = "payment_timestamp";
/// The waiting room's purchase token: a purchase on a `fifo` or `random` sale.
const PURCHASE_TOKEN: &str = "purchase_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flashsale",
        description = "Sells a limited stock to a stampede of buyers without overselling. \
                       Prose and semantics: docs/API.md.",
        license(name = "MIT", identifier = "MIT")
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
    modifiers(&Credentials),
    // The default: no credential. An operation that takes one lists its own requirements.
    security(()),
    // Relative: the document describes the server that serves it, wherever it is deployed
    // (a port of its own, replicas behind a balancer), which no fixed address would.
    servers((url = "/", description = "The server this document was fetched from")),
    tags(
        (name = "purchases", description = "Buying: reserve units of a sale, then read the purchase as the pipeline confirms it"),
        (name = "holds", description = "A sale with holds: pay a held purchase (the shop's payment system) or cancel it (the buyer, or the admin)"),
        (name = "sales", description = "Reading sales: one sale, every sale, the counters, and a sale's live stream"),
        (name = "waitlist", description = "A sold-out sale with holds: wait for a released unit and read the offer"),
        (name = "queue", description = "A sale's waiting room: take a ticket, follow it, and get the purchase token when admitted"),
        (name = "admin", description = "Running sales: create, reset and restock them (the admin token)"),
        (name = "seed", description = "The GoFlash seed's routes, answered as the seed's clients expect"),
        (name = "control room", description = "The control room page, for a person watching the sales"),
        (name = "meta", description = "Probes, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes the operations refer to.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = |name: &str, description: String| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                name.to_owned(),
                description,
            )))
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <FLASHSALE_ADMIN_TOKEN>` (docs/API.md, section 2)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            PAYMENT_SIGNATURE,
            header(
                SIGNATURE_HEADER,
                format!(
                    "The payment webhook's signature: lowercase hex of HMAC-SHA256 under \
                     FLASHSALE_PAYMENT_SECRET of `<timestamp>.<purchase_id>.<body>`, the \
                     timestamp being the {TIMESTAMP_HEADER} header and the body the exact bytes sent"
                ),
            ),
        );
        components.add_security_scheme(
            PAYMENT_TIMESTAMP,
            header(
                TIMESTAMP_HEADER,
                format!(
                    "When the payment webhook's call was signed, in Unix seconds; refused more \
                     than {REPLAY_WINDOW_SECS} s away from now"
                ),
            ),
        );
        components.add_security_scheme(
            PURCHASE_TOKEN,
            header(
                TOKEN_HEADER,
                "The purchase token the waiting room gave the buyer (the admitted ticket of \
                 `GET /api/v1/sales/{sale_id}/queue/{ticket_id}`); required by sales with `fifo` \
                 or `random` admission, ignored by `open` ones"
                    .to_owned(),
            ),
        );
    }
}

/// This document.
///
/// The OpenAPI 3.1 document of this API, generated from the handlers, for generating clients and
/// checking calls.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

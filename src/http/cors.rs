//! Cross-origin access for browser pages served elsewhere (the seed's control room on
//! `http://localhost:5173`), from `FLASHSALE_CORS_ORIGINS`.

use actix_cors::Cors;
use actix_web::http::{header, Method};
use actix_web::middleware::Condition;

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 3600;

/// Answers preflights and adds the CORS headers for the listed origins; with none listed it
/// stays out of the way, so a preflight is an ordinary request to a route (405).
///
/// A request from an origin not listed goes through without CORS headers rather than being
/// refused here: the browser then withholds the answer from the page, and same-origin calls,
/// which browsers also mark with `Origin` (the control room's admin form), keep working.
pub fn middleware(origins: &[String]) -> Condition<Cors> {
    let cors = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST, Method::PUT])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::LOCATION, header::RETRY_AFTER])
        .block_on_origin_mismatch(false)
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    Condition::new(!origins.is_empty(), cors)
}

//! What the control room reads besides the streams: `GET /` (the page itself),
//! `GET /api/v1/sales` (every sale) and `GET /api/v1/stats` (purchases by outcome and each
//! sale's pipeline). The page polls the two JSON endpoints about once a second, whatever the
//! rate of purchases: nothing here costs a request per purchase.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::pipeline::SalePipeline;
use super::state::AppState;
use crate::domain::decision::OUTCOME_LABELS;
use crate::domain::Sale;
use crate::runtime::telemetry::{self, names};

/// The most sales listed; a store with more lists the first ones by id.
pub const MAX_LISTED_SALES: usize = 100;

/// The control room: one HTML file with its script and styles inline (no CDN, no build step).
const CONTROL_ROOM: &str = include_str!("control_room.html");

/// The control room page.
///
/// An HTML page for a person: every sale live, the purchase counters, and a form to reset a sale
/// with the admin token.
#[utoipa::path(get, path = "/control-room", tag = "control room",
    responses((status = 200, description = "The control room page", content_type = "text/html", body = String)))]
pub async fn control_room() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(CONTROL_ROOM)
}

/// The control room page (the root).
///
/// The same page as `/control-room`.
#[utoipa::path(get, path = "/", tag = "control room",
    responses((status = 200, description = "The control room page", content_type = "text/html", body = String)))]
pub async fn root() -> HttpResponse {
    control_room().await
}

/// Every sale, by id.
#[derive(Serialize, ToSchema)]
pub struct SaleList {
    /// At most 100, ordered by `sale_id`.
    sales: Vec<Sale>,
}

/// List the sales.
///
/// Every sale (at most 100, by id) as `GET /api/v1/sales/{sale_id}` shows it.
#[utoipa::path(get, path = "/api/v1/sales", tag = "sales",
    responses(
        (status = 200, description = "Every sale (at most 100, by id)", body = SaleList),
        super::schemas::ListSalesErrors,
    ))]
pub async fn list_sales(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(SaleList {
        sales: sales(&state).await?,
    }))
}

async fn sales(state: &AppState) -> Result<Vec<Sale>, ApiError> {
    let mut ids = state.operations.sale_ids().await?;
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.truncate(MAX_LISTED_SALES);
    let mut sales = Vec::with_capacity(ids.len());
    for sale_id in ids {
        // A sale that vanished between the two reads is simply not listed.
        sales.extend(state.sales.current(&sale_id).await?);
    }
    Ok(sales)
}

/// Purchases by outcome and where each sale's purchases are on their way to PostgreSQL.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// Purchase requests this API process answered since it started, by outcome (the
    /// counter `flashsale_purchases_total`); a rate is the difference between two reads.
    purchases: BTreeMap<String, u64>,
    /// One entry per listed sale, in the order of `GET /api/v1/sales`.
    #[schema(value_type = Vec<SalePipeline>)]
    pipeline: Arc<Vec<SalePipeline>>,
}

/// Read the control room's figures.
///
/// Purchases by outcome, and each sale's pipeline from reservation to order.
#[utoipa::path(get, path = "/api/v1/stats", tag = "sales",
    responses(
        (status = 200, description = "Purchases by outcome and each sale's pipeline", body = Stats),
        super::schemas::StatsErrors,
    ))]
pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Stats {
        purchases: purchase_counts(&telemetry::render()),
        pipeline: state.pipeline.read(pipeline(&state)).await?,
    }))
}

async fn pipeline(state: &AppState) -> Result<Vec<SalePipeline>, ApiError> {
    let mut pipeline = Vec::new();
    for sale in sales(state).await? {
        let outbox = state.operations.outbox_len(&sale.sale_id).await?;
        let persisted = state.operations.persisted_units(&sale).await;
        pipeline.push(SalePipeline {
            sale_id: sale.sale_id.as_str().to_owned(),
            round: sale.round,
            sold: sale.sold,
            outbox,
            persisted,
            not_persisted: persisted.map(|units| sale.sold.saturating_sub(units)),
        });
    }
    Ok(pipeline)
}

/// The `flashsale_purchases_total` samples of a Prometheus exposition, by outcome; every
/// outcome is listed, at 0 until it happens.
fn purchase_counts(exposition: &str) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = OUTCOME_LABELS
        .iter()
        .map(|outcome| ((*outcome).to_owned(), 0))
        .collect();
    let prefix = format!("{}{{outcome=\"", names::PURCHASES);
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        if let Some((outcome, value)) = rest.split_once("\"} ") {
            let value = value.trim().parse::<f64>().unwrap_or(0.0);
            // Counters are whole numbers; the exposition writes them as floats.
            counts.insert(outcome.to_owned(), value.max(0.0) as u64);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_counts_are_read_from_the_exposition() {
        let text = "# TYPE flashsale_purchases_total counter\n\
                    flashsale_purchases_total{outcome=\"reserved\"} 12\n\
                    flashsale_purchases_total{outcome=\"sold_out\"} 3\n\
                    flashsale_purchases_totalx{outcome=\"reserved\"} 99\n";
        let counts = purchase_counts(text);
        assert_eq!(counts.get("reserved"), Some(&12));
        assert_eq!(counts.get("sold_out"), Some(&3));
        assert_eq!(counts.get("overloaded"), Some(&0));
    }
}

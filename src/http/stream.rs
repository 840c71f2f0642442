//! `GET /api/v1/sales/{sale_id}/stream`: the sale, as Server-Sent Events, whenever it changes.
//!
//! ```text
//! retry: 1000
//!
//! event: sale
//! data: {"sale_id":"phones","round":1,"stock":100,"remaining":97,...,"status":"active"}
//!
//! : heartbeat
//! ```
//!
//! The first event is the sale as it is now; then one per change, at most every
//! [`POLL_INTERVAL`](crate::services::stock_watch::POLL_INTERVAL). A comment line every heartbeat
//! (`FLASHSALE_STREAM_HEARTBEAT_MS`) keeps proxies from closing an idle stream, and is how a
//! client that left is found: the server learns of a closed connection when a write to it
//! fails, so it frees the client's place within two heartbeats.
//!
//! Every stream (this one, the seed's and the tickets') takes its client's place before it
//! reads anything: a client refused for want of one costs no Redis call.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{stream, Stream, StreamExt};

use super::errors::ApiError;
use super::extract::sale_id;
use super::sales::current_sale;
use super::state::AppState;
use crate::domain::Sale;
use crate::services::stock_watch::{Place, Watch, Watcher};

/// Follow a sale live.
///
/// Server-Sent Events of the sale as it changes, until the client leaves or the server stops.
#[utoipa::path(get, path = "/api/v1/sales/{sale_id}/stream", tag = "sales",
    params(("sale_id" = String, Path, description = "The sale")),
    responses(
        (status = 200, description = "Server-Sent Events: `event: sale` with the sale as data, on change; `: heartbeat` comments", content_type = "text/event-stream", body = String),
        super::schemas::StreamSaleErrors,
    ))]
pub async fn stream_sale(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let place = take_place(&state.stock_watch, &state, &req)?;
    let sale = current_sale(&state, &sale_id).await?;
    let watcher = place.watch(&sale.sale_id);
    let first = format!("retry: 1000\n\n{}", event(&sale));
    let changes = stream::unfold(
        (watcher, Some(sale)),
        |(mut watcher, mut last)| async move {
            let chunk = next_chunk(&mut watcher, &mut last).await?;
            Some((Ok::<_, actix_web::Error>(chunk), (watcher, last)))
        },
    );
    Ok(event_stream(first, changes))
}

/// A place for `req`'s client among `watch`'s streams; 503 `overloaded` when this process has
/// none left, in all or for the client's address (`FLASHSALE_STREAM_MAX_CLIENTS[_PER_ADDRESS]`).
pub(super) fn take_place<T: Clone + PartialEq + Send + Sync + 'static>(
    watch: &std::sync::Arc<Watch<T>>,
    state: &AppState,
    req: &HttpRequest,
) -> Result<Place<T>, ApiError> {
    watch
        .take_place(state.rate_limits.client_address(req))
        .map_err(|_| ApiError::overloaded())
}

/// A Server-Sent Events response: `first`, then `rest` until it ends or the client leaves.
pub(super) fn event_stream(
    first: String,
    rest: impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    let body = stream::once(async move { Ok(Bytes::from(first)) }).chain(rest);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// Waits for the next change (one the client has not seen) or heartbeat; `None` ends the
/// stream: the process is stopping.
async fn next_chunk(watcher: &mut Watcher<Sale>, last: &mut Option<Sale>) -> Option<Bytes> {
    loop {
        tokio::select! {
            () = watcher.closed.cancelled() => return None,
            () = tokio::time::sleep(watcher.heartbeat) => return Some(Bytes::from_static(b": heartbeat\n\n")),
            changed = watcher.changes.changed() => {
                // The sender is gone only when the process stops.
                changed.ok()?;
                let sale = watcher.changes.borrow_and_update().clone();
                if sale.is_some() && sale != *last {
                    let chunk = sale.as_ref().map(event);
                    *last = sale;
                    return chunk.map(Bytes::from);
                }
            }
        }
    }
}

/// One `sale` event.
fn event(sale: &Sale) -> String {
    // A `Sale` always serializes; the fallback only keeps this path free of a panic.
    let data = serde_json::to_string(sale).unwrap_or_else(|_| "{}".into());
    format!("event: sale\ndata: {data}\n\n")
}

//! The waiting room of a sale with `fifo` or `random` admission:
//! `POST /api/v1/sales/{sale_id}/queue` (take a ticket), `GET .../queue/{ticket_id}` (where it
//! stands; once admitted, the purchase token) and `GET .../queue/{ticket_id}/stream` (the same
//! as Server-Sent Events, fed by one follower per sale and process: `services/stock_watch.rs`).

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::stream;
use serde::Serialize;
use uuid::Uuid;

use super::errors::ApiError;
use super::extract::{sale_id, FromJsonObject, JsonBody, JsonObject};
use super::state::AppState;
use super::stream::{event_stream, take_place};
use crate::domain::{SaleId, TokenClaims, UserId};
use crate::runtime::outage_log::OutageLog;
use crate::services::stock_watch::Watcher;
use crate::store::{QueueProgress, Ticket, TicketLookup, TicketState};

/// The body of `POST /api/v1/sales/{sale_id}/queue`; read field by field (`FromJsonObject`).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    user_id: String,
}

impl FromJsonObject for QueueBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            user_id: object.string("user_id")?,
        })
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// In the waiting room: `position` and `estimated_wait_seconds` say how far from the front.
    Waiting,
    /// Admitted: `purchase_token` buys, until `token_expires_at`, once.
    Admitted,
    /// No stock is left for this ticket.
    SoldOut,
    /// The sale ended.
    Ended,
}

/// A ticket of a sale's waiting room, as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub ticket_id: Uuid,
    #[schema(value_type = String)]
    pub sale_id: SaleId,
    /// The sale's round the ticket belongs to; a new round forgets every ticket.
    pub round: u64,
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub status: TicketStatus,
    /// `waiting`: buyers admitted before this one, itself included (1: next). Before a
    /// `random` sale's draw at `starts_at`, the number of tickets in the draw (the worst case).
    /// 0 otherwise.
    pub position: u64,
    /// `waiting`: `position` at the sale's admission rate, in whole seconds. 0 otherwise.
    pub estimated_wait_seconds: u64,
    /// `admitted`: send it as `Flashsale-Purchase-Token` with the purchase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_token: Option<String>,
    /// `admitted`: when the token stops buying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// `admitted`: whether the token has bought already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_used: Option<bool>,
}

/// Take a ticket in a sale's waiting room.
///
/// For a sale with `fifo` or `random` admission: takes the buyer's ticket (201), or answers the
/// ticket the buyer already took this round (200). Follow the ticket until it is `admitted`, then
/// buy with its purchase token.
#[utoipa::path(post, path = "/api/v1/sales/{sale_id}/queue", tag = "queue",
    params(("sale_id" = String, Path, description = "A sale with `fifo` or `random` admission")),
    request_body(content = QueueBody, content_type = "application/json"),
    responses(
        (status = 201, description = "A new ticket", body = TicketView),
        (status = 200, description = "The ticket this user took this round, as it stands", body = TicketView),
        super::schemas::JoinQueueErrors,
    ))]
pub async fn join_queue(
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody<QueueBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let user_id = UserId::parse(&body.user_id)?;
    state.rate_limits.admit(&req, &user_id)?;
    let new_ticket = Uuid::new_v4();
    let ticket = found(
        state
            .waiting_room
            .join(&sale_id, &user_id, new_ticket)
            .await?,
    )?;
    let view = view(&state, &sale_id, ticket)?;
    Ok(if view.ticket_id == new_ticket {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Read a waiting-room ticket.
///
/// Where the ticket stands: `waiting` (with its position), `admitted` (with the purchase token to
/// buy with), `sold_out` or `ended`.
#[utoipa::path(get, path = "/api/v1/sales/{sale_id}/queue/{ticket_id}", tag = "queue",
    params(("sale_id" = String, Path, description = "The sale"), ("ticket_id" = Uuid, Path, description = "The ticket")),
    responses(
        (status = 200, description = "The ticket: `waiting`, `admitted` (with its purchase token), `sold_out` or `ended`", body = TicketView),
        super::schemas::GetTicketErrors,
    ))]
pub async fn get_ticket(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admit_client(&req)?;
    let (sale_id, ticket) = read_ticket(&state, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(view(&state, &sale_id, ticket)?))
}

/// Follow a waiting-room ticket live.
///
/// The ticket as Server-Sent Events, at once and on every change, until it is `admitted` or
/// `ended`: the same answers as polling the ticket, without polling.
#[utoipa::path(get, path = "/api/v1/sales/{sale_id}/queue/{ticket_id}/stream", tag = "queue",
    params(("sale_id" = String, Path, description = "The sale"), ("ticket_id" = Uuid, Path, description = "The ticket")),
    responses(
        (status = 200, description = "Server-Sent Events: `event: ticket` with the ticket as data, at once and on every change (at most every 100 ms); `: heartbeat` comments. The stream ends after `admitted` or `ended`", content_type = "text/event-stream", body = String),
        super::schemas::StreamTicketErrors,
    ))]
pub async fn stream_ticket(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limits.admit_client(&req)?;
    let (sale_id, ticket_id) = ticket_ids(&path.0, &path.1)?;
    // Before Redis: a stream refused for want of a place costs it nothing.
    let place = take_place(&state.queue_watch, &state, &req)?;
    let ticket = found(state.waiting_room.ticket(&sale_id, ticket_id).await?)?;
    let first = view(&state, &sale_id, ticket.clone())?;
    let opening = format!("retry: 1000\n\n{}", event(&first));
    if is_final(first.status) {
        return Ok(event_stream(opening, stream::empty()));
    }
    let watcher = place.watch(&sale_id);
    let follow = TicketFollow {
        state,
        sale_id,
        ticket,
        last: first,
        watcher,
        done: false,
    };
    let changes = stream::unfold(follow, |mut follow| async move {
        let chunk = follow.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), follow))
    });
    Ok(event_stream(opening, changes))
}

/// Parses the path and reads the ticket.
async fn read_ticket(
    state: &AppState,
    sale: &str,
    ticket: &str,
) -> Result<(SaleId, Ticket), ApiError> {
    let (sale_id, ticket_id) = ticket_ids(sale, ticket)?;
    let ticket = found(state.waiting_room.ticket(&sale_id, ticket_id).await?)?;
    Ok((sale_id, ticket))
}

/// The sale's and the ticket's ids from the path.
fn ticket_ids(sale: &str, ticket: &str) -> Result<(SaleId, Uuid), ApiError> {
    let sale_id = sale_id(sale)?;
    let ticket_id = Uuid::parse_str(ticket)
        .map_err(|_| ApiError::invalid_request("ticket_id must be a UUID"))?;
    Ok((sale_id, ticket_id))
}

/// The ticket found, or the refusal of its lookup.
fn found(lookup: TicketLookup) -> Result<Ticket, ApiError> {
    match lookup {
        TicketLookup::Found(ticket) => Ok(ticket),
        TicketLookup::SaleNotFound => Err(ApiError::sale_not_found()),
        TicketLookup::NoWaitingRoom => Err(ApiError::no_waiting_room()),
        TicketLookup::NoTicket => Err(ApiError::ticket_not_found()),
        TicketLookup::Ended => Err(ApiError::sale_not_active()),
        TicketLookup::SoldOut => Err(ApiError::sold_out()),
    }
}

/// The ticket as its buyer sees it; an admitted one with its purchase token, signed here.
fn view(state: &AppState, sale_id: &SaleId, ticket: Ticket) -> Result<TicketView, ApiError> {
    let mut view = TicketView {
        ticket_id: ticket.ticket_id,
        sale_id: sale_id.clone(),
        round: ticket.round,
        user_id: ticket.user_id.clone(),
        status: TicketStatus::Waiting,
        position: 0,
        estimated_wait_seconds: 0,
        purchase_token: None,
        token_expires_at: None,
        token_used: None,
    };
    match ticket.state {
        TicketState::Waiting { position } => {
            view.position = position;
            view.estimated_wait_seconds =
                position.div_ceil(u64::from(ticket.rate_per_second.max(1)));
        }
        TicketState::Admitted {
            expires_at_ms,
            used,
            ..
        } => {
            let key = state
                .token_key
                .as_ref()
                .ok_or_else(ApiError::token_key_missing)?;
            view.status = TicketStatus::Admitted;
            view.purchase_token = Some(key.sign(&TokenClaims {
                sale_id: sale_id.clone(),
                round: ticket.round,
                user_id: ticket.user_id,
                expires_at_ms,
                nonce: ticket.ticket_id,
            }));
            view.token_expires_at = DateTime::from_timestamp_millis(expires_at_ms);
            view.token_used = Some(used);
        }
        TicketState::SoldOut => view.status = TicketStatus::SoldOut,
        TicketState::Ended => view.status = TicketStatus::Ended,
    }
    Ok(view)
}

/// After these, nothing changes for the ticket: its stream ends.
fn is_final(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Admitted | TicketStatus::Ended)
}

/// The ticket streams' reads of a ticket, logged once per outage rather than per client.
static READ: OutageLog = OutageLog::new("ticket streams: read a ticket");

/// One ticket stream: the ticket as last sent, and the sale's waiting room as the process's
/// follower reads it.
struct TicketFollow {
    state: web::Data<AppState>,
    sale_id: SaleId,
    ticket: Ticket,
    last: TicketView,
    watcher: Watcher<QueueProgress>,
    /// The final event was sent: the stream ends.
    done: bool,
}

impl TicketFollow {
    /// The next event (the ticket changed) or heartbeat; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                () = self.watcher.closed.cancelled() => return None,
                () = tokio::time::sleep(self.watcher.heartbeat) => {
                    // A read that failed is tried again here, should the room not change again.
                    let progress = *self.watcher.changes.borrow();
                    if let Some(chunk) = self.changed(progress).await {
                        return Some(chunk);
                    }
                    return Some(Bytes::from_static(b": heartbeat\n\n"));
                }
                changed = self.watcher.changes.changed() => {
                    // The sender is gone only when the process stops.
                    changed.ok()?;
                    let progress = *self.watcher.changes.borrow_and_update();
                    if let Some(chunk) = self.changed(progress).await {
                        return Some(chunk);
                    }
                }
            }
        }
    }

    /// The ticket's event, if `progress` changed it.
    async fn changed(&mut self, progress: Option<QueueProgress>) -> Option<Bytes> {
        let view = self.follow(progress?).await?;
        if view == self.last {
            return None;
        }
        self.done = is_final(view.status);
        let chunk = event(&view);
        self.last = view;
        Some(Bytes::from(chunk))
    }

    /// The ticket as `progress` says it stands. Computed from `progress` while the ticket
    /// waits, so a poll costs no read per client; read once from Redis when it needs what only
    /// Redis has (its admission time for the token, its place after the draw, a new round).
    async fn follow(&mut self, progress: QueueProgress) -> Option<TicketView> {
        let now_ms = Utc::now().timestamp_millis();
        let ended = progress.ends_at_ms.is_some_and(|end| now_ms >= end);
        let admitted = self
            .ticket
            .place
            .is_some_and(|place| place <= progress.admitted);
        let drawn = self.ticket.place.is_none() && progress.drawn;
        let ticket = if ended || admitted || drawn || progress.round != self.ticket.round {
            match self
                .state
                .waiting_room
                .ticket(&self.sale_id, self.ticket.ticket_id)
                .await
            {
                Ok(TicketLookup::Found(ticket)) => {
                    READ.succeeded();
                    ticket
                }
                // A new round forgot the ticket: for its buyer, this sale is over.
                Ok(_) => Ticket {
                    state: TicketState::Ended,
                    ..self.ticket.clone()
                },
                // The next change (or heartbeat) tries again.
                Err(error) => {
                    READ.failed(&error);
                    return None;
                }
            }
        } else {
            let state = match (progress.remaining, self.ticket.place) {
                (0, _) => TicketState::SoldOut,
                (_, Some(place)) => TicketState::Waiting {
                    position: place - progress.admitted,
                },
                (_, None) => TicketState::Waiting {
                    position: progress.lobby,
                },
            };
            Ticket {
                state,
                ..self.ticket.clone()
            }
        };
        self.ticket = ticket.clone();
        view(&self.state, &self.sale_id, ticket).ok()
    }
}

/// One `ticket` event.
fn event(ticket: &TicketView) -> String {
    // A `TicketView` always serializes; the fallback only keeps this path free of a panic.
    let data = serde_json::to_string(ticket).unwrap_or_else(|_| "{}".into());
    format!("event: ticket\ndata: {data}\n\n")
}

//! A sold-out sale's waitlist: `POST /api/v1/sales/{sale_id}/waitlist` (join),
//! `GET /api/v1/sales/{sale_id}/waitlist/{entry_id}` (where the entry stands; once offered a
//! unit, the offer with its `hold_token`) and `DELETE` of the same path (leave). Redis decides
//! (`services/checkout/`, `store/waitlist/`); the units released or added later go to the
//! entries in arrival order.
//!
//! The `entry_id` a join answers is the buyer's secret, like a purchase's `hold_token`: whoever
//! has it reads the offer's token. A second join by the same user in the same round is refused
//! rather than answered with the entry, so the secret is given out once.

use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::errors::ApiError;
use super::extract::{sale_id, FromJsonObject, JsonBody, JsonObject};
use super::state::AppState;
use crate::domain::{SaleId, UserId, WaitlistEntry, WaitlistJoin, WaitlistLeave};

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitlistBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    user_id: String,
}

impl FromJsonObject for WaitlistBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            user_id: object.string("user_id")?,
        })
    }
}

/// Join a sold-out sale's waitlist.
///
/// For a sale with holds that has sold out: the next unit released (a hold expired or cancelled) or
/// added goes to the first buyer waiting, as a hold of one unit. Keep the answer's `entry_id`: it
/// is how the offer is read, and the only proof the entry is the buyer's.
#[utoipa::path(post, path = "/api/v1/sales/{sale_id}/waitlist", tag = "waitlist",
    params(("sale_id" = String, Path, description = "The sold-out sale")),
    request_body(content = WaitlistBody, content_type = "application/json"),
    responses(
        (status = 201, description = "On the waitlist, at `position`; keep `entry_id`: it is how the offer is read", body = WaitlistEntry,
            headers(("Location" = String, description = "/api/v1/sales/{sale_id}/waitlist/{entry_id}"))),
        super::schemas::JoinWaitlistErrors,
    ))]
pub async fn join_waitlist(
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody<WaitlistBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sale_id = sale_id(&path)?;
    let user_id = UserId::parse(&body.user_id)?;
    state.rate_limits.admit(&req, &user_id)?;
    let entry = match state.checkout.join_waitlist(&sale_id, &user_id).await? {
        WaitlistJoin::Joined(entry) => entry,
        WaitlistJoin::SaleNotFound => return Err(ApiError::sale_not_found()),
        WaitlistJoin::NoHolds => return Err(ApiError::waitlist_unavailable()),
        WaitlistJoin::NotActive => return Err(ApiError::sale_not_active()),
        WaitlistJoin::NotSoldOut => return Err(ApiError::not_sold_out()),
        WaitlistJoin::LimitReached => return Err(ApiError::limit_reached()),
        WaitlistJoin::AlreadyWaitlisted => return Err(ApiError::already_waitlisted()),
    };
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/sales/{sale_id}/waitlist/{}", entry.entry_id),
        ))
        .json(entry))
}

/// Read a waitlist entry.
///
/// Where the entry stands: its position while waiting; once offered a unit, the offer (a held
/// purchase with its `hold_token`, to pay or cancel like any hold).
#[utoipa::path(get, path = "/api/v1/sales/{sale_id}/waitlist/{entry_id}", tag = "waitlist",
    params(("sale_id" = String, Path, description = "The sale"),
        ("entry_id" = uuid::Uuid, Path, description = "The entry, as the join answered it")),
    responses(
        (status = 200, description = "The entry", body = WaitlistEntry),
        super::schemas::GetWaitlistEntryErrors,
    ))]
pub async fn get_waitlist_entry(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (sale_id, entry_id) = entry_path(&path)?;
    let entry = state
        .checkout
        .waitlist_entry(&sale_id, entry_id)
        .await?
        .ok_or_else(ApiError::waitlist_entry_not_found)?;
    Ok(HttpResponse::Ok().json(entry))
}

/// Leave the waitlist.
///
/// Takes the entry off the waitlist while it waits; leaving again answers the same. An entry
/// already offered a unit is refused: cancel its hold instead.
#[utoipa::path(delete, path = "/api/v1/sales/{sale_id}/waitlist/{entry_id}", tag = "waitlist",
    params(("sale_id" = String, Path, description = "The sale"),
        ("entry_id" = uuid::Uuid, Path, description = "The entry, as the join answered it")),
    responses(
        (status = 200, description = "Left (now, or before)", body = WaitlistEntry),
        super::schemas::LeaveWaitlistErrors,
    ))]
pub async fn leave_waitlist(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (sale_id, entry_id) = entry_path(&path)?;
    match state.checkout.leave_waitlist(&sale_id, entry_id).await? {
        WaitlistLeave::Left(entry) => Ok(HttpResponse::Ok().json(entry)),
        WaitlistLeave::NotFound => Err(ApiError::waitlist_entry_not_found()),
        WaitlistLeave::NotWaiting(_) => Err(ApiError::not_waiting()),
    }
}

/// Parses the `{sale_id}` and `{entry_id}` segments.
fn entry_path((sale, entry): &(String, String)) -> Result<(SaleId, Uuid), ApiError> {
    let entry_id =
        Uuid::parse_str(entry).map_err(|_| ApiError::invalid_request("entry_id must be a UUID"))?;
    Ok((sale_id(sale)?, entry_id))
}

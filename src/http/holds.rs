//! `POST /api/v1/purchases/{purchase_id}/payment` (the shop's payment system, signed like a
//! webhook) and `POST /api/v1/purchases/{purchase_id}/cancel` (the buyer with the hold's
//! `hold_token`, or the admin). Both end a hold at most once; `hold_settle.lua` decides.
//!
//! A payment is signed with HMAC-SHA256 under `FLASHSALE_PAYMENT_SECRET`, over
//! `<timestamp>.<purchase_id>.<body>`: the timestamp (Unix seconds, in [`TIMESTAMP_HEADER`])
//! is refused when more than [`REPLAY_WINDOW_SECS`] away from now, so a captured call cannot
//! be replayed later, and the purchase id is signed so it cannot be replayed on another hold.
//! The signature is checked before anything else: a refused call changes nothing.

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use super::admin::holds_admin_token;
use super::errors::ApiError;
use super::extract::{
    is_json, purchase_id, read_object, FromJsonObject, JsonObject, OptionalJsonBody,
};
use super::state::AppState;
use crate::domain::{HoldState, PaymentRef, Settlement};
use crate::store::HoldAction;

/// The header carrying when the payment call was signed, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "Flashsale-Timestamp";
/// The header carrying the signature: lowercase hex of the HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "Flashsale-Signature";
/// How far the signing time may be from now, either way.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// The longest `hold_token` accepted (the API hands out 32 characters).
const MAX_HOLD_TOKEN_CHARS: usize = 64;

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// The shop's reference of the payment: 1 to 128 printable ASCII characters. The same one
    /// again gets the same answer.
    #[schema(pattern = "^[ -~]{1,128}$")]
    payment_ref: String,
}

impl FromJsonObject for PaymentBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            payment_ref: object.string("payment_ref")?,
        })
    }
}

/// Read field by field (`FromJsonObject`); the `serde` attributes only shape its schema.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// The `hold_token` of the purchase's 202; not needed with the admin token.
    #[schema(pattern = "^.{1,64}$")]
    hold_token: Option<String>,
}

impl FromJsonObject for CancelBody {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError> {
        Ok(Self {
            hold_token: object.optional_string("hold_token")?,
        })
    }
}

/// Pay a held purchase (the payment webhook).
///
/// Called by the shop's payment system once the buyer paid: ends the hold as `paid`, so the units
/// are sold for good. The call is signed (the `payment_signature` and `payment_timestamp` schemes)
/// and the signature is checked before anything else, so a refused call changes nothing. Paying
/// again with the same `payment_ref` answers the same; a hold that expired or was cancelled is
/// refused and its units stay on sale.
#[utoipa::path(post, path = "/api/v1/purchases/{purchase_id}/payment", tag = "holds",
    params(("purchase_id" = uuid::Uuid, Path, description = "The held purchase")),
    request_body(content = PaymentBody, content_type = "application/json"),
    // Both headers together: one requirement with two schemes.
    security(("payment_signature" = [], "payment_timestamp" = [])),
    responses(
        (status = 200, description = "Paid (now, or before with the same `payment_ref`)", body = crate::domain::Purchase),
        super::schemas::PayHoldErrors,
    ))]
pub async fn pay_hold(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    verify_signature(
        state.payment_secret.as_ref(),
        req.headers(),
        &path,
        &body,
        Utc::now().timestamp(),
    )?;
    let purchase_id = purchase_id(&path)?;
    if body.is_empty() {
        return Err(ApiError::invalid_request("a JSON request body is required"));
    }
    if !is_json(&req) {
        return Err(ApiError::unsupported_media_type());
    }
    let PaymentBody { payment_ref } = read_object(&body)?;
    let payment_ref = PaymentRef::parse(payment_ref)?;
    settle(&state, purchase_id, HoldAction::Pay(&payment_ref)).await
}

/// Cancel a held purchase.
///
/// Ends the hold as `cancelled` and puts its units back on sale (to the first waitlisted buyer,
/// when there is one). The buyer proves the hold is theirs with its `hold_token` in the body (a
/// credential OpenAPI cannot declare as a scheme, hence the operation's anonymous alternative); the
/// admin needs none, with the admin token. Cancelling again answers the same.
#[utoipa::path(post, path = "/api/v1/purchases/{purchase_id}/cancel", tag = "holds",
    params(("purchase_id" = uuid::Uuid, Path, description = "The held purchase")),
    request_body(content = Option<CancelBody>, content_type = "application/json", description = "`{\"hold_token\": ...}`; may be left out with the admin token"),
    // The buyer's `hold_token` travels in the body, where no security scheme can be: the
    // anonymous alternative is that one.
    security((), ("admin" = [])),
    responses(
        (status = 200, description = "Cancelled (now, or before)", body = crate::domain::Purchase),
        super::schemas::CancelHoldErrors,
    ))]
pub async fn cancel_hold(
    req: HttpRequest,
    path: web::Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CancelBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let purchase_id = purchase_id(&path)?;
    let token = body.and_then(|body| body.hold_token);
    let action = if holds_admin_token(&req) {
        HoldAction::Cancel(None)
    } else {
        match token.as_deref() {
            Some(token) if !token.is_empty() && token.chars().count() <= MAX_HOLD_TOKEN_CHARS => {
                HoldAction::Cancel(Some(token))
            }
            Some(_) => {
                return Err(ApiError::invalid_request(format!(
                    "field `hold_token` must be 1 to {MAX_HOLD_TOKEN_CHARS} characters"
                )))
            }
            None => return Err(ApiError::hold_token_required()),
        }
    };
    settle(&state, purchase_id, action).await
}

/// Has checkout end the hold as asked; the purchase as it now stands, or why not.
async fn settle(
    state: &AppState,
    purchase_id: Uuid,
    action: HoldAction<'_>,
) -> Result<HttpResponse, ApiError> {
    let (purchase, settlement) = state
        .checkout
        .settle(purchase_id, action)
        .await?
        .ok_or_else(ApiError::purchase_not_found)?;
    let hold = match settlement {
        Settlement::Settled(hold) => hold,
        Settlement::Refused(hold) => {
            return Err(match hold.state {
                HoldState::Expired => ApiError::hold_expired(),
                HoldState::Cancelled => ApiError::hold_cancelled(),
                HoldState::Paid => ApiError::hold_paid(),
                // The script never refuses with the hold still held.
                HoldState::Held => ApiError::unavailable(),
            });
        }
        Settlement::PaidElsewhere(_) => return Err(ApiError::payment_conflict()),
        Settlement::WrongToken => return Err(ApiError::wrong_hold_token()),
        Settlement::NotAHold => return Err(ApiError::not_a_hold()),
    };
    Ok(HttpResponse::Ok().json(purchase.with_hold(hold, false)))
}

/// The signature of a payment call as the shop computes it: lowercase hex of
/// HMAC-SHA256(secret, `<timestamp>.<purchase_id>.<body>`).
pub fn payment_signature(secret: &[u8], timestamp: &str, purchase_id: &str, body: &[u8]) -> String {
    hex::encode(
        payment_mac(secret, timestamp, purchase_id, body)
            .finalize()
            .into_bytes(),
    )
}

fn payment_mac(secret: &[u8], timestamp: &str, purchase_id: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(purchase_id.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks a payment call's timestamp and signature (`now` in Unix seconds).
fn verify_signature(
    secret: Option<&SecretString>,
    headers: &HeaderMap,
    purchase_id: &str,
    body: &[u8],
    now: i64,
) -> Result<(), ApiError> {
    let secret = secret
        .ok_or_else(|| ApiError::invalid_signature("payments are not enabled on this server"))?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let timestamp = header(TIMESTAMP_HEADER).ok_or_else(|| {
        ApiError::invalid_signature(format!(
            "the {TIMESTAMP_HEADER} header is required: the signing time in Unix seconds"
        ))
    })?;
    let signed_at: i64 = timestamp.parse().map_err(|_| {
        ApiError::invalid_signature(format!(
            "the {TIMESTAMP_HEADER} header must be the signing time in Unix seconds"
        ))
    })?;
    if now.abs_diff(signed_at) > REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(ApiError::invalid_signature(format!(
            "the {TIMESTAMP_HEADER} is more than {REPLAY_WINDOW_SECS} seconds away from now: sign the call again"
        )));
    }
    let signature = header(SIGNATURE_HEADER)
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or_else(|| {
            ApiError::invalid_signature(format!(
                "the {SIGNATURE_HEADER} header is required: the hex HMAC-SHA256 of <timestamp>.<purchase_id>.<body>"
            ))
        })?;
    // Constant time.
    payment_mac(
        secret.expose_secret().as_bytes(),
        timestamp,
        purchase_id,
        body,
    )
    .verify_slice(&signature)
    .map_err(|_| ApiError::invalid_signature("the signature does not match the call"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const NOW: i64 = 1_764_000_000;

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [(TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)] {
            headers.insert(
                HeaderName::from_static(if name == TIMESTAMP_HEADER {
                    "flashsale-timestamp"
                } else {
                    "flashsale-signature"
                }),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    fn check(
        secret: Option<&str>,
        timestamp: i64,
        signed_id: &str,
        checked_id: &str,
    ) -> Result<(), String> {
        let body = br#"{"payment_ref": "p1"}"#;
        let signature = payment_signature(b"s3cret", &timestamp.to_string(), signed_id, body);
        let secret = secret.map(SecretString::from);
        verify_signature(
            secret.as_ref(),
            &headers(&timestamp.to_string(), &signature),
            checked_id,
            body,
            NOW,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_fresh_signature_of_the_same_call_passes() {
        assert_eq!(check(Some("s3cret"), NOW - 299, "id", "id"), Ok(()));
        assert_eq!(check(Some("s3cret"), NOW + 300, "id", "id"), Ok(()));
    }

    #[test]
    fn stale_foreign_or_unconfigured_signatures_are_refused() {
        for (secret, at, signed, checked) in [
            (Some("s3cret"), NOW - 301, "id", "id"),
            (Some("s3cret"), NOW + 301, "id", "id"),
            (Some("other"), NOW, "id", "id"),
            (Some("s3cret"), NOW, "id", "another-id"),
            (None, NOW, "id", "id"),
        ] {
            let error = check(secret, at, signed, checked).expect_err("refused");
            assert!(error.starts_with("invalid_signature: "), "{error}");
        }
        let secret = Some(SecretString::from("s3cret"));
        for (timestamp, signature) in [("soon", "00"), (&*NOW.to_string(), "not hex")] {
            let refused = verify_signature(
                secret.as_ref(),
                &headers(timestamp, signature),
                "id",
                b"",
                NOW,
            );
            assert!(refused.is_err());
        }
        assert!(verify_signature(secret.as_ref(), &HeaderMap::new(), "id", b"", NOW).is_err());
    }
}

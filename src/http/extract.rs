//! Reading a request: the JSON body extractors and the path ids. Every endpoint that takes a
//! body reads it here, so every endpoint answers a bad body the same way: 413 over
//! [`MAX_BODY_BYTES`], 415 when it is not JSON, 400 when it does not parse into the expected
//! shape.

use actix_web::dev::Payload;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::errors::ApiError;
use crate::common::domain::SaleId;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// Parses the `{sale_id}` path segment.
pub fn sale_id(path: &str) -> Result<SaleId, ApiError> {
    Ok(SaleId::parse(path)?)
}

/// A required JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out entirely (an empty body); if present it must be valid.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload.take());
        Box::pin(async move {
            match body.await? {
                Some(value) => Ok(Self(value)),
                None => Err(ApiError::invalid_request("a JSON request body is required")),
            }
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload.take());
        Box::pin(async move { body.await.map(Self) })
    }
}

/// Reads and parses the body; `None` for an empty body.
fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    mut payload: Payload,
) -> LocalBoxFuture<'static, Result<Option<T>, ApiError>> {
    let is_json = {
        let content_type = req.content_type().to_ascii_lowercase();
        content_type == "application/json" || content_type.ends_with("+json")
    };
    let declared_length = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    Box::pin(async move {
        if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::invalid_request("the request body could not be read"))?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))
    })
}

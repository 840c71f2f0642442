//! What every request must meet before it is routed: a head of bounded size, a body framed by
//! `Content-Length` and no larger than [`MAX_BODY_BYTES`], and a body that arrives within the
//! body timeout. The body is read here, whole, for every route (unknown ones and `GET` included):
//! a handler that never reads its body cannot be used to hold a connection open.
//!
//! A refused request's connection is closed after the answer. The request's payload is kept
//! alive inside the response's body until its last byte is out ([`HoldingPayload`]), because
//! that is what tells actix-http to close: a payload still unread when the response ends closes
//! the connection (after at most a second for the client to read the answer), whereas a dropped
//! chunked payload would be drained for as long as the client keeps sending.
//!
//! actix-http answers some malformed requests itself, before this code runs, with an empty body
//! (docs/API.md, section 1); the limits here are set below actix's own so that what they catch
//! gets the JSON error shape.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::errors::ApiError;

/// The largest request body accepted; every body the API takes is a small JSON object.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// The longest header line (`name: value`), as nginx's `large_client_header_buffers` (8 KiB).
pub const MAX_HEADER_LINE_BYTES: usize = 8 * 1024;
/// The longest request target (path and query), the same 8 KiB nginx allows a request line.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The largest head (request line and every header line), nginx's 4 buffers of 8 KiB. actix
/// refuses heads over 128 KiB itself, with an empty 431.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// The limits that are settings (the sizes above are fixed by the API's contract).
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// How long a body may take to arrive, counted from when its headers were read.
    pub body_timeout: Duration,
}

/// Middleware body (wrapped around the whole app, see `api::app`): applies `limits` to the
/// request, then routes it with its body read.
pub async fn check(
    limits: RequestLimits,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(error) = check_head(&req) {
        return Ok(refuse(req, error));
    }
    let mut payload = req.take_payload();
    match read_body(&req, &mut payload, limits.body_timeout).await {
        Ok(body) => {
            req.set_payload(Payload::from(body));
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(error) => {
            req.set_payload(payload);
            Ok(refuse(req, error))
        }
    }
}

/// The request line and headers against the size limits.
fn check_head(req: &ServiceRequest) -> Result<(), ApiError> {
    let target = req
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Err(ApiError::uri_too_long(MAX_TARGET_BYTES));
    }
    // `METHOD target HTTP/1.1\r\n`, then `name: value\r\n` per header, then `\r\n`.
    let mut head = req.method().as_str().len() + target + " HTTP/1.1\r\n\r\n".len() + 1;
    for (name, value) in req.headers() {
        let line = name.as_str().len() + ": ".len() + value.len();
        if line > MAX_HEADER_LINE_BYTES {
            return Err(ApiError::header_too_large(format!(
                "a header line may be at most {MAX_HEADER_LINE_BYTES} bytes"
            )));
        }
        head += line + "\r\n".len();
    }
    if head > MAX_HEAD_BYTES {
        return Err(ApiError::header_too_large(format!(
            "the request line and headers may be at most {MAX_HEAD_BYTES} bytes in all"
        )));
    }
    Ok(())
}

/// Reads the whole body within `timeout`; empty when the request has none.
async fn read_body(
    req: &ServiceRequest,
    payload: &mut Payload,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    // A chunked body announces its size chunk by chunk, and actix-http shows a handler the data
    // but never the size line: a chunk that announces 2^63 bytes and sends none looks exactly
    // like a slow small one. Refused before any of it is read, so the answer comes at once.
    if req.headers().contains_key(TRANSFER_ENCODING) {
        return Err(ApiError::length_required(MAX_BODY_BYTES));
    }
    // actix-http has already refused a Content-Length that is not a number.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        // Trimmed as actix-http reads it, so both agree on the length.
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES as u64 {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if declared == 0 {
        return Ok(Bytes::new());
    }
    let deadline = Instant::now() + timeout;
    let mut body = BytesMut::with_capacity(MAX_BODY_BYTES.min(declared as usize));
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_elapsed) => return Err(ApiError::request_timeout(timeout)),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(_))) => {
                return Err(ApiError::invalid_request(
                    "the request body could not be read",
                ))
            }
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
        }
    }
}

/// Answers `error` and has actix close the connection afterwards (see the module comment).
fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    super::metrics::count_request("refused", req.method(), error.status_code());
    let (request, payload) = req.into_parts();
    let mut response = error.error_response();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    let response = response.map_body(|_, body| {
        BoxBody::new(HoldingPayload {
            body,
            _payload: payload,
        })
    });
    ServiceResponse::new(request, response)
}

/// A refusal's body, which holds the refused request's payload until actix has written it all
/// and decided what to do with the connection.
struct HoldingPayload {
    body: BoxBody,
    _payload: Payload,
}

impl MessageBody for HoldingPayload {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

//! Reading a request: the JSON body extractors and the path ids. Every endpoint that takes a
//! body reads it here, so every endpoint answers a bad body the same way: 415 when it is not
//! JSON, 400 when it does not parse into the expected shape. Size, framing and arrival time
//! were checked before routing (`request_limits.rs`).
//!
//! Bodies are read field by field through [`JsonObject`] rather than derived with serde, so that
//! every message a client sees is written here, in the client's terms (the field, the expected
//! kind), and never carries a Rust type name or more than a short excerpt of the input.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::errors::{excerpt, ApiError};
use crate::domain::SaleId;

/// Parses the `{sale_id}` path segment.
pub fn sale_id(path: &str) -> Result<SaleId, ApiError> {
    Ok(SaleId::parse(path)?)
}

/// Parses the `{purchase_id}` path segment.
pub fn purchase_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::invalid_request("purchase_id must be a UUID"))
}

/// A body read from a JSON object (see [`JsonObject`]).
pub trait FromJsonObject: Sized {
    fn from_object(object: &mut JsonObject) -> Result<Self, ApiError>;
}

/// A required JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out entirely (an empty body); if present it must be valid.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: FromJsonObject + 'static> FromRequest for JsonBody<T> {
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

impl<T: FromJsonObject + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload.take());
        Box::pin(async move { body.await.map(Self) })
    }
}

/// Reads and parses the body; `None` for an empty body.
fn read_json<T: FromJsonObject + 'static>(
    req: &HttpRequest,
    mut payload: Payload,
) -> LocalBoxFuture<'static, Result<Option<T>, ApiError>> {
    let is_json = is_json(req);
    Box::pin(async move {
        // Already read whole and bounded by `request_limits.rs`; this only collects it.
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::invalid_request("the request body could not be read"))?;
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        read_object(&body).map(Some)
    })
}

/// Whether the request says its body is JSON.
pub fn is_json(req: &HttpRequest) -> bool {
    let content_type = req.content_type().to_ascii_lowercase();
    content_type == "application/json" || content_type.ends_with("+json")
}

/// Reads a non-empty JSON body as `T`: parsed, each field taken, no field left over.
pub fn read_object<T: FromJsonObject>(body: &[u8]) -> Result<T, ApiError> {
    let mut object = JsonObject::parse(body)?;
    let value = T::from_object(&mut object)?;
    object.finish()?;
    Ok(value)
}

/// A body's top-level object, its fields taken one by one by name; fields left over at the end
/// are unknown ones.
pub struct JsonObject {
    fields: Vec<(String, Value)>,
    /// The names asked for, to list them when an unknown field is found.
    known: Vec<&'static str>,
    /// How messages name this object's fields: `""` at the top, `"admission."` in a nested
    /// object.
    prefix: &'static str,
}

impl JsonObject {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let Entries(fields) = serde_json::from_slice(body).map_err(|error| {
            use serde_json::error::Category;
            match error.classify() {
                Category::Data => ApiError::invalid_request("the body must be a JSON object"),
                Category::Io | Category::Syntax | Category::Eof => {
                    ApiError::invalid_request(format!(
                        "the body is not valid JSON (line {}, column {})",
                        error.line(),
                        error.column()
                    ))
                }
            }
        })?;
        for (i, (name, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::invalid_request(format!(
                    "field `{}` appears more than once",
                    excerpt(name)
                )));
            }
        }
        Ok(Self {
            fields,
            known: Vec::new(),
            prefix: "",
        })
    }

    /// An object that may be absent or null, read as its own `JsonObject`; its messages name
    /// its fields `<name>.<field>`. Call [`JsonObject::finish`] on it when done.
    pub fn optional_object(
        &mut self,
        name: &'static str,
        prefix: &'static str,
    ) -> Result<Option<JsonObject>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(JsonObject {
                fields: map.into_iter().collect(),
                known: Vec::new(),
                prefix,
            })),
            Some(_) => Err(ApiError::invalid_request(format!(
                "field `{name}` must be an object"
            ))),
        }
    }

    /// Takes field `name`; `None` when absent.
    fn take(&mut self, name: &'static str) -> Option<Value> {
        self.known.push(name);
        let at = self.fields.iter().position(|(field, _)| field == name)?;
        Some(self.fields.swap_remove(at).1)
    }

    /// A required string.
    pub fn string(&mut self, name: &'static str) -> Result<String, ApiError> {
        let prefix = self.prefix;
        self.optional_string(name)?
            .ok_or_else(|| missing(prefix, name, Kind::String))
    }

    /// A string that may be absent or null.
    pub fn optional_string(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(wrong_kind(self.prefix, name, Kind::String)),
        }
    }

    /// A required whole number.
    pub fn whole_number(&mut self, name: &'static str) -> Result<u64, ApiError> {
        let prefix = self.prefix;
        self.optional_whole_number(name)?
            .ok_or_else(|| missing(prefix, name, Kind::WholeNumber))
    }

    /// A whole number that is `default` when absent (null is not a number, so it is refused).
    pub fn whole_number_or(&mut self, name: &'static str, default: u64) -> Result<u64, ApiError> {
        match self.take(name) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| wrong_kind(self.prefix, name, Kind::WholeNumber)),
        }
    }

    /// A whole number that may be absent or null.
    pub fn optional_whole_number(&mut self, name: &'static str) -> Result<Option<u64>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_kind(self.prefix, name, Kind::WholeNumber)),
        }
    }

    /// An RFC 3339 timestamp that may be absent or null.
    pub fn optional_timestamp(
        &mut self,
        name: &'static str,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
                .map(|at| Some(at.with_timezone(&Utc)))
                .map_err(|_| wrong_kind(self.prefix, name, Kind::Timestamp)),
            Some(_) => Err(wrong_kind(self.prefix, name, Kind::Timestamp)),
        }
    }

    /// Refuses the fields nobody asked for.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.fields.first() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::invalid_request(format!(
                "unknown field `{}{}`; the fields are {}",
                self.prefix,
                excerpt(name),
                self.known
                    .iter()
                    .map(|known| format!("{}{known}", self.prefix))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// What a field must hold, as a message says it.
#[derive(Clone, Copy)]
enum Kind {
    String,
    WholeNumber,
    Timestamp,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::String => "a string",
            Kind::WholeNumber => "a whole number between 0 and 18446744073709551615",
            Kind::Timestamp => "an RFC 3339 timestamp such as 2026-06-01T09:00:00Z, or null",
        })
    }
}

fn missing(prefix: &str, name: &str, kind: Kind) -> ApiError {
    ApiError::invalid_request(format!("field `{prefix}{name}` is required: {kind}"))
}

fn wrong_kind(prefix: &str, name: &str, kind: Kind) -> ApiError {
    ApiError::invalid_request(format!("field `{prefix}{name}` must be {kind}"))
}

/// A JSON object's fields in the order they came, duplicates kept so they can be refused.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Entries(fields))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

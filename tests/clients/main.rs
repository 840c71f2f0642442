//! Integration tests of the API's other clients: the seed's routes and stream, cross-origin
//! pages (CORS), the OpenAPI document and the control room's endpoints. The real app on port
//! 0 against the stack's Redis and PostgreSQL, each test with seed sales of its own.
//!
//! A binary of its own: the seed's stream opens stock streams, and `tests/api/stream.rs`
//! counts the process-wide stream gauges, which must see its own clients alone.

#[path = "../common/mod.rs"]
mod helpers;
mod openapi;
mod seed;

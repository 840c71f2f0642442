//! What the API process decides, between its HTTP handlers and the actors and stores: each
//! handler calls one of these and never a raw client.
//!
//! - [`purchases`]: a purchase by its sale's strategy (the seed's four phases), and its lookup.
//! - [`sales`]: create, replace, reset and read sales.
//! - [`admission`]: the waiting rooms' tickets and admitter, and the purchase tokens.
//! - [`checkout`]: pays, cancels and expires holds (its reaper), changes a live round's stock;
//!   the waitlists the released units go to.
//! - [`goflash`]: the sales that the GoFlash-compatible routes sell from.
//! - [`stock_watch`]: one poll per watched sale for the stock and ticket streams.
//! - [`operations`]: the control room's figures and the readiness checks.

pub mod admission;
pub mod checkout;
pub mod goflash;
pub mod operations;
pub mod purchases;
pub mod sales;
pub mod stock_watch;

use crate::store::StoreError;

/// Why a service could not read or change what it was asked: Redis or PostgreSQL failed. None
/// of it is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
}

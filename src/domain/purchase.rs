//! Purchases: the validated request (`Reservation`) and the purchase that took stock.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::hold::{Hold, HoldState};
use super::ids::{IdempotencyKey, Quantity, SaleId, UserId};

/// A validated purchase request, with the id it will have if it takes stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub purchase_id: Uuid,
    pub sale_id: SaleId,
    pub user_id: UserId,
    pub quantity: Quantity,
    pub idempotency_key: Option<IdempotencyKey>,
    /// The purchase token it carries, its signature already checked (`api/tokens.rs`); the
    /// reservation script checks its round and expiry and spends it.
    pub token: Option<TokenClaims>,
}

/// What a purchase token vouches for, once its signature is checked: the buyer admitted by the
/// waiting room of a sale's round, until an expiry, once (`nonce`: the buyer's ticket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub sale_id: SaleId,
    pub round: u64,
    pub user_id: UserId,
    pub expires_at_ms: i64,
    pub nonce: Uuid,
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// Stock is taken in Redis; the purchase is on its way to the orders table.
    Reserved,
    /// Persisted as an order in PostgreSQL.
    Confirmed,
}

/// A purchase that took stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Purchase {
    pub purchase_id: Uuid,
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub sale_id: SaleId,
    pub round: u64,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    pub user_id: UserId,
    pub quantity: u32,
    pub status: PurchaseStatus,
    /// Units left in the sale right after this purchase.
    pub remaining: u64,
    pub reserved_at: DateTime<Utc>,
    /// A hold (its sale has `hold_seconds > 0`): where it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_state: Option<HoldState>,
    /// A hold: when it expires unless paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// A hold: the buyer's secret to cancel it; only in the 202 (and its replays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_token: Option<String>,
    /// A paid hold: the shop's reference of the payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_ref: Option<String>,
    /// A hold that ended: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<DateTime<Utc>>,
}

impl Purchase {
    /// A purchase that took `quantity` units of `round`, leaving `remaining`, as a 202 shows
    /// it: the one place a `Purchase` is made, whichever store decided or recorded it.
    pub fn reserved(
        purchase_id: Uuid,
        sale_id: SaleId,
        user_id: UserId,
        round: u64,
        quantity: u32,
        remaining: u64,
        reserved_at: DateTime<Utc>,
    ) -> Self {
        Self {
            purchase_id,
            sale_id,
            round,
            user_id,
            quantity,
            status: PurchaseStatus::Reserved,
            remaining,
            reserved_at,
            hold_state: None,
            hold_expires_at: None,
            hold_token: None,
            payment_ref: None,
            settled_at: None,
        }
    }

    /// The same purchase as the hold `hold`; its token shown only to the buyer (`with_token`).
    pub fn with_hold(self, hold: Hold, with_token: bool) -> Self {
        Self {
            hold_state: Some(hold.state),
            hold_expires_at: Some(hold.expires_at),
            hold_token: with_token.then_some(hold.token),
            payment_ref: hold.payment_ref,
            settled_at: hold.settled_at,
            ..self
        }
    }

    /// The same purchase, known to be persisted as an order.
    pub fn confirmed(self) -> Self {
        Self {
            status: PurchaseStatus::Confirmed,
            ..self
        }
    }
}

//! The waitlist of a sold-out sale: buyers waiting, in arrival order, for a unit that is
//! released (a hold cancelled or expired) or added (a stock change). Each unit goes to the
//! first buyer waiting as an offer: a new hold of one unit, with its own deadline and
//! `hold_token`, which the buyer reads on their entry (`store/waitlist/`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::ids::{SaleId, UserId};
use super::purchase::Purchase;

/// Where a waitlist entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistState {
    /// In line for a unit.
    Waiting,
    /// Offered a unit: `offer` is the hold to pay.
    Offered,
    /// The buyer left.
    Left,
    /// The buyer's per-user limit was taken when their turn came.
    PassedOver,
    /// The round ended (the sale was reset or replaced) while the entry was waiting.
    Ended,
}

impl WaitlistState {
    const STORED: [WaitlistState; 4] = [Self::Waiting, Self::Offered, Self::Left, Self::PassedOver];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Left => "left",
            Self::PassedOver => "passed_over",
            Self::Ended => "ended",
        }
    }

    /// A state as the scripts store it (`ended` is never stored: it is read from the round).
    pub fn parse_stored(raw: &str) -> Option<Self> {
        Self::STORED.into_iter().find(|state| state.as_str() == raw)
    }
}

/// A buyer's place on a sale's waitlist. Its `entry_id` is the buyer's secret: whoever has it
/// sees the offer's `hold_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WaitlistEntry {
    pub entry_id: Uuid,
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub sale_id: SaleId,
    /// The round the entry waits in; it ends with it.
    pub round: u64,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    pub user_id: UserId,
    pub state: WaitlistState,
    /// While waiting: 1 for the next buyer to be offered a unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    pub joined_at: DateTime<Utc>,
    /// Once offered: the hold of the unit, with its `hold_token`, to be paid before
    /// `hold_expires_at` (or cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<Purchase>,
}

/// What a join found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitlistJoin {
    Joined(Box<WaitlistEntry>),
    SaleNotFound,
    /// The sale has no holds (offers are holds), or sells from Postgres.
    NoHolds,
    /// Outside the sale's window.
    NotActive,
    /// Units are left: buy one instead.
    NotSoldOut,
    /// The buyer's per-user limit is taken.
    LimitReached,
    /// The buyer waits already in this round, or was offered a unit.
    AlreadyWaitlisted,
}

/// What a leave found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitlistLeave {
    /// The entry has left (now, or before).
    Left(Box<WaitlistEntry>),
    NotFound,
    /// The entry no longer waits: offered, passed over, or its round ended.
    NotWaiting(Box<WaitlistEntry>),
}

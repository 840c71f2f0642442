//! The purchase decision: every way deciding one purchase can end, whatever decided it (the
//! Redis reservation script or a Postgres strategy), and the metric label of each.
//!
//! This is the vocabulary the store, the actors, the strategies and the HTTP layer share; it
//! depends on the domain types only, so none of them has to import another to speak it. A new
//! outcome is added here; the compiler then points at every `match` that must answer it.

use crate::domain::{Purchase, TokenRefusal};

/// What was decided for one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Stock taken; the purchase waits in the sale's outbox under `outbox_id`.
    Reserved {
        purchase: Purchase,
        outbox_id: String,
    },
    /// Stock taken in Postgres and the order written there, within the request (the `naive`
    /// and `locking` strategies): there is no outbox entry.
    Ordered(Purchase),
    /// The sale is no longer sold by the strategy that was asked (it was replaced with another
    /// one); nothing was taken. The caller looks the strategy up again.
    StrategyChanged,
    /// The idempotency key was seen before with the same body: the original purchase.
    Replayed(Purchase),
    /// The idempotency key was seen before with a different quantity.
    KeyReused,
    SaleNotFound,
    SaleNotActive,
    LimitReached,
    SoldOut {
        round: u64,
        remaining: u64,
    },
    /// The sale admits through a waiting room and the purchase's token was refused.
    TokenRefused(TokenRefusal),
}

/// Why a purchase got no decision. After either, a retry with the same Idempotency-Key is
/// safe: it either finds the purchase or makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    /// Too many purchases are waiting already: nothing was tried.
    #[error("every reservation actor is at its queue limit")]
    Overloaded,
    /// The store that decides (Redis or Postgres) failed or did not answer in time. It may
    /// still have decided, so the outcome is unknown. For a `broker` sale also: the broker did
    /// not acknowledge the purchase's event in time (the purchase is reserved).
    #[error("the stock store did not decide the purchase in time")]
    Unavailable,
}

/// Every value of the `outcome` label of `flashsale_purchases_total`.
pub const OUTCOME_LABELS: [&str; 11] = [
    "reserved",
    "duplicate",
    "sold_out",
    "limit_reached",
    "sale_not_active",
    "not_found",
    "overloaded",
    "unavailable",
    "invalid",
    "token_refused",
    "rate_limited",
];

impl ReserveOutcome {
    /// The `outcome` label of `flashsale_purchases_total` (one of [`OUTCOME_LABELS`]).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Reserved { .. } | Self::Ordered(_) => "reserved",
            Self::Replayed(_) => "duplicate",
            Self::SoldOut { .. } => "sold_out",
            Self::LimitReached => "limit_reached",
            Self::SaleNotActive => "sale_not_active",
            Self::SaleNotFound => "not_found",
            Self::TokenRefused(_) => "token_refused",
            // The same key with another body: a client mistake, like a bad body.
            Self::KeyReused => "invalid",
            // Never answered: `Strategies::purchase` asks again, and gives up as unavailable.
            Self::StrategyChanged => "unavailable",
        }
    }

    /// The purchase that took stock (or the original one, for a replay).
    pub fn purchase(&self) -> Option<&Purchase> {
        match self {
            Self::Reserved { purchase, .. }
            | Self::Ordered(purchase)
            | Self::Replayed(purchase) => Some(purchase),
            _ => None,
        }
    }
}

impl ReserveError {
    /// The `outcome` label of `flashsale_purchases_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_listed() {
        let errors = [ReserveError::Overloaded, ReserveError::Unavailable].map(ReserveError::label);
        let outcomes = [
            ReserveOutcome::StrategyChanged,
            ReserveOutcome::KeyReused,
            ReserveOutcome::SaleNotFound,
            ReserveOutcome::SaleNotActive,
            ReserveOutcome::LimitReached,
            ReserveOutcome::TokenRefused(TokenRefusal::Used),
            ReserveOutcome::SoldOut {
                round: 1,
                remaining: 0,
            },
        ]
        .map(|outcome| outcome.label());
        for label in errors.iter().chain(&outcomes) {
            assert!(OUTCOME_LABELS.contains(label), "{label} is not listed");
        }
    }
}

//! The Redis key layout. A new key of a sale goes in [`SaleKeys`], so it shares the sale's
//! hash tag (and so its Redis Cluster slot) with the keys its scripts touch.

use uuid::Uuid;

use crate::common::domain::SaleId;

/// The pub/sub channel on which every new round is announced as `"<round> <sale_id>"`.
pub(super) const ROUNDS_CHANNEL: &str = "fs:sale-rounds";
/// A set of every sale id ever created, so the pipeline can find every outbox.
pub(super) const SALES_SET: &str = "fs:sales";
/// The consumer group of every outbox stream: each API process's producer is one consumer.
pub(super) const PUBLISHERS: &str = "publishers";

/// The keys of one sale.
pub(super) struct SaleKeys {
    /// Hash: the sale's settings, round and remaining stock.
    pub sale: String,
    /// Hash: units bought per user in the current round.
    pub users: String,
    /// Hash: Idempotency-Key -> purchase id, for the current round.
    pub idempotency: String,
    /// Hash: purchase id -> `round|quantity|reserved_at_ms|remaining|user_id`.
    pub purchases: String,
    /// Stream: reserved purchases not yet acknowledged by the broker, with the consumer group
    /// `publishers` (see `outbox.rs`).
    pub outbox: String,
    /// Hash: per round, its stock and strategy (for the audit).
    pub rounds: String,
}

impl SaleKeys {
    pub fn new(sale_id: &SaleId) -> Self {
        let tag = format!("fs:{{{sale_id}}}");
        Self {
            sale: format!("{tag}:sale"),
            users: format!("{tag}:users"),
            idempotency: format!("{tag}:idempotency"),
            purchases: format!("{tag}:purchases"),
            outbox: format!("{tag}:outbox"),
            rounds: format!("{tag}:rounds"),
        }
    }
}

/// Where `GET /api/v1/purchases/{id}` finds which sale a purchase belongs to.
pub(super) fn purchase_index_key(purchase_id: &Uuid) -> String {
    format!("fs:purchase:{purchase_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_sale_shares_its_hash_tag() {
        let keys = SaleKeys::new(&SaleId::parse("phones").expect("valid id"));
        for key in [
            keys.sale,
            keys.users,
            keys.idempotency,
            keys.purchases,
            keys.outbox,
            keys.rounds,
        ] {
            assert!(key.starts_with("fs:{phones}:"), "{key}");
        }
    }
}

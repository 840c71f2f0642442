//! The Redis key layout. A new key of a sale goes in [`SaleKeys`], so it shares the sale's
//! hash tag (and so its Redis Cluster slot) with the keys its scripts touch.

use uuid::Uuid;

use crate::domain::SaleId;

/// The pub/sub channel on which every new round is announced as `"<round> <sale_id>"`.
pub(super) const ROUNDS_CHANNEL: &str = "fs:sale-rounds";
/// A set of every sale id ever created, so the pipeline can find every outbox.
pub(super) const SALES_SET: &str = "fs:sales";
/// A set of every sale id whose round ever had a waiting room: the sales the admitters look at.
pub(super) const ADMISSION_SALES_SET: &str = "fs:admission-sales";
/// A set of every sale id whose round ever had holds: the sales the hold reapers look at.
pub(super) const HOLD_SALES_SET: &str = "fs:hold-sales";
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
    /// `publishers` (see `outbox/`).
    pub outbox: String,
    /// Hash: per round, its stock and strategy (for the audit).
    pub rounds: String,
    /// Hash: purchase id -> `state|expires_at_ms|settled_at_ms|token|payment_ref`, the holds
    /// of every round (see `holds/`).
    pub holds: String,
    /// Sorted set: purchase id of each hold still `held`, scored by its deadline in ms.
    pub deadlines: String,
    /// Sorted set: entry id of each waitlist entry still waiting in the current round, scored
    /// by its arrival number (see `waitlist/`).
    pub waitlist: String,
    /// Hash: entry id -> `round|arrival|joined_at_ms|state|purchase_id|user_id`, the waitlist
    /// entries of every round.
    pub waitlist_entries: String,
    /// Hash: user id -> entry id, of the current round.
    pub waitlisted: String,
    /// Set: the nonces (ticket ids) of the purchase tokens that bought, this round.
    pub tokens_used: String,
    /// Hash: ticket id -> `place|user_id` of this round's waiting room (`place` empty until a
    /// `random` room's draw); see `waiting_room/`.
    pub queue_tickets: String,
    /// Hash: user id -> ticket id, this round.
    pub queue_users: String,
    /// List: ticket ids taken before a `random` sale's start, in arrival order (the draw's
    /// entrants).
    pub queue_lobby: String,
    /// Hash: the waiting room's counters (`issued`, `admitted`, `credit`, `last_ms`, `drawn`).
    pub queue_state: String,
    /// Sorted set: `"<admitted>:<at_ms>"` scored by `admitted`, one per admission step, so a
    /// ticket's admission time is found by its place.
    pub queue_admissions: String,
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
            holds: format!("{tag}:holds"),
            deadlines: format!("{tag}:deadlines"),
            waitlist: format!("{tag}:waitlist"),
            waitlist_entries: format!("{tag}:waitlist-entries"),
            waitlisted: format!("{tag}:waitlisted"),
            tokens_used: format!("{tag}:tokens-used"),
            queue_tickets: format!("{tag}:queue-tickets"),
            queue_users: format!("{tag}:queue-users"),
            queue_lobby: format!("{tag}:queue-lobby"),
            queue_state: format!("{tag}:queue-state"),
            queue_admissions: format!("{tag}:queue-admissions"),
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
            keys.holds,
            keys.deadlines,
            keys.waitlist,
            keys.waitlist_entries,
            keys.waitlisted,
            keys.tokens_used,
            keys.queue_tickets,
            keys.queue_users,
            keys.queue_lobby,
            keys.queue_state,
            keys.queue_admissions,
        ] {
            assert!(key.starts_with("fs:{phones}:"), "{key}");
        }
    }
}

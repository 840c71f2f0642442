//! Which strategy each sale has, as this process knows it, so the purchase path asks Redis
//! only once per sale and round rather than once per purchase.
//!
//! An entry belongs to a round and follows the rounds like every per-process cache
//! (`api/rounds.rs`): a new round (admin call here, or its announcement from another process)
//! drops the strategy, and the next purchase looks it up again; a lookup that raced with the
//! announcement cannot bring an older round's strategy back. Should a process still act on a
//! stale strategy (an announcement lost), the strategy it picked refuses with
//! `StrategyChanged` (Lua and the `sale_stock` row both know the sale's current strategy) and
//! the purchase asks again.

use crate::caches::rounds::RoundCache;
use crate::domain::{SaleId, Strategy};

/// Cheap to clone (shared map).
#[derive(Debug, Clone, Default)]
pub struct StrategyCache {
    known: RoundCache<Strategy>,
}

impl StrategyCache {
    pub fn get(&self, sale_id: &SaleId) -> Option<Strategy> {
        self.known.get(sale_id).map(|(_, strategy)| strategy)
    }

    /// Remembers what a lookup or an admin call found, unless a newer round is known.
    pub fn learn(&self, sale_id: &SaleId, round: u64, strategy: Strategy) {
        self.known.learn(sale_id, round, strategy);
    }

    /// The strategy turned out stale: look it up again.
    pub fn forget(&self, sale_id: &SaleId) {
        self.known.forget(sale_id);
    }

    /// The rounds this cache follows (see `rounds::follow_rounds`).
    pub fn rounds(&self) -> &RoundCache<Strategy> {
        &self.known
    }
}

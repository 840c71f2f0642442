//! Which strategy each sale has, as this process knows it, so the purchase path asks Redis
//! only once per sale and round rather than once per purchase.
//!
//! An entry belongs to a round, like the sold-out flag (src/sold_out.rs): a new round (admin
//! call here, or its announcement on `fs:sale-rounds` from another process) drops the strategy,
//! and the next purchase looks it up again. A lookup that raced with the announcement cannot
//! bring an older round's strategy back. Should a process still act on a stale strategy (an
//! announcement lost), the strategy it picked refuses with `StrategyChanged` (Lua and the
//! `sale_stock` row both know the sale's current strategy) and the purchase asks again.

use std::sync::Arc;

use dashmap::DashMap;

use crate::domain::{SaleId, Strategy};

#[derive(Debug, Clone, Copy)]
struct Known {
    round: u64,
    strategy: Option<Strategy>,
}

/// Cheap to clone (shared map).
#[derive(Debug, Clone, Default)]
pub struct StrategyCache {
    sales: Arc<DashMap<SaleId, Known>>,
}

impl StrategyCache {
    pub fn get(&self, sale_id: &SaleId) -> Option<Strategy> {
        self.sales.get(sale_id.as_str())?.strategy
    }

    /// Remembers what a lookup or an admin call found, unless a newer round is known.
    pub fn learn(&self, sale_id: &SaleId, round: u64, strategy: Strategy) {
        let mut known = self.sales.entry(sale_id.clone()).or_insert(Known {
            round,
            strategy: None,
        });
        if round >= known.round {
            *known = Known {
                round,
                strategy: Some(strategy),
            };
        }
    }

    /// A new round started: the sale may have a new strategy.
    pub fn round_started(&self, sale_id: &SaleId, round: u64) {
        let mut known = self.sales.entry(sale_id.clone()).or_insert(Known {
            round,
            strategy: None,
        });
        if round > known.round {
            *known = Known {
                round,
                strategy: None,
            };
        }
    }

    /// The strategy turned out stale: look it up again.
    pub fn forget(&self, sale_id: &SaleId) {
        if let Some(mut known) = self.sales.get_mut(sale_id.as_str()) {
            known.strategy = None;
        }
    }

    /// Announcements may have been missed: forget every strategy (rounds are kept).
    pub fn forget_all(&self) {
        self.sales.iter_mut().for_each(|mut k| k.strategy = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> SaleId {
        SaleId::parse("phones").expect("valid id")
    }

    #[test]
    fn a_new_round_drops_the_strategy_and_an_older_lookup_cannot_bring_it_back() {
        let cache = StrategyCache::default();
        cache.learn(&sale(), 1, Strategy::Async);
        assert_eq!(cache.get(&sale()), Some(Strategy::Async));
        cache.round_started(&sale(), 2);
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 1, Strategy::Async);
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 2, Strategy::Naive);
        assert_eq!(cache.get(&sale()), Some(Strategy::Naive));
        cache.round_started(&sale(), 2);
        assert_eq!(cache.get(&sale()), Some(Strategy::Naive));
    }

    #[test]
    fn forgetting_keeps_the_round() {
        let cache = StrategyCache::default();
        cache.learn(&sale(), 3, Strategy::Locking);
        cache.forget_all();
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 2, Strategy::Async);
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 3, Strategy::Redis);
        cache.forget(&sale());
        assert_eq!(cache.get(&sale()), None);
    }
}

//! What this process knows per sale and round, and how it follows the rounds.
//!
//! The API keeps two per-process caches so the purchase path does not ask Redis what it already
//! knows: the sold-out flag (`sold_out.rs`) and each sale's strategy (`strategies/cache.rs`).
//! Both hold a value that belongs to one round of a sale, and both follow the same rule, kept
//! here once: **rounds only move forward**. A value learned for an older round never replaces
//! a newer round's, and a new round (a reset or a replacement) drops the value of the old one.
//!
//! New rounds are announced on a Redis pub/sub channel (`sale_start_round.lua`), and
//! [`follow_rounds`] passes every announcement to each cache. An announcement lost while the
//! subscription was down is covered by forgetting every value on (re)subscribing: the next
//! purchase asks Redis again.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::SaleId;
use crate::runtime::outage_log::OutageLog;
use crate::store::Sales;

/// Wait between attempts to (re)subscribe when Redis is unreachable.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Known<V> {
    round: u64,
    value: Option<V>,
}

/// A value per sale that belongs to a round. Cheap to clone (a shared map).
#[derive(Debug)]
pub struct RoundCache<V> {
    sales: Arc<DashMap<SaleId, Known<V>>>,
}

impl<V> Clone for RoundCache<V> {
    fn clone(&self) -> Self {
        Self {
            sales: Arc::clone(&self.sales),
        }
    }
}

impl<V> Default for RoundCache<V> {
    fn default() -> Self {
        Self {
            sales: Arc::default(),
        }
    }
}

impl<V: Copy> RoundCache<V> {
    /// The value known for the sale's latest known round, with that round.
    pub fn get(&self, sale_id: &SaleId) -> Option<(u64, V)> {
        let known = self.sales.get(sale_id.as_str())?;
        known.value.map(|value| (known.round, value))
    }

    /// Remembers `value` for `round`, unless a newer round is known.
    pub fn learn(&self, sale_id: &SaleId, round: u64, value: V) {
        let mut known = self
            .sales
            .entry(sale_id.clone())
            .or_insert(Known { round, value: None });
        if round >= known.round {
            *known = Known {
                round,
                value: Some(value),
            };
        }
    }

    /// Drops the sale's value (it turned out stale), keeping its round.
    pub fn forget(&self, sale_id: &SaleId) {
        if let Some(mut known) = self.sales.get_mut(sale_id.as_str()) {
            known.value = None;
        }
    }
}

/// A cache that follows the round announcements.
pub trait FollowsRounds: Send + Sync {
    /// `round` of the sale started: a value of an older round no longer holds. A late
    /// announcement of the round already known changes nothing.
    fn round_started(&self, sale_id: &SaleId, round: u64);
    /// Announcements may have been missed: drop every value (rounds are kept).
    fn forget_all(&self);
}

impl<V: Send + Sync> FollowsRounds for RoundCache<V> {
    fn round_started(&self, sale_id: &SaleId, round: u64) {
        let mut known = self
            .sales
            .entry(sale_id.clone())
            .or_insert(Known { round, value: None });
        if round > known.round {
            *known = Known { round, value: None };
        }
    }

    fn forget_all(&self) {
        self.sales.iter_mut().for_each(|mut k| k.value = None);
    }
}

/// Follows the round announcements until `shutdown`, resubscribing whenever Redis drops, and
/// passes each to every cache in `caches`.
pub async fn follow_rounds(
    store: Sales,
    caches: Vec<Box<dyn FollowsRounds>>,
    shutdown: CancellationToken,
) {
    // Retried every RESUBSCRIBE_DELAY while Redis is down: logged once per outage.
    static SUBSCRIBE: OutageLog = OutageLog::new("subscribe to round announcements");
    loop {
        match store.round_announcements().await {
            Ok(announcements) => {
                SUBSCRIBE.succeeded();
                // Subscribed first, then forgotten: an announcement is either delivered from now
                // on or was made before this point, which the forgetting covers.
                caches.iter().for_each(|cache| cache.forget_all());
                let mut announcements = std::pin::pin!(announcements);
                loop {
                    let announcement = tokio::select! {
                        () = shutdown.cancelled() => return,
                        announcement = announcements.next() => announcement,
                    };
                    match announcement {
                        None => break,
                        Some(Some(started)) => caches
                            .iter()
                            .for_each(|cache| cache.round_started(&started.sale_id, started.round)),
                        Some(None) => tracing::warn!("ignoring a malformed round announcement"),
                    }
                }
                tracing::warn!("lost the round announcement subscription; resubscribing");
            }
            Err(error) => SUBSCRIBE.failed(&error),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> SaleId {
        SaleId::parse("phones").expect("valid id")
    }

    #[test]
    fn a_new_round_drops_the_value_and_an_older_round_cannot_bring_it_back() {
        let cache = RoundCache::default();
        cache.learn(&sale(), 1, 'a');
        assert_eq!(cache.get(&sale()), Some((1, 'a')));
        cache.round_started(&sale(), 2);
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 1, 'a');
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 2, 'b');
        assert_eq!(cache.get(&sale()), Some((2, 'b')));
    }

    #[test]
    fn a_late_announcement_of_the_current_round_keeps_its_value() {
        let cache = RoundCache::default();
        cache.learn(&sale(), 3, 'c');
        cache.round_started(&sale(), 3);
        assert_eq!(cache.get(&sale()), Some((3, 'c')));
    }

    #[test]
    fn forgetting_drops_values_but_keeps_rounds() {
        let cache = RoundCache::default();
        cache.learn(&sale(), 4, 'd');
        cache.forget_all();
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 3, 'c');
        assert_eq!(cache.get(&sale()), None);
        cache.learn(&sale(), 4, 'e');
        cache.forget(&sale());
        assert_eq!(cache.get(&sale()), None);
    }
}

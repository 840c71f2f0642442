//! The local sold-out flag: once a sale's stock is gone, this process answers `sold_out`
//! without a Redis round trip.
//!
//! A flag belongs to a round and follows the rounds like every per-process cache
//! (`rounds.rs`): a new round clears it, and a late "sold out in round 3" never overrides
//! "round 4 started". Should an announcement still be missed, a flag is trusted for a short
//! time only (`FLASHSALE_SOLD_OUT_TTL_MS`, 1 s by default), after which the next buyer asks
//! Redis again and the answer sets it anew. That bounds the cost of a missed announcement to
//! one TTL of wrong `sold_out` answers, while a stampede on a sold-out sale still sends Redis
//! only a handful of requests per TTL per process.

use std::time::{Duration, Instant};

use super::rounds::RoundCache;
use crate::domain::decision::ReserveOutcome;
use crate::domain::{Reservation, SaleId};

/// Which sales this process knows to be sold out, per round: the flag is when it was set.
/// Cheap to clone (shared map).
#[derive(Debug, Clone)]
pub struct SoldOutCache {
    flags: RoundCache<Instant>,
    ttl: Duration,
}

impl SoldOutCache {
    /// A cache whose flags are believed for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            flags: RoundCache::default(),
            ttl,
        }
    }

    /// The rounds this cache follows (see `rounds::follow_rounds`).
    pub fn rounds(&self) -> &RoundCache<Instant> {
        &self.flags
    }

    /// The round in which `sale_id` sold out, if this process saw it sell out recently.
    fn sold_out_round(&self, sale_id: &SaleId) -> Option<u64> {
        let (round, since) = self.flags.get(sale_id)?;
        (since.elapsed() < self.ttl).then_some(round)
    }

    /// The answer this process gives `reservation` without asking Redis, if any: `sold_out`
    /// when it saw the sale sell out recently, unless the request carries an Idempotency-Key
    /// (it may be the retry of a purchase that went through, whose answer only Redis has).
    pub fn shortcut(&self, reservation: &Reservation) -> Option<ReserveOutcome> {
        if reservation.idempotency_key.is_some() {
            return None;
        }
        let round = self.sold_out_round(&reservation.sale_id)?;
        Some(ReserveOutcome::SoldOut {
            round,
            remaining: 0,
        })
    }

    /// Learns from a reservation's outcome: no stock left means sold out for that round.
    pub fn observe(&self, sale_id: &SaleId, outcome: &ReserveOutcome) {
        let round = match outcome {
            ReserveOutcome::Reserved { purchase, .. } if purchase.remaining == 0 => purchase.round,
            ReserveOutcome::SoldOut {
                round,
                remaining: 0,
            } => *round,
            _ => return,
        };
        self.flags.learn(sale_id, round, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caches::rounds::FollowsRounds;

    fn sale() -> SaleId {
        SaleId::parse("phones").expect("valid id")
    }

    fn sold_out_in(round: u64) -> ReserveOutcome {
        ReserveOutcome::SoldOut {
            round,
            remaining: 0,
        }
    }

    #[test]
    fn a_flag_expires_after_its_ttl() {
        let cache = SoldOutCache::new(Duration::ZERO);
        cache.observe(&sale(), &sold_out_in(1));
        assert_eq!(cache.sold_out_round(&sale()), None);
    }

    #[test]
    fn only_an_empty_stock_sets_the_flag_and_a_new_round_clears_it() {
        let cache = SoldOutCache::new(Duration::from_secs(60));
        let too_few_left = ReserveOutcome::SoldOut {
            round: 1,
            remaining: 1,
        };
        cache.observe(&sale(), &too_few_left);
        assert_eq!(cache.sold_out_round(&sale()), None);
        cache.observe(&sale(), &sold_out_in(1));
        assert_eq!(cache.sold_out_round(&sale()), Some(1));
        cache.rounds().round_started(&sale(), 2);
        assert_eq!(cache.sold_out_round(&sale()), None);
        cache.observe(&sale(), &sold_out_in(1));
        assert_eq!(cache.sold_out_round(&sale()), None);
    }
}

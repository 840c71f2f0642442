//! The local sold-out flag: once a sale's stock is gone, this process answers `sold_out`
//! without a Redis round trip.
//!
//! A flag belongs to a round. Every new round (reset, replacement) is announced on a Redis
//! pub/sub channel, and every API process follows that channel ([`follow_rounds`]) and clears
//! its flag. Two things keep a flag from outliving its round even if an announcement is lost:
//! rounds only move forward (a late "sold out in round 3" never overrides "round 4 started"),
//! and a flag is trusted for a short time only (`FLASHSALE_SOLD_OUT_TTL_MS`, 1 s by default),
//! after which the next buyer asks Redis again and the answer sets it anew. That bounds the cost
//! of a missed announcement to one TTL of wrong `sold_out` answers, while a stampede on a
//! sold-out sale still sends Redis only a handful of requests per TTL per process.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::SaleId;
use crate::store::{ReserveOutcome, Store, ROUNDS_CHANNEL};
use crate::strategies::StrategyCache;

/// Wait between attempts to (re)subscribe when Redis is unreachable.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

impl Borrow<str> for SaleId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

#[derive(Debug, Clone, Copy)]
struct RoundState {
    round: u64,
    sold_out_since: Option<Instant>,
}

/// Which sales this process knows to be sold out, per round. Cheap to clone (shared map).
#[derive(Debug, Clone)]
pub struct SoldOutCache {
    sales: Arc<DashMap<SaleId, RoundState>>,
    ttl: Duration,
}

impl SoldOutCache {
    /// A cache whose flags are believed for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            sales: Arc::default(),
            ttl,
        }
    }

    /// The round in which `sale_id` sold out, if this process saw it sell out recently.
    pub fn sold_out_round(&self, sale_id: &SaleId) -> Option<u64> {
        let state = self.sales.get(sale_id.as_str())?;
        let since = state.sold_out_since?;
        (since.elapsed() < self.ttl).then_some(state.round)
    }

    /// Learns from a reservation's outcome: no stock left means sold out for that round.
    pub fn observe(&self, sale_id: &SaleId, outcome: &ReserveOutcome) {
        match outcome {
            ReserveOutcome::Reserved { purchase, .. } if purchase.remaining == 0 => {
                self.mark_sold_out(sale_id, purchase.round)
            }
            ReserveOutcome::SoldOut {
                round,
                remaining: 0,
            } => self.mark_sold_out(sale_id, *round),
            _ => {}
        }
    }

    fn mark_sold_out(&self, sale_id: &SaleId, round: u64) {
        let now = Some(Instant::now());
        let mut state = self.sales.entry(sale_id.clone()).or_insert(RoundState {
            round,
            sold_out_since: None,
        });
        if round >= state.round {
            *state = RoundState {
                round,
                sold_out_since: now,
            };
        }
    }

    /// A new round started: its stock is back, so the flag of any older round goes.
    pub fn round_started(&self, sale_id: &SaleId, round: u64) {
        let mut state = self.sales.entry(sale_id.clone()).or_insert(RoundState {
            round,
            sold_out_since: None,
        });
        if round > state.round {
            *state = RoundState {
                round,
                sold_out_since: None,
            };
        }
    }

    /// Announcements may have been missed: clear every flag (rounds are kept).
    fn forget_flags(&self) {
        self.sales
            .iter_mut()
            .for_each(|mut s| s.sold_out_since = None);
    }
}

/// Follows the round announcements until `shutdown`, resubscribing whenever Redis drops; the
/// sold-out flags and the known strategies (src/strategies/cache.rs) both follow them.
pub async fn follow_rounds(
    store: Store,
    cache: SoldOutCache,
    strategies: StrategyCache,
    shutdown: CancellationToken,
) {
    loop {
        match store.subscribe(ROUNDS_CHANNEL).await {
            Ok(pubsub) => {
                // Subscribed first, then forgotten: an announcement is either delivered from now
                // on or was made before this point, which the forgetting covers.
                cache.forget_flags();
                strategies.forget_all();
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = messages.next() => message,
                    };
                    let Some(message) = message else { break };
                    match parse_announcement(message.get_payload_bytes()) {
                        Some((round, sale_id)) => {
                            cache.round_started(&sale_id, round);
                            strategies.round_started(&sale_id, round);
                        }
                        None => tracing::warn!("ignoring a malformed round announcement"),
                    }
                }
                tracing::warn!("lost the round announcement subscription; resubscribing");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to round announcements"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

/// Parses `"<round> <sale_id>"` (see sale_start_round.lua).
fn parse_announcement(payload: &[u8]) -> Option<(u64, SaleId)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (round, sale_id) = text.split_once(' ')?;
    Some((round.parse().ok()?, SaleId::parse(sale_id).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> SaleId {
        SaleId::parse("phones").expect("valid id")
    }

    fn cache() -> SoldOutCache {
        SoldOutCache::new(Duration::from_secs(60))
    }

    #[test]
    fn a_flag_expires_after_its_ttl() {
        let cache = SoldOutCache::new(Duration::ZERO);
        cache.mark_sold_out(&sale(), 1);
        assert_eq!(cache.sold_out_round(&sale()), None);
    }

    #[test]
    fn a_new_round_clears_the_flag_and_a_late_old_round_cannot_set_it_again() {
        let cache = cache();
        cache.mark_sold_out(&sale(), 1);
        assert_eq!(cache.sold_out_round(&sale()), Some(1));
        cache.round_started(&sale(), 2);
        assert_eq!(cache.sold_out_round(&sale()), None);
        cache.mark_sold_out(&sale(), 1);
        assert_eq!(cache.sold_out_round(&sale()), None);
        cache.mark_sold_out(&sale(), 2);
        assert_eq!(cache.sold_out_round(&sale()), Some(2));
    }

    #[test]
    fn a_late_announcement_of_the_current_round_keeps_its_flag() {
        let cache = cache();
        cache.mark_sold_out(&sale(), 3);
        cache.round_started(&sale(), 3);
        assert_eq!(cache.sold_out_round(&sale()), Some(3));
    }

    #[test]
    fn forgetting_clears_flags_but_keeps_rounds() {
        let cache = cache();
        cache.mark_sold_out(&sale(), 4);
        cache.forget_flags();
        assert_eq!(cache.sold_out_round(&sale()), None);
        cache.mark_sold_out(&sale(), 3);
        assert_eq!(cache.sold_out_round(&sale()), None);
    }

    #[test]
    fn announcements_parse_round_then_sale() {
        assert_eq!(parse_announcement(b"7 phones"), Some((7, sale())));
        assert_eq!(parse_announcement(b"phones 7"), None);
        assert_eq!(parse_announcement(b"7 Bad Id"), None);
    }
}

//! Rate limits per client address and per user (`FLASHSALE_RATE_LIMIT_*`, off by default): a
//! request over either gets 429 `rate_limited` with `Retry-After`, and nothing is taken.
//!
//! A handler calls [`RateLimits::admit`] once it knows the user (after its body is parsed) and
//! before it asks for anything; the purchase route does, and any other route can the same way.
//!
//! Each limit is a GCRA (the `governor` crate) kept per API process, in memory: a check is a
//! hash lookup and a compare-and-swap, with no round trip, so a limited request costs less
//! than any answer the stock could give. The price is that a key's budget is per process: with
//! N processes behind a balancer a client can send up to N times the rate, so the setting is
//! the total divided by N (docs/OPERATIONS.md, section 6).
//!
//! Memory is bounded by `FLASHSALE_RATE_LIMIT_MAX_KEYS` per kind, whatever keys clients
//! invent: every quarter of it in checks, the keys back at their full burst are dropped, and if
//! the recent ones still fill three quarters, every key of that kind is forgotten (a hostile
//! flood of new keys gets past a per-key limit however it is kept; the other kind still holds).

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::RwLock;

use super::client_address::{TrustedProxies, FORWARDED_FOR};
use super::errors::ApiError;
use crate::domain::UserId;
use crate::runtime::log_throttle::LogThrottle;
use crate::runtime::settings::{RateLimit, RateLimitSettings};
use crate::runtime::telemetry::names;

/// What a limit counts requests by; its `limit` label in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    ClientAddress,
    User,
}

impl LimitKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::ClientAddress => "client_address",
            Self::User => "user",
        }
    }

    /// Who the client is told exceeded the limit.
    fn who(self) -> &'static str {
        match self {
            Self::ClientAddress => "client address",
            Self::User => "user",
        }
    }
}

/// The API's rate limits, shared by every worker thread.
pub struct RateLimits {
    per_client_address: Option<KeyedLimit<IpAddr>>,
    per_user: Option<KeyedLimit<UserId>>,
    proxies: TrustedProxies,
}

impl RateLimits {
    /// The limits `settings` turn on; both kinds' metrics are listed from the first scrape.
    pub fn new(settings: &RateLimitSettings) -> Self {
        for kind in [LimitKind::ClientAddress, LimitKind::User] {
            metrics::counter!(names::RATE_LIMITED, "limit" => kind.label()).increment(0);
            metrics::counter!(names::RATE_LIMIT_RESETS, "limit" => kind.label()).increment(0);
        }
        Self {
            per_client_address: settings
                .per_client_address
                .map(|limit| KeyedLimit::new(LimitKind::ClientAddress, limit, settings.max_keys)),
            per_user: settings
                .per_user
                .map(|limit| KeyedLimit::new(LimitKind::User, limit, settings.max_keys)),
            proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
        }
    }

    /// Whether any limit is on; when none is, a caller can skip what it does only for them.
    pub fn any(&self) -> bool {
        self.per_client_address.is_some() || self.per_user.is_some()
    }

    /// Counts one request of `user` from `req`'s client against the limits, the client
    /// address's first; 429 `rate_limited` when either is exceeded. A request the address's
    /// limit refuses is not counted against the user.
    pub fn admit(&self, req: &HttpRequest, user: &UserId) -> Result<(), ApiError> {
        self.admit_client(req)?;
        if let Some(limit) = &self.per_user {
            limit.check(user)?;
        }
        Ok(())
    }

    /// Counts one request from `req`'s client against the client address's limit only: for
    /// routes that do not know the user before they would ask Redis (a ticket's reads).
    pub fn admit_client(&self, req: &HttpRequest) -> Result<(), ApiError> {
        if let Some(limit) = &self.per_client_address {
            if let Some(client) = self.client_address(req) {
                limit.check(&client)?;
            }
        }
        Ok(())
    }

    /// The address `req`'s client is counted under (`client_address.rs`), by these limits and
    /// by the streams' share per address. `None` only for requests built by hand (actix's test
    /// requests, which have no peer): nothing to count.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?;
        let lines = req.headers().get_all(FORWARDED_FOR);
        Some(self.proxies.client(peer.ip(), lines))
    }
}

/// One limit, applied to each key on its own, in at most `max_keys` keys' memory.
struct KeyedLimit<K: Hash + Eq + Clone> {
    kind: LimitKind,
    quota: Quota,
    /// Replaced whole when every key is forgotten (governor's store has no `clear`); read-locked
    /// by every check, so the lock is only ever contended by that rare reset.
    limiter: RwLock<DefaultKeyedRateLimiter<K>>,
    max_keys: usize,
    /// Checks since the last sweep: each may have added a key.
    checks: AtomicUsize,
    refused: metrics::Counter,
    resets: metrics::Counter,
}

/// One line per interval when limits forget their keys: a flood triggers it repeatedly.
static RESETS: LogThrottle = LogThrottle::new(Duration::from_secs(10));

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    fn new(kind: LimitKind, limit: RateLimit, max_keys: usize) -> Self {
        // The settings refuse a zero interval, the one value `with_period` refuses.
        let quota = Quota::with_period(limit.replenish)
            .unwrap_or_else(|| Quota::per_second(limit.burst))
            .allow_burst(limit.burst);
        Self {
            kind,
            quota,
            limiter: RwLock::new(RateLimiter::keyed(quota)),
            max_keys: max_keys.max(1),
            checks: AtomicUsize::new(0),
            refused: metrics::counter!(names::RATE_LIMITED, "limit" => kind.label()),
            resets: metrics::counter!(names::RATE_LIMIT_RESETS, "limit" => kind.label()),
        }
    }

    /// Checks between two sweeps, so at most this many keys are added between them.
    fn sweep_every(&self) -> usize {
        (self.max_keys / 4).max(1)
    }

    /// Counts one request of `key`: `Ok`, or 429 saying when it may send again.
    fn check(&self, key: &K) -> Result<(), ApiError> {
        // Exactly one check sees the count reach the mark, so one sweeps.
        if self.checks.fetch_add(1, Ordering::Relaxed) + 1 == self.sweep_every() {
            self.sweep();
        }
        let limiter = self.limiter.read();
        limiter.check_key(key).map_err(|not_until| {
            self.refused.increment(1);
            let wait = not_until.wait_time_from(limiter.clock().now());
            ApiError::rate_limited(self.kind.who(), wait)
        })
    }

    /// Drops the keys back at their full burst (indistinguishable from a key never seen); if
    /// the rest leave no room for the checks until the next sweep, forgets every key.
    fn sweep(&self) {
        self.checks.store(0, Ordering::Relaxed);
        let recent = {
            let limiter = self.limiter.read();
            limiter.retain_recent();
            limiter.shrink_to_fit();
            limiter.len()
        };
        if recent + self.sweep_every() > self.max_keys {
            *self.limiter.write() = RateLimiter::keyed(self.quota);
            self.resets.increment(1);
            if let Some(resets) = RESETS.occurred() {
                tracing::warn!(
                    limit = self.kind.label(),
                    recent,
                    resets,
                    "a rate limit forgot every key: more recent keys than FLASHSALE_RATE_LIMIT_MAX_KEYS allows (resets: since the last such line)"
                );
            }
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.limiter.read().len()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn rate(per_second: u64, burst: u32) -> RateLimit {
        RateLimit {
            replenish: Duration::from_secs(1) / u32::try_from(per_second).expect("small"),
            burst: NonZeroU32::new(burst).expect("not zero"),
        }
    }

    fn retry_after(error: ApiError) -> Option<String> {
        use actix_web::ResponseError;
        error
            .error_response()
            .headers()
            .get("Retry-After")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn a_key_gets_its_burst_then_429_with_whole_seconds_to_wait_and_keys_are_separate() {
        let limit = KeyedLimit::new(LimitKind::User, rate(1, 3), 100);
        for _ in 0..3 {
            assert_eq!(limit.check(&"a"), Ok(()));
        }
        let refused = limit.check(&"a").expect_err("the fourth is over the burst");
        assert_eq!(refused.code(), "rate_limited");
        // Just under a second to wait: rounded up, never 0.
        assert_eq!(retry_after(refused).as_deref(), Some("1"));
        assert_eq!(limit.check(&"b"), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        for (wait, header) in [(0, "1"), (1, "1"), (1000, "1"), (1001, "2"), (59_500, "60")] {
            let error = ApiError::rate_limited("user", Duration::from_millis(wait));
            assert_eq!(retry_after(error).as_deref(), Some(header), "{wait} ms");
        }
    }

    #[test]
    fn keys_back_at_full_burst_are_swept_and_memory_stays_bounded_under_a_flood() {
        // 1000 a second: a key is back at its full burst 1 ms after its last request.
        let limit = KeyedLimit::new(LimitKind::ClientAddress, rate(1000, 1), 40);
        for key in 0..9 {
            assert_eq!(limit.check(&key), Ok(()));
        }
        std::thread::sleep(Duration::from_millis(5));
        // The tenth check sweeps the nine idle keys before it counts its own.
        assert_eq!(limit.check(&9), Ok(()));
        assert_eq!(limit.keys(), 1);

        // One a second: within this loop every key stays recent, so a flood of new ones is
        // what the bound must stop.
        let limit = KeyedLimit::new(LimitKind::User, rate(1, 1), 40);
        let mut most = 0;
        for key in 0..1_000 {
            let _ = limit.check(&key);
            most = most.max(limit.keys());
        }
        assert!(most <= 40, "{most} keys held with a bound of 40");
        // A key forgotten starts again with its burst; one still held is refused.
        assert_eq!(limit.check(&0), Ok(()));
        assert!(limit.check(&999).is_err());
    }
}

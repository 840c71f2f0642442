//! Logging an outage once per change of state instead of once per failed call.
//!
//! While Redis, Postgres or the broker is down, every request, batch or retry fails the same
//! way; a line for each buries the one that matters. An [`OutageLog`] logs the first failure
//! (`warn`, "down"), then one line every [`STILL_DOWN_EVERY`] with the count of failures since
//! ("still down"), and one `info` line when a call succeeds again ("back up", with the outage's
//! length and failure count). The success path is one atomic load.
//!
//! Use one per dependency and call site, as a `static`:
//!
//! ```ignore
//! static REDIS: OutageLog = OutageLog::new("reserve purchases in Redis");
//! match result {
//!     Ok(_) => REDIS.succeeded(),
//!     Err(error) => REDIS.failed(&error),
//! }
//! ```

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// While the outage lasts, one reminder per this interval.
pub const STILL_DOWN_EVERY: Duration = Duration::from_secs(30);

/// The state of one dependency as one call site sees it.
#[derive(Debug)]
pub struct OutageLog {
    what: &'static str,
    down: AtomicBool,
    outage: Mutex<Option<Outage>>,
}

#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    last_logged: Instant,
    /// Failures since the last line about this outage.
    unlogged: u64,
    failures: u64,
}

impl OutageLog {
    /// `what` names the operation that fails, as in "cannot {what}".
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            down: AtomicBool::new(false),
            outage: Mutex::new(None),
        }
    }

    /// Records a failure: logs it if it starts an outage or the last line is older than
    /// [`STILL_DOWN_EVERY`]; otherwise only counts it.
    pub fn failed(&self, error: &dyn Display) {
        let now = Instant::now();
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        match outage.as_mut() {
            None => {
                *outage = Some(Outage {
                    since: now,
                    last_logged: now,
                    unlogged: 0,
                    failures: 1,
                });
                self.down.store(true, Ordering::Release);
                tracing::warn!(%error, what = self.what, "dependency down: cannot {}", self.what);
            }
            Some(current) => {
                current.failures += 1;
                current.unlogged += 1;
                if now.duration_since(current.last_logged) >= STILL_DOWN_EVERY {
                    tracing::warn!(
                        %error,
                        what = self.what,
                        down_for = ?now.duration_since(current.since),
                        failures_since_last_line = current.unlogged,
                        "dependency still down: cannot {}",
                        self.what
                    );
                    current.last_logged = now;
                    current.unlogged = 0;
                }
            }
        }
    }

    /// Records a success: logs the end of the outage if there was one.
    pub fn succeeded(&self) {
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ended) = outage.take() {
            self.down.store(false, Ordering::Release);
            tracing::info!(
                what = self.what,
                down_for = ?ended.since.elapsed(),
                failures = ended.failures,
                "dependency back up: can {} again",
                self.what
            );
        }
    }

    /// Whether the last call recorded was a failure.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_one_state_from_its_first_failure_to_the_next_success() {
        let log = OutageLog::new("test");
        log.succeeded();
        assert!(!log.is_down());
        for _ in 0..100 {
            log.failed(&"refused");
        }
        assert!(log.is_down());
        let outage = log.outage.lock().expect("not poisoned").expect("an outage");
        assert_eq!((outage.failures, outage.unlogged), (100, 99));
        log.succeeded();
        assert!(!log.is_down());
    }
}

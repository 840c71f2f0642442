//! Keeps a log line that anyone can trigger (a client's bad request, a failure repeated by
//! every request during an outage) from flooding the log: such a line is written at most once
//! per interval and says how many times it happened since the last one written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts occurrences of one kind of event and lets one log line through per interval.
pub struct LogThrottle {
    interval: Duration,
    window: Mutex<Window>,
}

struct Window {
    /// When the last line was let through; `None` before the first occurrence.
    logged_at: Option<Instant>,
    /// Occurrences since then, the one let through included.
    count: u64,
}

impl LogThrottle {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            window: Mutex::new(Window {
                logged_at: None,
                count: 0,
            }),
        }
    }

    /// Counts one occurrence. `Some(n)` when this one should be logged: the first ever, then
    /// the first once `interval` has passed since the last logged one; `n` is how many
    /// occurred since the last logged one (this one included), so the line can say it.
    pub fn occurred(&self) -> Option<u64> {
        // A poisoned lock only means another thread panicked while counting; the count is
        // still a count.
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        window.count += 1;
        let now = Instant::now();
        let due = window
            .logged_at
            .is_none_or(|logged_at| now.duration_since(logged_at) >= self.interval);
        if !due {
            return None;
        }
        let count = window.count;
        *window = Window {
            logged_at: Some(now),
            count: 0,
        };
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_is_logged_then_one_per_interval_with_the_count_in_between() {
        let throttle = LogThrottle::new(Duration::from_millis(200));
        assert_eq!(throttle.occurred(), Some(1));
        for _ in 0..99 {
            assert_eq!(throttle.occurred(), None);
        }
        std::thread::sleep(Duration::from_millis(210));
        assert_eq!(throttle.occurred(), Some(100), "99 held back and this one");
        assert_eq!(throttle.occurred(), None);
    }
}

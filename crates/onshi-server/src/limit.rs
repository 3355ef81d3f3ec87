//! Per-terminal rate limiting: a token bucket per terminal id, in memory.
//!
//! The buckets live in this instance only: behind a load balancer each instance applies the limit
//! on its own, so a terminal spread over N instances may reach N times the rate. That is enough to
//! stop a runaway or stolen terminal from crowding out the others; an exact global limit would
//! cost a store round trip per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// When the table holds this many terminals, idle (full) buckets are dropped.
const PRUNE_AT: usize = 4096;

/// Token buckets by terminal id.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Table>,
}

struct Table {
    buckets: HashMap<String, Bucket>,
    prune_at: usize,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens at `now`, refilled at `per_second` up to `burst`.
    fn tokens(&self, now: Instant, per_second: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_second).min(burst)
    }
}

impl RateLimiter {
    /// `per_second` requests a second on average, `burst` at once; `per_second == 0`: no limit.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Table {
                buckets: HashMap::new(),
                prune_at: PRUNE_AT,
            }),
        }
    }

    /// Whether the limit is on.
    pub fn enabled(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes a token for `terminal` at `now`; false when its bucket is empty.
    pub fn allow(&self, terminal: &str, now: Instant) -> bool {
        if !self.enabled() {
            return true;
        }
        let mut table = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = table.buckets.get_mut(terminal) {
            let tokens = b.tokens(now, self.per_second, self.burst);
            let allowed = tokens >= 1.0;
            *b = Bucket {
                tokens: if allowed { tokens - 1.0 } else { tokens },
                at: now.max(b.at),
            };
            return allowed;
        }
        if table.buckets.len() >= table.prune_at {
            let (per_second, burst) = (self.per_second, self.burst);
            table
                .buckets
                .retain(|_, b| b.tokens(now, per_second, burst) < burst);
            table.prune_at = PRUNE_AT.max(table.buckets.len() * 2);
        }
        table.buckets.insert(
            terminal.to_owned(),
            Bucket {
                tokens: self.burst - 1.0,
                at: now,
            },
        );
        true
    }

    /// The number of terminals with a bucket (for tests).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_per_terminal() {
        let limiter = RateLimiter::new(20, 40);
        let t0 = Instant::now();
        let allowed = (0..50).filter(|_| limiter.allow("W0000001", t0)).count();
        assert_eq!(allowed, 40);
        // Another terminal has its own bucket.
        assert!(limiter.allow("W0000002", t0));
        // 20 a second: after 100 ms two more.
        let t1 = t0 + Duration::from_millis(100);
        let allowed = (0..5).filter(|_| limiter.allow("W0000001", t1)).count();
        assert_eq!(allowed, 2);
        // Refills up to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        let allowed = (0..100).filter(|_| limiter.allow("W0000001", t2)).count();
        assert_eq!(allowed, 40);
        // A clock going backwards refills nothing.
        assert!(!limiter.allow("W0000001", t0));
    }

    #[test]
    fn zero_rate_is_no_limit_and_idle_buckets_are_pruned() {
        let off = RateLimiter::new(0, 40);
        assert!((0..1000).all(|_| off.allow("W0000001", Instant::now())));
        assert_eq!(off.tracked(), 0);

        let limiter = RateLimiter::new(20, 40);
        let t0 = Instant::now();
        for i in 0..PRUNE_AT {
            assert!(limiter.allow(&format!("W{i:07}"), t0));
        }
        assert_eq!(limiter.tracked(), PRUNE_AT);
        // Ten seconds later every bucket is full again: the next new terminal prunes them.
        assert!(limiter.allow("W9999999", t0 + Duration::from_secs(10)));
        assert_eq!(limiter.tracked(), 1);
    }
}

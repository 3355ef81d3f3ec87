//! Limits kept in memory: token buckets by key ([`RateLimiter`]: per terminal on every terminal
//! route, per clinic on `/query`, per client address on `/enroll`), and the caps on open
//! connections per instance and per client address ([`ConnectionCaps`]).
//!
//! The buckets live in this instance only: behind a load balancer each instance applies the limit
//! on its own, so a terminal spread over N instances may reach N times the rate. That is enough to
//! stop a runaway or stolen terminal, or one noisy address, from crowding out the others. With
//! `shared_rate_limits`, the per-terminal and per-clinic limits are also counted in the store
//! ([`SharedLimit`]: fixed windows every instance counts into), at the cost of one store write per
//! request the bucket lets through.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use onshi_store::{ServiceStore, StoreError};

/// When the table holds this many terminals, idle (full) buckets are dropped.
const PRUNE_AT: usize = 4096;

/// Token buckets by key (a terminal id, a clinic id, a client address).
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
        Self::with_rate(f64::from(per_second), burst)
    }

    /// `per_minute` requests a minute on average, `burst` at once; `per_minute == 0`: no limit.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_minute) / 60.0, burst)
    }

    fn with_rate(per_second: f64, burst: u32) -> Self {
        Self {
            per_second,
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

    /// Seconds until a new token arrives in an empty bucket (for `Retry-After`), at least 1.
    pub fn retry_after_seconds(&self) -> u64 {
        if self.per_second <= 0.0 {
            return 1;
        }
        // A float in 1..=3600 after the clamp: the cast cannot truncate a meaningful value.
        (1.0 / self.per_second).ceil().clamp(1.0, 3600.0) as u64
    }

    /// Takes a token for `terminal` (or whatever the key is) at `now`; false when its bucket is
    /// empty.
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

    /// The number of keys with a bucket (for tests).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .buckets
            .len()
    }
}

/// A limit every instance on one database counts into: at most `limit` requests per key in each
/// fixed window of `window_seconds` (windows start at multiples of it, Unix time).
pub struct SharedLimit {
    prefix: &'static str,
    limit: u64,
    window_seconds: i64,
    /// The start of the newest window this instance has pruned before.
    pruned: AtomicI64,
}

impl SharedLimit {
    /// Keys are stored as `prefix:key`; `limit` requests per window of `window_seconds` (≥ 1).
    pub fn new(prefix: &'static str, limit: u64, window_seconds: i64) -> Self {
        Self {
            prefix,
            limit,
            window_seconds: window_seconds.max(1),
            pruned: AtomicI64::new(i64::MIN),
        }
    }

    /// The most requests per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The start of the window `now` falls in (Unix seconds).
    pub fn window_start(&self, now: DateTime<Utc>) -> i64 {
        let t = now.timestamp();
        t - t.rem_euclid(self.window_seconds)
    }

    /// Counts a request of `key` at `now` in the store; whether it is within the limit. The
    /// first request of each new window this instance sees removes the windows before the
    /// previous one.
    pub fn allow(
        &self,
        store: &dyn ServiceStore,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let start = self.window_start(now);
        if self.pruned.fetch_max(start, Ordering::Relaxed) < start {
            store.prune_request_counts(start - self.window_seconds)?;
        }
        let hits = store.count_request(&format!("{}:{key}", self.prefix), start)?;
        Ok(hits <= self.limit)
    }
}

/// The key under which a client address is counted: an IPv4 address as it is (an IPv4-mapped
/// IPv6 address as the IPv4 address), an IPv6 address by its /64 prefix, since one subscriber
/// usually holds a whole /64 and could otherwise take a new address per connection.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapRefusal {
    /// The instance holds `max_connections` already.
    Instance,
    /// The client address ([`client_key`]) holds `max_connections_per_address` already.
    Address,
}

/// Caps on the connections open at once: per instance and per client address ([`client_key`]);
/// 0 is no cap. A connection holds a [`ConnectionPermit`] from accept to close.
pub struct ConnectionCaps {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
pub struct ConnectionPermit {
    caps: Arc<ConnectionCaps>,
    key: IpAddr,
}

impl ConnectionCaps {
    /// At most `max_total` connections, `max_per_address` from one address; 0: no cap.
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            open: Mutex::new(OpenConnections::default()),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, OpenConnections> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a connection from `ip`, or says which cap it would exceed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, CapRefusal> {
        let key = client_key(ip);
        let mut open = self.open();
        if self.max_total > 0 && open.total >= self.max_total {
            return Err(CapRefusal::Instance);
        }
        let mine = open.by_address.get(&key).copied().unwrap_or(0);
        if self.max_per_address > 0 && mine >= self.max_per_address {
            return Err(CapRefusal::Address);
        }
        open.total += 1;
        open.by_address.insert(key, mine + 1);
        Ok(ConnectionPermit {
            caps: self.clone(),
            key,
        })
    }

    /// Connections open now: in all, and from `ip`'s key.
    pub fn open_now(&self, ip: IpAddr) -> (usize, usize) {
        let open = self.open();
        (
            open.total,
            open.by_address.get(&client_key(ip)).copied().unwrap_or(0),
        )
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.caps.open();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_address.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn per_minute_limits_and_retry_after() {
        let limiter = RateLimiter::per_minute(6, 2);
        let t0 = Instant::now();
        let allowed = (0..5).filter(|_| limiter.allow("192.0.2.1", t0)).count();
        assert_eq!(allowed, 2);
        assert!(!limiter.allow("192.0.2.1", t0 + Duration::from_secs(9)));
        assert!(limiter.allow("192.0.2.1", t0 + Duration::from_secs(10)));
        assert!(limiter.allow("192.0.2.2", t0));
        assert_eq!(limiter.retry_after_seconds(), 10);
        assert_eq!(RateLimiter::new(20, 40).retry_after_seconds(), 1);
        assert_eq!(RateLimiter::per_minute(0, 1).retry_after_seconds(), 1);
    }

    #[test]
    fn client_keys_group_ipv6_by_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:ffff::9")),
            client_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:3::1")),
            client_key(ip("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn connection_caps_per_address_and_per_instance() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        let caps = Arc::new(ConnectionCaps::new(3, 2));
        let a1 = caps
            .admit(ip("192.0.2.1"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let a2 = caps
            .admit(ip("192.0.2.1"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(caps.admit(ip("192.0.2.1")).err(), Some(CapRefusal::Address));
        let b1 = caps
            .admit(ip("192.0.2.2"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            caps.admit(ip("192.0.2.3")).err(),
            Some(CapRefusal::Instance)
        );
        drop(a1);
        assert_eq!(caps.open_now(ip("192.0.2.1")), (2, 1));
        let a3 = caps
            .admit(ip("192.0.2.1"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        drop((a2, a3, b1));
        assert_eq!(caps.open_now(ip("192.0.2.1")), (0, 0));
        // No cap at all.
        let open = Arc::new(ConnectionCaps::new(0, 0));
        let many: Vec<_> = (0..100)
            .map(|_| {
                open.admit(ip("192.0.2.1"))
                    .unwrap_or_else(|e| panic!("{e:?}"))
            })
            .collect();
        assert_eq!(open.open_now(ip("192.0.2.1")), (100, 100));
        drop(many);
    }

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

    #[test]
    #[allow(clippy::unwrap_used)]
    fn shared_windows_start_at_multiples_and_count_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = onshi_store::open_service_data_dir(dir.path()).unwrap();
        let other = onshi_store::open_service_data_dir(dir.path()).unwrap();
        let limit = SharedLimit::new("terminal", 3, 60);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let t0 = at("2026-12-07T10:00:59Z");
        assert_eq!(
            limit.window_start(t0),
            at("2026-12-07T10:00:00Z").timestamp()
        );
        // Two instances, one count: the fourth request of the window is refused.
        let answers: Vec<bool> = (0..4)
            .map(|i| {
                let s = if i % 2 == 0 { &store } else { &other };
                limit.allow(s.as_ref(), "W0000001", t0).unwrap()
            })
            .collect();
        assert_eq!(answers, [true, true, true, false]);
        // Another key, and the next window, start afresh.
        assert!(limit.allow(store.as_ref(), "W0000002", t0).unwrap());
        let t1 = at("2026-12-07T10:01:00Z");
        assert!(limit.allow(store.as_ref(), "W0000001", t1).unwrap());
    }
}

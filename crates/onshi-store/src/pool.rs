//! A small pool of connections: a check takes one, uses it, and gives it back, so readers on many
//! threads never wait on one connection.
//!
//! The pool opens at most `size` connections (`[database] pool_size`): one more request waits up
//! to `wait` for one to come back, then fails with [`StoreError::PoolExhausted`] instead of
//! opening connection after connection until the database refuses them all.
//!
//! A connection that comes back broken (the database restarted or the network dropped it) is not
//! kept, and neither are the idle ones: they were opened to the same server and are broken too,
//! so the next requests connect afresh instead of failing one by one on dead connections.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::StoreError;

/// Makes a new connection when the pool has none idle.
pub(crate) type Connector<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

/// Tells whether a connection is broken (closed by the other side).
pub(crate) type BrokenCheck<C> = fn(&C) -> bool;

/// The idle connections and how many are open (idle or on loan).
struct State<C> {
    idle: Vec<C>,
    open: usize,
}

/// Idle connections and the way to make more.
pub(crate) struct Pool<C> {
    state: Mutex<State<C>>,
    /// Signalled whenever a connection comes back or one fewer is open.
    returned: Condvar,
    connect: Connector<C>,
    max_idle: usize,
    /// The most connections open at once; 0: no cap.
    size: usize,
    /// How long [`Pool::get`] waits for a connection when `size` are open.
    wait: Duration,
    broken: BrokenCheck<C>,
}

impl<C> Pool<C> {
    pub(crate) fn new(connect: Connector<C>, max_idle: usize) -> Self {
        Self {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            connect,
            max_idle,
            size: 0,
            wait: Duration::ZERO,
            broken: |_| false,
        }
    }

    /// Opens at most `size` connections at once (0: no cap); a request waits up to `wait` for one.
    pub(crate) fn with_size(mut self, size: usize, wait: Duration) -> Self {
        self.size = size;
        self.wait = wait;
        if size > 0 {
            self.max_idle = self.max_idle.min(size);
        }
        self
    }

    /// Uses `broken` to tell connections that must not go back to the pool.
    pub(crate) fn with_broken_check(mut self, broken: BrokenCheck<C>) -> Self {
        self.broken = broken;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while the lock was held left the counts as they were: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection opened outside the pool (the one that ran the migrations) and keeps it
    /// as idle.
    pub(crate) fn adopt(&self, conn: C) {
        self.lock().open += 1;
        self.put(conn);
    }

    /// Hands a connection on loan back to the pool as idle. A broken one is dropped with every
    /// idle one.
    pub(crate) fn put(&self, conn: C) {
        if (self.broken)(&conn) {
            let stale = {
                let mut state = self.lock();
                let stale = std::mem::take(&mut state.idle);
                state.open = state.open.saturating_sub(stale.len() + 1);
                stale
            };
            self.returned.notify_all();
            if !stale.is_empty() {
                tracing::warn!(
                    dropped = stale.len() + 1,
                    "a database connection was closed by the server: idle connections dropped"
                );
            }
            // Dropped off the lock: closing a connection may block.
            drop(stale);
            drop(conn);
            return;
        }
        let extra = {
            let mut state = self.lock();
            if state.idle.len() < self.max_idle {
                state.idle.push(conn);
                None
            } else {
                state.open = state.open.saturating_sub(1);
                Some(conn)
            }
        };
        self.returned.notify_one();
        drop(extra);
    }

    /// Forgets a connection on loan that was dropped instead of returned.
    fn release(&self) {
        {
            let mut state = self.lock();
            state.open = state.open.saturating_sub(1);
        }
        self.returned.notify_one();
    }

    /// Takes every idle connection out of the pool.
    pub(crate) fn drain(&self) -> Vec<C> {
        let stale = {
            let mut state = self.lock();
            let stale = std::mem::take(&mut state.idle);
            state.open = state.open.saturating_sub(stale.len());
            stale
        };
        self.returned.notify_all();
        stale
    }

    /// An idle connection, or a new one while fewer than `size` are open; otherwise waits up to
    /// `wait` for one to come back.
    pub(crate) fn get(&self) -> Result<Pooled<'_, C>, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if self.size == 0 || state.open < self.size {
                state.open += 1;
                drop(state);
                return match (self.connect)() {
                    Ok(conn) => Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.release();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::PoolExhausted {
                    size: self.size,
                    waited_ms: u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
                });
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// A connection on loan; it goes back to the pool when dropped (unless [`Pooled::discard`]ed).
pub(crate) struct Pooled<'a, C> {
    pool: &'a Pool<C>,
    conn: Option<C>,
}

impl<C> Pooled<'_, C> {
    /// Drops the connection instead of returning it (after an error that may have left it in a
    /// bad state).
    pub(crate) fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            self.pool.release();
        }
    }
}

impl<C> Deref for Pooled<'_, C> {
    type Target = C;
    fn deref(&self) -> &C {
        // Present until drop or discard, which consume the guard.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl<C> DerefMut for Pooled<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl<C> Drop for Pooled<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(conn);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A connection: its number, and whether it is broken.
    struct Conn(usize, bool);

    fn pool(made: Arc<AtomicUsize>) -> Pool<Conn> {
        Pool::new(
            Box::new(move || Ok(Conn(made.fetch_add(1, Ordering::SeqCst), false))),
            8,
        )
        .with_broken_check(|c| c.1)
    }

    #[test]
    fn idle_connections_are_reused() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = pool(made.clone());
        drop(pool.get().unwrap());
        drop(pool.get().unwrap());
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_broken_connection_drops_every_idle_one() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = pool(made.clone());
        let (a, b, mut c) = (
            pool.get().unwrap(),
            pool.get().unwrap(),
            pool.get().unwrap(),
        );
        drop(a);
        drop(b);
        assert_eq!(pool.lock().idle.len(), 2);
        // The server went away: the connection in use finds out first.
        c.1 = true;
        drop(c);
        assert_eq!(pool.lock().idle.len(), 0);
        // The next request connects afresh.
        let d = pool.get().unwrap();
        assert_eq!(d.0, 3);
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn at_most_size_connections_open_and_one_more_waits_then_fails() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = pool(made.clone()).with_size(2, Duration::from_millis(50));
        let a = pool.get().unwrap();
        let _b = pool.get().unwrap();
        let started = Instant::now();
        let err = pool.get().err().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(
            matches!(
                err,
                StoreError::PoolExhausted {
                    size: 2,
                    waited_ms: 50
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("pool_size"), "{err}");
        assert_eq!(made.load(Ordering::SeqCst), 2);
        // One comes back: the waiter gets it, no third connection is made.
        drop(a);
        drop(pool.get().unwrap());
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_waiter_gets_the_connection_another_thread_returns() {
        let made = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(pool(made.clone()).with_size(1, Duration::from_secs(5)));
        let held = pool.get().unwrap();
        let other = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.get().map(|c| c.0).unwrap())
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        assert_eq!(other.join().unwrap(), 0);
        // A discarded connection frees its place too.
        pool.get().unwrap().discard();
        assert_eq!(pool.get().unwrap().0, 1);
        assert_eq!(pool.lock().open, 1);
    }
}

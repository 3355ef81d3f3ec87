//! A small pool of connections: a check takes one, uses it, and gives it back, so readers on many
//! threads never wait on one connection.
//!
//! A connection that comes back broken (the database restarted or the network dropped it) is not
//! kept, and neither are the idle ones: they were opened to the same server and are broken too,
//! so the next requests connect afresh instead of failing one by one on dead connections.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::StoreError;

/// Makes a new connection when the pool has none idle.
pub(crate) type Connector<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

/// Tells whether a connection is broken (closed by the other side).
pub(crate) type BrokenCheck<C> = fn(&C) -> bool;

/// Idle connections and the way to make more.
pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
    connect: Connector<C>,
    max_idle: usize,
    broken: BrokenCheck<C>,
}

impl<C> Pool<C> {
    pub(crate) fn new(connect: Connector<C>, max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            connect,
            max_idle,
            broken: |_| false,
        }
    }

    /// Uses `broken` to tell connections that must not go back to the pool.
    pub(crate) fn with_broken_check(mut self, broken: BrokenCheck<C>) -> Self {
        self.broken = broken;
        self
    }

    /// Hands a connection to the pool as idle. A broken one is dropped with every idle one.
    pub(crate) fn put(&self, conn: C) {
        if (self.broken)(&conn) {
            let stale = self.drain();
            if !stale.is_empty() {
                tracing::warn!(
                    dropped = stale.len() + 1,
                    "a database connection was closed by the server: idle connections dropped"
                );
            }
            // Dropped off the lock: closing a connection may block.
            drop(stale);
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
    }

    /// Takes every idle connection out of the pool.
    pub(crate) fn drain(&self) -> Vec<C> {
        self.idle
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// An idle connection, or a new one.
    pub(crate) fn get(&self) -> Result<Pooled<'_, C>, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => (self.connect)()?,
        };
        Ok(Pooled {
            pool: self,
            conn: Some(conn),
        })
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
        self.conn = None;
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
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
        // The server went away: the connection in use finds out first.
        c.1 = true;
        drop(c);
        assert_eq!(pool.idle.lock().unwrap().len(), 0);
        // The next request connects afresh.
        let d = pool.get().unwrap();
        assert_eq!(d.0, 3);
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }
}

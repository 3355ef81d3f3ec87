//! A small pool of connections: a check takes one, uses it, and gives it back, so readers on many
//! threads never wait on one connection.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::StoreError;

/// Makes a new connection when the pool has none idle.
pub(crate) type Connector<C> = Box<dyn Fn() -> Result<C, StoreError> + Send + Sync>;

/// Idle connections and the way to make more.
pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
    connect: Connector<C>,
    max_idle: usize,
}

impl<C> Pool<C> {
    pub(crate) fn new(connect: Connector<C>, max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            connect,
            max_idle,
        }
    }

    /// Hands a connection to the pool as idle.
    pub(crate) fn put(&self, conn: C) {
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

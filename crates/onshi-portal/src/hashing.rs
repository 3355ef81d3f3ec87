//! Password hashing (argon2id, ~19 MiB and tens of milliseconds each) kept away from the
//! eligibility checks: at most `slots` hashes run at once, at most `queue` more wait for a slot,
//! and a request beyond that is answered at once with 503 and a Japanese message instead of
//! queueing without bound. A flood of registrations or logins thus costs a few cores' worth of
//! hashing, never the threads and memory the checks need.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::view::PageError;

/// The bounded hashing pool.
#[derive(Clone, Debug)]
pub struct Hasher {
    /// Hashes running.
    slots: Arc<Semaphore>,
    /// Hashes running or waiting.
    admitted: Arc<Semaphore>,
}

/// A place in the hashing pool, taken before any other work of the request so that a full pool
/// refuses the request before it spends anything (a reset link, a throttling count).
#[derive(Debug)]
pub struct Slot {
    _admitted: OwnedSemaphorePermit,
    slots: Arc<Semaphore>,
}

impl Hasher {
    /// `slots` hashes at once (at least 1), `queue` more waiting.
    pub fn new(slots: usize, queue: usize) -> Self {
        let slots = slots.max(1);
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            admitted: Arc::new(Semaphore::new(slots + queue)),
        }
    }

    /// A place in the pool, or 503 when it is full.
    pub fn admit(&self) -> Result<Slot, PageError> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(permit) => Ok(Slot {
                _admitted: permit,
                slots: self.slots.clone(),
            }),
            Err(_) => {
                tracing::warn!("password hashing pool full: request refused");
                Err(PageError::busy())
            }
        }
    }

    /// Runs `work` (a hash or a verification) in `slot`, off the async threads.
    pub async fn run<T: Send + 'static>(
        slot: Slot,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PageError> {
        let _running = slot
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(PageError::internal)?;
        let out = tokio::task::spawn_blocking(work)
            .await
            .map_err(PageError::internal)?;
        drop(slot);
        Ok(out)
    }

    /// Hashes `password` in a new slot.
    pub async fn hash(&self, password: zeroize::Zeroizing<String>) -> Result<String, PageError> {
        let slot = self.admit()?;
        Self::run(slot, move || crate::auth::hash_password(&password)).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pool_refuses_at_once() {
        let h = Hasher::new(1, 1);
        let a = h.admit();
        let b = h.admit();
        assert!(a.is_ok() && b.is_ok());
        let refused = h.admit().err().map(|e| e.status);
        assert_eq!(refused, Some(axum::http::StatusCode::SERVICE_UNAVAILABLE));
        drop(a);
        assert!(h.admit().is_ok());
    }
}

//! Group commit: writes that arrive together share one transaction, so one durable commit (one
//! WAL sync) answers many of them.
//!
//! Every caller queues its job, then waits for the leader's place. Whoever holds it takes every
//! queued job, runs them in one transaction and commits, and only then hands each caller its
//! result: nobody hears "done" before the commit that holds its write. A caller whose job an
//! earlier leader took finds its result waiting. If the shared transaction fails, each job of
//! it runs again alone, so one bad job costs the others nothing but time.

use std::sync::{mpsc, Mutex, MutexGuard};

use crate::{AuditEntry, AuditKey, AuditRecord, CardLink, NonceSpent, StoreError};

/// One audit record to append (`ServiceStore::record_check`); on SQLite it may wait for a group
/// commit.
pub(crate) struct AuditJob {
    pub(crate) key: AuditKey,
    pub(crate) entry: AuditEntry,
    pub(crate) register: Option<CardLink>,
}

/// What a group commit of audit records answers each one.
pub(crate) type AuditResult = Result<AuditRecord, NonceSpent>;

/// The group commit of audit records.
pub(crate) type AuditGroup = GroupCommit<AuditJob, AuditResult>;

/// Jobs `J` waiting for one commit; each gets an `R`.
pub(crate) struct GroupCommit<J, R> {
    queue: Mutex<Vec<Queued<J, R>>>,
    leader: Mutex<()>,
}

struct Queued<J, R> {
    job: J,
    reply: mpsc::SyncSender<Result<R, StoreError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A leader that panicked left nothing half-done (its transaction rolled back on drop).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<J, R> GroupCommit<J, R> {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            leader: Mutex::new(()),
        }
    }

    /// Runs `job` in a transaction it may share with jobs queued at the same time. `run` writes
    /// and commits a batch in one transaction and returns one result per job, in order.
    pub(crate) fn submit(
        &self,
        job: J,
        run: impl Fn(&[J]) -> Result<Vec<R>, StoreError>,
    ) -> Result<R, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        lock(&self.queue).push(Queued { job, reply });
        {
            let _leader = lock(&self.leader);
            let batch = std::mem::take(&mut *lock(&self.queue));
            if !batch.is_empty() {
                Self::lead(batch, &run);
            }
        }
        // Sent before the leader let go of its place: our own, or an earlier leader's.
        answer
            .recv()
            .map_err(|_| StoreError::GroupCommit("a job of the batch got no result"))?
    }

    fn lead(batch: Vec<Queued<J, R>>, run: &impl Fn(&[J]) -> Result<Vec<R>, StoreError>) {
        let (jobs, replies): (Vec<J>, Vec<_>) = batch.into_iter().map(|q| (q.job, q.reply)).unzip();
        match run(&jobs) {
            Ok(results) if results.len() == jobs.len() => {
                for (result, reply) in results.into_iter().zip(replies) {
                    // A caller that went away no longer needs its answer.
                    let _ = reply.send(Ok(result));
                }
            }
            Ok(_) => {
                for reply in replies {
                    let _ = reply.send(Err(StoreError::GroupCommit("not one result per job")));
                }
            }
            Err(e) if jobs.len() == 1 => {
                let _ = replies[0].send(Err(e));
            }
            Err(e) => {
                tracing::debug!(jobs = jobs.len(), error = %e, "group commit failed: each job alone");
                for (job, reply) in jobs.iter().zip(replies) {
                    let result = run(std::slice::from_ref(job)).and_then(|mut r| {
                        r.pop()
                            .ok_or_else(|| StoreError::GroupCommit("no result for a job"))
                    });
                    let _ = reply.send(result);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn concurrent_jobs_share_commits_and_each_gets_its_own_result() {
        let group = Arc::new(GroupCommit::<u32, u32>::new());
        let batches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16u32)
            .map(|i| {
                let group = group.clone();
                let batches = batches.clone();
                std::thread::spawn(move || {
                    group
                        .submit(i, |jobs| {
                            batches.fetch_add(1, Ordering::SeqCst);
                            // A slow commit, so that others queue meanwhile.
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok(jobs.iter().map(|j| j * 10).collect())
                        })
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, (0..16).map(|i| i * 10).collect::<Vec<_>>());
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 16, "16 jobs took {n} commits");
    }

    #[test]
    fn a_failed_batch_runs_each_job_alone() {
        let group = Arc::new(GroupCommit::<u32, u32>::new());
        let gate = Arc::new(Mutex::new(()));
        let held = lock(&gate);
        // The first job holds the leader's place until the others are queued.
        let first = {
            let (group, gate) = (group.clone(), gate.clone());
            std::thread::spawn(move || {
                group.submit(100, |jobs| {
                    drop(lock(&gate));
                    Ok(jobs.to_vec())
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        let others: Vec<_> = (0..4u32)
            .map(|i| {
                let group = group.clone();
                std::thread::spawn(move || {
                    group.submit(i, |jobs| {
                        if jobs.contains(&2) && jobs.len() > 1 {
                            return Err(StoreError::Data("a batch with 2".into()));
                        }
                        if jobs == [2] {
                            return Err(StoreError::Data("2 alone".into()));
                        }
                        Ok(jobs.to_vec())
                    })
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(held);
        assert_eq!(first.join().unwrap().unwrap(), 100);
        for (i, t) in others.into_iter().enumerate() {
            let r = t.join().unwrap();
            if i == 2 {
                assert!(r.is_err());
            } else {
                assert_eq!(r.unwrap(), i as u32);
            }
        }
    }
}

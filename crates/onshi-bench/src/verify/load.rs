//! Driving the server: C tasks, each speaking for one terminal, send their prepared requests one
//! after the other — on one kept-alive connection, or on a new connection per check — and record
//! the latency of every request. The clock starts when every task is connected and ready.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use onshi_client::ServiceClient;
use tokio::sync::Barrier;

use super::https::Connection;
use super::VerifyError;

/// How the checks reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionMode {
    /// Every task keeps one connection open for all its checks.
    KeepAlive,
    /// A new TLS connection per check, full handshake every time (no session storage).
    NewFull,
    /// A new TLS connection per check, resuming a session from a ticket when the client has one.
    NewResumed,
}

impl ConnectionMode {
    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::KeepAlive => "keep-alive",
            Self::NewFull => "new conn, full",
            Self::NewResumed => "new conn, resumed",
        }
    }
}

/// One task's share of a run: its terminal's client configuration and its request bodies.
pub(crate) struct TaskLoad {
    pub(crate) config: Arc<ServiceClient>,
    pub(crate) requests: Vec<Bytes>,
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Wall time from the start signal to the last answer.
    pub(crate) seconds: f64,
    /// Every request's latency, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Requests not answered with 200 and QualificationValidity 1.
    pub(crate) failures: usize,
    /// Connections whose TLS handshake resumed a session.
    pub(crate) resumed: usize,
    /// What the first failure was.
    pub(crate) first_failure: Option<String>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.failures += other.failures;
        self.resumed += other.resumed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn fail(&mut self, what: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(what);
    }

    /// Checks an answer: 200, and the person's eligibility valid (QualificationValidity 1).
    fn judge(&mut self, status: u16, body: &[u8]) {
        let valid = status == 200 && says_valid(body);
        if !valid {
            self.fail(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
    }

    /// The latency at quantile `q` (nearest rank), in milliseconds.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies, q)
    }
}

/// The latency at quantile `q` (nearest rank) of `sorted` latencies, in milliseconds; 0 for none.
pub(crate) fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// Whether a check's answer says the person's eligibility is valid (QualificationValidity 1).
pub(crate) fn says_valid(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "QualificationValidity")]
        validity: String,
    }
    serde_json::from_slice::<Answer>(body).is_ok_and(|a| a.validity == "1")
}

/// Runs every task to the end; the tasks start together.
pub(crate) async fn drive(
    addr: SocketAddr,
    mode: ConnectionMode,
    tasks: Vec<TaskLoad>,
) -> Result<Outcome, VerifyError> {
    let start = Arc::new(Barrier::new(tasks.len() + 1));
    let running: Vec<_> = tasks
        .into_iter()
        .map(|task| tokio::spawn(run_task(addr, mode, task, start.clone())))
        .collect();
    start.wait().await;
    let started = Instant::now();
    let mut outcome = Outcome::default();
    for task in running {
        outcome.merge(task.await??);
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.latencies.sort_unstable();
    Ok(outcome)
}

/// One task: connect (kept-alive mode), wait for the start, send every request in turn.
async fn run_task(
    addr: SocketAddr,
    mode: ConnectionMode,
    task: TaskLoad,
    start: Arc<Barrier>,
) -> Result<Outcome, VerifyError> {
    let kept = match mode {
        ConnectionMode::KeepAlive => Some(Connection::open(addr, &task.config).await),
        ConnectionMode::NewFull | ConnectionMode::NewResumed => None,
    };
    // Every task reaches the barrier, even one that could not connect, so that none waits forever.
    start.wait().await;
    let mut kept = kept.transpose()?;
    let mut out = Outcome {
        latencies: Vec::with_capacity(task.requests.len()),
        ..Outcome::default()
    };
    for body in task.requests {
        let sent = Instant::now();
        let answer = match kept.as_mut() {
            Some(conn) => conn.post(onshi_proto::VERIFY, body).await,
            None => one_shot(addr, &task.config, body, &mut out.resumed).await,
        };
        out.latencies.push(sent.elapsed());
        match answer {
            Ok((status, body)) => out.judge(status, &body),
            Err(e) => {
                out.fail(e.to_string());
                if let Some(conn) = kept.as_mut() {
                    *conn = Connection::open(addr, &task.config).await?;
                }
            }
        }
    }
    Ok(out)
}

/// One check on a connection of its own: connect, handshake, POST, close.
async fn one_shot(
    addr: SocketAddr,
    config: &Arc<ServiceClient>,
    body: Bytes,
    resumed: &mut usize,
) -> Result<(u16, Bytes), VerifyError> {
    let mut conn = Connection::open(addr, config).await?;
    if conn.resumed {
        *resumed += 1;
    }
    conn.post(onshi_proto::VERIFY, body).await
}

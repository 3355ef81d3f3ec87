//! `onshi bench cluster`: several `onshi server run` instances on one PostgreSQL behind HAProxy
//! (TLS passthrough, `mode tcp`: mutual TLS reaches onshi), checks from several terminals
//! through it, one instance killed with SIGKILL mid-run, then the audit log counted.
//!
//! Each terminal makes its checks one after the other as a reception desk does: a challenge,
//! the card's PIN-mode signature over it, the verify. When the connection dies before the answer
//! (its instance was killed), the check is tried again on a new connection with a NEW challenge,
//! as the reception app does, never the same challenge twice; each such retry is counted. At the
//! end every answered check's 照会番号 must be in the audit log once (lost 0, duplicated 0).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use onshi_proto::{ChallengeResponse, CheckResponse};

use crate::verify::https::{client_config, Connection};
use crate::verify::prepare::Signer;
use crate::verify::world::{Terminal, World};
use crate::verify::{VerifyError, VerifyOptions};

/// What to run.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The PostgreSQL every instance shares (its onshi tables are dropped first).
    pub postgres: String,
    /// `onshi server run` instances.
    pub instances: usize,
    /// Terminals checking side by side, one check at a time each.
    pub terminals: usize,
    /// Checks each terminal makes.
    pub checks: usize,
    /// After this share of all checks has been sent, one instance is killed (SIGKILL).
    pub kill_at: f64,
    /// The `onshi` binary the instances run.
    pub onshi: PathBuf,
    /// The `haproxy` binary.
    pub haproxy: PathBuf,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct ClusterReport {
    /// Instances started.
    pub instances: usize,
    /// The instance killed (1-based) and after how many checks sent.
    pub killed: Option<(usize, usize)>,
    /// Checks the terminals set out to make.
    pub sent: usize,
    /// Checks answered with a 照会番号.
    pub answered: usize,
    /// Checks that got no answer even after the retries, or an error answer.
    pub failed: usize,
    /// Checks tried again on a new connection (with a new challenge).
    pub retried: usize,
    /// Audit rows the terminals' checks left.
    pub audit_rows: i64,
    /// 照会番号 or nonces that appear in more than one audit row.
    pub duplicated: i64,
    /// Answered checks whose 照会番号 is not in the audit log.
    pub lost: i64,
    /// Seconds the checks took.
    pub seconds: f64,
    /// The first failure, for the table.
    pub first_failure: Option<String>,
}

impl ClusterReport {
    /// Whether the run shows what it must: every check answered, nothing lost or duplicated,
    /// an instance killed.
    pub fn passed(&self) -> bool {
        self.failed == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.killed.is_some()
            && self.answered == self.sent
    }

    /// The one table.
    pub fn table(&self) -> String {
        let killed = self.killed.map_or_else(
            || "none".to_owned(),
            |(i, at)| format!("instance {i} after {at} checks sent"),
        );
        let mut out = format!(
            "onshi bench cluster: {} instances behind HAProxy (mode tcp), killed (SIGKILL): {killed}\n",
            self.instances
        );
        out.push_str(&format!(
            "{:>6} {:>9} {:>7} {:>8} {:>11} {:>11} {:>5} {:>9}\n",
            "sent", "answered", "failed", "retried", "audit rows", "duplicated", "lost", "seconds"
        ));
        out.push_str(&format!(
            "{:>6} {:>9} {:>7} {:>8} {:>11} {:>11} {:>5} {:>9.1}\n",
            self.sent,
            self.answered,
            self.failed,
            self.retried,
            self.audit_rows,
            self.duplicated,
            self.lost,
            self.seconds
        ));
        if let Some(f) = &self.first_failure {
            out.push_str(&format!("first failure: {f}\n"));
        }
        out
    }
}

/// Tries per check: the first and the retries on a new connection.
const TRIES: usize = 3;

/// A free loopback port (bound and let go: the children bind it next).
fn free_port() -> Result<u16, VerifyError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The children of the run, killed when it ends however it ends.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn haproxy_config(front: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "# TLS passthrough: HAProxy sees TCP only; the terminals' mutual TLS ends at onshi.
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A connection refused by a dead instance goes to another one.
    retries 3
    option redispatch
frontend onshi
    bind {front}
    default_backend onshi
backend onshi
    balance roundrobin
"
    );
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "    server onshi{} {b} check inter 200ms fall 1 rise 2\n",
            i + 1
        ));
    }
    cfg
}

/// Waits until `addr` accepts TCP connections.
fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child) -> Result<(), VerifyError> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(VerifyError::Setup(format!("{what} ended: {status}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(VerifyError::Setup(format!(
        "{what} does not listen on {addr} after 30 s"
    )))
}

fn spawn(
    what: String,
    command: &mut Command,
    log: &Path,
    children: &mut Children,
) -> Result<(), VerifyError> {
    let out = std::fs::File::create(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .map_err(|e| VerifyError::Setup(format!("{what}: {e}")))?;
    children.0.push((what, child));
    Ok(())
}

/// Runs the cluster. `stage` hears what is being done.
pub fn run(
    opts: &ClusterOptions,
    stage: &mut dyn FnMut(&str),
) -> Result<ClusterReport, VerifyError> {
    if opts.instances < 2 || opts.terminals == 0 || opts.checks == 0 {
        return Err(VerifyError::Options(
            "at least 2 instances, 1 terminal and 1 check".to_owned(),
        ));
    }
    let world = World::build(
        &VerifyOptions {
            requests: opts.terminals * opts.checks,
            concurrency: opts.terminals,
            terminals: opts.terminals,
            postgres: Some(opts.postgres.clone()),
            new_connection: false,
            persons: 60,
            cards: opts.terminals.min(8),
            ceiling_seconds: 0.0,
            target: None,
            blocking_store: false,
        },
        stage,
    )?;
    let logs = world.root().join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut children = Children(Vec::new());
    let mut backends = Vec::new();
    for i in 1..=opts.instances {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        stage(&format!("starting instance {i} on {addr}"));
        spawn(
            format!("instance {i}"),
            Command::new(&opts.onshi)
                .args(["server", "run", "--listen", &addr.to_string(), "--data"])
                .arg(world.data_dir())
                .env("RUST_LOG", "warn"),
            &logs.join(format!("instance-{i}.log")),
            &mut children,
        )?;
        let (what, child) = children
            .0
            .last_mut()
            .ok_or_else(|| VerifyError::Setup("the instance just started is missing".to_owned()))?;
        let what = what.clone();
        wait_listening(addr, &what, child)?;
        backends.push(addr);
    }
    let front = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let cfg = world.root().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(front, &backends))?;
    stage(&format!("starting HAProxy on {front}"));
    spawn(
        "haproxy".to_owned(),
        Command::new(&opts.haproxy).arg("-db").arg("-f").arg(&cfg),
        &logs.join("haproxy.log"),
        &mut children,
    )?;
    if let Some((what, child)) = children.0.last_mut() {
        let what = what.clone();
        wait_listening(front, &what, child)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    stage("enrolling the terminals through HAProxy");
    let terminals = runtime.block_on(world.enroll(front))?;
    let ca = world.server_ca_pem()?;

    let sent = Arc::new(AtomicUsize::new(0));
    let total = opts.terminals * opts.checks;
    let kill_after = ((total as f64 * opts.kill_at) as usize).clamp(1, total);
    stage(&format!(
        "{total} checks from {} terminals; instance 2 is killed after {kill_after}",
        opts.terminals
    ));
    let started = Instant::now();
    let driving = runtime.spawn(drive_all(
        front,
        ca,
        terminals.clone(),
        Arc::new(world.cards.clone()),
        world.visit_date,
        opts.checks,
        sent.clone(),
    ));
    // Kill one instance once enough checks are under way.
    let mut killed = None;
    while !driving.is_finished() {
        if killed.is_none() && sent.load(Ordering::SeqCst) >= kill_after {
            if let Some((_, child)) = children.0.get_mut(1) {
                // std's kill is SIGKILL on unix: no goodbye, connections cut mid-answer.
                child.kill()?;
                let _ = child.wait();
                killed = Some((2, sent.load(Ordering::SeqCst)));
                stage("instance 2 killed (SIGKILL)");
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let outcome = runtime.block_on(driving)??;
    let seconds = started.elapsed().as_secs_f64();
    drop(runtime);

    stage("counting the audit log");
    let ids: Vec<String> = terminals.iter().map(|t| t.id.clone()).collect();
    let mut db = postgres::Client::connect(&opts.postgres, postgres::NoTls)?;
    let row = db.query_one(
        "SELECT count(*),
                (count(*) - count(DISTINCT reference_number))
                  + (count(nonce_id) - count(DISTINCT nonce_id))
         FROM audit_log WHERE terminal_id = ANY($1)",
        &[&ids],
    )?;
    let lost: i64 = db
        .query_one(
            "SELECT count(*) FROM unnest($1::text[]) AS answered (reference_number)
             WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                               WHERE a.reference_number = answered.reference_number)",
            &[&outcome.references],
        )?
        .get(0);
    drop(children);
    Ok(ClusterReport {
        instances: opts.instances,
        killed,
        sent: total,
        answered: outcome.references.len(),
        failed: outcome.failed,
        retried: outcome.retried,
        audit_rows: row.get(0),
        duplicated: row.get(1),
        lost,
        seconds,
        first_failure: outcome.first_failure,
    })
}

/// What the terminals saw.
#[derive(Default)]
struct Outcome {
    references: Vec<String>,
    failed: usize,
    retried: usize,
    first_failure: Option<String>,
}

async fn drive_all(
    front: SocketAddr,
    ca: String,
    terminals: Vec<Terminal>,
    cards: Arc<Vec<crate::verify::world::Card>>,
    visit_date: onshi_model::Date,
    checks: usize,
    sent: Arc<AtomicUsize>,
) -> Result<Outcome, VerifyError> {
    let terminals = Arc::new(terminals);
    let mut tasks = Vec::new();
    for t in 0..terminals.len() {
        let config = client_config(&ca, Some(&terminals[t].identity), true)?;
        let (terminals, cards, visit_date, sent) =
            (terminals.clone(), cards.clone(), visit_date, sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut signer = Signer::new(&cards, &terminals, visit_date)?;
            let mut outcome = Outcome::default();
            let mut conn: Option<Connection> = None;
            for k in 0..checks {
                sent.fetch_add(1, Ordering::SeqCst);
                let card = (t + k) % cards.len();
                let mut answered = false;
                for attempt in 0..TRIES {
                    if attempt > 0 {
                        outcome.retried += 1;
                    }
                    match check_once(front, &config, &mut conn, &mut signer, t, card).await {
                        Ok(Ok(reference)) => {
                            outcome.references.push(reference);
                            answered = true;
                            break;
                        }
                        // An answer that is an error: not retried (the service spoke).
                        Ok(Err(refused)) => {
                            outcome.first_failure.get_or_insert(refused.to_string());
                            break;
                        }
                        // The connection died before an answer: a new one, a new challenge.
                        Err(e) => {
                            conn = None;
                            if attempt + 1 == TRIES {
                                outcome.first_failure.get_or_insert(e.to_string());
                            }
                        }
                    }
                }
                if !answered {
                    outcome.failed += 1;
                }
            }
            Ok::<_, VerifyError>(outcome)
        }));
    }
    let mut all = Outcome::default();
    for task in tasks {
        let o = task.await??;
        all.references.extend(o.references);
        all.failed += o.failed;
        all.retried += o.retried;
        if all.first_failure.is_none() {
            all.first_failure = o.first_failure;
        }
    }
    Ok(all)
}

/// An error answer of the service to one step of a check.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {status} {}", String::from_utf8_lossy(body))]
struct Refusal {
    /// `challenge` or `verify`.
    step: &'static str,
    /// The HTTP status.
    status: u16,
    /// The answer's body.
    body: Bytes,
}

/// One check: a challenge, the card's signature, the verify. `Err`: the connection failed before
/// an answer; `Ok(Err)`: the service answered with an error.
async fn check_once(
    front: SocketAddr,
    config: &Arc<onshi_client::ServiceClient>,
    conn: &mut Option<Connection>,
    signer: &mut Signer<'_>,
    terminal: usize,
    card: usize,
) -> Result<Result<String, Refusal>, VerifyError> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(Connection::open(front, config).await?),
    };
    let (status, body) = c.post(onshi_proto::CHALLENGE, Bytes::new()).await?;
    if status != 200 {
        return Ok(Err(Refusal {
            step: "challenge",
            status,
            body,
        }));
    }
    let nonce = serde_json::from_slice::<ChallengeResponse>(&body)?.nonce;
    let request = signer.sign(terminal, card, &nonce)?;
    let (status, body) = c.post(onshi_proto::VERIFY, request).await?;
    if status != 200 {
        return Ok(Err(Refusal {
            step: "verify",
            status,
            body,
        }));
    }
    let answer: CheckResponse = serde_json::from_slice(&body)?;
    Ok(Ok(answer.reference_number))
}

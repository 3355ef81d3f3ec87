//! The load test behind `onshi bench soak`: the service at a steady rate for a long time, with
//! the mix a clinic's day brings — PIN checks, 目視 checks, checks by numbers and portal pages —
//! sent open-loop (each request leaves at its planned time whether or not the earlier ones were
//! answered, and its latency counts from that time, so a stalled server cannot hide its queue).
//! It prints the latency of each kind, the requests shed (429/503), every failure, and the
//! process's anonymous resident memory (the heap: SQLite's mapped database file, which grows by
//! an audit row per check, is left out) sampled through the run, which must stay flat.
//!
//! Run at twice the measured capacity (`--rate`), it shows overload: the server sheds what it
//! cannot take and keeps the p99 of what it admits bounded.
//!
//! The server runs in this process: the memory figures hold the load generator too (its share is
//! fixed: the prepared requests and one connection per worker).

use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use tokio::sync::{mpsc, Mutex};

use crate::verify::https::{client_config, Connection};
use crate::verify::load::{quantile_ms, says_valid};
use crate::verify::world::World;
use crate::verify::{VerifyError, VerifyOptions};

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// Seconds of load.
    pub seconds: f64,
    /// Requests a second, all kinds together.
    pub rate: f64,
    /// Enrolled terminals; each has `workers_per_terminal` kept-alive connections.
    pub terminals: usize,
    /// Connections per terminal.
    pub workers_per_terminal: usize,
    /// A PostgreSQL URL instead of SQLite (its onshi tables are dropped first).
    pub postgres: Option<String>,
    /// Seconds between two memory samples.
    pub sample_seconds: f64,
}

impl Default for SoakOptions {
    fn default() -> Self {
        Self {
            seconds: 600.0,
            rate: 200.0,
            terminals: 8,
            workers_per_terminal: 4,
            postgres: None,
            sample_seconds: 10.0,
        }
    }
}

/// The kinds of request in the mix, and their share of ten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A PIN-mode check (the card signed the challenge).
    Pin,
    /// A 目視 check.
    Visual,
    /// A check by 保険者番号・記号・番号 and 生年月日.
    Numbers,
    /// A portal page (the login page).
    Portal,
}

impl Kind {
    /// The mix, request by request: 4 PIN, 3 目視, 2 by numbers, 1 portal in every ten.
    const CYCLE: [Kind; 10] = [
        Kind::Pin,
        Kind::Visual,
        Kind::Numbers,
        Kind::Pin,
        Kind::Visual,
        Kind::Portal,
        Kind::Pin,
        Kind::Numbers,
        Kind::Visual,
        Kind::Pin,
    ];

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Pin => "PIN",
            Kind::Visual => "目視",
            Kind::Numbers => "numbers",
            Kind::Portal => "portal",
        }
    }
}

/// The figures of one kind.
#[derive(Clone, Debug, Default)]
pub struct KindRow {
    /// Requests sent.
    pub sent: usize,
    /// Answered as expected.
    pub ok: usize,
    /// Refused because the server was full (429 or 503): shed, not failed.
    pub shed: usize,
    /// Anything else: a wrong answer, another status, no answer.
    pub failed: usize,
    /// What the first failure was.
    pub first_failure: Option<String>,
    /// Median latency of the admitted requests, milliseconds (from the planned send time).
    pub p50_ms: f64,
    /// Their 99th percentile.
    pub p99_ms: f64,
    /// Their slowest.
    pub max_ms: f64,
}

/// Everything measured.
#[derive(Clone, Debug)]
pub struct SoakReport {
    /// The options of the run.
    pub options: SoakOptions,
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// Seconds from the first planned request to the last answer.
    pub seconds: f64,
    /// The figures of each kind.
    pub rows: Vec<(Kind, KindRow)>,
    /// Resident memory samples: (seconds into the run, MiB).
    pub memory: Vec<(f64, f64)>,
}

impl SoakReport {
    /// Requests that failed (not shed), all kinds.
    pub fn failures(&self) -> usize {
        self.rows.iter().map(|(_, r)| r.failed).sum()
    }

    /// Requests shed, all kinds.
    pub fn shed(&self) -> usize {
        self.rows.iter().map(|(_, r)| r.shed).sum()
    }

    /// Resident memory growth from the first quarter of the run to its end, MiB: the warm-up
    /// (caches, pools, connections) is over by then.
    pub fn memory_growth_mib(&self) -> f64 {
        let warm = self.options.seconds * 0.25;
        let Some(&(_, start)) = self.memory.iter().find(|(t, _)| *t >= warm) else {
            return 0.0;
        };
        let end = self.memory.last().map_or(start, |&(_, m)| m);
        end - start
    }

    /// Whether memory stayed flat: less than 10 % and 16 MiB of growth after warm-up.
    pub fn memory_flat(&self) -> bool {
        let growth = self.memory_growth_mib();
        let base = self.memory.first().map_or(1.0, |&(_, m)| m.max(1.0));
        growth < 16.0 || growth / base < 0.10
    }

    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "onshi bench soak: {:.0} s at {:.0} requests/s open-loop (PIN 4, 目視 3, numbers 2, \
             portal 1 in 10), {} terminals × {} connections, {}",
            o.seconds, o.rate, o.terminals, o.workers_per_terminal, self.engine
        );
        let _ = writeln!(
            out,
            "{:<8} {:>8} {:>8} {:>6} {:>7} {:>8} {:>8} {:>8}",
            "kind", "sent", "ok", "shed", "failed", "p50 ms", "p99 ms", "max ms"
        );
        for (kind, r) in &self.rows {
            let _ = writeln!(
                out,
                "{:<8} {:>8} {:>8} {:>6} {:>7} {:>8.2} {:>8.2} {:>8.2}",
                kind.label(),
                r.sent,
                r.ok,
                r.shed,
                r.failed,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            );
        }
        let sent: usize = self.rows.iter().map(|(_, r)| r.sent).sum();
        let _ = writeln!(
            out,
            "total: {sent} requests in {:.1} s ({:.0}/s answered or shed), {} shed, {} failed",
            self.seconds,
            sent as f64 / self.seconds.max(1e-9),
            self.shed(),
            self.failures()
        );
        let samples: Vec<String> = self
            .memory
            .iter()
            .map(|(t, m)| format!("{t:.0}s {m:.0}"))
            .collect();
        let _ = writeln!(
            out,
            "anonymous resident memory (heap; the mapped database file left out), MiB: {}",
            samples.join(", ")
        );
        let _ = writeln!(
            out,
            "memory after warm-up (25 % of the run) grew {:+.1} MiB: {}",
            self.memory_growth_mib(),
            if self.memory_flat() {
                "flat"
            } else {
                "GROWING"
            }
        );
        for (kind, r) in &self.rows {
            if let Some(f) = &r.first_failure {
                let _ = writeln!(out, "{}: first failure: {f}", kind.label());
            }
        }
        out
    }
}

/// One planned request.
struct Job {
    kind: Kind,
    body: Bytes,
    due: Instant,
}

/// One request's result.
struct Done {
    kind: Kind,
    latency: Duration,
    verdict: Verdict,
}

enum Verdict {
    Ok,
    Shed,
    Failed(String),
}

/// Runs the soak. It makes its own async runtime: call it from a plain thread.
pub fn run(opts: &SoakOptions, stage: &mut dyn FnMut(&str)) -> Result<SoakReport, VerifyError> {
    if opts.seconds <= 0.0 || opts.rate <= 0.0 || opts.terminals == 0 {
        return Err(VerifyError::Options(
            "--seconds, --rate and --terminals must be above 0".to_owned(),
        ));
    }
    let total = (opts.seconds * opts.rate).ceil() as usize;
    let verify = VerifyOptions {
        requests: total,
        concurrency: opts.terminals,
        terminals: opts.terminals,
        postgres: opts.postgres.clone(),
        ..VerifyOptions::default()
    };
    let world = World::build(&verify, stage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(measure(&world, opts, total, stage));
    drop(runtime);
    drop(world);
    report
}

async fn measure(
    world: &World,
    opts: &SoakOptions,
    total: usize,
    stage: &mut dyn FnMut(&str),
) -> Result<SoakReport, VerifyError> {
    stage(&format!(
        "starting the server, enrolling {} terminals",
        opts.terminals
    ));
    let server = world.start().await?;
    let terminals = world.enroll(server.addr).await?;
    let server_ca = world.server_ca_pem()?;
    let configs = terminals
        .iter()
        .map(|t| client_config(&server_ca, Some(&t.identity), true))
        .collect::<Result<Vec<_>, _>>()?;

    // Which kind each request is, and which terminal sends it (in turn).
    let plan: Vec<(Kind, usize)> = (0..total)
        .map(|i| (Kind::CYCLE[i % Kind::CYCLE.len()], i % opts.terminals))
        .collect();
    let mut wanted = vec![0usize; opts.terminals];
    let mut wanted_visual = vec![0usize; opts.terminals];
    for &(kind, t) in &plan {
        match kind {
            Kind::Pin => wanted[t] += 1,
            Kind::Visual => wanted_visual[t] += 1,
            Kind::Numbers | Kind::Portal => {}
        }
    }
    stage(&format!(
        "preparing {} PIN checks (challenges and signatures) and {} 目視 challenges, not timed",
        wanted.iter().sum::<usize>(),
        wanted_visual.iter().sum::<usize>()
    ));
    let nonces = crate::verify::prepare::challenges(server.addr, &configs, &wanted).await?;
    let mut pin: Vec<std::vec::IntoIter<Bytes>> =
        crate::verify::prepare::sign_all(&world.cards, &terminals, &nonces, world.visit_date)?
            .into_iter()
            .map(Vec::into_iter)
            .collect();
    let visual_nonces =
        crate::verify::prepare::challenges(server.addr, &configs, &wanted_visual).await?;
    let mut visual: Vec<std::vec::IntoIter<Bytes>> = visual_nonces
        .into_iter()
        .enumerate()
        .map(|(t, list)| {
            list.into_iter()
                .enumerate()
                .map(|(i, nonce)| {
                    let card = &world.cards[(i + t) % world.cards.len()];
                    visual_body(&card.certificate_b64, nonce, world.visit_date)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Vec::into_iter)
        })
        .collect::<Result<_, _>>()?;
    let queries = world.query_bodies()?;

    // One channel per terminal, `workers_per_terminal` connections reading it.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut senders = Vec::with_capacity(opts.terminals);
    let mut workers = Vec::new();
    for config in &configs {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..opts.workers_per_terminal.max(1) {
            workers.push(tokio::spawn(worker(
                server.addr,
                config.clone(),
                rx.clone(),
                done_tx.clone(),
            )));
        }
        senders.push(tx);
    }
    drop(done_tx);

    stage(&format!(
        "sending {total} requests over {:.0} s",
        opts.seconds
    ));
    let started = Instant::now();
    let sampler = tokio::spawn(sample_memory(
        Duration::from_secs_f64(opts.sample_seconds.max(0.1)),
        Duration::from_secs_f64(opts.seconds),
    ));
    let interval = Duration::from_secs_f64(1.0 / opts.rate);
    for (i, &(kind, t)) in plan.iter().enumerate() {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let body = match kind {
            Kind::Pin => pin[t].next(),
            Kind::Visual => visual[t].next(),
            Kind::Numbers => Some(queries[i % queries.len()].clone()),
            Kind::Portal => Some(Bytes::new()),
        };
        let Some(body) = body else { continue };
        // A closed channel means every worker of the terminal died; their results say why.
        let _ = senders[t].send(Job { kind, body, due });
    }
    drop(senders);
    let mut rows: HashMap<Kind, (KindRow, Vec<Duration>)> = HashMap::new();
    while let Some(d) = done_rx.recv().await {
        let (row, latencies) = rows.entry(d.kind).or_default();
        row.sent += 1;
        match d.verdict {
            Verdict::Ok => {
                row.ok += 1;
                latencies.push(d.latency);
            }
            Verdict::Shed => row.shed += 1,
            Verdict::Failed(f) => {
                row.failed += 1;
                row.first_failure.get_or_insert(f);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for w in workers {
        w.await??;
    }
    let memory = sampler.await?;
    server.stop().await;
    let mut rows: Vec<(Kind, KindRow)> = rows
        .into_iter()
        .map(|(kind, (mut row, mut latencies))| {
            latencies.sort_unstable();
            row.p50_ms = quantile_ms(&latencies, 0.5);
            row.p99_ms = quantile_ms(&latencies, 0.99);
            row.max_ms = quantile_ms(&latencies, 1.0);
            (kind, row)
        })
        .collect();
    rows.sort_by_key(|(k, _)| *k);
    Ok(SoakReport {
        options: opts.clone(),
        engine: world.engine,
        seconds,
        rows,
        memory,
    })
}

/// A 目視 check's body: the card's certificate, no signature.
fn visual_body(
    certificate_b64: &str,
    nonce: String,
    visit_date: onshi_model::Date,
) -> Result<Bytes, VerifyError> {
    let request = onshi_proto::VerifyRequest {
        mode: onshi_proto::Mode::Visual,
        certificate: certificate_b64.to_owned(),
        signature: None,
        nonce,
        visit_date,
        recheck_of: None,
    };
    Ok(Bytes::from(serde_json::to_vec(&request)?))
}

/// One connection of a terminal: takes the next due request, sends it, reports the result.
async fn worker(
    addr: SocketAddr,
    config: Arc<onshi_client::ServiceClient>,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    done: mpsc::UnboundedSender<Done>,
) -> Result<(), VerifyError> {
    let mut conn = Connection::open(addr, &config).await?;
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            return Ok(());
        };
        let answer = match job.kind {
            Kind::Pin | Kind::Visual => conn.post(onshi_proto::VERIFY, job.body).await,
            Kind::Numbers => conn.post(onshi_proto::QUERY, job.body).await,
            Kind::Portal => conn.get("/portal/login").await,
        };
        let latency = job.due.elapsed();
        let verdict = match answer {
            Ok((200, body)) => judge(job.kind, &body),
            Ok((429 | 503, _)) => Verdict::Shed,
            Ok((status, body)) => Verdict::Failed(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )),
            Err(e) => {
                conn = Connection::open(addr, &config).await?;
                Verdict::Failed(e.to_string())
            }
        };
        let _ = done.send(Done {
            kind: job.kind,
            latency,
            verdict,
        });
    }
}

/// Whether a 200 answer is what the kind must answer: a valid qualification for the checks, the
/// login page for the portal.
fn judge(kind: Kind, body: &[u8]) -> Verdict {
    let ok = match kind {
        Kind::Portal => std::str::from_utf8(body).is_ok_and(|s| s.contains("<form")),
        Kind::Pin | Kind::Visual | Kind::Numbers => says_valid(body),
    };
    if ok {
        Verdict::Ok
    } else {
        Verdict::Failed(format!(
            "unexpected answer: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    }
}

/// Samples this process's resident memory every `every` until `until` has passed (and once more
/// at the end).
async fn sample_memory(every: Duration, until: Duration) -> Vec<(f64, f64)> {
    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        if let Some(mib) = resident_mib() {
            samples.push((started.elapsed().as_secs_f64(), mib));
        }
        if started.elapsed() >= until {
            return samples;
        }
        tokio::time::sleep(every.min(until.saturating_sub(started.elapsed()))).await;
    }
}

/// This process's anonymous resident memory (heap, stacks: `RssAnon` in /proc), MiB (Linux; none
/// elsewhere). File-backed pages are left out: SQLite maps the database file, which grows by an
/// audit row a check, and its mapped pages are the file's, not a leak.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_short_soak_answers_every_kind_and_samples_memory() {
        let report = run(
            &SoakOptions {
                seconds: 2.0,
                rate: 50.0,
                terminals: 2,
                workers_per_terminal: 2,
                postgres: None,
                sample_seconds: 0.5,
            },
            &mut |_| {},
        )
        .unwrap();
        let table = report.table();
        assert_eq!(report.failures(), 0, "{table}");
        let kinds: Vec<Kind> = report.rows.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![Kind::Pin, Kind::Visual, Kind::Numbers, Kind::Portal],
            "{table}"
        );
        let sent: usize = report.rows.iter().map(|(_, r)| r.sent).sum();
        assert_eq!(sent, 100, "{table}");
        assert!(report.memory.len() >= 3, "{table}");
        assert!(report.memory.iter().all(|&(_, m)| m > 1.0), "{table}");
        for (_, r) in &report.rows {
            assert!(
                r.ok > 0 && r.p50_ms > 0.0 && r.p50_ms <= r.p99_ms,
                "{table}"
            );
        }
    }

    #[test]
    fn the_mix_is_four_three_two_one() {
        let count = |k| Kind::CYCLE.iter().filter(|&&c| c == k).count();
        assert_eq!(
            (
                count(Kind::Pin),
                count(Kind::Visual),
                count(Kind::Numbers),
                count(Kind::Portal)
            ),
            (4, 3, 2, 1)
        );
    }
}

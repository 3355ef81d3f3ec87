//! The load test behind `onshi bench flood --portal N`: one terminal's PIN checks at a steady
//! rate, first alone, then while N anonymous clients flood `POST /portal/register` (the
//! portal's costliest page that needs no login: a password hash and a mail per request), on the
//! same server. It prints the checks' p50/p99 with and without the flood and their ratio: the
//! check path must not wait on portal work (issue 10, finding 1).
//!
//! All the flood clients speak from 127.0.0.1, so the portal's per-address limit answers most of
//! them at once; an attacker with many addresses gets past that limit, and then the bounded
//! hashing pool is what protects the checks.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;

use crate::verify::https::{client_config, Connection};
use crate::verify::load::{quantile_ms, says_valid};
use crate::verify::world::World;
use crate::verify::{VerifyError, VerifyOptions};

/// What to measure.
#[derive(Clone, Debug)]
pub struct FloodOptions {
    /// Concurrent anonymous clients posting registrations during the second phase.
    pub portal_clients: usize,
    /// Seconds of checks in each phase.
    pub seconds: f64,
    /// Checks a second the terminal sends (one after the other on one kept-alive connection).
    pub check_rate: f64,
    /// A PostgreSQL URL instead of SQLite (its onshi tables are dropped first).
    pub postgres: Option<String>,
}

impl Default for FloodOptions {
    fn default() -> Self {
        Self {
            portal_clients: 16,
            seconds: 10.0,
            check_rate: 20.0,
            postgres: None,
        }
    }
}

/// The checks of one phase.
#[derive(Clone, Debug, Default)]
pub struct CheckPhase {
    /// Checks sent.
    pub checks: usize,
    /// Checks not answered with 200 and a valid qualification.
    pub failures: usize,
    /// What the first failure was.
    pub first_failure: Option<String>,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest check, milliseconds.
    pub max_ms: f64,
}

/// What the flood clients got.
#[derive(Clone, Debug, Default)]
pub struct FloodCounts {
    /// Registrations posted.
    pub sent: usize,
    /// Answers by HTTP status, most frequent first.
    pub statuses: Vec<(u16, usize)>,
    /// Requests that got no answer (connection refused or closed).
    pub no_answer: usize,
    /// Seconds the flood ran.
    pub seconds: f64,
}

/// Everything measured.
#[derive(Clone, Debug)]
pub struct FloodReport {
    /// The options of the run.
    pub options: FloodOptions,
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// The terminal's checks alone.
    pub quiet: CheckPhase,
    /// The terminal's checks during the flood.
    pub flooded: CheckPhase,
    /// The flood itself.
    pub flood: FloodCounts,
}

impl FloodReport {
    /// p99 during the flood over p99 without it.
    pub fn p99_ratio(&self) -> f64 {
        if self.quiet.p99_ms > 0.0 {
            self.flooded.p99_ms / self.quiet.p99_ms
        } else {
            f64::INFINITY
        }
    }

    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "onshi bench flood: one terminal's PIN checks at {:.0}/s for {:.0} s, alone and beside {} \
             clients posting /portal/register ({})",
            o.check_rate, o.seconds, o.portal_clients, self.engine
        );
        let _ = writeln!(
            out,
            "{:<14} {:>7} {:>7} {:>8} {:>8} {:>8}",
            "phase", "checks", "failed", "p50 ms", "p99 ms", "max ms"
        );
        for (name, p) in [
            ("without flood", &self.quiet),
            ("with flood", &self.flooded),
        ] {
            let _ = writeln!(
                out,
                "{:<14} {:>7} {:>7} {:>8.2} {:>8.2} {:>8.2}",
                name, p.checks, p.failures, p.p50_ms, p.p99_ms, p.max_ms
            );
        }
        let _ = writeln!(
            out,
            "p99 with flood / without: {:.2} (goal ≤ 2.00)",
            self.p99_ratio()
        );
        let statuses: Vec<String> = self
            .flood
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "flood: {} registrations in {:.1} s ({:.0}/s); answers {}; no answer {}",
            self.flood.sent,
            self.flood.seconds,
            self.flood.sent as f64 / self.flood.seconds.max(1e-9),
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            },
            self.flood.no_answer
        );
        for (name, p) in [
            ("without flood", &self.quiet),
            ("with flood", &self.flooded),
        ] {
            if let Some(f) = &p.first_failure {
                let _ = writeln!(out, "{name}: first failure: {f}");
            }
        }
        out
    }
}

/// Runs the flood test. It makes its own async runtime: call it from a plain thread.
pub fn run(opts: &FloodOptions, stage: &mut dyn FnMut(&str)) -> Result<FloodReport, VerifyError> {
    if opts.portal_clients == 0 || opts.seconds <= 0.0 || opts.check_rate <= 0.0 {
        return Err(VerifyError::Options(
            "--portal, --seconds and --rate must be above 0".to_owned(),
        ));
    }
    let per_phase = (opts.seconds * opts.check_rate).ceil() as usize;
    let verify = VerifyOptions {
        requests: per_phase * 2,
        concurrency: 1,
        terminals: 1,
        postgres: opts.postgres.clone(),
        cards: 8,
        ..VerifyOptions::default()
    };
    let world = World::build(&verify, stage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(measure(&world, opts, per_phase, stage));
    drop(runtime);
    drop(world);
    report
}

async fn measure(
    world: &World,
    opts: &FloodOptions,
    per_phase: usize,
    stage: &mut dyn FnMut(&str),
) -> Result<FloodReport, VerifyError> {
    stage("starting the server, enrolling the terminal");
    let server = world.start().await?;
    let terminals = world.enroll(server.addr).await?;
    let server_ca = world.server_ca_pem()?;
    let config = client_config(&server_ca, Some(&terminals[0].identity), true)?;
    stage(&format!(
        "preparing {} checks (challenges and signatures, not timed)",
        per_phase * 2
    ));
    let nonces = crate::verify::prepare::challenges(
        server.addr,
        std::slice::from_ref(&config),
        &[per_phase * 2],
    )
    .await?;
    let mut bodies =
        crate::verify::prepare::sign_all(&world.cards, &terminals, &nonces, world.visit_date)?
            .into_iter()
            .flatten();
    let quiet_bodies: Vec<Bytes> = bodies.by_ref().take(per_phase).collect();
    let flooded_bodies: Vec<Bytes> = bodies.collect();

    stage(&format!(
        "checks without the flood: {per_phase} at {:.0}/s",
        opts.check_rate
    ));
    let interval = Duration::from_secs_f64(1.0 / opts.check_rate);
    let quiet = paced_checks(server.addr, &config, quiet_bodies, interval).await?;

    stage(&format!(
        "checks with {} clients flooding POST /portal/register",
        opts.portal_clients
    ));
    let anonymous = client_config(&server_ca, None, false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let serial = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let flooders: Vec<_> = (0..opts.portal_clients)
        .map(|i| {
            tokio::spawn(flood_client(
                server.addr,
                anonymous.clone(),
                i,
                serial.clone(),
                stop.clone(),
            ))
        })
        .collect();
    // Let the flood reach its full strength before the checks start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flooded = paced_checks(server.addr, &config, flooded_bodies, interval).await;
    stop.store(true, Ordering::SeqCst);
    let mut flood = FloodCounts::default();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for f in flooders {
        let (sent, no_answer, got) = f.await?;
        flood.sent += sent;
        flood.no_answer += no_answer;
        for (s, n) in got {
            *statuses.entry(s).or_default() += n;
        }
    }
    flood.seconds = started.elapsed().as_secs_f64();
    flood.statuses = statuses.into_iter().collect();
    flood.statuses.sort_by_key(|s| std::cmp::Reverse(s.1));
    server.stop().await;
    Ok(FloodReport {
        options: opts.clone(),
        engine: world.engine,
        quiet,
        flooded: flooded?,
        flood,
    })
}

/// Sends `bodies` one after the other on one kept-alive connection, one every `interval` (a
/// check that takes longer delays the next, as at a real desk), and records their latencies.
async fn paced_checks(
    addr: SocketAddr,
    config: &Arc<onshi_client::ServiceClient>,
    bodies: Vec<Bytes>,
    interval: Duration,
) -> Result<CheckPhase, VerifyError> {
    let mut conn = Connection::open(addr, config).await?;
    let mut latencies = Vec::with_capacity(bodies.len());
    let mut phase = CheckPhase::default();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for body in bodies {
        ticks.tick().await;
        let sent = Instant::now();
        let answer = conn.post(onshi_proto::VERIFY, body).await;
        latencies.push(sent.elapsed());
        phase.checks += 1;
        let failure = match answer {
            Ok((200, body)) if says_valid(&body) => None,
            Ok((status, body)) => Some(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )),
            Err(e) => {
                conn = Connection::open(addr, config).await?;
                Some(e.to_string())
            }
        };
        if let Some(f) = failure {
            phase.failures += 1;
            phase.first_failure.get_or_insert(f);
        }
    }
    latencies.sort_unstable();
    phase.p50_ms = quantile_ms(&latencies, 0.5);
    phase.p99_ms = quantile_ms(&latencies, 0.99);
    phase.max_ms = quantile_ms(&latencies, 1.0);
    Ok(phase)
}

/// One flood client: registration after registration, each a new account with a valid form and
/// its double-submit CSRF token, until told to stop. Sent, unanswered, and answers by status.
async fn flood_client(
    addr: SocketAddr,
    config: Arc<onshi_client::ServiceClient>,
    client: usize,
    serial: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (usize, usize, std::collections::HashMap<u16, usize>) {
    let token = format!("{:064x}", client + 1);
    let cookie = format!("__Host-onshi-csrf={token}");
    let mut statuses = std::collections::HashMap::new();
    let (mut sent, mut no_answer) = (0, 0);
    let mut conn: Option<Connection> = None;
    while !stop.load(Ordering::SeqCst) {
        if conn.is_none() {
            match Connection::open(addr, &config).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    no_answer += 1;
                    sent += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let n = serial.fetch_add(1, Ordering::Relaxed);
        let body = registration_form(&token, n);
        sent += 1;
        let Some(c) = conn.as_mut() else { continue };
        match c.post_form("/portal/register", &cookie, body).await {
            Ok((status, _)) => *statuses.entry(status).or_insert(0) += 1,
            Err(_) => {
                no_answer += 1;
                conn = None;
            }
        }
    }
    (sent, no_answer, statuses)
}

/// A valid registration form: a new clinic, address and e-mail address each time.
fn registration_form(csrf: &str, n: usize) -> Bytes {
    let fields = [
        ("csrf", csrf.to_owned()),
        ("name", format!("負荷試験接骨院{n}")),
        ("kinds", "judo".to_owned()),
        ("director", "負荷　太郎".to_owned()),
        ("registration", format!("契{:07}-1-23", n % 10_000_000)),
        ("address", "東京都千代田区千代田1-1".to_owned()),
        ("phone", "03-1234-5678".to_owned()),
        ("email", format!("flood{n}@example.com")),
        ("password", "flood-password-0123".to_owned()),
        ("password_confirm", "flood-password-0123".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Bytes::from(serde_urlencoded::to_string(pairs).unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_short_flood_prints_both_phases_and_the_ratio() {
        let report = run(
            &FloodOptions {
                portal_clients: 4,
                seconds: 1.0,
                check_rate: 20.0,
                postgres: None,
            },
            &mut |_| {},
        )
        .unwrap();
        let table = report.table();
        assert_eq!(report.quiet.checks, 20, "{table}");
        assert_eq!(report.flooded.checks, 20, "{table}");
        assert_eq!(report.quiet.failures, 0, "{table}");
        assert_eq!(report.flooded.failures, 0, "{table}");
        assert!(report.flood.sent > 0, "{table}");
        // The portal answered the flood (a registration, its form again, or a refusal for load),
        // never "no such page".
        assert!(
            report
                .flood
                .statuses
                .iter()
                .all(|(s, _)| matches!(s, 200 | 303 | 400 | 429 | 503)),
            "{table}"
        );
        assert!(
            report.quiet.p50_ms > 0.0 && report.quiet.p50_ms <= report.quiet.p99_ms,
            "{table}"
        );
        assert!(table.contains("p99 with flood / without:"), "{table}");
        assert!(table.contains("with flood"), "{table}");
    }

    #[test]
    fn registration_forms_differ_and_carry_the_token() {
        let a = String::from_utf8(registration_form("t", 1).to_vec()).unwrap();
        let b = String::from_utf8(registration_form("t", 2).to_vec()).unwrap();
        assert_ne!(a, b);
        assert!(a.contains("csrf=t&"), "{a}");
        assert!(a.contains("kinds=judo"), "{a}");
    }
}

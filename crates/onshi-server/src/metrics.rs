//! Prometheus metrics of one server instance, kept in atomics and written in the text exposition
//! format by hand: the set is small and fixed, so a dozen lines of encoder beat a registry crate,
//! and every instance (tests run several in one process) has its own numbers instead of a global
//! recorder.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `onshi_http_requests_total` | counter | `route`, `status` |
//! | `onshi_http_request_duration_seconds` | histogram | `route` |
//! | `onshi_checks_total` | counter | `qualification_validity`, `processing_result_code` |
//! | `onshi_tls_handshakes_total` | counter | `kind` (`full`, `resumed`) |
//! | `onshi_tls_handshakes_refused_total` | counter | `reason` (`error`, `timeout`) |
//! | `onshi_connections_active` | gauge | |
//! | `onshi_connections_refused_total` | counter | `reason` (`instance_cap`, `address_cap`) |
//! | `onshi_accept_errors_total` | counter | |
//! | `onshi_request_body_timeouts_total` | counter | |
//! | `onshi_terminal_certificates_signed_total` | counter | |
//! | `onshi_crl_generation` | gauge | |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use onshi_proto as proto;

use crate::limit::CapRefusal;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histogram buckets, seconds: 0.5 ms to 1 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0,
];

/// The `route` label of requests to a path that is not a route.
pub const OTHER_ROUTE: &str = "other";

/// HTTP statuses are 100–599: one counter each.
const STATUS_MIN: u16 = 100;
const STATUS_COUNT: usize = 500;
/// The `processing_result_code` label of a check answered without a code (a normal end).
const NO_CODE: &str = "none";

/// The numbers of one route.
struct RouteMetrics {
    /// Requests by status, index `status - 100`.
    statuses: Vec<AtomicU64>,
    /// Latency observations per bucket (not cumulative; the last is +Inf).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl RouteMetrics {
    fn new() -> Self {
        Self {
            statuses: (0..STATUS_COUNT).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// The counters of one server instance; cheap to update from any thread.
pub struct Metrics {
    /// One per [`proto::ROUTES`], then one for [`OTHER_ROUTE`].
    routes: Vec<RouteMetrics>,
    /// Checks answered, by (QualificationValidity, ProcessingResultCode).
    checks: Mutex<BTreeMap<(String, String), u64>>,
    handshakes_full: AtomicU64,
    handshakes_resumed: AtomicU64,
    refused_error: AtomicU64,
    refused_timeout: AtomicU64,
    connections: AtomicI64,
    capped_instance: AtomicU64,
    capped_address: AtomicU64,
    accept_errors: AtomicU64,
    body_timeouts: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// How a TLS handshake ended, for [`Metrics::handshake`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// A full handshake.
    Full,
    /// A resumed session (ticket or cache).
    Resumed,
    /// Refused: no acceptable client certificate, bad protocol, closed.
    Refused,
    /// The client did not finish in time.
    TimedOut,
}

/// Counts an open connection until dropped.
pub struct ConnectionGuard<'a>(&'a Metrics);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self {
            routes: (0..=proto::ROUTES.len())
                .map(|_| RouteMetrics::new())
                .collect(),
            checks: Mutex::new(BTreeMap::new()),
            handshakes_full: AtomicU64::new(0),
            handshakes_resumed: AtomicU64::new(0),
            refused_error: AtomicU64::new(0),
            refused_timeout: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            capped_instance: AtomicU64::new(0),
            capped_address: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            body_timeouts: AtomicU64::new(0),
        }
    }

    /// The label of a request path: the route it is, or [`OTHER_ROUTE`] (so that scanners
    /// cannot grow the label set).
    pub fn route_label(path: &str) -> &'static str {
        proto::ROUTES
            .iter()
            .find(|r| **r == path)
            .copied()
            .unwrap_or(OTHER_ROUTE)
    }

    fn route(&self, path: &str) -> &RouteMetrics {
        let i = proto::ROUTES
            .iter()
            .position(|r| *r == path)
            .unwrap_or(proto::ROUTES.len());
        &self.routes[i]
    }

    /// One request answered: its path, status and time taken.
    pub fn request(&self, path: &str, status: u16, elapsed: Duration) {
        let route = self.route(path);
        let i = usize::from(status.clamp(STATUS_MIN, STATUS_MIN + STATUS_COUNT as u16 - 1))
            - usize::from(STATUS_MIN);
        route.statuses[i].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        route.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        route.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// One check answered (verify, register or query) with its 資格有効性 and 処理結果コード.
    pub fn check(&self, qualification_validity: &str, processing_result_code: Option<&str>) {
        let key = (
            qualification_validity.to_owned(),
            processing_result_code.unwrap_or(NO_CODE).to_owned(),
        );
        let mut checks = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *checks.entry(key).or_insert(0) += 1;
    }

    /// One TLS handshake ended.
    pub fn handshake(&self, how: Handshake) {
        let counter = match how {
            Handshake::Full => &self.handshakes_full,
            Handshake::Resumed => &self.handshakes_resumed,
            Handshake::Refused => &self.refused_error,
            Handshake::TimedOut => &self.refused_timeout,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection opened; it counts as active until the guard is dropped.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    /// A connection closed at accept because a cap was reached.
    pub fn connection_refused(&self, why: CapRefusal) {
        match why {
            CapRefusal::Instance => &self.capped_instance,
            CapRefusal::Address => &self.capped_address,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// `accept` failed (out of file descriptors, memory, …).
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A request body did not arrive within the body deadline.
    pub fn body_timeout(&self) {
        self.body_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format, with the CRL generation the service has loaded and the
    /// number of terminal certificates its CA has signed.
    pub fn render(&self, crl_generation: i64, certificates_signed: u64) -> String {
        let mut out = String::with_capacity(4096);
        let labels = proto::ROUTES
            .iter()
            .copied()
            .chain(std::iter::once(OTHER_ROUTE));

        header(
            &mut out,
            "onshi_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for (route, m) in labels.clone().zip(&self.routes) {
            for (i, n) in m.statuses.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let status = usize::from(STATUS_MIN) + i;
                    let _ = writeln!(
                        out,
                        "onshi_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        escape(route)
                    );
                }
            }
        }

        header(
            &mut out,
            "onshi_http_request_duration_seconds",
            "histogram",
            "Time from request head to response head, by route.",
        );
        for (route, m) in labels.zip(&self.routes) {
            let counts: Vec<u64> = m
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(&counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "onshi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "onshi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let sum = m.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "onshi_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "onshi_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            );
        }

        header(
            &mut out,
            "onshi_checks_total",
            "counter",
            "Checks answered (verify, register, query), by QualificationValidity and ProcessingResultCode (none: normal end).",
        );
        let checks = self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((validity, code), n) in checks {
            let _ = writeln!(
                out,
                "onshi_checks_total{{qualification_validity=\"{}\",processing_result_code=\"{}\"}} {n}",
                escape(&validity),
                escape(&code)
            );
        }

        header(
            &mut out,
            "onshi_tls_handshakes_total",
            "counter",
            "TLS handshakes completed, full or resumed.",
        );
        for (kind, n) in [
            ("full", &self.handshakes_full),
            ("resumed", &self.handshakes_resumed),
        ] {
            let _ = writeln!(
                out,
                "onshi_tls_handshakes_total{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }

        header(
            &mut out,
            "onshi_tls_handshakes_refused_total",
            "counter",
            "TLS handshakes refused (bad or unknown client certificate, protocol error) or timed out.",
        );
        for (reason, n) in [
            ("error", &self.refused_error),
            ("timeout", &self.refused_timeout),
        ] {
            let _ = writeln!(
                out,
                "onshi_tls_handshakes_refused_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }

        header(
            &mut out,
            "onshi_connections_active",
            "gauge",
            "TCP connections open (handshaking or serving).",
        );
        let _ = writeln!(
            out,
            "onshi_connections_active {}",
            self.connections.load(Ordering::Relaxed)
        );

        header(
            &mut out,
            "onshi_connections_refused_total",
            "counter",
            "Connections closed at accept: the instance's or the client address's cap was reached.",
        );
        for (reason, n) in [
            ("instance_cap", &self.capped_instance),
            ("address_cap", &self.capped_address),
        ] {
            let _ = writeln!(
                out,
                "onshi_connections_refused_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }

        for (name, help, n) in [
            (
                "onshi_accept_errors_total",
                "Failed accepts (out of file descriptors or memory); accepting backs off.",
                self.accept_errors.load(Ordering::Relaxed),
            ),
            (
                "onshi_request_body_timeouts_total",
                "Requests whose body did not arrive within body_timeout_seconds (408, closed).",
                self.body_timeouts.load(Ordering::Relaxed),
            ),
            (
                "onshi_terminal_certificates_signed_total",
                "Terminal certificates the terminal CA signed (enrollments and renewals).",
                certificates_signed,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {n}");
        }

        header(
            &mut out,
            "onshi_crl_generation",
            "gauge",
            "The store's CRL generation this instance has loaded (-1: none yet).",
        );
        let _ = writeln!(out, "onshi_crl_generation {crl_generation}");
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The value of the sample line starting with `series ` in `text`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_and_histograms_render_in_the_text_format() {
        let m = Metrics::new();
        m.request(proto::VERIFY, 200, Duration::from_micros(300));
        m.request(proto::VERIFY, 200, Duration::from_millis(3));
        m.request(proto::VERIFY, 429, Duration::from_secs(5));
        m.request("/wp-login.php", 404, Duration::from_micros(10));
        m.check("1", None);
        m.check("1", None);
        m.check("4", Some("E006"));
        m.handshake(Handshake::Full);
        m.handshake(Handshake::Resumed);
        m.handshake(Handshake::Resumed);
        m.handshake(Handshake::Refused);
        let open = m.connection();
        let closed = m.connection();
        drop(closed);
        m.connection_refused(CapRefusal::Address);
        m.connection_refused(CapRefusal::Address);
        m.connection_refused(CapRefusal::Instance);
        m.accept_error();
        m.body_timeout();
        let text = m.render(7, 3);

        let v = |s: &str| value(&text, s).unwrap_or_else(|| panic!("{s} missing:\n{text}"));
        let verify = r#"route="/api/v1/verify""#;
        assert_eq!(
            v(&format!(
                "onshi_http_requests_total{{{verify},status=\"200\"}}"
            )),
            2.0
        );
        assert_eq!(
            v(&format!(
                "onshi_http_requests_total{{{verify},status=\"429\"}}"
            )),
            1.0
        );
        assert_eq!(
            v("onshi_http_requests_total{route=\"other\",status=\"404\"}"),
            1.0
        );
        let bucket = |le: &str| {
            v(&format!(
                "onshi_http_request_duration_seconds_bucket{{{verify},le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.0005"), 1.0);
        assert_eq!(bucket("0.005"), 2.0);
        assert_eq!(bucket("1"), 2.0);
        assert_eq!(bucket("+Inf"), 3.0);
        assert_eq!(
            v(&format!(
                "onshi_http_request_duration_seconds_count{{{verify}}}"
            )),
            3.0
        );
        let sum = v(&format!(
            "onshi_http_request_duration_seconds_sum{{{verify}}}"
        ));
        assert!((sum - 5.0033).abs() < 1e-9, "{sum}");
        assert_eq!(
            v("onshi_checks_total{qualification_validity=\"1\",processing_result_code=\"none\"}"),
            2.0
        );
        assert_eq!(
            v("onshi_checks_total{qualification_validity=\"4\",processing_result_code=\"E006\"}"),
            1.0
        );
        assert_eq!(v("onshi_tls_handshakes_total{kind=\"resumed\"}"), 2.0);
        assert_eq!(v("onshi_tls_handshakes_total{kind=\"full\"}"), 1.0);
        assert_eq!(
            v("onshi_tls_handshakes_refused_total{reason=\"error\"}"),
            1.0
        );
        assert_eq!(v("onshi_connections_active"), 1.0);
        drop(open);
        assert_eq!(
            value(&m.render(7, 3), "onshi_connections_active"),
            Some(0.0)
        );
        assert_eq!(
            v("onshi_connections_refused_total{reason=\"address_cap\"}"),
            2.0
        );
        assert_eq!(
            v("onshi_connections_refused_total{reason=\"instance_cap\"}"),
            1.0
        );
        assert_eq!(v("onshi_accept_errors_total"), 1.0);
        assert_eq!(v("onshi_request_body_timeouts_total"), 1.0);
        assert_eq!(v("onshi_terminal_certificates_signed_total"), 3.0);
        assert_eq!(v("onshi_crl_generation"), 7.0);

        // Every sample line belongs to a family declared with # TYPE before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared.iter().any(|d| name.starts_with(d.as_str())),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn labels_are_escaped_and_unknown_paths_pooled() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(Metrics::route_label(proto::QUERY), proto::QUERY);
        assert_eq!(Metrics::route_label("/api/v1/verify/x"), OTHER_ROUTE);
    }
}

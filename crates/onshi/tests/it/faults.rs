//! The service and the app under faults, with the real binary: the server killed with SIGKILL in
//! the middle of a burst of checks, its PostgreSQL stopped and started again under it, the app's
//! output folder full, the app's clock an hour off. What must hold: no check answered without its
//! audit row, the audit chain intact after the restart, requests failing fast with a Japanese
//! message while the database is down and the service back by itself, an answer shown even when
//! its files cannot be written, and a wrong clock named before anything is checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::app::{start_server, Server};
use super::cli::{ok, onshi, s};

/// A service with one valid person's card and `terminals` enrolled app data directories.
struct World {
    _dir: tempfile::TempDir,
    srv: PathBuf,
    apps: Vec<PathBuf>,
    cards: Vec<PathBuf>,
    person: String,
    visit: &'static str,
    listen: String,
}

impl World {
    /// Sets everything up and starts the server; `database` is a PostgreSQL URL or SQLite.
    fn new(terminals: usize, database: Option<&str>) -> (Self, Server) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let jlis = root.join("jlis");
        let srv = root.join("srv");
        ok(&["jlis", "init", "--dir", s(&jlis)]);
        ok(&[
            "server",
            "init",
            "--data",
            s(&srv),
            "--jpki-ca",
            s(&jlis.join("ca.pem")),
        ]);
        // The feed commands take the store directly; the admin commands read it from the
        // server's config.toml, where a PostgreSQL URL goes first (a top-level key).
        let db: Vec<&str> = match database {
            Some(url) => {
                let config = srv.join("config.toml");
                let text = std::fs::read_to_string(&config).unwrap();
                std::fs::write(&config, format!("database = \"{url}\"\n{text}")).unwrap();
                vec!["--database", url]
            }
            None => vec!["--data", s(&srv)],
        };
        let feed = root.join("feed");
        ok(&["gen", "--persons", "30", "--seed", "7", "--out", s(&feed)]);
        for (kind, file) in [
            ("persons", "persons.csv"),
            ("eligibility", "eligibility.csv"),
        ] {
            let path = feed.join(file);
            let mut args = vec!["import", kind, s(&path)];
            args.extend(&db);
            ok(&args);
        }
        let visit = "20260401";
        let person = (1..=30)
            .map(|n| format!("P{n:010}"))
            .find(|p| {
                let mut args = vec!["lookup", "--person", p, "--date", visit, "--json"];
                args.extend(&db);
                let out = onshi(&args);
                out.status.success()
                    && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                        .is_ok_and(|v| v["QualificationValidity"] == "1")
            })
            .expect("a valid person in the synthetic feed");
        let card = root.join("card.json");
        ok(&[
            "jlis",
            "issue-card",
            "--dir",
            s(&jlis),
            "--person",
            &person,
            "--pin",
            "1234",
            "--out",
            s(&card),
        ]);
        let issued = jlis.join("issued.csv");
        ok(&["import", "card-links", "--data", s(&srv), s(&issued)]);
        // Cards are refused while their CA has no current CRL.
        let crl = jlis.join("first.crl");
        ok(&["jlis", "crl", "--dir", s(&jlis), "--out", s(&crl)]);
        ok(&["admin", "crl", "load", "--data", s(&srv), s(&crl)]);
        // The card file keeps counters: every concurrent reader gets its own copy.
        let cards: Vec<PathBuf> = (0..terminals)
            .map(|i| {
                let copy = root.join(format!("card-{i}.json"));
                std::fs::copy(&card, &copy).unwrap();
                copy
            })
            .collect();
        let admin = |args: &[&str]| -> serde_json::Value {
            let mut all = args.to_vec();
            all.extend(["--data", s(&srv), "--json"]);
            serde_json::from_str(&ok(&all)).unwrap()
        };
        let clinic = admin(&[
            "admin",
            "clinic",
            "add",
            "--name",
            "テスト接骨院",
            "--registration",
            "契0123456-1-23",
        ]);
        let clinic_id = clinic["id"].to_string();
        let pending: Vec<serde_json::Value> = (0..terminals)
            .map(|_| admin(&["admin", "terminal", "add", "--clinic", &clinic_id]))
            .collect();

        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let listen = format!("127.0.0.1:{port}");
        let world = Self {
            srv,
            apps: (0..terminals)
                .map(|i| root.join(format!("app-{i}")))
                .collect(),
            cards,
            person,
            visit,
            listen,
            _dir: dir,
        };
        let server = world.start();
        for (app, t) in world.apps.iter().zip(&pending) {
            ok(&[
                "app",
                "enroll",
                "--data",
                s(app),
                "--server",
                &format!("https://{}", world.listen),
                "--code",
                t["code"].as_str().unwrap(),
                "--account",
                t["id"].as_str().unwrap(),
                "--server-ca",
                s(&world.srv.join("server-ca.pem")),
            ]);
        }
        (world, server)
    }

    /// Starts `onshi server run` (on the world's PostgreSQL when its config names one).
    fn start(&self) -> Server {
        start_server(&self.srv, &self.listen)
    }

    /// A 目視 check from terminal `i`: exit code, stdout (the JSON answer), stderr, time taken.
    fn check(&self, i: usize) -> (Option<i32>, String, String, Duration) {
        self.check_with(i, None, &[])
    }

    /// [`World::check`] with a command in front (`faketime …`) and environment variables.
    fn check_with(
        &self,
        i: usize,
        wrapper: Option<&[&str]>,
        envs: &[(&str, &str)],
    ) -> (Option<i32>, String, String, Duration) {
        let started = Instant::now();
        let mut command = match wrapper {
            Some(w) => {
                let mut c = Command::new(w[0]);
                c.args(&w[1..]).arg(env!("CARGO_BIN_EXE_onshi"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_onshi")),
        };
        let out = command
            .envs(envs.iter().copied())
            .args([
                "app",
                "verify",
                "--data",
                s(&self.apps[i]),
                "--reader",
                &format!("emu:{}", s(&self.cards[i])),
                "--mode",
                "visual",
                "--confirm-photo",
                "--date",
                self.visit,
                "--json",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            started.elapsed(),
        )
    }

    /// The store arguments of the admin commands.
    fn store_args(&self) -> Vec<String> {
        vec!["--data".into(), s(&self.srv).to_owned()]
    }

    /// The reference numbers of the person's audit rows.
    fn audited(&self) -> HashSet<String> {
        let mut args = vec!["admin", "audit", "show", "--person", &self.person, "--json"];
        let store = self.store_args();
        args.extend(store.iter().map(String::as_str));
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["reference_number"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `onshi admin audit verify` succeeds.
    fn audit_intact(&self) -> String {
        let mut args = vec!["admin", "audit", "verify"];
        let store = self.store_args();
        args.extend(store.iter().map(String::as_str));
        ok(&args)
    }
}

#[test]
fn server_killed_during_a_burst_loses_no_audit_row() {
    const TERMINALS: usize = 4;
    let (world, server) = World::new(TERMINALS, None);
    let world = Arc::new(world);
    let stop = Arc::new(AtomicBool::new(false));
    // Each terminal checks the same patient again and again until told to stop.
    let clients: Vec<_> = (0..TERMINALS)
        .map(|i| {
            let (world, stop) = (world.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                let mut refused = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let (code, stdout, _, _) = world.check(i);
                    if code == Some(0) {
                        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                        answered.push(v["ReferenceNumber"].as_str().unwrap().to_owned());
                    } else {
                        refused += 1;
                    }
                }
                (answered, refused)
            })
        })
        .collect();
    // Let the burst run, then kill the server in the middle of it.
    std::thread::sleep(Duration::from_secs(3));
    // Dropping the guard sends SIGKILL (`Child::kill` on Unix): no shutdown, no flush, as a power
    // cut or the OOM killer would.
    drop(server);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let mut answered = Vec::new();
    let mut refused = 0;
    for c in clients {
        let (a, r) = c.join().unwrap();
        answered.extend(a);
        refused += r;
    }
    assert!(
        answered.len() >= TERMINALS,
        "the burst answered too few checks to mean anything: {}",
        answered.len()
    );

    // After the restart: every answered check has its audit row, the chains verify, and the
    // service answers again.
    let server = world.start();
    let audited = world.audited();
    let lost: Vec<&String> = answered.iter().filter(|r| !audited.contains(*r)).collect();
    assert!(
        lost.is_empty(),
        "answered without an audit row: {lost:?} ({} answered, {} audited)",
        answered.len(),
        audited.len()
    );
    let unique: HashSet<&String> = answered.iter().collect();
    assert_eq!(unique.len(), answered.len(), "a reference number twice");
    let verified = world.audit_intact();
    let (code, _, stderr, _) = world.check(0);
    assert_eq!(code, Some(0), "no answer after the restart: {stderr}");
    eprintln!(
        "burst of {} terminals, SIGKILL after 3 s: {} answered, {} refused or cut off, {} audit \
         rows; {}",
        TERMINALS,
        answered.len(),
        refused,
        audited.len(),
        verified.trim()
    );
    drop(server);
}

/// A throwaway PostgreSQL cluster of this test's own (it is stopped and started under the
/// service, so it cannot be the suite's shared one).
struct OwnPostgres {
    url: String,
    data: String,
}

impl OwnPostgres {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-postgres")
    }

    fn start() -> Option<Self> {
        let out = Command::new(Self::script()).arg("start").output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(str::to_owned)
        };
        Some(Self {
            url: value("ONSHI_TEST_POSTGRES")?,
            data: value("ONSHI_TEST_PGDATA")?,
        })
    }

    fn run(&self, what: &str) {
        let status = Command::new(Self::script())
            .args([what, &self.data])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/test-postgres {what} failed");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", &self.data])
            .status();
    }
}

#[test]
fn postgres_down_fails_fast_and_the_service_recovers_by_itself() {
    let Some(pg) = OwnPostgres::start() else {
        assert!(
            std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
            "ONSHI_REQUIRE_POSTGRES is set but a PostgreSQL cluster could not be started"
        );
        eprintln!("skipped: no PostgreSQL server binaries (apt-get install postgresql)");
        return;
    };
    let (world, server) = World::new(1, Some(&pg.url));
    let (code, _, stderr, _) = world.check(0);
    assert_eq!(code, Some(0), "{stderr}");

    pg.run("halt");
    // While the database is down: refused fast, exit code 3 (service error), in Japanese.
    let mut down = Vec::new();
    for _ in 0..3 {
        let (code, _, stderr, took) = world.check(0);
        assert_eq!(code, Some(3), "{stderr}");
        assert!(
            stderr.contains("データベースにつながりません"),
            "not a Japanese next step: {stderr}"
        );
        down.push(took);
    }
    let slowest = down.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(10),
        "a check took {slowest:?} while the database was down"
    );

    pg.run("resume");
    // Back by itself: the same server process answers again within seconds.
    let resumed = Instant::now();
    let mut last = String::new();
    loop {
        let (code, _, stderr, _) = world.check(0);
        if code == Some(0) {
            break;
        }
        last = stderr;
        assert!(
            resumed.elapsed() < Duration::from_secs(20),
            "the service did not recover within 20 s: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "PostgreSQL down: checks refused in at most {slowest:?}; back {:?} after the database \
         ({last})",
        resumed.elapsed()
    );
    world.audit_intact();
    drop(server);
}

/// A small tmpfs mounted for the test, unmounted on drop (even when an assertion fails).
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts a 4 KiB tmpfs at `dir` (root only); `None` where mounting is not allowed.
    fn mount(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4k", "tmpfs", s(dir)])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        ok.then(|| Self(dir.to_path_buf()))
    }

    /// Fills it to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("fill")).unwrap();
        while f.write_all(&[0u8; 512]).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_output_folder_still_shows_the_answer_and_says_so() {
    let (world, server) = World::new(1, None);
    let out = world._dir.path().join("full");
    let Some(disk) = SmallDisk::mount(&out) else {
        assert!(
            std::env::var_os("ONSHI_REQUIRE_MOUNT").is_none(),
            "ONSHI_REQUIRE_MOUNT is set but a tmpfs could not be mounted"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    disk.fill();
    let (code, stdout, stderr, _) =
        world.check_with(0, None, &[("ONSHI_APP_RECECON_OUTPUT", s(&out))]);
    // The answer is still given (valid: exit 0, the JSON on stdout) ...
    assert_eq!(code, Some(0), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["QualificationValidity"], "1");
    // ... and the staff are told that the receipt computer did not get it, and where to look.
    assert!(
        stderr.contains("レセコン連携ファイルを書けませんでした") && stderr.contains(s(&out)),
        "{stderr}"
    );
    // No half-written file is left behind.
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["fill".to_owned()]);
    drop(disk);
    drop(server);
}

#[test]
fn a_clock_off_by_an_hour_is_named_and_nothing_is_checked() {
    let faketime = Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !faketime {
        assert!(
            std::env::var_os("ONSHI_REQUIRE_FAKETIME").is_none(),
            "ONSHI_REQUIRE_FAKETIME is set but faketime is not installed"
        );
        eprintln!("skipped: faketime is not installed (apt-get install faketime)");
        return;
    }
    let (world, server) = World::new(1, None);
    let before = world.audited().len();
    // Only the app's wall clock moves: its timers (monotonic) keep running.
    let (code, _, stderr, _) = world.check_with(
        0,
        Some(&["faketime", "-f", "+1h"]),
        &[("FAKETIME_DONT_FAKE_MONOTONIC", "1")],
    );
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("時計") && stderr.contains("約60分進んで"),
        "{stderr}"
    );
    assert_eq!(world.audited().len(), before, "a check went through");
    // The same PC with its clock right checks as before.
    let (code, _, stderr, _) = world.check(0);
    assert_eq!(code, Some(0), "{stderr}");
    drop(server);
}

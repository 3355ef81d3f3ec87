//! Secrets and logs: a whole flow with the real binary (service, enrollment, a PIN check, a 目視
//! check, a check by numbers, a portal registration), every log line of the service and the app
//! captured at debug level, then searched for what identifies the synthetic patients: names,
//! kana, person ids, insured symbols and numbers, birth dates, and the PIN. None may be there.
//! Then the files that hold keys and patient data must be readable by their owner alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::cli::{imported, ok, onshi, s};

/// The PIN of the card: unusual enough that a match is a leak, not a coincidence.
const PIN: &str = "8642";

/// Stops the background server even when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `onshi` with every log line at debug level, its standard error appended to `log`.
fn logged(args: &[&str], log: &Path, stdin: Option<&str>) -> Output {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(args)
        .env("ONSHI_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        writeln!(input, "{text}").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The rows of a CSV file as header → value maps.
fn rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Whether `needle` stands in `line` as a word of its own: not inside a longer run of letters or
/// digits (a timestamp's fraction holds any four digits; `P0000000001` is inside
/// `P00000000012`).
fn stands_in(line: &str, needle: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(needle).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The mode bits of `path`, or `None` when it does not exist.
fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[test]
fn no_patient_data_or_pin_in_any_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let jlis = dir.path().join("jlis");
    let srv = dir.path().join("srv");
    let app = dir.path().join("app");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let server_log = logs.join("server.log");
    let app_log = logs.join("app.log");

    ok(&["jlis", "init", "--dir", s(&jlis)]);
    ok(&[
        "server",
        "init",
        "--data",
        s(&srv),
        "--jpki-ca",
        s(&jlis.join("ca.pem")),
    ]);
    let (_, feed) = imported(dir.path(), "30");
    for (kind, file) in [
        ("persons", "persons.csv"),
        ("eligibility", "eligibility.csv"),
    ] {
        logged(
            &["import", kind, s(&feed.join(file)), "--data", s(&srv)],
            &server_log,
            None,
        );
    }
    let visit = "20260401";
    // A person with a valid record on the visit date, and that record.
    let (person, record) = (1..=30)
        .map(|n| format!("P{n:010}"))
        .find_map(|p| {
            let out = onshi(&[
                "lookup",
                "--data",
                s(&srv),
                "--person",
                &p,
                "--date",
                visit,
                "--json",
            ]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (out.status.success() && v["QualificationValidity"] == "1")
                .then(|| (p, v["ResultList"][0].clone()))
        })
        .expect("a valid person in the synthetic feed");
    let card = dir.path().join("card.json");
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(&jlis),
        "--person",
        &person,
        "--pin",
        PIN,
        "--out",
        s(&card),
    ]);
    logged(
        &[
            "import",
            "card-links",
            "--data",
            s(&srv),
            s(&jlis.join("issued.csv")),
        ],
        &server_log,
        None,
    );
    // Cards are refused while their CA has no current CRL.
    let crl = jlis.join("first.crl");
    ok(&["jlis", "crl", "--dir", s(&jlis), "--out", s(&crl)]);
    logged(
        &["admin", "crl", "load", "--data", s(&srv), s(&crl)],
        &server_log,
        None,
    );
    let clinic: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "clinic",
        "add",
        "--data",
        s(&srv),
        "--name",
        "テスト接骨院",
        "--registration",
        "契0123456-1-23",
        "--json",
    ]))
    .unwrap();
    let terminal: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "terminal",
        "add",
        "--data",
        s(&srv),
        "--clinic",
        &clinic["id"].to_string(),
        "--json",
    ]))
    .unwrap();
    let account = terminal["id"].as_str().unwrap();
    let code = terminal["code"].as_str().unwrap();

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://{listen}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_onshi"))
            .args(["server", "run", "--data", s(&srv), "--listen", &listen])
            .env("ONSHI_LOG", "debug")
            .stdout(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&server_log)
                    .unwrap(),
            )
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&server_log)
                    .unwrap(),
            )
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Enrollment, a PIN check, a 目視 check.
    let out = logged(
        &[
            "app",
            "enroll",
            "--data",
            s(&app),
            "--server",
            &url,
            "--code",
            code,
            "--account",
            account,
            "--server-ca",
            s(&srv.join("server-ca.pem")),
        ],
        &app_log,
        None,
    );
    assert!(out.status.success(), "enroll: {out:?}");
    let reader = format!("emu:{}", s(&card));
    let out = logged(
        &[
            "app",
            "verify",
            "--data",
            s(&app),
            "--reader",
            &reader,
            "--mode",
            "pin",
            "--date",
            visit,
            "--json",
        ],
        &app_log,
        Some(PIN),
    );
    assert_eq!(out.status.code(), Some(0), "PIN check: {out:?}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = answer["ResultList"][0]["Name"].as_str().unwrap().to_owned();
    let out = logged(
        &[
            "app",
            "verify",
            "--data",
            s(&app),
            "--reader",
            &reader,
            "--mode",
            "visual",
            "--date",
            visit,
            "--confirm-photo",
        ],
        &app_log,
        None,
    );
    assert_eq!(out.status.code(), Some(0), "目視 check: {out:?}");
    // The screen shows the patient (stdout); the logs must not.
    assert!(String::from_utf8_lossy(&out.stdout).contains(&name));
    logged(&["app", "history", "--data", s(&app)], &app_log, None);

    // A check by numbers (資格確認書) over the terminal's certificate.
    let field = |k: &str| record[k].as_str().unwrap_or("").to_owned();
    let mut query = serde_json::json!({
        "insurer_number": field("InsurerNumber"),
        "number": field("InsuredIdentificationNumber"),
        "birthdate": field("Birthdate"),
        "visit_date": visit,
    });
    if !field("InsuredCardSymbol").is_empty() {
        query["symbol"] = field("InsuredCardSymbol").into();
    }
    let curl = |args: &[&str]| -> Output {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "--cacert",
                s(&srv.join("server-ca.pem")),
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let out = curl(&[
        "--cert",
        s(&app.join("terminal.pem")),
        "--key",
        s(&app.join("terminal-key.pem")),
        "-H",
        "content-type: application/json",
        "--data-binary",
        &query.to_string(),
        &format!("{url}/api/v1/query"),
    ]);
    let answer: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("query: {e}: {out:?}"));
    assert_eq!(answer["QualificationValidity"], "1", "query: {answer}");

    // A clinic registers on the portal (the pre-login CSRF token is a double-submit cookie).
    let csrf = "0123456789abcdef0123456789abcdef";
    let form = [
        ("csrf", csrf),
        ("name", "ログ確認接骨院"),
        ("director", "確認 院長"),
        ("registration", "契0123456-1-24"),
        ("kinds", "judo"),
        ("address", "東京都千代田区霞が関１－２－２"),
        ("phone", "03-1234-5678"),
        ("email", "logs@clinic.example"),
        ("password", "clinic-password-1"),
        ("password_confirm", "clinic-password-1"),
    ];
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&");
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cookie",
        &format!("__Host-onshi-csrf={csrf}"),
        "-H",
        "content-type: application/x-www-form-urlencoded",
        "--data-binary",
        &body,
        &format!("{url}/portal/register"),
    ]);
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        status.starts_with('2') || status.starts_with('3'),
        "portal registration answered {status}: {out:?}"
    );
    drop(server);

    // What identifies the patients: every person of the feed, and every record.
    let mut needles: Vec<(String, &'static str)> = vec![(PIN.to_owned(), "PIN")];
    for p in rows(&feed.join("persons.csv")) {
        for (column, what) in [
            ("PersonId", "person id"),
            ("Name", "name"),
            ("NameKana", "kana"),
            ("Birthdate", "birth date"),
        ] {
            if let Some(v) = p.get(column).filter(|v| !v.is_empty()) {
                needles.push((v.clone(), what));
                if what == "birth date" && v.len() == 8 {
                    // The same date as a log would print it.
                    needles.push((format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..]), what));
                }
            }
        }
    }
    for r in rows(&feed.join("eligibility.csv")) {
        for (column, what) in [
            ("InsuredCardSymbol", "insured symbol"),
            ("InsuredIdentificationNumber", "insured number"),
        ] {
            if let Some(v) = r.get(column).filter(|v| !v.is_empty()) {
                needles.push((v.clone(), what));
            }
        }
    }
    // Names also without their space, as a log might join them.
    let joined: Vec<(String, &'static str)> = needles
        .iter()
        .filter(|(v, what)| (*what == "name" || *what == "kana") && v.contains([' ', '　']))
        .map(|(v, what)| (v.replace([' ', '　'], ""), *what))
        .collect();
    needles.extend(joined);
    // A symbol or number of one to three digits (記号 "40") is no evidence alone: such runs are
    // everywhere (lengths, algorithm names). Longer ones and every other value are searched.
    needles.retain(|(v, _)| v.chars().count() >= 4 || !v.chars().all(|c| c.is_ascii_digit()));
    needles.sort();
    needles.dedup();

    let mut lines = 0;
    let mut found = Vec::new();
    for log in [&server_log, &app_log] {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            lines += 1;
            for (needle, what) in &needles {
                if stands_in(line, needle) {
                    found.push(format!("{what} {needle:?} in {}: {line}", log.display()));
                }
            }
        }
    }
    let kinds: std::collections::BTreeMap<&str, usize> =
        needles
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, (_, what)| {
                *m.entry(*what).or_default() += 1;
                m
            });
    println!(
        "searched {lines} log lines (service and app, ONSHI_LOG=debug) for {} values: {kinds:?}; found {}",
        needles.len(),
        found.len()
    );
    assert!(lines > 10, "too few log lines to mean anything: {lines}");
    assert!(
        found.is_empty(),
        "patient data in the logs:\n{}",
        found.join("\n")
    );

    // Keys and databases: the owner's alone.
    let private: Vec<PathBuf> = [
        srv.join("config.toml"),
        srv.join("onshi.sqlite"),
        srv.join("onshi.sqlite-wal"),
        srv.join("onshi.sqlite-shm"),
        app.join("terminal-key.pem"),
        app.join("app.toml"),
        app.join("history.jsonl"),
        jlis.join("ca-key.pem"),
    ]
    .into_iter()
    .chain(
        std::fs::read_dir(&srv)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with("key.pem")),
    )
    .collect();
    let open: Vec<String> = private
        .iter()
        .filter_map(|p| mode(p).map(|m| (p, m)))
        .filter(|(_, m)| m & 0o077 != 0)
        .map(|(p, m)| format!("{} is {m:o}", p.display()))
        .collect();
    println!(
        "checked the modes of {} key and database files: {} open to others",
        private.iter().filter(|p| p.exists()).count(),
        open.len()
    );
    assert!(open.is_empty(), "{}", open.join("\n"));
    for d in [&srv, &app] {
        assert_eq!(
            mode(d).map(|m| m & 0o077),
            Some(0),
            "{} is not 0700",
            d.display()
        );
    }
}

/// `application/x-www-form-urlencoded` for one value.
fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

//! The data directory on disk (issue 10, finding 5): `onshi server init` makes it owner-only
//! from the start, the store's SQLite files follow, and `onshi server doctor` names what is not.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::Utc;
use onshi_server::doctor;

use onshi_testkit::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn init_makes_the_data_directory_owner_only_and_doctor_names_what_is_not() {
    let root = tempfile::tempdir().unwrap();
    let cards = Cards::new(root.path());
    let data = root.path().join("server");
    let config = onshi_server::run::init(&data, &[cards.dir.join("ca.pem")], Utc::now()).unwrap();
    // The store open, with a write: SQLite's -wal and -shm are there too.
    let store = onshi_store::open_service(&config.database_url(&data)).unwrap();
    store
        .add_clinic("テスト整骨院", "1234567", Utc::now())
        .unwrap();

    assert_eq!(mode(&data), 0o700);
    for f in [
        "config.toml",
        "onshi.sqlite",
        "onshi.sqlite-wal",
        "onshi.sqlite-shm",
        "server-key.pem",
        "server-ca-key.pem",
        "terminal-ca-key.pem",
        "jpki/ca-1.pem",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let report = doctor::check(&data, &config);
    assert!(report.all_ok(), "{}", report.render());
    let names: Vec<String> = report
        .checked
        .iter()
        .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for f in [
        "config.toml",
        "onshi.sqlite",
        "onshi.sqlite-wal",
        "onshi.sqlite-shm",
        "server-key.pem",
        "server-ca-key.pem",
        "terminal-ca-key.pem",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} not checked: {names:?}");
    }

    // As a data directory made before the fix was: the umask's 0755 and 0644.
    chmod(&data, 0o755);
    chmod(&data.join("config.toml"), 0o644);
    chmod(&data.join("onshi.sqlite"), 0o644);
    chmod(&data.join("server-key.pem"), 0o640);
    let report = doctor::check(&data, &config);
    assert!(!report.all_ok());
    let wrong: Vec<(String, u32)> = report
        .wrong()
        .map(|c| (c.path.display().to_string(), c.mode))
        .collect();
    assert_eq!(wrong.len(), 4, "{wrong:?}");
    let text = report.render();
    for said in [
        format!("✗ {} が 0755 です", data.display()),
        format!("✗ {} が 0644 です", data.join("config.toml").display()),
        format!("chmod 700 {}", data.display()),
        format!("chmod 600 {}", data.join("config.toml").display()),
        format!("chmod 600 {}", data.join("onshi.sqlite").display()),
        format!("chmod 600 {}", data.join("server-key.pem").display()),
        "others can read it (want 0600)".to_owned(),
    ] {
        assert!(text.contains(&said), "{said:?} not in:\n{text}");
    }
    drop(store);
}

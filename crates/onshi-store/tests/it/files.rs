//! The SQLite files on disk: owner-only from their creation (issue 10, finding 5).
#![allow(clippy::unwrap_used)]

use super::common::*;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The data directory 0700, the database and SQLite's own `-wal` and `-shm` files 0600, whatever
/// the umask lets through.
#[cfg(unix)]
#[test]
fn the_database_and_its_wal_and_shm_are_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let store = onshi_store::open_data_dir(&dir).unwrap();
    let p = person("P0000000001", "髙橋　花子", "タカハシ　ハナコ", "19800102");
    let r = record(&p, "01130012", "医国３４０", "１", "00", "20200401");
    put(store.as_ref(), &[p], &[r]);
    // While the store is open SQLite keeps its WAL and shared-memory files beside the database.
    let db = dir.join(onshi_store::SQLITE_FILE);
    let wal = dir.join(format!("{}-wal", onshi_store::SQLITE_FILE));
    let shm = dir.join(format!("{}-shm", onshi_store::SQLITE_FILE));
    assert_eq!(mode(&dir), 0o700);
    for f in [&db, &wal, &shm] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(store);

    // A plain path (what `onshi server init` opens) is created 0600 too.
    let file = root.path().join("other.sqlite");
    let store = onshi_store::open_service(&format!("sqlite://{}", file.display())).unwrap();
    assert_eq!(mode(&file), 0o600);
    drop(store);
}

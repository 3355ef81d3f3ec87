//! Backup and restore of a whole store, for operators (`onshi admin backup` / `restore`).
//!
//! PostgreSQL: `pg_dump --format=custom` (one consistent snapshot while instances serve) and
//! `pg_restore --single-transaction` into an empty database, so a restore lands whole or not at
//! all. SQLite: `VACUUM INTO` (a consistent, compacted copy while the server writes), restored by
//! copying it into place after `PRAGMA integrity_check`. Both refuse to overwrite: a backup file
//! that exists, a database that already holds onshi's tables. The audit log's MAC key
//! (`audit.key`) is not in the database and so not in the backup.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::StoreError;

/// The engine a URL names.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> &Path {
    Path::new(url.strip_prefix("sqlite://").unwrap_or(url))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a backup of the store `url` names to `dest` (which must not exist), owner-only (0600);
/// its size in bytes.
pub fn backup(url: &str, dest: &Path) -> Result<u64, StoreError> {
    if dest.exists() {
        return Err(StoreError::Backup(format!(
            "{}: exists already; a backup never overwrites",
            dest.display()
        )));
    }
    let partial = partial_path(dest);
    let _ = std::fs::remove_file(&partial);
    crate::sqlite::create_private(&partial)?;
    let made = if is_postgres(url) {
        run(
            "pg_dump",
            Command::new(pg_tool("pg_dump")?)
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(&partial)
                .arg("--dbname")
                .arg(url),
        )
    } else {
        let conn = rusqlite::Connection::open_with_flags(
            sqlite_path(url),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(crate::SQLITE_DEFAULT_BUSY)?;
        let target = partial
            .to_str()
            .ok_or_else(|| StoreError::Backup(format!("{}: not UTF-8", partial.display())))?;
        conn.execute("VACUUM INTO ?1", [target])
            .map(|_| ())
            .map_err(StoreError::from)
    };
    if let Err(e) = made {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    onshi_fs::rename_durable(&partial, dest).map_err(io(dest))?;
    Ok(std::fs::metadata(dest).map_err(io(dest))?.len())
}

/// Restores a backup made by [`backup`] into the store `url` names, which must be empty (a new
/// PostgreSQL database; a SQLite file that does not exist yet). Opening the store afterwards
/// brings an older backup's schema up to date.
pub fn restore(src: &Path, url: &str) -> Result<(), StoreError> {
    std::fs::metadata(src).map_err(io(src))?;
    if is_postgres(url) {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        let used: bool = client
            .query_one(
                "SELECT to_regclass('schema_migrations') IS NOT NULL
                     OR to_regclass('persons') IS NOT NULL",
                &[],
            )?
            .get(0);
        drop(client);
        if used {
            return Err(StoreError::Backup(
                "the target database already holds onshi's tables: restore into a new, empty one"
                    .to_owned(),
            ));
        }
        run(
            "pg_restore",
            Command::new(pg_tool("pg_restore")?)
                .arg("--single-transaction")
                .arg("--exit-on-error")
                .arg("--no-owner")
                .arg("--no-privileges")
                .arg("--dbname")
                .arg(url)
                .arg(src),
        )
    } else {
        let dest = sqlite_path(url);
        if dest.exists() {
            return Err(StoreError::Backup(format!(
                "{}: exists already; restore into a new file (move the old one away first)",
                dest.display()
            )));
        }
        let partial = partial_path(dest);
        let _ = std::fs::remove_file(&partial);
        crate::sqlite::create_private(&partial)?;
        std::fs::copy(src, &partial).map_err(io(&partial))?;
        let checked = (|| {
            let conn = rusqlite::Connection::open(&partial)?;
            let answer: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if answer != "ok" {
                return Err(StoreError::Backup(format!(
                    "{}: not a sound SQLite database ({answer})",
                    src.display()
                )));
            }
            Ok(())
        })();
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        onshi_fs::rename_durable(&partial, dest).map_err(io(dest))
    }
}

/// Every table of the store `url` names with its row count, by name: what an operator compares
/// after a restore.
pub fn table_counts(url: &str) -> Result<Vec<(String, u64)>, StoreError> {
    // Table names come from the catalog and are quoted as identifiers.
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut out = Vec::new();
    if is_postgres(url) {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        let names: Vec<String> = client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()
                 ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in names {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {}", quote(&name)), &[])?
                .get(0);
            out.push((name, n.unsigned_abs()));
        }
    } else {
        let conn = rusqlite::Connection::open_with_flags(
            sqlite_path(url),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let names: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                 ORDER BY name",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for name in names {
            let n: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {}", quote(&name)), [], |r| {
                    r.get(0)
                })?;
            out.push((name, n.unsigned_abs()));
        }
    }
    Ok(out)
}

/// `FILE.partial` beside `FILE`: written first, renamed when whole.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Runs a PostgreSQL tool; its standard error in the error when it fails.
fn run(tool: &str, command: &mut Command) -> Result<(), StoreError> {
    let out = command
        .output()
        .map_err(|e| StoreError::Backup(format!("{tool}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StoreError::Backup(format!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A PostgreSQL client tool: in the newest `/usr/lib/postgresql/*/bin` (where Debian puts them;
/// pg_dump must be at least the server's major version), else on `PATH`.
pub fn pg_tool(name: &str) -> Result<PathBuf, StoreError> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    // Newest major version last (numeric order: 9 < 15 < 16).
    found.sort_by_key(|p| {
        p.iter()
            .rev()
            .nth(2)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(best) = found.pop() {
        return Ok(best);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StoreError::Backup(format!(
                "{name} not found (on PATH or in /usr/lib/postgresql/*/bin): apt-get install postgresql-client"
            ))
        })
}

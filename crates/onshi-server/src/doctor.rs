//! The server data directory's permissions: created owner-only (`onshi server init`), and
//! checked by `onshi server doctor`, which names each file whose mode lets others in and the
//! `chmod` that fixes it.
//!
//! | path                         | mode | why                                              |
//! |------------------------------|------|--------------------------------------------------|
//! | (the directory)              | 0700 | holds the whole insured population               |
//! | `config.toml`                | 0600 | the service's settings (database URL)             |
//! | `onshi.sqlite` (`-wal`, `-shm`) | 0600 | the store, and SQLite's own files beside it   |
//! | `*key*` (`server-key.pem` …) | 0600 | private keys: TLS, server CA, terminal CA, MAC    |

use std::path::{Path, PathBuf};

use crate::config::{ServerConfig, CONFIG_FILE};

/// The mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every private file.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) owner-only (0700) from the start; an existing directory is
/// narrowed to 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    set_mode(dir, DIR_MODE)
}

/// Writes `path` owner-only (0600) and atomically: a temporary file created 0600 in the same
/// directory, fsync, rename. There is no moment at which another user could open it.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    onshi_fs::write_atomic(path, bytes, onshi_fs::MODE_PRIVATE)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// One path checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The file or directory.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The mode it should have.
    pub want: u32,
}

impl Checked {
    /// Whether group and others have no access (the owner's own bits may be tighter).
    pub fn ok(&self) -> bool {
        self.mode & 0o077 == 0
    }
}

/// What `onshi server doctor` found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The data directory.
    pub dir: PathBuf,
    /// Every path checked, the directory first.
    pub checked: Vec<Checked>,
}

impl Report {
    /// Whether every path is owner-only (`onshi server doctor` exits 0).
    pub fn all_ok(&self) -> bool {
        self.checked.iter().all(Checked::ok)
    }

    /// The paths whose mode lets others in.
    pub fn wrong(&self) -> impl Iterator<Item = &Checked> {
        self.checked.iter().filter(|c| !c.ok())
    }

    /// The report for the operator, in Japanese and English: each path with its mode, then the
    /// commands that fix what is wrong.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checked {
            if c.ok() {
                out.push_str(&format!(
                    "✓ {} {:04o}（本人のみ / owner only）\n",
                    c.path.display(),
                    c.mode
                ));
            } else {
                out.push_str(&format!(
                    "✗ {} が {:04o} です。ほかの利用者が読めます（正しくは {:04o}） / is {:04o}: others can read it (want {:04o})\n    → chmod {:o} {}\n",
                    c.path.display(),
                    c.mode,
                    c.want,
                    c.mode,
                    c.want,
                    c.want,
                    shell_quote(&c.path)
                ));
            }
        }
        if self.all_ok() {
            out.push_str("すべて問題ありません / all good\n");
        } else {
            let commands: Vec<String> = self
                .wrong()
                .map(|c| format!("chmod {:o} {}", c.want, shell_quote(&c.path)))
                .collect();
            out.push_str(&format!(
                "次のコマンドで直してから、もう一度 `onshi server doctor --data {}` を実行してください / fix with:\n    {}\n",
                shell_quote(&self.dir),
                commands.join(" && ")
            ));
        }
        out
    }
}

/// A path as a shell word: quoted when it holds anything but the usual characters.
fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether a file name is a private key's (`server-key.pem`, `terminal-ca-key.pem`, `mac.key` …).
fn is_key_file(name: &str) -> bool {
    name.to_ascii_lowercase().contains("key")
}

/// Checks the modes of the data directory `dir` and of its private files: the config, the
/// SQLite store with its `-wal` and `-shm` (when the store is the SQLite file), every key file in
/// the directory, and the operator's own TLS key when the config names one.
pub fn check(dir: &Path, config: &ServerConfig) -> Report {
    let mut paths = vec![
        (dir.to_path_buf(), DIR_MODE),
        (dir.join(CONFIG_FILE), FILE_MODE),
    ];
    let url = config.database_url(dir);
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        let db = PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(&url));
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            paths.push((PathBuf::from(name), FILE_MODE));
        }
    }
    let mut keys: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| is_key_file(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    keys.sort();
    paths.extend(keys.into_iter().map(|k| (k, FILE_MODE)));
    if let Some(key) = &config.tls_key {
        let key = if key.is_absolute() {
            key.clone()
        } else {
            dir.join(key)
        };
        paths.push((key, FILE_MODE));
    }
    let mut checked: Vec<Checked> = Vec::new();
    for (path, want) in paths {
        if checked.iter().any(|c| c.path == path) {
            continue;
        }
        // Absent files (no WAL after a clean close, a Postgres store) have nothing to leak.
        if let Some(mode) = mode_of(&path) {
            checked.push(Checked { path, mode, want });
        }
    }
    Report {
        dir: dir.to_path_buf(),
        checked,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_recognised() {
        for k in [
            "server-key.pem",
            "terminal-ca-key.pem",
            "audit-mac.key",
            "KEY",
        ] {
            assert!(is_key_file(k), "{k}");
        }
        for f in ["server.pem", "config.toml", "server-ca.pem"] {
            assert!(!is_key_file(f), "{f}");
        }
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(shell_quote(Path::new("/var/lib/onshi")), "/var/lib/onshi");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_created_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), Some(0o700));
        let file = dir.join("config.toml");
        write_private(&file, b"x = 1\n").unwrap();
        assert_eq!(mode_of(&file), Some(0o600));
        assert_eq!(std::fs::read(&file).unwrap(), b"x = 1\n");
        // Replaced in place, still 0600, no temporary file left.
        write_private(&file, b"x = 2\n").unwrap();
        assert_eq!(mode_of(&file), Some(0o600));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }
}

//! The authority's files on disk: every write goes to a temporary file in the same directory and
//! is renamed over the target, so a crash leaves either the old or the new content, never half.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::error::PkiError;

/// Mode of files only the authority's operator may read (the key, the issue records).
pub(crate) const MODE_PRIVATE: u32 = 0o600;
/// Mode of files anyone may read (the CA certificate).
pub(crate) const MODE_PUBLIC: u32 = 0o644;

/// Replaces `path` with `bytes` atomically (temporary file, fsync, rename, fsync of the directory),
/// with the given Unix permission bits.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let write_err = |source| PkiError::Io {
        path: path.to_path_buf(),
        action: "書き込み",
        action_en: "write",
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".onshi-pki-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_err)?;
    set_mode(tmp.as_file(), mode).map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    sync_dir(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        action: "同期",
        action_en: "sync",
        source,
    })
}

/// Reads a whole file as UTF-8 text, naming what it should hold if it is absent.
pub(crate) fn read_text(path: &Path, what: &'static str) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| missing_or_io(path, what, source))
}

/// Reads a whole file as bytes, naming what it should hold if it is absent.
pub(crate) fn read_bytes(path: &Path, what: &'static str) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|source| missing_or_io(path, what, source))
}

/// Creates the authority directory (and its parents) with mode 0700, or accepts an existing one.
pub(crate) fn create_dir(dir: &Path) -> Result<(), PkiError> {
    let err = |source| PkiError::Io {
        path: dir.to_path_buf(),
        action: "ディレクトリ作成",
        action_en: "create the directory",
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)
}

fn missing_or_io(path: &Path, what: &'static str, source: io::Error) -> PkiError {
    if source.kind() == io::ErrorKind::NotFound {
        PkiError::Missing {
            path: path.to_path_buf(),
            what,
        }
    } else {
        PkiError::Io {
            path: path.to_path_buf(),
            action: "読み込み",
            action_en: "read",
            source,
        }
    }
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::OpenOptions::new().read(true).open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", MODE_PRIVATE).unwrap();
        write_atomic(&path, b"two", MODE_PRIVATE).unwrap();
        assert_eq!(read_text(&path, "f").unwrap(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_file_says_what_it_should_hold() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(&dir.path().join("nope"), "the thing").unwrap_err();
        assert!(
            matches!(
                err,
                PkiError::Missing {
                    what: "the thing",
                    ..
                }
            ),
            "{err}"
        );
    }
}

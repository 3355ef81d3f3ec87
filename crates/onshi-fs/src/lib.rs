//! One atomic file write for every crate that writes a file another program (or a crash) may
//! see half-done: keys, settings, card files, the receipt-computer files.
//!
//! [`write_atomic`] writes a temporary file in the target's folder (created `O_EXCL`, mode set
//! before any byte is written), fsyncs it, renames it over the target and fsyncs the folder, so a
//! reader or a crash finds the old content or the new one, never half, and a private file is never
//! readable by others, not even for a moment. On Windows privacy is the folder's ACL
//! ([`set_private_acl`], [`acl`]), which the files written in it inherit.
//!
//! The same steps for a file written piece by piece ([`AtomicFile`]), for a file that must not
//! replace another ([`write_new`], [`AtomicFile::commit_new`]), and for a file already complete
//! under another name in the same folder ([`rename_durable`]).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub mod acl;
#[cfg(windows)]
pub mod win_acl;

/// Mode of files only the owner may read (keys, settings, records).
pub const MODE_PRIVATE: u32 = 0o600;
/// Mode of files anyone may read (certificates, result files).
pub const MODE_PUBLIC: u32 = 0o644;

/// Makes the folder (`container`) or file `path` private to the current user the Windows way: a
/// protected DACL for the user and SYSTEM ([`acl::private_dacl_sddl`]); what a folder holds
/// inherits it. Nothing elsewhere: Unix modes are the caller's.
pub fn set_private_acl(path: &Path, container: bool) -> io::Result<()> {
    #[cfg(windows)]
    {
        let sid = win_acl::current_user_sid()?;
        win_acl::set_dacl(path, &acl::private_dacl_sddl(&sid, container))
    }
    #[cfg(not(windows))]
    {
        let _ = (path, container);
        Ok(())
    }
}

/// Replaces `path` with `bytes` atomically, with the Unix permission bits `mode` (ignored
/// elsewhere: on Windows a private file takes its folder's ACL, see [`set_private_acl`]).
/// The temporary file is `.onshi-*.tmp` in the same folder, so a watcher matching `*.xml` never
/// sees it; it is removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes)?;
    file.commit()
}

/// [`write_atomic`] for a file that must not exist yet: an existing `path` is an error
/// (`AlreadyExists`) and stays as it was.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(bytes)?;
    file.commit_new()
}

/// Renames `from` to `to` (in the same folder: a file already complete under a temporary or
/// pending name) and makes the rename durable (fsync of `to`'s folder where the platform allows).
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(folder_of(to))
}

/// A file written atomically piece by piece ([`Write`]): a temporary file in the target's folder
/// with its mode set before any byte; [`AtomicFile::commit`] puts it in place. Dropped without a
/// commit, the temporary file is removed.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist), with the Unix permission bits `mode`; the
    /// temporary file is `.onshi-*.tmp`.
    pub fn create(path: &Path, mode: u32) -> io::Result<Self> {
        Self::create_with_prefix(path, mode, ".onshi-")
    }

    /// [`AtomicFile::create`] with a temporary file named `{prefix}*.tmp`, for a folder whose
    /// sweeper knows unfinished files by their prefix.
    pub fn create_with_prefix(path: &Path, mode: u32, prefix: &str) -> io::Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".tmp")
            .tempfile_in(folder_of(path))?;
        set_mode(tmp.as_file(), mode)?;
        Ok(Self {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Syncs the file, renames it over the target and syncs the folder.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let dir = folder_of(&self.path).to_path_buf();
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(&dir)
    }

    /// [`AtomicFile::commit`] for a target that must not exist yet (`AlreadyExists`; the
    /// temporary file is removed).
    pub fn commit_new(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let dir = folder_of(&self.path).to_path_buf();
        self.tmp
            .persist_noclobber(&self.path)
            .map_err(|e| e.error)?;
        sync_dir(&dir)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// The folder a file is written in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes the rename durable: fsync of the folder (where the platform allows it).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
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
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"old", MODE_PUBLIC).unwrap();
        write_atomic(&path, b"new", MODE_PRIVATE).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, MODE_PRIVATE);
        }
    }

    #[test]
    fn a_new_file_never_replaces_one_and_a_piecewise_one_appears_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt");
        write_new(&path, b"first", MODE_PRIVATE).unwrap();
        let e = write_new(&path, b"second", MODE_PRIVATE).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");

        let other = dir.path().join("report.csv");
        let mut file = AtomicFile::create_with_prefix(&other, MODE_PUBLIC, ".upload-").unwrap();
        file.write_all(b"a,").unwrap();
        assert!(!other.exists(), "nothing at the target before the commit");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.starts_with(".upload-")), "{names:?}");
        file.write_all(b"b").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"a,b");
        // Dropped without a commit: no file, no temporary left.
        drop(AtomicFile::create(&dir.path().join("never"), MODE_PUBLIC).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

        let pending = dir.path().join("key.new");
        std::fs::write(&pending, b"k").unwrap();
        rename_durable(&pending, &dir.path().join("key")).unwrap();
        assert!(!pending.exists());
        assert_eq!(std::fs::read(dir.path().join("key")).unwrap(), b"k");
    }

    #[test]
    fn a_missing_folder_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/a.txt");
        assert!(write_atomic(&path, b"x", MODE_PUBLIC).is_err());
        assert!(!dir.path().join("no").exists());
    }
}

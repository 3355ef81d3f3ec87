//! One atomic file write for every crate that writes a file another program (or a crash) may
//! see half-done: keys, settings, card files, the receipt-computer files.
//!
//! [`write_atomic`] writes a temporary file in the target's folder (created `O_EXCL`, mode set
//! before any byte is written), fsyncs it, renames it over the target and fsyncs the folder, so a
//! reader or a crash finds the old content or the new one, never half, and a private file is never
//! readable by others, not even for a moment. On Windows privacy is the folder's ACL
//! ([`set_private_acl`], [`acl`]), which the files written in it inherit.

use std::io::{self, Write};
use std::path::Path;

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
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".onshi-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    set_mode(tmp.as_file(), mode)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
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
    fn a_missing_folder_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/a.txt");
        assert!(write_atomic(&path, b"x", MODE_PUBLIC).is_err());
        assert!(!dir.path().join("no").exists());
    }
}

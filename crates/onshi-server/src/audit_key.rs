//! The audit chain's key: 32 random bytes in `audit.key` beside `config.toml` (mode 0600), never
//! in the database, so that someone who can write the database cannot rewrite the audit log.
//!
//! `onshi server init` creates it, and so does the first start of a data directory without one
//! (an upgrade): the key is first written to `audit.key.new`, adopted by the store (which seals
//! the chains written before, in one transaction), and only then renamed to `audit.key`, so a
//! crash in between is finished by the next start. Every instance on one database needs the same
//! key: copy `audit.key` to the others; an instance with another key, or without one on a
//! database that has one, refuses to start.

use std::path::{Path, PathBuf};

use onshi_store::{AuditKey, ServiceStore};

use crate::ServerError;

/// The key's file name in the data directory.
pub const AUDIT_KEY_FILE: &str = "audit.key";

/// A key created but not yet adopted by the store.
const PENDING_FILE: &str = "audit.key.new";

/// The default key file of a data directory.
pub fn default_path(dir: &Path) -> PathBuf {
    dir.join(AUDIT_KEY_FILE)
}

/// Reads a key file (exactly 32 bytes). Warns when others than the owner may read it.
pub fn read(path: &Path) -> Result<AuditKey, ServerError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|cause| {
        ServerError::AuditKeyUnreadable {
            path: path.to_path_buf(),
            cause,
        }
    })?);
    warn_if_readable_by_others(path);
    AuditKey::from_bytes(&bytes).ok_or_else(|| ServerError::NotAuditKey {
        path: path.to_path_buf(),
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", m.permissions().mode() & 0o777),
                "the audit key can be read by others than its owner: chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes a new file that only its owner can read ([`onshi_fs::write_new`]: whole or not at
/// all, never over an existing one).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    onshi_fs::write_new(path, bytes, onshi_fs::MODE_PRIVATE).map_err(ServerError::io(path))
}

/// The data directory's audit key, adopted by the store: read from `audit.key`, or created (and
/// the chains written without a key sealed) when there is none yet.
pub fn open_or_create(dir: &Path, store: &dyn ServiceStore) -> Result<AuditKey, ServerError> {
    let path = default_path(dir);
    if path.exists() {
        let key = read(&path)?;
        return match store.adopt_audit_key(&key, false) {
            Ok(Ok(_)) => Ok(key),
            Ok(Err(_)) => Err(ServerError::AuditKeyMismatch { path }),
            Err(e) => Err(e.into()),
        };
    }
    let pending = dir.join(PENDING_FILE);
    let key = if pending.exists() {
        read(&pending)?
    } else {
        let mut bytes = zeroize::Zeroizing::new([0u8; AuditKey::LEN]);
        aws_lc_rs::rand::fill(&mut bytes[..]).map_err(|_| ServerError::Random)?;
        let key = AuditKey::from_bytes(&bytes[..]).ok_or(ServerError::Random)?;
        write_private(&pending, &bytes[..])?;
        key
    };
    match store.adopt_audit_key(&key, true) {
        Ok(Ok(sealed)) => {
            if sealed > 0 {
                tracing::warn!(
                    chains = sealed,
                    "audit key created: the audit chains written before are sealed under it"
                );
            } else {
                tracing::info!(path = %path.display(), "audit key created");
            }
        }
        Ok(Err(_)) => return Err(ServerError::AuditKeyMissing { path }),
        Err(e) => return Err(e.into()),
    }
    onshi_fs::rename_durable(&pending, &path).map_err(ServerError::io(&path))?;
    Ok(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_key_created_but_not_yet_in_place_is_finished_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = onshi_store::open_service_data_dir(dir.path()).unwrap();
        // A crash after writing audit.key.new, before the store adopted it.
        std::fs::write(dir.path().join(PENDING_FILE), [0x42u8; 32]).unwrap();
        let key = open_or_create(dir.path(), store.as_ref()).unwrap();
        assert_eq!(key.id(), AuditKey::from_bytes(&[0x42; 32]).unwrap().id());
        assert_eq!(
            std::fs::read(default_path(dir.path())).unwrap(),
            [0x42u8; 32]
        );
        assert!(!dir.path().join(PENDING_FILE).exists());
        // The next start reads the same key.
        let again = open_or_create(dir.path(), store.as_ref()).unwrap();
        assert_eq!(again.id(), key.id());
        // A crash after the store adopted it, before the rename: finished too.
        std::fs::rename(default_path(dir.path()), dir.path().join(PENDING_FILE)).unwrap();
        let after = open_or_create(dir.path(), store.as_ref()).unwrap();
        assert_eq!(after.id(), key.id());
        assert!(default_path(dir.path()).exists());
        // A file that is not a key is refused.
        let bad = dir.path().join("short.key");
        std::fs::write(&bad, [1u8; 16]).unwrap();
        assert!(read(&bad).is_err());
    }
}

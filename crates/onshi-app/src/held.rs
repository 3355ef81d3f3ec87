//! The card certificates of visits recorded as 未確認 (the service could not be asked), kept so
//! that the visit can be checked again later in 目視 mode without the patient's card: the staff
//! confirmed who the patient was (photo or PIN) while the patient was there.
//!
//! One file per visit under `held/` in the data directory, named by the visit's history time,
//! encrypted at rest (AES-256-GCM, the visit's time bound in as associated data) with a key kept
//! in `held.key` (0600) beside the terminal's key. A file is removed once its visit is checked
//! again, and in any case after [`KEEP_DAYS`] days.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use chrono::{DateTime, Duration, Utc};

use crate::data;
use crate::error::AppError;

/// The folder of kept certificates, in the data directory.
pub const HELD_DIR: &str = "held";
/// The key that encrypts them (32 random bytes, 0600), in the data directory.
pub const KEY_FILE: &str = "held.key";
/// How long a certificate is kept at most.
pub const KEEP_DAYS: i64 = 31;

const KEY_LEN: usize = 32;
/// Bound into every file's encryption with the visit's time: a file cannot stand for another.
const AAD_PREFIX: &str = "onshi held card certificate v1 ";

/// The file of the visit recorded at `time`.
fn file_of(dir: &Path, time: DateTime<Utc>) -> PathBuf {
    dir.join(HELD_DIR).join(format!("{}.bin", stamp(time)))
}

/// The visit's time as nanoseconds since the epoch (microseconds when out of range).
fn stamp(time: DateTime<Utc>) -> String {
    time.timestamp_nanos_opt().map_or_else(
        || format!("u{}", time.timestamp_micros()),
        |n| n.to_string(),
    )
}

fn aad(time: DateTime<Utc>) -> String {
    format!("{AAD_PREFIX}{}", stamp(time))
}

/// The key, made (0600) when there is none yet.
fn key(dir: &Path) -> Result<LessSafeKey, AppError> {
    let path = dir.join(KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut fresh = zeroize::Zeroizing::new(vec![0u8; KEY_LEN]);
            aws_lc_rs::rand::fill(&mut fresh)
                .map_err(|_| AppError::data(&path, "乱数を作れません / no randomness"))?;
            data::write_file(&path, &fresh, 0o600)?;
            fresh
        }
        Err(e) => return Err(AppError::data(&path, e)),
    };
    let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
        .map_err(|_| AppError::data(&path, "鍵の長さが正しくありません / not a 256-bit key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Keeps `certificate` (DER) for the visit recorded at `time`.
pub fn keep(dir: &Path, time: DateTime<Utc>, certificate: &[u8]) -> Result<(), AppError> {
    let key = key(dir)?;
    let folder = dir.join(HELD_DIR);
    data::create_private_dir(&folder)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| AppError::data(&folder, "乱数を作れません / no randomness"))?;
    let mut sealed = certificate.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(time).as_bytes()),
        &mut sealed,
    )
    .map_err(|_| AppError::data(&folder, "暗号化できません / cannot encrypt"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    data::write_file(&file_of(dir, time), &out, 0o600)
}

/// Whether a certificate is kept for the visit recorded at `time`.
pub fn is_held(dir: &Path, time: DateTime<Utc>) -> bool {
    file_of(dir, time).is_file()
}

/// The certificate kept for the visit recorded at `time`, if any. A file that does not decrypt
/// (altered, or another visit's) is an error naming it.
pub fn read(dir: &Path, time: DateTime<Utc>) -> Result<Option<Vec<u8>>, AppError> {
    let path = file_of(dir, time);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AppError::data(&path, e)),
    };
    if bytes.len() < NONCE_LEN {
        return Err(AppError::data(&path, "短すぎます / truncated"));
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| AppError::data(&path, "短すぎます / truncated"))?;
    let mut sealed = sealed.to_vec();
    let opened = key(dir)?
        .open_in_place(nonce, Aad::from(aad(time).as_bytes()), &mut sealed)
        .map_err(|_| {
            AppError::data(
                &path,
                "復号できません（改ざんされたか、別の受付のものです） / does not decrypt",
            )
        })?;
    Ok(Some(opened.to_vec()))
}

/// Removes the certificate kept for the visit recorded at `time` (nothing when there is none).
pub fn remove(dir: &Path, time: DateTime<Utc>) -> Result<(), AppError> {
    let path = file_of(dir, time);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AppError::data(&path, e)),
    }
}

/// Removes every kept certificate whose visit is more than [`KEEP_DAYS`] days before `now`
/// (and any file that is not one of ours); returns how many were removed.
pub fn purge(dir: &Path, now: DateTime<Utc>) -> Result<usize, AppError> {
    let folder = dir.join(HELD_DIR);
    let listing = match std::fs::read_dir(&folder) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(AppError::data(&folder, e)),
    };
    let cutoff = now - Duration::days(KEEP_DAYS);
    let mut removed = 0;
    for item in listing {
        let item = item.map_err(|e| AppError::data(&folder, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let time = name
            .strip_suffix(".bin")
            .and_then(|n| n.parse::<i64>().ok())
            .map(DateTime::from_timestamp_nanos);
        if time.is_none_or(|t| t < cutoff) {
            std::fs::remove_file(item.path()).map_err(|e| AppError::data(&item.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kept_encrypted_private_and_only_for_its_visit() {
        let dir = tempfile::tempdir().unwrap();
        let at = DateTime::from_timestamp(1_800_000_000, 123).unwrap();
        let other = at + Duration::seconds(1);
        let certificate = b"0\x82\x01\x0aDER of a card certificate, serial 1234".to_vec();
        assert_eq!(read(dir.path(), at).unwrap(), None);
        keep(dir.path(), at, &certificate).unwrap();
        assert!(is_held(dir.path(), at) && !is_held(dir.path(), other));
        assert_eq!(
            read(dir.path(), at).unwrap().as_deref(),
            Some(&certificate[..])
        );
        // Encrypted at rest: the certificate's bytes are not in the file.
        let stored = std::fs::read(file_of(dir.path(), at)).unwrap();
        assert!(!stored
            .windows(12)
            .any(|w| certificate.windows(12).any(|c| c == w)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
            assert_eq!(mode(&file_of(dir.path(), at)), 0o600);
            assert_eq!(mode(&dir.path().join(HELD_DIR)), 0o700);
        }
        // Another visit's file under this visit's name does not decrypt.
        std::fs::copy(file_of(dir.path(), at), file_of(dir.path(), other)).unwrap();
        let e = read(dir.path(), other).unwrap_err();
        assert!(
            e.message_ja().contains("復号できません"),
            "{}",
            e.message_ja()
        );
        // Nor does an altered one, nor a truncated one.
        let mut altered = stored.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        std::fs::write(file_of(dir.path(), at), &altered).unwrap();
        assert!(read(dir.path(), at).is_err());
        std::fs::write(file_of(dir.path(), at), &stored[..5]).unwrap();
        assert!(read(dir.path(), at).is_err());
        // Removed after the re-check.
        remove(dir.path(), at).unwrap();
        remove(dir.path(), at).unwrap();
        assert!(!is_held(dir.path(), at));
    }

    #[test]
    fn gone_after_31_days() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let old = now - Duration::days(KEEP_DAYS) - Duration::seconds(1);
        let recent = now - Duration::days(KEEP_DAYS) + Duration::seconds(1);
        keep(dir.path(), old, b"old").unwrap();
        keep(dir.path(), recent, b"recent").unwrap();
        std::fs::write(dir.path().join(HELD_DIR).join("stray.txt"), b"x").unwrap();
        assert_eq!(purge(dir.path(), now).unwrap(), 2);
        assert!(!is_held(dir.path(), old));
        assert_eq!(
            read(dir.path(), recent).unwrap().as_deref(),
            Some(&b"recent"[..])
        );
    }
}

//! `state.json`: the authority's counters (next certificate serial, next CRL number) and the tag
//! that makes its serials differ from another test authority's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use onshi_pki::error::PkiError;
use onshi_pki::files::{self, MODE_PRIVATE};
use onshi_pki::serial::{self, SERIAL_LEN};

/// The content of `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// The first 4 bytes of every serial, as 8 uppercase hex digits (derived from the CA key's
    /// identifier at `init`).
    pub serial_tag: String,
    /// The counter of the next certificate (the last 8 bytes of its serial).
    pub next_serial: u64,
    /// The CRL number of the next CRL.
    pub next_crl_number: u64,
}

const WHAT: &str = "認証局の状態 / the authority's counters";

impl State {
    /// A fresh authority's state.
    pub fn new(tag: [u8; 4]) -> Self {
        Self {
            serial_tag: hex::encode_upper(tag),
            next_serial: 1,
            next_crl_number: 1,
        }
    }

    /// Reads and checks `state.json`.
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        let text = files::read_text(path, WHAT)?;
        let malformed = |what: String| PkiError::Malformed {
            path: path.to_path_buf(),
            what,
        };
        let state: Self = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        state.tag().map_err(|()| {
            malformed(format!(
                "serial_tag {:?} is not 8 hex digits starting 40–7F",
                state.serial_tag
            ))
        })?;
        Ok(state)
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, path: &Path) -> Result<(), PkiError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| PkiError::Malformed {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
        text.push('\n');
        files::write_atomic(path, text.as_bytes(), MODE_PRIVATE)
    }

    /// Hands out the next serial and advances the counter.
    pub fn take_serial(&mut self, path: &Path) -> Result<[u8; SERIAL_LEN], PkiError> {
        let tag = self.tag().map_err(|()| PkiError::Malformed {
            path: path.to_path_buf(),
            what: "serial_tag".into(),
        })?;
        let counter = self.next_serial;
        self.next_serial = counter.checked_add(1).ok_or(PkiError::Exhausted {
            path: path.to_path_buf(),
            what: "シリアル",
            what_en: "serial",
        })?;
        Ok(serial::compose(tag, counter))
    }

    /// Hands out the next CRL number and advances the counter.
    pub fn take_crl_number(&mut self, path: &Path) -> Result<u64, PkiError> {
        let number = self.next_crl_number;
        self.next_crl_number = number.checked_add(1).ok_or(PkiError::Exhausted {
            path: path.to_path_buf(),
            what: "CRL",
            what_en: "CRL",
        })?;
        Ok(number)
    }

    fn tag(&self) -> Result<[u8; 4], ()> {
        let bytes = hex::decode(&self.serial_tag).map_err(|_| ())?;
        let tag: [u8; 4] = bytes.try_into().map_err(|_| ())?;
        if serial::tag_from(tag) == tag && self.serial_tag == hex::encode_upper(tag) {
            Ok(tag)
        } else {
            Err(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counters_advance_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new(serial::tag_from([0xAB, 1, 2, 3]));
        let first = state.take_serial(&path).unwrap();
        let second = state.take_serial(&path).unwrap();
        assert!(first < second);
        assert_eq!(state.take_crl_number(&path).unwrap(), 1);
        state.save(&path).unwrap();
        let loaded = State::load(&path).unwrap();
        assert_eq!(loaded, state);
        assert_eq!(loaded.next_serial, 3);
        assert_eq!(loaded.next_crl_number, 2);
    }

    #[test]
    fn a_bad_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for text in [
            "{}",
            r#"{"serial_tag":"FF010203","next_serial":1,"next_crl_number":1}"#,
            r#"{"serial_tag":"6B010203","next_serial":1,"next_crl_number":1,"x":1}"#,
            r#"{"serial_tag":"6b010203","next_serial":1,"next_crl_number":1}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(
                matches!(State::load(&path), Err(PkiError::Malformed { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn exhausted_counters_say_so() {
        let mut state = State::new(serial::tag_from([1, 2, 3, 4]));
        state.next_serial = u64::MAX;
        state.next_crl_number = u64::MAX;
        let path = Path::new("state.json");
        assert!(matches!(
            state.take_serial(path),
            Err(PkiError::Exhausted { .. })
        ));
        assert!(matches!(
            state.take_crl_number(path),
            Err(PkiError::Exhausted { .. })
        ));
    }
}

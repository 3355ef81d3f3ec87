//! The terminal's own log of checks: `history.jsonl` (mode 0600) in the data directory, one JSON
//! object per line, entries older than [`KEEP_DAYS`] days deleted on every write.
//!
//! JSON lines rather than SQLite: a clinic makes tens of checks a day, so 90 days is a few
//! thousand short lines; rewriting the file on each write (temporary file, then rename) keeps it
//! whole after a crash, makes the 90-day deletion exact (no old rows left in free pages), needs
//! no extra dependency, and staff or support can read it with any text viewer.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use onshi_proto::Mode;
use serde::{Deserialize, Serialize};

use crate::data;
use crate::error::AppError;

/// How long entries are kept.
pub const KEEP_DAYS: i64 = 90;

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The service answered (valid or not).
    Confirmed,
    /// The service could not be asked (outage, timeout): to be checked again later.
    Unconfirmed,
    /// The service answered 異常終了 (card certificate expired, revoked, bad signature …).
    Failed,
}

impl Status {
    /// 確認済 / 未確認 / 異常終了.
    pub fn label(self) -> &'static str {
        match self {
            Self::Confirmed => "確認済",
            Self::Unconfirmed => "未確認",
            Self::Failed => "異常終了",
        }
    }
}

/// What an entry was, beside a plain card check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// 利用登録 on the spot (PIN, with the patient's consent).
    Register,
    /// A check by 保険者番号・記号・番号・枝番 and 生年月日 (no card).
    Numbers,
}

/// One check. Holds no card certificate and nothing read from the card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When the check was made.
    pub time: DateTime<Utc>,
    /// PIN or visual.
    pub mode: Mode,
    /// How it ended.
    pub status: Status,
    /// The visit date (`yyyyMMdd` in the file).
    #[serde(with = "onshi_model::date::yyyymmdd")]
    pub visit_date: onshi_model::Date,
    /// QualificationValidity, when the service answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// The service's ReferenceNumber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// The patient's name from the answer's first record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The service's message, or why the check could not be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a re-check: the time of the 未確認 entry it re-checked (that entry's line stays as it
    /// was; this one marks it as re-checked, so the file is only ever appended to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_of: Option<DateTime<Utc>>,
    /// 利用登録 or a check by numbers; absent for a card check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
}

impl Entry {
    /// How the check was made, in words: 暗証番号, 目視, 利用登録（暗証番号） or 番号.
    pub fn method_label(&self) -> &'static str {
        match (self.kind, self.mode) {
            (Some(Kind::Register), _) => "利用登録（暗証番号）",
            (Some(Kind::Numbers), _) => "番号",
            (None, Mode::Pin) => "暗証番号",
            (None, Mode::Visual) => "目視",
        }
    }

    /// The validity in words (有効, 無効 …), or the status when there is none.
    pub fn validity_label(&self) -> String {
        match &self.validity {
            Some(v) => onshi_model::show::validity_label(v).to_owned(),
            None => self.status.label().to_owned(),
        }
    }
}

/// Whether the 未確認 entry `entries[index]` still waits for a re-check: no later entry
/// re-checked it.
pub fn awaits_recheck(entries: &[Entry], index: usize) -> bool {
    entries.get(index).is_some_and(|e| {
        e.status == Status::Unconfirmed
            && !entries[index + 1..]
                .iter()
                .any(|later| later.recheck_of == Some(e.time))
    })
}

/// The entry a re-check takes: number `entry` (1 = the oldest, as [`render`] shows them) or,
/// without one, the newest 未確認 entry not yet re-checked. Returns its index.
pub fn to_recheck(entries: &[Entry], entry: Option<usize>) -> Result<usize, AppError> {
    match entry {
        Some(n) => {
            let index = n
                .checked_sub(1)
                .filter(|&i| i < entries.len())
                .ok_or_else(|| {
                    AppError::Usage(format!(
                        "履歴に {n} 番はありません（1〜{} 番）。`onshi app history` で番号を確認してください。",
                        entries.len()
                    ))
                })?;
            if entries[index].status != Status::Unconfirmed {
                return Err(AppError::Usage(format!(
                    "{n} 番は「{}」です。確認し直せるのは「未確認」の受付だけです。",
                    entries[index].validity_label()
                )));
            }
            if !awaits_recheck(entries, index) {
                return Err(AppError::Usage(format!(
                    "{n} 番はすでに確認し直してあります。`onshi app history` で結果をご覧ください。"
                )));
            }
            Ok(index)
        }
        None => (0..entries.len())
            .rev()
            .find(|&i| awaits_recheck(entries, i))
            .ok_or_else(|| AppError::Usage("確認し直す「未確認」の受付はありません。".to_owned())),
    }
}

/// Every entry, oldest first.
pub fn read(dir: &Path) -> Result<Vec<Entry>, AppError> {
    let file = dir.join(data::HISTORY_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AppError::data(&file, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| AppError::data(&file, format!("{}行目 / line {}: {e}", i + 1, i + 1)))
        })
        .collect()
}

/// Appends an entry, deleting those older than [`KEEP_DAYS`] days before `now`.
pub fn append(dir: &Path, entry: Entry, now: DateTime<Utc>) -> Result<(), AppError> {
    let mut entries = read(dir)?;
    let cutoff = now - Duration::days(KEEP_DAYS);
    entries.retain(|e| e.time >= cutoff);
    entries.push(entry);
    let mut text = String::new();
    for e in &entries {
        let line = serde_json::to_string(e)
            .map_err(|err| AppError::data(&dir.join(data::HISTORY_FILE), err))?;
        text.push_str(&line);
        text.push('\n');
    }
    data::write_file(&dir.join(data::HISTORY_FILE), text.as_bytes(), 0o600)
}

/// The history as text for the staff: one numbered line per check (1 = the oldest), newest
/// first, in Japan time. A 未確認 entry waiting for a re-check says which command re-checks it
/// (`dir` is the data directory named in that command).
pub fn render(entries: &[Entry], dir: &Path) -> String {
    let mut out = String::from("番号\t日時\t確認方法\t資格有効性\t照会番号\t氏名\t備考\n");
    let number_of = |time: DateTime<Utc>| {
        entries
            .iter()
            .position(|e| e.time == time)
            .map(|i| format!("{}番", i + 1))
            .unwrap_or_else(|| "削除済みの受付".to_owned())
    };
    for (i, e) in entries.iter().enumerate().rev() {
        let note = if awaits_recheck(entries, i) && crate::held::is_held(dir, e.time) {
            format!(
                "再確認（カード不要）: onshi app recheck --data {} --entry {} --held",
                dir.display(),
                i + 1
            )
        } else if awaits_recheck(entries, i) {
            format!(
                "再確認: onshi app recheck --data {} --entry {} --reader pcsc --mode {}",
                dir.display(),
                i + 1,
                match e.mode {
                    Mode::Pin => "pin",
                    Mode::Visual => "visual",
                }
            )
        } else if e.status == Status::Unconfirmed {
            let by = entries[i + 1..]
                .iter()
                .position(|later| later.recheck_of == Some(e.time))
                .map(|j| format!("{}番", i + 2 + j))
                .unwrap_or_default();
            format!("再確認済（{by}）")
        } else if let Some(of) = e.recheck_of {
            format!(
                "{}の再確認（受診日 {}）",
                number_of(of),
                e.visit_date.format("%Y%m%d")
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            i + 1,
            onshi_model::date::jst_time(e.time).format("%Y-%m-%d %H:%M"),
            e.method_label(),
            e.validity_label(),
            e.reference_number.as_deref().unwrap_or("－"),
            e.name.as_deref().unwrap_or("－"),
            note,
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(time: DateTime<Utc>, name: &str) -> Entry {
        Entry {
            time,
            mode: Mode::Visual,
            status: Status::Confirmed,
            visit_date: onshi_model::Date::from_ymd_opt(2026, 4, 1).unwrap(),
            validity: Some("1".into()),
            reference_number: Some("R1".into()),
            name: Some(name.into()),
            message: None,
            recheck_of: None,
            kind: None,
        }
    }

    #[test]
    fn old_entries_go_on_write_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        append(
            dir.path(),
            entry(now - Duration::days(91), "古い"),
            now - Duration::days(91),
        )
        .unwrap();
        append(
            dir.path(),
            entry(now - Duration::days(89), "残る"),
            now - Duration::days(89),
        )
        .unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 2);
        append(dir.path(), entry(now, "新しい"), now).unwrap();
        let names: Vec<_> = read(dir.path())
            .unwrap()
            .into_iter()
            .filter_map(|e| e.name)
            .collect();
        assert_eq!(names, ["残る", "新しい"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(data::HISTORY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = render(&read(dir.path()).unwrap(), dir.path());
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .contains("目視\t有効\tR1\t新しい"),
            "{text}"
        );
    }

    #[test]
    fn a_broken_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(data::HISTORY_FILE), "{}\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("history.jsonl") && e.contains("line 1"), "{e}");
    }
}

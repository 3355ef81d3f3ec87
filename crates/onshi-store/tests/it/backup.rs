//! Backup and restore on both engines: a filled store is backed up, restored into a fresh one,
//! and the restored one has the same rows and an audit chain that verifies (and goes on).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use onshi_store::backup::{backup, restore, table_counts};
use onshi_store::{AuditEntry, AuditKey, ServiceStore, StoreError};

use super::common::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn key() -> AuditKey {
    AuditKey::from_bytes(&[0x5A; 32]).unwrap()
}

fn entry(terminal: &str, clinic: i64, minute: u32, nonce: u8) -> AuditEntry {
    AuditEntry {
        at: t("2025-04-02T09:00:00Z") + Duration::minutes(i64::from(minute)),
        terminal_id: terminal.to_owned(),
        clinic_id: clinic,
        mode: onshi_store::AuditMode::Pin,
        certificate_serial: Some("0A1B2C".to_owned()),
        person_id: Some(onshi_model::PersonId::parse("P0000000001").unwrap()),
        answer: "1".to_owned(),
        reference_number: format!("R{nonce:04}"),
        nonce_id: Some([nonce; 32]),
        recheck_of: None,
    }
}

/// Persons, records, a clinic, two active terminals and their checks.
fn fill(store: &dyn ServiceStore) -> (i64, String) {
    let persons: Vec<_> = (1..=30)
        .map(|i| {
            person(
                &format!("P{i:010}"),
                "山田　太郎",
                "ヤマダ　タロウ",
                "19800101",
            )
        })
        .collect();
    let records: Vec<_> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| {
            record(
                p,
                "01130012",
                "12",
                &format!("{}", 1000 + i),
                "00",
                "20200401",
            )
        })
        .collect();
    put(store, &persons, &records);
    let now = t("2025-04-01T09:00:00Z");
    let clinic = store
        .add_clinic("霞が関クリニック", "1312345", now)
        .unwrap();
    let mut first = String::new();
    for (n, serial) in ["5E0001", "5E0002"].iter().enumerate() {
        let terminal = store
            .add_terminal(clinic.id, 0, [7; 32], now + Duration::hours(72), now, None)
            .unwrap();
        store
            .enroll_terminal(&terminal.id, [7; 32], serial, now)
            .unwrap()
            .unwrap();
        for i in 0..5u8 {
            let nonce = (n as u8) * 10 + i + 1;
            store
                .record_check(
                    &key(),
                    &entry(&terminal.id, clinic.id, u32::from(nonce), nonce),
                    None,
                )
                .unwrap()
                .unwrap();
        }
        if first.is_empty() {
            first = terminal.id;
        }
    }
    (clinic.id, first)
}

#[test]
fn a_backup_restores_into_a_fresh_store_whose_audit_chain_verifies() {
    let admin = postgres_admin_url();
    for e in service_engines() {
        let (clinic, terminal) = fill(e.store.as_ref());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("onshi.backup");
        let bytes = backup(&e.url, &file).unwrap();
        assert!(bytes > 0, "{}", e.name);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", e.name);
        }
        // Never over an existing file.
        assert!(
            matches!(backup(&e.url, &file), Err(StoreError::Backup(_))),
            "{}",
            e.name
        );
        // Never into a store that is in use.
        assert!(
            matches!(restore(&file, &e.url), Err(StoreError::Backup(_))),
            "{}",
            e.name
        );

        let (target, fresh_db) = match (e.name, &admin) {
            ("postgres", Some(admin)) => {
                let (url, name) = fresh_postgres(admin);
                (url, Some(name))
            }
            _ => (
                dir.path()
                    .join("restored.sqlite")
                    .to_str()
                    .unwrap()
                    .to_owned(),
                None,
            ),
        };
        restore(&file, &target).unwrap();
        let before = table_counts(&e.url).unwrap();
        let after = table_counts(&target).unwrap();
        assert_eq!(before, after, "{}", e.name);
        let count = |name: &str| after.iter().find(|(t, _)| t == name).map(|(_, n)| *n);
        assert_eq!(count("persons"), Some(30), "{}", e.name);
        assert_eq!(count("eligibility"), Some(30), "{}", e.name);
        assert_eq!(count("audit_log"), Some(10), "{}", e.name);

        let restored = onshi_store::open_service(&target).unwrap();
        let v = restored.audit_verify(&key(), &[]).unwrap().unwrap();
        assert!(v.problems.is_empty(), "{}: {:?}", e.name, v.problems);
        assert_eq!((v.terminals, v.records), (2, 10), "{}", e.name);
        // The heads match the source's, and the chain goes on where it stopped.
        let source = e.store.audit_verify(&key(), &[]).unwrap().unwrap();
        assert_eq!(v.heads, source.heads, "{}", e.name);
        let next = restored
            .record_check(&key(), &entry(&terminal, clinic, 50, 99), None)
            .unwrap()
            .unwrap();
        assert_eq!(next.seq, 6, "{}", e.name);
        // A spent challenge stays spent in the restored store.
        assert!(restored
            .record_check(&key(), &entry(&terminal, clinic, 51, 1), None)
            .unwrap()
            .is_err());
        let v = restored.audit_verify(&key(), &[]).unwrap().unwrap();
        assert!(v.problems.is_empty(), "{}: {:?}", e.name, v.problems);
        drop(restored);
        if let (Some(admin), Some(name)) = (&admin, fresh_db) {
            drop_database(admin, &name);
        }
    }
}

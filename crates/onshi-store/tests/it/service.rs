//! The eligibility service's storage: clinics, terminals, enrollment, card links, CRLs,
//! secrets and the hash-chained audit log, on both engines.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use onshi_model::PersonId;
use onshi_store::{
    audit_hash, audit_mac, AuditEntry, AuditHead, AuditKey, AuditKeyMismatch, AuditMode,
    AuditRecord, AuditVerification, CardLink, EnrollRefusal, NonceSpent, ServiceStore, StoreError,
    StoredCrl, TerminalStatus, ENROLL_ATTEMPTS, GENESIS_HASH,
};

use super::common::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The audit key of these tests.
fn key() -> AuditKey {
    AuditKey::from_bytes(&[0x5A; 32]).unwrap()
}

/// Appending and verifying under [`key`], without registration or saved heads.
trait Audit {
    fn check(&self, e: &AuditEntry) -> Result<Result<AuditRecord, NonceSpent>, StoreError>;
    fn verify_audit(&self) -> Result<AuditVerification, StoreError>;
}

impl<T: ServiceStore + ?Sized> Audit for T {
    fn check(&self, e: &AuditEntry) -> Result<Result<AuditRecord, NonceSpent>, StoreError> {
        self.record_check(&key(), e, None)
    }

    fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        Ok(self.audit_verify(&key(), &[])?.unwrap())
    }
}

const CODE: [u8; 32] = [7; 32];
const WRONG: [u8; 32] = [8; 32];

/// A clinic with one pending terminal whose code expires 72 h after 2025-04-01 09:00.
fn clinic_and_terminal(store: &dyn ServiceStore) -> (i64, String) {
    let now = t("2025-04-01T09:00:00Z");
    let clinic = store
        .add_clinic("霞が関クリニック", "1312345", now)
        .unwrap();
    let terminal = store
        .add_terminal(clinic.id, 0, CODE, now + Duration::hours(72), now, None)
        .unwrap();
    (clinic.id, terminal.id)
}

/// A clinic with one active terminal holding certificate `serial`.
fn active_terminal(store: &dyn ServiceStore, serial: &str) -> (i64, String) {
    let (clinic, id) = clinic_and_terminal(store);
    store
        .enroll_terminal(&id, CODE, serial, t("2025-04-01T10:00:00Z"))
        .unwrap()
        .unwrap();
    (clinic, id)
}

fn entry(terminal: &str, clinic: i64, at: &str, person: Option<&str>, nonce: u8) -> AuditEntry {
    AuditEntry {
        at: t(at),
        terminal_id: terminal.to_owned(),
        clinic_id: clinic,
        mode: AuditMode::Pin,
        certificate_serial: Some("0A1B2C".to_owned()),
        person_id: person.map(|p| PersonId::parse(p).unwrap()),
        answer: "1".to_owned(),
        reference_number: format!("R{nonce:04}"),
        nonce_id: Some([nonce; 32]),
        recheck_of: None,
    }
}

/// Three checks on one terminal; the records.
fn three_checks(store: &dyn ServiceStore, terminal: &str, clinic: i64) -> Vec<AuditRecord> {
    (1..=3u8)
        .map(|i| {
            let at = format!("2025-04-02T09:0{i}:00Z");
            store
                .check(&entry(terminal, clinic, &at, Some("P0000000001"), i))
                .unwrap()
                .unwrap()
        })
        .collect()
}

#[test]
fn clinics_and_terminals_are_added_and_listed() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let now = t("2025-04-01T09:00:00.123456789Z");
        let a = s.add_clinic("霞が関クリニック", "1312345", now).unwrap();
        let b = s.add_clinic("大手町歯科", "1354321", now).unwrap();
        assert_ne!(a.id, b.id, "{}", e.name);
        // Kept to the microsecond: what was returned is what is read back.
        assert_eq!(a.created_at, t("2025-04-01T09:00:00.123456Z"), "{}", e.name);
        assert_eq!(s.clinic(a.id).unwrap(), Some(a.clone()), "{}", e.name);
        assert_eq!(s.clinic(b.id + 100).unwrap(), None, "{}", e.name);
        assert_eq!(
            s.clinics().unwrap(),
            vec![a.clone(), b.clone()],
            "{}",
            e.name
        );

        let expires = now + Duration::hours(72);
        let t1 = s.add_terminal(a.id, 0, CODE, expires, now, None).unwrap();
        let t2 = s.add_terminal(b.id, 0, CODE, expires, now, None).unwrap();
        let t3 = s.add_terminal(a.id, 0, CODE, expires, now, None).unwrap();
        assert_eq!(
            [&t1.id, &t2.id, &t3.id],
            ["W0000001", "W0000002", "W0000003"],
            "{}",
            e.name
        );
        assert_eq!(t1.status, TerminalStatus::Pending, "{}", e.name);
        assert_eq!(t1.clinic_id, a.id, "{}", e.name);
        assert_eq!(
            (t1.certificate_serial.as_ref(), t1.enrolled_at, t1.checks),
            (None, None, 0),
            "{}",
            e.name
        );
        assert_eq!(
            s.terminal("W0000001").unwrap(),
            Some(t1.clone()),
            "{}",
            e.name
        );
        assert_eq!(s.terminal("W0000009").unwrap(), None, "{}", e.name);
        assert_eq!(
            s.terminals_of_clinic(a.id).unwrap(),
            vec![t1, t3],
            "{}",
            e.name
        );
        assert_eq!(s.terminals_of_clinic(b.id).unwrap(), vec![t2], "{}", e.name);

        let err = s
            .add_terminal(b.id + 100, 0, CODE, expires, now, None)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { what: "clinic", .. }),
            "{}: {err}",
            e.name
        );
        // The refused addition used no number.
        assert_eq!(
            s.add_terminal(a.id, 0, CODE, expires, now, None)
                .unwrap()
                .id,
            "W0000004",
            "{}",
            e.name
        );
    }
}

#[test]
fn terminal_ids_are_unique_and_in_order_across_instances() {
    for e in service_engines() {
        let now = t("2025-04-01T09:00:00Z");
        let clinic = e
            .store
            .add_clinic("霞が関クリニック", "1312345", now)
            .unwrap()
            .id;
        let others: Vec<_> = (0..2).map(|_| e.another()).collect();
        let mut ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = others
                .iter()
                .chain(std::iter::once(&e.store))
                .map(|store| {
                    scope.spawn(move || {
                        (0..10)
                            .map(|_| {
                                store
                                    .add_terminal(clinic, 0, CODE, now, now, None)
                                    .unwrap()
                                    .id
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    let mine = h.join().unwrap();
                    // Each instance sees its own ids increase.
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
                    mine
                })
                .collect()
        });
        ids.sort();
        let expected: Vec<String> = (1..=30).map(|n| format!("W{n:07}")).collect();
        assert_eq!(ids, expected, "{}", e.name);
    }
}

#[test]
fn a_clinic_has_at_most_its_cap_of_terminals_even_when_added_at_once() {
    for e in service_engines() {
        let now = t("2025-04-01T09:00:00Z");
        let clinic = e.store.add_clinic("上限接骨院", "1312345", now).unwrap().id;
        let other = e.store.add_clinic("隣の鍼灸院", "1312346", now).unwrap().id;
        // Three instances add 4 terminals each to one clinic, at once, under a cap of 7.
        let instances: Vec<_> = (0..2).map(|_| e.another()).collect();
        let outcomes: Vec<Result<String, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = instances
                .iter()
                .chain(std::iter::once(&e.store))
                .map(|store| {
                    scope.spawn(move || {
                        (0..4)
                            .map(
                                |_| match store.add_terminal(clinic, 7, CODE, now, now, None) {
                                    Ok(t) => Ok(t.id),
                                    Err(StoreError::TooManyTerminals { clinic_id, limit }) => {
                                        assert_eq!((clinic_id, limit), (clinic, 7));
                                        Err("cap".to_owned())
                                    }
                                    Err(other) => panic!("{other}"),
                                },
                            )
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let added: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(added.len(), 7, "{}: {outcomes:?}", e.name);
        let s = e.store.as_ref();
        assert_eq!(
            s.terminals_of_clinic(clinic).unwrap().len(),
            7,
            "{}",
            e.name
        );
        let err = s.add_terminal(clinic, 7, CODE, now, now, None).unwrap_err();
        assert!(
            err.to_string().contains("already has 7 terminals"),
            "{}: {err}",
            e.name
        );
        // Another clinic has its own count; no cap is no cap.
        assert!(
            s.add_terminal(other, 1, CODE, now, now, None).is_ok(),
            "{}",
            e.name
        );
        assert!(
            s.add_terminal(other, 1, CODE, now, now, None).is_err(),
            "{}",
            e.name
        );
        assert!(
            s.add_terminal(other, 0, CODE, now, now, None).is_ok(),
            "{}",
            e.name
        );
        // A revoked terminal frees its place.
        assert!(s.revoke_terminal(added[0], now).unwrap(), "{}", e.name);
        assert!(
            s.add_terminal(clinic, 7, CODE, now, now, None).is_ok(),
            "{}",
            e.name
        );
        assert!(
            s.add_terminal(clinic, 7, CODE, now, now, None).is_err(),
            "{}",
            e.name
        );
    }
}

#[test]
fn a_terminal_and_its_name_are_stored_together() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let now = Utc::now();
        let clinic = s.add_clinic("名前の院", "0112345", now).unwrap().id;
        let names = |s: &dyn ServiceStore| -> Vec<(String, String)> {
            onshi_store::portal::read(s.portal(), |tx| {
                tx.query(
                    "SELECT terminal_id, name FROM portal_terminal_names ORDER BY terminal_id",
                    &[],
                )?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect()
            })
            .unwrap()
        };
        let t = s
            .add_terminal(clinic, 1, CODE, now, now, Some("受付PC"))
            .unwrap();
        assert_eq!(
            names(s),
            vec![(t.id.clone(), "受付PC".to_owned())],
            "{}",
            e.name
        );
        // Refused by the cap: neither the terminal nor its name is stored.
        assert!(s
            .add_terminal(clinic, 1, CODE, now, now, Some("タブレット"))
            .is_err());
        assert_eq!(names(s).len(), 1, "{}", e.name);
        assert_eq!(
            s.terminals_of_clinic(clinic).unwrap().len(),
            1,
            "{}",
            e.name
        );
    }
}

#[test]
fn enrollment_succeeds_once() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = clinic_and_terminal(s);
        let now = t("2025-04-01T10:00:00Z");
        let enrolled = s
            .enroll_terminal(&id, CODE, "5E0001", now)
            .unwrap()
            .unwrap();
        assert_eq!(enrolled.status, TerminalStatus::Active, "{}", e.name);
        assert_eq!(
            enrolled.certificate_serial.as_deref(),
            Some("5E0001"),
            "{}",
            e.name
        );
        assert_eq!(enrolled.enrolled_at, Some(now), "{}", e.name);
        assert_eq!(
            s.terminal(&id).unwrap(),
            Some(enrolled.clone()),
            "{}",
            e.name
        );
        assert_eq!(
            s.active_terminal_by_serial("5E0001").unwrap(),
            Some(enrolled),
            "{}",
            e.name
        );
        // The code is spent: the same code again, on this instance or another, is refused.
        assert_eq!(
            s.enroll_terminal(&id, CODE, "5E0002", now).unwrap(),
            Err(EnrollRefusal::AlreadyEnrolled),
            "{}",
            e.name
        );
        assert_eq!(
            e.another()
                .enroll_terminal(&id, CODE, "5E0002", now)
                .unwrap(),
            Err(EnrollRefusal::AlreadyEnrolled),
            "{}",
            e.name
        );
        assert_eq!(
            s.active_terminal_by_serial("5E0002").unwrap(),
            None,
            "{}",
            e.name
        );
        assert_eq!(
            s.enroll_terminal("W0000099", CODE, "5E0003", now).unwrap(),
            Err(EnrollRefusal::UnknownTerminal),
            "{}",
            e.name
        );
    }
}

#[test]
fn a_wrong_code_is_counted_but_does_not_spend_the_code() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = clinic_and_terminal(s);
        let now = t("2025-04-01T10:00:00Z");
        for _ in 0..ENROLL_ATTEMPTS - 1 {
            assert_eq!(
                s.enroll_terminal(&id, WRONG, "5E0001", now).unwrap(),
                Err(EnrollRefusal::WrongCode),
                "{}",
                e.name
            );
        }
        assert_eq!(
            s.terminal(&id).unwrap().unwrap().status,
            TerminalStatus::Pending,
            "{}",
            e.name
        );
        assert!(
            s.enroll_terminal(&id, CODE, "5E0001", now).unwrap().is_ok(),
            "{}",
            e.name
        );
    }
}

#[test]
fn too_many_wrong_codes_spend_the_code() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = clinic_and_terminal(s);
        let now = t("2025-04-01T10:00:00Z");
        for _ in 0..ENROLL_ATTEMPTS {
            assert_eq!(
                s.enroll_terminal(&id, WRONG, "5E0001", now).unwrap(),
                Err(EnrollRefusal::WrongCode),
                "{}",
                e.name
            );
        }
        // Now even the right code is refused.
        assert_eq!(
            s.enroll_terminal(&id, CODE, "5E0001", now).unwrap(),
            Err(EnrollRefusal::TooManyAttempts),
            "{}",
            e.name
        );
        assert_eq!(
            s.active_terminal_by_serial("5E0001").unwrap(),
            None,
            "{}",
            e.name
        );
        // An operator issues a new code.
        let new_code = [9; 32];
        assert!(
            s.reset_enrollment_code(&id, new_code, now + Duration::hours(72))
                .unwrap(),
            "{}",
            e.name
        );
        assert_eq!(
            s.enroll_terminal(&id, CODE, "5E0001", now).unwrap(),
            Err(EnrollRefusal::WrongCode),
            "{}",
            e.name
        );
        assert!(
            s.enroll_terminal(&id, new_code, "5E0001", now)
                .unwrap()
                .is_ok(),
            "{}",
            e.name
        );
        // Only a pending terminal gets a new code.
        assert!(
            !s.reset_enrollment_code(&id, new_code, now).unwrap(),
            "{}",
            e.name
        );
    }
}

#[test]
fn an_expired_code_is_refused() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = clinic_and_terminal(s);
        // Added at 2025-04-01 09:00, valid 72 h.
        let late = t("2025-04-04T09:00:00Z");
        assert_eq!(
            s.enroll_terminal(&id, CODE, "5E0001", late).unwrap(),
            Err(EnrollRefusal::Expired),
            "{}",
            e.name
        );
        // A wrong code learns nothing about the expiry.
        assert_eq!(
            s.enroll_terminal(&id, WRONG, "5E0001", late).unwrap(),
            Err(EnrollRefusal::WrongCode),
            "{}",
            e.name
        );
        let just_in_time = t("2025-04-04T08:59:59Z");
        assert!(
            s.enroll_terminal(&id, CODE, "5E0001", just_in_time)
                .unwrap()
                .is_ok(),
            "{}",
            e.name
        );
    }
}

#[test]
fn revocation_takes_effect_at_once_everywhere() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = active_terminal(s, "5E0001");
        let other = e.another();
        assert!(
            other.active_terminal_by_serial("5E0001").unwrap().is_some(),
            "{}",
            e.name
        );
        let now = t("2025-05-01T12:00:00Z");
        assert!(s.revoke_terminal(&id, now).unwrap(), "{}", e.name);
        assert_eq!(
            other.active_terminal_by_serial("5E0001").unwrap(),
            None,
            "{}",
            e.name
        );
        assert_eq!(
            s.active_terminal_by_serial("5E0001").unwrap(),
            None,
            "{}",
            e.name
        );
        let revoked = s.terminal(&id).unwrap().unwrap();
        assert_eq!(revoked.status, TerminalStatus::Revoked, "{}", e.name);
        assert_eq!(revoked.revoked_at, Some(now), "{}", e.name);
        // The serial stays on record (the audit names it).
        assert_eq!(
            revoked.certificate_serial.as_deref(),
            Some("5E0001"),
            "{}",
            e.name
        );
        assert!(!s.revoke_terminal(&id, now).unwrap(), "{}", e.name);
        assert!(!s.revoke_terminal("W0000099", now).unwrap(), "{}", e.name);
        assert!(
            !s.renew_terminal_certificate(&id, "5E0009", now).unwrap(),
            "{}",
            e.name
        );
        assert_eq!(
            s.enroll_terminal(&id, CODE, "5E0009", now).unwrap(),
            Err(EnrollRefusal::Revoked),
            "{}",
            e.name
        );

        // A pending terminal revoked before enrolling: its code is dead.
        let (_, pending) = clinic_and_terminal(s);
        assert!(s.revoke_terminal(&pending, now).unwrap(), "{}", e.name);
        assert_eq!(
            s.enroll_terminal(&pending, CODE, "5E0010", now).unwrap(),
            Err(EnrollRefusal::Revoked),
            "{}",
            e.name
        );
    }
}

#[test]
fn renewal_replaces_the_certificate() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (_, id) = active_terminal(s, "5E0001");
        let now = t("2026-03-01T09:00:00Z");
        assert!(
            s.renew_terminal_certificate(&id, "5E0002", now).unwrap(),
            "{}",
            e.name
        );
        assert_eq!(
            s.active_terminal_by_serial("5E0001").unwrap(),
            None,
            "{}",
            e.name
        );
        let renewed = s.active_terminal_by_serial("5E0002").unwrap().unwrap();
        assert_eq!(renewed.id, id, "{}", e.name);
        assert_eq!(renewed.enrolled_at, Some(now), "{}", e.name);
        let (_, pending) = clinic_and_terminal(s);
        assert!(
            !s.renew_terminal_certificate(&pending, "5E0003", now)
                .unwrap(),
            "{}",
            e.name
        );
    }
}

const CA_A: &str = "C=JP, O=onshi TEST, CN=CA A";
const CA_B: &str = "C=JP, O=onshi TEST, CN=CA B";

fn link(serial: &str, person: &str, registered: bool) -> CardLink {
    link_of(CA_A, serial, person, registered)
}

fn link_of(issuer: &str, serial: &str, person: &str, registered: bool) -> CardLink {
    CardLink {
        issuer: issuer.to_owned(),
        serial: serial.to_owned(),
        person_id: PersonId::parse(person).unwrap(),
        not_before: t("2024-04-01T00:00:00Z"),
        not_after: t("2029-03-31T14:59:59Z"),
        registered,
    }
}

fn import_links(store: &dyn ServiceStore, links: &[CardLink]) -> onshi_store::ImportCounts {
    let mut tx = store.begin_import().unwrap();
    tx.put_card_links(links).unwrap();
    tx.commit().unwrap()
}

#[test]
fn card_links_import_idempotently_and_register() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let links = vec![
            link("0001", "P0000000001", false),
            link("0002", "P0000000002", true),
        ];
        {
            let mut tx = s.begin_import().unwrap();
            tx.put_card_links(&links).unwrap();
            // Dropped without commit.
        }
        assert_eq!(s.card_link(CA_A, "0001").unwrap(), None, "{}", e.name);
        let first = import_links(s, &links);
        assert_eq!((first.changed, first.unchanged), (2, 0), "{}", e.name);
        let again = import_links(s, &links);
        assert_eq!((again.changed, again.unchanged), (0, 2), "{}", e.name);
        assert_eq!(
            s.card_link(CA_A, "0001").unwrap(),
            Some(links[0].clone()),
            "{}",
            e.name
        );
        assert_eq!(
            s.card_link(CA_A, "0002").unwrap(),
            Some(links[1].clone()),
            "{}",
            e.name
        );
        assert_eq!(s.card_link(CA_A, "0003").unwrap(), None, "{}", e.name);

        // 利用登録 at the reader.
        let now = t("2025-04-02T09:00:00Z");
        assert!(s.register_card(CA_A, "0001", now).unwrap(), "{}", e.name);
        assert!(
            s.card_link(CA_A, "0001").unwrap().unwrap().registered,
            "{}",
            e.name
        );
        assert!(!s.register_card(CA_A, "0003", now).unwrap(), "{}", e.name);
        assert!(!s.register_card(CA_B, "0002", now).unwrap(), "{}", e.name);
        // Importing the issue record again does not undo the registration…
        let third = import_links(s, &links);
        assert_eq!((third.changed, third.unchanged), (0, 2), "{}", e.name);
        assert!(
            s.card_link(CA_A, "0001").unwrap().unwrap().registered,
            "{}",
            e.name
        );
        // …but a corrected link replaces the stored one.
        let mut moved = link("0002", "P0000000003", true);
        moved.not_after = t("2030-03-31T14:59:59Z");
        let fourth = import_links(s, &[moved.clone(), link("0004", "P0000000004", false)]);
        assert_eq!((fourth.changed, fourth.unchanged), (2, 0), "{}", e.name);
        assert_eq!(
            s.card_link(CA_A, "0002").unwrap(),
            Some(moved),
            "{}",
            e.name
        );
    }
}

#[test]
fn the_same_serial_from_two_issuers_is_two_cards() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let a = link_of(CA_A, "4A01", "P0000000001", false);
        let b = link_of(CA_B, "4A01", "P0000000002", false);
        let counts = import_links(s, &[a.clone(), b.clone()]);
        assert_eq!(counts.changed, 2, "{}", e.name);
        assert_eq!(s.card_link(CA_A, "4A01").unwrap(), Some(a), "{}", e.name);
        assert_eq!(s.card_link(CA_B, "4A01").unwrap(), Some(b), "{}", e.name);
        assert_eq!(
            s.card_link("C=JP, CN=other", "4A01").unwrap(),
            None,
            "{}",
            e.name
        );
        // Registering one card leaves the other alone.
        assert!(s
            .register_card(CA_B, "4A01", t("2025-04-02T09:00:00Z"))
            .unwrap());
        assert!(!s.card_link(CA_A, "4A01").unwrap().unwrap().registered);
        assert!(s.card_link(CA_B, "4A01").unwrap().unwrap().registered);
    }
}

/// Puts the database back to the shape of migration 3 (card links by serial, CRLs without
/// numbers, no kept serials), with one link, as a store of before this change holds it.
fn rewind_to_migration_3(e: &ServiceEngine) {
    if e.name == "sqlite" {
        for sql in [
            "DROP TABLE card_links",
            "CREATE TABLE card_links (serial TEXT PRIMARY KEY NOT NULL, person_id TEXT NOT NULL,
                not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,
                registered INTEGER NOT NULL, registered_at INTEGER) WITHOUT ROWID",
            "INSERT INTO card_links VALUES ('4A01', 'P0000000001', 1711929600000000,
                1869663599000000, 1, NULL)",
        ] {
            e.raw(sql);
        }
        e.raw("ALTER TABLE crls DROP COLUMN number");
    } else {
        for sql in [
            "ALTER TABLE card_links DROP CONSTRAINT card_links_pkey",
            "ALTER TABLE card_links DROP COLUMN issuer",
            "ALTER TABLE card_links ADD PRIMARY KEY (serial)",
            "INSERT INTO card_links VALUES ('4A01', 'P0000000001', '2024-04-01T00:00:00Z',
                '2029-03-31T14:59:59Z', true, NULL)",
            "ALTER TABLE crls DROP COLUMN number",
        ] {
            e.raw(sql);
        }
    }
    e.raw("DROP TABLE crl_revoked");
    // The migrations after 7 go too, to be applied again after it.
    e.raw("DROP TABLE portal_registration_numbers");
    e.raw("DELETE FROM schema_migrations WHERE version = 10");
    for table in [
        "portal_claim_documents",
        "portal_payer",
        "portal_clinic_messages",
        "portal_terminal_names",
        "portal_notices",
        "portal_faq",
        "portal_inquiries",
    ] {
        e.raw(&format!("DROP TABLE {table}"));
    }
    for column in [
        "bank_code",
        "bank_name",
        "branch_code",
        "branch_name",
        "account_kind",
        "account_number",
        "account_holder",
        "returned_at",
    ] {
        e.raw(&format!("ALTER TABLE portal_claims DROP COLUMN {column}"));
    }
    e.raw("DROP TABLE card_link_checks");
    e.raw("ALTER TABLE persons DROP COLUMN former_name");
    e.raw("ALTER TABLE audit_log DROP COLUMN recheck_of");
    e.raw("DROP TABLE rate_counters");
    if e.name == "postgres" {
        unpartition_audit_log(e);
    }
    e.raw("DROP INDEX audit_by_time");
    for column in [
        "card_issuance_date",
        "card_valid_date",
        "card_expiration_date",
    ] {
        e.raw(&format!("ALTER TABLE eligibility DROP COLUMN {column}"));
    }
    e.raw("DELETE FROM schema_migrations WHERE version >= 7");
}

#[test]
fn links_of_before_migration_7_are_kept_and_adopted_by_the_one_trusted_ca() {
    for e in service_engines() {
        rewind_to_migration_3(&e);
        let s = e.another();
        let legacy = CardLink {
            registered: true,
            ..link_of(onshi_store::LEGACY_ISSUER, "4A01", "P0000000001", true)
        };
        assert_eq!(
            s.card_link(onshi_store::LEGACY_ISSUER, "4A01").unwrap(),
            Some(legacy.clone()),
            "{}",
            e.name
        );
        assert_eq!(s.card_link(CA_A, "4A01").unwrap(), None, "{}", e.name);
        assert_eq!(s.adopt_legacy_card_links(CA_A).unwrap(), 1, "{}", e.name);
        assert_eq!(
            s.card_link(CA_A, "4A01").unwrap(),
            Some(CardLink {
                issuer: CA_A.to_owned(),
                ..legacy
            }),
            "{}",
            e.name
        );
        assert_eq!(s.adopt_legacy_card_links(CA_A).unwrap(), 0, "{}", e.name);
        // The CRL tables work after the migration too.
        let crl = StoredCrl {
            issuer: CA_A.to_owned(),
            number: Some(vec![1]),
            der: vec![0x30, 0x00],
            loaded_at: t("2025-04-01T00:00:00Z"),
        };
        assert!(s.put_crl(&crl, &["4A02".to_owned()]).unwrap(), "{}", e.name);
        assert_eq!(
            s.crl_revoked().unwrap(),
            vec![(CA_A.to_owned(), "4A02".to_owned())]
        );
    }
}

fn crl(issuer: &str, number: &[u8], der: Vec<u8>, at: &str) -> StoredCrl {
    StoredCrl {
        issuer: issuer.to_owned(),
        number: Some(number.to_vec()),
        der,
        loaded_at: t(at),
    }
}

#[test]
fn a_crl_replaces_the_one_of_its_issuer_and_bumps_the_generation() {
    for e in service_engines() {
        let s = e.store.as_ref();
        assert_eq!(s.crls().unwrap(), vec![], "{}", e.name);
        let g0 = s.crl_generation().unwrap();
        let a1 = crl(
            "jpki-sign",
            &[1],
            vec![0x30, 0x03, 0x01, 0x01, 0x00],
            "2025-04-01T00:00:00Z",
        );
        let b1 = crl("jpki-auth", &[7], vec![0x30, 0x00], "2025-04-01T00:00:00Z");
        assert!(s.put_crl(&a1, &[]).unwrap());
        assert!(s.put_crl(&b1, &[]).unwrap());
        let g2 = s.crl_generation().unwrap();
        assert_eq!(g2, g0 + 2, "{}", e.name);
        assert_eq!(s.crls().unwrap(), vec![b1.clone(), a1], "{}", e.name);
        let a2 = crl(
            "jpki-sign",
            &[2],
            vec![0x30, 0x01, 0xff],
            "2025-04-02T00:00:00Z",
        );
        assert!(s.put_crl(&a2, &[]).unwrap());
        // Another instance polls the generation and sees the new list.
        let other = e.another();
        assert_eq!(other.crl_generation().unwrap(), g2 + 1, "{}", e.name);
        assert_eq!(other.crls().unwrap(), vec![b1, a2], "{}", e.name);
    }
}

#[test]
fn a_crl_not_newer_than_the_stored_one_is_refused_comparing_integers() {
    for e in service_engines() {
        let s = e.store.as_ref();
        // 2 then 256 (0x0100): as bytes, [0x02] sorts after [0x01, 0x00]; as integers it is
        // below, so 256 replaces 2 and 2 can never come back.
        let two = crl("ca", &[2], vec![0x30, 0x00], "2025-04-01T00:00:00Z");
        let big = crl(
            "ca",
            &[1, 0],
            vec![0x30, 0x01, 0x00],
            "2025-04-02T00:00:00Z",
        );
        assert!(s.put_crl(&two, &["01".to_owned()]).unwrap(), "{}", e.name);
        assert!(s.put_crl(&big, &["02".to_owned()]).unwrap(), "{}", e.name);
        let g = s.crl_generation().unwrap();
        assert!(!s.put_crl(&two, &["03".to_owned()]).unwrap(), "{}", e.name);
        // The same number again is refused too; leading zeros do not make a number bigger.
        let same = crl(
            "ca",
            &[0, 1, 0],
            vec![0x30, 0x02, 0, 0],
            "2025-04-03T00:00:00Z",
        );
        assert!(!s.put_crl(&same, &[]).unwrap(), "{}", e.name);
        assert_eq!(s.crls().unwrap(), vec![big], "{}", e.name);
        assert_eq!(s.crl_generation().unwrap(), g, "{}", e.name);
        // Every serial an accepted CRL listed is kept; the refused CRL's are not.
        assert_eq!(
            s.crl_revoked().unwrap(),
            vec![
                ("ca".to_owned(), "01".to_owned()),
                ("ca".to_owned(), "02".to_owned())
            ],
            "{}",
            e.name
        );
        // A number of more than 20 bytes is not stored.
        assert!(s
            .put_crl(&crl("ca", &[1; 21], vec![], "2025-04-04T00:00:00Z"), &[])
            .is_err());
    }
}

#[test]
fn a_stored_crl_can_be_removed_and_its_serials_stay_revoked() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let a = crl("ca", &[5], vec![0x30, 0x00], "2025-04-01T00:00:00Z");
        assert!(s.put_crl(&a, &["0A".to_owned()]).unwrap());
        let g = s.crl_generation().unwrap();
        assert!(s.remove_crl("ca").unwrap(), "{}", e.name);
        assert!(!s.remove_crl("ca").unwrap(), "{}", e.name);
        assert_eq!(s.crl_generation().unwrap(), g + 1, "{}", e.name);
        assert_eq!(s.crls().unwrap(), vec![], "{}", e.name);
        assert_eq!(
            s.crl_revoked().unwrap(),
            vec![("ca".to_owned(), "0A".to_owned())]
        );
    }
}

#[test]
fn a_secret_is_created_once_even_by_racing_instances() {
    for e in service_engines() {
        let other = e.another();
        // Both instances generate before either stores: both try to insert.
        let both_generated = std::sync::Barrier::new(2);
        let run = |store: &dyn ServiceStore, value: u8| {
            store
                .secret("nonce-key", &|| {
                    both_generated.wait();
                    vec![value; 32]
                })
                .unwrap()
        };
        let (mine, theirs) = (e.store.as_ref(), other.as_ref());
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| run(mine, 1));
            let b = scope.spawn(|| run(theirs, 2));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a, b, "{}", e.name);
        assert!(a == vec![1; 32] || a == vec![2; 32], "{}", e.name);
        // Later calls read it; the generator is not called.
        let again = e
            .store
            .secret("nonce-key", &|| panic!("generated twice"))
            .unwrap();
        assert_eq!(again, a, "{}", e.name);
        assert_ne!(
            e.store.secret("other", &|| vec![3; 16]).unwrap(),
            a,
            "{}",
            e.name
        );
    }
}

#[test]
fn checks_are_chained_per_terminal() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let (clinic2, id2) = active_terminal(s, "5E0002");
        let records = three_checks(s, &id, clinic);
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3],
            "{}",
            e.name
        );
        assert_eq!(records[0].prev_hash, GENESIS_HASH, "{}", e.name);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.hash,
                audit_mac(&key(), &r.prev_hash, &r.entry, r.seq),
                "{}",
                e.name
            );
            if i > 0 {
                assert_eq!(r.prev_hash, records[i - 1].hash, "{}", e.name);
            }
        }
        assert_eq!(s.audit_of_terminal(&id).unwrap(), records, "{}", e.name);
        let terminal = s.terminal(&id).unwrap().unwrap();
        assert_eq!(terminal.checks, 3, "{}", e.name);
        assert_eq!(
            terminal.last_used_at,
            Some(t("2025-04-02T09:03:00Z")),
            "{}",
            e.name
        );

        // Another terminal's chain starts afresh; a query by numbers has no nonce; the time
        // is kept to the microsecond.
        let mut query = entry(&id2, clinic2, "2025-04-02T09:04:00.000001999Z", None, 0);
        query.mode = AuditMode::Query;
        query.certificate_serial = None;
        query.nonce_id = None;
        let q = s.check(&query).unwrap().unwrap();
        assert_eq!((q.seq, q.prev_hash), (1, GENESIS_HASH), "{}", e.name);
        assert_eq!(q.entry.at, t("2025-04-02T09:04:00.000001Z"), "{}", e.name);
        let q2 = s.check(&query).unwrap().unwrap();
        assert_eq!((q2.seq, q2.prev_hash), (2, q.hash), "{}", e.name);
        assert_eq!(
            s.audit_of_terminal(&id2).unwrap(),
            vec![q, q2],
            "{}",
            e.name
        );

        let v = s.verify_audit().unwrap();
        assert_eq!(
            (v.terminals, v.records, v.problems),
            (2, 5, vec![]),
            "{}",
            e.name
        );

        let err = s
            .check(&entry("W0000099", clinic, "2025-04-02T10:00:00Z", None, 99))
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotFound {
                    what: "terminal",
                    ..
                }
            ),
            "{}: {err}",
            e.name
        );
    }
}

#[test]
fn a_replayed_nonce_is_refused_and_writes_nothing() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let (clinic2, id2) = active_terminal(s, "5E0002");
        let first = s
            .check(&entry(&id, clinic, "2025-04-02T09:00:00Z", Some("P1"), 1))
            .unwrap()
            .unwrap();
        let replay = entry(&id, clinic, "2025-04-02T09:00:05Z", Some("P1"), 1);
        assert_eq!(s.check(&replay).unwrap(), Err(NonceSpent), "{}", e.name);
        // On another instance, through another terminal: still spent.
        let elsewhere = entry(&id2, clinic2, "2025-04-02T09:00:06Z", Some("P1"), 1);
        assert_eq!(
            e.another().check(&elsewhere).unwrap(),
            Err(NonceSpent),
            "{}",
            e.name
        );
        assert_eq!(s.audit_of_terminal(&id).unwrap(), vec![first], "{}", e.name);
        assert_eq!(s.audit_of_terminal(&id2).unwrap(), vec![], "{}", e.name);
        let terminal = s.terminal(&id).unwrap().unwrap();
        assert_eq!(
            (terminal.checks, terminal.last_used_at),
            (1, Some(t("2025-04-02T09:00:00Z"))),
            "{}",
            e.name
        );
        assert_eq!(s.terminal(&id2).unwrap().unwrap().checks, 0, "{}", e.name);
        assert!(s.verify_audit().unwrap().problems.is_empty(), "{}", e.name);
        // The chain goes on where it was.
        let next = s
            .check(&entry(&id, clinic, "2025-04-02T09:01:00Z", Some("P1"), 2))
            .unwrap()
            .unwrap();
        assert_eq!(next.seq, 2, "{}", e.name);
    }
}

#[test]
fn concurrent_checks_on_one_terminal_keep_one_chain() {
    for e in service_engines() {
        let (clinic, id) = active_terminal(e.store.as_ref(), "5E0001");
        let others: Vec<_> = (0..3).map(|_| e.another()).collect();
        std::thread::scope(|scope| {
            for (n, store) in others.iter().enumerate() {
                let id = &id;
                scope.spawn(move || {
                    for i in 0..20u8 {
                        let mut en = entry(id, clinic, "2025-04-02T09:00:00Z", None, 0);
                        en.nonce_id = Some([n as u8 * 20 + i + 1; 32]);
                        store.check(&en).unwrap().unwrap();
                    }
                });
            }
        });
        let chain = e.store.audit_of_terminal(&id).unwrap();
        assert_eq!(
            chain.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=60).collect::<Vec<_>>(),
            "{}",
            e.name
        );
        let v = e.store.verify_audit().unwrap();
        assert_eq!((v.records, v.problems), (60, vec![]), "{}", e.name);
    }
}

#[test]
fn checks_sharing_one_group_commit_keep_their_chains_and_spend_each_nonce_once() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let terminals: Vec<_> = ["5E0001", "5E0002", "5E0003"]
            .iter()
            .map(|serial| active_terminal(s, serial))
            .collect();
        // Twelve threads on one instance (so their records share commits), each nonce sent
        // twice: by thread n and by thread n + 6.
        let spent: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..12usize)
                .map(|n| {
                    let terminals = &terminals;
                    scope.spawn(move || {
                        (0..10u8)
                            .map(|i| {
                                let (clinic, id) = &terminals[(n + i as usize) % 3];
                                let mut en = entry(id, *clinic, "2025-04-02T09:00:00Z", None, 0);
                                en.nonce_id = Some([(n % 6) as u8 * 10 + i + 1; 32]);
                                (n, s.check(&en).unwrap().is_err())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let refused = spent.iter().filter(|(_, spent)| *spent).count();
        assert_eq!(refused, 60, "{}: each of 60 nonces refused once", e.name);
        let mut total = 0;
        for (_, id) in &terminals {
            let chain = e.store.audit_of_terminal(id).unwrap();
            total += chain.len();
            assert_eq!(
                chain.iter().map(|r| r.seq).collect::<Vec<_>>(),
                (1..=chain.len() as i64).collect::<Vec<_>>(),
                "{}",
                e.name
            );
        }
        assert_eq!(total, 60, "{}", e.name);
        let v = e.store.verify_audit().unwrap();
        assert_eq!((v.records, v.problems), (60, vec![]), "{}", e.name);
    }
}

/// The problems audit_verify finds after `tamper` on a terminal with three checks (and an
/// untouched second terminal).
fn problems_after(e: &ServiceEngine, tamper: &[&str]) -> Vec<(String, i64, String)> {
    let s = e.store.as_ref();
    let (clinic, id) = active_terminal(s, "5E0001");
    let (clinic2, id2) = active_terminal(s, "5E0002");
    three_checks(s, &id, clinic);
    s.check(&entry(&id2, clinic2, "2025-04-02T10:00:00Z", None, 50))
        .unwrap()
        .unwrap();
    assert!(s.verify_audit().unwrap().problems.is_empty(), "{}", e.name);
    for sql in tamper {
        assert_eq!(e.raw(sql), 1, "{}: {sql}", e.name);
    }
    let v = s.verify_audit().unwrap();
    assert_eq!(v.terminals, 2, "{}", e.name);
    v.problems
        .into_iter()
        .map(|p| (p.terminal_id, p.seq, p.what))
        .collect()
}

#[test]
fn audit_verify_catches_an_edited_row() {
    for e in service_engines() {
        let p = problems_after(
            &e,
            &["UPDATE audit_log SET answer = '4' WHERE terminal_id = 'W0000001' AND seq = 2"],
        );
        assert_eq!(p.len(), 1, "{}: {p:?}", e.name);
        assert_eq!((p[0].0.as_str(), p[0].1), ("W0000001", 2), "{}", e.name);
        assert!(p[0].2.contains("changed"), "{}: {p:?}", e.name);
    }
}

#[test]
fn audit_verify_catches_an_edited_row_with_its_hash_recomputed() {
    for e in service_engines() {
        // Someone holding the key edits record 2 and stores a MAC of the new content: record 3
        // no longer follows it.
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let records = three_checks(s, &id, clinic);
        let mut forged = records[1].entry.clone();
        forged.person_id = Some(PersonId::parse("P0000000002").unwrap());
        let hash = audit_mac(&key(), &records[1].prev_hash, &forged, 2);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let literal = if e.name == "sqlite" {
            format!("X'{hex}'")
        } else {
            format!("'\\x{hex}'::bytea")
        };
        e.raw(&format!(
            "UPDATE audit_log SET person_id = 'P0000000002', hash = {literal}
             WHERE terminal_id = '{id}' AND seq = 2"
        ));
        let p = s.verify_audit().unwrap().problems;
        assert_eq!(p.len(), 1, "{}: {p:?}", e.name);
        assert_eq!(p[0].seq, 3, "{}: {p:?}", e.name);
        assert!(p[0].what.contains("prev_hash"), "{}: {p:?}", e.name);
    }
}

#[test]
fn audit_verify_catches_a_deleted_middle_row() {
    for e in service_engines() {
        let p = problems_after(
            &e,
            &["DELETE FROM audit_log WHERE terminal_id = 'W0000001' AND seq = 2"],
        );
        assert_eq!(p.len(), 1, "{}: {p:?}", e.name);
        assert_eq!((p[0].0.as_str(), p[0].1), ("W0000001", 2), "{}", e.name);
        assert!(p[0].2.contains("missing"), "{}: {p:?}", e.name);
    }
}

#[test]
fn audit_verify_catches_a_deleted_last_row() {
    for e in service_engines() {
        let p = problems_after(
            &e,
            &["DELETE FROM audit_log WHERE terminal_id = 'W0000001' AND seq = 3"],
        );
        assert_eq!(p.len(), 1, "{}: {p:?}", e.name);
        assert_eq!((p[0].0.as_str(), p[0].1), ("W0000001", 3), "{}", e.name);
        assert!(p[0].2.contains("missing"), "{}: {p:?}", e.name);
    }
}

#[test]
fn audit_verify_catches_reordered_rows() {
    for e in service_engines() {
        let p = problems_after(
            &e,
            &[
                "UPDATE audit_log SET seq = 0 WHERE terminal_id = 'W0000001' AND seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE terminal_id = 'W0000001' AND seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE terminal_id = 'W0000001' AND seq = 0",
            ],
        );
        assert!(!p.is_empty(), "{}", e.name);
        assert!(
            p.iter().all(|(id, seq, _)| id == "W0000001" && *seq >= 2),
            "{}: {p:?}",
            e.name
        );
    }
}

#[test]
fn audit_verify_catches_a_rewound_head() {
    for e in service_engines() {
        // Deleting the last record and setting the count back leaves the head hash behind.
        let p = problems_after(
            &e,
            &[
                "DELETE FROM audit_log WHERE terminal_id = 'W0000001' AND seq = 3",
                "UPDATE terminals SET checks = 2 WHERE id = 'W0000001'",
            ],
        );
        assert_eq!(p.len(), 1, "{}: {p:?}", e.name);
        assert_eq!((p[0].0.as_str(), p[0].1), ("W0000001", 2), "{}", e.name);
        assert!(p[0].2.contains("head"), "{}: {p:?}", e.name);
    }
}

#[test]
fn the_audit_shows_who_checked_a_person() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let (clinic2, id2) = active_terminal(s, "5E0002");
        let a = s
            .check(&entry(&id2, clinic2, "2025-04-02T09:00:00Z", Some("P1"), 1))
            .unwrap()
            .unwrap();
        s.check(&entry(&id, clinic, "2025-04-02T09:30:00Z", Some("P2"), 2))
            .unwrap()
            .unwrap();
        let b = s
            .check(&entry(&id, clinic, "2025-04-03T09:00:00Z", Some("P1"), 3))
            .unwrap()
            .unwrap();
        let mut unknown = entry(&id, clinic, "2025-04-03T09:05:00Z", None, 4);
        unknown.answer = "4".to_owned();
        s.check(&unknown).unwrap().unwrap();
        assert_eq!(s.audit_for_person("P1").unwrap(), vec![a, b], "{}", e.name);
        assert_eq!(s.audit_for_person("P2").unwrap().len(), 1, "{}", e.name);
        assert_eq!(s.audit_for_person("P3").unwrap(), vec![], "{}", e.name);
    }
}

/// A byte string as an SQL literal of the engine.
fn bytes_literal(e: &ServiceEngine, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if e.name == "sqlite" {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    }
}

/// Rewrites a terminal's records from `from` on with `rewrite`, recomputing every hash (and
/// the head) with `hash`, as someone who can write the database would.
fn rewrite_chain(
    e: &ServiceEngine,
    id: &str,
    from: i64,
    rewrite: impl Fn(&mut AuditEntry),
    hash: impl Fn(&[u8; 32], &AuditEntry, i64) -> [u8; 32],
) {
    let s = e.store.as_ref();
    let records = s.audit_of_terminal(id).unwrap();
    let mut prev = if from == 1 {
        GENESIS_HASH
    } else {
        records[(from - 2) as usize].hash
    };
    for r in records.iter().filter(|r| r.seq >= from) {
        let mut entry = r.entry.clone();
        rewrite(&mut entry);
        let h = hash(&prev, &entry, r.seq);
        e.raw(&format!(
            "UPDATE audit_log SET person_id = {}, prev_hash = {}, hash = {}
             WHERE terminal_id = '{id}' AND seq = {}",
            entry
                .person_id
                .as_ref()
                .map_or("NULL".to_owned(), |p| format!("'{p}'")),
            bytes_literal(e, &prev),
            bytes_literal(e, &h),
            r.seq
        ));
        prev = h;
    }
    e.raw(&format!(
        "UPDATE terminals SET audit_head = {} WHERE id = '{id}'",
        bytes_literal(e, &prev)
    ));
}

#[test]
fn audit_verify_catches_a_chain_rewritten_with_plain_sha256() {
    for e in service_engines() {
        // Someone who can write the database but has no key edits record 2 and recomputes the
        // chain from there, head included, with the documented encoding and SHA-256.
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        three_checks(s, &id, clinic);
        rewrite_chain(
            &e,
            &id,
            2,
            |en| en.person_id = Some(PersonId::parse("P0000000002").unwrap()),
            audit_hash,
        );
        assert_eq!(
            s.audit_of_terminal(&id).unwrap()[1]
                .entry
                .person_id
                .as_ref()
                .map(PersonId::as_str),
            Some("P0000000002"),
            "{}",
            e.name
        );
        let p = s.verify_audit().unwrap().problems;
        assert_eq!(
            p.iter().map(|p| p.seq).collect::<Vec<_>>(),
            [2, 3],
            "{}: {p:?}",
            e.name
        );
        assert!(
            p.iter().all(|p| p.what.contains("key")),
            "{}: {p:?}",
            e.name
        );
    }
}

#[test]
fn audit_verify_with_the_wrong_key_fails() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        three_checks(s, &id, clinic);
        let wrong = AuditKey::from_bytes(&[0xA5; 32]).unwrap();
        // Before any key is adopted: every record fails under the wrong key.
        let v = s.audit_verify(&wrong, &[]).unwrap().unwrap();
        assert_eq!(v.problems.len(), 3, "{}: {:?}", e.name, v.problems);
        // Once the database records its key, the wrong one is refused at once.
        assert_eq!(
            s.adopt_audit_key(&key(), false).unwrap(),
            Ok(0),
            "{}",
            e.name
        );
        assert_eq!(
            s.audit_verify(&wrong, &[]).unwrap(),
            Err(AuditKeyMismatch),
            "{}",
            e.name
        );
        assert_eq!(
            s.adopt_audit_key(&wrong, true).unwrap(),
            Err(AuditKeyMismatch),
            "{}",
            e.name
        );
        assert_eq!(
            s.adopt_audit_key(&key(), false).unwrap(),
            Ok(0),
            "{}",
            e.name
        );
        assert!(s.verify_audit().unwrap().problems.is_empty(), "{}", e.name);
    }
}

#[test]
fn heads_are_listed_and_saved_heads_compared() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let (clinic2, id2) = active_terminal(s, "5E0002");
        let (_, idle) = active_terminal(s, "5E0003");
        let records = three_checks(s, &id, clinic);
        let other = s
            .check(&entry(&id2, clinic2, "2025-04-02T10:00:00Z", None, 50))
            .unwrap()
            .unwrap();
        let v = s.verify_audit().unwrap();
        let heads = vec![
            AuditHead {
                terminal_id: id.clone(),
                seq: 3,
                hash: records[2].hash,
            },
            AuditHead {
                terminal_id: id2.clone(),
                seq: 1,
                hash: other.hash,
            },
        ];
        assert_eq!(v.heads, heads, "{}", e.name);
        assert!(!heads.iter().any(|h| h.terminal_id == idle), "{}", e.name);
        for h in &heads {
            assert_eq!(
                AuditHead::parse_line(&h.line()).as_ref(),
                Some(h),
                "{}",
                e.name
            );
        }
        assert_eq!(AuditHead::parse_line("W0000001 3 abc"), None);

        // The chains grow: the saved heads are still in them.
        s.check(&entry(&id, clinic, "2025-04-02T11:00:00Z", None, 4))
            .unwrap()
            .unwrap();
        let v = s.audit_verify(&key(), &heads).unwrap().unwrap();
        assert!(v.problems.is_empty(), "{}: {:?}", e.name, v.problems);
        assert_eq!(v.heads[0].seq, 4, "{}", e.name);

        // A saved head that differs, or is gone, is reported.
        let mut changed = heads[1].clone();
        changed.hash[0] ^= 1;
        let gone = AuditHead {
            terminal_id: id2.clone(),
            seq: 2,
            hash: other.hash,
        };
        let p = s
            .audit_verify(&key(), &[changed, gone])
            .unwrap()
            .unwrap()
            .problems;
        assert_eq!(p.len(), 2, "{}: {p:?}", e.name);
        assert!(p[0].what.contains("saved head"), "{}: {p:?}", e.name);
        assert!(p[1].what.contains("no longer"), "{}: {p:?}", e.name);
    }
}

#[test]
fn chains_written_before_the_key_are_sealed_when_it_is_adopted() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        three_checks(s, &id, clinic);
        // Make the chain look as the previous version wrote it: plain SHA-256.
        rewrite_chain(&e, &id, 1, |_| {}, audit_hash);
        assert_eq!(
            s.adopt_audit_key(&key(), true).unwrap(),
            Ok(1),
            "{}",
            e.name
        );
        s.check(&entry(&id, clinic, "2025-04-02T11:00:00Z", None, 4))
            .unwrap()
            .unwrap();
        let v = s.verify_audit().unwrap();
        assert_eq!((v.records, v.problems), (4, vec![]), "{}", e.name);

        // Rewriting the old part the old way breaks its seal (and the keyed record after it).
        rewrite_chain(
            &e,
            &id,
            2,
            |en| en.person_id = Some(PersonId::parse("P0000000002").unwrap()),
            audit_hash,
        );
        let p = s.verify_audit().unwrap().problems;
        assert!(
            p.iter().any(|p| p.seq == 3 && p.what.contains("seal")),
            "{}: {p:?}",
            e.name
        );
        // Claiming more records were written before the key does not help either.
        e.raw(&format!(
            "UPDATE terminals SET audit_legacy_seq = 4 WHERE id = '{id}'"
        ));
        let p = s.verify_audit().unwrap().problems;
        assert!(
            p.iter().any(|p| p.what.contains("seal")),
            "{}: {p:?}",
            e.name
        );
    }
}

#[test]
fn a_registration_is_written_with_its_audit_record_or_not_at_all() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        let links = vec![
            link("0001", "P0000000001", false),
            link("0002", "P0000000002", false),
        ];
        import_links(s, &links);
        let registered = |serial: &str| s.card_link(CA_A, serial).unwrap().unwrap().registered;

        let mut en = entry(&id, clinic, "2025-04-02T09:00:00Z", Some("P0000000001"), 1);
        en.mode = AuditMode::Register;
        en.certificate_serial = Some("0001".to_owned());
        let first = s
            .record_check(&key(), &en, Some(&links[0]))
            .unwrap()
            .unwrap();
        assert!(registered("0001"), "{}", e.name);
        assert_eq!(first.seq, 1, "{}", e.name);

        // The audit write fails (the challenge is spent): the card stays unregistered.
        let mut replay = en.clone();
        replay.certificate_serial = Some("0002".to_owned());
        assert_eq!(
            s.record_check(&key(), &replay, Some(&links[1])).unwrap(),
            Err(NonceSpent),
            "{}",
            e.name
        );
        assert!(!registered("0002"), "{}", e.name);
        // The audit write fails (no such terminal): nothing registered.
        let mut nowhere = entry("W0000099", clinic, "2025-04-02T09:01:00Z", None, 2);
        nowhere.mode = AuditMode::Register;
        assert!(s.record_check(&key(), &nowhere, Some(&links[1])).is_err());
        assert!(!registered("0002"), "{}", e.name);
        // A link that is gone: no registration and no audit record (both or neither).
        let missing = link("0009", "P0000000001", false);
        let en3 = entry(&id, clinic, "2025-04-02T09:02:00Z", None, 3);
        assert!(
            matches!(
                s.record_check(&key(), &en3, Some(&missing)),
                Err(StoreError::NotFound { .. })
            ),
            "{}",
            e.name
        );
        assert_eq!(s.terminal(&id).unwrap().unwrap().checks, 1, "{}", e.name);
        assert!(s.verify_audit().unwrap().problems.is_empty(), "{}", e.name);
    }
}

/// Undoes migration 13's partitioning of the audit log (PostgreSQL): one table again, with its
/// unique nonces, and no spent_nonces.
fn unpartition_audit_log(e: &ServiceEngine) {
    for sql in [
        "DROP TABLE spent_nonces",
        "ALTER TABLE audit_log RENAME TO audit_log_partitioned",
        "ALTER TABLE audit_log_partitioned RENAME CONSTRAINT audit_log_pkey TO audit_log_partitioned_pkey",
        "ALTER INDEX audit_by_person RENAME TO audit_partitioned_by_person",
        "ALTER INDEX audit_by_time RENAME TO audit_partitioned_by_time",
        "CREATE TABLE audit_log (
            terminal_id text NOT NULL REFERENCES terminals (id), seq bigint NOT NULL,
            at timestamptz NOT NULL, clinic_id bigint NOT NULL, mode text NOT NULL,
            certificate_serial text, person_id text, answer text NOT NULL,
            reference_number text NOT NULL, nonce_id bytea UNIQUE, prev_hash bytea NOT NULL,
            hash bytea NOT NULL, PRIMARY KEY (terminal_id, seq))",
        "INSERT INTO audit_log SELECT * FROM audit_log_partitioned",
        "DROP TABLE audit_log_partitioned",
        "CREATE INDEX audit_by_person ON audit_log (person_id, at)",
        "CREATE INDEX audit_by_time ON audit_log (at)",
    ] {
        e.raw(sql);
    }
}

/// Each audit table of PostgreSQL that holds rows, with its count.
fn audit_partitions(e: &ServiceEngine) -> Vec<(String, i64)> {
    let mut c = postgres::Client::connect(&e.url, postgres::NoTls).unwrap();
    c.query(
        "SELECT tableoid::regclass::text, count(*) FROM audit_log GROUP BY 1 ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// PostgreSQL: a check lands in its month's partition (created by the store ahead of the first
/// check of a month); a spent challenge stays spent across months.
#[test]
fn spent_challenges_are_forgotten_by_age_and_the_audit_stays() {
    for e in service_engines() {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        for (nonce, at) in [
            (1, "2025-04-01T09:00:00Z"),
            (2, "2025-04-02T09:00:00Z"),
            (3, "2025-04-03T09:00:00Z"),
        ] {
            s.check(&entry(&id, clinic, at, None, nonce))
                .unwrap()
                .unwrap();
        }
        let before = "2025-04-02T12:00:00Z".parse().unwrap();
        let forgotten = s.prune_spent_challenges(before).unwrap();
        if e.name == "postgres" {
            // The two spent before noon of the 2nd; the third is still refused a second time.
            assert_eq!(forgotten, 2, "{}", e.name);
            assert!(s
                .check(&entry(&id, clinic, "2025-04-03T09:01:00Z", None, 3))
                .unwrap()
                .is_err());
        } else {
            // SQLite keeps spent challenges in the audit log itself, never removed.
            assert_eq!(forgotten, 0, "{}", e.name);
        }
        // The audit log is untouched and its chain verifies.
        let v = s.verify_audit().unwrap();
        assert!(v.problems.is_empty(), "{}: {:?}", e.name, v.problems);
        assert_eq!(v.records, 3, "{}", e.name);
    }
}

#[test]
fn audit_rows_land_in_their_months_partition() {
    for e in service_engines()
        .into_iter()
        .filter(|e| e.name == "postgres")
    {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        s.check(&entry(&id, clinic, "2025-04-30T23:59:59Z", None, 1))
            .unwrap()
            .unwrap();
        s.check(&entry(&id, clinic, "2025-05-01T00:00:00Z", None, 2))
            .unwrap()
            .unwrap();
        s.check(&entry(&id, clinic, "2025-05-20T09:00:00Z", None, 3))
            .unwrap()
            .unwrap();
        // The same challenge a month later: refused, though the rows are in another partition.
        assert!(s
            .check(&entry(&id, clinic, "2025-06-01T09:00:00Z", None, 1))
            .unwrap()
            .is_err());
        assert_eq!(
            audit_partitions(&e),
            [
                ("audit_log_y2025m04".to_owned(), 1),
                ("audit_log_y2025m05".to_owned(), 2)
            ]
        );
        // The next month's partition exists ahead of its first check.
        let mut c = postgres::Client::connect(&e.url, postgres::NoTls).unwrap();
        let ahead: bool = c
            .query_one("SELECT to_regclass('audit_log_y2025m06') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        assert!(ahead);
        let v = s.verify_audit().unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.records, 3);
    }
}

/// PostgreSQL: migration 13 moves an existing audit log into month partitions, keeps its
/// challenges spent, and the chain verifies.
#[test]
fn migration_13_partitions_an_existing_audit_log() {
    for e in service_engines()
        .into_iter()
        .filter(|e| e.name == "postgres")
    {
        let s = e.store.as_ref();
        let (clinic, id) = active_terminal(s, "5E0001");
        for (i, at) in [
            "2025-03-31T12:00:00Z",
            "2025-04-01T12:00:00Z",
            "2025-04-02T12:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            s.check(&entry(&id, clinic, at, None, i as u8 + 1))
                .unwrap()
                .unwrap();
        }
        // Back to the schema before migration 13 (and the ones after it).
        e.raw("ALTER TABLE audit_log DROP COLUMN recheck_of");
        e.raw("ALTER TABLE persons DROP COLUMN former_name");
        unpartition_audit_log(&e);
        e.raw("DROP TABLE rate_counters");
        e.raw("DELETE FROM schema_migrations WHERE version >= 13");
        assert_eq!(audit_partitions(&e), [("audit_log".to_owned(), 3)]);
        let s = e.another();
        assert_eq!(
            audit_partitions(&e),
            [
                ("audit_log_y2025m03".to_owned(), 1),
                ("audit_log_y2025m04".to_owned(), 2)
            ]
        );
        assert!(s
            .check(&entry(&id, clinic, "2025-04-03T12:00:00Z", None, 2))
            .unwrap()
            .is_err());
        let next = s
            .check(&entry(&id, clinic, "2025-04-03T12:00:00Z", None, 9))
            .unwrap()
            .unwrap();
        assert_eq!(next.seq, 4);
        let v = s.verify_audit().unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.records, 4);
    }
}

/// The check path (`onshi_store::check_path`): on PostgreSQL the async client, elsewhere the
/// store itself. It answers as the store does, its audit records join the same chain, a spent
/// challenge writes nothing, and 利用登録 happens in the record's transaction.
#[test]
fn the_check_path_answers_as_the_store_does_and_extends_the_same_chain() {
    use onshi_store::link_checks::{self, LinkCheck, LinkStatus};
    use onshi_store::{Blocking, CheckStore};
    use std::sync::Arc;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for e in service_engines() {
        let store: Arc<dyn ServiceStore> = Arc::from(e.another());
        let path = store.check_path();
        assert_eq!(path.is_some(), e.name == "postgres", "{}", e.name);
        let path: Arc<dyn CheckStore> = path.unwrap_or_else(|| Arc::new(Blocking(store.clone())));
        assert_eq!(path.is_async(), e.name == "postgres", "{}", e.name);
        let s = store.as_ref();
        let (clinic, terminal) = active_terminal(s, "5EC0DE");
        let p = person("P0000000001", "霞　太郎", "カスミ　タロウ", "19800102");
        let other = person("P0000000002", "霞　花子", "カスミ　ハナコ", "19820304");
        put(
            s,
            &[p.clone(), other.clone()],
            &[
                record(&p, "01130012", "1234", "00000001", "00", "20200401"),
                record(&other, "01130012", "1234", "00000002", "00", "20200401"),
            ],
        );
        let card = link("0001", "P0000000001", false);
        import_links(s, std::slice::from_ref(&card));
        let check = LinkCheck {
            issuer: CA_A.to_owned(),
            serial: "0001".to_owned(),
            person_id: "P0000000001".to_owned(),
            status: LinkStatus::NameOnly,
            differences: vec!["name".to_owned()],
            holder: None,
            checked_at: t("2025-04-01T00:00:00Z"),
            changed_at: None,
            decision: None,
        };
        link_checks::put_link_checks(s.portal(), std::slice::from_ref(&check)).unwrap();
        let visit = date("20260401");
        let query = onshi_model::KeyQuery {
            insurer_number: onshi_model::InsurerNumber::parse("01130012").unwrap(),
            symbol: Some(onshi_model::InsuredCardSymbol::parse("1234").unwrap()),
            number: onshi_model::InsuredIdentificationNumber::parse("00000002").unwrap(),
            branch: None,
            birthdate: date("19820304"),
        };
        // What the store answers, read first: the blocking PostgreSQL client runs a runtime of
        // its own, not inside this one.
        let terminal_row = s.terminal(&terminal).unwrap();
        let eligibility = s.eligibility_for_person(&p.id, visit).unwrap();
        let by_key = s.eligibility_for_key(&query, visit).unwrap();

        runtime.block_on(async {
            let found = path.active_terminal_by_serial("5EC0DE").await.unwrap();
            assert_eq!(found, terminal_row, "{}", e.name);
            assert_eq!(path.active_terminal_by_serial("FFFF").await.unwrap(), None);

            let looked = path.card_lookup(CA_A, "0001", visit).await.unwrap();
            assert_eq!(looked.link.as_ref(), Some(&card), "{}", e.name);
            assert_eq!(looked.check.as_ref(), Some(&check), "{}", e.name);
            assert_eq!(looked.eligibility, eligibility, "{}", e.name);
            assert_eq!(looked.eligibility.records.len(), 1, "{}", e.name);
            let unknown = path.card_lookup(CA_A, "0404", visit).await.unwrap();
            assert_eq!(
                (
                    unknown.link,
                    unknown.check,
                    unknown.eligibility.records.len()
                ),
                (None, None, 0),
                "{}",
                e.name
            );
            assert_eq!(
                path.eligibility_for_key(&query, visit).await.unwrap(),
                by_key,
                "{}",
                e.name
            );
        });
        // One record by the store, the next by the path, one chain; then the path's 利用登録,
        // and a spent challenge that writes nothing.
        let first = s
            .check(&entry(
                &terminal,
                clinic,
                "2026-04-01T09:00:00Z",
                Some("P0000000001"),
                1,
            ))
            .unwrap()
            .unwrap();
        runtime.block_on(async {
            let second = path
                .record_check(
                    &key(),
                    &entry(
                        &terminal,
                        clinic,
                        "2026-04-01T09:01:00Z",
                        Some("P0000000001"),
                        2,
                    ),
                    Some(&card),
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!((first.seq, second.seq), (1, 2), "{}", e.name);
            assert_eq!(second.prev_hash, first.hash, "{}", e.name);
            let spent = path
                .record_check(
                    &key(),
                    &entry(&terminal, clinic, "2026-04-01T09:02:00Z", None, 2),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(spent, Err(NonceSpent), "{}", e.name);
            let third = path
                .record_check(
                    &key(),
                    &entry(&terminal, clinic, "2026-04-01T09:03:00Z", None, 3),
                    None,
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!((third.seq, third.prev_hash), (3, second.hash), "{}", e.name);
        });
        assert!(s.card_link(CA_A, "0001").unwrap().unwrap().registered);
        let v = s.verify_audit().unwrap();
        assert_eq!((v.records, v.problems.len()), (3, 0), "{}: {v:?}", e.name);
        assert_eq!(s.terminal(&terminal).unwrap().unwrap().checks, 3);
    }
}

/// The async path's audit append opens its transaction by hand (`BEGIN` sent with the head's
/// lock): one that fails before its `COMMIT` is rolled back before its connection is used again,
/// never left "idle in transaction" holding the head's lock.
#[test]
fn a_failed_append_leaves_no_transaction_open_on_postgresql() {
    use onshi_store::StoreOptions;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for e in service_engines()
        .into_iter()
        .filter(|e| e.name == "postgres")
    {
        // One connection: the next call gets the very one that failed.
        let one = StoreOptions {
            pool_size: 1,
            ..StoreOptions::default()
        };
        let store = onshi_store::postgres::PgStore::connect_with(&e.url, &one).unwrap();
        let (clinic, terminal) = active_terminal(&store, "5EC0DF");
        let path = store.check_path().unwrap();
        let failed = runtime.block_on(async {
            let failed = path
                .record_check(
                    &key(),
                    &entry("W9999999", clinic, "2026-04-01T09:00:00Z", None, 1),
                    None,
                )
                .await;
            // The connection back from the pool, after its rollback.
            path.active_terminal_by_serial("5EC0DF").await.unwrap();
            failed
        });
        assert!(
            matches!(
                failed,
                Err(StoreError::NotFound {
                    what: "terminal",
                    ..
                })
            ),
            "{failed:?}"
        );
        let open: u64 = e.raw(
            "UPDATE terminals SET last_used_at = last_used_at
             WHERE EXISTS (SELECT 1 FROM pg_stat_activity
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%')",
        );
        assert_eq!(open, 0, "a connection was left inside its transaction");
        // And the one connection appends and commits as usual.
        runtime
            .block_on(path.record_check(
                &key(),
                &entry(&terminal, clinic, "2026-04-01T09:01:00Z", None, 2),
                None,
            ))
            .unwrap()
            .unwrap();
        assert_eq!(store.terminal(&terminal).unwrap().unwrap().checks, 1);
    }
}

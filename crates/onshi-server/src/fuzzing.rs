//! Entry point for the fuzz target `card_links`: the card authority's `issued.csv` as
//! `onshi admin card-links import` reads it ([`crate::admin::import_card_links`]), fed arbitrary
//! bytes, must not panic, and lands whole or not at all.

use std::path::PathBuf;
use std::sync::OnceLock;

use onshi_model::{Kana, Person, PersonId, PersonName, Sex};
use onshi_store::ServiceStore;

struct Fixture {
    dir: PathBuf,
    store: Box<dyn ServiceStore>,
}

/// What building the fixture can fail with: any of the crates' errors (the fuzzer stops).
type FixtureError = Box<dyn std::error::Error + Send + Sync>;

fn make_fixture() -> Result<Fixture, FixtureError> {
    // A fresh directory per process (the store is created there; left for the OS to clean).
    let dir = std::env::temp_dir().join(format!("onshi-fuzz-card-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = onshi_store::open_service_data_dir(&dir.join("data"))?;
    // One known person, so that rows get past the person check to the times.
    let person = Person {
        id: PersonId::parse("P0000000001")?,
        name: PersonName::parse("試験 太郎")?,
        name_kana: Kana::parse("シケン タロウ")?,
        birthdate: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).ok_or("date")?,
        sex: Sex::FEMALE,
        address: None,
        former_name: None,
    };
    let mut tx = store.begin_import()?;
    tx.put_persons(&[person])?;
    tx.commit()?;
    Ok(Fixture { dir, store })
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match make_fixture() {
        Ok(f) => f,
        // Without its fixture the fuzzer would test nothing: stop at once, loudly.
        Err(e) => panic!("fuzzing fixture: {e}"),
    })
}

/// Imports `data` as `issued.csv`: an error, a list of rejected lines (each with its line
/// number), or every row linked.
pub fn card_links(data: &[u8]) {
    let f = fixture();
    let path: PathBuf = f.dir.join("issued.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    match crate::admin::import_card_links(f.store.as_ref(), &path, false) {
        Ok(Ok(import)) => {
            // Never more links than lines, and every link counted once by the guard.
            let n = import.links;
            let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
            assert!(n <= lines, "{n} links from {lines} lines");
            assert_eq!(
                import.matched
                    + import.name_only
                    + import.held
                    + import.unchecked
                    + import.decisions_kept,
                n
            );
        }
        Ok(Err(errors)) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| !e.message.is_empty()));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn entry_point_takes_samples() {
        for s in [
            "",
            "Serial,PersonId,NotBefore,NotAfter\n",
            "Serial,PersonId,NotBefore,NotAfter\n0A,P0000000001,2026-01-01T00:00:00Z,2031-01-01T00:00:00Z\n",
            "Serial,PersonId,NotBefore,NotAfter\nzz,P0000000002,x,y\n\"",
        ] {
            super::card_links(s.as_bytes());
        }
    }
}

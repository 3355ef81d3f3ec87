//! Crash leftovers in the receipts folder (issue 10, a server killed during a portal upload):
//! an upload's file is written before its row commits, so a SIGKILL between the two, or during
//! the write, leaves a file nobody names. The background round removes those once they are an
//! hour old — never a file a row names, never a younger one (an upload may be in flight).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use chrono::Utc;

use super::claims::{add_item, payable};
use super::harness::*;

fn age(path: &std::path::Path, by: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn a_crash_between_the_file_and_its_row_leaves_nothing_for_long() {
    each_engine(Options::default(), |world| async move {
        let mut clinic = approved_clinic(&world, 1).await;
        add_item(&world, &mut clinic, "equipment", "30000").await;
        payable(&mut clinic, "equipment").await;
        let dir = world.settings.receipts.clone();
        let named: Vec<_> = World::files_under(&dir);
        assert_eq!(named.len(), 3, "a receipt and two documents: {named:?}");
        for f in &named {
            age(&dir.join(f), Duration::from_secs(7200));
        }
        // What a SIGKILL leaves: a stored file whose row never committed, an upload cut off while
        // being written, both old; and the same, young (an upload in flight).
        let orphan = dir.join("ab".repeat(16));
        let cut = dir.join(".upload-cutoff");
        let young = dir.join("cd".repeat(16));
        for f in [&orphan, &cut, &young] {
            std::fs::write(f, b"half").unwrap();
        }
        age(&orphan, Duration::from_secs(7200));
        age(&cut, Duration::from_secs(7200));
        // The round sweeps hourly; this world's earlier rounds (mail) just did.
        *world.portal.swept_at.lock().unwrap() = None;
        let portal = world.portal.clone();
        sync(move || portal.background_round(Utc::now()).unwrap());
        assert!(!orphan.exists(), "an orphaned receipt stayed");
        assert!(!cut.exists(), "a cut-off upload stayed");
        assert!(
            young.exists(),
            "a young file (an upload in flight) was removed"
        );
        for f in &named {
            assert!(
                dir.join(f).exists(),
                "{} (named by a row) was removed",
                f.display()
            );
        }
        // The clinic's receipt still opens.
        let page = clinic.browser.get("/portal/claims/equipment").await;
        page.expect(axum::http::StatusCode::OK);
    })
}

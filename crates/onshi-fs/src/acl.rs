//! Private files the Windows way: a protected DACL (no inherited entries) that lets only the
//! current user and SYSTEM in, the counterpart of a 0700 folder and its 0600 files.
//!
//! What to set and what to accept is decided here, on SDDL text, on every platform (and tested
//! on Linux); the Win32 calls that read and write a file's DACL and the current user's SID are
//! in the Windows-only [`crate::win_acl`] ([`set_private`], [`dacl_sddl`], [`current_user_sid`]).

/// SYSTEM's SID (also written `SY` in SDDL).
pub const SYSTEM_SID: &str = "S-1-5-18";

/// The DACL, in SDDL, that makes a folder (`container`: its files and subfolders inherit it) or
/// a file private to `user_sid`: protected (`P`), full control for the user and SYSTEM only.
pub fn private_dacl_sddl(user_sid: &str, container: bool) -> String {
    let inherit = if container { "OICI" } else { "" };
    format!("D:P(A;{inherit};FA;;;{user_sid})(A;{inherit};FA;;;SY)")
}

/// What a DACL (the `D:` part of an SDDL string) grants, as far as privacy goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaclSummary {
    /// Whether the DACL is protected from its folder's entries (`D:P…`).
    pub protected: bool,
    /// Whether the object has a DACL at all (`D:NO_ACCESS_CONTROL` means everyone may do
    /// anything).
    pub present: bool,
    /// The trustees of the entries that allow something (SIDs or SDDL aliases such as `BU`), in
    /// order, without repeats.
    pub allowed: Vec<String>,
}

impl DaclSummary {
    /// Reads the `D:` part of `sddl` (the text Windows gives for a security descriptor); `None`
    /// when there is none or it is cut short.
    pub fn parse(sddl: &str) -> Option<Self> {
        let start = sddl.find("D:")?;
        let rest = &sddl[start + 2..];
        let flags_end = rest.find('(').unwrap_or(rest.len());
        // The flags (P, AI, AR, NO_ACCESS_CONTROL) end at the first entry or at the SACL (S:).
        let flags = &rest[..flags_end];
        let flags = flags.find("S:").map_or(flags, |i| &flags[..i]);
        let mut summary = Self {
            protected: flags.contains('P') && !flags.contains("NO_ACCESS_CONTROL"),
            present: !flags.contains("NO_ACCESS_CONTROL"),
            allowed: Vec::new(),
        };
        let mut aces = &rest[flags_end..];
        while let Some(body) = aces.strip_prefix('(') {
            let end = body.find(')')?;
            let fields: Vec<&str> = body[..end].split(';').collect();
            if fields.len() < 6 {
                return None;
            }
            let (kind, sid) = (fields[0], fields[5]);
            if matches!(kind, "A" | "OA" | "XA" | "ZA") && !summary.allowed.iter().any(|s| s == sid)
            {
                summary.allowed.push(sid.to_owned());
            }
            aces = &body[end + 1..];
        }
        Some(summary)
    }

    /// The trustees allowed in besides `user_sid` and SYSTEM: empty for a private file.
    pub fn others(&self, user_sid: &str) -> Vec<String> {
        self.allowed
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case(user_sid) && *s != "SY" && *s != SYSTEM_SID)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const USER: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";

    #[test]
    fn the_private_dacl_reads_back_as_private() {
        for container in [true, false] {
            let sddl = private_dacl_sddl(USER, container);
            assert_eq!(sddl.contains("OICI"), container, "{sddl}");
            let s = DaclSummary::parse(&sddl).unwrap();
            assert!(s.protected && s.present, "{sddl}");
            assert_eq!(s.allowed, [USER, "SY"]);
            assert!(s.others(USER).is_empty());
            // Another user's private folder is not this user's.
            assert_eq!(s.others("S-1-5-21-1-2-3-1002"), [USER]);
        }
    }

    #[test]
    fn what_windows_gives_by_default_is_not_private() {
        // %LOCALAPPDATA%'s inherited entries: SYSTEM, Administrators, the user; not protected.
        let inherited = format!(
            "O:{USER}G:{USER}D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;{USER})"
        );
        let s = DaclSummary::parse(&inherited).unwrap();
        assert!(!s.protected);
        assert_eq!(s.others(USER), ["BA"]);
        // A folder everyone can read, whatever else it says; a deny entry grants nothing.
        let s = DaclSummary::parse(&format!(
            "D:P(D;;FA;;;BG)(A;;FA;;;{USER})(A;;0x1200a9;;;BU)S:AI"
        ))
        .unwrap();
        assert!(s.protected);
        assert_eq!(s.others(USER), ["BU"]);
        // No DACL: everyone may do anything.
        let s = DaclSummary::parse("D:NO_ACCESS_CONTROL").unwrap();
        assert!(!s.present && !s.protected);
    }

    #[test]
    fn cut_or_missing_dacls_are_none() {
        assert_eq!(DaclSummary::parse("O:SYG:SY"), None);
        assert_eq!(DaclSummary::parse("D:P(A;;FA;;;SY"), None);
        assert_eq!(DaclSummary::parse("D:P(A;;FA)"), None);
        assert_eq!(DaclSummary::parse("D:").map(|s| s.allowed.len()), Some(0));
    }
}

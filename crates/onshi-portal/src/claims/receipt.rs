//! Receipts: their type judged by their bytes (never by a name or a Content-Type), the
//! uploaded name reduced to something safe to show (never used as a path), storage under a
//! random name in a private folder (written atomically), and the response that serves one back
//! without letting a browser run it.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use onshi_store::StoreError;

use crate::view::PageError;

const PDF_MAGIC: &[u8] = b"%PDF-";
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

/// The longest display name kept (characters).
pub const MAX_NAME_CHARS: usize = 100;
/// Random bytes in a stored file's name.
const STORED_NAME_BYTES: usize = 16;

/// The receipt types accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptType {
    /// PDF (`%PDF-`).
    Pdf,
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
}

impl ReceiptType {
    /// The type of a file by its first bytes; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(PDF_MAGIC) {
            Some(Self::Pdf)
        } else if bytes.starts_with(JPEG_MAGIC) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(PNG_MAGIC) {
            Some(Self::Png)
        } else {
            None
        }
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }

    /// From the stored word.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pdf" => Ok(Self::Pdf),
            "jpeg" => Ok(Self::Jpeg),
            "png" => Ok(Self::Png),
            other => Err(StoreError::Data(format!("receipt type {other:?}"))),
        }
    }

    /// The media type it is served with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    /// The extension of the name it is served under (`receipt.pdf`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    /// For pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pdf => "PDF",
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
        }
    }

    /// Whether a page may show it in an `<img>`.
    pub fn is_image(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png)
    }
}

fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The uploaded file's name reduced to a display name: only its last component (after any `/`
/// or `\`), without control or direction-changing characters or leading dots, at most
/// [`MAX_NAME_CHARS`] characters; `receipt` when nothing is left. It is only ever shown
/// (escaped), never used as a path or in a header.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last.chars().filter(|c| !is_invisible_control(*c)).collect();
    let kept = kept.trim().trim_start_matches('.').trim();
    let short: String = kept.chars().take(MAX_NAME_CHARS).collect();
    if short.is_empty() {
        "receipt".to_owned()
    } else {
        short
    }
}

/// Whether `name` is one of ours (hex of the right length): checked before any stored name
/// becomes a path, though only the server ever writes them.
pub fn is_stored_name(name: &str) -> bool {
    name.len() == STORED_NAME_BYTES * 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn path_of(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    if is_stored_name(name) {
        Ok(dir.join(name))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a stored receipt name: {name:?}"),
        ))
    }
}

/// Creates the receipts folder (owner only) when missing.
fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a receipt under a new random name in `dir` (a temporary file, synced, then renamed
/// into place, owner-only) and returns the name.
pub fn store(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    ensure_dir(dir)?;
    let mut random = [0u8; STORED_NAME_BYTES];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let name = hex::encode(random);
    // `.upload-*`: what [`sweep_orphans`] knows as an unfinished upload.
    let mut tmp = onshi_fs::AtomicFile::create_with_prefix(
        &path_of(dir, &name)?,
        onshi_fs::MODE_PRIVATE,
        ".upload-",
    )?;
    tmp.write_all(bytes)?;
    tmp.commit_new()?;
    Ok(name)
}

/// Files younger than this are left by [`sweep_orphans`]: an upload may be between writing its
/// file and committing its row (in this instance or another sharing the folder).
pub const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes what a crash left in the receipts folder: stored files that no claim item or claim
/// document names (written, then the process died before its row committed) and unfinished
/// uploads (`.upload-*`, killed while writing), older than `min_age`. Returns how many were
/// removed. Files a row names are never touched.
pub fn sweep_orphans(
    db: &dyn onshi_store::portal::PortalDb,
    dir: &Path,
    min_age: std::time::Duration,
) -> Result<usize, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::Data(format!("{}: {e}", dir.display()))),
    };
    // The names first, the rows after: a file written after this listing is younger than
    // `min_age` anyway.
    let mut candidates = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= min_age);
        if old && (is_stored_name(&name) || name.starts_with(".upload-")) {
            candidates.push(name);
        }
    }
    if candidates.is_empty() {
        return Ok(0);
    }
    let named: std::collections::HashSet<String> = onshi_store::portal::read(db, |tx| {
        let mut names = std::collections::HashSet::new();
        for sql in [
            "SELECT receipt_file FROM portal_claim_items",
            "SELECT file FROM portal_claim_documents",
        ] {
            for row in tx.query(sql, &[])? {
                names.insert(row.text(0)?);
            }
        }
        Ok(names)
    })?;
    let mut removed = 0;
    for name in candidates.iter().filter(|n| !named.contains(*n)) {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(error = %e, file = %name, "could not remove an orphaned upload")
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "orphaned receipt files removed (left by a crash)");
    }
    Ok(removed)
}

/// Removes a stored receipt; a failure is logged (the row is already gone).
pub fn remove(dir: &Path, name: &str) {
    if let Err(e) = path_of(dir, name).and_then(std::fs::remove_file) {
        tracing::warn!(error = %e, file = name, "could not remove a receipt file");
    }
}

/// Reads a stored receipt.
pub fn read(dir: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(path_of(dir, name)?)
}

/// Serves a receipt: its sniffed type, `inline` under a fixed name (never the uploaded or the
/// stored one), no sniffing, and a sandbox so that nothing in it runs with the portal's origin.
pub fn response(kind: ReceiptType, bytes: Vec<u8>) -> Response {
    let disposition = format!("inline; filename=\"receipt.{}\"", kind.extension());
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    response
}

/// Reads a stored receipt and serves it; a missing file is a missing page.
pub fn serve(dir: &Path, name: &str, kind: ReceiptType) -> Result<Response, PageError> {
    match read(dir, name) {
        Ok(bytes) => Ok(response(kind, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(file = name, "a receipt's file is missing");
            Err(PageError::not_found())
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

/// A size for pages: 820 KB, 1.2 MB.
pub fn size_label(bytes: i64) -> String {
    const KB: i64 = 1024;
    if bytes < KB * KB {
        format!("{} KB", (bytes + KB - 1) / KB)
    } else {
        format!(
            "{}.{} MB",
            bytes / (KB * KB),
            bytes % (KB * KB) * 10 / (KB * KB)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_judged_by_bytes() {
        assert_eq!(ReceiptType::sniff(b"%PDF-1.7\n..."), Some(ReceiptType::Pdf));
        assert_eq!(
            ReceiptType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ReceiptType::Jpeg)
        );
        assert_eq!(
            ReceiptType::sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some(ReceiptType::Png)
        );
        for bad in [
            &b""[..],
            b"%PDF",
            b" %PDF-1.7",
            b"<html><script>alert(1)</script>",
            b"GIF89a",
            &[0xFF, 0xD8],
            &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A],
            b"PK\x03\x04",
        ] {
            assert_eq!(ReceiptType::sniff(bad), None, "{bad:?}");
        }
        for t in [ReceiptType::Pdf, ReceiptType::Jpeg, ReceiptType::Png] {
            assert_eq!(ReceiptType::parse(t.as_str()).ok(), Some(t));
        }
        assert!(ReceiptType::parse("html").is_err());
    }

    #[test]
    fn names_are_reduced_to_display_names() {
        assert_eq!(display_name("領収書.pdf"), "領収書.pdf");
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\a\\receipt.png"), "receipt.png");
        assert_eq!(display_name(".."), "receipt");
        assert_eq!(display_name(""), "receipt");
        assert_eq!(display_name("a/"), "receipt");
        assert_eq!(display_name(".htaccess"), "htaccess");
        assert_eq!(display_name("a\u{0}b\r\n.pdf"), "ab.pdf");
        assert_eq!(display_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        let long = display_name(&"あ".repeat(5000));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn stored_files_are_private_and_named_at_random() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let receipts = dir.path().join("receipts");
        let a = store(&receipts, b"%PDF-1.4 a").unwrap_or_else(|e| panic!("{e}"));
        let b = store(&receipts, b"%PDF-1.4 b").unwrap_or_else(|e| panic!("{e}"));
        assert!(is_stored_name(&a) && is_stored_name(&b) && a != b);
        assert_eq!(
            read(&receipts, &a).ok().as_deref(),
            Some(&b"%PDF-1.4 a"[..])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            assert_eq!(mode(&receipts), 0o700);
            assert_eq!(mode(&receipts.join(&a)), 0o600);
        }
        // Only the two receipts: no temporary file left behind.
        let names = std::fs::read_dir(&receipts)
            .unwrap_or_else(|e| panic!("{e}"))
            .count();
        assert_eq!(names, 2);
        assert!(read(&receipts, "../receipts").is_err());
        assert!(read(&receipts, &"0".repeat(31)).is_err());
        remove(&receipts, &a);
        assert!(read(&receipts, &a).is_err());
    }

    #[test]
    fn served_receipts_cannot_run() {
        let r = response(ReceiptType::Png, vec![1, 2, 3]);
        let h = r.headers();
        let get = |k: header::HeaderName| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get(header::CONTENT_TYPE), "image/png");
        assert_eq!(
            get(header::CONTENT_DISPOSITION),
            "inline; filename=\"receipt.png\""
        );
        assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(get(header::CONTENT_SECURITY_POLICY), "sandbox");
        assert_eq!(size_label(820 * 1024), "820 KB");
        assert_eq!(size_label(1), "1 KB");
        assert_eq!(size_label(1024 * 1024 * 3 / 2), "1.5 MB");
    }
}

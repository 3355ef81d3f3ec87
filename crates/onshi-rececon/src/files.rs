//! The output folder: file names that every known reader pattern accepts, and atomic writes
//! (a temporary file in the same folder, fsync, rename) so a watcher never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sjis::{self, Folder, Mapped};
use crate::{clipboard_text, json, xml, CheckResult, Encoding, RececonError};

/// The prefix of the result files (`OQSsiquc01res_`), followed by `face_` like the files the
/// face-recognition card readers leave in the OQS `face` folder.
pub const PREFIX: &str = "OQSsiquc01res_face_";

/// The stem shared by the three files:
/// `OQSsiquc01res_face_<institution code>-<reference number>_<yyyyMMddHHmmss>`.
///
/// It matches `OQSsiquc01res_*.xml` and `OQSsiquc01res_face_.+_(\d{14})\.xml` (the 14 digits
/// being the time of the check); the id part holds no `_`, so a reader splitting on `_` finds
/// the time last.
/// The 照会番号 comes from the service, so it is an [`onshi_model::ReferenceNumber`]: only the
/// issued form (22 digits and upper-case hex), never a `/`, `..` or NUL that would leave the
/// folder.
pub fn file_stem(result: &CheckResult<'_>) -> String {
    format!(
        "{PREFIX}{}-{}_{}",
        result.institution_code,
        result.reference_number,
        result.processed_at.format("%Y%m%d%H%M%S")
    )
}

/// The name of the XML file: [`file_stem`] + `.xml` (the text and JSON files end `.txt`, `.json`).
pub fn file_name(result: &CheckResult<'_>) -> String {
    format!("{}.xml", file_stem(result))
}

/// What [`write_all`] wrote.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Written {
    /// The XML, text and JSON files, in that order.
    pub paths: Vec<PathBuf>,
    /// Every character the Shift_JIS files could not carry (empty for UTF-8).
    pub mapped: Vec<Mapped>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RececonError + '_ {
    move |source| RececonError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `dir/name` atomically: a temporary file in `dir`, fsync, rename, then
/// fsync of the folder where the platform allows it.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, RececonError> {
    let path = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(".onshi-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(&path))?;
    tmp.persist(&path).map_err(|e| RececonError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        // Best effort: the rename is already visible; this only makes it durable.
        let _ = d.sync_all();
    }
    Ok(path)
}

/// The clipboard text in `encoding`, with its mappings.
fn text_bytes(
    result: &CheckResult<'_>,
    encoding: Encoding,
) -> Result<(Vec<u8>, Vec<Mapped>), RececonError> {
    let text = clipboard_text(result);
    match encoding {
        Encoding::Utf8 => Ok((text.into_bytes(), Vec::new())),
        Encoding::ShiftJis => {
            let mut f = Folder::default();
            let mut folded = String::with_capacity(text.len());
            for line in text.split_inclusive(crate::clipboard::CRLF) {
                let field = line
                    .split_once('\t')
                    .map_or("", |(label, _)| field_of_label(label));
                folded.push_str(&f.fold(field, line));
            }
            Ok((sjis::encode(&folded)?, f.mapped))
        }
    }
}

/// The element name of a clipboard label, so mappings name the same field in every file.
fn field_of_label(label: &str) -> &'static str {
    match label {
        "保険者名" => "InsurerName",
        "記号" => "InsuredCardSymbol",
        "番号" => "InsuredIdentificationNumber",
        "氏名" => "Name",
        "被保険者氏名" => "InsuredName",
        _ => "",
    }
}

/// Writes the XML, the clipboard text (same encoding, CRLF) and the JSON (UTF-8) of a check
/// into `dir`, creating it if needed, each file atomically.
pub fn write_all(
    dir: &Path,
    result: &CheckResult<'_>,
    encoding: Encoding,
) -> Result<Written, RececonError> {
    let out = xml(result, encoding)?;
    let (text, text_mapped) = text_bytes(result, encoding)?;
    let json = json(result);
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let stem = file_stem(result);
    let paths = vec![
        write_atomic(dir, &format!("{stem}.xml"), &out.bytes)?,
        write_atomic(dir, &format!("{stem}.txt"), &text)?,
        write_atomic(dir, &format!("{stem}.json"), json.as_bytes())?,
    ];
    let mut mapped = out.mapped;
    for m in text_mapped {
        if !mapped
            .iter()
            .any(|x| x.original == m.original && x.field == m.field)
        {
            mapped.push(m);
        }
    }
    Ok(Written { paths, mapped })
}

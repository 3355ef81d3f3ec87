//! The output folder: file names that every known reader pattern accepts, and atomic writes
//! (a temporary file in the same folder, fsync, rename) so a watcher never sees half a file.

use std::path::{Path, PathBuf};

use crate::sjis::{self, Folder, Mapped};
use crate::{clipboard_text, json, xml, CheckResult, Encoding, Part, RececonError};

/// The prefix of the result files (`OQSsiquc01res_`), followed by `face_` like the files the
/// face-recognition card readers leave in the OQS `face` folder.
pub const PREFIX: &str = "OQSsiquc01res_face_";

/// The stem of a part's files:
/// `OQSsiquc01res_face_<institution code>-<reference number>[-<n>]_<yyyyMMddHHmmss>`, with
/// `-<n>` for the n-th record of an answer with several.
///
/// It matches `OQSsiquc01res_*.xml` and `OQSsiquc01res_face_.+_(\d{14})\.xml` (the 14 digits
/// being the time of the check); the id part holds no `_`, so a reader splitting on `_` finds
/// the time last.
/// The 照会番号 comes from the service, so it is an [`onshi_model::ReferenceNumber`]: only the
/// issued form (22 digits and upper-case hex), never a `/`, `..` or NUL that would leave the
/// folder.
pub fn file_stem(part: &Part<'_>) -> String {
    let c = &part.check;
    let number = part.number.map(|n| format!("-{n}")).unwrap_or_default();
    format!(
        "{PREFIX}{}-{}{number}_{}",
        c.institution_code,
        c.reference_number,
        c.processed_at.format("%Y%m%d%H%M%S")
    )
}

/// The name of a part's XML file: [`file_stem`] + `.xml` (its text file ends `.txt`).
pub fn file_name(part: &Part<'_>) -> String {
    format!("{}.xml", file_stem(part))
}

/// The stem of the check's one JSON file: the stem of a part without the record number.
fn json_stem(result: &CheckResult<'_>) -> String {
    let whole = Part {
        check: *result,
        record: None,
        number: None,
    };
    file_stem(&whole)
}

/// What [`write_all`] wrote.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Written {
    /// The XML files, one per part (record), in the answer's order.
    pub xml: Vec<PathBuf>,
    /// The clipboard texts, one per part: `None` where none is written (an answer that is not
    /// 有効).
    pub text: Vec<Option<PathBuf>>,
    /// The JSON file of the whole answer.
    pub json: PathBuf,
    /// Every character the Shift_JIS files could not carry (empty for UTF-8).
    pub mapped: Vec<Mapped>,
}

impl Written {
    /// Every file written, XML and text of each part, then the JSON.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        for (x, t) in self.xml.iter().zip(&self.text) {
            out.push(x.as_path());
            out.extend(t.as_deref());
        }
        out.push(&self.json);
        out
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RececonError + '_ {
    move |source| RececonError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `dir/name` atomically ([`onshi_fs::write_atomic`]: a `.onshi-*.tmp` file in
/// `dir`, fsync, rename, fsync of the folder), readable by the receipt computer (0644).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, RececonError> {
    let path = dir.join(name);
    onshi_fs::write_atomic(&path, bytes, onshi_fs::MODE_PUBLIC).map_err(io_err(&path))?;
    Ok(path)
}

/// A clipboard text in `encoding`, with its mappings.
fn text_bytes(text: &str, encoding: Encoding) -> Result<(Vec<u8>, Vec<Mapped>), RececonError> {
    match encoding {
        Encoding::Utf8 => Ok((text.as_bytes().to_vec(), Vec::new())),
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

/// The bytes of a part's text file, as written: `None` when the part has no clipboard text.
pub fn text_file(part: &Part<'_>, encoding: Encoding) -> Result<Option<Vec<u8>>, RececonError> {
    clipboard_text(part)
        .map(|t| text_bytes(&t, encoding).map(|(bytes, _)| bytes))
        .transpose()
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

fn add(mapped: &mut Vec<Mapped>, more: Vec<Mapped>) {
    for m in more {
        if !mapped
            .iter()
            .any(|x| x.original == m.original && x.field == m.field)
        {
            mapped.push(m);
        }
    }
}

/// Writes, into `dir` (created if needed), for each part of the check its XML and (for a 有効
/// answer) its clipboard text in `encoding`, then the JSON (UTF-8) of the whole answer; each
/// file atomically. A reader keyed on the XML finds its text written already; the JSON comes last.
pub fn write_all(
    dir: &Path,
    result: &CheckResult<'_>,
    encoding: Encoding,
) -> Result<Written, RececonError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Written {
        xml: Vec::new(),
        text: Vec::new(),
        json: PathBuf::new(),
        mapped: Vec::new(),
    };
    for part in result.parts() {
        let stem = file_stem(&part);
        let out = xml(&part, encoding)?;
        add(&mut written.mapped, out.mapped);
        let text = match clipboard_text(&part) {
            Some(t) => {
                let (bytes, mapped) = text_bytes(&t, encoding)?;
                add(&mut written.mapped, mapped);
                Some(write_atomic(dir, &format!("{stem}.txt"), &bytes)?)
            }
            None => None,
        };
        written
            .xml
            .push(write_atomic(dir, &format!("{stem}.xml"), &out.bytes)?);
        written.text.push(text);
    }
    written.json = write_atomic(
        dir,
        &format!("{}.json", json_stem(result)),
        json(result).as_bytes(),
    )?;
    Ok(written)
}

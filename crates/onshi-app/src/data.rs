//! The app's data directory: its files, their modes, and `app.toml`.
//!
//! | file                | mode | what                                                         |
//! |---------------------|------|--------------------------------------------------------------|
//! | (the directory)     | 0700 | created by `onshi app enroll`                                |
//! | `terminal-key.pem`  | 0600 | the terminal's P-256 key (PKCS#8), never printed             |
//! | `terminal.pem`      | 0644 | the terminal's client certificate, issued by the service     |
//! | `server-ca.pem`     | 0644 | the only CA trusted for the service (absent: system roots)   |
//! | `app.toml`          | 0600 | server URL, account, output folder and encoding              |
//! | `history.jsonl`     | 0600 | the terminal's own log of checks (90 days)                   |
//! | `rececon/`          |      | default output folder for the receipt computer               |

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{Identity, ServerUrl};
use crate::error::AppError;

/// The terminal's key.
pub const KEY_FILE: &str = "terminal-key.pem";
/// The terminal's certificate.
pub const CERT_FILE: &str = "terminal.pem";
/// The service's CA.
pub const SERVER_CA_FILE: &str = "server-ca.pem";
/// The settings.
pub const CONFIG_FILE: &str = "app.toml";
/// The history of checks.
pub const HISTORY_FILE: &str = "history.jsonl";
/// The default output folder for the receipt computer.
pub const RECECON_DIR: &str = "rececon";
/// Suffix of the files a renewal writes before it moves them into place.
pub const PENDING_SUFFIX: &str = ".new";

/// Encodings of the receipt-computer files: the writers' own type.
pub use onshi_rececon::Encoding;

/// Where and how the result files for the receipt computer are written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RececonConfig {
    /// The output folder receipt computers watch.
    pub output: PathBuf,
    /// The files' encoding.
    pub encoding: Encoding,
    /// The folders under which the desk's page may set `output` (`allowed_output_roots`); when
    /// empty, the app's data directory and the user's home. Only this file widens it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_output_roots: Vec<PathBuf>,
    /// The clinic's 10-digit 医療機関等コード for the files' MedicalInstitutionCode and names
    /// (`institution_code`); ten zeros while it is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_code: Option<onshi_rececon::InstitutionCode>,
}

impl RececonConfig {
    /// The code the files carry: the configured one or [`onshi_rececon::InstitutionCode::UNKNOWN`].
    pub fn institution_code(&self) -> onshi_rececon::InstitutionCode {
        self.institution_code
            .unwrap_or(onshi_rececon::InstitutionCode::UNKNOWN)
    }
}

impl RececonConfig {
    /// The folders the desk's page may put the output under: `allowed_output_roots`, or the
    /// data directory `dir` and the user's home.
    pub fn output_roots(&self, dir: &Path) -> Vec<PathBuf> {
        if !self.allowed_output_roots.is_empty() {
            return self.allowed_output_roots.clone();
        }
        // A relative data directory (`--data desk`) is where the desk was started from: absolute
        // here, or no output folder under it could ever be allowed.
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut roots = vec![dir];
        let home = std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" });
        if let Some(home) = home.filter(|h| !h.is_empty()) {
            roots.push(PathBuf::from(home));
        }
        roots
    }
}

/// `path` with its symbolic links resolved: the deepest part that exists, canonicalised, and
/// the rest (which does not exist yet, so holds no link) appended. `None` for a relative path
/// or one with `..`.
fn resolve(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    let mut rest = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return Some(out);
        }
        rest.push(existing.file_name()?.to_owned());
        existing = existing.parent()?;
    }
}

/// Checks that the output folder `output` lies under one of `roots` (symbolic links resolved,
/// no `..`), and returns it resolved. The refusal says in Japanese where it may go and how the
/// settings file allows more.
pub fn allowed_output(output: &Path, roots: &[PathBuf]) -> Result<PathBuf, AppError> {
    let refused = || AppError::OutputNotAllowed {
        folder: output.display().to_string(),
        roots: roots.iter().map(|r| r.display().to_string()).collect(),
    };
    let resolved = resolve(output).ok_or_else(refused)?;
    let inside = roots
        .iter()
        .filter_map(|r| resolve(r))
        .any(|root| resolved.starts_with(&root));
    if inside {
        Ok(resolved)
    } else {
        Err(refused())
    }
}

/// `app.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The service, `https://HOST:PORT`.
    pub server: String,
    /// The terminal's account (`W0000001`): its id at the service, bound into every signature.
    pub account: String,
    /// The terminal's name from the portal's settings file (受付PC …), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The receipt-computer link.
    pub rececon: RececonConfig,
    /// The card reader the desk UI uses (`pcsc`, `pcsc:NAME`, `emu:FILE`); `pcsc` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<String>,
}

impl AppConfig {
    /// Reads `DIR/app.toml`, then the overlay `ONSHI_APP_SERVER`, `ONSHI_APP_RECECON_OUTPUT`,
    /// `ONSHI_APP_RECECON_ENCODING` and `ONSHI_APP_RECECON_INSTITUTION_CODE`. Errors name the
    /// file and the key.
    pub fn load(dir: &Path) -> Result<Self, AppError> {
        let mut config = Self::load_file(dir)?;
        if let Ok(v) = std::env::var("ONSHI_APP_SERVER") {
            config.server = v;
        }
        if let Ok(v) = std::env::var("ONSHI_APP_RECECON_OUTPUT") {
            config.rececon.output = v.into();
        }
        if let Ok(v) = std::env::var("ONSHI_APP_RECECON_ENCODING") {
            config.rececon.encoding =
                toml::Value::String(v.clone())
                    .try_into()
                    .map_err(|_| AppError::Data {
                        file: "ONSHI_APP_RECECON_ENCODING".into(),
                        reason: format!("encoding {v:?}: utf-8 か shift_jis / utf-8 or shift_jis"),
                    })?;
        }
        if let Ok(v) = std::env::var("ONSHI_APP_RECECON_INSTITUTION_CODE") {
            config.rececon.institution_code = Some(
                onshi_rececon::InstitutionCode::parse(&v).map_err(|e| AppError::Data {
                    file: "ONSHI_APP_RECECON_INSTITUTION_CODE".into(),
                    reason: e.to_string(),
                })?,
            );
        }
        config
            .server_url()
            .map_err(|e| AppError::data(&dir.join(CONFIG_FILE), format!("server: {e}")))?;
        Ok(config)
    }

    /// Reads `DIR/app.toml` alone, without the environment's overlay: what settings screens
    /// edit and [`AppConfig::save`] writes back.
    pub fn load_file(dir: &Path) -> Result<Self, AppError> {
        let file = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AppError::NotEnrolled(dir.display().to_string()))
            }
            Err(e) => return Err(AppError::data(&file, e)),
        };
        toml::from_str(&text).map_err(|e| AppError::data(&file, e))
    }

    /// The terminal as the staff know it: `受付PC（W0000001）`, or the account alone when the
    /// terminal has no name.
    pub fn terminal_label(&self) -> String {
        match self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => format!("{name}（{}）", self.account),
            None => self.account.clone(),
        }
    }

    /// The service's URL.
    pub fn server_url(&self) -> Result<ServerUrl, AppError> {
        Ok(ServerUrl::parse(&self.server)?)
    }

    /// Writes `DIR/app.toml` (0600).
    pub fn save(&self, dir: &Path) -> Result<(), AppError> {
        let file = dir.join(CONFIG_FILE);
        let text = toml::to_string(self).map_err(|e| AppError::data(&file, e))?;
        let text = format!("# onshi reception app settings (onshi app enroll)\n{text}");
        write_file(&file, text.as_bytes(), 0o600)
    }
}

/// The server CA the app trusts (`server-ca.pem`), or `None` when the app was enrolled
/// against the system's roots.
pub fn server_ca(dir: &Path) -> Result<Option<String>, AppError> {
    let file = dir.join(SERVER_CA_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::data(&file, e)),
    }
}

/// Writes a file atomically with `mode` ([`onshi_fs::write_atomic`]: the mode is set before a
/// byte is written, then fsync, rename, fsync of the folder).
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AppError> {
    onshi_fs::write_atomic(path, bytes, mode).map_err(|e| AppError::data(path, e))
}

/// Creates the data directory (and its parents) owner-only (0700) from the start, or narrows an
/// existing one to 0700; on Windows gives it a protected ACL for the current user and SYSTEM,
/// which the files in it inherit ([`onshi_fs::set_private_acl`]).
pub fn create_private_dir(dir: &Path) -> Result<(), AppError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .and_then(|()| set_mode(dir, 0o700))
        .and_then(|()| onshi_fs::set_private_acl(dir, true))
        .map_err(|e| AppError::data(dir, e))
}

/// Sets a file's Unix permissions (nothing elsewhere).
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Reads a text file of the data directory, naming it on error.
pub fn read_text(path: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|e| AppError::data(path, e))
}

/// Loads the terminal's identity, first finishing a renewal that stopped between its renames.
pub fn load_identity(dir: &Path) -> Result<Identity, AppError> {
    finish_pending_renewal(dir)?;
    let key = dir.join(KEY_FILE);
    if !key.exists() {
        return Err(AppError::NotEnrolled(dir.display().to_string()));
    }
    Ok(Identity {
        certificate_pem: read_text(&dir.join(CERT_FILE))?,
        key_pem: zeroize::Zeroizing::new(read_text(&key)?),
    })
}

/// A renewal writes `terminal-key.pem.new`, then (once the service answered)
/// `terminal.pem.new`, then renames the key and then the certificate. A certificate waiting under
/// its `.new` name means the service already switched: complete the renames. A key alone means
/// the service never answered: drop it.
fn finish_pending_renewal(dir: &Path) -> Result<(), AppError> {
    let pending = |f: &str| dir.join(format!("{f}{PENDING_SUFFIX}"));
    let (key_new, cert_new) = (pending(KEY_FILE), pending(CERT_FILE));
    if cert_new.exists() {
        if key_new.exists() {
            onshi_fs::rename_durable(&key_new, &dir.join(KEY_FILE))
                .map_err(|e| AppError::data(&key_new, e))?;
        }
        onshi_fs::rename_durable(&cert_new, &dir.join(CERT_FILE))
            .map_err(|e| AppError::data(&cert_new, e))?;
    } else if key_new.exists() {
        std::fs::remove_file(&key_new).map_err(|e| AppError::data(&key_new, e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_institution_code_is_ten_digits_and_named_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let write = |code: &str| {
            std::fs::write(
                dir.path().join(CONFIG_FILE),
                format!(
                    "server = \"https://127.0.0.1:8443\"\naccount = \"W0000001\"\n\
                     [rececon]\noutput = \"/tmp/x\"\nencoding = \"utf-8\"\n{code}"
                ),
            )
            .unwrap();
        };
        write("");
        let c = AppConfig::load_file(dir.path()).unwrap();
        assert_eq!(
            c.rececon.institution_code(),
            onshi_rececon::InstitutionCode::UNKNOWN
        );
        write("institution_code = \"1312345678\"\n");
        let c = AppConfig::load_file(dir.path()).unwrap();
        assert_eq!(c.rececon.institution_code().as_str(), "1312345678");
        // Written back as it was read.
        c.save(dir.path()).unwrap();
        let again = AppConfig::load_file(dir.path()).unwrap();
        assert_eq!(again, c);
        write("institution_code = \"13123\"\n");
        let e = AppConfig::load_file(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("app.toml") && e.contains("institution_code"),
            "{e}"
        );
    }

    /// A data directory given relative (`--data desk`) is a root all the same: the one under the
    /// directory the desk was started from.
    #[test]
    fn a_relative_data_directory_is_an_absolute_root() {
        let config = RececonConfig {
            output: PathBuf::from("desk/rececon"),
            encoding: Encoding::Utf8,
            allowed_output_roots: Vec::new(),
            institution_code: None,
        };
        let roots = config.output_roots(Path::new("desk"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(roots[0], cwd.join("desk"));
        assert!(allowed_output(&cwd.join("desk").join("sjis"), &roots).is_ok());
    }

    /// Finding 7: the output folder only under a root the settings file allows, with `..` and
    /// symbolic links resolved first.
    #[test]
    fn the_output_folder_stays_under_an_allowed_root() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let roots = vec![allowed.clone()];

        let ok = allowed_output(&allowed.join("rececon/new"), &roots).unwrap();
        assert!(ok.starts_with(std::fs::canonicalize(&allowed).unwrap()));
        assert!(allowed_output(&allowed, &roots).is_ok());

        for bad in [
            outside.join("rececon"),
            allowed.join("../outside/x"),
            PathBuf::from("relative/folder"),
            PathBuf::from("/"),
            root.path().join("allowed-not"),
        ] {
            let e = allowed_output(&bad, &roots).unwrap_err();
            assert!(matches!(e, AppError::OutputNotAllowed { .. }), "{bad:?}");
            let ja = e.message_ja();
            assert!(ja.contains("許可された場所") && ja.contains("allowed_output_roots"));
        }
        #[cfg(unix)]
        {
            // A link inside the allowed root that points outside it does not widen it.
            std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
            assert!(allowed_output(&allowed.join("link/x"), &roots).is_err());
        }

        // The default roots: the data directory (and home); the settings file widens them.
        let mut config = RececonConfig {
            output: allowed.join("rececon"),
            encoding: Encoding::Utf8,
            allowed_output_roots: Vec::new(),
            institution_code: None,
        };
        assert_eq!(config.output_roots(&allowed)[0], allowed);
        config.allowed_output_roots = vec![outside.clone()];
        assert_eq!(
            config.output_roots(&allowed),
            std::slice::from_ref(&outside)
        );
        assert!(allowed_output(&outside.join("x"), &config.output_roots(&allowed)).is_ok());
    }
}

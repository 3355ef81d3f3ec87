//! The desk on the clinic's PC without a command line: started at login, opened in the browser
//! from the menu.
//!
//! - `onshi app install` writes a systemd user unit that runs the desk (`onshi app ui`) for the
//!   logged-in user and enables it, a menu entry 「オンライン資格確認（受付）」 and an autostart
//!   entry that both run `onshi app open` (the browser, on the desk's current one-time address).
//!   `onshi app uninstall` removes them; the data directory stays.
//! - While it runs, the desk keeps its current one-time address in [`DESK_LOGIN_FILE`] in the data
//!   directory (0600, like the terminal's key beside it): opening it once gives that browser the
//!   desk's cookie, and the desk writes the next address there at once. Only this user (who can
//!   read the terminal's key anyway) can read it.
//!
//! Windows and macOS: see `docs/desk.md` (a Startup-folder entry or a login item; not built or
//! tested here).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::AppError;

/// The file in the data directory holding the desk's current one-time address.
pub const DESK_LOGIN_FILE: &str = "desk-login.url";
/// The systemd user unit's name.
pub const UNIT_NAME: &str = "onshi-desk.service";
/// The desktop entries' name.
pub const DESKTOP_NAME: &str = "onshi-desk.desktop";
/// What the menu shows.
pub const MENU_TITLE: &str = "オンライン資格確認（受付）";

/// The app's data directory by default on Windows: `%LOCALAPPDATA%\onshi` (this user's, not
/// roaming), from the value of `LOCALAPPDATA`; `None` when it is unset or empty.
pub fn windows_data_dir(local_app_data: Option<std::ffi::OsString>) -> Option<PathBuf> {
    local_app_data
        .filter(|v| !v.is_empty())
        .map(|v| PathBuf::from(v).join("onshi"))
}

/// Where a user's configuration and data files go (XDG base directories).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDirs {
    /// `$XDG_CONFIG_HOME`, or `~/.config`.
    pub config: PathBuf,
    /// `$XDG_DATA_HOME`, or `~/.local/share`.
    pub data: PathBuf,
}

impl UserDirs {
    /// From the environment; `None` without `HOME`.
    pub fn from_env() -> Option<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let xdg = |name: &str, fallback: &[&str]| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| {
                    home.as_ref()
                        .map(|h| fallback.iter().fold(h.clone(), |p, part| p.join(part)))
                })
        };
        Some(Self {
            config: xdg("XDG_CONFIG_HOME", &[".config"])?,
            data: xdg("XDG_DATA_HOME", &[".local", "share"])?,
        })
    }

    /// The unit file.
    pub fn unit(&self) -> PathBuf {
        self.config.join("systemd").join("user").join(UNIT_NAME)
    }

    /// The link that enables the unit (what `systemctl --user enable` makes).
    pub fn unit_link(&self) -> PathBuf {
        self.config
            .join("systemd")
            .join("user")
            .join("default.target.wants")
            .join(UNIT_NAME)
    }

    /// The menu entry.
    pub fn menu_entry(&self) -> PathBuf {
        self.data.join("applications").join(DESKTOP_NAME)
    }

    /// The entry that opens the desk at login.
    pub fn autostart_entry(&self) -> PathBuf {
        self.config.join("autostart").join(DESKTOP_NAME)
    }
}

/// What `onshi app install` set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Whether the user's systemd answered (then the desk was started now); otherwise it starts
    /// at the next login.
    pub started: bool,
}

/// A path quoted for a systemd `ExecStart=` line or a desktop entry's `Exec=` key.
fn quoted(p: &Path) -> String {
    let s = p.to_string_lossy();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The unit that runs the desk.
pub fn unit_text(exe: &Path, data: &Path, listen: &str, reader: Option<&str>) -> String {
    let reader = reader
        .map(|r| format!(" --reader \"{}\"", r.replace('"', "\\\"")))
        .unwrap_or_default();
    format!(
        "# Written by `onshi app install`; `onshi app uninstall` removes it.\n\
         [Unit]\n\
         Description=オンライン資格確認 受付画面 (onshi app ui)\n\
         After=pcscd.socket\n\
         \n\
         [Service]\n\
         ExecStart={} app ui --data {} --listen {listen}{reader}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quoted(exe),
        quoted(data)
    )
}

/// A desktop entry that opens the desk in the browser.
pub fn desktop_text(exe: &Path, data: &Path, autostart: bool) -> String {
    let mut text = format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name={MENU_TITLE}\n\
         Comment=受付画面をブラウザーで開きます (onshi app open)\n\
         Exec={} app open --data {}\n\
         Terminal=false\n\
         Categories=Office;MedicalSoftware;\n",
        quoted(exe),
        quoted(data)
    );
    if autostart {
        // The desk itself is started by the unit; give it a moment before opening it.
        text.push_str("X-GNOME-Autostart-Delay=5\n");
    }
    text
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AppError + '_ {
    move |e| AppError::data(path, e)
}

/// Where and how [`install`] sets the desk up.
#[derive(Clone, Debug)]
pub struct InstallOptions<'a> {
    /// The user's directories.
    pub dirs: &'a UserDirs,
    /// The `onshi` binary the unit and the entries run.
    pub exe: &'a Path,
    /// The app's data directory.
    pub data: &'a Path,
    /// The desk's loopback address.
    pub listen: &'a str,
    /// The reader, when not the one of the settings.
    pub reader: Option<&'a str>,
    /// Ask the user's systemd to reload and start the unit now (false in tests).
    pub systemctl: bool,
}

/// Writes the unit and the entries and enables the unit; starts it now when the user's systemd
/// answers.
pub fn install(o: &InstallOptions<'_>) -> Result<Installed, AppError> {
    let (dirs, exe, listen, reader) = (o.dirs, o.exe, o.listen, o.reader);
    let data = o.data;
    let data = std::path::absolute(data).map_err(io(data))?;
    let files = [
        (dirs.unit(), unit_text(exe, &data, listen, reader)),
        (dirs.menu_entry(), desktop_text(exe, &data, false)),
        (dirs.autostart_entry(), desktop_text(exe, &data, true)),
    ];
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        crate::data::write_file(path, text.as_bytes(), 0o644)?;
    }
    let link = dirs.unit_link();
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    match std::fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AppError::data(&link, e)),
    }
    symlink(Path::new("..").join(UNIT_NAME).as_path(), &link)?;
    let started =
        o.systemctl && systemctl(&["daemon-reload"]) && systemctl(&["restart", UNIT_NAME]);
    let mut written: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    written.push(link);
    Ok(Installed {
        files: written,
        started,
    })
}

/// Stops and disables the desk's unit and removes what [`install`] wrote; returns the files
/// removed. The data directory is kept.
pub fn uninstall(dirs: &UserDirs, use_systemctl: bool) -> Result<Vec<PathBuf>, AppError> {
    // Stopped first while the unit file still says what it is (nothing when systemd is absent).
    if use_systemctl {
        let _ = systemctl(&["stop", UNIT_NAME]);
    }
    let mut removed = Vec::new();
    for path in [
        dirs.unit_link(),
        dirs.unit(),
        dirs.menu_entry(),
        dirs.autostart_entry(),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AppError::data(&path, e)),
        }
    }
    if use_systemctl {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(removed)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<(), AppError> {
    std::os::unix::fs::symlink(target, link).map_err(|e| AppError::data(link, e))
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> Result<(), AppError> {
    // No systemd there: a copy of the name is as good as a link to nobody.
    std::fs::write(link, target.to_string_lossy().as_bytes()).map_err(|e| AppError::data(link, e))
}

/// `systemctl --user ARGS`; false when there is no user systemd (a container, another OS).
fn systemctl(args: &[&str]) -> bool {
    Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The desk's current one-time address, if a desk runs on this data directory.
pub fn desk_login_url(data: &Path) -> Result<Option<String>, AppError> {
    let path = data.join(DESK_LOGIN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|u| !u.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::data(&path, e)),
    }
}

/// Opens `url` in the user's browser: `$ONSHI_BROWSER URL` when set, else the platform's opener
/// (`xdg-open`, `open`, `cmd /C start`).
pub fn open_browser(url: &str) -> std::io::Result<()> {
    let mut command = match std::env::var_os("ONSHI_BROWSER") {
        Some(program) => Command::new(program),
        None if cfg!(windows) => {
            let mut c = Command::new("cmd");
            c.args(["/C", "start", ""]);
            c
        }
        None if cfg!(target_os = "macos") => Command::new("open"),
        None => Command::new("xdg-open"),
    };
    let status = command.arg(url).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "the browser opener ended with {status}"
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_data_dir_is_onshi_under_local_app_data() {
        let base = std::env::temp_dir().join("AppData").join("Local");
        assert_eq!(
            windows_data_dir(Some(base.clone().into_os_string())),
            Some(base.join("onshi"))
        );
        assert_eq!(windows_data_dir(Some("".into())), None);
        assert_eq!(windows_data_dir(None), None);
    }

    #[test]
    fn files_name_the_binary_and_the_data_directory() {
        let unit = unit_text(
            Path::new("/opt/onshi/bin/onshi"),
            Path::new("/home/a b/onshi"),
            "127.0.0.1:8470",
            Some("pcsc:ACS ACR39U"),
        );
        assert!(unit.contains(
            "ExecStart=\"/opt/onshi/bin/onshi\" app ui --data \"/home/a b/onshi\" --listen 127.0.0.1:8470 --reader \"pcsc:ACS ACR39U\"\n"
        ), "{unit}");
        assert!(unit.contains("WantedBy=default.target"));
        let entry = desktop_text(Path::new("/usr/bin/onshi"), Path::new("/d"), false);
        assert!(entry.contains("Name=オンライン資格確認（受付）\n"));
        assert!(entry.contains("Exec=\"/usr/bin/onshi\" app open --data \"/d\"\n"));
        assert!(!entry.contains("Autostart"));
        assert!(desktop_text(Path::new("/x"), Path::new("/d"), true)
            .contains("X-GNOME-Autostart-Delay"));
    }

    #[test]
    fn install_then_uninstall_leaves_nothing() {
        let home = tempfile::tempdir().unwrap();
        let dirs = UserDirs {
            config: home.path().join(".config"),
            data: home.path().join(".local/share"),
        };
        let data = home.path().join("onshi");
        let options = InstallOptions {
            dirs: &dirs,
            exe: Path::new("/usr/bin/onshi"),
            data: &data,
            listen: "127.0.0.1:8470",
            reader: None,
            systemctl: false,
        };
        let done = install(&options).unwrap();
        assert!(!done.started);
        assert_eq!(done.files.len(), 4);
        for f in &done.files {
            assert!(f.symlink_metadata().is_ok(), "{}", f.display());
        }
        assert_eq!(
            std::fs::read_link(dirs.unit_link()).unwrap(),
            Path::new("..").join(UNIT_NAME)
        );
        assert!(dirs.unit_link().exists(), "the link resolves to the unit");
        // Installing twice is the same as once.
        install(&options).unwrap();
        let removed = uninstall(&dirs, false).unwrap();
        assert_eq!(removed.len(), 4);
        for f in &done.files {
            assert!(f.symlink_metadata().is_err(), "{} left", f.display());
        }
        assert!(uninstall(&dirs, false).unwrap().is_empty());
    }
}

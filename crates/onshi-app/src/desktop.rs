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
//! - On Windows, `onshi app install` writes [`STARTUP_FILE`] in the user's Startup folder
//!   (`%APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup`): at logon it starts the desk
//!   minimised (`onshi.exe app ui --open`), which opens the browser on its page. The Start-menu
//!   entry is the MSI's. `onshi app uninstall` removes it; the data directory stays.
//!
//! macOS: see `docs/desk.md` (a login item; not built or tested here).

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

/// The Windows Startup-folder entry's name (a batch file: text, written without Windows' shell
/// API, so the same code writes and tests it everywhere).
pub const STARTUP_FILE: &str = "onshi-desk.cmd";

/// The user's Startup folder on Windows, from the value of `APPDATA` (the roaming profile):
/// `%APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup`; `None` when it is unset or
/// empty.
pub fn windows_startup_dir(app_data: Option<std::ffi::OsString>) -> Option<PathBuf> {
    app_data.filter(|v| !v.is_empty()).map(|v| {
        ["Microsoft", "Windows", "Start Menu", "Programs", "Startup"]
            .iter()
            .fold(PathBuf::from(v), |p, part| p.join(part))
    })
}

/// The user's folders the Startup-folder entry names by their variable (`%LOCALAPPDATA%\onshi`),
/// most specific first: a path under a Japanese user name then stays ASCII in the file.
pub const WINDOWS_DIR_VARIABLES: [&str; 3] = ["LOCALAPPDATA", "APPDATA", "USERPROFILE"];

/// `path` as `%NAME%\rest` when it lies under one of `known` (a variable's name and value, in
/// that order of preference), with the rest's `%` doubled (else cmd.exe expands it).
fn cmd_path(path: &str, known: &[(&str, String)]) -> String {
    for (name, value) in known {
        let value = value.trim_end_matches(['\\', '/']);
        if value.is_empty() || path.len() < value.len() || !path.is_char_boundary(value.len()) {
            continue;
        }
        let (head, rest) = path.split_at(value.len());
        if head.eq_ignore_ascii_case(value) && (rest.is_empty() || rest.starts_with(['\\', '/'])) {
            return format!("%{name}%{}", rest.replace('%', "%%"));
        }
    }
    path.replace('%', "%%")
}

/// One argument of the Startup-folder entry, in double quotes for `cmd.exe`; a double quote or a
/// line break cannot be quoted there and is refused.
fn cmd_quoted(what: &str, value: &str) -> Result<String, AppError> {
    if value.contains(['"', '\r', '\n']) {
        return Err(AppError::Usage(format!(
            "{what}「{value}」には \" や改行を使えません（Windows の自動起動ファイルに書けません） / cannot be quoted for cmd.exe"
        )));
    }
    Ok(format!("\"{value}\""))
}

/// The Startup-folder entry: a batch file with CRLF lines that starts the desk minimised in its
/// own console window (`start /min`) and returns at once; `--open` opens the browser on the
/// desk's page. Paths under the user's folders are written with their variable
/// ([`WINDOWS_DIR_VARIABLES`], values in `known`), so the usual ones are ASCII whatever the user's
/// name; `chcp 65001` first, so that cmd.exe reads any other non-ASCII character as UTF-8.
pub fn startup_cmd_text(
    exe: &Path,
    data: &Path,
    listen: &str,
    reader: Option<&str>,
    known: &[(&str, String)],
) -> Result<String, AppError> {
    let exe = cmd_quoted("onshi.exe の場所", &cmd_path(&exe.to_string_lossy(), known))?;
    let data = cmd_quoted(
        "データフォルダー",
        &cmd_path(&data.to_string_lossy(), known),
    )?;
    let listen = cmd_quoted("--listen", &listen.replace('%', "%%"))?;
    let reader = match reader {
        Some(r) => format!(
            " --reader {}",
            cmd_quoted("--reader", &r.replace('%', "%%"))?
        ),
        None => String::new(),
    };
    let lines = [
        "@echo off".to_owned(),
        "chcp 65001 >nul".to_owned(),
        "rem Written by `onshi app install`; `onshi app uninstall` removes it.".to_owned(),
        format!("rem {MENU_TITLE}: ログオン時に受付画面を起動し、ブラウザーで開きます。"),
        format!(
            "start \"{MENU_TITLE}\" /min {exe} app ui --open --data {data} --listen {listen}{reader}"
        ),
    ];
    Ok(lines.iter().map(|l| format!("{l}\r\n")).collect())
}

/// Where and how [`install_windows`] sets the desk up.
#[derive(Clone, Debug)]
pub struct WindowsInstallOptions<'a> {
    /// The user's Startup folder ([`windows_startup_dir`]).
    pub startup: &'a Path,
    /// `onshi.exe`.
    pub exe: &'a Path,
    /// The app's data directory.
    pub data: &'a Path,
    /// The desk's loopback address.
    pub listen: &'a str,
    /// The reader, when not the one of the settings.
    pub reader: Option<&'a str>,
    /// The values of [`WINDOWS_DIR_VARIABLES`] that are set, with their names.
    pub known: &'a [(&'a str, String)],
}

/// Writes [`STARTUP_FILE`] in the Startup folder (created if missing); the desk starts at the
/// next logon. Returns the file written.
pub fn install_windows(o: &WindowsInstallOptions<'_>) -> Result<PathBuf, AppError> {
    let data = std::path::absolute(o.data).map_err(io(o.data))?;
    let text = startup_cmd_text(o.exe, &data, o.listen, o.reader, o.known)?;
    std::fs::create_dir_all(o.startup).map_err(io(o.startup))?;
    let file = o.startup.join(STARTUP_FILE);
    crate::data::write_file(&file, text.as_bytes(), 0o644)?;
    Ok(file)
}

/// Removes [`STARTUP_FILE`] from the Startup folder; returns the files removed (none when it was
/// not there). The data directory is kept.
pub fn uninstall_windows(startup: &Path) -> Result<Vec<PathBuf>, AppError> {
    let file = startup.join(STARTUP_FILE);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(vec![file]),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AppError::data(&file, e)),
    }
}

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
    fn the_startup_folder_is_under_app_data() {
        let base = PathBuf::from("C:\\Users\\受付\\AppData\\Roaming");
        let dir = windows_startup_dir(Some(base.clone().into_os_string())).unwrap();
        assert_eq!(
            dir,
            base.join("Microsoft")
                .join("Windows")
                .join("Start Menu")
                .join("Programs")
                .join("Startup")
        );
        assert_eq!(windows_startup_dir(Some("".into())), None);
        assert_eq!(windows_startup_dir(None), None);
    }

    #[test]
    fn the_startup_entry_starts_the_desk_minimised_and_opens_it() {
        let known = [
            ("LOCALAPPDATA", "C:\\Users\\山田\\AppData\\Local".to_owned()),
            ("APPDATA", "C:\\Users\\山田\\AppData\\Roaming".to_owned()),
            ("USERPROFILE", "C:\\Users\\山田\\".to_owned()),
        ];
        let text = startup_cmd_text(
            Path::new("C:\\Program Files\\onshi\\onshi.exe"),
            Path::new("c:\\users\\山田\\AppData\\Local\\onshi 100%"),
            "127.0.0.1:8470",
            Some("pcsc:Sony FeliCa Port/PaSoRi 4.0 0"),
            &known,
        )
        .unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        assert!(lines.iter().all(|l| l.ends_with("\r\n")), "{text:?}");
        assert_eq!(lines[0], "@echo off\r\n");
        // The code page before any line that is not ASCII.
        assert_eq!(lines[1], "chcp 65001 >nul\r\n");
        assert!(lines[..2].iter().all(|l| l.is_ascii()));
        // The data folder by its variable (ASCII whatever the user's name), its own % doubled.
        assert_eq!(
            *lines.last().unwrap(),
            "start \"オンライン資格確認（受付）\" /min \"C:\\Program Files\\onshi\\onshi.exe\" app ui --open \
             --data \"%LOCALAPPDATA%\\onshi 100%%\" --listen \"127.0.0.1:8470\" \
             --reader \"pcsc:Sony FeliCa Port/PaSoRi 4.0 0\"\r\n"
        );
        // Elsewhere in the profile by USERPROFILE; a name that only begins the same is not under it.
        let other = |data: &str| {
            startup_cmd_text(
                Path::new("C:\\o.exe"),
                Path::new(data),
                "127.0.0.1:1",
                None,
                &known,
            )
            .unwrap()
        };
        assert!(other("C:\\Users\\山田\\受付").contains("--data \"%USERPROFILE%\\受付\""));
        assert!(other("C:\\Users\\山田太郎\\d").contains("--data \"C:\\Users\\山田太郎\\d\""));
        assert!(!other("D:\\d").contains("--reader"));
        // What cmd.exe cannot quote is refused, not written half-quoted.
        let bad = startup_cmd_text(
            Path::new("C:\\o.exe"),
            Path::new("D:\\d"),
            "x",
            Some("a\"b"),
            &[],
        );
        assert!(matches!(bad, Err(AppError::Usage(m)) if m.contains("--reader")));
    }

    #[test]
    fn windows_install_then_uninstall_leaves_nothing() {
        let home = tempfile::tempdir().unwrap();
        let startup =
            windows_startup_dir(Some(home.path().join("Roaming").into_os_string())).unwrap();
        let data = home.path().join("Local").join("onshi");
        let options = WindowsInstallOptions {
            startup: &startup,
            exe: Path::new("C:\\Program Files\\onshi\\onshi.exe"),
            data: &data,
            listen: "127.0.0.1:8470",
            reader: None,
            known: &[],
        };
        let file = install_windows(&options).unwrap();
        assert_eq!(file, startup.join(STARTUP_FILE));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!("--data \"{}\"", data.display())),
            "{text}"
        );
        // Installing twice is the same as once.
        assert_eq!(install_windows(&options).unwrap(), file);
        assert_eq!(std::fs::read_dir(&startup).unwrap().count(), 1);
        assert_eq!(uninstall_windows(&startup).unwrap(), vec![file.clone()]);
        assert!(!file.exists());
        assert!(uninstall_windows(&startup).unwrap().is_empty());
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

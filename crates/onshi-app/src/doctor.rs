//! `onshi app doctor`: checks what a clinic's terminal needs (the data directory and its file
//! modes, the enrollment, the clock, the server, the output folder, the reader and pcscd) and
//! says, in plain Japanese, what to fix. Nothing here costs a check or needs a PIN.

use std::path::Path;

use chrono::{DateTime, Utc};
use onshi_card::client::Client;
use onshi_card::Transport;
use onshi_proto as proto;

use crate::client::ServiceClient;
use crate::data::{self, AppConfig};
use crate::enroll::{not_after, RENEW_BEFORE_DAYS};
use crate::error::AppError;

/// The clock may differ from the server's by this many seconds.
pub const CLOCK_TOLERANCE_SECONDS: i64 = 60;

/// pcscd's socket: present while the PC/SC daemon runs (or can be started by systemd).
pub const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

/// The probe file written and removed in the output folder.
const PROBE_FILE: &str = ".onshi-doctor-probe";

/// One thing checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Whether it is fine (✓) or needs fixing (✗).
    pub ok: bool,
    /// What was checked (データフォルダー, 時計 …).
    pub what: String,
    /// What was found.
    pub detail: String,
    /// What to do, when something needs fixing.
    pub advice: Option<String>,
}

impl Finding {
    fn ok(what: &str, detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            what: what.to_owned(),
            detail: detail.into(),
            advice: None,
        }
    }

    fn fix(what: &str, detail: impl Into<String>, advice: impl Into<String>) -> Self {
        Self {
            ok: false,
            what: what.to_owned(),
            detail: detail.into(),
            advice: Some(advice.into()),
        }
    }
}

/// Everything checked, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether every finding is ✓ (`onshi app doctor` exits 0).
    pub fn all_ok(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    /// The finding about `what`, if checked.
    pub fn find(&self, what: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.what == what)
    }

    /// The report for the staff: `✓ what: detail`, and under a ✗ the advice.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "{} {}: {}\n",
                if f.ok { "✓" } else { "✗" },
                f.what,
                f.detail
            ));
            if let Some(a) = &f.advice {
                out.push_str(&format!("    → {a}\n"));
            }
        }
        out.push_str(if self.all_ok() {
            "すべて問題ありません。\n"
        } else {
            "✗ の項目を上の案内に沿って直してから、もう一度 `onshi app doctor` を実行してください。\n"
        });
        out
    }
}

/// What each finding is called.
pub mod what {
    /// The data directory and its file modes.
    pub const DATA: &str = "データフォルダー";
    /// The terminal's certificate.
    pub const ENROLLMENT: &str = "端末の登録";
    /// Which terminal this is (its name from the portal and its account).
    pub const TERMINAL: &str = "端末";
    /// The local clock against the server's.
    pub const CLOCK: &str = "時計";
    /// The server: reachable, TLS trusted, ready, terminal accepted.
    pub const SERVER: &str = "資格確認サービス";
    /// The receipt-computer output folder.
    pub const OUTPUT: &str = "出力フォルダー";
    /// The card reader.
    pub const READER: &str = "カードリーダー";
    /// The PC/SC daemon.
    pub const PCSCD: &str = "pcscd";
}

/// Checks the data directory, the enrollment, the clock, the server and the output folder at
/// `now` (the local clock, compared with the server's).
pub async fn doctor(dir: &Path, now: DateTime<Utc>) -> Report {
    let mut report = Report::default();
    report.findings.push(data_dir(dir));
    let config = match AppConfig::load(dir) {
        Ok(c) => c,
        Err(e) => {
            report.findings.push(Finding::fix(
                what::ENROLLMENT,
                format!("設定を読めません（{e}）"),
                e.message_ja(),
            ));
            return report;
        }
    };
    report.findings.push(terminal(&config));
    report.findings.push(enrollment(dir, now));
    let (clock, server) = server(dir, &config, now).await;
    report.findings.push(clock);
    report.findings.push(server);
    report.findings.push(output(&config.rececon.output));
    report
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

fn data_dir(dir: &Path) -> Finding {
    if !dir.is_dir() {
        return Finding::fix(
            what::DATA,
            format!("{} がありません", dir.display()),
            "`onshi app enroll --data フォルダー …` で端末を登録してください。",
        );
    }
    let mut wrong = Vec::new();
    let pending_key = dir.join(format!("{}{}", data::KEY_FILE, data::PENDING_SUFFIX));
    for (path, want) in [
        (dir.to_path_buf(), 0o700),
        (dir.join(data::KEY_FILE), 0o600),
        (pending_key, 0o600),
        (dir.join(data::CONFIG_FILE), 0o600),
        (dir.join(data::HISTORY_FILE), 0o600),
    ] {
        if let Some(mode) = mode_of(&path) {
            // Group or others may not read these; the owner's own bits may be tighter.
            if mode & 0o077 != 0 {
                wrong.push((path, mode, want));
            }
        }
    }
    #[cfg(windows)]
    if wrong.is_empty() {
        if let Some(f) = windows_acls(dir) {
            return f;
        }
    }
    if wrong.is_empty() {
        return Finding::ok(
            what::DATA,
            format!("{}（端末の鍵は本人のみ読み書き可）", dir.display()),
        );
    }
    let list: Vec<String> = wrong
        .iter()
        .map(|(p, m, w)| {
            format!(
                "{} が {m:04o}（正しくは {w:04o}） / is {m:04o} (want {w:04o})",
                p.display()
            )
        })
        .collect();
    let commands: Vec<String> = wrong
        .iter()
        .map(|(p, _, w)| format!("chmod {w:o} {}", p.display()))
        .collect();
    Finding::fix(
        what::DATA,
        format!(
            "ほかの利用者が読めるファイルがあります / readable by others: {}",
            list.join("、")
        ),
        format!(
            "次のコマンドで権限を直してください / fix with: {}",
            commands.join(" && ")
        ),
    )
}

/// Which terminal this is, as the portal lists it.
fn terminal(config: &AppConfig) -> Finding {
    match config
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => Finding::ok(
            what::TERMINAL,
            format!("{name}（アカウント {}）", config.account),
        ),
        None => Finding::ok(
            what::TERMINAL,
            format!(
                "アカウント {}（名前はポータルの端末一覧で確認できます）",
                config.account
            ),
        ),
    }
}

/// The private paths of the data directory that exist, each with whether it is the folder.
#[cfg_attr(not(windows), allow(dead_code))]
fn private_paths(dir: &Path) -> Vec<(std::path::PathBuf, bool)> {
    let pending_key = dir.join(format!("{}{}", data::KEY_FILE, data::PENDING_SUFFIX));
    [
        (dir.to_path_buf(), true),
        (dir.join(data::KEY_FILE), false),
        (pending_key, false),
        (dir.join(data::CONFIG_FILE), false),
        (dir.join(data::HISTORY_FILE), false),
        (dir.join(crate::desktop::DESK_LOGIN_FILE), false),
        // The certificates kept for 未確認 visits, and their key.
        (dir.join(crate::held::KEY_FILE), false),
        (dir.join(crate::held::HELD_DIR), true),
    ]
    .into_iter()
    .filter(|(p, _)| p.exists())
    .collect()
}

/// Windows: the data directory's ACLs, read with the Win32 calls; `None` when they are private.
#[cfg(windows)]
fn windows_acls(dir: &Path) -> Option<Finding> {
    let user = match onshi_fs::win_acl::current_user_sid() {
        Ok(sid) => sid,
        Err(e) => {
            return Some(Finding::fix(
                what::DATA,
                format!("この利用者の SID を読めません（{e}）"),
                "運用担当者に相談してください。",
            ))
        }
    };
    let reads: Vec<AclRead> = private_paths(dir)
        .into_iter()
        .map(|(path, folder)| AclRead {
            sddl: onshi_fs::win_acl::dacl_sddl(&path),
            path,
            folder,
        })
        .collect();
    acl_finding(dir, &reads, &user)
}

/// One private path's DACL as Windows gives it (SDDL), or why it could not be read.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug)]
struct AclRead {
    path: std::path::PathBuf,
    folder: bool,
    sddl: std::io::Result<String>,
}

/// The name Windows shows for an SDDL alias the staff may meet (`WD` → Everyone).
#[cfg_attr(not(windows), allow(dead_code))]
fn trustee_name(sddl_trustee: &str) -> &str {
    match sddl_trustee {
        "WD" => "Everyone",
        "AU" => "Authenticated Users",
        "BU" => "Users",
        "BA" => "Administrators",
        "BG" => "Guests",
        other => other,
    }
}

/// The ACL part of the data directory's check (Windows): every private path lets in only the
/// user and SYSTEM, and the folder's DACL is protected from the entries of the folders above
/// it (what `onshi app enroll` and the desk set). `None` when all is well.
#[cfg_attr(not(windows), allow(dead_code))]
fn acl_finding(dir: &Path, reads: &[AclRead], user_sid: &str) -> Option<Finding> {
    let mut wrong = Vec::new();
    for r in reads {
        let name = r.path.display();
        match r.sddl.as_deref().map(onshi_fs::acl::DaclSummary::parse) {
            Err(e) => wrong.push(format!("{name} のアクセス権を読めません（{e}）")),
            Ok(None) => wrong.push(format!("{name} のアクセス権を読めません")),
            Ok(Some(s)) if !s.present => {
                wrong.push(format!("{name} はだれでも読み書きできます（DACL なし）"))
            }
            Ok(Some(s)) => {
                let others = s.others(user_sid);
                let others: Vec<&str> = others.iter().map(|t| trustee_name(t)).collect();
                if !others.is_empty() {
                    wrong.push(format!(
                        "{name} をほかの利用者も読めます（{}） / readable by {}",
                        others.join(", "),
                        others.join(", ")
                    ));
                } else if r.folder && !s.protected {
                    wrong.push(format!(
                        "{name} が上のフォルダーのアクセス権を継承しています / inherits its parent's ACL"
                    ));
                }
            }
        }
    }
    if wrong.is_empty() {
        return None;
    }
    Some(Finding::fix(
        what::DATA,
        format!(
            "端末の鍵などがこの利用者だけのものになっていません / not private: {}",
            wrong.join("、")
        ),
        format!(
            "このフォルダーをこの利用者と SYSTEM だけが使えるようにしてください（コマンド プロンプトで: \
             icacls \"{}\" /inheritance:r /grant:r *{user_sid}:(OI)(CI)F *S-1-5-18:(OI)(CI)F）。",
            dir.display()
        ),
    ))
}

fn enrollment(dir: &Path, now: DateTime<Utc>) -> Finding {
    let cert = dir.join(data::CERT_FILE);
    if !dir.join(data::KEY_FILE).exists() || !cert.exists() {
        return Finding::fix(
            what::ENROLLMENT,
            "端末の鍵または証明書がありません",
            "`onshi app enroll` で端末を登録し直すか、運用担当者に相談してください。",
        );
    }
    let expiry = match data::read_text(&cert).and_then(|pem| not_after(&pem)) {
        Ok(e) => e,
        Err(e) => {
            return Finding::fix(
                what::ENROLLMENT,
                format!("端末の証明書を読めません（{e}）"),
                "運用担当者に端末の再登録を依頼してください。",
            )
        }
    };
    let days = (expiry - now).num_days();
    let date = expiry.format("%Y-%m-%d");
    if expiry <= now {
        Finding::fix(
            what::ENROLLMENT,
            format!("端末の証明書は {date} に期限が切れています"),
            "期限切れの証明書では更新できません。運用担当者に端末の再登録を依頼してください。",
        )
    } else if days < RENEW_BEFORE_DAYS {
        Finding::fix(
            what::ENROLLMENT,
            format!("端末の証明書の期限は {date}（残り{days}日）です"),
            format!(
                "`onshi app renew --data {}` で更新してください。",
                dir.display()
            ),
        )
    } else {
        Finding::ok(
            what::ENROLLMENT,
            format!("端末の証明書あり（有効期限 {date}、残り{days}日）"),
        )
    }
}

/// The clock and the server, from one connection: `/healthz` (with its `Date`), `/readyz`, and
/// a `challenge` (free: it only hands out a nonce) to see that the terminal is accepted.
async fn server(dir: &Path, config: &AppConfig, now: DateTime<Utc>) -> (Finding, Finding) {
    let not_checked = |why: &str| {
        Finding::fix(
            what::CLOCK,
            format!("サーバーの時計と比べられません（{why}）"),
            "サーバーにつながるようになってから、もう一度確かめてください。",
        )
    };
    let client = (|| {
        let identity = data::load_identity(dir)?;
        let ca_pem = data::server_ca(dir)?;
        Ok::<_, AppError>(ServiceClient::new(
            config.server_url()?,
            ca_pem.as_deref(),
            Some(&identity),
        )?)
    })();
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            return (
                not_checked("端末の設定を読めません"),
                Finding::fix(
                    what::SERVER,
                    format!("接続の準備ができません（{e}）"),
                    e.message_ja(),
                ),
            )
        }
    };
    let url = config.server.clone();
    let health = match client.get(proto::HEALTHZ).await {
        Ok(h) => h,
        Err(e) => {
            return (
                not_checked("サーバーにつながりません"),
                server_error(&url, &AppError::from(e)),
            )
        }
    };
    let clock = match health.date {
        Some(server_now) => {
            let skew = (now - server_now).num_seconds();
            if skew.abs() > CLOCK_TOLERANCE_SECONDS {
                Finding::fix(
                    what::CLOCK,
                    format!(
                        "この端末の時計がサーバーより{}秒{}います",
                        skew.abs(),
                        if skew > 0 { "進んで" } else { "遅れて" }
                    ),
                    "時刻を自動で合わせる設定（NTP、`timedatectl set-ntp true`）にしてください。時計がずれると受診日や証明書の期限を正しく判断できません。",
                )
            } else {
                Finding::ok(what::CLOCK, format!("サーバーとの差は{}秒です", skew.abs()))
            }
        }
        None => not_checked("サーバーが時刻を返しませんでした"),
    };
    match client.get(proto::READYZ).await {
        Ok(r) if r.status == 200 => {}
        Ok(r) => {
            return (
                clock,
                Finding::fix(
                    what::SERVER,
                    format!("{url} はつながりますが、準備ができていません（/readyz が HTTP {}）", r.status),
                    "サービス側の問題です。しばらく待ってから確かめ、続く場合は運用担当者に連絡してください。",
                ),
            )
        }
        Err(e) => return (clock, server_error(&url, &AppError::from(e))),
    }
    match client
        .post::<(), proto::ChallengeResponse>(proto::CHALLENGE, None)
        .await
    {
        Ok(_) => (
            clock,
            Finding::ok(
                what::SERVER,
                format!("{url} につながり、サーバー証明書を確認でき、この端末を受け付けています"),
            ),
        ),
        Err(e) => (clock, server_error(&url, &AppError::from(e))),
    }
}

fn server_error(url: &str, e: &AppError) -> Finding {
    let detail = match e {
        AppError::Unreachable(_) => format!("{url} につながりません"),
        AppError::Untrusted(_) => format!("{url} のサーバー証明書を確認できません"),
        AppError::TerminalRefused(_) | AppError::Refused { .. } => {
            format!("{url} はこの端末を受け付けませんでした")
        }
        _ => format!("{url} から予期しない応答がありました"),
    };
    let advice = match e {
        AppError::Unreachable(_) => format!(
            "ネットワーク（LANケーブル、Wi-Fi）と、app.toml の server（{url}）を確認してください。サービスが止まっている場合は運用担当者に連絡してください。"
        ),
        other => other.message_ja(),
    };
    Finding::fix(what::SERVER, format!("{detail}（{e}）"), advice)
}

fn output(folder: &Path) -> Finding {
    let advice = format!(
        "{} を作れる・書き込める場所にするか、app.toml の [rececon] output を書き込めるフォルダーに変えてください。",
        folder.display()
    );
    if let Err(e) = std::fs::create_dir_all(folder) {
        return Finding::fix(
            what::OUTPUT,
            format!("{} を作れません（{e}）", folder.display()),
            advice,
        );
    }
    let probe = folder.join(PROBE_FILE);
    let written =
        std::fs::write(&probe, b"onshi app doctor\n").and_then(|()| std::fs::remove_file(&probe));
    match written {
        Ok(()) => Finding::ok(what::OUTPUT, format!("{} に書き込めます", folder.display())),
        Err(e) => Finding::fix(
            what::OUTPUT,
            format!("{} に書き込めません（{e}）", folder.display()),
            advice,
        ),
    }
}

/// An error and its causes, `outer: inner: …` (as the command line prints them).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The reader: `opened` is the reader named by `--reader` (or why it could not be opened: shown
/// with its causes). With a card in it, reads the authentication certificate and its expiry
/// (no PIN).
pub fn reader<T: Transport>(
    spec: &str,
    opened: Result<Client<T>, Box<dyn std::error::Error + Send + Sync>>,
    now: DateTime<Utc>,
) -> Finding {
    let mut card = match opened {
        Ok(c) => c,
        Err(e) => {
            return Finding::fix(
                what::READER,
                format!("{spec} を開けません"),
                with_causes(&*e),
            )
        }
    };
    let der = match card.read_auth_certificate() {
        Ok(d) => d,
        Err(e) => {
            return Finding::fix(
                what::READER,
                format!("{spec} は開けましたが、カードを読めません（{e}）"),
                format!(
                    "{} マイナンバーカードを置き直してから、もう一度確かめてください。",
                    e.message_ja()
                ),
            )
        }
    };
    let expiry = x509_parser::parse_x509_certificate(&der)
        .ok()
        .and_then(|(_, c)| DateTime::from_timestamp(c.validity().not_after.timestamp(), 0));
    match expiry {
        Some(expiry) if expiry <= now => Finding::fix(
            what::READER,
            format!(
                "{spec} でカードを読めましたが、利用者証明用電子証明書の期限が {} に切れています",
                expiry.format("%Y-%m-%d")
            ),
            "リーダーは使えます。患者さんには、お住まいの市区町村の窓口で電子証明書を更新するようお伝えください。",
        ),
        Some(expiry) => Finding::ok(
            what::READER,
            format!(
                "{spec} でカードを読めました（利用者証明用電子証明書の有効期限 {}、残り{}日）",
                expiry.format("%Y-%m-%d"),
                (expiry - now).num_days()
            ),
        ),
        None => Finding::fix(
            what::READER,
            format!("{spec} でカードを読めましたが、証明書の有効期限を読み取れません"),
            "マイナンバーカードか確かめてください。ほかのカードでも読めない場合は、リーダーを挿し直してください。",
        ),
    }
}

/// pcscd: whether its socket `socket` ([`PCSCD_SOCKET`]) is present.
pub fn pcscd(socket: &Path) -> Finding {
    if socket.exists() {
        Finding::ok(what::PCSCD, format!("{} があります", socket.display()))
    } else {
        Finding::fix(
            what::PCSCD,
            format!("{} がありません（pcscd が動いていません）", socket.display()),
            "`sudo apt install pcscd` のあと `sudo systemctl enable --now pcscd.socket` で起動してください。",
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn output_folder_is_created_and_probed() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        assert!(output(&folder).ok);
        assert!(folder.is_dir());
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn loose_modes_are_named_with_the_command() {
        let dir = tempfile::tempdir().unwrap();
        data::set_mode(dir.path(), 0o700).unwrap();
        std::fs::write(dir.path().join(data::KEY_FILE), "k").unwrap();
        data::set_mode(&dir.path().join(data::KEY_FILE), 0o644).unwrap();
        let f = data_dir(dir.path());
        assert!(!f.ok);
        assert!(f.advice.unwrap().contains("chmod 600"), "{}", f.detail);
        data::set_mode(&dir.path().join(data::KEY_FILE), 0o600).unwrap();
        assert!(data_dir(dir.path()).ok);
    }

    #[test]
    fn windows_acls_let_in_the_user_and_system_only() {
        const USER: &str = "S-1-5-21-1-2-3-1001";
        let dir = Path::new("C:\\Users\\u\\AppData\\Local\\onshi");
        let read = |name: &str, folder: bool, sddl: &str| AclRead {
            path: dir.join(name),
            folder,
            sddl: Ok(sddl.to_owned()),
        };
        // What enroll sets: the folder's protected DACL, the files' inherited from it.
        let private = [
            read("", true, &onshi_fs::acl::private_dacl_sddl(USER, true)),
            read(
                data::KEY_FILE,
                false,
                &format!("D:AI(A;ID;FA;;;{USER})(A;ID;FA;;;SY)"),
            ),
        ];
        assert!(acl_finding(dir, &private, USER).is_none());
        // The folder inheriting from %LOCALAPPDATA% (Administrators, and what else is added
        // above it later): named, with the command that fixes it.
        let inherited = format!("D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;{USER})");
        let f = acl_finding(dir, &[read("", true, &inherited)], USER).unwrap();
        assert!(!f.ok && f.detail.contains("Administrators"), "{}", f.detail);
        assert!(
            f.advice.as_deref().unwrap().contains("/inheritance:r"),
            "{f:?}"
        );
        // Only the user and SYSTEM but inheriting: the next entry added above would come in.
        let f = acl_finding(
            dir,
            &[read(
                "",
                true,
                &format!("D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;{USER})"),
            )],
            USER,
        )
        .unwrap();
        assert!(f.detail.contains("継承"), "{}", f.detail);
        // A key file everyone may read; an unreadable ACL; no DACL at all.
        let f = acl_finding(
            dir,
            &[
                read(
                    data::KEY_FILE,
                    false,
                    &format!("D:(A;;FA;;;{USER})(A;;FR;;;WD)"),
                ),
                AclRead {
                    path: dir.join(data::CONFIG_FILE),
                    folder: false,
                    sddl: Err(std::io::Error::other("access denied")),
                },
                read(data::HISTORY_FILE, false, "D:NO_ACCESS_CONTROL"),
            ],
            USER,
        )
        .unwrap();
        for part in ["Everyone", "access denied", "DACL なし"] {
            assert!(f.detail.contains(part), "{part}: {}", f.detail);
        }
    }

    #[test]
    fn missing_pcscd_says_how_to_start_it() {
        let f = pcscd(Path::new("/nonexistent/pcscd.comm"));
        assert!(!f.ok && f.advice.as_deref().unwrap().contains("pcscd"));
        let report = Report { findings: vec![f] };
        assert!(!report.all_ok());
        assert!(report.render().starts_with("✗ pcscd"));
    }

    #[tokio::test]
    async fn the_terminal_is_named_as_the_portal_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = AppConfig {
            server: "https://127.0.0.1:1".into(),
            account: "W0000001".into(),
            name: Some("受付PC".into()),
            rececon: data::RececonConfig {
                output: dir.path().join("rececon"),
                encoding: data::Encoding::Utf8,
                allowed_output_roots: Vec::new(),
                institution_code: None,
            },
            reader: None,
        };
        config.save(dir.path()).unwrap();
        let report = doctor(dir.path(), Utc::now()).await;
        let found = report.find(what::TERMINAL).unwrap();
        assert!(found.ok);
        assert_eq!(found.detail, "受付PC（アカウント W0000001）");
        assert!(report
            .render()
            .contains("✓ 端末: 受付PC（アカウント W0000001）"));
        assert_eq!(config.terminal_label(), "受付PC（W0000001）");
        config.name = None;
        assert!(terminal(&config).detail.starts_with("アカウント W0000001"));
        assert_eq!(config.terminal_label(), "W0000001");
    }
}

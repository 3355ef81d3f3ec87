//! The clinic's 受付端末 (terminal accounts of the reception app): the list with each
//! terminal's state, last use and number of checks; creating one, whose one-time enrollment code
//! is shown once; its settings file (ユーザー設定情報) that `onshi app enroll --settings FILE
//! --code CODE` reads; revoking one (the service refuses it from its next request on).
//!
//! Only for a clinic whose 利用開始申請 is approved, and only ever the clinic's own terminals:
//! another clinic's terminal id is "not found", like an unknown one.

use axum::extract::{Path, State as StateOf};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use onshi_proto::{settings_file_name, TerminalSettings};
use onshi_server::admin::{self, ENROLLMENT_CODE_HOURS};
use onshi_store::{Terminal, TerminalStatus};
use serde::Deserialize;

use std::collections::HashMap;

use crate::auth::ClinicUser;
use crate::db::{self, Account, AccountStatus, Role};
use crate::terminal_names::{self, Named};
use crate::view::{self, csrf, respond, Nav, PageError};
use crate::{blocking, Portal, Settings, State};

/// The pages' title.
const TITLE: &str = "受付端末";
/// The list's address (also where a revoke returns to).
const LIST: &str = "/portal/terminals";
/// The settings file's content type.
pub const SETTINGS_CONTENT_TYPE: &str = "application/toml; charset=utf-8";

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route(LIST, get(list).post(create))
        .route("/portal/terminals/{id}/settings", get(settings_file))
        .route("/portal/terminals/{id}/revoke", post(revoke))
        .route("/portal/terminals/{id}/name", post(rename))
}

/// A terminal's status as the clinic reads it.
pub fn status_label(status: TerminalStatus) -> &'static str {
    match status {
        TerminalStatus::Pending => "登録待ち",
        TerminalStatus::Active => "利用中",
        TerminalStatus::Revoked => "停止",
    }
}

/// The settings file (TOML of [`TerminalSettings`]) of terminal `account`: the service's
/// address, the account, the server CA when the portal knows one, and the terminal's name (受付PC
/// …) for the desk's header.
pub fn settings_toml(
    settings: &Settings,
    account: &str,
    name: Option<&str>,
) -> Result<String, toml::ser::Error> {
    let ca = settings.server_ca_pem.trim();
    toml::to_string(&TerminalSettings {
        server: settings.service_url.clone(),
        account: account.to_owned(),
        server_ca: (!ca.is_empty()).then(|| settings.server_ca_pem.clone()),
        name: name.map(str::to_owned),
    })
}

/// The command that enrolls the app with the settings file and the code.
pub fn enroll_command(account: &str, code: &str) -> String {
    format!(
        "onshi app enroll --data DIR --settings {} --code {code}",
        settings_file_name(account)
    )
}

/// Where terminal `id`'s settings file is downloaded.
fn settings_href(id: &str) -> String {
    format!("/portal/terminals/{id}/settings")
}

/// A date (JST) for the list.
fn day(t: DateTime<Utc>) -> String {
    view::day(t.with_timezone(&crate::jst()).date_naive())
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// The clinic's account when its 利用開始申請 is approved; otherwise the page that says so.
async fn approved(
    portal: &State,
    user: &ClinicUser,
) -> Result<Result<Account, Response>, PageError> {
    let clinic = user.clinic_id;
    let account = blocking(portal, move |p| Ok(db::account(p.store.portal(), clinic)?))
        .await?
        .ok_or_else(PageError::not_found)?;
    if account.status == AccountStatus::Approved {
        Ok(Ok(account))
    } else {
        Ok(Err((
            StatusCode::FORBIDDEN,
            respond(not_approved_page(&account, &user.session.csrf)),
        )
            .into_response()))
    }
}

fn not_approved_page(account: &Account, token: &str) -> Markup {
    let why = match account.status {
        AccountStatus::Registered => {
            "まだ利用開始申請をしていません。ホームから利用開始申請をしてください。"
        }
        AccountStatus::Applied => {
            "利用開始申請は実施機関が確認しています。承認されると、ここで受付端末を作成できます。"
        }
        AccountStatus::Rejected => {
            "利用開始申請が差し戻されました。ホームで理由を確認し、もう一度申請してください。"
        }
        AccountStatus::Approved => "",
    };
    view::page(
        TITLE,
        Nav::Clinic(&account.name, token),
        html! {
            div.notice.warn #not-approved role="alert" {
                p { "受付端末を作成・管理するには、利用開始申請が承認されている必要があります。" }
                p { (why) }
            }
            p { "利用開始申請の状況: " strong #application-status { (account.status.label()) } }
            p { a.button.primary href="/portal/home" { "ホームへ" } }
        },
    )
}

/// The clinic's terminal `id`; another clinic's or an unknown one is not found.
fn own_terminal(p: &Portal, clinic_id: i64, id: &str) -> Result<Terminal, PageError> {
    p.store
        .terminal(id)?
        .filter(|t| t.clinic_id == clinic_id)
        .ok_or_else(PageError::not_found)
}

async fn list(StateOf(portal): StateOf<State>, user: ClinicUser) -> Result<Response, PageError> {
    let account = match approved(&portal, &user).await? {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let clinic = user.clinic_id;
    let (terminals, names) = blocking(&portal, move |p| {
        let terminals = p.store.terminals_of_clinic(clinic)?;
        let ids: Vec<String> = terminals.iter().map(|t| t.id.clone()).collect();
        Ok((terminals, terminal_names::names(p.store.portal(), &ids)?))
    })
    .await?;
    Ok(respond(list_page(
        &account,
        &user.session.csrf,
        &terminals,
        &names,
        None,
    )))
}

fn list_page(
    account: &Account,
    token: &str,
    terminals: &[Terminal],
    names: &HashMap<String, Named>,
    error: Option<&str>,
) -> Markup {
    let name_of = |id: &str| {
        names
            .get(id)
            .map_or(terminal_names::DEFAULT_NAME, |n| n.name.as_str())
            .to_owned()
    };
    view::page(
        TITLE,
        Nav::Clinic(&account.name, token),
        html! {
            p { "受付で資格確認アプリ（onshi app）を使うパソコンやタブレットごとに、端末のアカウントを1つ作成します。" }
            section.card #new-terminal {
                h2 { "端末を追加する" }
                p { "作成すると、アプリの登録に使う登録コード（1回限り、" (ENROLLMENT_CODE_HOURS) "時間有効）と設定ファイルのダウンロードが表示されます。登録コードは作成した直後の画面でしか表示されません。" }
                @if let Some(e) = error { div.notice.error role="alert" #terminal-error { p { (e) } } }
                form #create-terminal method="post" action=(LIST) {
                    (csrf(token))
                    (view::field("端末の名前（例: 受付PC、タブレット）", "name", "text", "受付PC", None))
                    button.primary type="submit" { "端末のアカウントを作成する" }
                }
            }
            section.card {
                h2 { "端末の一覧" }
                @if terminals.is_empty() {
                    p #no-terminals { "まだ端末はありません。" }
                } @else {
                    table #terminals {
                        thead {
                            tr {
                                th { "名前" }
                                th { "アカウント" }
                                th { "状態" }
                                th { "作成日" }
                                th { "登録日" }
                                th { "最終利用（日本時間）" }
                                th.num { "確認件数" }
                                th { "操作" }
                            }
                        }
                        tbody {
                            @for t in terminals {
                                tr id=(format!("terminal-{}", t.id)) {
                                    td.name {
                                        span id=(format!("name-{}", t.id)) { (name_of(&t.id)) }
                                        @if t.status != TerminalStatus::Revoked {
                                            form id=(format!("rename-{}", t.id)) method="post" action=(format!("/portal/terminals/{}/name", t.id)) {
                                                (csrf(token))
                                                input name="name" type="text" value=(name_of(&t.id)) aria-label="端末の名前";
                                                button type="submit" { "名前を変更" }
                                            }
                                        }
                                    }
                                    td.account { (t.id) }
                                    td.status id=(format!("status-{}", t.id)) {
                                        (status_label(t.status))
                                        @if let Some(r) = names.get(&t.id).and_then(|n| n.revoke_reason.as_deref()) {
                                            br; "（実施機関が停止。理由: " (r) "）"
                                        }
                                    }
                                    td { (day(t.created_at)) }
                                    td { (t.enrolled_at.map(day).unwrap_or_else(|| "—".to_owned())) }
                                    td { (t.last_used_at.map(view::when).unwrap_or_else(|| "—".to_owned())) }
                                    td.num id=(format!("checks-{}", t.id)) { (t.checks) }
                                    td {
                                        @if t.status == TerminalStatus::Revoked {
                                            @if let Some(at) = t.revoked_at { (day(at)) " に停止" }
                                        } @else {
                                            p {
                                                a id=(format!("settings-{}", t.id)) href=(settings_href(&t.id)) download=(settings_file_name(&t.id)) { "設定ファイル" }
                                            }
                                            form id=(format!("revoke-{}", t.id)) method="post" action=(format!("/portal/terminals/{}/revoke", t.id)) {
                                                (csrf(token))
                                                button.danger type="submit" { "この端末を停止する（元に戻せません）" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p { "停止した端末からは、次の通信から資格確認ができなくなります。停止は取り消せません。再び使うときは、新しい端末のアカウントを作成してください。" }
                p { "登録コードをなくしたときや有効期限が切れたときは、登録待ちの端末を停止し、新しい端末のアカウントを作成してください。" }
            }
        },
    )
}

/// A form with a terminal's name.
#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn create(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Form(f): Form<NameForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    let account = match approved(&portal, &user).await? {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let name =
        terminal_names::parse_name(&f.name).map_err(|m| PageError::bad_request(&m.to_string()))?;
    let clinic = user.clinic_id;
    let new = blocking(&portal, move |p| {
        let cap = p.settings.max_terminals_per_clinic;
        let new = admin::add_named_terminal(p.store.as_ref(), clinic, cap, Some(&name), Utc::now())
            .map_err(|e| match e {
                admin::AddTerminalError::TooMany { limit } => PageError {
                    status: StatusCode::CONFLICT,
                    message: admin::too_many_terminals_ja(limit),
                },
                other => PageError::internal(other),
            })?;
        db::audit_now(
            p.store.portal(),
            Role::Clinic,
            clinic,
            "terminal.add",
            &format!("terminal:{}", new.terminal.id),
            &name,
        )?;
        Ok(new)
    })
    .await?;
    Ok(respond(created_page(
        &account,
        &user.session.csrf,
        &new.terminal.id,
        &new.code,
        new.code_expires_at,
    )))
}

fn created_page(
    account: &Account,
    token: &str,
    id: &str,
    code: &str,
    expires: DateTime<Utc>,
) -> Markup {
    let file = settings_file_name(id);
    view::page(
        TITLE,
        Nav::Clinic(&account.name, token),
        html! {
            h2 #terminal-created { "端末のアカウントを作成しました" }
            div.notice.warn #code-once role="alert" {
                p { "登録コードはこの画面でしか表示されません。あとから確認することはできないので、いま控えるか、このまま受付端末での登録まで進めてください。" }
            }
            section.card {
                dl {
                    dt { "端末のアカウント" }
                    dd #terminal-account { (id) }
                    dt { "登録コード（1回限り）" }
                    dd { span.code #enrollment-code { (code) } }
                    dt { "登録コードの有効期限" }
                    dd #code-expires { (view::when(expires)) "（日本時間）まで" }
                }
            }
            section.card {
                h2 { "アプリの登録手順" }
                ol #enroll-steps {
                    li {
                        "設定ファイル（ユーザー設定情報）をダウンロードし、受付端末にコピーします: "
                        a #settings-link href=(settings_href(id)) download=(file) { (file) }
                    }
                    li {
                        "受付端末で受付アプリ（onshi）を起動します（メニューの「オンライン資格確認（受付）」、または初回だけ "
                        code { "onshi app ui --open" } "）。ブラウザーに「端末の登録」が開きます。"
                    }
                    li {
                        "「端末設定ファイル」でダウンロードしたファイルを選び、「登録コード」に上のコードを入力して「登録する」を押します。"
                        "登録が終わると、その画面が受付画面に変わります。"
                    }
                    li {
                        details {
                            summary { "コマンドで登録する場合（システム担当者向け）" }
                            p { "設定ファイルを置いたフォルダーで次のコマンドを実行します。DIR はアプリのデータを置くフォルダー（例: onshi-app）に置き換えてください。" }
                            pre #enroll-command { (enroll_command(id, code)) }
                        }
                    }
                    li { "登録が終わると、一覧の状態が「利用中」になります。" }
                }
            }
            p { a href=(LIST) { "端末の一覧へ戻る" } }
        },
    )
}

async fn settings_file(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if let Err(page) = approved(&portal, &user).await? {
        return Ok(page);
    }
    let clinic = user.clinic_id;
    let (id, body) = blocking(&portal, move |p| {
        let t = own_terminal(p, clinic, &id)?;
        let named = terminal_names::names(p.store.portal(), std::slice::from_ref(&t.id))?;
        let name = named.get(&t.id).map(|n| n.name.as_str());
        let body = settings_toml(&p.settings, &t.id, name).map_err(PageError::internal)?;
        Ok((t.id, body))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, SETTINGS_CONTENT_TYPE.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", settings_file_name(&id)),
            ),
        ],
        body,
    )
        .into_response())
}

async fn revoke(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    if let Err(page) = approved(&portal, &user).await? {
        return Ok(page);
    }
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let t = own_terminal(p, clinic, &id)?;
        if t.status != TerminalStatus::Revoked && p.store.revoke_terminal(&t.id, Utc::now())? {
            db::audit_now(
                p.store.portal(),
                Role::Clinic,
                clinic,
                "terminal.revoke",
                &format!("terminal:{}", t.id),
                status_label(t.status),
            )?;
        }
        Ok(())
    })
    .await?;
    Ok(Redirect::to(LIST).into_response())
}

async fn rename(
    StateOf(portal): StateOf<State>,
    user: ClinicUser,
    Path(id): Path<String>,
    Form(f): Form<NameForm>,
) -> Result<Response, PageError> {
    user.session.check_csrf(&f.csrf)?;
    if let Err(page) = approved(&portal, &user).await? {
        return Ok(page);
    }
    let name =
        terminal_names::parse_name(&f.name).map_err(|m| PageError::bad_request(&m.to_string()))?;
    let clinic = user.clinic_id;
    blocking(&portal, move |p| {
        let t = own_terminal(p, clinic, &id)?;
        if t.status == TerminalStatus::Revoked {
            return Err(PageError::bad_request(
                "停止した端末の名前は変更できません。",
            ));
        }
        Ok(terminal_names::set_name(
            p.store.portal(),
            clinic,
            &t.id,
            &name,
            Utc::now(),
        )?)
    })
    .await?;
    Ok(Redirect::to(LIST).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ca: &str) -> Settings {
        Settings {
            public_url: "https://portal.example.jp".to_owned(),
            outbox: "outbox".into(),
            receipts: "receipts".into(),
            mail_from: "portal@example.jp".to_owned(),
            deadline_end: Utc::now(),
            deadline: Utc::now().date_naive(),
            equipment_cap_yen: 41_000,
            rececon_rate_percent: 50,
            rececon_cap_yen: 100_000,
            session_hours: 8,
            failures_per_account: 5,
            failures_per_address: 20,
            throttle_minutes: 15,
            server_ca_pem: ca.to_owned(),
            service_url: "https://127.0.0.1:8443".to_owned(),
            smtp: None,
            max_terminals_per_clinic: 10,
            hash_slots: 2,
            hash_queue: 8,
            registrations_per_address: 5,
            worker_seconds: 5,
            late_correction_days: crate::DEFAULT_LATE_CORRECTION_DAYS,
        }
    }

    #[test]
    fn settings_file_parses_back() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\"'\\x\n-----END CERTIFICATE-----\n";
        let text = settings_toml(&settings(pem), "W0000001", Some("受付PC \"1\""))
            .unwrap_or_else(|e| panic!("{e}"));
        let back: TerminalSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back,
            TerminalSettings {
                server: "https://127.0.0.1:8443".to_owned(),
                account: "W0000001".to_owned(),
                server_ca: Some(pem.to_owned()),
                name: Some("受付PC \"1\"".to_owned()),
            }
        );
    }

    #[test]
    fn settings_file_without_a_ca() {
        let text =
            settings_toml(&settings(" \n"), "W0000002", None).unwrap_or_else(|e| panic!("{e}"));
        assert!(!text.contains("server_ca"), "{text}");
        let back: TerminalSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.server_ca, None);
        assert_eq!(back.account, "W0000002");
    }

    /// A portal over a fresh SQLite store.
    struct World {
        _dir: tempfile::TempDir,
        portal: State,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store =
            onshi_store::open_service_data_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut settings =
            settings("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        settings.outbox = dir.path().join("outbox");
        let portal = crate::state(std::sync::Arc::from(store), settings);
        World { _dir: dir, portal }
    }

    /// A clinic with a confirmed e-mail, approved or only registered, logged in.
    fn clinic(w: &World, n: u32, approve: bool) -> ClinicUser {
        let now = Utc::now();
        let p = &w.portal;
        let c = p
            .store
            .add_clinic(&format!("テスト接骨院{n}"), &format!("契012345{n}123"), now)
            .unwrap_or_else(|e| panic!("{e}"));
        let db = p.store.portal();
        let email = format!("c{n}@example.jp");
        let hash = crate::auth::token_hash(&email);
        let account = db::NewAccount {
            email,
            password_hash: String::new(),
            kinds: "judo".to_owned(),
            director: "院長".to_owned(),
            address: "東京都".to_owned(),
            phone: "03-1234-5678".to_owned(),
        };
        let ok = db::add_account(
            db,
            c.id,
            &account,
            &[(
                crate::registration::Practice::Judo,
                crate::registration::RegistrationNumber::stored(format!("契012345{n}123")),
            )],
            &hash,
            now + chrono::Duration::hours(1),
            &crate::mail::Outgoing {
                to: account.email.clone(),
                subject: "確認".to_owned(),
                body: "本文".to_owned(),
            },
            now,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok, db::Added::Yes);
        db::spend_token(db, &hash, "confirm", now, |tx, id| {
            db::confirm_email(tx, id, now)
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
        if approve {
            assert!(db::apply(db, c.id, now).unwrap_or_else(|e| panic!("{e}")));
            assert!(db::decide_application(db, 1, c.id, true, "", now)
                .unwrap_or_else(|e| panic!("{e}")));
        }
        ClinicUser {
            clinic_id: c.id,
            session: crate::auth::Session {
                role: Role::Clinic,
                subject_id: c.id,
                csrf: format!("{n}").repeat(64),
                id_hash: Vec::new(),
            },
        }
    }

    fn form(user: &ClinicUser) -> Form<CsrfOnly> {
        Form(CsrfOnly {
            csrf: user.session.csrf.clone(),
        })
    }

    fn named(user: &ClinicUser) -> Form<NameForm> {
        Form(NameForm {
            csrf: user.session.csrf.clone(),
            name: "受付PC".to_owned(),
        })
    }

    fn bad_named() -> Form<NameForm> {
        Form(NameForm {
            csrf: "x".repeat(64),
            name: String::new(),
        })
    }

    fn bad_form() -> Form<CsrfOnly> {
        Form(CsrfOnly {
            csrf: "x".repeat(64),
        })
    }

    async fn text(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(bytes.to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn status(r: &Result<Response, PageError>) -> StatusCode {
        match r {
            Ok(r) => r.status(),
            Err(e) => e.status,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_clinic_cannot_pass_its_cap_of_terminals() {
        let mut w = world();
        if let Some(p) = std::sync::Arc::get_mut(&mut w.portal) {
            p.settings.max_terminals_per_clinic = 2;
        }
        assert_eq!(w.portal.settings.max_terminals_per_clinic, 2);
        let a = clinic(&w, 1, true);
        let st = || StateOf(w.portal.clone());
        for _ in 0..2 {
            let r = create(st(), a.clone(), named(&a)).await;
            assert_eq!(status(&r), StatusCode::OK);
        }
        let refused = create(st(), a.clone(), named(&a))
            .await
            .err()
            .unwrap_or_else(|| panic!("a third terminal was added"));
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert!(
            refused.message.contains("上限の2台に達しています"),
            "{}",
            refused.message
        );
        let held = || {
            w.portal
                .store
                .terminals_of_clinic(a.clinic_id)
                .unwrap_or_default()
        };
        assert_eq!(held().len(), 2);
        // A revoked terminal frees its place.
        let first = held()[0].id.clone();
        let r = revoke(st(), a.clone(), Path(first), form(&a)).await;
        assert_eq!(status(&r), StatusCode::SEE_OTHER);
        let r = create(st(), a.clone(), named(&a)).await;
        assert_eq!(status(&r), StatusCode::OK);
        assert_eq!(held().len(), 3);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn create_download_and_revoke_only_the_clinics_own() {
        let w = world();
        let a = clinic(&w, 1, true);
        let b = clinic(&w, 2, true);
        let st = || StateOf(w.portal.clone());

        let page = text(
            list(st(), a.clone())
                .await
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
        .await;
        assert!(page.contains("id=\"no-terminals\""), "{page}");

        let r = create(st(), a.clone(), bad_named()).await;
        assert_eq!(status(&r), StatusCode::FORBIDDEN);
        assert!(w
            .portal
            .store
            .terminals_of_clinic(a.clinic_id)
            .unwrap_or_default()
            .is_empty());

        let r = create(st(), a.clone(), named(&a))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.status(), StatusCode::OK);
        let page = text(r).await;
        let terminals = w
            .portal
            .store
            .terminals_of_clinic(a.clinic_id)
            .unwrap_or_default();
        assert_eq!(terminals.len(), 1);
        let id = terminals[0].id.clone();
        assert!(
            page.contains(&format!("<dd id=\"terminal-account\">{id}</dd>")),
            "{page}"
        );
        let code = page
            .split("id=\"enrollment-code\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or_else(|| panic!("{page}"))
            .to_owned();
        assert_eq!(code.len(), 14, "{code}");
        assert!(page.contains(&enroll_command(&id, &code)), "{page}");
        assert!(page.contains("id=\"code-expires\""), "{page}");

        let page = text(
            list(st(), a.clone())
                .await
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
        .await;
        assert!(
            page.contains(&format!("id=\"status-{id}\">登録待ち<")),
            "{page}"
        );
        assert!(!page.contains(&code), "the code is shown once");

        let r = settings_file(st(), a.clone(), Path(id.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.headers()[header::CONTENT_TYPE], SETTINGS_CONTENT_TYPE);
        assert_eq!(
            r.headers()[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"onshi-terminal-{id}.toml\"").as_str()
        );
        let back: TerminalSettings =
            toml::from_str(&text(r).await).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.account, id);
        assert_eq!(back.server, "https://127.0.0.1:8443");
        assert!(back.server_ca.is_some());

        // Another clinic, and unknown ids, find nothing.
        {
            let who = &b;
            let r = settings_file(st(), who.clone(), Path(id.clone())).await;
            assert_eq!(status(&r), StatusCode::NOT_FOUND);
            let r = revoke(st(), who.clone(), Path(id.clone()), form(who)).await;
            assert_eq!(status(&r), StatusCode::NOT_FOUND);
        }
        let r = settings_file(st(), a.clone(), Path("W9999999".to_owned())).await;
        assert_eq!(status(&r), StatusCode::NOT_FOUND);
        let page = text(
            list(st(), b.clone())
                .await
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
        .await;
        assert!(!page.contains(&id), "{page}");

        let r = revoke(st(), a.clone(), Path(id.clone()), bad_form()).await;
        assert_eq!(status(&r), StatusCode::FORBIDDEN);
        let t = w.portal.store.terminal(&id).unwrap_or_default();
        assert_eq!(t.map(|t| t.status), Some(TerminalStatus::Pending));

        let r = revoke(st(), a.clone(), Path(id.clone()), form(&a))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], LIST);
        let t = w.portal.store.terminal(&id).unwrap_or_default();
        assert_eq!(t.map(|t| t.status), Some(TerminalStatus::Revoked));
        let page = text(
            list(st(), a.clone())
                .await
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
        .await;
        assert!(
            page.contains(&format!("id=\"status-{id}\">停止<")),
            "{page}"
        );
        assert!(!page.contains(&format!("id=\"revoke-{id}\"")), "{page}");

        // Revoking again changes nothing and logs nothing.
        let r = revoke(st(), a.clone(), Path(id.clone()), form(&a)).await;
        assert_eq!(status(&r), StatusCode::SEE_OTHER);
        let actions: Vec<String> = db::audit_lines(w.portal.store.portal(), 100, 0)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.target == format!("terminal:{id}"))
            .map(|l| format!("{} {} {}", l.actor_role, l.actor_id, l.action))
            .collect();
        assert_eq!(
            actions,
            [
                format!("clinic {} terminal.revoke", a.clinic_id),
                // The name is stored with the terminal and audited with its addition.
                format!("clinic {} terminal.add", a.clinic_id)
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_after_approval() {
        let w = world();
        let c = clinic(&w, 3, false);
        let st = || StateOf(w.portal.clone());
        let r = list(st(), c.clone())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = text(r).await;
        assert!(page.contains("id=\"not-approved\""), "{page}");
        let r = create(st(), c.clone(), named(&c)).await;
        assert_eq!(status(&r), StatusCode::FORBIDDEN);
        assert!(w
            .portal
            .store
            .terminals_of_clinic(c.clinic_id)
            .unwrap_or_default()
            .is_empty());
    }

    #[test]
    fn labels_and_command() {
        assert_eq!(status_label(TerminalStatus::Pending), "登録待ち");
        assert_eq!(status_label(TerminalStatus::Active), "利用中");
        assert_eq!(status_label(TerminalStatus::Revoked), "停止");
        assert_eq!(
            enroll_command("W0000001", "ABCD-EFGH-JKLM"),
            "onshi app enroll --data DIR --settings onshi-terminal-W0000001.toml --code ABCD-EFGH-JKLM"
        );
    }
}

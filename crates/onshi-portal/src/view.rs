//! The portal's page layout, form pieces and error pages (maud: every value escaped).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// Who is logged in, for the header's menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav<'a> {
    /// Nobody.
    Guest,
    /// A clinic (its name), with the session's CSRF token for the logout form.
    Clinic(&'a str, &'a str),
    /// An operator (their name), with the CSRF token.
    Operator(&'a str, &'a str),
}

/// A whole page.
pub fn page(title: &str, nav: Nav<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - 施術所等向け総合ポータルサイト（onshi）" }
                link rel="stylesheet" href="/portal/style.css";
            }
            body {
                header {
                    a.brand href="/portal/" { "施術所等向け総合ポータルサイト" }
                    @match nav {
                        Nav::Guest => nav {
                            a href="/portal/login" { "ログイン" }
                            a href="/portal/notices" { "お知らせ" }
                            a href="/portal/faq" { "よくある質問" }
                        },
                        Nav::Clinic(name, csrf) => nav {
                            a href="/portal/home" { "ホーム" }
                            a href="/portal/terminals" { "端末" }
                            a href="/portal/claims/equipment" { "機器導入の補助" }
                            a href="/portal/claims/rececon" { "レセコン改修の補助" }
                            a href="/portal/notices" { "お知らせ" }
                            a href="/portal/faq" { "よくある質問" }
                            a href="/portal/contact" { "問い合わせ" }
                            span.who { (name) }
                            form method="post" action="/portal/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "ログアウト" }
                            }
                        },
                        Nav::Operator(name, csrf) => nav {
                            a href="/portal/operator/" { "ダッシュボード" }
                            a href="/portal/operator/clinics" { "施術所" }
                            a href="/portal/operator/terminals" { "端末" }
                            a href="/portal/operator/claims" { "補助金申請" }
                            a href="/portal/operator/notices" { "お知らせ" }
                            a href="/portal/operator/faq" { "FAQ" }
                            a href="/portal/operator/inquiries" { "問い合わせ" }
                            a href="/portal/operator/audit" { "操作記録" }
                            span.who { "実施機関: " (name) }
                            form method="post" action="/portal/operator/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "ログアウト" }
                            }
                        },
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A text field with its label and, when there is one, its error.
pub fn field(label: &str, name: &str, kind: &str, value: &str, error: Option<&str>) -> Markup {
    html! {
        div.field.error[error.is_some()] {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value) aria-invalid=[error.map(|_| "true")];
            @if let Some(e) = error { p.error-text { (e) } }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A box of messages (errors or notices).
pub fn notice(kind: &str, lines: &[String]) -> Markup {
    html! {
        @if !lines.is_empty() {
            div.notice.(kind) role="alert" {
                @for l in lines { p { (l) } }
            }
        }
    }
}

/// Yen with thousands separators: 41,000円.
pub fn yen(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}{out}円", if amount < 0 { "-" } else { "" })
}

/// A time in JST for pages, in 和暦 (see [`when_day`]).
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    when_day(t)
}

/// A day as a clinic reads it: 和暦 with the Western year beside it (`令和8年1月15日（2026年）`);
/// before 明治, the Western date only.
pub fn day(d: chrono::NaiveDate) -> String {
    match onshi_model::wareki::format_date(d) {
        Ok(w) => format!("{w}（{}年）", d.format("%Y")),
        Err(_) => d.format("%Y年%-m月%-d日").to_string(),
    }
}

/// A time as a clinic reads it: [`day`] in Japan and the hour (`令和8年1月15日（2026年） 10:05`).
pub fn when_day(t: chrono::DateTime<chrono::Utc>) -> String {
    let local = t.with_timezone(&crate::jst());
    format!("{} {}", day(local.date_naive()), local.format("%H:%M"))
}

/// An error page: the status and a Japanese message.
#[derive(Debug)]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What the user reads.
    pub message: String,
}

impl PageError {
    /// 403 with a message.
    pub fn forbidden(message: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.to_owned(),
        }
    }

    /// 404: also what another clinic's ids get, so they learn nothing.
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "お探しのページは見つかりません。".to_owned(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
        }
    }

    /// A missing or wrong CSRF token.
    pub fn csrf() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: "フォームの有効期限が切れたか、正しくない送信です。ページを開き直してから、もう一度お試しください。".to_owned(),
        }
    }

    /// 500: logged, never shown in detail.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "portal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "システムでエラーが起きました。しばらくしてからもう一度お試しください。"
                .to_owned(),
        }
    }
}

impl PageError {
    /// 503: the portal is busy (its password-hashing pool is full); nothing was done.
    pub fn busy() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "ただいま混み合っています。しばらく待ってから、もう一度お試しください。"
                .to_owned(),
        }
    }
}

impl From<onshi_store::StoreError> for PageError {
    fn from(e: onshi_store::StoreError) -> Self {
        // Redacted as the server's errors are: no stored values, no database's quotes.
        Self::internal(onshi_server::loggable(&e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "この操作はできません",
            StatusCode::NOT_FOUND => "ページが見つかりません",
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "入力を確認してください",
            _ => "エラー",
        };
        let body = page(
            title,
            Nav::Guest,
            html! {
                p.lead #error-message { (self.message) }
                p { a href="/portal/" { "ポータルのトップへ" } }
            },
        );
        (self.status, Html(body.into_string())).into_response()
    }
}

/// A rendered page as a response.
pub fn respond(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yen_has_separators() {
        assert_eq!(yen(0), "0円");
        assert_eq!(yen(41_000), "41,000円");
        assert_eq!(yen(52_800), "52,800円");
        assert_eq!(yen(1_234_567), "1,234,567円");
        assert_eq!(yen(-500), "-500円");
    }

    #[test]
    fn days_are_wareki() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default();
        assert_eq!(day(d), "令和8年1月15日（2026年）");
        let t = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 15, 15, 30, 0).unwrap();
        assert_eq!(when_day(t), "令和8年1月16日（2026年） 00:30");
    }

    /// A store error's stored value (a name, a number) never reaches the log.
    #[test]
    fn store_errors_are_logged_redacted() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut v) = self.0.lock() {
                    v.extend_from_slice(b);
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let e = PageError::from(onshi_store::StoreError::Corrupt {
                column: "name",
                value: "山田太郎".to_owned(),
                reason: "not valid".to_owned(),
            });
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        });
        let log = String::from_utf8_lossy(&sink.0.lock().map(|v| v.clone()).unwrap_or_default())
            .into_owned();
        assert!(log.contains("portal error"), "{log}");
        assert!(!log.contains("山田太郎"), "{log}");
    }

    #[test]
    fn values_are_escaped() {
        let p = page(
            "<x>",
            Nav::Guest,
            field("a", "b", "text", "\"><script>", None),
        )
        .into_string();
        assert!(!p.contains("<script>") && !p.contains("<x>"));
    }
}

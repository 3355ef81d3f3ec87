//! The desk's HTML, server-rendered with maud (every value escaped). The page is one document
//! with three tabs (受付, 本日の履歴, 設定); the script swaps the 受付 screen when the phase
//! changes and fetches the other tabs when opened.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use onshi_app::data::{AppConfig, Encoding};
use onshi_app::history::{self, Entry, Status};
use onshi_proto::Mode;

use crate::session::{Answer, Failure, Phase};

/// Japan Standard Time, for every time the staff read.
pub fn jst(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    onshi_model::date::jst_time(t)
}

fn mode_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Pin => "暗証番号",
        Mode::Visual => "目視",
    }
}

/// The page shown without the desk's cookie, or for a spent or wrong one-time address: how to
/// open the desk again. `why` is the first line.
pub fn locked(why: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "資格確認 受付 - onshi" }
                link rel="stylesheet" href="/app.css";
            }
            body {
                header { h1 { "オンライン資格確認（受付）" } }
                main #locked {
                    p.lead { (why) }
                    p { "受付画面は、起動したときに表示される一度だけ使えるアドレス（http://127.0.0.1:8470/login?k=… のような形）から開きます。このアドレスは一度開くと使えなくなります。" }
                    p { "開き直すには、受付アプリを止めて（Ctrl-C）、もう一度 " code { "onshi app ui --data データフォルダー" } " を実行し、表示された新しいアドレスをこのパソコンのブラウザーで開いてください。" }
                }
            }
        }
    }
}

/// The `<head>` of the desk's scripted pages.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/app.css";
            script src="/app.js" defer {}
        }
    }
}

/// The whole page; `terminal` is the terminal as the staff know it (`受付PC（W0000001）`).
pub fn page(terminal: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            (head("資格確認 受付 - onshi"))
            body {
                header {
                    h1 { "オンライン資格確認（受付）" }
                    span.account #terminal { "端末 " (terminal) }
                    nav {
                        button type="button" data-tab="desk" aria-current="page" { "受付" }
                        button type="button" data-tab="numbers" { "番号で確認（資格確認書など）" }
                        button type="button" data-tab="history" { "本日の履歴" }
                        button type="button" data-tab="settings" { "設定" }
                    }
                }
                div #banner role="status" hidden {}
                div #reader role="status" data-state="unknown" { "カードリーダーを確認しています…" }
                main {
                    section #tab-desk {
                        div #screen aria-live="polite" { (screen(&Phase::Idle)) }
                    }
                    section #tab-numbers hidden { (numbers_form()) }
                    section #tab-history hidden {}
                    section #tab-settings hidden {}
                }
                template #register-template {
                    div.screen data-phase="consent" {
                        h2 { "この場で利用登録する" }
                        p.lead { "次の文を患者さんに読み上げ、同意を得てください。" }
                        blockquote.consent #consent-text {
                            p { "お持ちのマイナンバーカードを、健康保険証として使えるように登録（利用登録）します。" }
                            p { "登録すると、医療機関・薬局・施術所で、このカードで健康保険の資格を確認できるようになります。登録は、マイナポータルでいつでも確認できます。" }
                            p { "登録してよろしいですか。よろしければ、カードをリーダーに置いたまま、暗証番号（数字4桁）をもう一度入力してください。" }
                        }
                        div.actions {
                            button.primary type="button" data-action="register" { "同意を得ました（暗証番号で登録する）" }
                            button type="button" data-action="reset" { "登録しない" }
                        }
                    }
                }
                template #photo-template {
                    div.screen data-phase="photo" {
                        h2 { "目視で確認" }
                        p.lead { "マイナンバーカードの顔写真と、受付に来られた患者さんが同じ人であることを確認してください。" }
                        div.actions {
                            button.primary type="button" data-action="photo-yes" { "確認しました（本人です）" }
                            button type="button" data-action="reset" { "やめる" }
                        }
                    }
                }
            }
        }
    }
}

/// 「番号で確認（資格確認書など）」: the numbers on a 資格確認書, a 資格情報のお知らせ or (until
/// its end) a 保険証, and the birth date. The insurer number's 検証番号 is checked as it is typed.
pub fn numbers_form() -> Markup {
    html! {
        h2 { "番号で確認（資格確認書など）" }
        p.lead { "マイナンバーカードがないときや、カードで確認できないときに、資格確認書・資格情報のお知らせ（マイナポータルの画面でも可）・保険証に書かれた番号で確認します。" }
        form #numbers-form autocomplete="off" {
            label {
                "保険者番号（6桁または8桁）"
                input #insurer name="insurer" type="text" inputmode="numeric" maxlength="8" required placeholder="06139992";
            }
            p #insurer-check role="status" {}
            label { "記号" input #symbol name="symbol" type="text" placeholder="後期高齢者医療は空欄"; }
            label { "番号" input #number name="number" type="text" required; }
            label { "枝番（書かれていれば）" input #branch name="branch" type="text" inputmode="numeric" maxlength="2" placeholder="01"; }
            label {
                "生年月日（西暦 19800102 でも、和暦 昭和55年1月2日・S55.1.2 でも）"
                input #birth name="birth" type="text" required;
            }
            p #birth-check role="status" {}
            div.actions { button.primary type="submit" { "確認する" } }
            p #numbers-message role="status" {}
        }
        p.note { "記号・番号の半角の英数字は、全角に直して問い合わせます。結果とレセコン連携ファイルは、カードで確認したときと同じです。" }
    }
}

/// The page of a PC that is not enrolled yet: 端末の登録 with the portal's settings file (or the
/// server's address and the account typed) and the one-time code.
pub fn enroll_page() -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            (head("端末の登録 - onshi"))
            body data-page="enroll" {
                header { h1 { "オンライン資格確認（受付）" } }
                main {
                    section #tab-enroll {
                        h2 { "端末の登録" }
                        p.lead {
                            "このパソコンはまだ資格確認サービスに登録されていません。ポータルの「端末」で受け取った"
                            "端末設定ファイルと登録コードで登録してください（登録は一度だけです）。"
                        }
                        form #enroll-form {
                            label {
                                "端末設定ファイル（onshi-terminal-W….toml）"
                                input #settings-file name="settings" type="file" accept=".toml,text/plain";
                            }
                            details {
                                summary { "設定ファイルがないとき（サーバーのアドレスとアカウントを入力）" }
                                label { "サーバーのアドレス" input name="server" type="url" placeholder="https://…"; }
                                label { "アカウント" input name="account" placeholder="W0000001"; }
                                label { "サーバーCA証明書（PEM、ポータルの指示があるときだけ）" textarea name="server_ca" rows="4" {} }
                            }
                            label {
                                "登録コード（XXXX-XXXX-XXXX）"
                                input #enroll-code name="code" autocomplete="off" required;
                            }
                            div.actions { button.primary type="submit" { "登録する" } }
                            p #enroll-message role="status" {}
                        }
                    }
                }
            }
        }
    }
}

/// The 受付 screen for a phase.
pub fn screen(phase: &Phase) -> Markup {
    match phase {
        Phase::Idle => html! {
            div.screen data-phase="idle" {
                h2 { "受付" }
                p.lead { "確認のしかたを選んでください。" }
                div.choices {
                    button.primary.big type="button" data-action="start" data-mode="pin" {
                        "暗証番号で確認" br; small { "患者さんが暗証番号（数字4桁）を入力します" }
                    }
                    button.big type="button" data-action="photo" {
                        "目視で確認" br; small { "職員が顔写真で本人を確認します" }
                    }
                }
            }
        },
        Phase::WaitingForCard { mode } => html! {
            div.screen data-phase="waiting" {
                h2 { (mode_label(*mode)) "で確認" }
                p.lead { "マイナンバーカードをカードリーダーに置いてください。" }
                div.spinner aria-hidden="true" {}
                div.actions { button type="button" data-action="cancel" { "取りやめる" } }
            }
        },
        Phase::Working { .. } => html! {
            div.screen data-phase="working" {
                h2 { "確認しています" }
                p.lead { "カードを動かさずに、そのままお待ちください。" }
                div.spinner aria-hidden="true" {}
            }
        },
        Phase::NeedPin { tries_left } => html! {
            div.screen data-phase="pin" {
                h2 { "暗証番号を入力してください" }
                p.lead { "利用者証明用電子証明書の暗証番号（数字4桁）" }
                p.tries { "あと " strong #tries { (tries_left) } " 回入力できます" }
                div.pin-dots #pin-dots aria-label="入力した桁数" { span {} span {} span {} span {} }
                div.pad {
                    @for d in ["1", "2", "3", "4", "5", "6", "7", "8", "9"] {
                        button type="button" data-action="digit" data-digit=(d) { (d) }
                    }
                    button type="button" data-action="pin-clear" { "訂正" }
                    button type="button" data-action="digit" data-digit="0" { "0" }
                    button.primary type="button" data-action="pin-ok" disabled { "決定" }
                }
                div.actions { button type="button" data-action="cancel" { "取りやめる" } }
            }
        },
        Phase::Asking { title } => html! {
            div.screen data-phase="asking" {
                h2 { (title) }
                p.lead { "資格確認サービスに問い合わせています。そのままお待ちください。" }
                div.spinner aria-hidden="true" {}
            }
        },
        Phase::Done(answer) => result(answer),
        Phase::Failed(failure) => failed(failure),
    }
}

/// One line of the answer as [`onshi_app::CheckOutcome::describe`] writes it.
enum Line<'a> {
    Section(&'a str),
    Field(&'a str, &'a str),
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.trim_start().split_once('\t') {
            Some((label, value)) => Line::Field(label, value),
            None => Line::Section(l.trim()),
        })
        .collect()
}

/// The copy buttons of an answer with several records: 「保険者名 記号・番号 をコピー」 each.
fn copy_labels(outcome: &onshi_app::CheckOutcome) -> Vec<String> {
    outcome
        .answer()
        .records
        .iter()
        .map(|r| {
            let symbol = r.symbol.as_ref().map_or("", |s| s.as_str());
            format!(
                "{}（{}{}{}）をコピー",
                r.insurer_name,
                symbol,
                if symbol.is_empty() { "" } else { "・" },
                r.number
            )
        })
        .collect()
}

fn result(answer: &Answer) -> Markup {
    let outcome = &answer.outcome;
    let guidance = outcome.guidance();
    let registered_now =
        outcome.asked == onshi_app::Asked::Register && !onshi_app::guidance::unregistered(outcome);
    let text = outcome.describe();
    let mapped = outcome
        .files
        .as_ref()
        .map(|f| f.mapped.as_slice())
        .unwrap_or(&[]);
    html! {
        div.screen data-phase="done" {
            div.verdict.(if guidance.valid { "valid" } else { "invalid" }) #verdict {
                (guidance.verdict)
            }
            @if outcome.asked == onshi_app::Asked::Numbers {
                p.note #by-numbers { "保険者番号・記号・番号と生年月日で確認しました（資格確認書など。マイナンバーカードは使っていません）。" }
            }
            @if registered_now {
                p.note #registered { "マイナンバーカードを健康保険証として利用登録しました。" }
            }
            @if !guidance.warnings.is_empty() {
                div.warning #warnings role="alert" {
                    @for w in &guidance.warnings { p { (w) } }
                }
            }
            (next_step(&guidance))
            @if answer.without_card {
                p.note #without-card { "患者さんのカードなしで、受付のときに保管したカードの証明書により目視の確認として確認し直しました（保管していた証明書は削除しました）。" }
            }
            @if let Some(recorded) = answer.recheck_of {
                p.note { (onshi_model::wareki::label(jst(recorded).date())) " " (jst(recorded).format("%H:%M")) " に未確認として記録した受付を、受診日 " (onshi_model::wareki::label(outcome.visit)) "（" (outcome.visit.format("%Y-%m-%d")) "）の資格で確認し直しました。" }
            }
            table.answer #answer {
                @for line in lines(&text) {
                    @match line {
                        Line::Section(s) => tr.section { th colspan="2" { (s) } },
                        Line::Field(label, value) => tr { th { (label) } td { (value) } },
                    }
                }
            }
            @if !mapped.is_empty() {
                div.warning #mapped {
                    p { "Shift_JIS にない文字があったため、レセコン連携ファイルでは次のように置き換えました。申請書では正しい字に直してください。" }
                    ul {
                        @for m in mapped {
                            li { (m.field) "：「" (m.original) "」→「" (m.replacement) "」" }
                        }
                    }
                }
            }
            @if let Some(e) = &outcome.files_error {
                div.warning #files-error role="alert" { p { (e) } }
            }
            @if let Some(files) = &outcome.files {
                details.files {
                    summary { "レセコン連携ファイル（" (files.paths().len()) "件）" }
                    ul { @for p in files.paths() { li { code { (p.display()) } } } }
                }
            }
            @for (i, text) in answer.clipboards.iter().enumerate() {
                textarea id=(format!("clipboard-text-{i}")) hidden readonly { (text) }
            }
            @if answer.clipboards.is_empty() {
                p.note #no-copy { "有効な資格ではないため、クリップボードへのコピーはできません。レセコンには資格の状態をそのまま入力しないでください。" }
            } @else if answer.clipboards.len() > 1 {
                p.note #pick { "有効な資格が" (answer.clipboards.len()) "件あります。レセコンに渡す資格を選んでコピーしてください。" }
            }
            div.actions {
                @if answer.clipboards.len() == 1 {
                    button.primary type="button" data-action="copy" data-index="0" { "クリップボードにコピー" }
                } @else {
                    @for (i, name) in copy_labels(outcome).iter().enumerate().take(answer.clipboards.len()) {
                        button.primary type="button" data-action="copy" data-index=(i) { (name) }
                    }
                }
                button type="button" data-action="reset" { "次の方へ" }
            }
            p #copied role="status" {}
        }
    }
}

/// What to do next: the steps, and a button for each thing the desk can do about it.
fn next_step(g: &onshi_app::guidance::Guidance) -> Markup {
    use onshi_app::guidance::Action;
    html! {
        div.next #next-step {
            h3 { "次にすること" }
            ol { @for s in &g.steps { li { (s) } } }
            div.actions {
                @for a in &g.actions {
                    @match a {
                        Action::Register => button.primary type="button" data-action="register-consent" { "この場で利用登録する" },
                        Action::Numbers => button type="button" data-tab="numbers" { "番号で確認（資格確認書など）" },
                        Action::Visual => button type="button" data-action="photo" { "目視で確認" },
                        Action::Again | Action::Recheck => {},
                    }
                }
            }
        }
    }
}

fn failed(f: &Failure) -> Markup {
    html! {
        div.screen data-phase="failed" {
            div.verdict.stopped #verdict { (f.guidance.verdict) }
            div.next #failure-message {
                h3 { "次にすること" }
                ol { @for s in &f.guidance.steps { li { (s) } } }
            }
            div.actions {
                @if f.guidance.actions.contains(&onshi_app::guidance::Action::Numbers) {
                    button type="button" data-tab="numbers" { "番号で確認（資格確認書など）" }
                }
                @if f.offer_visual {
                    button.primary type="button" data-action="photo" { "目視で確認" }
                }
                @if f.unconfirmed {
                    button type="button" data-tab="history" { "履歴を開く（あとで確認し直す）" }
                }
                @if f.mode == Mode::Pin && f.guidance.actions.contains(&onshi_app::guidance::Action::Again) {
                    button type="button" data-action="start" data-mode="pin" { "もう一度" }
                }
                button type="button" data-action="reset" { "最初に戻る" }
            }
        }
    }
}

/// Today's checks (JST), newest first, with a re-check button on visits still 未確認: without the
/// card where `held[i]` says the card's certificate was kept for entry `i`.
pub fn history(entries: &[Entry], held: &[bool], now: DateTime<Utc>) -> Markup {
    let today = jst(now).date();
    let todays: Vec<(usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| jst(e.time).date() == today)
        .rev()
        .collect();
    let waiting: Vec<(usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| history::awaits_recheck(entries, *i))
        .rev()
        .collect();
    html! {
        h2 { "本日の履歴（" (onshi_model::wareki::label(today)) "）" }
        @if !waiting.is_empty() {
            div.warning #waiting {
                p { "資格確認サービスにつながらず「未確認」になっている受付が " (waiting.len()) " 件あります。資格確認サービスにつながるようになったら「確認し直す」を押してください。「カード不要」のものは患者さんのカードなしで確認できます（受付のときのカードの証明書を最長31日、暗号化して保管しています）。それ以外は患者さんのカードで確認し直します。" }
            }
        }
        @if todays.is_empty() && waiting.is_empty() {
            p { "本日の確認はまだありません。" }
        } @else {
            table.history #history-table {
                thead { tr { th { "時刻" } th { "方法" } th { "結果" } th { "照会番号" } th { "氏名" } th {} } }
                tbody {
                    @for (i, e) in merge(&todays, &waiting) {
                        tr data-status=(status_key(e.status)) {
                            td { (jst(e.time).format("%m/%d %H:%M")) }
                            td { (e.method_label()) }
                            td { (e.validity_label()) }
                            td { (e.reference_number.as_deref().unwrap_or("－")) }
                            td { (e.name.as_deref().unwrap_or("－")) }
                            td {
                                @if history::awaits_recheck(entries, i) && held.get(i).copied().unwrap_or(false) {
                                    button.primary type="button" data-action="recheck" data-entry=(i + 1) data-held="1" { "確認し直す（カード不要）" }
                                } @else if history::awaits_recheck(entries, i) {
                                    button type="button" data-action="recheck" data-entry=(i + 1) data-mode=(mode_key(e.mode)) { "確認し直す" }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.note { "履歴はこの端末に90日間保存され、その後削除されます。" }
    }
}

/// Today's entries and older ones still waiting, newest first, each once.
fn merge<'a>(
    todays: &[(usize, &'a Entry)],
    waiting: &[(usize, &'a Entry)],
) -> Vec<(usize, &'a Entry)> {
    let mut all: Vec<(usize, &Entry)> = todays.to_vec();
    for w in waiting {
        if !all.iter().any(|(i, _)| *i == w.0) {
            all.push(*w);
        }
    }
    all.sort_by_key(|e| std::cmp::Reverse(e.0));
    all
}

fn status_key(s: Status) -> &'static str {
    match s {
        Status::Confirmed => "confirmed",
        Status::Unconfirmed => "unconfirmed",
        Status::Failed => "failed",
    }
}

/// `pin` or `visual`.
pub fn mode_key(m: Mode) -> &'static str {
    match m {
        Mode::Pin => "pin",
        Mode::Visual => "visual",
    }
}

/// The settings form.
pub fn settings(config: &AppConfig, reader: &str, readers: &[String]) -> Markup {
    html! {
        h2 { "設定" }
        form #settings-form {
            label for="reader" { "カードリーダー" }
            select #reader-choice name="reader-choice" {
                option value="pcsc" selected[reader == "pcsc"] { "自動（カードが置かれたリーダー）" }
                @for r in readers {
                    @let spec = format!("pcsc:{r}");
                    option value=(spec) selected[reader == spec] { (r) }
                }
                @if reader != "pcsc" && !readers.iter().any(|r| format!("pcsc:{r}") == reader) {
                    option value=(reader) selected { (reader) }
                }
            }
            input #reader type="text" name="reader" value=(reader) aria-describedby="reader-help";
            p.help #reader-help { "pcsc（自動）、pcsc:リーダー名、または試験用の emu:カードファイル" }
            label for="output" { "レセコン連携ファイルの出力先フォルダー" }
            input #output type="text" name="output" value=(config.rececon.output.display());
            fieldset {
                legend { "文字コード" }
                label { input type="radio" name="encoding" value="utf-8" checked[config.rececon.encoding == Encoding::Utf8]; " UTF-8（推奨）" }
                label { input type="radio" name="encoding" value="shift_jis" checked[config.rececon.encoding == Encoding::ShiftJis]; " Shift_JIS（古いレセコン向け。外字は標準の字に置き換え、置き換えた字を表示します）" }
            }
            div.actions { button.primary type="submit" { "保存" } }
            p #settings-message role="status" {}
        }
        dl.about {
            dt { "接続先" } dd { (config.server) }
            dt { "端末" } dd { (config.account) }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = page("W<1>").into_string();
        assert!(page.contains("W&lt;1&gt;"));
        assert!(!page.contains("<1>"));
    }

    fn record(insurer: &str, name: &str, symbol: &str, number: &str) -> serde_json::Value {
        serde_json::json!({
            "InsuredCardClassification": "01",
            "InsurerNumber": insurer,
            "InsuredCardSymbol": symbol,
            "InsuredIdentificationNumber": number,
            "InsuredBranchNumber": "00",
            "PersonalFamilyClassification": "1",
            "Name": "山田　太郎",
            "NameKana": "ﾔﾏﾀﾞ ﾀﾛｳ",
            "Sex1": "1",
            "Birthdate": "19800102",
            "QualificationDate": "20200401",
            "InsuredCardValidDate": "20200401",
            "InsurerName": name,
        })
    }

    /// The result screen of an answer, with the clipboard texts the session computes.
    fn screen(validity: &str, records: Vec<serde_json::Value>) -> String {
        screen_with(validity, None, records)
    }

    /// [`screen`] with a processing-result code (and the service's message for it).
    fn screen_with(validity: &str, code: Option<&str>, records: Vec<serde_json::Value>) -> String {
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_775_000_000, 0).unwrap();
        let outcome = onshi_app::CheckOutcome {
            asked: onshi_app::check::Asked::Card(Mode::Pin),
            response: onshi_proto::CheckResponse {
                reference_number: "2026040100300500000123".into(),
                processing_result_status: if code.is_some_and(|c| c.starts_with('E')) {
                    onshi_model::codes::ProcessingResultStatus::ERROR
                } else {
                    onshi_model::codes::ProcessingResultStatus::OK
                },
                processing_result_code: code.map(|c| onshi_proto::ResultCode::parse(c).unwrap()),
                processing_result_message: code.map(|c| format!("サービスの文言（{c}）")),
                answer: onshi_model::Answer {
                    validity: onshi_model::QualificationValidity::parse(validity).unwrap(),
                    records: records
                        .into_iter()
                        .map(|r| serde_json::from_value(r).unwrap())
                        .collect(),
                },
            },
            reference_number: onshi_model::ReferenceNumber::parse("2026040100300500000123")
                .unwrap(),
            visit: onshi_model::date::parse_yyyymmdd("20260401").unwrap(),
            card_expiry: None,
            files: None,
            files_error: None,
        };
        let answer = Answer {
            clipboards: onshi_app::check::clipboard_texts(&outcome, now),
            outcome,
            at: now,
            recheck_of: None,
            without_card: false,
        };
        result(&answer).into_string()
    }

    /// Every answer kind leads with its verdict and its next step; a warning sits above the
    /// answer's table, not in its last row.
    #[test]
    fn every_answer_with_its_next_step_and_warnings_on_top() {
        let rec = || vec![record("06139992", "サンプル健保", "７７", "８８")];
        for (validity, code, verdict, step) in [
            ("1", None, "資格は有効です", "表示された資格で受付"),
            (
                "2",
                None,
                "資格は無効です",
                "資格確認書または資格情報のお知らせ",
            ),
            (
                "3",
                None,
                "新しい資格があります",
                "新しい資格の情報が表示されています",
            ),
            (
                "4",
                None,
                "該当する資格がありません",
                "保険者に問い合わせる",
            ),
            (
                "6",
                Some("W003"),
                "利用登録がされていません",
                "この場で利用登録できます",
            ),
            ("4", Some("E012"), "確認中", "番号で確認"),
            (
                "4",
                Some("E005"),
                "有効期限が切れています",
                "市区町村の窓口",
            ),
        ] {
            let page = screen_with(validity, code, rec());
            let verdict_at = page
                .find(verdict)
                .unwrap_or_else(|| panic!("{verdict}: {page}"));
            let step_at = page.find(step).unwrap_or_else(|| panic!("{step}: {page}"));
            let table_at = page.find("id=\"answer\"").unwrap();
            assert!(
                verdict_at < step_at && step_at < table_at,
                "{validity} {code:?}"
            );
            assert!(!page.contains("有効ではありません"), "{page}");
        }
        let warned = screen_with("1", Some("W002"), rec());
        let warning = warned.find("id=\"warnings\"").unwrap();
        assert!(warning < warned.find("id=\"answer\"").unwrap());
        assert!(warned[warning..].contains("市区町村の窓口で電子証明書を更新"));
        assert!(
            !warned.contains("メッセージ"),
            "not in the table's last row"
        );
        // 利用登録 is offered only for an unregistered card.
        assert!(screen_with("6", Some("W003"), rec()).contains("register-consent"));
        assert!(!screen_with("1", None, rec()).contains("register-consent"));
    }

    #[test]
    fn copy_only_a_valid_answer_and_the_picked_record() {
        let one = screen("1", vec![record("01130012", "協会", "１２３", "４５６")]);
        assert_eq!(one.matches("data-action=\"copy\"").count(), 1);
        assert!(one.contains("クリップボードにコピー"));
        assert!(one.contains("id=\"clipboard-text-0\""));

        let lost = screen("2", vec![record("01130012", "協会", "１２３", "４５６")]);
        assert!(!lost.contains("data-action=\"copy\""), "{lost}");
        assert!(!lost.contains("clipboard-text"));
        assert!(lost.contains("コピーはできません"));

        let two = screen(
            "1",
            vec![
                record("01130012", "協会", "１２３", "４５６"),
                record("06139992", "サンプル健保", "７７", "８８"),
            ],
        );
        assert_eq!(two.matches("data-action=\"copy\"").count(), 2);
        assert!(two.contains("協会（１２３・４５６）をコピー"));
        assert!(two.contains("サンプル健保（７７・８８）をコピー"));
        assert!(two.contains("id=\"clipboard-text-1\""));
        // Each text holds one record only.
        assert_eq!(two.matches("資格情報(医療保険)").count(), 2);
    }

    #[test]
    fn answer_lines() {
        let l = lines("確認日\t令和8年4月1日\n資格情報 1/1\n  氏名\t𠮷田　太郎\n");
        assert!(matches!(l[0], Line::Field("確認日", "令和8年4月1日")));
        assert!(matches!(l[1], Line::Section("資格情報 1/1")));
        assert!(matches!(l[2], Line::Field("氏名", "𠮷田　太郎")));
    }
}

//! Every answer with its next step: from the typed answer of a check (or what stopped it) to the
//! verdict line, the warnings shown above the answer, and what the staff do next, in plain
//! Japanese. One place for these texts: the desk's page and the command line both show them.

use chrono::Datelike;
use onshi_card::error::CardError;
use onshi_model::codes::{ProcessingResultStatus, QualificationValidity};
use onshi_model::Date;
use onshi_proto::ResultCode;

use crate::check::{Asked, CheckOutcome};
use crate::error::AppError;

/// What the desk can offer next, beside the texts: the page shows a button, the command line
/// the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// 利用登録 on the spot (PIN, with the patient's consent).
    Register,
    /// A check by the numbers on a 資格確認書 or 資格情報のお知らせ.
    Numbers,
    /// A check by 目視 (the staff compare the card's photo).
    Visual,
    /// Try the same check again.
    Again,
    /// Check a 未確認 visit again later, from the history.
    Recheck,
}

/// The verdict, the warnings and the next steps of one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guidance {
    /// The verdict line (資格は有効です, 利用登録がされていません …).
    pub verdict: String,
    /// Whether the answer lets the clinic go on as with a valid insurance (有効).
    pub valid: bool,
    /// Warnings, shown at the top of the answer (certificate expiry, a link changed recently).
    pub warnings: Vec<String>,
    /// What to do next, in order.
    pub steps: Vec<String>,
    /// What the desk offers next.
    pub actions: Vec<Action>,
}

/// Until when a card's certificate may be used after its notAfter under the national rule: the
/// end of the third month after the month of expiry.
fn grace_end(expiry: Date) -> Option<Date> {
    let first = expiry.with_day0(0)?;
    first
        .checked_add_months(chrono::Months::new(4))
        .and_then(|d| d.pred_opt())
}

fn wareki(d: Date) -> String {
    onshi_model::wareki::label(d)
}

/// The card certificate's warning (W001, W002), with the date when it is known.
fn certificate_warning(code: Option<ResultCode>, expiry: Option<Date>) -> Option<String> {
    match code {
        Some(ResultCode::CertificateExpiresSoon) => Some(match expiry {
            Some(d) => format!(
                "マイナンバーカードの電子証明書の有効期限（{}）が近づいています。期限までに、お住まいの市区町村の窓口で電子証明書を更新するよう患者さんにお伝えください。更新しないと、期限の後はこのカードで資格確認ができなくなります。",
                wareki(d)
            ),
            None => "マイナンバーカードの電子証明書の有効期限が3か月以内に切れます。期限までに、お住まいの市区町村の窓口で電子証明書を更新するよう患者さんにお伝えください。更新しないと、期限の後はこのカードで資格確認ができなくなります。".to_owned(),
        }),
        Some(ResultCode::CertificateInGrace) => Some(match expiry.and_then(|d| grace_end(d).map(|g| (d, g))) {
            Some((d, g)) => format!(
                "マイナンバーカードの電子証明書の有効期限（{}）が過ぎています。猶予期間中のため今回は確認できましたが、{}を過ぎるとこのカードでは確認できなくなります。それまでに、お住まいの市区町村の窓口で電子証明書を更新するよう患者さんにお伝えください。",
                wareki(d),
                wareki(g)
            ),
            None => "マイナンバーカードの電子証明書の有効期限が過ぎています。猶予期間中（有効期限の月から3か月後の月末まで）のため今回は確認できましたが、早めにお住まいの市区町村の窓口で電子証明書を更新するよう患者さんにお伝えください。".to_owned(),
        }),
        _ => None,
    }
}

/// The step for a check that could not use the card today.
const NUMBERS_TODAY: &str = "本日は、患者さんが資格確認書または資格情報のお知らせ（マイナポータルの資格情報画面でも可）をお持ちなら、「番号で確認」でその保険者番号・記号・番号と生年月日から確認できます。";

/// Whether the answer says the card is not registered for health-insurance use (W003).
pub fn unregistered(outcome: &CheckOutcome) -> bool {
    outcome.response.processing_result_code == Some(ResultCode::CardNotRegistered)
        || outcome.answer().validity == QualificationValidity::VALID_UNREGISTERED
}

/// The verdict, warnings and next steps of an answered check.
pub fn for_outcome(outcome: &CheckOutcome) -> Guidance {
    let response = &outcome.response;
    let code = response.processing_result_code;
    let by_numbers = outcome.asked == Asked::Numbers;
    if response.processing_result_status != ProcessingResultStatus::OK {
        return for_refusal(code, response.processing_result_message.as_deref());
    }
    if unregistered(outcome) {
        return Guidance {
            verdict: "利用登録がされていません".to_owned(),
            valid: false,
            warnings: Vec::new(),
            steps: vec![
                "このマイナンバーカードは、健康保険証としての利用登録がされていません。".to_owned(),
                "患者さんが同意されれば、この場で利用登録できます（患者さんの暗証番号をもう一度入力していただきます）。登録すると資格情報が表示されます。".to_owned(),
                format!("同意されない場合や暗証番号が分からない場合は、{}", NUMBERS_TODAY),
            ],
            actions: vec![Action::Register, Action::Numbers],
        };
    }
    let mut warnings = Vec::new();
    if let Some(w) = certificate_warning(code, outcome.card_expiry) {
        warnings.push(w);
    } else if let Some(m) = &response.processing_result_message {
        // Another warning (a link changed recently …): the service's own words, with the
        // certificate's warning that may follow in the same message.
        warnings.push(m.clone());
    }
    let validity = outcome.answer().validity;
    let (verdict, valid, steps, actions): (&str, bool, Vec<String>, Vec<Action>) = match validity {
        QualificationValidity::VALID => (
            "資格は有効です",
            true,
            vec!["表示された資格で受付してください。レセコンには「クリップボードにコピー」か、書き出したレセコン連携ファイルで渡します。".to_owned()],
            Vec::new(),
        ),
        QualificationValidity::INVALID => (
            "資格は無効です（この保険の資格はなくなっています）",
            false,
            vec![
                "患者さんに、新しく加入した健康保険の資格確認書または資格情報のお知らせ（マイナポータルの資格情報画面でも可）をお持ちか伺ってください。お持ちなら「番号で確認」で確認できます。".to_owned(),
                "新しい保険がまだ分からない場合、本日は施術所の決まりに従って扱ってください（例: いったん全額自己負担でお受けし、新しい保険が分かってから療養費の支給申請や精算をする）。表示された無効の資格で申請書を作らないでください。".to_owned(),
            ],
            vec![Action::Numbers],
        ),
        QualificationValidity::INVALID_NEWER_EXISTS => (
            "この資格は無効です（新しい資格があります）",
            false,
            vec![
                "新しい資格の情報が表示されています。受付にはそちらを使ってください（古い保険証や資格確認書の記号・番号は使わないでください）。".to_owned(),
                "新しい資格が表示されていない場合は、患者さんに新しい保険の資格確認書または資格情報のお知らせをお持ちか伺い、「番号で確認」で確認してください。".to_owned(),
            ],
            vec![Action::Numbers],
        ),
        QualificationValidity::NOT_FOUND if by_numbers => (
            "該当する資格がありません",
            false,
            vec![
                "入力した保険者番号・記号・番号・枝番・生年月日を、資格確認書（または資格情報のお知らせ）と見比べて、違いがあれば直してもう一度確認してください。".to_owned(),
                "合っているのに該当しない場合は、患者さんに加入している保険者（書類に書かれた問い合わせ先）へ問い合わせるようお伝えください。本日の扱いは施術所の決まりに従ってください。".to_owned(),
            ],
            vec![Action::Numbers],
        ),
        QualificationValidity::NOT_FOUND => (
            "該当する資格がありません",
            false,
            vec![
                "このカードには健康保険の資格がひも付いていません（保険者での登録がまだ済んでいない可能性があります）。患者さんには、加入している健康保険の保険者に問い合わせるようお伝えください。".to_owned(),
                NUMBERS_TODAY.to_owned(),
            ],
            vec![Action::Numbers],
        ),
        QualificationValidity::MULTIPLE => (
            "複数の資格が該当しました",
            false,
            vec!["患者さんに現在加入している保険を伺い、表示された中から該当する資格で受付してください。分からない場合は「番号で確認」で、お持ちの資格確認書の番号から確認してください。".to_owned()],
            vec![Action::Numbers],
        ),
        _ => (
            "資格の状態を判断できません",
            false,
            vec!["資格確認サービスの回答に、この受付アプリが知らない値がありました。受付アプリを更新するか、運用担当者に連絡してください。".to_owned()],
            Vec::new(),
        ),
    };
    Guidance {
        verdict: verdict.to_owned(),
        valid,
        warnings,
        steps,
        actions,
    }
}

/// An answer that ended in 異常終了: the card's certificate or the link refused.
fn for_refusal(code: Option<ResultCode>, message: Option<&str>) -> Guidance {
    let numbers = vec![Action::Numbers];
    let (verdict, steps, actions): (&str, Vec<String>, Vec<Action>) = match code {
        Some(ResultCode::LinkHeld) => (
            "資格情報を表示できません（カードの登録内容を確認中）",
            vec![
                "このカードのひも付け（どなたのカードか）を保険者が確認しているため、資格情報は表示されません。カードや受付アプリの故障ではありません。".to_owned(),
                "本日は、資格確認書または資格情報のお知らせの番号で確認してください（「番号で確認」）。".to_owned(),
                "患者さんには、加入している健康保険の保険者に問い合わせるようお伝えください。".to_owned(),
            ],
            numbers,
        ),
        Some(ResultCode::CardCertificateExpired) => (
            "カードの電子証明書の有効期限が切れています",
            vec![
                "このマイナンバーカードの電子証明書は有効期限と猶予期間を過ぎているため、このカードでは確認できません。".to_owned(),
                "患者さんには、お住まいの市区町村の窓口で電子証明書を更新するようお伝えください。".to_owned(),
                NUMBERS_TODAY.to_owned(),
            ],
            numbers,
        ),
        Some(ResultCode::CardCertificateRevoked) => (
            "カードの電子証明書が失効しています",
            vec![
                "このカードの電子証明書は失効しています（カードの紛失の届出や再発行などのため）。このカードでは確認できません。".to_owned(),
                "患者さんには、お住まいの市区町村の窓口に相談するようお伝えください。".to_owned(),
                NUMBERS_TODAY.to_owned(),
            ],
            numbers,
        ),
        Some(ResultCode::CardCertificateUntrusted) => (
            "カードの電子証明書を確認できません",
            vec![
                "このカードの電子証明書は資格確認サービスが信頼する発行元のものではありません（マイナンバーカードでない可能性があります）。".to_owned(),
                NUMBERS_TODAY.to_owned(),
            ],
            numbers,
        ),
        Some(ResultCode::BadSignature) => (
            "確認できませんでした",
            vec!["カードによる本人確認を資格確認サービスが受け付けませんでした。カードを置き直して、もう一度最初から確認してください。続く場合は「目視で確認」か「番号で確認」で受付してください。".to_owned()],
            vec![Action::Again, Action::Visual, Action::Numbers],
        ),
        Some(ResultCode::CrlNotCurrent) => (
            "いまはこのカードを確認できません（資格確認サービス側の問題）",
            vec![
                "資格確認サービスがカードの失効情報を確認できない状態です。カードや受付アプリの問題ではありません。".to_owned(),
                "少し時間をおいてからもう一度確認してください。急ぐ場合は「番号で確認」で確認できます。".to_owned(),
            ],
            vec![Action::Again, Action::Numbers],
        ),
        _ => (
            "確認できませんでした",
            vec![match message {
                Some(m) => format!("{m} 続く場合は「番号で確認」で確認するか、運用担当者に連絡してください。"),
                None => "資格確認サービスが確認を終えられませんでした。もう一度確認してください。続く場合は「番号で確認」で確認するか、運用担当者に連絡してください。".to_owned(),
            }],
            vec![Action::Again, Action::Numbers],
        ),
    };
    Guidance {
        verdict: verdict.to_owned(),
        valid: false,
        warnings: Vec::new(),
        steps,
        actions,
    }
}

/// The verdict and next steps when a check stopped before the service answered: the card said
/// no, the PIN is locked, the service could not be reached.
pub fn for_error(e: &AppError) -> Guidance {
    let stopped = |verdict: &str, steps: Vec<String>, actions: Vec<Action>| Guidance {
        verdict: verdict.to_owned(),
        valid: false,
        warnings: Vec::new(),
        steps,
        actions,
    };
    match e {
        AppError::Card(CardError::PinBlocked) => stopped(
            "暗証番号がロックされています",
            vec![
                "今回は「目視で確認」で受付できます（職員がカードの顔写真と患者さんを見比べて確認します）。".to_owned(),
                "患者さんには、お住まいの市区町村の窓口で暗証番号の初期化（再設定）をするようお伝えください（カードと本人確認書類が必要です）。".to_owned(),
            ],
            vec![Action::Visual],
        ),
        AppError::Card(CardError::WrongPin { tries_left }) => stopped(
            "暗証番号が違います",
            vec![
                format!("入力できるのはあと{tries_left}回です。続けて間違えるとロックされ、市区町村の窓口で初期化するまでカードの暗証番号が使えなくなります。"),
                "患者さんにもう一度入力していただくか、「目視で確認」で受付してください。".to_owned(),
            ],
            vec![Action::Again, Action::Visual],
        ),
        AppError::Card(CardError::NotMyNumberCard) => stopped(
            "マイナンバーカードではありません",
            vec![
                "リーダーに置かれたカードはマイナンバーカードではありません（または読めません）。マイナンバーカードを置き直してください。".to_owned(),
                NUMBERS_TODAY.to_owned(),
            ],
            vec![Action::Again, Action::Numbers],
        ),
        AppError::Card(_) => stopped(
            "カードを読み取れませんでした",
            vec![
                e.message_ja(),
                "カードをリーダーにしっかり置き直して、もう一度確認してください。続く場合は「番号で確認」で受付してください。".to_owned(),
            ],
            vec![Action::Again, Action::Numbers],
        ),
        AppError::PhotoNotConfirmed => stopped(
            "顔写真の確認がまだです",
            vec!["カードの顔写真と患者さんが同じ人であることを確認してから、もう一度「目視で確認」を押してください。".to_owned()],
            vec![Action::Visual],
        ),
        AppError::Cancelled => stopped(
            "確認を取りやめました",
            vec!["カードからは何も送っていません。最初からやり直せます。".to_owned()],
            vec![Action::Again],
        ),
        AppError::TerminalRefused(_) => stopped(
            "この端末は資格確認サービスに受け付けられませんでした",
            vec!["端末の証明書が無効か期限切れです。運用担当者に端末の証明書の更新か再登録を依頼してください。".to_owned()],
            Vec::new(),
        ),
        AppError::ClockSkew { .. } => stopped(
            "このパソコンの時計がずれています",
            vec![e.message_ja()],
            vec![Action::Again],
        ),
        e if e.is_service_error() => stopped(
            "未確認（資格確認サービスにつながりません）",
            vec![
                e.message_ja(),
                "患者さんがいらっしゃるうちに、カードの顔写真で本人であることを確かめて受付してください（「目視で確認」）。".to_owned(),
                "資格確認サービスにつながるようになったら、本日の履歴の「確認し直す」で、この受付を受診日の資格で確認してください。".to_owned(),
            ],
            vec![Action::Visual, Action::Recheck, Action::Again],
        ),
        e => stopped("確認できませんでした", vec![e.message_ja()], Vec::new()),
    }
}

/// The verdict and next steps when a check by numbers could not be answered: nothing was
/// recorded (there is no card to check again later), so the staff ask again.
pub fn for_query_error(e: &AppError) -> Guidance {
    if !e.is_service_error() {
        return for_error(e);
    }
    let why = match e {
        AppError::Refused { body, .. } => body.message.clone(),
        AppError::TerminalRefused(_) => "この端末は資格確認サービスに受け付けられませんでした（端末の証明書が無効か期限切れです）。運用担当者に端末の証明書の更新か再登録を依頼してください。".to_owned(),
        _ => "資格確認サービスにつながりません。ネットワーク（LANケーブル、Wi-Fi）を確認してください。".to_owned(),
    };
    Guidance {
        verdict: "確認できませんでした（番号で確認）".to_owned(),
        valid: false,
        warnings: Vec::new(),
        steps: vec![
            why,
            "番号での確認は履歴に「未確認」として残していません。資格確認サービスにつながるようになったら、もう一度「番号で確認」で確認してください。".to_owned(),
        ],
        actions: vec![Action::Numbers],
    }
}

/// The verdict and next steps when a re-check without the card could not be made: the visit
/// stays 未確認 and its certificate stays kept.
pub fn for_recheck_error(e: &AppError) -> Guidance {
    if !e.is_service_error() {
        return for_error(e);
    }
    Guidance {
        verdict: "まだ確認できません（資格確認サービスにつながりません）".to_owned(),
        valid: false,
        warnings: Vec::new(),
        steps: vec![
            "この受付は「未確認」のままです。カードの証明書も引き続き保管しています（最長31日）。".to_owned(),
            "資格確認サービスにつながるようになったら、本日の履歴からもう一度「確認し直す」を押してください（カードは不要です）。".to_owned(),
        ],
        actions: vec![Action::Recheck],
    }
}

/// The guidance as text for the command line: the verdict, the warnings (注意), the next steps
/// (次にすること), and the command for each action.
pub fn render_text(g: &Guidance) -> String {
    let mut out = format!("判定\t{}\n", g.verdict);
    for w in &g.warnings {
        out.push_str(&format!("注意\t{w}\n"));
    }
    for s in &g.steps {
        out.push_str(&format!("次にすること\t{s}\n"));
    }
    for a in &g.actions {
        let command = match a {
            Action::Register => "この場で利用登録（患者さんの同意のうえ）: onshi app verify --mode pin --register",
            Action::Numbers => "番号で確認: onshi app query --insurer 保険者番号 --symbol 記号 --number 番号 [--branch 枝番] --birth 生年月日",
            Action::Visual => "目視で確認: onshi app verify --mode visual",
            Action::Again => continue,
            Action::Recheck => "確認し直す: onshi app recheck",
        };
        out.push_str(&format!("操作\t{command}\n"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use onshi_model::ReferenceNumber;
    use onshi_proto::{codes, CheckResponse, Mode};

    const REFERENCE: &str = "20260401003005ABCDEF12";

    fn outcome(status: &str, validity: &str, code: Option<&str>, asked: Asked) -> CheckOutcome {
        CheckOutcome {
            asked,
            reference_number: ReferenceNumber::parse(REFERENCE).unwrap(),
            response: CheckResponse {
                reference_number: REFERENCE.into(),
                processing_result_status: ProcessingResultStatus::parse(status).unwrap(),
                processing_result_code: code.map(|c| onshi_proto::ResultCode::parse(c).unwrap()),
                processing_result_message: code.map(|c| format!("サービスの文言 {c}")),
                answer: onshi_model::Answer {
                    validity: QualificationValidity::parse(validity).unwrap(),
                    records: Vec::new(),
                },
            },
            visit: onshi_model::date::parse_yyyymmdd("20260401").unwrap(),
            card_expiry: onshi_model::date::parse_yyyymmdd("20260531").ok(),
            files: None,
            files_error: None,
        }
    }

    fn card(status: &str, validity: &str, code: Option<&str>) -> Guidance {
        for_outcome(&outcome(status, validity, code, Asked::Card(Mode::Pin)))
    }

    #[test]
    fn an_unregistered_card_says_so_and_offers_registration() {
        let g = card("1", "6", Some(codes::CARD_NOT_REGISTERED));
        assert_eq!(g.verdict, "利用登録がされていません");
        assert!(!g.verdict.contains("有効"), "{g:?}");
        assert!(!g.valid);
        assert_eq!(g.actions[0], Action::Register);
        assert!(g.steps.iter().any(|s| s.contains("同意")), "{g:?}");
        // Said by the code alone, too (an answer 無効 for an unregistered card).
        let g = card("1", "2", Some(codes::CARD_NOT_REGISTERED));
        assert_eq!(g.verdict, "利用登録がされていません");
    }

    #[test]
    fn a_valid_answer_with_the_certificate_warnings_on_top() {
        let g = card("1", "1", None);
        assert_eq!(g.verdict, "資格は有効です");
        assert!(g.valid && g.warnings.is_empty() && g.actions.is_empty());
        let soon = card("1", "1", Some(codes::WARN_CERTIFICATE_EXPIRES_SOON));
        assert!(soon.valid);
        assert_eq!(soon.warnings.len(), 1);
        let w = &soon.warnings[0];
        assert!(
            w.contains("令和8年5月31日") && w.contains("市区町村の窓口") && w.contains("更新"),
            "{w}"
        );
        let grace = card("1", "1", Some(codes::WARN_CERTIFICATE_IN_GRACE));
        let w = &grace.warnings[0];
        // Expired 2026-05-31: usable until the end of the third month after, 2026-08-31.
        assert!(
            w.contains("令和8年5月31日") && w.contains("令和8年8月31日を過ぎると"),
            "{w}"
        );
        // Another warning: the service's own words.
        let changed = card("1", "1", Some(codes::WARN_LINK_CHANGED));
        assert_eq!(changed.warnings, ["サービスの文言 W004"]);
    }

    #[test]
    fn grace_runs_to_the_end_of_the_third_month_after() {
        let d = |s| onshi_model::date::parse_yyyymmdd(s).unwrap();
        assert_eq!(grace_end(d("20260115")), Some(d("20260430")));
        assert_eq!(grace_end(d("20261130")), Some(d("20270228")));
    }

    #[test]
    fn every_answer_kind_has_a_next_step() {
        for (validity, verdict, words) in [
            ("2", "資格は無効です", "資格確認書または資格情報のお知らせ"),
            (
                "3",
                "新しい資格があります",
                "新しい資格の情報が表示されています",
            ),
            ("4", "該当する資格がありません", "保険者に問い合わせる"),
            ("5", "複数の資格が該当しました", "該当する資格"),
        ] {
            let g = card("1", validity, None);
            assert!(g.verdict.contains(verdict), "{validity}: {g:?}");
            assert!(!g.valid);
            assert!(
                g.steps.iter().any(|s| s.contains(words)),
                "{validity}: {g:?}"
            );
        }
        // 無効: what the clinic may do today.
        let g = card("1", "2", None);
        assert!(g.steps.iter().any(|s| s.contains("本日は")), "{g:?}");
        // 該当資格なし for a card: check by numbers meanwhile; for numbers: compare the typing.
        assert!(card("1", "4", None).actions.contains(&Action::Numbers));
        let typed = for_outcome(&outcome("1", "4", None, Asked::Numbers));
        assert!(typed.steps[0].contains("見比べて"), "{:?}", typed.steps);
    }

    #[test]
    fn refusals_and_the_held_link() {
        let held = card("2", "4", Some(codes::LINK_HELD));
        assert!(held.verdict.contains("確認中"), "{held:?}");
        assert!(held.steps.iter().any(|s| s.contains("番号で確認")));
        assert!(held
            .steps
            .iter()
            .any(|s| s.contains("保険者に問い合わせる")));
        for code in [
            codes::CARD_CERTIFICATE_EXPIRED,
            codes::CARD_CERTIFICATE_REVOKED,
            codes::CARD_CERTIFICATE_UNTRUSTED,
            codes::BAD_SIGNATURE,
            codes::CRL_NOT_CURRENT,
        ] {
            let g = card("2", "4", Some(code));
            assert!(!g.valid && !g.steps.is_empty(), "{code}");
            assert!(g.actions.contains(&Action::Numbers), "{code}");
        }
        assert!(card("2", "4", Some(codes::CARD_CERTIFICATE_EXPIRED))
            .steps
            .iter()
            .any(|s| s.contains("市区町村の窓口で電子証明書を更新")));
    }

    #[test]
    fn card_errors_and_outages() {
        let locked = for_error(&AppError::Card(CardError::PinBlocked));
        assert!(locked.verdict.contains("ロック"));
        assert!(locked.steps.iter().any(|s| s.contains("目視で確認")));
        assert!(locked
            .steps
            .iter()
            .any(|s| s.contains("市区町村の窓口") && s.contains("初期化")));
        assert_eq!(locked.actions, [Action::Visual]);
        let wrong = for_error(&AppError::Card(CardError::WrongPin { tries_left: 1 }));
        assert!(wrong.steps[0].contains("あと1回"), "{wrong:?}");
        let outage = for_error(&AppError::Unreachable("x".into()));
        assert!(outage.verdict.contains("未確認"));
        assert!(outage.actions.contains(&Action::Recheck));
        assert!(outage.steps.iter().any(|s| s.contains("確認し直す")));
        let query = for_query_error(&AppError::Unreachable("x".into()));
        assert!(!query.steps.iter().any(|s| s.contains("目視")), "{query:?}");
        assert!(query
            .steps
            .iter()
            .any(|s| s.contains("もう一度「番号で確認」")));
        let again = for_recheck_error(&AppError::Unreachable("x".into()));
        assert!(
            again.steps.iter().any(|s| s.contains("カードは不要")),
            "{again:?}"
        );
        let no_card = for_error(&AppError::Card(CardError::NotMyNumberCard));
        assert!(no_card.actions.contains(&Action::Numbers));
    }

    #[test]
    fn the_text_for_the_command_line() {
        let text = render_text(&card("1", "6", Some(codes::CARD_NOT_REGISTERED)));
        assert!(
            text.starts_with("判定\t利用登録がされていません\n"),
            "{text}"
        );
        assert!(text.contains("--register"), "{text}");
        let text = render_text(&card("1", "1", Some(codes::WARN_CERTIFICATE_EXPIRES_SOON)));
        let warn = text.find("注意\t").unwrap();
        let step = text.find("次にすること\t").unwrap();
        assert!(warn < step, "{text}");
    }
}

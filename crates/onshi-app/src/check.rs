//! One check at the desk: the card (PIN or 目視), the service's challenge and verify, the answer
//! shown, the history written, and the hook where the receipt-computer files will be written.

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::error::CardError;
use onshi_card::{Pin, Transport};
use onshi_model::codes::ProcessingResultStatus;
use onshi_model::{Answer, Date, ReferenceNumber};
use onshi_proto::{self as proto, CheckResponse, Mode};

use crate::client::ServiceClient;
use crate::data::{self, AppConfig, RececonConfig};
use crate::error::AppError;
use crate::exit;
use crate::held;
use crate::history::{self, Entry, Status};

/// The people at the desk: the patient types the PIN, the staff confirm the photo.
pub trait Desk {
    /// PIN mode: shows `tries_left` and returns the PIN the patient typed.
    fn pin(&mut self, tries_left: u8) -> Result<Pin, AppError>;
    /// 目視 mode: whether the staff confirmed that the card's photo is the patient. Asked before
    /// anything is read from the card.
    fn confirm_photo(&mut self) -> Result<bool, AppError>;
}

/// What was asked of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// A card check, by PIN or 目視 (`/verify`).
    Card(Mode),
    /// 利用登録 on the spot with the patient's consent, by PIN (`/register`).
    Register,
    /// A check by 保険者番号・記号・番号・枝番 and 生年月日, without a card (`/query`).
    Numbers,
}

impl Asked {
    /// The mode the history records (a check by numbers is recorded as 目視: nobody typed a
    /// PIN; [`Asked::kind`] tells it apart).
    pub fn mode(self) -> Mode {
        match self {
            Self::Card(m) => m,
            Self::Register => Mode::Pin,
            Self::Numbers => Mode::Visual,
        }
    }

    /// What the history records beside the mode.
    pub fn kind(self) -> Option<history::Kind> {
        match self {
            Self::Card(_) => None,
            Self::Register => Some(history::Kind::Register),
            Self::Numbers => Some(history::Kind::Numbers),
        }
    }
}

/// The service's answer to one check.
#[derive(Clone, Debug)]
pub struct CheckOutcome {
    /// What was asked: a card check, 利用登録 or a check by numbers.
    pub asked: Asked,
    /// The answer as the service sent it.
    pub response: CheckResponse,
    /// Its 照会番号, parsed: the only form of it that reaches a file name.
    pub reference_number: ReferenceNumber,
    /// The visit date.
    pub visit: Date,
    /// The last day (JST) of the card's certificate (its notAfter), for the next step of a
    /// W001/W002 warning; none for a check by numbers.
    pub card_expiry: Option<Date>,
    /// The receipt-computer files written for it (and any character a Shift_JIS file could not
    /// carry), once written.
    pub files: Option<onshi_rececon::Written>,
    /// Why the receipt-computer files could not be written (a full disk, a folder gone), in
    /// Japanese: the answer is still shown, and the staff told that the receipt computer did not
    /// get it.
    pub files_error: Option<String>,
}

impl CheckOutcome {
    /// The answer: QualificationValidity and the qualifications, as the service typed them.
    pub fn answer(&self) -> &Answer {
        &self.response.answer
    }

    /// The exit code of `onshi app verify`: [`exit::VALID`] or [`exit::NOT_VALID`].
    pub fn exit_code(&self) -> u8 {
        if self.response.is_valid() {
            exit::VALID
        } else {
            exit::NOT_VALID
        }
    }

    /// The verdict, the warnings and the next steps ([`crate::guidance::for_outcome`]).
    pub fn guidance(&self) -> crate::guidance::Guidance {
        crate::guidance::for_outcome(self)
    }

    /// The patient's name from the first record.
    pub fn name(&self) -> Option<String> {
        self.answer().records.first().map(|r| r.name.to_string())
    }

    /// The answer in Japanese: [`onshi_model::show::describe`], the ReferenceNumber, and, for a
    /// check that did not finish (異常終了), the service's message. Warnings (a card certificate
    /// about to expire) are [`crate::guidance`]'s, shown above the answer.
    pub fn describe(&self) -> String {
        let mut out = onshi_model::show::describe(self.answer(), self.visit);
        if self.response.processing_result_status != ProcessingResultStatus::OK {
            out.push_str("処理結果\t異常終了\n");
        }
        out.push_str(&format!("照会番号\t{}\n", self.response.reference_number));
        // A warning of a finished check leads the answer ([`crate::guidance`]); the message of
        // a check that did not finish (異常終了) is its only content.
        let unfinished = self.response.processing_result_status != ProcessingResultStatus::OK;
        if let Some(m) = self
            .response
            .processing_result_message
            .as_ref()
            .filter(|_| unfinished)
        {
            let code = self
                .response
                .processing_result_code
                .map(onshi_proto::ResultCode::as_str)
                .unwrap_or("");
            out.push_str(&format!("メッセージ\t{m}（{code}）\n"));
        }
        out
    }
}

/// Calls `f` with the check as the receipt-computer formats see it.
fn with_rececon_result<R>(
    outcome: &CheckOutcome,
    now: DateTime<Utc>,
    institution_code: onshi_rececon::InstitutionCode,
    f: impl FnOnce(&onshi_rececon::CheckResult<'_>) -> R,
) -> R {
    let r = &outcome.response;
    let result = onshi_rececon::CheckResult {
        eligibility: &r.answer,
        visit: outcome.visit,
        processed_at: now.with_timezone(&chrono::Local).naive_local(),
        reference_number: &outcome.reference_number,
        processing_result_status: r.processing_result_status,
        processing_result_code: r.processing_result_code,
        processing_result_message: r.processing_result_message.as_deref(),
        reference_classification: match outcome.asked {
            Asked::Numbers => onshi_model::codes::ReferenceClassification::INSURED_CARD,
            Asked::Card(_) | Asked::Register => {
                onshi_model::codes::ReferenceClassification::MY_NUMBER_CARD
            }
        },
        institution_code,
    };
    f(&result)
}

/// The texts the national app puts on the clipboard for this check (CRLF, `項目名<TAB>値`), in
/// Unicode, one per record in the answer's order: the desk copies the one the staff pick. Empty
/// when the answer is not 有効: a lost qualification must not paste like a valid one.
pub fn clipboard_texts(outcome: &CheckOutcome, now: DateTime<Utc>) -> Vec<String> {
    // The clipboard text carries no institution code.
    with_rececon_result(
        outcome,
        now,
        onshi_rececon::InstitutionCode::UNKNOWN,
        |result| {
            result
                .parts()
                .iter()
                .filter_map(onshi_rececon::clipboard_text)
                .collect()
        },
    )
}

/// Writes the files the receipt computer reads (OQS result XML and clipboard text per record,
/// JSON) into `config.output` after a check the service answered. Called only for answered
/// checks, never for 未確認 ones, so no card data reaches the folder when the service was not
/// asked.
pub fn write_rececon_files(
    config: &RececonConfig,
    outcome: &CheckOutcome,
    now: DateTime<Utc>,
) -> Result<onshi_rececon::Written, AppError> {
    let encoding = config.encoding;
    with_rececon_result(outcome, now, config.institution_code(), |result| {
        onshi_rececon::write_all(&config.output, result, encoding)
    })
    .map_err(|e| AppError::data(&config.output, e))
}

/// What the staff read when the receipt-computer files could not be written.
pub fn files_error_ja(output: &Path, e: &AppError) -> String {
    format!(
        "資格確認の結果は表示のとおりですが、レセコン連携ファイルを書けませんでした（{}）。レセコンには届いていません。出力フォルダー {} の空き容量と書き込みの権限を確認してください。結果は履歴に残っています。",
        e.message_ja(),
        output.display()
    )
}

/// Runs one check with the card behind `card` and records it in the history. On a service error
/// (unreachable, timeout, terminal refused) the visit is recorded as 未確認 with nothing read
/// from the card, and the error is returned.
pub async fn check<T: Transport>(
    dir: &Path,
    card: &mut Client<T>,
    desk: &mut dyn Desk,
    mode: Mode,
    visit: Date,
    now: DateTime<Utc>,
) -> Result<CheckOutcome, AppError> {
    check_recording(dir, card, desk, Asked::Card(mode), visit, now, None).await
}

/// 利用登録 on the spot (the answer to a check was 未登録, W003): the patient consented, so the
/// card is checked again by PIN — a new challenge, the patient's PIN again, the card's signature
/// for [`proto::Purpose::Register`] — and sent to `/register`, which registers the card and
/// answers as a check. Recorded in the history like a check.
pub async fn register<T: Transport>(
    dir: &Path,
    card: &mut Client<T>,
    desk: &mut dyn Desk,
    visit: Date,
    now: DateTime<Utc>,
) -> Result<CheckOutcome, AppError> {
    check_recording(dir, card, desk, Asked::Register, visit, now, None).await
}

/// A check by the numbers on a 資格確認書 (or a 保険証 until its end, or a 資格情報のお知らせ):
/// no card is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbers {
    /// 保険者番号 (its check digit already checked).
    pub insurer: onshi_model::InsurerNumber,
    /// 記号 as typed (absent for 後期高齢者); half-width letters and digits are sent full-width.
    pub symbol: Option<String>,
    /// 番号 as typed; half-width letters and digits are sent full-width.
    pub number: String,
    /// 枝番 (two digits), when the document shows one.
    pub branch: Option<onshi_model::InsuredBranchNumber>,
    /// 生年月日.
    pub birth: Date,
}

impl Numbers {
    /// Reads what the staff typed: 保険者番号 (the 検証番号 checked), 記号 (may be empty), 番号,
    /// 枝番 (may be empty) and 生年月日 (`19800102`, `1980-01-02`, `昭和55年1月2日` or `S55.1.2`).
    /// Errors in Japanese, naming the field.
    pub fn parse(
        insurer: &str,
        symbol: &str,
        number: &str,
        branch: &str,
        birth: &str,
    ) -> Result<Self, AppError> {
        let bad = |field: &str, why: String| AppError::Usage(format!("{field}: {why}"));
        let insurer = onshi_model::InsurerNumber::parse(insurer.trim())
            .map_err(|e| bad("保険者番号", insurer_error_ja(insurer.trim(), &e)))?;
        let text = |field: &str, value: &str, max: usize| -> Result<Option<String>, AppError> {
            let value = full_width(value.trim());
            if value.is_empty() {
                return Ok(None);
            }
            if value.chars().count() > max || value.chars().any(char::is_control) {
                return Err(bad(field, format!("{max}文字以内で入力してください。")));
            }
            Ok(Some(value))
        };
        let symbol = text("記号", symbol, 38)?;
        let number = text("番号", number, 20)?
            .ok_or_else(|| bad("番号", "入力してください。".to_owned()))?;
        let branch = match branch.trim() {
            "" => None,
            b => Some(
                onshi_model::InsuredBranchNumber::parse(&half_width_digits(b))
                    .map_err(|e| bad("枝番", e.message_ja()))?,
            ),
        };
        let birth = parse_birth(birth).map_err(|why| bad("生年月日", why.to_string()))?;
        Ok(Self {
            insurer,
            symbol,
            number,
            branch,
            birth,
        })
    }

    fn request(&self, visit: Date) -> proto::QueryRequest {
        proto::QueryRequest {
            insurer_number: self.insurer.as_str().to_owned(),
            symbol: self.symbol.clone(),
            number: self.number.clone(),
            branch: self.branch.map(|b| b.to_string()),
            birthdate: self.birth,
            visit_date: visit,
        }
    }
}

/// What is wrong with a typed 保険者番号, in Japanese: the 検証番号 named when that is what is
/// wrong (a digit mistyped), for the desk to say as it is typed.
pub fn insurer_error_ja(typed: &str, e: &onshi_model::ModelError) -> String {
    match e {
        onshi_model::ModelError::CheckDigit { .. } => format!(
            "{typed} は検証番号（最後の1桁）が合いません。保険者番号を見直してください（数字の打ち間違いがあります）。"
        ),
        other => other.message_ja(),
    }
}

/// 生年月日 as the staff type it: 西暦 (`19800102`, `1980-01-02`, `1980/1/2`) or 和暦
/// (`昭和55年1月2日`, `S55.1.2`).
pub fn parse_birth(typed: &str) -> Result<Date, BirthError> {
    let t = half_width_digits(typed.trim());
    if let Ok(d) = onshi_model::date::parse_yyyymmdd(&t) {
        return Ok(d);
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(&t, format) {
            return Ok(d);
        }
    }
    onshi_model::wareki::parse_date(&t).map_err(|_| BirthError {
        typed: typed.to_owned(),
    })
}

/// A 生年月日 as typed that is no date: what the desk shows beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("「{typed}」を日付として読めません。19800102 のような西暦8桁か、昭和55年1月2日・S55.1.2 のような和暦で入力してください。")]
pub struct BirthError {
    /// What was typed.
    pub typed: String,
}

/// Full-width digits (０–９) as ASCII digits.
fn half_width_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// ASCII letters, digits and `-` as the full-width forms insurers issue 記号・番号 in.
fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' | 'A'..='Z' | 'a'..='z' => {
                char::from_u32(c as u32 - 0x20 + 0xFF00).unwrap_or(c)
            }
            '-' => '－',
            ' ' => '　',
            _ => c,
        })
        .collect()
}

/// Asks the service by the numbers on a 資格確認書 (`/query`) for `visit`; the answer recorded
/// in the history and the receipt-computer files written as for a card (照会区分 被保険者証情報).
/// When the service cannot be asked, nothing is recorded (there is no card to check again
/// later): the error is returned.
pub async fn query(
    dir: &Path,
    numbers: &Numbers,
    visit: Date,
    now: DateTime<Utc>,
) -> Result<CheckOutcome, AppError> {
    let config = AppConfig::load(dir)?;
    let identity = data::load_identity(dir)?;
    let ca_pem = data::server_ca(dir)?;
    let mut client = ServiceClient::new(config.server_url()?, ca_pem.as_deref(), Some(&identity))?;
    let request = numbers.request(visit);
    let mut asked = client.post(proto::QUERY, Some(&request)).await;
    if asked.is_err() && client.lost() {
        asked = client.post(proto::QUERY, Some(&request)).await;
    }
    let asked = asked.map_err(AppError::from);
    settle(dir, &config, asked, Asked::Numbers, visit, now, None)
}

/// What [`recheck`] did: the number of the 未確認 entry (as `onshi app history` shows it) and
/// the answer for its visit date.
#[derive(Clone, Debug)]
pub struct Recheck {
    /// The re-checked entry's number (1 = the oldest).
    pub entry: usize,
    /// When that visit was recorded as 未確認.
    pub recorded: DateTime<Utc>,
    /// The service's answer for the original visit date.
    pub outcome: CheckOutcome,
}

/// Re-checks a visit recorded as 未確認: entry number `entry` of the history, or the newest one
/// waiting. The check runs again with that entry's visit date (the patient's eligibility on the
/// visit day, not today); the answer is appended as a new entry marking the old one re-checked.
/// If the service is still unreachable nothing is appended: the entry stays 未確認.
pub async fn recheck<T: Transport>(
    dir: &Path,
    card: &mut Client<T>,
    desk: &mut dyn Desk,
    mode: Mode,
    entry: Option<usize>,
    now: DateTime<Utc>,
) -> Result<Recheck, AppError> {
    let entries = history::read(dir)?;
    let index = history::to_recheck(&entries, entry)?;
    let original = &entries[index];
    let visit = original.visit_date;
    let outcome = check_recording(
        dir,
        card,
        desk,
        Asked::Card(mode),
        visit,
        now,
        Some(original.time),
    )
    .await?;
    // Checked again with the card: a certificate kept for the visit is no longer needed.
    held::remove(dir, original.time)?;
    Ok(Recheck {
        entry: index + 1,
        recorded: original.time,
        outcome,
    })
}

/// [`check`], the answer recorded as a re-check of the entry made at `recheck_of` when given.
async fn check_recording<T: Transport>(
    dir: &Path,
    card: &mut Client<T>,
    desk: &mut dyn Desk,
    asked_for: Asked,
    visit: Date,
    now: DateTime<Utc>,
    recheck_of: Option<DateTime<Utc>>,
) -> Result<CheckOutcome, AppError> {
    let mode = asked_for.mode();
    let register = asked_for == Asked::Register;
    let (config, mut client) = connect(dir)?;
    // Certificates kept for 未確認 visits live 31 days at most.
    held::purge(dir, now)?;

    if mode == Mode::Visual && !desk.confirm_photo()? {
        return Err(AppError::PhotoNotConfirmed);
    }
    let certificate = card.read_auth_certificate()?;
    if mode == Mode::Pin {
        let tries = card.auth_pin_tries_left()?;
        if tries == 0 {
            return Err(CardError::PinBlocked.into());
        }
        let pin = desk.pin(tries)?;
        card.verify_auth_pin(&pin)?;
    }

    let mut sign =
        |digest_info: &[u8]| card.sign_with_auth_key(digest_info).map_err(AppError::from);
    let asked = ask_retrying(
        &mut client,
        &mut sign,
        &config.account,
        (mode, register),
        &certificate,
        (visit, recheck_of),
    )
    .await;
    match settle(dir, &config, asked, asked_for, visit, now, recheck_of) {
        Ok(mut outcome) => {
            outcome.card_expiry = certificate_expiry(&certificate);
            Ok(outcome)
        }
        Err(e) => {
            if e.is_service_error() && recheck_of.is_none() {
                // Recorded as 未確認 with the patient identified (photo or PIN): the card's
                // certificate is kept (encrypted) so that the visit can be checked again without
                // the card. Should that fail (a full disk), the history offers the re-check with
                // the card instead ([`recheckable_without_card`] says no): nothing is lost.
                let _ = held::keep(dir, now, &certificate);
            }
            Err(e)
        }
    }
}

/// The app's settings and a client for the service, with the terminal's certificate.
fn connect(dir: &Path) -> Result<(AppConfig, ServiceClient), AppError> {
    let config = AppConfig::load(dir)?;
    let identity = data::load_identity(dir)?;
    let ca_pem = data::server_ca(dir)?;
    let client = ServiceClient::new(config.server_url()?, ca_pem.as_deref(), Some(&identity))?;
    Ok((config, client))
}

/// Whether the 未確認 entry `index` of `entries` can be checked again without the card: its
/// card's certificate was kept.
pub fn recheckable_without_card(dir: &Path, entries: &[Entry], index: usize) -> bool {
    history::awaits_recheck(entries, index) && held::is_held(dir, entries[index].time)
}

/// Re-checks a 未確認 visit without the card (`onshi app recheck --held`, the desk's
/// 「確認し直す」): the certificate kept for it, in 目視 mode (the staff confirmed the patient
/// when the visit was recorded), for its original visit date. The kept certificate is removed
/// once the service answered. If the service is still unreachable nothing is appended.
pub async fn recheck_held(
    dir: &Path,
    entry: Option<usize>,
    now: DateTime<Utc>,
) -> Result<Recheck, AppError> {
    held::purge(dir, now)?;
    let entries = history::read(dir)?;
    let index = history::to_recheck(&entries, entry)?;
    let original = &entries[index];
    let certificate = held::read(dir, original.time)?.ok_or_else(|| {
        AppError::Usage(format!(
            "{}番の受付のカードの証明書は残っていません（{}日を過ぎたか、残せなかったため）。患者さんのカードで確認し直してください。",
            index + 1,
            held::KEEP_DAYS
        ))
    })?;
    let visit = original.visit_date;
    let (config, mut client) = connect(dir)?;
    // 目視: nothing is signed; the card is not here.
    let mut no_card =
        |_: &[u8]| -> Result<Vec<u8>, AppError> { Err(CardError::PinNotVerified.into()) };
    let asked = ask_retrying(
        &mut client,
        &mut no_card,
        &config.account,
        (Mode::Visual, false),
        &certificate,
        (visit, Some(original.time)),
    )
    .await;
    let mut outcome = settle(
        dir,
        &config,
        asked,
        Asked::Card(Mode::Visual),
        visit,
        now,
        Some(original.time),
    )?;
    held::remove(dir, original.time)?;
    outcome.card_expiry = certificate_expiry(&certificate);
    Ok(Recheck {
        entry: index + 1,
        recorded: original.time,
        outcome,
    })
}

/// The last day (JST) of a card certificate, when its DER can be read.
fn certificate_expiry(der: &[u8]) -> Option<Date> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let at = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)?;
    Some(onshi_model::date::jst_time(at).date())
}

/// What follows the service's answer (or its failure): the 照会番号 parsed (anything but the
/// issued form is a [`AppError::BadAnswer`]), the history entry, then the receipt-computer
/// files. A failure is recorded as 未確認 (except on a re-check, whose entry stays 未確認, and a
/// check by numbers, which has no card to check again) and nothing is written to the output
/// folder.
fn settle(
    dir: &Path,
    config: &AppConfig,
    asked: Result<CheckResponse, AppError>,
    asked_for: Asked,
    visit: Date,
    now: DateTime<Utc>,
    recheck_of: Option<DateTime<Utc>>,
) -> Result<CheckOutcome, AppError> {
    let mode = asked_for.mode();
    let accepted = asked.and_then(|response| {
        let reference_number = ReferenceNumber::parse(&response.reference_number)
            .map_err(|e| AppError::BadAnswer(format!("照会番号: {}", e.message_ja())))?;
        Ok((response, reference_number))
    });
    let (response, reference_number) = match accepted {
        Ok(r) => r,
        Err(e) => {
            // A failed re-check adds nothing: the original entry still says 未確認.
            if e.is_service_error() && recheck_of.is_none() && asked_for != Asked::Numbers {
                history::append(
                    dir,
                    Entry {
                        time: now,
                        mode,
                        status: Status::Unconfirmed,
                        visit_date: visit,
                        validity: None,
                        reference_number: None,
                        name: None,
                        message: Some(e.message_ja()),
                        recheck_of: None,
                        kind: asked_for.kind(),
                    },
                    now,
                )?;
            }
            return Err(e);
        }
    };
    let outcome = CheckOutcome {
        asked: asked_for,
        response,
        reference_number,
        visit,
        card_expiry: None,
        files: None,
        files_error: None,
    };
    history::append(
        dir,
        Entry {
            time: now,
            mode,
            status: if outcome.response.processing_result_status == ProcessingResultStatus::OK {
                Status::Confirmed
            } else {
                Status::Failed
            },
            visit_date: visit,
            validity: Some(outcome.response.answer.validity.as_str().to_owned()),
            reference_number: Some(outcome.reference_number.to_string()),
            name: outcome.name(),
            message: outcome.response.processing_result_message.clone(),
            recheck_of,
            kind: asked_for.kind(),
        },
        now,
    )?;
    let mut outcome = outcome;
    // The service answered and the history holds it: a file that cannot be written must not
    // hide the answer from the staff.
    match write_rececon_files(&config.rececon, &outcome, now) {
        Ok(written) => outcome.files = Some(written),
        Err(e) => {
            outcome.files_error = Some(files_error_ja(&config.rececon.output, &e));
        }
    }
    Ok(outcome)
}

/// Refuses a check when this PC's clock (`local`) is further from the service's (`server`, from
/// its `Date` header) than `limit_seconds`, the challenge's lifetime.
fn clock_matches(
    server: Option<DateTime<Utc>>,
    local: DateTime<Utc>,
    limit_seconds: u64,
) -> Result<(), AppError> {
    let Some(server) = server else {
        return Ok(());
    };
    let seconds = (local - server).num_seconds();
    if seconds.unsigned_abs() > limit_seconds {
        return Err(AppError::ClockSkew { seconds });
    }
    Ok(())
}

/// [`ask`]; when the connection died before the answer (an instance of the service went away
/// behind its load balancer), once more on a new connection, with a new challenge and a new
/// signature — a challenge is never sent twice.
async fn ask_retrying(
    client: &mut ServiceClient,
    sign: &mut Signer<'_>,
    account: &str,
    how: (Mode, bool),
    certificate: &[u8],
    visit: (Date, Option<DateTime<Utc>>),
) -> Result<CheckResponse, AppError> {
    let asked = ask(client, sign, account, how, certificate, visit).await;
    if asked.is_err() && client.lost() {
        return ask(client, sign, account, how, certificate, visit).await;
    }
    asked
}

/// Signs a DigestInfo with the card's user-authentication key (after a verified PIN).
type Signer<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, AppError> + 'a;

/// Challenge, the card's signature (PIN mode, after a verified PIN: `sign` takes the DigestInfo),
/// verify — or, with `register`, `/register` with a signature for that purpose.
async fn ask(
    client: &mut ServiceClient,
    sign: &mut Signer<'_>,
    account: &str,
    (mode, register): (Mode, bool),
    certificate: &[u8],
    (visit_date, recheck_of): (Date, Option<DateTime<Utc>>),
) -> Result<CheckResponse, AppError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let challenge: proto::ChallengeResponse = client.post(proto::CHALLENGE, None::<&()>).await?;
    // The clock read now, not the check's start: the patient may have taken a minute at the PIN
    // pad. Off by more than a challenge lives, the visit date cannot be trusted either.
    clock_matches(
        client.server_date(),
        chrono::Utc::now(),
        challenge.expires_in,
    )?;
    let signature = match mode {
        Mode::Pin => {
            let nonce = b64
                .decode(&challenge.nonce)
                .map_err(|e| AppError::Protocol(format!("nonce: {e}")))?;
            let purpose = if register {
                proto::Purpose::Register
            } else {
                proto::Purpose::Verify
            };
            let digest = proto::signed_digest(purpose, &nonce, account);
            Some(b64.encode(sign(&sha256_digest_info(&digest))?))
        }
        Mode::Visual => None,
    };
    let request = proto::VerifyRequest {
        mode,
        certificate: b64.encode(certificate),
        signature,
        nonce: challenge.nonce,
        visit_date,
        // The re-checked visit, as the history records it: the service's audit says which.
        recheck_of: recheck_of.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    let path = if register {
        proto::REGISTER
    } else {
        proto::VERIFY
    };
    Ok(client.post(path, Some(&request)).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REFERENCE: &str = "20260401003005ABCDEF12";

    #[test]
    fn a_clock_off_by_more_than_a_challenge_lives_is_named() {
        let server = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 4, 1, 0, 0, 0).unwrap();
        let at = |s: i64| server + chrono::Duration::seconds(s);
        assert!(clock_matches(Some(server), at(120), 120).is_ok());
        assert!(clock_matches(Some(server), at(-120), 120).is_ok());
        assert!(clock_matches(None, at(9999), 120).is_ok());
        let ahead = clock_matches(Some(server), at(3600), 120).unwrap_err();
        assert!(matches!(ahead, AppError::ClockSkew { seconds: 3600 }));
        assert!(
            ahead.message_ja().contains("時計"),
            "{}",
            ahead.message_ja()
        );
        assert!(
            ahead.message_ja().contains("約60分進んで"),
            "{}",
            ahead.message_ja()
        );
        let behind = clock_matches(Some(server), at(-121), 120).unwrap_err();
        assert!(
            behind.message_ja().contains("約3分遅れて"),
            "{}",
            behind.message_ja()
        );
    }

    fn response(reference: &str) -> CheckResponse {
        CheckResponse {
            reference_number: reference.into(),
            processing_result_status: ProcessingResultStatus::OK,
            processing_result_code: None,
            processing_result_message: None,
            answer: Answer {
                validity: onshi_model::QualificationValidity::VALID,
                records: Vec::new(),
            },
        }
    }

    fn outcome(status: &str, validity: &str) -> CheckOutcome {
        CheckOutcome {
            asked: Asked::Card(Mode::Pin),
            reference_number: ReferenceNumber::parse(REFERENCE).unwrap(),
            response: CheckResponse {
                reference_number: REFERENCE.into(),
                processing_result_status: ProcessingResultStatus::parse(status).unwrap(),
                processing_result_code: Some(onshi_proto::ResultCode::CertificateExpiresSoon),
                processing_result_message: Some("更新をお伝えください".into()),
                answer: Answer {
                    validity: onshi_model::QualificationValidity::parse(validity).unwrap(),
                    records: Vec::new(),
                },
            },
            visit: chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default(),
            card_expiry: None,
            files: None,
            files_error: None,
        }
    }

    #[test]
    fn exit_codes_and_text() {
        assert_eq!(outcome("1", "1").exit_code(), exit::VALID);
        for v in ["2", "3", "4", "5", "6"] {
            assert_eq!(outcome("1", v).exit_code(), exit::NOT_VALID, "{v}");
        }
        assert_eq!(outcome("2", "1").exit_code(), exit::NOT_VALID);
        let text = outcome("2", "4").describe();
        assert!(text.contains("資格有効性\t該当資格なし"), "{text}");
        assert!(text.contains("処理結果\t異常終了"), "{text}");
        assert!(text.contains(&format!("照会番号\t{REFERENCE}")), "{text}");
        assert!(
            text.contains("メッセージ\t更新をお伝えください（W002）"),
            "{text}"
        );
    }

    fn config(dir: &Path) -> AppConfig {
        AppConfig {
            server: "https://127.0.0.1:1".into(),
            account: "W0000001".into(),
            name: None,
            rececon: RececonConfig {
                output: dir.join(data::RECECON_DIR),
                encoding: data::Encoding::Utf8,
                allowed_output_roots: Vec::new(),
                institution_code: None,
            },
            reader: None,
        }
    }

    /// Finding 10: a 照会番号 that is not the issued form (a path, NUL, too long, or just
    /// another shape) is a bad answer: a Japanese error, the visit 未確認, no file written.
    #[test]
    fn a_reference_number_not_issued_by_the_service_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let visit = onshi_model::date::parse_yyyymmdd("20260401").unwrap();
        let now = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let long = "A".repeat(5000);
        let bad = [
            "../x",
            "a/b",
            "20260401003005ABCDEF\0x",
            "../../../../etc/cron.d/x",
            long.as_str(),
            "R1",
        ];
        for (i, reference) in bad.iter().enumerate() {
            let e = settle(
                dir.path(),
                &config,
                Ok(response(reference)),
                Asked::Card(Mode::Visual),
                visit,
                now,
                None,
            )
            .unwrap_err();
            assert!(matches!(e, AppError::BadAnswer(_)), "{reference:?}: {e}");
            assert!(e.is_service_error());
            let ja = e.message_ja();
            assert!(ja.contains("照会番号") && ja.contains("未確認"), "{ja}");
            assert!(!ja.contains('\0') && ja.len() < 1000, "{ja}");
            let entries = history::read(dir.path()).unwrap();
            assert_eq!(entries.len(), i + 1);
            assert_eq!(entries[i].status, Status::Unconfirmed);
            assert!(entries[i].reference_number.is_none());
        }
        // Nothing reached (or left) the folder: not the output folder, not beside it.
        assert!(!config.rececon.output.exists());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [data::HISTORY_FILE], "{names:?}");

        // The issued form is written.
        let done = settle(
            dir.path(),
            &config,
            Ok(response(REFERENCE)),
            Asked::Card(Mode::Visual),
            visit,
            now,
            None,
        )
        .unwrap();
        assert_eq!(done.reference_number.as_str(), REFERENCE);
        let files = done.files.unwrap();
        // The XML and the JSON: an answer without a record has no clipboard text.
        assert_eq!(files.paths().len(), 2);
        assert!(files
            .paths()
            .iter()
            .all(|p| p.parent() == Some(config.rececon.output.as_path())
                && p.to_string_lossy().contains(REFERENCE)));
    }
}

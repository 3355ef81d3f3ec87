//! Errors of the portal: [`FieldError`], what a form shows beside a field (its `Display` is the
//! page's Japanese, word for word); [`PortalError`], why `[portal]` cannot be read or an operator
//! not be added, for the operator's command line.

use std::path::PathBuf;

use crate::registration::Practice;

/// A value typed in a form that is refused. The `Display` text is what the page shows (the
/// browser and HTTP tests compare it word for word); `label` names the field as the page does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Nothing typed.
    #[error("{label}を入力してください。")]
    Required {
        /// The field.
        label: &'static str,
    },
    /// Longer than the field allows.
    #[error("{label}は{max}文字以内で入力してください。")]
    TooLong {
        /// The field.
        label: &'static str,
        /// The most characters.
        max: usize,
    },
    /// A line break or control character in a one-line field.
    #[error("{label}に改行や制御文字は使えません。")]
    LineBreak {
        /// The field.
        label: &'static str,
    },
    /// A control character (other than line breaks and tabs).
    #[error("{label}に使えない文字が含まれています。")]
    Character {
        /// The field.
        label: &'static str,
    },
    /// Not exactly `n` digits.
    #[error("{label}は数字{n}桁で入力してください。")]
    Digits {
        /// The field.
        label: &'static str,
        /// How many digits.
        n: usize,
    },
    /// A character a bank transfer cannot carry.
    #[error("{label}に振込で使えない文字「{bad}」があります。カタカナ・英大文字・数字・スペースと ( ) - . / ｢ ｣ , で入力してください（漢字・ひらがなの小さい文字は使えません）。")]
    TransferCharacter {
        /// The field.
        label: &'static str,
        /// The first such character.
        bad: char,
    },
    /// Longer, in half-width kana, than a bank transfer carries.
    #[error("{label}は半角カナに直して{max}文字以内です（いまは{n}文字。濁点・半濁点も1文字に数えます）。")]
    TransferTooLong {
        /// The field.
        label: &'static str,
        /// The most characters.
        max: usize,
        /// How many it has.
        n: usize,
    },
    /// No amount.
    #[error("金額を入力してください。")]
    AmountRequired,
    /// An amount with a sign, decimals or other characters.
    #[error(
        "金額は半角数字で入力してください（例: 52,800）。マイナス、小数点、記号は使えません。"
    )]
    AmountCharacters,
    /// An amount with commas out of place.
    #[error("金額のカンマの位置が正しくありません（例: 52,800）。")]
    AmountCommas,
    /// An amount above the most a receipt item may be.
    #[error("金額は{}以下で入力してください。", crate::view::yen(*max))]
    AmountTooBig {
        /// The most, in yen.
        max: i64,
    },
    /// Zero yen.
    #[error("金額は1円以上で入力してください。")]
    AmountZero,
    /// No purchase date.
    #[error("購入日を入力してください。")]
    PurchaseDateRequired,
    /// A purchase date that is not a date.
    #[error("購入日は年-月-日で入力してください（例: 2025-10-01）。")]
    PurchaseDateFormat,
    /// A purchase date after today.
    #[error("購入日が未来の日付になっています。")]
    PurchaseDateFuture,
    /// Not an e-mail address.
    #[error("メールアドレスの形式が正しくありません（例: clinic@example.jp）。")]
    Email,
    /// Not a phone number.
    #[error("電話番号は0から始まる10桁または11桁の数字で入力してください（ハイフン可）。")]
    Phone,
    /// A 登録記号番号 that does not start with the practice's letter.
    #[error(
        "{}の登録記号番号は「{}」で始まります（例: {}）。",
        practice.label(),
        practice.prefixes_text(),
        practice.example()
    )]
    RegistrationPrefix {
        /// The practice the number is for.
        practice: Practice,
    },
    /// A 登録記号番号 without its 10 digits.
    #[error(
        "{}の登録記号番号は記号の後に数字10桁です（例: {}、ハイフンは省略可）。",
        practice.label(),
        practice.example()
    )]
    RegistrationDigits {
        /// The practice the number is for.
        practice: Practice,
    },
}

/// Why `[portal]` of `config.toml` cannot be used, or an operator not be added: for the
/// operator's command line (Japanese and English, naming the key).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// `[portal]` has an unknown key or a value of the wrong kind.
    #[error("config.toml [portal]: {0}")]
    Section(toml::de::Error),
    /// `[portal]` cannot be written as TOML.
    #[error("[portal]: {0}")]
    Table(toml::ser::Error),
    /// `subsidy_deadline` is not a date.
    #[error("[portal] subsidy_deadline {value:?}: yyyy-mm-dd で書いてください / {reason}")]
    Deadline {
        /// The value.
        value: String,
        /// chrono's words.
        reason: chrono::ParseError,
    },
    /// `subsidy_deadline` is a date without an end in Japan's time.
    #[error("[portal] subsidy_deadline is out of range")]
    DeadlineRange,
    /// A count or amount that must be positive is not.
    #[error("[portal] {key} must be positive, not {value}")]
    NotPositive {
        /// The key.
        key: &'static str,
        /// Its value.
        value: i64,
    },
    /// `late_correction_days` is negative.
    #[error("[portal] late_correction_days must be 0 or more, not {0}")]
    LateCorrectionDays(i64),
    /// `rececon_rate_percent` is not a percentage.
    #[error("[portal] rececon_rate_percent must be 0–100, not {0}")]
    RececonRate(i64),
    /// `smtp` is not `HOST:PORT`.
    #[error("[portal] smtp {0:?}: HOST:PORT で書いてください / write HOST:PORT")]
    SmtpAddress(String),
    /// `smtp_security` is none of starttls, tls, none.
    #[error(
        "[portal] smtp_security {0:?}: starttls、tls、none のどれかです / starttls, tls or none"
    )]
    SmtpSecurity(String),
    /// Plain SMTP to another machine.
    #[error("[portal] smtp_security = \"none\" は同じマシンの SMTP サーバー（localhost）にだけ使えます: {host} / plain SMTP only to localhost")]
    PlainSmtp {
        /// The SMTP server.
        host: String,
    },
    /// `smtp_password_file` cannot be read.
    #[error("[portal] smtp_password_file {}: {cause}", path.display())]
    SmtpPasswordFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Only one of `smtp_username` and `smtp_password_file`.
    #[error("[portal] smtp_username と smtp_password_file は両方書いてください / set both smtp_username and smtp_password_file")]
    SmtpCredentials,
    /// TLS towards the SMTP server cannot be set up.
    #[error("[portal] smtp {host}: TLS: {cause}")]
    SmtpTls {
        /// The SMTP server.
        host: String,
        /// lettre's words.
        cause: lettre::transport::smtp::Error,
    },
    /// An operator's login name that is not one.
    #[error(
        "ログイン名は英数字と . _ - @ で64文字以内にしてください / login: letters, digits, . _ - @"
    )]
    Login,
    /// An operator without a name.
    #[error("名前が空です / the name is empty")]
    EmptyName,
    /// A password too weak (the message is the same the pages show).
    #[error("{0}")]
    Password(String),
    /// A login already taken.
    #[error("ログイン名「{0}」はすでに使われています / login taken")]
    LoginTaken(String),
    /// No operator of that login.
    #[error("運用担当者「{0}」はいません / no such operator")]
    NoSuchOperator(String),
    /// No random bytes from the operating system.
    #[error("{0}")]
    Random(getrandom::Error),
    /// Hashing the password failed.
    #[error("{0}")]
    Hash(String),
    /// The store failed (the values a database error may quote left out, as logged).
    #[error("{}", onshi_server::loggable(.0))]
    Store(onshi_store::StoreError),
}

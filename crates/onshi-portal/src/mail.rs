//! The portal's mail: written to the outbox folder (one `.eml` file per mail, atomically) that
//! the operator (and the tests) read. SMTP delivery is not built yet: the configuration refuses
//! `smtp` with a message saying so.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;

/// Where mails go.
#[derive(Clone, Debug)]
pub enum Mailer {
    /// The outbox folder.
    Outbox(PathBuf),
}

/// One mail.
#[derive(Clone, Debug)]
pub struct Mail<'a> {
    /// Sender.
    pub from: &'a str,
    /// Recipient.
    pub to: &'a str,
    /// Subject (Japanese).
    pub subject: &'a str,
    /// Plain-text body (Japanese).
    pub body: &'a str,
}

impl Mailer {
    /// Sends (writes) `mail`; returns where it went.
    pub fn send(&self, mail: &Mail<'_>) -> std::io::Result<PathBuf> {
        match self {
            Self::Outbox(dir) => {
                std::fs::create_dir_all(dir)?;
                let mut rand = [0u8; 8];
                getrandom::fill(&mut rand).map_err(std::io::Error::other)?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
                    hex::encode(rand)
                );
                let mut tmp = tempfile::Builder::new().prefix(".mail-").tempfile_in(dir)?;
                tmp.write_all(render(mail).as_bytes())?;
                tmp.as_file().sync_all()?;
                let path = dir.join(name);
                tmp.persist(&path).map_err(|e| e.error)?;
                Ok(path)
            }
        }
    }
}

/// The message as RFC 5322 text: UTF-8 body (8bit), the subject as an encoded word.
pub fn render(mail: &Mail<'_>) -> String {
    format!(
        "From: {}\r\nTo: {}\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        mail.from,
        mail.to,
        base64::engine::general_purpose::STANDARD.encode(mail.subject.as_bytes()),
        chrono::Utc::now().to_rfc2822(),
        mail.body.replace('\n', "\r\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_mail_is_written_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mailer = Mailer::Outbox(dir.path().join("outbox"));
        let path = mailer
            .send(&Mail {
                from: "portal@example.jp",
                to: "clinic@example.jp",
                subject: "メールアドレスの確認",
                body: "次のリンクを開いてください。\nhttps://x/portal/confirm?token=abc",
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(text.contains("To: clinic@example.jp\r\n"));
        assert!(text.contains("Subject: =?UTF-8?B?44Oh44O844Or44Ki44OJ44Os44K544Gu56K66KqN?="));
        assert!(text.contains("token=abc"));
    }
}

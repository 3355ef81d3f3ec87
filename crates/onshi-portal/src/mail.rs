//! The portal's mail: queued in the store (`portal_mail_queue`) in the same transaction as what
//! it announces, and sent by a background worker ([`deliver_due`], started by
//! [`crate::spawn_worker`]) with retries and growing back-off, never while a request waits.
//! The worker's transport is the SMTP server of `[portal] smtp` (lettre; STARTTLS, TLS, or plain
//! text to a server on this machine), or without one the outbox folder (one `.eml` file per
//! mail, atomically) that the operator (and the tests) read.

use std::path::PathBuf;

use base64::Engine;
use chrono::{DateTime, Utc};
use onshi_store::portal::{transaction, PortalDb, PortalTx};
use onshi_store::StoreError;

use crate::PortalError;

/// How to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Protection of the connection.
    pub security: SmtpSecurity,
    /// Login and password, when the server wants them.
    pub credentials: Option<(String, zeroize::Zeroizing<String>)>,
}

/// How an SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only to a server on this machine.
    None,
}

impl SmtpSettings {
    /// From `[portal] smtp = "HOST:PORT"` and its companions.
    pub fn from_config(server: &str, p: &crate::PortalConfig) -> Result<Self, PortalError> {
        let (host, port) = server
            .rsplit_once(':')
            .and_then(|(h, port)| Some((h.trim_matches(['[', ']']).to_owned(), port.parse().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| PortalError::SmtpAddress(server.to_owned()))?;
        let security = match p.smtp_security.as_str() {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => return Err(PortalError::SmtpSecurity(other.to_owned())),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        if security == SmtpSecurity::None && !loopback {
            return Err(PortalError::PlainSmtp { host });
        }
        let credentials = match (&p.smtp_username, &p.smtp_password_file) {
            (None, None) => None,
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file).map_err(|cause| {
                    PortalError::SmtpPasswordFile {
                        path: file.clone(),
                        cause,
                    }
                })?;
                Some((
                    user.clone(),
                    zeroize::Zeroizing::new(password.trim_end().to_owned()),
                ))
            }
            _ => return Err(PortalError::SmtpCredentials),
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
        })
    }
}

/// Where mails go.
#[derive(Clone, Debug)]
pub enum Mailer {
    /// The outbox folder.
    Outbox(PathBuf),
    /// An SMTP server.
    Smtp(lettre::SmtpTransport),
}

/// Where a mail went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Written to this file of the outbox.
    Outbox(PathBuf),
    /// Accepted by the SMTP server.
    Smtp,
}

/// How long the SMTP server may take.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

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
    /// A mailer for the SMTP server `s`.
    pub fn smtp(s: &SmtpSettings) -> Result<Self, PortalError> {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        let tls = || {
            TlsParameters::new(s.host.clone()).map_err(|cause| PortalError::SmtpTls {
                host: s.host.clone(),
                cause,
            })
        };
        let mut builder = lettre::SmtpTransport::builder_dangerous(s.host.as_str())
            .port(s.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(match s.security {
                SmtpSecurity::StartTls => Tls::Required(tls()?),
                SmtpSecurity::Tls => Tls::Wrapper(tls()?),
                SmtpSecurity::None => Tls::None,
            });
        if let Some((user, password)) = &s.credentials {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    password.to_string(),
                ));
        }
        Ok(Self::Smtp(builder.build()))
    }

    /// Sends (or writes) `mail`.
    pub fn send(&self, mail: &Mail<'_>) -> std::io::Result<Sent> {
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
                // Owner-only: a mail holds a sign-in link.
                let path = dir.join(name);
                onshi_fs::write_atomic(&path, render(mail).as_bytes(), onshi_fs::MODE_PRIVATE)?;
                Ok(Sent::Outbox(path))
            }
            Self::Smtp(transport) => {
                use lettre::Transport;
                let bad = |e: &dyn std::fmt::Display| std::io::Error::other(format!("mail: {e}"));
                let message = lettre::Message::builder()
                    .from(mail.from.parse().map_err(|e| bad(&e))?)
                    .to(mail.to.parse().map_err(|e| bad(&e))?)
                    .subject(mail.subject)
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(mail.body.to_owned())
                    .map_err(|e| bad(&e))?;
                transport.send(&message).map_err(|e| bad(&e))?;
                Ok(Sent::Smtp)
            }
        }
    }
}

/// A mail to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Recipient.
    pub to: String,
    /// Subject (Japanese).
    pub subject: String,
    /// Plain-text body (Japanese).
    pub body: String,
}

/// Attempts before a mail is given up (its body, which may hold a link, is then removed).
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a worker owns a mail it took: another instance sends it after that if the first
/// died mid-send.
const LEASE_SECONDS: i64 = 300;
/// Mails one round of the worker sends at most.
const BATCH: i64 = 50;

/// Seconds to wait after the `attempts`-th failure: 30 s, doubling, at most an hour.
pub fn backoff_seconds(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20);
    (30_i64 << doublings).min(3600)
}

/// Queues `mail` inside the caller's transaction: it is sent only if that commits.
pub fn enqueue(
    tx: &mut dyn PortalTx,
    mail: &Outgoing,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO portal_mail_queue (recipient, subject, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4)",
        &[
            mail.to.as_str().into(),
            mail.subject.as_str().into(),
            mail.body.as_str().into(),
            now.timestamp().into(),
        ],
    )?;
    Ok(())
}

/// What one round of the worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Sent (and removed from the queue).
    pub sent: usize,
    /// Failed, to be tried again later.
    pub retried: usize,
    /// Failed for the last time (kept with `failed_at`, the body removed).
    pub given_up: usize,
}

/// A mail the queue holds, as the operator may see it (no body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Recipient.
    pub to: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Whether it was given up.
    pub failed: bool,
}

/// Every mail still in the queue, oldest first.
pub fn queued(db: &dyn PortalDb) -> Result<Vec<Queued>, StoreError> {
    onshi_store::portal::read(db, |tx| {
        tx.query(
            "SELECT recipient, attempts, next_attempt_at, failed_at FROM portal_mail_queue ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(Queued {
                to: r.text(0)?,
                attempts: r.int(1)?,
                next_attempt_at: crate::db::time(r.int(2)?),
                failed: r.opt_int(3)?.is_some(),
            })
        })
        .collect()
    })
}

/// Sends the mails due at `now` through `mailer`, `from` as the sender: each is taken (leased)
/// in its own short transaction, sent outside any, then removed, or rescheduled with
/// [`backoff_seconds`], or given up after [`MAX_ATTEMPTS`].
pub fn deliver_due(
    db: &dyn PortalDb,
    mailer: &Mailer,
    from: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, StoreError> {
    let t = now.timestamp();
    let due: Vec<i64> = transaction(db, |tx| {
        tx.query(
            "SELECT id FROM portal_mail_queue WHERE failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
            &[t.into(), BATCH.into()],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect()
    })?;
    let mut done = Delivery::default();
    for id in due {
        // Of two workers, one takes it.
        let taken = transaction(db, |tx| {
            tx.query_opt(
                "UPDATE portal_mail_queue SET next_attempt_at = $1
                 WHERE id = $2 AND failed_at IS NULL AND next_attempt_at <= $3
                 RETURNING recipient, subject, body, attempts",
                &[(t + LEASE_SECONDS).into(), id.into(), t.into()],
            )?
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?)))
            .transpose()
        })?;
        let Some((to, subject, body, attempts)) = taken else {
            continue;
        };
        let sent = mailer.send(&Mail {
            from,
            to: &to,
            subject: &subject,
            body: &body,
        });
        match sent {
            Ok(_) => {
                transaction(db, |tx| {
                    tx.execute("DELETE FROM portal_mail_queue WHERE id = $1", &[id.into()])
                })?;
                done.sent += 1;
            }
            Err(e) => {
                let attempts = attempts + 1;
                let error: String = e.to_string().chars().take(500).collect();
                if attempts >= MAX_ATTEMPTS {
                    tracing::error!(mail = id, attempts, error = %error, "portal mail given up");
                    transaction(db, |tx| {
                        tx.execute(
                            "UPDATE portal_mail_queue SET attempts = $1, last_error = $2, failed_at = $3, body = '' WHERE id = $4",
                            &[attempts.into(), error.as_str().into(), t.into(), id.into()],
                        )
                    })?;
                    done.given_up += 1;
                } else {
                    tracing::warn!(mail = id, attempts, error = %error, "portal mail not sent; will retry");
                    transaction(db, |tx| {
                        tx.execute(
                            "UPDATE portal_mail_queue SET attempts = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4",
                            &[
                                attempts.into(),
                                error.as_str().into(),
                                (t + backoff_seconds(attempts)).into(),
                                id.into(),
                            ],
                        )
                    })?;
                    done.retried += 1;
                }
            }
        }
    }
    Ok(done)
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
        let Sent::Outbox(path) = path else {
            panic!("not the outbox: {path:?}")
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(text.contains("To: clinic@example.jp\r\n"));
        assert!(text.contains("Subject: =?UTF-8?B?44Oh44O844Or44Ki44OJ44Os44K544Gu56K66KqN?="));
        assert!(text.contains("token=abc"));
    }

    /// A minimal SMTP server on loopback: answers each command, keeps what DATA carried.
    fn fake_smtp() -> (u16, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
            let mut out = stream.try_clone().unwrap_or_else(|e| panic!("{e}"));
            let mut lines = BufReader::new(stream);
            let mut data = String::new();
            let _ = out.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                let command = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if command.starts_with("EHLO") {
                    b"250-fake\r\n250 8BITMIME\r\n"
                } else if command == "DATA" {
                    let _ = out.write_all(b"354 go on\r\n");
                    let mut body = String::new();
                    while lines.read_line(&mut body).unwrap_or(0) > 0
                        && !body.ends_with("\r\n.\r\n")
                    {}
                    data = body;
                    b"250 queued\r\n"
                } else if command == "QUIT" {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = out.write_all(reply);
                line.clear();
            }
            data
        });
        (port, handle)
    }

    #[test]
    fn smtp_mail_reaches_the_server() {
        let (port, server) = fake_smtp();
        let config = crate::PortalConfig {
            smtp_security: "none".to_owned(),
            ..Default::default()
        };
        let settings = SmtpSettings::from_config(&format!("127.0.0.1:{port}"), &config)
            .unwrap_or_else(|e| panic!("{e}"));
        let mailer = Mailer::smtp(&settings).unwrap_or_else(|e| panic!("{e}"));
        let sent = mailer
            .send(&Mail {
                from: "portal@example.jp",
                to: "clinic@example.jp",
                subject: "メールアドレスの確認",
                body: "次のリンクを開いてください。\nhttps://x/portal/confirm?token=abc",
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sent, Sent::Smtp);
        let data = server.join().unwrap_or_default();
        assert!(data.contains("To: clinic@example.jp"), "{data}");
        assert!(
            data.contains("Subject: =?utf-8?b?") || data.contains("Subject: =?UTF-8?B?"),
            "{data}"
        );
    }

    #[test]
    fn smtp_settings_are_checked() {
        let mut config = crate::PortalConfig::default();
        assert!(SmtpSettings::from_config("smtp.example.jp:587", &config).is_ok());
        assert!(SmtpSettings::from_config("smtp.example.jp", &config).is_err());
        config.smtp_security = "none".to_owned();
        let e = SmtpSettings::from_config("smtp.example.jp:25", &config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("localhost"), "{e}");
        config.smtp_security = "ssl".to_owned();
        assert!(SmtpSettings::from_config("localhost:25", &config).is_err());
        config.smtp_security = "starttls".to_owned();
        config.smtp_username = Some("u".to_owned());
        assert!(SmtpSettings::from_config("localhost:25", &config).is_err());
    }
}

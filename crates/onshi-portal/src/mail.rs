//! The portal's mail: sent through the SMTP server of `[portal] smtp` (lettre; STARTTLS, TLS, or
//! plain text to a server on this machine), or without one written to the outbox folder (one
//! `.eml` file per mail, atomically) that the operator (and the tests) read.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;

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
    pub fn from_config(
        server: &str,
        p: &onshi_server::config::PortalConfig,
    ) -> Result<Self, String> {
        let (host, port) = server
            .rsplit_once(':')
            .and_then(|(h, port)| Some((h.trim_matches(['[', ']']).to_owned(), port.parse().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| {
                format!("[portal] smtp {server:?}: HOST:PORT で書いてください / write HOST:PORT")
            })?;
        let security = match p.smtp_security.as_str() {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => {
                return Err(format!(
                    "[portal] smtp_security {other:?}: starttls、tls、none のどれかです / starttls, tls or none"
                ))
            }
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        if security == SmtpSecurity::None && !loopback {
            return Err(format!(
                "[portal] smtp_security = \"none\" は同じマシンの SMTP サーバー（localhost）にだけ使えます: {host} / plain SMTP only to localhost"
            ));
        }
        let credentials = match (&p.smtp_username, &p.smtp_password_file) {
            (None, None) => None,
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)
                    .map_err(|e| format!("[portal] smtp_password_file {}: {e}", file.display()))?;
                Some((user.clone(), zeroize::Zeroizing::new(password.trim_end().to_owned())))
            }
            _ => {
                return Err("[portal] smtp_username と smtp_password_file は両方書いてください / set both smtp_username and smtp_password_file".to_owned())
            }
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
    pub fn smtp(s: &SmtpSettings) -> Result<Self, String> {
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        let tls = || {
            TlsParameters::new(s.host.clone())
                .map_err(|e| format!("[portal] smtp {}: TLS: {e}", s.host))
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
                let mut tmp = tempfile::Builder::new().prefix(".mail-").tempfile_in(dir)?;
                tmp.write_all(render(mail).as_bytes())?;
                tmp.as_file().sync_all()?;
                let path = dir.join(name);
                tmp.persist(&path).map_err(|e| e.error)?;
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
        use std::io::{BufRead, BufReader};
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
        let config = onshi_server::config::PortalConfig {
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
        let mut config = onshi_server::config::PortalConfig::default();
        assert!(SmtpSettings::from_config("smtp.example.jp:587", &config).is_ok());
        assert!(SmtpSettings::from_config("smtp.example.jp", &config).is_err());
        config.smtp_security = "none".to_owned();
        let e = SmtpSettings::from_config("smtp.example.jp:25", &config)
            .err()
            .unwrap_or_default();
        assert!(e.contains("localhost"), "{e}");
        config.smtp_security = "ssl".to_owned();
        assert!(SmtpSettings::from_config("localhost:25", &config).is_err());
        config.smtp_security = "starttls".to_owned();
        config.smtp_username = Some("u".to_owned());
        assert!(SmtpSettings::from_config("localhost:25", &config).is_err());
    }
}

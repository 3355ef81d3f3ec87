//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits), the
//! operators' second factor. A code of the step before or after is accepted (clocks drift); the
//! store keeps the last step used, so a code is accepted once.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "onshi-portal";

/// The step `now` falls in.
pub fn step(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP_SECONDS)
}

/// HOTP (RFC 4226) of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length: new_from_slice cannot fail.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = (u32::from(hash[offset] & 0x7f) << 24)
        | (u32::from(hash[offset + 1]) << 16)
        | (u32::from(hash[offset + 2]) << 8)
        | u32::from(hash[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The code of `step`, zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step.max(0) as u64, DIGITS),
        width = DIGITS as usize
    )
}

/// The step (now, one before or one after) whose code `given` is; `None` when none.
pub fn matching_step(secret: &[u8], given: &str, now: DateTime<Utc>) -> Option<i64> {
    let given: String = given.chars().filter(|c| !c.is_whitespace()).collect();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step(now);
    // Every candidate compared, in constant time each.
    let mut found = None;
    for s in [now - 1, now, now + 1] {
        if crate::auth::same(&code(secret, s), &given) && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// A new random secret.
pub fn new_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut s = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut s)?;
    Ok(s)
}

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The secret of an `otpauth://` URI (its base32 `secret=`); `None` when it has none.
pub fn secret_of_uri(uri: &str) -> Option<Vec<u8>> {
    let (_, query) = uri.split_once('?')?;
    let encoded = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))?;
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in encoded.trim_end_matches('=').chars() {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads (as text or a QR code).
pub fn uri(secret: &[u8], login: &str) -> String {
    let label: String = login
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-@".contains(*c))
        .collect();
    format!(
        "otpauth://totp/{ISSUER}:{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the 8-digit codes, and their last 6 digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let t = DateTime::from_timestamp(time, 0).unwrap_or_default();
            assert_eq!(hotp(secret, step(t) as u64, 8), expected, "T = {time}");
            assert_eq!(
                code(secret, step(t)),
                format!("{:06}", expected % 1_000_000),
                "T = {time}"
            );
        }
    }

    #[test]
    fn one_step_either_side_and_no_more() {
        let secret = b"12345678901234567890";
        let t = DateTime::from_timestamp(1_111_111_111, 0).unwrap_or_default();
        let now = step(t);
        for (s, ok) in [
            (now - 2, false),
            (now - 1, true),
            (now, true),
            (now + 1, true),
            (now + 2, false),
        ] {
            assert_eq!(matching_step(secret, &code(secret, s), t), ok.then_some(s));
        }
        assert_eq!(matching_step(secret, "", t), None);
        assert_eq!(matching_step(secret, "12345x", t), None);
        assert_eq!(matching_step(secret, "0140504711", t), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 section 10.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let u = uri(b"12345678901234567890", "operator1");
        assert!(
            u.starts_with(
                "otpauth://totp/onshi-portal:operator1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
            ),
            "{u}"
        );
        assert!(u.contains("digits=6") && u.contains("period=30") && u.contains("algorithm=SHA1"));
        assert_eq!(
            secret_of_uri(&u).as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert_eq!(secret_of_uri("otpauth://totp/x?issuer=y"), None);
    }
}

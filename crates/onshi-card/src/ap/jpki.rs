//! 公的個人認証AP (JPKI): certificates, PINs and keys by EF.

/// AID of the JPKI applet.
pub const AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];

/// 利用者証明用電子証明書 (the user-authentication certificate; readable without PIN).
pub const EF_AUTH_CERT: [u8; 2] = [0x00, 0x0A];
/// The certificate of the CA that issued the authentication certificate.
pub const EF_AUTH_CA_CERT: [u8; 2] = [0x00, 0x0B];
/// The authentication private key (signs after the PIN is verified).
pub const EF_AUTH_KEY: [u8; 2] = [0x00, 0x17];
/// The 4-digit authentication PIN (3 tries).
pub const EF_AUTH_PIN: [u8; 2] = [0x00, 0x18];
/// 署名用電子証明書 (the signing certificate; onshi never reads it).
pub const EF_SIGN_CERT: [u8; 2] = [0x00, 0x01];
/// The signing password (6–16 characters, 5 tries): onshi reads its status only.
pub const EF_SIGN_PASSWORD: [u8; 2] = [0x00, 0x1B];

/// Tries of the authentication PIN on a fresh card.
pub const AUTH_PIN_TRIES: u8 = 3;
/// Tries of the signing password on a fresh card.
pub const SIGN_PASSWORD_TRIES: u8 = 5;

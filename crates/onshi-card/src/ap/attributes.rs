//! 券面事項入力補助AP: the four attributes printed on the card (name, address, birth date, sex),
//! behind a 4-digit PIN of its own. Its EF 0001 holds the My Number, which onshi never reads.

/// AID of the attributes applet.
pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];

/// The My Number (個人番号). Listed only so that code can refuse it: onshi must not read it.
pub const EF_MY_NUMBER: [u8; 2] = [0x00, 0x01];
/// The four attributes, an `FF 20` container.
pub const EF_ATTRIBUTES: [u8; 2] = [0x00, 0x02];
/// The applet's 4-digit PIN.
pub const EF_PIN: [u8; 2] = [0x00, 0x11];

/// Tag of the attributes container.
pub const TAG_CONTAINER: [u8; 2] = [0xFF, 0x20];
/// Header (the lengths of what follows).
pub const TAG_HEADER: [u8; 2] = [0xDF, 0x21];
/// 氏名.
pub const TAG_NAME: [u8; 2] = [0xDF, 0x22];
/// 住所.
pub const TAG_ADDRESS: [u8; 2] = [0xDF, 0x23];
/// 生年月日, YYYYMMDD.
pub const TAG_BIRTH: [u8; 2] = [0xDF, 0x24];
/// 性別, one digit (1 男, 2 女, 9 適用不能).
pub const TAG_SEX: [u8; 2] = [0xDF, 0x25];

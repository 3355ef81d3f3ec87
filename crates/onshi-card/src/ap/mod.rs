//! The two applets onshi talks to, as byte constants: the JPKI applet (公的個人認証AP) and the
//! card-face attributes applet (券面事項入力補助AP).

pub mod attributes;
pub mod jpki;

/// CLA of ISO commands.
pub const CLA_ISO: u8 = 0x00;
/// CLA of the proprietary COMPUTE DIGITAL SIGNATURE.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// READ BINARY.
pub const INS_READ_BINARY: u8 = 0xB0;
/// VERIFY.
pub const INS_VERIFY: u8 = 0x20;
/// GET RESPONSE (fetches the rest of an answer announced by `61 xx`, protocol T=0).
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// COMPUTE DIGITAL SIGNATURE.
pub const INS_COMPUTE_DIGITAL_SIGNATURE: u8 = 0x2A;
/// SELECT P1: by DF name (AID).
pub const P1_SELECT_BY_AID: u8 = 0x04;
/// SELECT P1: an EF under the current DF by its identifier.
pub const P1_SELECT_EF: u8 = 0x02;
/// SELECT P2: no response data.
pub const P2_NO_RESPONSE: u8 = 0x0C;
/// VERIFY P1: always 00.
pub const P1_VERIFY: u8 = 0x00;
/// VERIFY P2: the PIN of the currently selected EF.
pub const P2_VERIFY_SELECTED_EF: u8 = 0x80;
/// COMPUTE DIGITAL SIGNATURE P1 P2: the key of the selected EF signs the DigestInfo given.
pub const P1_P2_SIGN: (u8, u8) = (0x00, 0x80);
/// GET RESPONSE P1 P2: always 00 00.
pub const P1_P2_GET_RESPONSE: (u8, u8) = (0x00, 0x00);
/// READ BINARY: the highest offset P1 P2 can carry (bit 8 of P1 set would mean a short EF
/// identifier instead of an offset).
pub const MAX_READ_BINARY_OFFSET: u16 = 0x7FFF;
/// The longest answer a short Le asks for without writing `00` (which means 256).
pub const MAX_SHORT_LE: u32 = 0xFF;

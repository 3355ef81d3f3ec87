//! The operator's 全銀協 総合振込 file of approved claims: the fixed-length format banks accept
//! for bulk transfers. 120-byte records in JIS X 0201 (half-width katakana and ASCII; the
//! Shift_JIS bytes of those), each followed by CRLF (the 122-byte form the layout allows):
//! one header (1), a data record (2) per transfer, a trailer (8) with the count and the sum,
//! an end record (9). Numbers (`N`) are right-aligned and padded with `0`, text (`C`)
//! left-aligned and padded with spaces. The layout, field by field, is in `docs/portal.md`.

use chrono::{Datelike, NaiveDate};

use super::bank::{is_transfer_char, AccountKind, BankAccount};

/// The length of every record, without its CRLF.
pub const RECORD_BYTES: usize = 120;
/// 種別コード 21: 総合振込.
const KIND_GENERAL_TRANSFER: &str = "21";
/// コード区分 0: JIS.
const CODE_JIS: &str = "0";
/// 振込指定区分 7: 電信扱.
const TELEGRAPHIC: &str = "7";
/// The record separator.
const CRLF: &[u8] = b"\r\n";

/// The payer (振込依頼人): the operator's own account, set on the export page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payer {
    /// 振込依頼人コード (委託者コード): 10 digits, given by the operator's bank.
    pub code: String,
    /// 振込依頼人名 in the transfer set (at most 40).
    pub name: String,
    /// The operator's account.
    pub account: BankAccount,
}

/// One transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Where to.
    pub account: BankAccount,
    /// How much (yen, at most 10 digits).
    pub amount: i64,
    /// 顧客コード1: the claim's id, so the bank's statement leads back to the claim.
    pub customer_code: i64,
}

/// Why no file could be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZenginError {
    /// A value does not fit its field or holds a character outside the transfer set.
    #[error("全銀ファイルの項目「{field}」に入らない値です: {value:?}")]
    Field {
        /// The field's name in the layout.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// One record being written, byte by byte.
struct Record(Vec<u8>);

impl Record {
    fn new() -> Self {
        Self(Vec::with_capacity(RECORD_BYTES))
    }

    /// `N(width)`: digits, right-aligned, padded with 0.
    fn number(
        &mut self,
        field: &'static str,
        width: usize,
        value: &str,
    ) -> Result<(), ZenginError> {
        if value.len() > width || !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(ZenginError::Field {
                field,
                value: value.to_owned(),
            });
        }
        self.0
            .extend(std::iter::repeat_n(b'0', width - value.len()));
        self.0.extend_from_slice(value.as_bytes());
        Ok(())
    }

    /// `C(width)`: transfer-set text, left-aligned, padded with spaces.
    fn text(&mut self, field: &'static str, width: usize, value: &str) -> Result<(), ZenginError> {
        let bad = || ZenginError::Field {
            field,
            value: value.to_owned(),
        };
        if !value.chars().all(is_transfer_char) {
            return Err(bad());
        }
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(value);
        if unmappable || bytes.len() > width {
            return Err(bad());
        }
        self.0.extend_from_slice(&bytes);
        self.0
            .extend(std::iter::repeat_n(b' ', width - bytes.len()));
        Ok(())
    }

    fn spaces(&mut self, width: usize) {
        self.0.extend(std::iter::repeat_n(b' ', width));
    }

    /// The record and its CRLF onto `out`; its length is checked, since every field above has
    /// its width.
    fn end(self, out: &mut Vec<u8>) {
        debug_assert_eq!(self.0.len(), RECORD_BYTES);
        out.extend_from_slice(&self.0);
        out.extend_from_slice(CRLF);
    }
}

fn kind_code(k: AccountKind) -> String {
    k.code().to_string()
}

/// The file paying `transfers` from `payer` on `date` (振込指定日, MMDD).
pub fn file(
    payer: &Payer,
    date: NaiveDate,
    transfers: &[Transfer],
) -> Result<Vec<u8>, ZenginError> {
    let mut out = Vec::with_capacity((transfers.len() + 3) * (RECORD_BYTES + 2));
    // 1 ヘッダー・レコード.
    let mut r = Record::new();
    r.number("データ区分", 1, "1")?;
    r.number("種別コード", 2, KIND_GENERAL_TRANSFER)?;
    r.number("コード区分", 1, CODE_JIS)?;
    r.number("振込依頼人コード", 10, &payer.code)?;
    r.text("振込依頼人名", 40, &payer.name)?;
    r.number(
        "振込指定日",
        4,
        &format!("{:02}{:02}", date.month(), date.day()),
    )?;
    let a = &payer.account;
    r.number("仕向銀行番号", 4, &a.bank_code)?;
    r.text("仕向銀行名", 15, &a.bank_name)?;
    r.number("仕向支店番号", 3, &a.branch_code)?;
    r.text("仕向支店名", 15, &a.branch_name)?;
    r.number("預金種目（依頼人）", 1, &kind_code(a.kind))?;
    r.number("口座番号（依頼人）", 7, &a.number)?;
    r.spaces(17);
    r.end(&mut out);
    // 2 データ・レコード.
    let mut sum: i64 = 0;
    for t in transfers {
        let a = &t.account;
        let mut r = Record::new();
        r.number("データ区分", 1, "2")?;
        r.number("被仕向銀行番号", 4, &a.bank_code)?;
        r.text("被仕向銀行名", 15, &a.bank_name)?;
        r.number("被仕向支店番号", 3, &a.branch_code)?;
        r.text("被仕向支店名", 15, &a.branch_name)?;
        r.number("手形交換所番号", 4, "0")?;
        r.number("預金種目", 1, &kind_code(a.kind))?;
        r.number("口座番号", 7, &a.number)?;
        r.text("受取人名", 30, &a.holder)?;
        if t.amount < 0 {
            return Err(ZenginError::Field {
                field: "振込金額",
                value: t.amount.to_string(),
            });
        }
        r.number("振込金額", 10, &t.amount.to_string())?;
        r.number("新規コード", 1, "0")?;
        r.number("顧客コード1", 10, &t.customer_code.max(0).to_string())?;
        r.number("顧客コード2", 10, "0")?;
        r.number("振込指定区分", 1, TELEGRAPHIC)?;
        r.spaces(1); // 識別表示: not EDI.
        r.spaces(7);
        r.end(&mut out);
        sum = sum.saturating_add(t.amount);
    }
    // 8 トレーラ・レコード.
    let mut r = Record::new();
    r.number("データ区分", 1, "8")?;
    r.number("合計件数", 6, &transfers.len().to_string())?;
    r.number("合計金額", 12, &sum.to_string())?;
    r.spaces(101);
    r.end(&mut out);
    // 9 エンド・レコード.
    let mut r = Record::new();
    r.number("データ区分", 1, "9")?;
    r.spaces(119);
    r.end(&mut out);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn account(
        bank: &str,
        name: &str,
        branch: &str,
        bname: &str,
        number: &str,
        holder: &str,
    ) -> BankAccount {
        BankAccount {
            bank_code: bank.into(),
            bank_name: name.into(),
            branch_code: branch.into(),
            branch_name: bname.into(),
            kind: AccountKind::Ordinary,
            number: number.into(),
            holder: holder.into(),
        }
    }

    /// The fixture `tests/fixtures/zengin-sogo-furikomi.txt` was typed by hand from the
    /// published layout (see docs/portal.md), not written by this code.
    #[test]
    fn the_file_matches_the_hand_written_fixture_byte_for_byte() {
        let payer = Payer {
            code: "1234567890".into(),
            name: "ｼﾔ)ｵﾝｼｼﾞﾂｼｷｶﾝ".into(),
            account: BankAccount {
                kind: AccountKind::Current,
                ..account("0001", "ﾐｽﾞﾎ", "001", "ﾄｳｷﾖｳ", "0123456", "")
            },
        };
        let transfers = [
            Transfer {
                account: account("0005", "ﾐﾂﾋﾞｼUFJ", "123", "ｼﾝｼﾞﾕｸ", "7654321", "ﾔﾏﾀﾞ ﾀﾛｳ"),
                amount: 41_000,
                customer_code: 12,
            },
            Transfer {
                account: BankAccount {
                    kind: AccountKind::Current,
                    ..account("9900", "ﾕｳﾁﾖ", "019", "ｾﾞﾛｲﾁｷﾕｳ", "0000001", "ｶ)ｵﾝｼ(ｾｲｺﾂｲﾝ")
                },
                amount: 40_000,
                customer_code: 345,
            },
        ];
        let date = NaiveDate::from_ymd_opt(2026, 2, 27).unwrap();
        let got = file(&payer, date, &transfers).unwrap();
        let want = include_bytes!("../../tests/fixtures/zengin-sogo-furikomi.txt");
        if got != want {
            panic!(
                "differs:\n{}\nwanted:\n{}",
                encoding_rs::SHIFT_JIS.decode(&got).0,
                encoding_rs::SHIFT_JIS.decode(want).0
            );
        }
        // Every record is 120 bytes and CRLF.
        for line in got.split_inclusive(|b| *b == b'\n') {
            assert_eq!(line.len(), RECORD_BYTES + 2);
            assert!(line.ends_with(CRLF));
        }
    }

    #[test]
    fn values_that_do_not_fit_are_refused_by_name() {
        let payer = Payer {
            code: "12345678901".into(),
            name: "ｵﾝｼ".into(),
            account: account("0001", "ﾐｽﾞﾎ", "001", "ﾄｳｷﾖｳ", "0123456", ""),
        };
        let date = NaiveDate::from_ymd_opt(2026, 2, 27).unwrap();
        assert_eq!(
            file(&payer, date, &[]).unwrap_err(),
            ZenginError::Field {
                field: "振込依頼人コード",
                value: "12345678901".into()
            }
        );
        let payer = Payer {
            code: "1".into(),
            name: "ｵﾝｼ".into(),
            ..payer
        };
        let t = Transfer {
            account: account("0001", "ﾐｽﾞﾎ", "001", "ﾄｳｷﾖｳ", "0123456", "山田"),
            amount: 1,
            customer_code: 1,
        };
        assert!(matches!(
            file(&payer, date, &[t]),
            Err(ZenginError::Field {
                field: "受取人名",
                ..
            })
        ));
        // No transfers: header, trailer of zeros, end.
        let empty = file(&payer, date, &[]).unwrap();
        assert_eq!(empty.len(), 3 * 122);
        assert_eq!(&empty[122..141], b"8000000000000000000");
    }
}

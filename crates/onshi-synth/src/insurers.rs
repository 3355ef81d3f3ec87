//! The insurers of a run: a fixed pool of a few hundred, built from the seed, with real-format
//! 保険者番号 (法別番号 + 都道府県番号 + 保険者別番号 + 検証番号; six digits for 国民健康保険) and the
//! way each writes its 記号 and 番号 (ASCII or full-width digits, kanji prefixes, U+2010 hyphens).

use std::collections::BTreeSet;

use onshi_model::InsurerNumber;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::places::{push_digits, PREFECTURES};
use crate::weighted::Weighted;
use crate::SynthError;

/// The kind of scheme an insurer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// 全国健康保険協会 (協会けんぽ), 法別番号 01.
    Kyokai,
    /// 健康保険組合, 06.
    Kumiai,
    /// 共済組合, 31–34.
    Kyosai,
    /// 自衛官等, 07 (InsuredCardClassification 07).
    SelfDefense,
    /// 市町村国民健康保険, six digits.
    Kokuho,
    /// 国民健康保険組合, six digits.
    KokuhoKumiai,
    /// 後期高齢者医療広域連合, 39; no 記号.
    Koki,
}

impl Scheme {
    /// Whether the scheme is 国民健康保険 (no dependants in the legal sense, one 世帯).
    pub(crate) fn is_kokuho(self) -> bool {
        matches!(self, Self::Kokuho | Self::KokuhoKumiai)
    }
}

/// How an insurer writes its 番号.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumberStyle {
    /// Full-width digits (`１２３`) rather than ASCII.
    pub fullwidth: bool,
    /// Zero-pad to this many digits (0: no padding).
    pub pad: u8,
    /// Split as `０２８２‐００１` with U+2010 (four digits, hyphen, three digits).
    pub hyphen: bool,
}

/// One insurer of the pool.
#[derive(Debug, Clone)]
pub(crate) struct Insurer {
    /// 保険者番号.
    pub number: InsurerNumber,
    /// 保険者名称.
    pub name: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The 記号 it has issued (employers, districts); empty for 後期.
    pub symbols: Vec<String>,
    /// How its 番号 look.
    pub number_style: NumberStyle,
    /// The first 番号 it issues; later ones count up from here.
    pub number_base: u32,
    /// Whether its records carry the address and postal code.
    pub sends_address: bool,
}

impl Insurer {
    /// Writes the `serial`-th 番号 of this insurer into `out` (different serials, different text).
    pub(crate) fn write_number(&self, serial: u32, out: &mut String) {
        out.clear();
        let value = self.number_base + serial;
        let style = self.number_style;
        if style.hyphen {
            push_digits(out, value / 1000, 4, style.fullwidth);
            out.push('\u{2010}');
            push_digits(out, value % 1000, 3, style.fullwidth);
        } else {
            push_digits(out, value, usize::from(style.pad), style.fullwidth);
        }
    }
}

/// Industries of 総合型 健康保険組合.
const INDUSTRIES: &[&str] = &[
    "電機",
    "情報サービス産業",
    "機械金属",
    "印刷",
    "食品",
    "化学工業",
    "薬業",
    "建設",
    "運輸",
    "百貨店",
    "自動車販売",
    "商工",
    "繊維",
    "出版",
    "不動産業",
    "鉄鋼",
    "電設工業",
    "貿易",
    "医療機器",
    "物流",
    "小売業",
    "外食産業",
    "ソフトウェア",
    "警備業",
    "広告業",
];

/// Regions of 総合型 健康保険組合 and the prefecture they are registered in.
const REGIONS: &[(&str, u8)] = &[
    ("東京", 13),
    ("関東", 13),
    ("全国", 13),
    ("大阪", 27),
    ("近畿", 27),
    ("中部", 23),
    ("九州", 40),
    ("東北", 4),
    ("北海道", 1),
    ("中国", 34),
];

/// Made-up company names for 単一型 健康保険組合.
const COMPANIES: &[&str] = &[
    "東和",
    "日進",
    "光洋",
    "昭栄",
    "明星",
    "北斗",
    "青葉",
    "瑞穂",
    "大成",
    "旭日",
    "菱和",
    "高砂",
    "白鷺",
    "扶桑",
    "弥生",
    "富士見",
    "大和田",
    "三光",
    "協和",
    "丸栄",
    "共栄",
    "日東",
    "新和",
    "太平",
    "中央",
    "相互",
    "信栄",
    "東邦",
    "西海",
    "南星",
];

/// What 単一型 健康保険組合 companies do.
const COMPANY_KINDS: &[&str] = &[
    "製作所",
    "電機",
    "商事",
    "化学",
    "ホールディングス",
    "銀行",
    "証券",
    "運輸",
    "建設",
    "食品",
    "製薬",
    "精工",
    "システム",
    "電子",
    "物産",
];

/// 国家公務員共済組合 (31) and the kanji their 記号 start with.
const MINISTRIES: &[(&str, &[&str])] = &[
    ("衆議院共済組合", &["衆"]),
    ("参議院共済組合", &["参"]),
    ("内閣共済組合", &["内閣"]),
    ("総務省共済組合", &["総務"]),
    ("法務省共済組合", &["法務"]),
    ("外務省共済組合", &["外務"]),
    ("財務省共済組合", &["財務", "国税"]),
    ("文部科学省共済組合", &["文科", "国大"]),
    ("厚生労働省共済組合", &["厚労", "医国"]),
    ("農林水産省共済組合", &["農水"]),
    ("経済産業省共済組合", &["経産"]),
    ("国土交通省共済組合", &["国交"]),
    ("裁判所共済組合", &["裁"]),
    ("会計検査院共済組合", &["会検"]),
    ("防衛省共済組合", &["防衛"]),
];

/// 国民健康保険組合 (six digits): name, prefecture, 記号 prefix.
const KOKUHO_KUMIAI: &[(&str, u8, &str)] = &[
    ("東京都医師国民健康保険組合", 13, "東医"),
    ("東京都歯科医師国民健康保険組合", 13, "東歯"),
    ("東京芸能人国民健康保険組合", 13, "芸"),
    ("全国土木建築国民健康保険組合", 13, "土建"),
    ("東京都建設業国民健康保険組合", 13, "建"),
    ("大阪府医師国民健康保険組合", 27, "大医"),
    ("愛知県薬剤師国民健康保険組合", 23, "薬"),
    ("福岡県歯科医師国民健康保険組合", 40, "福歯"),
];

/// Branches of the 自衛官等 insurer: name and 記号 prefix.
const SELF_DEFENSE: &[(&str, &str)] = &[
    ("防衛省陸上自衛隊", "陸自"),
    ("防衛省海上自衛隊", "海自"),
    ("防衛省航空自衛隊", "空自"),
    ("防衛省統合幕僚監部", "統幕"),
];

/// The pool and the indexes used to choose from it.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Every insurer; indexes below point into it.
    pub insurers: Vec<Insurer>,
    /// 協会けんぽ 支部 by prefecture index.
    kyokai: Vec<usize>,
    /// 後期 広域連合 by prefecture index.
    koki: Vec<usize>,
    /// 国保 by prefecture index, then municipality index.
    kokuho: Vec<Vec<usize>>,
    /// 国保組合 by prefecture index (often none).
    kokuho_kumiai: Vec<Vec<usize>>,
    /// 共済 in each prefecture (地方公務員, 警察, 公立学校 支部).
    kyosai_local: Vec<Vec<usize>>,
    /// 共済 for the whole country (国家公務員, 私学).
    kyosai_national: Vec<usize>,
    /// 健康保険組合 and their sizes.
    kumiai: Vec<usize>,
    kumiai_size: Weighted,
    /// 自衛官等.
    self_defense: Vec<usize>,
}

/// What [`Builder::add`] needs to know of a new insurer.
struct Spec {
    /// 法別番号; `None` for 国民健康保険.
    law: Option<u8>,
    /// 都道府県番号.
    pref: u8,
    /// The 保険者別番号 to use (a random free one when `None`).
    fixed: Option<u16>,
    name: String,
    scheme: Scheme,
    symbols: Vec<String>,
    style: NumberStyle,
}

/// Builds pools, keeping every 保険者番号 distinct.
struct Builder<'r, R: Rng> {
    rng: &'r mut R,
    insurers: Vec<Insurer>,
    numbers: BTreeSet<InsurerNumber>,
}

impl<R: Rng> Builder<'_, R> {
    /// Adds an insurer with a fresh number `law + pref + 3 digits` (no law code: 国保), returning
    /// its index.
    fn add(&mut self, spec: Spec) -> Result<usize, SynthError> {
        let Spec {
            law,
            pref,
            fixed,
            name,
            scheme,
            symbols,
            style: number_style,
        } = spec;
        let mut body = String::with_capacity(7);
        let mut candidate = fixed.unwrap_or_else(|| self.rng.gen_range(1..1000));
        let number = loop {
            body.clear();
            if let Some(law) = law {
                push_digits(&mut body, u32::from(law), 2, false);
            }
            push_digits(&mut body, u32::from(pref), 2, false);
            push_digits(&mut body, u32::from(candidate), 3, false);
            let number =
                InsurerNumber::with_check_digit(&body).map_err(|source| SynthError::Insurer {
                    body: body.clone(),
                    source,
                })?;
            if self.numbers.insert(number) {
                break number;
            }
            candidate = self.rng.gen_range(1..1000);
        };
        let number_base = match (number_style.hyphen, number_style.pad) {
            (true, _) => self.rng.gen_range(100..2000) * 1000,
            (false, 8) => self.rng.gen_range(10_000_000..60_000_000),
            (false, 7) => self.rng.gen_range(100_000..2_000_000),
            _ => self.rng.gen_range(1..5000),
        };
        let sends_address = match scheme {
            Scheme::Kumiai | Scheme::Kyosai => self.rng.gen_range(0..100) >= 10,
            _ => true,
        };
        self.insurers.push(Insurer {
            number,
            name,
            scheme,
            symbols,
            number_style,
            number_base,
            sends_address,
        });
        Ok(self.insurers.len() - 1)
    }

    /// `count` distinct 記号 of the form `prefix` + digits (up to `max`).
    fn symbols(
        &mut self,
        prefixes: &[&str],
        max: u32,
        count: usize,
        fullwidth: bool,
    ) -> Vec<String> {
        let mut values = BTreeSet::new();
        let count = count.min(max as usize);
        while values.len() < count {
            let prefix = prefixes.choose(self.rng).copied().unwrap_or("");
            values.insert((prefix, self.rng.gen_range(1..=max)));
        }
        let mut out: Vec<String> = values
            .into_iter()
            .map(|(prefix, v)| {
                let mut s = String::from(prefix);
                push_digits(&mut s, v, 0, fullwidth);
                s
            })
            .collect();
        out.shuffle(self.rng);
        out
    }

    /// A style for 番号.
    fn style(&mut self, fullwidth_per_mille: u32, pad: u8, hyphen_per_mille: u32) -> NumberStyle {
        NumberStyle {
            fullwidth: self.rng.gen_range(0..1000) < fullwidth_per_mille,
            pad,
            hyphen: self.rng.gen_range(0..1000) < hyphen_per_mille,
        }
    }
}

impl Pool {
    /// Builds the pool of a run from its random stream.
    pub(crate) fn build(rng: &mut impl Rng) -> Result<Self, SynthError> {
        let mut b = Builder {
            rng,
            insurers: Vec::new(),
            numbers: BTreeSet::new(),
        };
        let n_pref = PREFECTURES.len();

        // 協会けんぽ: one 支部 per prefecture, 01 + pref + 001; 記号 are 事業所 numbers of up to
        // eight digits, written in ASCII or full-width according to the 支部.
        let mut kyokai = Vec::with_capacity(n_pref);
        for pref in PREFECTURES {
            let fullwidth = b.rng.gen_bool(0.4);
            let count = (pref.population / 2).clamp(60, 600) as usize;
            let symbols = b.symbols(&[""], 99_999_999, count, fullwidth);
            let style = NumberStyle {
                fullwidth,
                pad: 0,
                hyphen: false,
            };
            let name = format!("全国健康保険協会{}支部", pref.short);
            kyokai.push(b.add(Spec {
                law: Some(1),
                pref: pref.code,
                fixed: Some(1),
                name,
                scheme: Scheme::Kyokai,
                symbols,
                style,
            })?);
        }

        // 後期高齢者医療広域連合: one per prefecture, 8-digit 番号, no 記号.
        let mut koki = Vec::with_capacity(n_pref);
        for pref in PREFECTURES {
            let style = NumberStyle {
                fullwidth: false,
                pad: 8,
                hyphen: false,
            };
            let name = format!("{}後期高齢者医療広域連合", pref.name);
            koki.push(b.add(Spec {
                law: Some(39),
                pref: pref.code,
                fixed: None,
                name,
                scheme: Scheme::Koki,
                symbols: Vec::new(),
                style,
            })?);
        }

        // 市町村国保: one per distinct insurer name in each prefecture; 記号 are district numbers,
        // plain or after the first two characters of the municipality's name.
        let mut kokuho = Vec::with_capacity(n_pref);
        for pref in PREFECTURES {
            let mut by_name: Vec<(&str, usize)> = Vec::new();
            let mut per_muni = Vec::with_capacity(pref.municipalities.len());
            for muni in pref.municipalities {
                if let Some(&(_, index)) = by_name.iter().find(|(name, _)| *name == muni.kokuho) {
                    per_muni.push(index);
                    continue;
                }
                let prefix: String = muni.kokuho.chars().take(2).collect();
                let symbols = match b.rng.gen_range(0..3) {
                    0 => b.symbols(&[""], 99, 30, false),
                    1 => b.symbols(&[""], 999, 40, true),
                    _ => b.symbols(&[prefix.as_str()], 99, 40, true),
                };
                let style = b.style(700, 7, 300);
                let name = format!("{}国民健康保険", muni.kokuho);
                let index = b.add(Spec {
                    law: None,
                    pref: pref.code,
                    fixed: None,
                    name,
                    scheme: Scheme::Kokuho,
                    symbols,
                    style,
                })?;
                by_name.push((muni.kokuho, index));
                per_muni.push(index);
            }
            kokuho.push(per_muni);
        }

        let mut kokuho_kumiai = vec![Vec::new(); n_pref];
        for &(name, pref, prefix) in KOKUHO_KUMIAI {
            let symbols = b.symbols(&[prefix], 999, 30, true);
            let style = b.style(800, 6, 200);
            let index = b.add(Spec {
                law: None,
                pref,
                fixed: None,
                name: name.to_owned(),
                scheme: Scheme::KokuhoKumiai,
                symbols,
                style,
            })?;
            kokuho_kumiai[usize::from(pref) - 1].push(index);
        }

        // 共済組合: 国家公務員 (31) and 私学 (34) for the whole country; per prefecture the
        // 市町村職員 (32), and in the larger ones 警察 (33) and 公立学校 (34) 支部.
        let mut kyosai_national = Vec::new();
        for &(name, prefixes) in MINISTRIES {
            let symbols = b.symbols(prefixes, 999, 80, true);
            let style = b.style(900, 0, 250);
            kyosai_national.push(b.add(Spec {
                law: Some(31),
                pref: 13,
                fixed: None,
                name: name.to_owned(),
                scheme: Scheme::Kyosai,
                symbols,
                style,
            })?);
        }
        {
            let symbols = b.symbols(&["私学"], 9999, 200, true);
            let style = b.style(900, 7, 0);
            let name = "日本私立学校振興・共済事業団".to_owned();
            kyosai_national.push(b.add(Spec {
                law: Some(34),
                pref: 13,
                fixed: None,
                name,
                scheme: Scheme::Kyosai,
                symbols,
                style,
            })?);
        }
        let mut kyosai_local = vec![Vec::new(); n_pref];
        for (i, pref) in PREFECTURES.iter().enumerate() {
            let first: String = pref.short.chars().take(1).collect();
            let prefix = format!("{first}職");
            let symbols = b.symbols(&[prefix.as_str()], 999, 40, true);
            let style = b.style(900, 0, 300);
            let name = format!("{}市町村職員共済組合", pref.name);
            kyosai_local[i].push(b.add(Spec {
                law: Some(32),
                pref: pref.code,
                fixed: None,
                name,
                scheme: Scheme::Kyosai,
                symbols,
                style,
            })?);
            if pref.population >= 500 {
                let prefix = format!("警{first}");
                let symbols = b.symbols(&[prefix.as_str()], 999, 30, true);
                let style = b.style(900, 6, 0);
                let name = format!("警察共済組合{}支部", pref.short);
                kyosai_local[i].push(b.add(Spec {
                    law: Some(33),
                    pref: pref.code,
                    fixed: None,
                    name,
                    scheme: Scheme::Kyosai,
                    symbols,
                    style,
                })?);
                let prefix = format!("公学{first}");
                let symbols = b.symbols(&[prefix.as_str()], 999, 40, true);
                let style = b.style(900, 6, 0);
                let name = format!("公立学校共済組合{}支部", pref.short);
                kyosai_local[i].push(b.add(Spec {
                    law: Some(34),
                    pref: pref.code,
                    fixed: None,
                    name,
                    scheme: Scheme::Kyosai,
                    symbols,
                    style,
                })?);
            }
        }
        {
            let symbols = b.symbols(&["都職"], 999, 60, true);
            let style = b.style(900, 0, 300);
            let name = "東京都職員共済組合".to_owned();
            kyosai_local[12].push(b.add(Spec {
                law: Some(32),
                pref: 13,
                fixed: None,
                name,
                scheme: Scheme::Kyosai,
                symbols,
                style,
            })?);
        }

        // 健康保険組合: 総合型 (region + industry) and 単一型 (a company), most in Tokyo,
        // Osaka and Aichi; 記号 are small 事業所 numbers.
        let mut names = BTreeSet::new();
        let mut kumiai = Vec::new();
        let mut sizes = Vec::new();
        while kumiai.len() < 140 {
            let (name, pref) = if b.rng.gen_bool(0.35) {
                let &(region, pref) = REGIONS.choose(b.rng).unwrap_or(&("東京", 13));
                let industry = INDUSTRIES.choose(b.rng).copied().unwrap_or("商工");
                (format!("{region}{industry}健康保険組合"), pref)
            } else {
                let company = COMPANIES.choose(b.rng).copied().unwrap_or("東和");
                let kind = COMPANY_KINDS.choose(b.rng).copied().unwrap_or("商事");
                let pref = match b.rng.gen_range(0..100) {
                    0..=54 => 13,
                    55..=67 => 27,
                    68..=77 => 23,
                    78..=82 => 14,
                    _ => PREFECTURES[b.rng.gen_range(0..n_pref)].code,
                };
                (format!("{company}{kind}健康保険組合"), pref)
            };
            if !names.insert(name.clone()) {
                continue;
            }
            let fullwidth = b.rng.gen_bool(0.3);
            let count = b.rng.gen_range(3..60);
            let symbols = b.symbols(&[""], 9999, count, fullwidth);
            let pad = if b.rng.gen_bool(0.3) { 6 } else { 0 };
            let style = NumberStyle {
                fullwidth,
                pad,
                hyphen: false,
            };
            kumiai.push(b.add(Spec {
                law: Some(6),
                pref,
                fixed: None,
                name,
                scheme: Scheme::Kumiai,
                symbols,
                style,
            })?);
            // Sizes from a few hundred to tens of thousands of members.
            sizes.push(1 + b.rng.gen_range(0u32..20).pow(2));
        }

        let mut self_defense = Vec::new();
        for &(name, prefix) in SELF_DEFENSE {
            let symbols = b.symbols(&[prefix], 999, 40, true);
            let style = b.style(1000, 6, 0);
            self_defense.push(b.add(Spec {
                law: Some(7),
                pref: 13,
                fixed: None,
                name: name.to_owned(),
                scheme: Scheme::SelfDefense,
                symbols,
                style,
            })?);
        }

        Ok(Self {
            insurers: b.insurers,
            kyokai,
            koki,
            kokuho,
            kokuho_kumiai,
            kyosai_local,
            kyosai_national,
            kumiai,
            kumiai_size: Weighted::new(sizes),
            self_defense,
        })
    }

    /// The 後期高齢者医療広域連合 of a prefecture.
    pub(crate) fn koki(&self, pref: usize) -> usize {
        self.koki[pref]
    }

    /// The 国民健康保険 of a place: the municipality's, or now and then a 国保組合 of the prefecture.
    pub(crate) fn kokuho(&self, rng: &mut impl Rng, pref: usize, muni: usize) -> usize {
        let kumiai = &self.kokuho_kumiai[pref];
        if !kumiai.is_empty() && rng.gen_range(0..100) < 8 {
            return kumiai[rng.gen_range(0..kumiai.len())];
        }
        self.kokuho[pref][muni]
    }

    /// An employer's insurer for someone living in `pref`: 協会けんぽ, a 健保組合 or a 共済.
    pub(crate) fn employer(&self, rng: &mut impl Rng, pref: usize) -> usize {
        match rng.gen_range(0..100) {
            0..=50 => {
                // Most work in their own prefecture; some commute or are posted elsewhere.
                let branch = if rng.gen_range(0..100) < 90 {
                    pref
                } else {
                    rng.gen_range(0..self.kyokai.len())
                };
                self.kyokai[branch]
            }
            51..=88 => self.kumiai[self.kumiai_size.sample(rng)],
            _ => {
                let local = &self.kyosai_local[pref];
                if !local.is_empty() && rng.gen_bool(0.6) {
                    local[rng.gen_range(0..local.len())]
                } else {
                    self.kyosai_national[rng.gen_range(0..self.kyosai_national.len())]
                }
            }
        }
    }

    /// A 自衛官等 insurer.
    pub(crate) fn self_defense(&self, rng: &mut impl Rng) -> usize {
        self.self_defense[rng.gen_range(0..self.self_defense.len())]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use onshi_model::{InsuredCardSymbol, InsuredIdentificationNumber, InsurerName};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn has_kanji(s: &str) -> bool {
        s.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
    }

    fn pool(seed: u64) -> Pool {
        Pool::build(&mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
    }

    #[test]
    fn a_few_hundred_distinct_valid_insurers() {
        let pool = pool(1);
        assert!(
            (300..600).contains(&pool.insurers.len()),
            "{}",
            pool.insurers.len()
        );
        let numbers: BTreeSet<_> = pool.insurers.iter().map(|i| i.number).collect();
        assert_eq!(numbers.len(), pool.insurers.len());
        for ins in &pool.insurers {
            assert_eq!(
                InsurerNumber::parse(ins.number.as_str()).unwrap(),
                ins.number
            );
            InsurerName::parse(&ins.name).unwrap();
            assert_eq!(
                ins.scheme == Scheme::Koki,
                ins.number.is_koki(),
                "{}",
                ins.name
            );
            assert_eq!(
                ins.scheme.is_kokuho(),
                ins.number.law_code().is_none(),
                "{}",
                ins.name
            );
            assert_eq!(
                ins.scheme == Scheme::Koki,
                ins.symbols.is_empty(),
                "{}",
                ins.name
            );
            for s in &ins.symbols {
                InsuredCardSymbol::parse(s).unwrap();
            }
            let mut a = String::new();
            let mut b = String::new();
            ins.write_number(0, &mut a);
            ins.write_number(999_999, &mut b);
            assert_ne!(a, b);
            InsuredIdentificationNumber::parse(&a).unwrap();
            InsuredIdentificationNumber::parse(&b).unwrap();
        }
        assert_eq!(pool.insurers[pool.kyokai[12]].number.as_str(), "01130012");
        assert_eq!(
            pool.insurers[pool.kyokai[12]].name,
            "全国健康保険協会東京支部"
        );
        assert_eq!(
            pool.insurers[pool.koki(12)].name,
            "東京都後期高齢者医療広域連合"
        );
    }

    #[test]
    fn symbols_and_numbers_mix_their_forms() {
        let pool = pool(2);
        let symbols: Vec<&str> = pool
            .insurers
            .iter()
            .flat_map(|i| &i.symbols)
            .map(String::as_str)
            .collect();
        assert!(symbols
            .iter()
            .any(|s| s.bytes().all(|b| b.is_ascii_digit())));
        assert!(symbols
            .iter()
            .any(|s| s.starts_with('１') || s.starts_with('５')));
        assert!(symbols.iter().any(|s| has_kanji(s)));
        let hyphenated = pool
            .insurers
            .iter()
            .filter(|i| i.number_style.hyphen)
            .count();
        assert!(hyphenated > 0);
    }

    #[test]
    fn same_seed_same_pool() {
        let a = pool(9);
        let b = pool(9);
        assert_eq!(a.insurers.len(), b.insurers.len());
        for (x, y) in a.insurers.iter().zip(&b.insurers) {
            assert_eq!(
                (x.number, &x.name, &x.symbols),
                (y.number, &y.name, &y.symbols)
            );
        }
    }
}

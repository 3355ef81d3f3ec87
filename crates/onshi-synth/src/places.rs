//! Where people live: the 47 prefectures weighted by population, a few municipalities in each
//! (each with its 国民健康保険 and the first three digits of its postal codes), and addresses
//! written as on a 住民票: 都道府県 + 市区町村 + 町名 + full-width 丁目・番地・号.

use rand::Rng;

use crate::weighted::Weighted;

/// A municipality as an address writes it, the 国民健康保険 that covers it, and the first three
/// digits of its postal codes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Municipality {
    /// As written in an address after the prefecture (`札幌市中央区`, `北佐久郡軽井沢町`).
    pub address: &'static str,
    /// The insurer of its 国民健康保険 (a designated city's wards share the city's: `札幌市`).
    pub kokuho: &'static str,
    /// The first three digits of the postal codes.
    pub zip3: u16,
}

/// A prefecture (都道府県) with its population in units of 10,000 and its municipalities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefecture {
    /// 都道府県番号, 1–47.
    pub code: u8,
    /// Full name (`東京都`).
    pub name: &'static str,
    /// Short name as 支部 names use it (`東京`, `北海道`).
    pub short: &'static str,
    /// Population in units of 10,000 (2020s).
    pub population: u32,
    /// Municipalities.
    pub municipalities: &'static [Municipality],
}

const fn m(address: &'static str, kokuho: &'static str, zip3: u16) -> Municipality {
    Municipality {
        address,
        kokuho,
        zip3,
    }
}

const fn p(
    code: u8,
    name: &'static str,
    short: &'static str,
    population: u32,
    municipalities: &'static [Municipality],
) -> Prefecture {
    Prefecture {
        code,
        name,
        short,
        population,
        municipalities,
    }
}

/// The prefectures in 都道府県番号 order (index = code − 1).
pub(crate) const PREFECTURES: &[Prefecture] = &[
    p(
        1,
        "北海道",
        "北海道",
        510,
        &[
            m("札幌市中央区", "札幌市", 60),
            m("札幌市北区", "札幌市", 1),
            m("札幌市豊平区", "札幌市", 62),
            m("旭川市", "旭川市", 70),
            m("函館市", "函館市", 40),
            m("釧路市", "釧路市", 85),
            m("帯広市", "帯広市", 80),
            m("虻田郡ニセコ町", "ニセコ町", 48),
        ],
    ),
    p(
        2,
        "青森県",
        "青森",
        120,
        &[
            m("青森市", "青森市", 30),
            m("弘前市", "弘前市", 36),
            m("八戸市", "八戸市", 31),
        ],
    ),
    p(
        3,
        "岩手県",
        "岩手",
        118,
        &[
            m("盛岡市", "盛岡市", 20),
            m("一関市", "一関市", 21),
            m("奥州市", "奥州市", 23),
        ],
    ),
    p(
        4,
        "宮城県",
        "宮城",
        227,
        &[
            m("仙台市青葉区", "仙台市", 980),
            m("仙台市泉区", "仙台市", 981),
            m("石巻市", "石巻市", 986),
            m("大崎市", "大崎市", 989),
        ],
    ),
    p(
        5,
        "秋田県",
        "秋田",
        93,
        &[
            m("秋田市", "秋田市", 10),
            m("横手市", "横手市", 13),
            m("大仙市", "大仙市", 14),
        ],
    ),
    p(
        6,
        "山形県",
        "山形",
        104,
        &[
            m("山形市", "山形市", 990),
            m("鶴岡市", "鶴岡市", 997),
            m("酒田市", "酒田市", 998),
        ],
    ),
    p(
        7,
        "福島県",
        "福島",
        179,
        &[
            m("福島市", "福島市", 960),
            m("郡山市", "郡山市", 963),
            m("いわき市", "いわき市", 970),
            m("会津若松市", "会津若松市", 965),
        ],
    ),
    p(
        8,
        "茨城県",
        "茨城",
        284,
        &[
            m("水戸市", "水戸市", 310),
            m("つくば市", "つくば市", 305),
            m("日立市", "日立市", 317),
            m("ひたちなか市", "ひたちなか市", 312),
        ],
    ),
    p(
        9,
        "栃木県",
        "栃木",
        191,
        &[
            m("宇都宮市", "宇都宮市", 320),
            m("小山市", "小山市", 323),
            m("栃木市", "栃木市", 328),
        ],
    ),
    p(
        10,
        "群馬県",
        "群馬",
        191,
        &[
            m("前橋市", "前橋市", 371),
            m("高崎市", "高崎市", 370),
            m("太田市", "太田市", 373),
        ],
    ),
    p(
        11,
        "埼玉県",
        "埼玉",
        733,
        &[
            m("さいたま市浦和区", "さいたま市", 330),
            m("さいたま市大宮区", "さいたま市", 330),
            m("川口市", "川口市", 332),
            m("川越市", "川越市", 350),
            m("所沢市", "所沢市", 359),
            m("越谷市", "越谷市", 343),
        ],
    ),
    p(
        12,
        "千葉県",
        "千葉",
        627,
        &[
            m("千葉市中央区", "千葉市", 260),
            m("船橋市", "船橋市", 273),
            m("松戸市", "松戸市", 271),
            m("市川市", "市川市", 272),
            m("柏市", "柏市", 277),
        ],
    ),
    p(
        13,
        "東京都",
        "東京",
        1404,
        &[
            m("千代田区", "千代田区", 101),
            m("新宿区", "新宿区", 160),
            m("世田谷区", "世田谷区", 157),
            m("練馬区", "練馬区", 177),
            m("大田区", "大田区", 144),
            m("足立区", "足立区", 121),
            m("江戸川区", "江戸川区", 133),
            m("杉並区", "杉並区", 167),
            m("板橋区", "板橋区", 174),
            m("八王子市", "八王子市", 192),
            m("町田市", "町田市", 194),
            m("府中市", "府中市", 183),
        ],
    ),
    p(
        14,
        "神奈川県",
        "神奈川",
        923,
        &[
            m("横浜市港北区", "横浜市", 222),
            m("横浜市青葉区", "横浜市", 225),
            m("横浜市中区", "横浜市", 231),
            m("川崎市中原区", "川崎市", 211),
            m("相模原市中央区", "相模原市", 252),
            m("藤沢市", "藤沢市", 251),
            m("横須賀市", "横須賀市", 238),
        ],
    ),
    p(
        15,
        "新潟県",
        "新潟",
        214,
        &[
            m("新潟市中央区", "新潟市", 951),
            m("長岡市", "長岡市", 940),
            m("上越市", "上越市", 943),
        ],
    ),
    p(
        16,
        "富山県",
        "富山",
        102,
        &[m("富山市", "富山市", 930), m("高岡市", "高岡市", 933)],
    ),
    p(
        17,
        "石川県",
        "石川",
        111,
        &[
            m("金沢市", "金沢市", 920),
            m("白山市", "白山市", 924),
            m("小松市", "小松市", 923),
        ],
    ),
    p(
        18,
        "福井県",
        "福井",
        75,
        &[m("福井市", "福井市", 910), m("坂井市", "坂井市", 919)],
    ),
    p(
        19,
        "山梨県",
        "山梨",
        80,
        &[m("甲府市", "甲府市", 400), m("甲斐市", "甲斐市", 400)],
    ),
    p(
        20,
        "長野県",
        "長野",
        202,
        &[
            m("長野市", "長野市", 380),
            m("松本市", "松本市", 390),
            m("上田市", "上田市", 386),
            m("北佐久郡軽井沢町", "軽井沢町", 389),
        ],
    ),
    p(
        21,
        "岐阜県",
        "岐阜",
        195,
        &[
            m("岐阜市", "岐阜市", 500),
            m("大垣市", "大垣市", 503),
            m("各務原市", "各務原市", 504),
        ],
    ),
    p(
        22,
        "静岡県",
        "静岡",
        358,
        &[
            m("静岡市葵区", "静岡市", 420),
            m("浜松市中央区", "浜松市", 430),
            m("沼津市", "沼津市", 410),
            m("富士市", "富士市", 416),
        ],
    ),
    p(
        23,
        "愛知県",
        "愛知",
        748,
        &[
            m("名古屋市中区", "名古屋市", 460),
            m("名古屋市千種区", "名古屋市", 464),
            m("名古屋市緑区", "名古屋市", 458),
            m("豊田市", "豊田市", 471),
            m("岡崎市", "岡崎市", 444),
            m("一宮市", "一宮市", 491),
            m("豊橋市", "豊橋市", 440),
        ],
    ),
    p(
        24,
        "三重県",
        "三重",
        174,
        &[
            m("津市", "津市", 514),
            m("四日市市", "四日市市", 510),
            m("鈴鹿市", "鈴鹿市", 513),
        ],
    ),
    p(
        25,
        "滋賀県",
        "滋賀",
        141,
        &[m("大津市", "大津市", 520), m("草津市", "草津市", 525)],
    ),
    p(
        26,
        "京都府",
        "京都",
        255,
        &[
            m("京都市左京区", "京都市", 606),
            m("京都市伏見区", "京都市", 612),
            m("宇治市", "宇治市", 611),
        ],
    ),
    p(
        27,
        "大阪府",
        "大阪",
        877,
        &[
            m("大阪市北区", "大阪市", 530),
            m("大阪市中央区", "大阪市", 540),
            m("大阪市平野区", "大阪市", 547),
            m("堺市堺区", "堺市", 590),
            m("東大阪市", "東大阪市", 577),
            m("豊中市", "豊中市", 560),
            m("吹田市", "吹田市", 564),
            m("枚方市", "枚方市", 573),
        ],
    ),
    p(
        28,
        "兵庫県",
        "兵庫",
        540,
        &[
            m("神戸市中央区", "神戸市", 650),
            m("神戸市西区", "神戸市", 651),
            m("姫路市", "姫路市", 670),
            m("西宮市", "西宮市", 662),
            m("尼崎市", "尼崎市", 660),
        ],
    ),
    p(
        29,
        "奈良県",
        "奈良",
        131,
        &[m("奈良市", "奈良市", 630), m("橿原市", "橿原市", 634)],
    ),
    p(
        30,
        "和歌山県",
        "和歌山",
        91,
        &[m("和歌山市", "和歌山市", 640), m("田辺市", "田辺市", 646)],
    ),
    p(
        31,
        "鳥取県",
        "鳥取",
        54,
        &[m("鳥取市", "鳥取市", 680), m("米子市", "米子市", 683)],
    ),
    p(
        32,
        "島根県",
        "島根",
        65,
        &[m("松江市", "松江市", 690), m("出雲市", "出雲市", 693)],
    ),
    p(
        33,
        "岡山県",
        "岡山",
        186,
        &[m("岡山市北区", "岡山市", 700), m("倉敷市", "倉敷市", 710)],
    ),
    p(
        34,
        "広島県",
        "広島",
        276,
        &[
            m("広島市中区", "広島市", 730),
            m("広島市安佐南区", "広島市", 731),
            m("福山市", "福山市", 720),
            m("呉市", "呉市", 737),
        ],
    ),
    p(
        35,
        "山口県",
        "山口",
        131,
        &[
            m("下関市", "下関市", 750),
            m("山口市", "山口市", 753),
            m("宇部市", "宇部市", 755),
        ],
    ),
    p(
        36,
        "徳島県",
        "徳島",
        70,
        &[m("徳島市", "徳島市", 770), m("阿南市", "阿南市", 774)],
    ),
    p(
        37,
        "香川県",
        "香川",
        94,
        &[m("高松市", "高松市", 760), m("丸亀市", "丸亀市", 763)],
    ),
    p(
        38,
        "愛媛県",
        "愛媛",
        131,
        &[
            m("松山市", "松山市", 790),
            m("今治市", "今治市", 794),
            m("新居浜市", "新居浜市", 792),
        ],
    ),
    p(
        39,
        "高知県",
        "高知",
        68,
        &[m("高知市", "高知市", 780), m("南国市", "南国市", 783)],
    ),
    p(
        40,
        "福岡県",
        "福岡",
        510,
        &[
            m("福岡市博多区", "福岡市", 812),
            m("福岡市中央区", "福岡市", 810),
            m("北九州市小倉北区", "北九州市", 802),
            m("久留米市", "久留米市", 830),
            m("糟屋郡粕屋町", "粕屋町", 811),
        ],
    ),
    p(
        41,
        "佐賀県",
        "佐賀",
        80,
        &[m("佐賀市", "佐賀市", 840), m("唐津市", "唐津市", 847)],
    ),
    p(
        42,
        "長崎県",
        "長崎",
        128,
        &[m("長崎市", "長崎市", 850), m("佐世保市", "佐世保市", 857)],
    ),
    p(
        43,
        "熊本県",
        "熊本",
        172,
        &[m("熊本市中央区", "熊本市", 860), m("八代市", "八代市", 866)],
    ),
    p(
        44,
        "大分県",
        "大分",
        111,
        &[m("大分市", "大分市", 870), m("別府市", "別府市", 874)],
    ),
    p(
        45,
        "宮崎県",
        "宮崎",
        105,
        &[m("宮崎市", "宮崎市", 880), m("都城市", "都城市", 885)],
    ),
    p(
        46,
        "鹿児島県",
        "鹿児島",
        156,
        &[m("鹿児島市", "鹿児島市", 890), m("霧島市", "霧島市", 899)],
    ),
    p(
        47,
        "沖縄県",
        "沖縄",
        147,
        &[
            m("那覇市", "那覇市", 900),
            m("沖縄市", "沖縄市", 904),
            m("うるま市", "うるま市", 904),
            m("中頭郡読谷村", "読谷村", 904),
        ],
    ),
];

/// 町名 that occur in many municipalities.
const TOWNS: &[&str] = &[
    "本町",
    "中央",
    "栄町",
    "旭町",
    "緑町",
    "東町",
    "西町",
    "南町",
    "北町",
    "幸町",
    "桜台",
    "若葉町",
    "青葉台",
    "富士見町",
    "新町",
    "元町",
    "駅前",
    "松原",
    "泉町",
    "宮前",
    "寿町",
    "日の出町",
    "錦町",
    "朝日町",
    "昭和町",
    "港町",
    "白山",
    "春日",
    "末広町",
    "高砂",
    "常盤町",
    "大手町",
    "住吉町",
    "弥生町",
    "八幡町",
    "天神町",
    "平和町",
    "千代田",
    "鶴見",
    "桜木町",
    "柳町",
    "城東",
    "城西",
    "中町",
    "上町",
    "本郷",
    "山手町",
    "西原",
    "東山",
    "北野",
    "南台",
    "みどり町",
    "美園",
    "光町",
    "若宮",
    "稲荷町",
    "花園",
    "豊町",
    "大町",
    "新田",
];

/// Names of apartment buildings (a room number follows).
const BUILDINGS: &[&str] = &[
    "サンハイツ",
    "コーポ",
    "メゾン",
    "グランドール",
    "パークハイム",
    "レジデンス",
    "ハイツ",
    "ヴィラ",
    "シャトー",
    "ロイヤルマンション",
    "エクセル",
    "フォレスト",
];

/// Full-width digits, by value.
const FULLWIDTH_DIGITS: [char; 10] = ['０', '１', '２', '３', '４', '５', '６', '７', '８', '９'];

/// Appends `value` in full-width digits, zero-padded to `width`.
pub(crate) fn push_fullwidth(out: &mut String, value: u32, width: usize) {
    push_digits(out, value, width, true);
}

/// Appends `value` in ASCII or full-width digits, zero-padded to `width` (0: no padding).
pub(crate) fn push_digits(out: &mut String, value: u32, width: usize, fullwidth: bool) {
    let mut buf = [0u8; 10];
    let mut len = 0;
    let mut v = value;
    loop {
        buf[len] = (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in len..width {
        out.push(if fullwidth { '０' } else { '0' });
    }
    for &d in buf[..len].iter().rev() {
        if fullwidth {
            out.push(FULLWIDTH_DIGITS[usize::from(d)]);
        } else {
            out.push(char::from(b'0' + d));
        }
    }
}

/// Where a household lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// Index into [`PREFECTURES`].
    pub prefecture: usize,
    /// Index into that prefecture's municipalities.
    pub municipality: usize,
}

impl Place {
    /// The prefecture.
    pub(crate) fn prefecture(self) -> &'static Prefecture {
        &PREFECTURES[self.prefecture]
    }

    /// The municipality.
    pub(crate) fn municipality(self) -> &'static Municipality {
        &PREFECTURES[self.prefecture].municipalities[self.municipality]
    }
}

/// Chooses places by population and writes addresses.
pub(crate) struct PlacePicker {
    prefectures: Weighted,
}

impl PlacePicker {
    /// Builds the population table.
    pub(crate) fn new() -> Self {
        Self {
            prefectures: Weighted::new(PREFECTURES.iter().map(|p| p.population)),
        }
    }

    /// A prefecture index, weighted by population.
    pub(crate) fn prefecture(&self, rng: &mut impl Rng) -> usize {
        self.prefectures.sample(rng)
    }

    /// A place, weighted by the population of its prefecture.
    pub(crate) fn place(&self, rng: &mut impl Rng) -> Place {
        let prefecture = self.prefecture(rng);
        let municipality = rng.gen_range(0..PREFECTURES[prefecture].municipalities.len());
        Place {
            prefecture,
            municipality,
        }
    }

    /// Writes an address in `place` into `address` and its postal code (`123-4567`) into `post`.
    /// The same 町名 and 丁目 in a municipality always get the same postal code.
    pub(crate) fn address(
        &self,
        rng: &mut impl Rng,
        place: Place,
        address: &mut String,
        post: &mut [u8; 8],
    ) {
        let pref = place.prefecture();
        let muni = place.municipality();
        let town_index = rng.gen_range(0..TOWNS.len());
        let town = TOWNS[town_index];
        address.clear();
        address.push_str(pref.name);
        address.push_str(muni.address);
        address.push_str(town);
        let chome = match rng.gen_range(0..100) {
            // 番地 form, common outside city centres: 栄町１２３番地 or 栄町１２３番地４.
            0..=14 => {
                push_fullwidth(address, rng.gen_range(1..=2500), 0);
                address.push_str("番地");
                if rng.gen_bool(0.5) {
                    push_fullwidth(address, rng.gen_range(1..=30), 0);
                }
                0
            }
            // 住居表示: 丁目－番－号.
            _ => {
                let chome = rng.gen_range(1..=6);
                push_fullwidth(address, chome, 0);
                address.push('－');
                push_fullwidth(address, rng.gen_range(1..=30), 0);
                address.push('－');
                push_fullwidth(address, rng.gen_range(1..=25), 0);
                chome
            }
        };
        if rng.gen_range(0..100) < 25 {
            address.push('\u{3000}');
            address.push_str(BUILDINGS[rng.gen_range(0..BUILDINGS.len())]);
            address.push_str(town);
            push_fullwidth(
                address,
                rng.gen_range(1..=8) * 100 + rng.gen_range(1..=12),
                0,
            );
            address.push('号');
        }
        // A fixed, well-spread function of (prefecture, municipality, town, 丁目).
        let key = (place.prefecture as u32 * 31 + place.municipality as u32) * 97
            + town_index as u32 * 7
            + chome;
        let zip4 = key.wrapping_mul(2_654_435_761) % 10_000;
        write_post(post, muni.zip3, zip4);
    }
}

fn write_post(post: &mut [u8; 8], zip3: u16, zip4: u32) {
    let digit = |v: u32, place: u32| b'0' + ((v / place) % 10) as u8;
    let zip3 = u32::from(zip3);
    *post = [
        digit(zip3, 100),
        digit(zip3, 10),
        digit(zip3, 1),
        b'-',
        digit(zip4, 1000),
        digit(zip4, 100),
        digit(zip4, 10),
        digit(zip4, 1),
    ];
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use onshi_model::{Address, PostNumber};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn prefectures_are_in_code_order() {
        assert_eq!(PREFECTURES.len(), 47);
        for (i, p) in PREFECTURES.iter().enumerate() {
            assert_eq!(usize::from(p.code), i + 1, "{}", p.name);
            assert!(!p.municipalities.is_empty());
            assert!(p.name.starts_with(p.short));
        }
    }

    #[test]
    fn addresses_and_post_numbers_parse() {
        let picker = PlacePicker::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut address = String::new();
        let mut post = [0u8; 8];
        for _ in 0..2_000 {
            let place = picker.place(&mut rng);
            picker.address(&mut rng, place, &mut address, &mut post);
            assert_eq!(Address::parse(&address).unwrap().as_str(), address);
            assert!(address.starts_with(place.prefecture().name));
            let post = std::str::from_utf8(&post).unwrap();
            assert_eq!(PostNumber::parse(post).unwrap().as_str(), post);
        }
    }

    #[test]
    fn digits() {
        let mut s = String::new();
        push_fullwidth(&mut s, 282, 4);
        s.push('‐');
        push_digits(&mut s, 7, 3, false);
        push_digits(&mut s, 1234, 0, false);
        assert_eq!(s, "０２８２‐0071234");
    }
}

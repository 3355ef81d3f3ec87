//! Japanese names with their readings: common surnames weighted by frequency, given names by
//! sex and generation, and a few rare and old-form kanji (髙, 﨑, 𠮷, 邉, 齋 …) that a store must
//! keep exactly.

use rand::Rng;

use crate::weighted::Weighted;

/// A name part in kanji (as registered) and its reading in full-width katakana.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    /// As written in the family register.
    pub kanji: &'static str,
    /// Full-width katakana reading.
    pub kana: &'static str,
}

const fn n(kanji: &'static str, kana: &'static str) -> Name {
    Name { kanji, kana }
}

/// Common surnames, most frequent first (the weight falls with the rank).
pub(crate) const SURNAMES: &[Name] = &[
    n("佐藤", "サトウ"),
    n("鈴木", "スズキ"),
    n("高橋", "タカハシ"),
    n("田中", "タナカ"),
    n("伊藤", "イトウ"),
    n("渡辺", "ワタナベ"),
    n("山本", "ヤマモト"),
    n("中村", "ナカムラ"),
    n("小林", "コバヤシ"),
    n("加藤", "カトウ"),
    n("吉田", "ヨシダ"),
    n("山田", "ヤマダ"),
    n("佐々木", "ササキ"),
    n("山口", "ヤマグチ"),
    n("松本", "マツモト"),
    n("井上", "イノウエ"),
    n("木村", "キムラ"),
    n("林", "ハヤシ"),
    n("斎藤", "サイトウ"),
    n("清水", "シミズ"),
    n("山崎", "ヤマザキ"),
    n("森", "モリ"),
    n("池田", "イケダ"),
    n("橋本", "ハシモト"),
    n("阿部", "アベ"),
    n("石川", "イシカワ"),
    n("山下", "ヤマシタ"),
    n("中島", "ナカジマ"),
    n("石井", "イシイ"),
    n("小川", "オガワ"),
    n("前田", "マエダ"),
    n("岡田", "オカダ"),
    n("長谷川", "ハセガワ"),
    n("藤田", "フジタ"),
    n("後藤", "ゴトウ"),
    n("近藤", "コンドウ"),
    n("村上", "ムラカミ"),
    n("遠藤", "エンドウ"),
    n("青木", "アオキ"),
    n("坂本", "サカモト"),
    n("斉藤", "サイトウ"),
    n("福田", "フクダ"),
    n("太田", "オオタ"),
    n("西村", "ニシムラ"),
    n("藤井", "フジイ"),
    n("金子", "カネコ"),
    n("岡本", "オカモト"),
    n("藤原", "フジワラ"),
    n("中野", "ナカノ"),
    n("三浦", "ミウラ"),
    n("原田", "ハラダ"),
    n("中川", "ナカガワ"),
    n("松田", "マツダ"),
    n("竹内", "タケウチ"),
    n("小野", "オノ"),
    n("田村", "タムラ"),
    n("中山", "ナカヤマ"),
    n("和田", "ワダ"),
    n("石田", "イシダ"),
    n("森田", "モリタ"),
    n("上田", "ウエダ"),
    n("原", "ハラ"),
    n("内田", "ウチダ"),
    n("柴田", "シバタ"),
    n("酒井", "サカイ"),
    n("宮崎", "ミヤザキ"),
    n("横山", "ヨコヤマ"),
    n("高木", "タカギ"),
    n("安藤", "アンドウ"),
    n("宮本", "ミヤモト"),
    n("大野", "オオノ"),
    n("小島", "コジマ"),
    n("谷口", "タニグチ"),
    n("今井", "イマイ"),
    n("工藤", "クドウ"),
    n("高田", "タカダ"),
    n("増田", "マスダ"),
    n("丸山", "マルヤマ"),
    n("杉山", "スギヤマ"),
    n("村田", "ムラタ"),
    n("大塚", "オオツカ"),
    n("新井", "アライ"),
    n("小山", "コヤマ"),
    n("平野", "ヒラノ"),
    n("藤本", "フジモト"),
    n("河野", "コウノ"),
    n("上野", "ウエノ"),
    n("野口", "ノグチ"),
    n("武田", "タケダ"),
    n("松井", "マツイ"),
    n("千葉", "チバ"),
    n("岩崎", "イワサキ"),
    n("菅原", "スガワラ"),
    n("木下", "キノシタ"),
    n("久保", "クボ"),
    n("佐野", "サノ"),
    n("野村", "ノムラ"),
    n("松尾", "マツオ"),
    n("市川", "イチカワ"),
    n("菊地", "キクチ"),
    n("杉本", "スギモト"),
    n("古川", "フルカワ"),
    n("大西", "オオニシ"),
    n("島田", "シマダ"),
    n("水野", "ミズノ"),
    n("桜井", "サクライ"),
    n("高野", "タカノ"),
    n("渡部", "ワタナベ"),
    n("吉川", "ヨシカワ"),
    n("山内", "ヤマウチ"),
    n("西田", "ニシダ"),
    n("飯田", "イイダ"),
    n("菊池", "キクチ"),
    n("西川", "ニシカワ"),
    n("小松", "コマツ"),
    n("北村", "キタムラ"),
    n("安田", "ヤスダ"),
    n("五十嵐", "イガラシ"),
    n("川口", "カワグチ"),
    n("平田", "ヒラタ"),
    n("関", "セキ"),
    n("中田", "ナカタ"),
    n("久保田", "クボタ"),
    n("服部", "ハットリ"),
    n("岩田", "イワタ"),
    n("土屋", "ツチヤ"),
    n("川崎", "カワサキ"),
    n("福島", "フクシマ"),
    n("本田", "ホンダ"),
    n("辻", "ツジ"),
    n("樋口", "ヒグチ"),
    n("秋山", "アキヤマ"),
    n("田口", "タグチ"),
    n("永井", "ナガイ"),
    n("山中", "ヤマナカ"),
    n("中西", "ナカニシ"),
    n("吉村", "ヨシムラ"),
    n("川上", "カワカミ"),
    n("大橋", "オオハシ"),
    n("石原", "イシハラ"),
    n("松岡", "マツオカ"),
    n("浜田", "ハマダ"),
    n("馬場", "ババ"),
    n("森本", "モリモト"),
    n("矢野", "ヤノ"),
    n("浅野", "アサノ"),
    n("松下", "マツシタ"),
    n("星野", "ホシノ"),
    n("大久保", "オオクボ"),
    n("吉岡", "ヨシオカ"),
    n("小池", "コイケ"),
    n("野田", "ノダ"),
    n("荒木", "アラキ"),
    n("大谷", "オオタニ"),
    n("内藤", "ナイトウ"),
    n("松浦", "マツウラ"),
    n("熊谷", "クマガイ"),
    n("黒田", "クロダ"),
    n("尾崎", "オザキ"),
    n("永田", "ナガタ"),
    n("川村", "カワムラ"),
    n("望月", "モチヅキ"),
    n("田辺", "タナベ"),
    n("松村", "マツムラ"),
    n("荒井", "アライ"),
    n("堀", "ホリ"),
    n("大島", "オオシマ"),
    n("平井", "ヒライ"),
    n("早川", "ハヤカワ"),
    n("菅野", "カンノ"),
    n("栗原", "クリハラ"),
    n("西山", "ニシヤマ"),
    n("広瀬", "ヒロセ"),
    n("横田", "ヨコタ"),
    n("石橋", "イシバシ"),
    n("萩原", "ハギワラ"),
    n("岩本", "イワモト"),
    n("片山", "カタヤマ"),
    n("関口", "セキグチ"),
    n("宮田", "ミヤタ"),
    n("大石", "オオイシ"),
    n("高山", "タカヤマ"),
    n("本間", "ホンマ"),
    n("吉野", "ヨシノ"),
    n("須藤", "スドウ"),
    n("岡崎", "オカザキ"),
    n("小田", "オダ"),
    n("伊東", "イトウ"),
    n("鎌田", "カマタ"),
    n("上原", "ウエハラ"),
    n("篠原", "シノハラ"),
    n("小西", "コニシ"),
    n("松原", "マツバラ"),
    n("福井", "フクイ"),
    n("古賀", "コガ"),
    n("大森", "オオモリ"),
    n("成田", "ナリタ"),
    n("南", "ミナミ"),
    n("奥村", "オクムラ"),
    n("内山", "ウチヤマ"),
    n("沢田", "サワダ"),
    n("川島", "カワシマ"),
    n("桑原", "クワバラ"),
    n("三宅", "ミヤケ"),
    n("片岡", "カタオカ"),
    n("富田", "トミタ"),
    n("杉浦", "スギウラ"),
    n("岡", "オカ"),
    n("八木", "ヤギ"),
    n("奥田", "オクダ"),
    n("小沢", "オザワ"),
    n("松永", "マツナガ"),
    n("北川", "キタガワ"),
    n("関根", "セキネ"),
    n("河合", "カワイ"),
    n("平山", "ヒラヤマ"),
    n("牧野", "マキノ"),
    n("白石", "シライシ"),
    n("今村", "イマムラ"),
    n("寺田", "テラダ"),
    n("青山", "アオヤマ"),
    n("中尾", "ナカオ"),
    n("小倉", "オグラ"),
    n("渋谷", "シブヤ"),
    n("上村", "ウエムラ"),
    n("小野寺", "オノデラ"),
    n("大川", "オオカワ"),
    n("多田", "タダ"),
    n("比嘉", "ヒガ"),
    n("金城", "キンジョウ"),
    n("新垣", "アラカキ"),
    n("徳永", "トクナガ"),
];

/// Surnames in old or variant forms (異体字), some outside the BMP: 髙 U+9AD9, 﨑 U+FA11,
/// 𠮷 U+20BB7, 邉 U+9089, 邊 U+908A, 齋 U+9F4B, 齊 U+9F4A, 濵 U+6FF5, 德 U+5FB7.
pub(crate) const RARE_SURNAMES: &[Name] = &[
    n("髙橋", "タカハシ"),
    n("山﨑", "ヤマザキ"),
    n("𠮷田", "ヨシダ"),
    n("邉見", "ヘンミ"),
    n("齋藤", "サイトウ"),
    n("渡邊", "ワタナベ"),
    n("濵田", "ハマダ"),
    n("德永", "トクナガ"),
    n("髙木", "タカギ"),
    n("宮﨑", "ミヤザキ"),
    n("齊藤", "サイトウ"),
    n("渡邉", "ワタナベ"),
    n("澤田", "サワダ"),
    n("廣瀬", "ヒロセ"),
    n("櫻井", "サクライ"),
    n("濱口", "ハマグチ"),
    n("眞鍋", "マナベ"),
    n("岩﨑", "イワサキ"),
    n("𠮷川", "ヨシカワ"),
    n("髙田", "タカダ"),
];

/// Given names of people born before 1955, male.
const MALE_OLD: &[Name] = &[
    n("清", "キヨシ"),
    n("茂", "シゲル"),
    n("勇", "イサム"),
    n("実", "ミノル"),
    n("進", "ススム"),
    n("博", "ヒロシ"),
    n("弘", "ヒロシ"),
    n("正", "タダシ"),
    n("武", "タケシ"),
    n("勝", "マサル"),
    n("三郎", "サブロウ"),
    n("正雄", "マサオ"),
    n("一郎", "イチロウ"),
    n("和夫", "カズオ"),
    n("昭", "アキラ"),
    n("修", "オサム"),
    n("隆", "タカシ"),
    n("豊", "ユタカ"),
    n("義雄", "ヨシオ"),
    n("幸男", "ユキオ"),
    n("秀夫", "ヒデオ"),
    n("光男", "ミツオ"),
    n("功", "イサオ"),
    n("保", "タモツ"),
    n("健二", "ケンジ"),
];

/// Given names of people born before 1955, female.
const FEMALE_OLD: &[Name] = &[
    n("和子", "カズコ"),
    n("幸子", "サチコ"),
    n("節子", "セツコ"),
    n("洋子", "ヨウコ"),
    n("弘子", "ヒロコ"),
    n("京子", "キョウコ"),
    n("久子", "ヒサコ"),
    n("美代子", "ミヨコ"),
    n("悦子", "エツコ"),
    n("恵子", "ケイコ"),
    n("信子", "ノブコ"),
    n("静子", "シズコ"),
    n("文子", "フミコ"),
    n("千代子", "チヨコ"),
    n("敏子", "トシコ"),
    n("照子", "テルコ"),
    n("春子", "ハルコ"),
    n("芳子", "ヨシコ"),
    n("君子", "キミコ"),
    n("昭子", "アキコ"),
    n("道子", "ミチコ"),
    n("美智子", "ミチコ"),
    n("初江", "ハツエ"),
    n("ハナ", "ハナ"),
    n("キヨ", "キヨ"),
];

/// Given names of people born 1955–1989, male.
const MALE_MID: &[Name] = &[
    n("誠", "マコト"),
    n("浩", "ヒロシ"),
    n("健一", "ケンイチ"),
    n("大輔", "ダイスケ"),
    n("哲也", "テツヤ"),
    n("直樹", "ナオキ"),
    n("剛", "ツヨシ"),
    n("学", "マナブ"),
    n("聡", "サトシ"),
    n("健", "ケン"),
    n("和也", "カズヤ"),
    n("拓也", "タクヤ"),
    n("達也", "タツヤ"),
    n("秀樹", "ヒデキ"),
    n("浩二", "コウジ"),
    n("淳", "ジュン"),
    n("亮", "リョウ"),
    n("智之", "トモユキ"),
    n("雅之", "マサユキ"),
    n("健太", "ケンタ"),
    n("翔太", "ショウタ"),
    n("隆之", "タカユキ"),
    n("信也", "シンヤ"),
    n("正樹", "マサキ"),
    n("龍之介", "リュウノスケ"),
];

/// Given names of people born 1955–1989, female.
const FEMALE_MID: &[Name] = &[
    n("裕子", "ユウコ"),
    n("真由美", "マユミ"),
    n("久美子", "クミコ"),
    n("直美", "ナオミ"),
    n("由美子", "ユミコ"),
    n("智子", "トモコ"),
    n("恵美", "エミ"),
    n("陽子", "ヨウコ"),
    n("明美", "アケミ"),
    n("美穂", "ミホ"),
    n("香織", "カオリ"),
    n("愛", "アイ"),
    n("恵", "メグミ"),
    n("美香", "ミカ"),
    n("奈美", "ナミ"),
    n("麻衣", "マイ"),
    n("彩", "アヤ"),
    n("由香", "ユカ"),
    n("友美", "トモミ"),
    n("理恵", "リエ"),
    n("紀子", "ノリコ"),
    n("真理子", "マリコ"),
    n("千尋", "チヒロ"),
    n("典子", "ノリコ"),
    n("綾", "アヤ"),
];

/// Given names of people born 1990 or later, male.
const MALE_YOUNG: &[Name] = &[
    n("蓮", "レン"),
    n("陽翔", "ハルト"),
    n("湊", "ミナト"),
    n("大翔", "ヒロト"),
    n("悠真", "ユウマ"),
    n("樹", "イツキ"),
    n("颯太", "ソウタ"),
    n("蒼", "アオイ"),
    n("陸", "リク"),
    n("翔", "ショウ"),
    n("大和", "ヤマト"),
    n("悠人", "ユウト"),
    n("翼", "ツバサ"),
    n("拓海", "タクミ"),
    n("優斗", "ユウト"),
    n("陽向", "ヒナタ"),
    n("朝陽", "アサヒ"),
    n("奏太", "カナタ"),
    n("結翔", "ユイト"),
    n("海斗", "カイト"),
    n("駿", "シュン"),
    n("健太郎", "ケンタロウ"),
    n("大輝", "ダイキ"),
    n("和真", "カズマ"),
    n("悠希", "ユウキ"),
];

/// Given names of people born 1990 or later, female.
const FEMALE_YOUNG: &[Name] = &[
    n("陽葵", "ヒマリ"),
    n("結衣", "ユイ"),
    n("凛", "リン"),
    n("葵", "アオイ"),
    n("結菜", "ユイナ"),
    n("芽依", "メイ"),
    n("紬", "ツムギ"),
    n("澪", "ミオ"),
    n("莉子", "リコ"),
    n("美咲", "ミサキ"),
    n("さくら", "サクラ"),
    n("花", "ハナ"),
    n("愛菜", "マナ"),
    n("彩花", "アヤカ"),
    n("七海", "ナナミ"),
    n("美優", "ミユ"),
    n("優奈", "ユウナ"),
    n("杏", "アン"),
    n("心春", "コハル"),
    n("咲良", "サクラ"),
    n("萌", "モエ"),
    n("遥", "ハルカ"),
    n("楓", "カエデ"),
    n("琴音", "コトネ"),
    n("菜々子", "ナナコ"),
];

/// Given names in old or variant forms (榮 U+69AE, 惠 U+60E0, 眞 U+771E, 廣 U+5EE3, 國 U+570B,
/// 髙 U+9AD9, 禮 U+79AE, 彌 U+5F4C, 壽 U+58FD), male.
const RARE_MALE: &[Name] = &[
    n("榮一", "エイイチ"),
    n("廣", "ヒロシ"),
    n("國男", "クニオ"),
    n("髙志", "タカシ"),
    n("壽", "ヒサシ"),
    n("榮", "サカエ"),
];

/// Given names in old or variant forms, female.
const RARE_FEMALE: &[Name] = &[
    n("惠子", "ケイコ"),
    n("眞理子", "マリコ"),
    n("禮子", "レイコ"),
    n("彌生", "ヤヨイ"),
    n("惠", "メグミ"),
    n("眞由美", "マユミ"),
];

/// Share of households with a rare surname, in per mille.
const RARE_SURNAME_PER_MILLE: u32 = 13;
/// Share of persons with a rare given name, in per mille.
const RARE_GIVEN_PER_MILLE: u32 = 7;

/// Chooses names: surnames by frequency, given names by sex and year of birth.
pub(crate) struct NamePicker {
    surname_weights: Weighted,
}

impl NamePicker {
    /// Builds the frequency tables.
    pub(crate) fn new() -> Self {
        // A Zipf-like fall-off: the first surname is about 25 times as common as the last.
        let surname_weights =
            Weighted::new((0..SURNAMES.len()).map(|rank| 10_000 / (rank as u32 + 8)));
        Self { surname_weights }
    }

    /// A household's surname.
    pub(crate) fn surname(&self, rng: &mut impl Rng) -> &'static Name {
        if rng.gen_range(0..1000) < RARE_SURNAME_PER_MILLE {
            &RARE_SURNAMES[rng.gen_range(0..RARE_SURNAMES.len())]
        } else {
            &SURNAMES[self.surname_weights.sample(rng)]
        }
    }

    /// A given name for someone born in `birth_year`; `female` picks the list.
    pub(crate) fn given(&self, rng: &mut impl Rng, female: bool, birth_year: i32) -> &'static Name {
        let list = if rng.gen_range(0..1000) < RARE_GIVEN_PER_MILLE {
            if female {
                RARE_FEMALE
            } else {
                RARE_MALE
            }
        } else {
            match (female, birth_year) {
                (false, ..=1954) => MALE_OLD,
                (false, 1955..=1989) => MALE_MID,
                (false, _) => MALE_YOUNG,
                (true, ..=1954) => FEMALE_OLD,
                (true, 1955..=1989) => FEMALE_MID,
                (true, _) => FEMALE_YOUNG,
            }
        };
        &list[rng.gen_range(0..list.len())]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use onshi_model::{Kana, PersonName};

    use super::*;

    fn all() -> impl Iterator<Item = &'static Name> {
        [
            SURNAMES,
            RARE_SURNAMES,
            MALE_OLD,
            FEMALE_OLD,
            MALE_MID,
            FEMALE_MID,
            MALE_YOUNG,
            FEMALE_YOUNG,
            RARE_MALE,
            RARE_FEMALE,
        ]
        .into_iter()
        .flatten()
    }

    #[test]
    fn every_name_and_reading_is_valid_and_canonical() {
        for name in all() {
            assert!(PersonName::parse(name.kanji).is_ok(), "{}", name.kanji);
            let kana = Kana::parse(name.kana).unwrap();
            assert_eq!(kana.as_str(), name.kana, "{} is not canonical", name.kana);
        }
    }

    #[test]
    fn tables_have_the_promised_size() {
        assert!(SURNAMES.len() >= 150);
        let given = MALE_OLD.len()
            + FEMALE_OLD.len()
            + MALE_MID.len()
            + FEMALE_MID.len()
            + MALE_YOUNG.len()
            + FEMALE_YOUNG.len();
        assert!(given >= 150);
    }

    #[test]
    fn rare_forms_are_the_exact_code_points() {
        let rare: String = RARE_SURNAMES.iter().map(|n| n.kanji).collect();
        for ch in [
            '\u{9AD9}',
            '\u{FA11}',
            '\u{20BB7}',
            '\u{9089}',
            '\u{9F4B}',
            '\u{908A}',
            '\u{6FF5}',
            '\u{5FB7}',
        ] {
            assert!(rare.contains(ch), "U+{:04X} missing", u32::from(ch));
        }
        // None of them is the common form in disguise.
        for name in RARE_SURNAMES {
            assert!(
                !SURNAMES.iter().any(|s| s.kanji == name.kanji),
                "{}",
                name.kanji
            );
        }
    }
}

//! The life model: households of related people and the insurance records their lives leave.
//!
//! A household is a head, perhaps a spouse, and children under 23 at one address under one
//! surname. Each insurance family in it (a 本人 with 枝番 `00` and 家族 `01`, `02`, … under one
//! 保険者番号・記号・番号) has the records an insurer would send: the current one, and within the
//! last [`HISTORY_YEARS`] years the ones lost by a change of job, the move to 後期高齢者医療 on the
//! 75th birthday, a loss without a successor, or death.

use chrono::{Datelike, Months};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::calendar::{add_days, age_on, birthday, days_between, sub_days, KOKI_START};
use crate::insurers::{Pool, Scheme};
use crate::names::{Name, NamePicker};
use crate::places::{Place, PlacePicker};
use crate::weighted::Weighted;
use crate::{Date, SynthError};

/// How far back lost records are kept: the online eligibility system holds the history since it
/// began, so older changes are not in an insurer's feed.
pub(crate) const HISTORY_YEARS: u32 = 5;

/// The oldest age anyone is given.
const MAX_AGE: u32 = 104;

/// Sex1 codes.
pub(crate) const MALE: &str = "1";
/// Sex1 codes.
pub(crate) const FEMALE: &str = "2";
/// Sex1: 未設定.
pub(crate) const SEX_UNSET: &str = "3";

/// ReasonOfLoss codes.
pub(crate) const LOSS_DEATH: &str = "01";
/// 生活保護受給開始.
pub(crate) const LOSS_PUBLIC_ASSISTANCE: &str = "02";
/// 医療保険等の資格取得.
pub(crate) const LOSS_OTHER_INSURANCE: &str = "03";
/// その他 (退職, 75 歳到達 …).
pub(crate) const LOSS_OTHER: &str = "99";

/// InsuredCardClassification codes.
pub(crate) const CARD_GENERAL: &str = "01";
/// 短期被保険者証（一般）.
pub(crate) const CARD_SHORT_TERM: &str = "03";
/// 自衛官診療証.
pub(crate) const CARD_SELF_DEFENSE: &str = "07";

/// One person.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// 氏.
    pub surname: &'static Name,
    /// 名.
    pub given: &'static Name,
    /// 生年月日.
    pub birth: Date,
    /// Sex1.
    pub sex: &'static str,
    /// Co-payment under 後期高齢者医療 (`010` for most, `020`/`030` by income).
    pub koki_ratio: &'static str,
    /// Pays 3割 at 70–74 (現役並み所得).
    pub elderly_high_income: bool,
    /// Days between issuing a 高齢受給者証 and its first day.
    pub certificate_lead_days: u8,
    /// 旧姓: the surname before marriage, where the insurer's record keeps it (some spouses).
    pub former_surname: Option<&'static Name>,
}

/// One insurance family: the 本人's 記号・番号 at an insurer.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Index into the pool.
    pub insurer: usize,
    /// Index into the insurer's 記号 (none for 後期).
    pub symbol: Option<usize>,
    /// Serial of the 番号 at the insurer (distinct per insurer).
    pub serial: u32,
    /// The 本人 (index into the household's persons).
    pub head: usize,
    /// InsuredCardClassification.
    pub card: &'static str,
}

/// One record: a person in a unit from a date, perhaps until a date.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Index into the household's persons.
    pub person: usize,
    /// Index into the household's units.
    pub unit: usize,
    /// 枝番; `0` is the 本人.
    pub branch: u8,
    /// 資格取得日.
    pub qualification: Date,
    /// 資格喪失日 and ReasonOfLoss.
    pub loss: Option<(Date, &'static str)>,
}

/// A household: persons in order (head first, then spouse, then children by age), the units
/// they belong to, their records, and the address they share.
#[derive(Debug)]
pub(crate) struct Household {
    /// The members.
    pub persons: Vec<Person>,
    /// Insurance families.
    pub units: Vec<Unit>,
    /// Records, sorted by person and 資格取得日.
    pub records: Vec<Record>,
    /// Where they live.
    pub place: Place,
    /// 住所.
    pub address: String,
    /// 郵便番号, `123-4567`.
    pub post: [u8; 8],
}

impl Household {
    /// An empty household to fill again and again.
    pub(crate) fn new() -> Self {
        Self {
            persons: Vec::with_capacity(8),
            units: Vec::with_capacity(4),
            records: Vec::with_capacity(16),
            place: Place {
                prefecture: 0,
                municipality: 0,
            },
            address: String::with_capacity(128),
            post: *b"000-0000",
        }
    }
}

/// Share of persons at each age (per year of age, a Japanese population of the mid 2020s).
fn population(age: u32) -> u32 {
    const BY_FIVE: [u32; 22] = [
        80, 95, 105, 108, 122, 125, 124, 140, 160, 185, 190, 160, 148, 150, 175, 145, 115, 75, 35,
        10, 2, 1,
    ];
    BY_FIVE[(age as usize / 5).min(BY_FIVE.len() - 1)]
}

/// Percent of spouses whose insurer record keeps their name before marriage (旧姓).
const FORMER_SURNAME_PERCENT: u32 = 10;

/// Per mille of heads of a given age who live with a spouse.
fn spouse_per_mille(age: u32) -> u32 {
    match age {
        ..=24 => 50,
        25..=29 => 300,
        30..=34 => 550,
        35..=44 => 650,
        45..=64 => 680,
        65..=74 => 650,
        75..=84 => 500,
        _ => 250,
    }
}

/// The generator's state across households: one random stream, the insurer pool, and the next
/// 番号 of each insurer.
pub(crate) struct Life {
    rng: ChaCha8Rng,
    pub(crate) pool: Pool,
    serials: Vec<u32>,
    names: NamePicker,
    pub(crate) places: PlacePicker,
    head_ages: Weighted,
    as_of: Date,
    history_start: Date,
}

/// Where a spouse is insured.
enum SpouseCover {
    /// 家族 in the head's unit.
    Dependant,
    /// 本人 of a unit of their own.
    Own,
}

impl Life {
    /// The state of a run; the pool is the first thing drawn from the stream.
    pub(crate) fn new(mut rng: ChaCha8Rng, as_of: Date) -> Result<Self, SynthError> {
        let pool = Pool::build(&mut rng)?;
        let serials = vec![0; pool.insurers.len()];
        // Heads are adults: an age's weight is its population less the spouses and children
        // that other heads bring along.
        let head_ages = Weighted::new((18..=MAX_AGE).map(|age| {
            // Young adults mostly live with their parents; the old, with spouses younger than
            // themselves, are under-counted by the spouses alone.
            let per_mille = match age {
                18..=22 => 250 + (age - 18) * 120,
                70.. => 1100,
                _ => 1000,
            };
            population(age) * per_mille / (1000 + spouse_per_mille(age))
        }));
        Ok(Self {
            rng,
            pool,
            serials,
            names: NamePicker::new(),
            places: PlacePicker::new(),
            head_ages,
            as_of,
            history_start: as_of
                .checked_sub_months(Months::new(12 * HISTORY_YEARS))
                .unwrap_or(as_of),
        })
    }

    /// A uniformly random day in `[from, to]` (`from` when the range is empty).
    fn day_between(&mut self, from: Date, to: Date) -> Date {
        let span = days_between(from, to);
        add_days(from, self.rng.gen_range(0..=span))
    }

    /// A birth date that makes someone exactly `age` on the run's date.
    fn birth_for_age(&mut self, age: u32) -> Date {
        let latest = self
            .as_of
            .checked_sub_months(Months::new(12 * age))
            .unwrap_or(self.as_of);
        let earliest = add_days(
            self.as_of
                .checked_sub_months(Months::new(12 * (age + 1)))
                .unwrap_or(self.as_of),
            1,
        );
        self.day_between(earliest, latest)
    }

    fn person(&mut self, surname: &'static Name, birth: Date, female: bool) -> Person {
        let sex = if self.rng.gen_range(0..10_000) < 2 {
            SEX_UNSET
        } else if female {
            FEMALE
        } else {
            MALE
        };
        let given = self.names.given(&mut self.rng, female, birth.year());
        let koki_ratio = match self.rng.gen_range(0..100) {
            0..=79 => "010",
            80..=92 => "020",
            _ => "030",
        };
        Person {
            surname,
            given,
            birth,
            sex,
            koki_ratio,
            elderly_high_income: self.rng.gen_range(0..100) < 10,
            certificate_lead_days: self.rng.gen_range(5..30),
            former_surname: None,
        }
    }

    /// Fills `hh` with the next household.
    pub(crate) fn next_household(&mut self, hh: &mut Household) {
        hh.persons.clear();
        hh.units.clear();
        hh.records.clear();
        hh.place = self.places.place(&mut self.rng);
        self.places
            .address(&mut self.rng, hh.place, &mut hh.address, &mut hh.post);

        let surname = self.names.surname(&mut self.rng);
        let head_age = 18 + self.head_ages.sample(&mut self.rng) as u32;
        let has_spouse = self.rng.gen_range(0..1000) < spouse_per_mille(head_age);
        let head_female = if has_spouse {
            self.rng.gen_range(0..100) < 15
        } else if head_age >= 75 {
            self.rng.gen_range(0..100) < 70
        } else {
            self.rng.gen_range(0..100) < 45
        };
        let head_birth = self.birth_for_age(head_age);
        let head = self.person(surname, head_birth, head_female);
        hh.persons.push(head);

        let mut spouse_age = None;
        if has_spouse {
            let gap = self.rng.gen_range(-2i32..=7);
            let age = if head_female {
                head_age as i32 + gap
            } else {
                head_age as i32 - gap
            };
            let age = age.clamp(18, MAX_AGE as i32) as u32;
            let birth = self.birth_for_age(age);
            let mut spouse = self.person(surname, birth, !head_female);
            // The insurer keeps the name before marriage for some spouses (旧姓).
            if self.rng.gen_range(0..100) < FORMER_SURNAME_PERCENT {
                let former = self.names.surname(&mut self.rng);
                if former.kanji != surname.kanji {
                    spouse.former_surname = Some(former);
                }
            }
            hh.persons.push(spouse);
            spouse_age = Some(age);
        }

        // Children: born to the younger parent at 24–36 and then every 1–5 years up to 44;
        // those under 23 live at home (half of the 19–22-year-olds).
        let single_parent =
            !has_spouse && (25..=60).contains(&head_age) && self.rng.gen_range(0..100) < 10;
        if has_spouse || single_parent {
            let count = match self.rng.gen_range(0..100) {
                0..=21 => 0,
                22..=45 => 1,
                46..=87 => 2,
                _ => 3,
            };
            let younger = hh
                .persons
                .iter()
                .map(|p| p.birth)
                .max()
                .unwrap_or(head_birth);
            let mut birth = add_days(
                birthday(younger, self.rng.gen_range(24..=36)),
                self.rng.gen_range(0..365),
            );
            let last_birth = birthday(younger, 45);
            for _ in 0..count {
                if birth > self.as_of || birth >= last_birth {
                    break;
                }
                let age = age_on(birth, self.as_of);
                let at_home = age <= 18 || (age <= 22 && self.rng.gen_bool(0.5));
                if at_home {
                    let female = self.rng.gen_bool(0.49);
                    let child = self.person(surname, birth, female);
                    hh.persons.push(child);
                }
                birth = add_days(
                    birthday(birth, self.rng.gen_range(1..=5)),
                    self.rng.gen_range(0..365),
                );
            }
        }

        self.insure(hh, spouse_age);
        hh.records
            .sort_unstable_by_key(|r| (r.person, r.qualification, r.unit));
    }

    /// Gives every member the units and records their ages call for.
    fn insure(&mut self, hh: &mut Household, spouse_age: Option<u32>) {
        let children: Vec<usize> =
            (1 + usize::from(spouse_age.is_some())..hh.persons.len()).collect();
        let spouse_koki = spouse_age.is_some() && self.in_koki(&hh.persons[1]);
        if self.in_koki(&hh.persons[0]) {
            // Children still at home go with a spouse under 75, or else insure themselves.
            self.koki(hh, 0);
            match spouse_age {
                Some(_) if !spouse_koki => self.working(hh, 1, &children, false),
                _ => {
                    if spouse_koki {
                        self.koki(hh, 1);
                    }
                    for &child in &children {
                        self.working(hh, child, &[], false);
                    }
                }
            }
            return;
        }
        let cover = spouse_age.map(|age| {
            if spouse_koki {
                None
            } else if age < 65 && self.rng.gen_range(0..100) < 45 {
                Some(SpouseCover::Own)
            } else {
                Some(SpouseCover::Dependant)
            }
        });
        let mut dependants = Vec::with_capacity(4);
        let spouse_dependant = matches!(cover, Some(Some(SpouseCover::Dependant)));
        if spouse_dependant {
            dependants.push(1);
        }
        dependants.extend(children);
        self.working(hh, 0, &dependants, spouse_dependant);
        match cover {
            Some(None) => self.koki(hh, 1),
            Some(Some(SpouseCover::Own)) => self.working(hh, 1, &[], false),
            _ => {}
        }
    }

    /// Whether `p` is in 後期高齢者医療 on the run's date: 75 or older, and the scheme existed.
    fn in_koki(&self, p: &Person) -> bool {
        birthday(p.birth, 75).max(KOKI_START) <= self.as_of
    }

    /// Opens a unit for `head` at `insurer`.
    fn unit(&mut self, hh: &mut Household, insurer: usize, head: usize) -> usize {
        let ins = &self.pool.insurers[insurer];
        let symbol = (!ins.symbols.is_empty()).then(|| self.rng.gen_range(0..ins.symbols.len()));
        let card = match ins.scheme {
            Scheme::SelfDefense => CARD_SELF_DEFENSE,
            Scheme::Kokuho if self.rng.gen_range(0..1000) < 5 => CARD_SHORT_TERM,
            _ => CARD_GENERAL,
        };
        let serial = self.serials[insurer];
        self.serials[insurer] += 1;
        hh.units.push(Unit {
            insurer,
            symbol,
            serial,
            head,
            card,
        });
        hh.units.len() - 1
    }

    fn record(
        hh: &mut Household,
        person: usize,
        unit: usize,
        branch: u8,
        qualification: Date,
        loss: Option<(Date, &'static str)>,
    ) {
        hh.records.push(Record {
            person,
            unit,
            branch,
            qualification,
            loss,
        });
    }

    /// A 後期高齢者医療 unit of one, from the 75th birthday (or April 2008); within the history, the
    /// record it replaced, lost that day; now and then lost by death.
    fn koki(&mut self, hh: &mut Household, p: usize) {
        let birth = hh.persons[p].birth;
        let seventy_fifth = birthday(birth, 75);
        let qualification = seventy_fifth.max(KOKI_START);
        if seventy_fifth > self.history_start && seventy_fifth >= KOKI_START {
            let old = if self.rng.gen_range(0..100) < 80 {
                self.pool
                    .kokuho(&mut self.rng, hh.place.prefecture, hh.place.municipality)
            } else {
                self.pool.employer(&mut self.rng, hh.place.prefecture)
            };
            let unit = self.unit(hh, old, p);
            let start = add_days(
                birthday(birth, self.rng.gen_range(55..=65)),
                self.rng.gen_range(0..365),
            );
            Self::record(hh, p, unit, 0, start, Some((seventy_fifth, LOSS_OTHER)));
        }
        let insurer = self.pool.koki(hh.place.prefecture);
        let unit = self.unit(hh, insurer, p);
        let loss = (self.rng.gen_range(0..1000) < 20)
            .then(|| self.death(qualification))
            .flatten();
        Self::record(hh, p, unit, 0, qualification, loss);
    }

    /// A 資格喪失日 by death for a record that started on `start`, within the history.
    fn death(&mut self, start: Date) -> Option<(Date, &'static str)> {
        let from = start.max(self.history_start);
        let to = sub_days(self.as_of, 1);
        (from < to).then(|| {
            let died = self.day_between(from, to);
            (add_days(died, 1), LOSS_DEATH)
        })
    }

    /// The unit of someone under 75 (本人 `head` with `dependants`, the first of them the spouse
    /// when `spouse_first`): 国保 or an employer's insurer by age, and its history.
    fn working(
        &mut self,
        hh: &mut Household,
        head: usize,
        dependants: &[usize],
        spouse_first: bool,
    ) {
        let birth = hh.persons[head].birth;
        let age = age_on(birth, self.as_of);
        let (pref, muni) = (hh.place.prefecture, hh.place.municipality);
        let kokuho_per_mille = match age {
            65.. => 750,
            ..=22 if dependants.is_empty() => 400,
            _ => 150,
        };
        let draw = self.rng.gen_range(0..1000);
        let insurer = if draw < kokuho_per_mille {
            self.pool.kokuho(&mut self.rng, pref, muni)
        } else if dependants.is_empty() && age <= 55 && draw >= 990 {
            self.pool.self_defense(&mut self.rng)
        } else {
            self.pool.employer(&mut self.rng, pref)
        };
        let scheme = self.pool.insurers[insurer].scheme;

        // When each member could first join: the 本人's current tenure, a spouse's marriage, a
        // child's birth.
        let adult = birthday(birth, 18);
        let start = if scheme.is_kokuho() && age >= 60 && self.rng.gen_range(0..100) < 70 {
            let retired = birthday(birth, self.rng.gen_range(60..=age.min(65)));
            add_days(retired, self.rng.gen_range(0..365)).min(self.as_of)
        } else {
            let span = days_between(adult, self.as_of).min(38 * 365);
            let u: f64 = self.rng.gen();
            sub_days(self.as_of, (span as f64 * u * u) as u64)
        };
        let mut joins = [start; 4];
        for (i, (slot, &d)) in joins.iter_mut().zip(dependants).enumerate() {
            let p = &hh.persons[d];
            let join = if i == 0 && spouse_first {
                add_days(
                    birthday(p.birth, self.rng.gen_range(20..=30)),
                    self.rng.gen_range(0..365),
                )
                .min(self.as_of)
            } else {
                p.birth
            };
            *slot = join;
        }
        let dependants = &dependants[..dependants.len().min(joins.len())];
        let joins = &joins[..dependants.len()];

        // About 10% of working-age 本人 changed insurer within the history, 1% lost their
        // insurance with no successor, and a few older people living alone died.
        let done = match self.rng.gen_range(0..1000) {
            0..=99 if (20..=64).contains(&age) => {
                self.job_change(hh, head, dependants, joins, insurer)
            }
            100..=109 if (20..=74).contains(&age) => {
                self.lost(hh, head, dependants, joins, insurer, start)
            }
            110..=112 if dependants.is_empty() && age >= 60 => {
                let unit = self.unit(hh, insurer, head);
                let loss = self.death(start);
                Self::record(hh, head, unit, 0, start, loss);
                true
            }
            _ => false,
        };
        if done {
            return;
        }
        let unit = self.unit(hh, insurer, head);
        Self::record(hh, head, unit, 0, start, None);
        for (i, (&d, &join)) in dependants.iter().zip(joins).enumerate() {
            Self::record(hh, d, unit, i as u8 + 1, join.max(start), None);
        }
    }

    /// A change of insurer on a day within the history: the old unit's records end that day
    /// and the new unit's begin. Returns false (and records nothing) when the 本人 is too young
    /// for one.
    fn job_change(
        &mut self,
        hh: &mut Household,
        head: usize,
        dependants: &[usize],
        joins: &[Date],
        insurer: usize,
    ) -> bool {
        let birth = hh.persons[head].birth;
        let adult = birthday(birth, 18);
        let from = self.history_start.max(add_days(birthday(birth, 19), 1));
        if from >= self.as_of {
            return false;
        }
        let changed = self.day_between(from, self.as_of);
        let tenure = days_between(adult, changed).min(15 * 365);
        if tenure < 60 {
            return false;
        }
        let old_start = sub_days(changed, self.rng.gen_range(60..=tenure));
        let (pref, muni) = (hh.place.prefecture, hh.place.municipality);
        let scheme = self.pool.insurers[insurer].scheme;
        let (old, reason) = if scheme.is_kokuho() || self.rng.gen_range(0..100) < 70 {
            let reason = if self.rng.gen_range(0..100) < 80 {
                LOSS_OTHER
            } else {
                LOSS_OTHER_INSURANCE
            };
            (self.pool.employer(&mut self.rng, pref), reason)
        } else {
            (
                self.pool.kokuho(&mut self.rng, pref, muni),
                LOSS_OTHER_INSURANCE,
            )
        };
        let old_unit = self.unit(hh, old, head);
        Self::record(hh, head, old_unit, 0, old_start, Some((changed, reason)));
        for (i, (&d, &join)) in dependants.iter().zip(joins).enumerate() {
            let from = join.max(old_start);
            if from < changed {
                Self::record(hh, d, old_unit, i as u8 + 1, from, Some((changed, reason)));
            }
        }
        let unit = self.unit(hh, insurer, head);
        Self::record(hh, head, unit, 0, changed, None);
        for (i, (&d, &join)) in dependants.iter().zip(joins).enumerate() {
            Self::record(hh, d, unit, i as u8 + 1, join.max(changed), None);
        }
        true
    }

    /// A unit whose records all end on one day within the history with no successor (退職 with
    /// no new insurer reported, 生活保護). Returns false when no such day fits.
    fn lost(
        &mut self,
        hh: &mut Household,
        head: usize,
        dependants: &[usize],
        joins: &[Date],
        insurer: usize,
        start: Date,
    ) -> bool {
        let latest_join = joins.iter().map(|&j| j.max(start)).fold(start, Date::max);
        let from = self.history_start.max(add_days(latest_join, 1));
        if from > self.as_of {
            return false;
        }
        let day = self.day_between(from, self.as_of);
        let reason = if self.rng.gen_range(0..100) < 85 {
            LOSS_OTHER
        } else {
            LOSS_PUBLIC_ASSISTANCE
        };
        let unit = self.unit(hh, insurer, head);
        Self::record(hh, head, unit, 0, start, Some((day, reason)));
        for (i, (&d, &join)) in dependants.iter().zip(joins).enumerate() {
            Self::record(
                hh,
                d,
                unit,
                i as u8 + 1,
                join.max(start),
                Some((day, reason)),
            );
        }
        true
    }
}

//! The generator's working kit for one school: its seeded random source, the fixed "today" and
//! the academic year around it, an ID counter, and the small habits of real Bromcom data
//! (padded strings, varied yes/no spellings, the API's date form) applied with set likelihoods.

use chrono::{Datelike, Days, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use bromcom_api::SchoolId;

/// The school year containing `today`: 1 September to 31 August, so "today" always falls in it,
/// and last year's, which ended before the summer holiday.
#[derive(Debug, Clone, Copy)]
pub struct AcademicYear {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub last_start: NaiveDate,
    pub last_end: NaiveDate,
}

impl AcademicYear {
    pub fn containing(today: NaiveDate) -> Self {
        let year = if today.month() >= 9 {
            today.year()
        } else {
            today.year() - 1
        };
        AcademicYear {
            start: ymd(year, 9, 1, today),
            end: ymd(year + 1, 8, 31, today),
            last_start: ymd(year - 1, 9, 1, today),
            last_end: ymd(year, 7, 22, today),
        }
    }

    /// The calendar year in which this academic year began.
    pub fn first_calendar_year(&self) -> i32 {
        self.start.year()
    }
}

/// A calendar date, or `fallback` where the year is beyond what chrono can hold.
pub fn ymd(year: i32, month: u32, day: u32, fallback: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(fallback)
}

pub fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap_or(date)
}

pub fn days_after(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

/// A date in the API's form, `yyyy-MM-ddT00:00:00`.
pub fn api_date(date: NaiveDate) -> String {
    format!(
        "{:04}-{:02}-{:02}T00:00:00",
        date.year(),
        date.month(),
        date.day()
    )
}

pub fn api_date_opt(date: Option<NaiveDate>) -> Value {
    date.map_or(Value::Null, |d| Value::String(api_date(d)))
}

/// A seed for one school, derived from the run's seed and the school's ID, so a school's data
/// does not depend on which other schools are generated with it.
pub fn school_seed(seed: u64, school: SchoolId) -> u64 {
    splitmix64(seed ^ splitmix64(school as u64))
}

fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Ctx {
    pub rng: StdRng,
    pub today: NaiveDate,
    pub year: AcademicYear,
    pub school: SchoolId,
    next_id: i64,
}

impl Ctx {
    pub fn new(seed: u64, school: SchoolId, today: NaiveDate, first_id: i64) -> Self {
        Ctx {
            rng: StdRng::seed_from_u64(school_seed(seed, school)),
            today,
            year: AcademicYear::containing(today),
            school,
            next_id: first_id,
        }
    }

    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn chance(&mut self, likelihood: f64) -> bool {
        self.rng.random_bool(likelihood.clamp(0.0, 1.0))
    }

    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            self.rng.random_range(0..bound)
        }
    }

    pub fn pick<T: Copy + Default>(&mut self, items: &[T]) -> T {
        items.choose(&mut self.rng).copied().unwrap_or_default()
    }

    /// Picks by weight; `weighted` must not be empty (the generator's tables never are).
    pub fn weighted<T: Copy + Default>(&mut self, weighted: &[(T, f64)]) -> T {
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        for (item, weight) in weighted {
            if roll < *weight {
                return *item;
            }
            roll -= weight;
        }
        weighted.last().map(|(item, _)| *item).unwrap_or_default()
    }

    /// A date from `first` to `last` inclusive (`first` when the range is empty).
    pub fn date_between(&mut self, first: NaiveDate, last: NaiveDate) -> NaiveDate {
        let span = (last - first).num_days();
        if span <= 0 {
            first
        } else {
            days_after(first, self.rng.random_range(0..=span) as u64)
        }
    }

    /// The text, sometimes with the stray spaces Bromcom rows carry.
    pub fn padded(&mut self, text: &str, likelihood: f64) -> String {
        if !self.chance(likelihood) {
            return text.to_owned();
        }
        match self.below(3) {
            0 => format!("  {text}"),
            1 => format!("{text} "),
            _ => format!("{text}   "),
        }
    }

    /// A yes/no flag in one of the spellings the contract allows, mostly `Yes`/`No`.
    pub fn yes_no(&mut self, yes: bool) -> Value {
        let roll = self.below(100);
        match roll {
            0..80 => Value::from(if yes { "Yes" } else { "No" }),
            80..90 => Value::Bool(yes),
            90..94 => Value::from(if yes { "Y" } else { "N" }),
            94..97 => Value::from(if yes { "True" } else { "False" }),
            97..99 => Value::from(if yes { "1" } else { "0" }),
            _ => Value::from(if yes { "yes" } else { "no" }),
        }
    }

    /// A consent value: granted with the given likelihood, otherwise withdrawn, pending or
    /// missing altogether (all of which mean "not granted").
    pub fn consent(&mut self, granted: f64) -> Value {
        if self.chance(granted) {
            // An odd case or a stray space still means granted.
            return match self.below(100) {
                0 => Value::from("granted"),
                1 => Value::from("Granted "),
                _ => Value::from("Granted"),
            };
        }
        match self.below(10) {
            0..6 => Value::from("Withdrawn"),
            6..9 => Value::from("Pending"),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn academic_year_always_contains_today() {
        for today in [
            date(2025, 8, 31),
            date(2025, 9, 1),
            date(2026, 1, 15),
            date(2024, 2, 29),
        ] {
            let year = AcademicYear::containing(today);
            assert!(year.start <= today && today <= year.end, "{today}");
            assert!(year.last_end < year.start && year.last_end < today);
            assert!(year.last_start < year.last_end);
        }
    }

    #[test]
    fn dates_use_the_api_form() {
        assert_eq!(api_date(date(2011, 3, 4)), "2011-03-04T00:00:00");
    }

    #[test]
    fn school_seeds_differ_by_school_and_by_seed() {
        assert_ne!(school_seed(1, 20001), school_seed(1, 20002));
        assert_ne!(school_seed(1, 20001), school_seed(2, 20001));
        assert_eq!(school_seed(9, 20001), school_seed(9, 20001));
    }
}

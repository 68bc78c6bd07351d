//! Synthetic schools from a seed: deterministic, realistic UK secondary-school shape.
//!
//! Each school is built from its own random source, seeded from the run's seed and the school's
//! ID, so the same options always give byte-identical rows, a school's rows do not depend on
//! which other schools are generated with it, and schools can be built on separate threads.
//! Nothing reads the clock: every date is placed around `GenerateOptions::today`.
//!
//! The shape (see [`crate::shape`] to measure it): years 7-13 with a smaller sixth form;
//! tutor groups of about 25; 10-14 classes per student below the sixth form; about 1.8 contact
//! links per student, siblings sharing contacts; staff about 8% of students. A few percent of
//! every kind of record is there to be excluded: no consent, leavers, missing titles, blank
//! names, ended memberships, last year's classes, support staff who teach nothing.

mod ctx;
mod curriculum;
mod emit;
pub(crate) mod names;
mod people;
mod school;
mod timetable;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::dataset::Dataset;
use bromcom_api::SchoolId;

pub use ctx::{api_date, school_seed};

/// The first school ID [`GenerateOptions::new`] hands out; the next is one more, and so on.
pub const FIRST_SCHOOL_ID: SchoolId = 20001;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub seed: u64,
    pub schools: Vec<SchoolId>,
    pub students_per_school: usize,
    /// The date the data is made around (leavers, ended memberships); fixed for determinism.
    pub today: NaiveDate,
}

impl GenerateOptions {
    /// `school_count` schools numbered from [`FIRST_SCHOOL_ID`].
    pub fn new(
        seed: u64,
        school_count: usize,
        students_per_school: usize,
        today: NaiveDate,
    ) -> Self {
        GenerateOptions {
            seed,
            schools: school_ids(school_count),
            students_per_school,
            today,
        }
    }
}

/// `count` school IDs from [`FIRST_SCHOOL_ID`] up.
pub fn school_ids(count: usize) -> Vec<SchoolId> {
    (0..count as i64).map(|i| FIRST_SCHOOL_ID + i).collect()
}

/// Generates the dataset for `options`: every listed school (a school listed twice is built
/// once), each with `students_per_school` student rows (leavers and future starters included).
pub fn generate(options: &GenerateOptions) -> Dataset {
    let schools: Vec<SchoolId> = options
        .schools
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, schools.len().max(1));
    let per_worker = schools.len().div_ceil(workers).max(1);
    let build = |school: SchoolId| {
        (
            school,
            school::build(
                options.seed,
                school,
                options.students_per_school,
                options.today,
            ),
        )
    };
    let built: Vec<(SchoolId, _)> = if workers <= 1 {
        schools.iter().map(|&s| build(s)).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = schools
                .chunks(per_worker)
                .map(|chunk| {
                    scope.spawn(move || chunk.iter().map(|&s| build(s)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| match handle.join() {
                    Ok(part) => part,
                    // A panic in a builder is a bug in this module; pass it on unchanged.
                    Err(payload) => std::panic::resume_unwind(payload),
                })
                .collect()
        })
    };
    Dataset {
        schools: built.into_iter().collect::<BTreeMap<_, _>>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bromcom_api::EntityKind;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default()
    }

    #[test]
    fn a_school_does_not_depend_on_its_neighbours() {
        let alone = generate(&GenerateOptions::new(5, 1, 300, today()));
        let together = generate(&GenerateOptions::new(5, 3, 300, today()));
        assert_eq!(
            alone.schools.get(&FIRST_SCHOOL_ID),
            together.schools.get(&FIRST_SCHOOL_ID)
        );
        assert_eq!(together.schools.len(), 3);
    }

    #[test]
    fn generates_the_number_of_students_asked() {
        for count in [0, 1, 13, 400] {
            let data = generate(&GenerateOptions::new(1, 1, count, today()));
            let school = &data.schools[&FIRST_SCHOOL_ID];
            assert_eq!(school[&EntityKind::Students].len(), count);
            assert!(EntityKind::ALL.iter().all(|kind| school.contains_key(kind)));
        }
    }
}

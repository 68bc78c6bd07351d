//! What a UK secondary student studies: key stage 3 (years 7-9) takes nearly everything, key
//! stage 4 (10-11) a core plus GCSE options, the sixth form (12-13) three or four A levels plus
//! enrichment. The choices decide how many classes each student sits in (about 10-14 below the
//! sixth form, fewer in it), which is the figure the sync's scale depends on.

use rand::Rng;
use rand::seq::IndexedRandom;

/// One subject as the timetable names it: `code` goes into class codes (`7X/Ma1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub code: &'static str,
    pub name: &'static str,
}

const fn subject(code: &'static str, name: &'static str) -> Subject {
    Subject { code, name }
}

const KS3_CORE: &[Subject] = &[
    subject("Ma", "Mathematics"),
    subject("En", "English"),
    subject("Sc", "Science"),
    subject("Hi", "History"),
    subject("Gg", "Geography"),
    subject("Pe", "Physical Education"),
    subject("Re", "Religious Education"),
];
const KS3_LANGUAGES: &[Subject] = &[subject("Fr", "French"), subject("Sp", "Spanish")];
const KS3_CAROUSEL: &[Subject] = &[
    subject("Ar", "Art"),
    subject("Mu", "Music"),
    subject("Dt", "Design and Technology"),
    subject("Cp", "Computing"),
    subject("Dr", "Drama"),
    subject("Ps", "PSHE"),
    subject("Fd", "Food Technology"),
];

const KS4_CORE: &[Subject] = &[
    subject("Ma", "Mathematics"),
    subject("En", "English Language"),
    subject("El", "English Literature"),
    subject("Pe", "Core PE"),
    subject("Re", "Religious Studies"),
    subject("Ps", "PSHE"),
];
const KS4_COMBINED_SCIENCE: Subject = subject("Sc", "Combined Science");
const KS4_TRIPLE_SCIENCE: &[Subject] = &[
    subject("Bi", "Biology"),
    subject("Ch", "Chemistry"),
    subject("Ph", "Physics"),
];
const KS4_OPTIONS: &[Subject] = &[
    subject("Hi", "History"),
    subject("Gg", "Geography"),
    subject("Fr", "French"),
    subject("Sp", "Spanish"),
    subject("Ar", "Art and Design"),
    subject("Mu", "Music"),
    subject("Dt", "Design and Technology"),
    subject("Cs", "Computer Science"),
    subject("Dr", "Drama"),
    subject("Bs", "Business"),
    subject("Fd", "Food Preparation and Nutrition"),
    subject("Sd", "Sociology"),
];

const A_LEVELS: &[Subject] = &[
    subject("Ma", "Mathematics"),
    subject("Fm", "Further Mathematics"),
    subject("Bi", "Biology"),
    subject("Ch", "Chemistry"),
    subject("Ph", "Physics"),
    subject("El", "English Literature"),
    subject("Hi", "History"),
    subject("Gg", "Geography"),
    subject("Py", "Psychology"),
    subject("Sd", "Sociology"),
    subject("Ec", "Economics"),
    subject("Bs", "Business"),
    subject("Ar", "Fine Art"),
    subject("Cs", "Computer Science"),
    subject("Fr", "French"),
    subject("Sp", "Spanish"),
    subject("Po", "Politics"),
    subject("Mu", "Music"),
    subject("Dr", "Drama and Theatre"),
    subject("Re", "Religious Studies"),
];
const SIXTH_FORM_CORE: &[Subject] = &[
    subject("Ps", "PSHE"),
    subject("Pe", "Enrichment PE"),
    subject("Cr", "Careers"),
    subject("Gs", "General Studies"),
];
const SIXTH_FORM_EXTRAS: &[(Subject, f64)] = &[
    (subject("Ep", "Extended Project"), 0.3),
    (subject("St", "Supervised Study"), 0.8),
];

/// The subjects one student in `year` takes, each once.
pub fn subjects_for(year: u8, rng: &mut impl Rng) -> Vec<Subject> {
    let mut chosen = Vec::with_capacity(14);
    match year {
        ..=9 => {
            chosen.extend_from_slice(KS3_CORE);
            chosen.extend(KS3_LANGUAGES.choose(rng).copied());
            let carousel = rng.random_range(2..=6);
            chosen.extend(KS3_CAROUSEL.choose_multiple(rng, carousel).copied());
        }
        10 | 11 => {
            chosen.extend_from_slice(KS4_CORE);
            if rng.random_bool(0.3) {
                chosen.extend_from_slice(KS4_TRIPLE_SCIENCE);
            } else {
                chosen.push(KS4_COMBINED_SCIENCE);
            }
            let options = rng.random_range(3..=4);
            chosen.extend(KS4_OPTIONS.choose_multiple(rng, options).copied());
        }
        _ => {
            let a_levels = rng.random_range(3..=4);
            chosen.extend(A_LEVELS.choose_multiple(rng, a_levels).copied());
            chosen.extend_from_slice(SIXTH_FORM_CORE);
            for (extra, likelihood) in SIXTH_FORM_EXTRAS {
                if rng.random_bool(*likelihood) {
                    chosen.push(*extra);
                }
            }
        }
    }
    chosen
}

/// How many students a class of this year is planned around.
pub fn class_size(year: u8) -> usize {
    if year >= 12 { 16 } else { 28 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Every subject a year group may take.
    fn catalogue(year: u8) -> Vec<Subject> {
        let all: Vec<Subject> = match year {
            ..=9 => [KS3_CORE, KS3_LANGUAGES, KS3_CAROUSEL].concat(),
            10 | 11 => [
                KS4_CORE,
                &[KS4_COMBINED_SCIENCE][..],
                KS4_TRIPLE_SCIENCE,
                KS4_OPTIONS,
            ]
            .concat(),
            _ => {
                let extras: Vec<Subject> = SIXTH_FORM_EXTRAS.iter().map(|(s, _)| *s).collect();
                [A_LEVELS, SIXTH_FORM_CORE, &extras[..]].concat()
            }
        };
        all
    }

    #[test]
    fn every_year_takes_between_seven_and_fourteen_distinct_subjects() {
        let mut rng = StdRng::seed_from_u64(7);
        for year in 7..=13 {
            let catalogue = catalogue(year);
            for _ in 0..200 {
                let subjects = subjects_for(year, &mut rng);
                let mut codes: Vec<&str> = subjects.iter().map(|s| s.code).collect();
                codes.sort_unstable();
                codes.dedup();
                assert_eq!(codes.len(), subjects.len(), "year {year} repeats a subject");
                assert!(
                    (7..=14).contains(&subjects.len()),
                    "year {year}: {}",
                    subjects.len()
                );
                for s in &subjects {
                    assert!(
                        catalogue.contains(s),
                        "year {year}: {} not catalogued",
                        s.code
                    );
                }
            }
        }
    }
}

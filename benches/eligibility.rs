//! How long `eligibility::decide` takes for a large school: 50,000 students, ~4,000 staff,
//! ~90,000 contacts and ~700,000 memberships, built here from a seeded RNG (independent of the
//! simulator, so this measures eligibility alone). Target: well under a second on one core.
//!
//! `cargo test --all-targets` runs benches once in test mode; there the school is built at a
//! fiftieth of the size so the test suite stays quick. `cargo bench` uses the full size.

use std::hint::black_box;

use bromsync::eligibility::decide;
use bromsync::roster::{ExcludedEntity, NameChoice};
use bromsync::snapshot::{
    Collection, CollectionAssociate, CollectionExecutive, Contact, ContactDetail, Snapshot, Staff,
    Student, StudentContact,
};
use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

struct Scale {
    students: i64,
    staff: i64,
    contacts: i64,
}

const FULL: Scale = Scale {
    students: 50_000,
    staff: 4_000,
    contacts: 90_000,
};

const SMOKE: Scale = Scale {
    students: 1_000,
    staff: 80,
    contacts: 1_800,
};

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn consent(rng: &mut SmallRng) -> Option<String> {
    // A few percent withdrawn or pending, as a real school has.
    match rng.random_range(0..100) {
        0..=2 => text("Withdrawn"),
        3 => None,
        _ => text("Granted"),
    }
}

fn date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// One school of the given scale: about 20 students a class, each student in ~10 classes, a
/// tutor group, a house and a year group; classes have 3-5 staff attached.
fn school(scale: &Scale, seed: u64) -> Snapshot {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut snapshot = Snapshot {
        school_id: 1,
        ..Snapshot::default()
    };
    let first_student = 100_000;
    let first_staff = 10_000;
    let first_contact = 500_000;
    let first_collection = 1_000_000;

    for i in 0..scale.students {
        snapshot.students.push(Student {
            student_id: first_student + i,
            first_name: text("Amelia"),
            last_name: text("Khan"),
            preferred_first_name: if i % 7 == 0 { text("Millie") } else { None },
            preferred_last_name: None,
            date_of_birth: date(2011, 3, 14),
            tutor_group: text("7KH"),
            year_group: text("7"),
            start_date: date(2022, 9, 1),
            end_date: if rng.random_range(0..100) == 0 {
                date(2024, 7, 20)
            } else {
                None
            },
            data_processing_consent: consent(&mut rng),
        });
    }
    for i in 0..scale.staff {
        snapshot.staff.push(Staff {
            staff_id: first_staff + i,
            title: if rng.random_range(0..50) == 0 {
                None
            } else {
                text("Ms")
            },
            first_name: text("Tess"),
            last_name: text("Teacher"),
            preferred_first_name: None,
            preferred_last_name: None,
            work_email: text("t@school.example"),
            start_date: date(2015, 9, 1),
            end_date: None,
            data_processing_consent: consent(&mut rng),
        });
    }

    let classes = scale.students / 2; // ~10 classes a student, ~20 students a class
    let tutor_groups = scale.students / 25;
    let kinds = [
        (classes, "CLASS"),
        (tutor_groups, "TUTORGRP"),
        (4, "HOUSE"),
        (7, "YEAR"),
    ];
    let mut next_collection = first_collection;
    let mut ranges = Vec::new();
    for (count, kind) in kinds {
        let start = next_collection;
        for _ in 0..count {
            snapshot.collections.push(Collection {
                collection_id: next_collection,
                name: text("7X/Ma1"),
                description: text("Mathematics"),
                subject_name: text("Maths"),
                type_name: text(kind),
                start_date: date(2024, 9, 1),
                end_date: None,
            });
            next_collection += 1;
        }
        ranges.push(start..next_collection);
    }
    let (class_ids, tutor_ids, house_ids, year_ids) = (
        ranges[0].clone(),
        ranges[1].clone(),
        ranges[2].clone(),
        ranges[3].clone(),
    );

    for i in 0..scale.students {
        let student_id = first_student + i;
        let mut join = |collection_id: i64, rng: &mut SmallRng| {
            snapshot.associates.push(CollectionAssociate {
                collection_id,
                student_id,
                start_date: date(2024, 9, 1),
                // Some memberships already ended: moved sets mid-year.
                end_date: if rng.random_range(0..40) == 0 {
                    date(2025, 1, 10)
                } else {
                    None
                },
            });
        };
        for _ in 0..10 {
            join(rng.random_range(class_ids.clone()), &mut rng);
        }
        join(rng.random_range(tutor_ids.clone()), &mut rng);
        join(rng.random_range(house_ids.clone()), &mut rng);
        join(rng.random_range(year_ids.clone()), &mut rng);
    }
    for collection_id in class_ids.chain(tutor_ids) {
        for position in 0..rng.random_range(3..=5) {
            snapshot.executives.push(CollectionExecutive {
                collection_id,
                staff_id: first_staff + rng.random_range(0..scale.staff),
                role: text(if position == 0 {
                    "Main Teacher"
                } else {
                    "Teacher"
                }),
                start_date: date(2024, 9, 1),
                end_date: None,
            });
        }
    }

    for i in 0..scale.contacts {
        let person_id = first_contact + i;
        snapshot.contacts.push(Contact {
            person_id,
            title: if rng.random_range(0..30) == 0 {
                None
            } else {
                text("Mrs")
            },
            first_name: text("Maria"),
            last_name: text("Khan"),
            data_processing_consent: consent(&mut rng),
        });
        for _ in 0..rng.random_range(1..=2) {
            let relationship =
                ["Mother", "Father", "Aunt", "Carer", "Step-Mother"][rng.random_range(0..5)];
            snapshot.student_contacts.push(StudentContact {
                student_id: first_student + rng.random_range(0..scale.students),
                person_id,
                relationship: text(relationship),
                parental_responsibility: rng.random_bool(0.7),
            });
        }
        for priority in 1..=rng.random_range(1..=2) {
            snapshot.emails.push(ContactDetail {
                person_id,
                value: text("parent@example.org"),
                priority: Some(priority),
            });
        }
        snapshot.telephones.push(ContactDetail {
            person_id,
            value: text("07700 900000"),
            priority: None,
        });
    }
    snapshot
}

fn bench_decide(c: &mut Criterion) {
    // Criterion passes `--bench` under `cargo bench`; without it this is a test-mode smoke run.
    let full = std::env::args().any(|arg| arg == "--bench");
    let scale = if full { FULL } else { SMOKE };
    let snapshot = school(&scale, 2025);
    let today = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap_or_default();
    eprintln!(
        "school: {} students, {} staff, {} contacts, {} associates, {} executives",
        snapshot.students.len(),
        snapshot.staff.len(),
        snapshot.contacts.len(),
        snapshot.associates.len(),
        snapshot.executives.len()
    );
    let decision = decide(&snapshot, today, NameChoice::Preferred);
    eprintln!(
        "roster: {} students, {} teachers, {} parents, {} classes; {} excluded",
        decision.roster.students.len(),
        decision.roster.teachers.len(),
        decision.roster.parents.len(),
        decision.roster.classes.len(),
        decision.exclusions.records.len()
    );

    if !full {
        // The smoke run checks a figure of its own: every student is on the roster or
        // excluded, once, and some are on the roster.
        let excluded = decision
            .exclusions
            .records
            .iter()
            .filter(|e| matches!(e.entity, ExcludedEntity::Student))
            .count();
        assert!(
            !decision.roster.students.is_empty(),
            "no student on the roster"
        );
        assert_eq!(
            decision.roster.students.len() + excluded,
            snapshot.students.len(),
            "students on the roster plus students excluded"
        );
    }

    let mut group = c.benchmark_group("eligibility");
    group.sample_size(10);
    group.bench_function("decide_large_school", |b| {
        b.iter(|| decide(black_box(&snapshot), today, NameChoice::Preferred))
    });
    group.finish();
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);

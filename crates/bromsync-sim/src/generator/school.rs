//! One synthetic school from its seed: plan the people, then the timetable, then write rows.
//! Every random choice comes from the school's own seeded source, in a fixed order, so the same
//! seed, school and date always give the same rows.

use chrono::NaiveDate;

use super::ctx::Ctx;
use super::emit;
use super::people;
use super::timetable::{self, StaffPool};
use crate::dataset::SchoolData;
use bromcom_api::{EntityKind, SchoolId};

/// Where a school's IDs start: distinct ranges for schools whose IDs differ below 1000, which
/// keeps IDs readable (`2_000_0001` is school 20001's first person) and well inside 2^53.
pub fn first_id(school: SchoolId) -> i64 {
    (school.rem_euclid(1000) + 1) * 10_000_000 + 1
}

pub fn build(seed: u64, school: SchoolId, students: usize, today: NaiveDate) -> SchoolData {
    let mut ctx = Ctx::new(seed, school, today, first_id(school));
    let mut student_plans = people::plan_students(&mut ctx, students);
    let tutor_group_plans = people::plan_tutor_groups(&mut ctx, &mut student_plans);
    let contact_plans = people::plan_families(&mut ctx, &mut student_plans);
    let staff_plans = people::plan_staff(&mut ctx, students);
    let pool = StaffPool::from_plans(&staff_plans);

    let mut collections =
        timetable::tutor_groups(&mut ctx, &student_plans, &tutor_group_plans, &pool);
    collections.extend(timetable::classes(&mut ctx, &student_plans, &pool));
    collections.extend(timetable::groups(&mut ctx, &student_plans, &pool));

    let tutor_group_names: Vec<String> = tutor_group_plans.iter().map(|g| g.name.clone()).collect();
    let mut data = SchoolData::new();
    data.insert(
        EntityKind::Students,
        emit::student_rows(&mut ctx, &student_plans, &tutor_group_names),
    );
    data.insert(EntityKind::Staff, emit::staff_rows(&mut ctx, &staff_plans));
    data.insert(
        EntityKind::Contacts,
        emit::contact_rows(&mut ctx, &contact_plans),
    );
    data.insert(
        EntityKind::StudentContacts,
        emit::link_rows(&mut ctx, &contact_plans, &student_plans),
    );
    let (emails, phones) =
        emit::detail_rows(&mut ctx, &contact_plans, &staff_plans, &student_plans);
    data.insert(EntityKind::Emails, emails);
    data.insert(EntityKind::PersonTelephones, phones);
    let rows = emit::collection_rows(&mut ctx, &collections, &student_plans);
    data.insert(EntityKind::Collections, rows.collections);
    data.insert(EntityKind::CollectionAssociates, rows.associates);
    data.insert(EntityKind::CollectionExecutives, rows.executives);
    data
}

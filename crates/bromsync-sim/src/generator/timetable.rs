//! The collections of one synthetic school and who belongs to them: tutor groups, classes per
//! year, band and subject (split into sets of about 28, 16 in the sixth form) with their
//! teachers, plus houses, year groups, bands and custom groups. Also the history and mess a
//! real timetable carries: a teacher changed mid-year, students moved between sets, last
//! year's classes, an empty class, a class with no teacher.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rand::seq::SliceRandom;

use super::ctx::{Ctx, days_after, days_before};
use super::curriculum::{Subject, class_size};
use super::names::HOUSES;
use super::people::{StaffKind, StaffPlan, StudentPlan, TutorGroupPlan};

pub struct CollectionPlan {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub subject: Option<&'static str>,
    pub kind: &'static str,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub members: Vec<Member>,
    pub executives: Vec<Executive>,
}

pub struct Member {
    /// Index into the school's students.
    pub student: usize,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

pub struct Executive {
    pub staff_id: i64,
    pub role: &'static str,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// Everything the timetable needs to know about the staff.
pub struct StaffPool {
    pub teachers: Vec<i64>,
    pub leavers: Vec<i64>,
}

impl StaffPool {
    pub fn from_plans(staff: &[StaffPlan]) -> Self {
        let of = |kind| {
            staff
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.id)
                .collect()
        };
        StaffPool {
            teachers: of(StaffKind::Teacher),
            leavers: of(StaffKind::Leaver),
        }
    }

    fn random_teacher(&self, ctx: &mut Ctx) -> i64 {
        ctx.pick(&self.teachers)
    }
}

fn band_letter(year: u8, band: u8) -> &'static str {
    match (year, band) {
        (12.., _) => "",
        (_, 0) => "X",
        _ => "Y",
    }
}

fn this_year_collection(
    ctx: &mut Ctx,
    name: String,
    description: String,
    kind: &'static str,
) -> CollectionPlan {
    // Most collections carry the end of the school year; some leave it open.
    let end = (!ctx.chance(0.2)).then_some(ctx.year.end);
    CollectionPlan {
        id: ctx.next_id(),
        name,
        description,
        subject: None,
        kind,
        start: ctx.year.start,
        end,
        members: Vec::new(),
        executives: Vec::new(),
    }
}

fn current_executive(ctx: &Ctx, staff_id: i64, role: &'static str) -> Executive {
    Executive {
        staff_id,
        role,
        start: ctx.year.start,
        end: None,
    }
}

fn add_current_members(
    collection: &mut CollectionPlan,
    students: &[StudentPlan],
    members: impl IntoIterator<Item = usize>,
    year_start: NaiveDate,
) {
    for student in members {
        if let Some((start, end)) = students[student].membership_this_year(year_start) {
            collection.members.push(Member {
                student,
                start,
                end,
            });
        }
    }
}

pub fn tutor_groups(
    ctx: &mut Ctx,
    students: &[StudentPlan],
    groups: &[TutorGroupPlan],
    staff: &StaffPool,
) -> Vec<CollectionPlan> {
    let mut collections = Vec::with_capacity(groups.len());
    for (index, group) in groups.iter().enumerate() {
        let mut collection = this_year_collection(
            ctx,
            group.name.clone(),
            format!("Tutor Group {}", group.name),
            "TUTORGRP",
        );
        add_current_members(
            &mut collection,
            students,
            group.members.iter().copied(),
            ctx.year.start,
        );
        // One tutor group in two hundred has lost its tutor in the data.
        if !ctx.chance(0.005) && !staff.teachers.is_empty() {
            let tutor = staff.teachers[index % staff.teachers.len()];
            collection
                .executives
                .push(current_executive(ctx, tutor, "Main Tutor"));
            if ctx.chance(0.25) {
                let extra = staff.random_teacher(ctx);
                if extra != tutor {
                    collection
                        .executives
                        .push(current_executive(ctx, extra, "Additional Tutor"));
                }
            }
        }
        collections.push(collection);
    }
    collections
}

#[derive(Clone, Copy)]
struct ClassSlot {
    year: u8,
    band: u8,
    subject: Subject,
    number: usize,
}

pub fn classes(ctx: &mut Ctx, students: &[StudentPlan], staff: &StaffPool) -> Vec<CollectionPlan> {
    let mut takers: BTreeMap<(u8, u8, &'static str), (Subject, Vec<usize>)> = BTreeMap::new();
    for (index, student) in students.iter().enumerate() {
        for subject in &student.subjects {
            takers
                .entry((student.year, student.band, subject.code))
                .or_insert_with(|| (*subject, Vec::new()))
                .1
                .push(index);
        }
    }

    let mut slots = Vec::new();
    let mut collections = Vec::new();
    let mut sets_of_subject: Vec<Vec<usize>> = Vec::new();
    for ((year, band, _), (subject, mut members)) in takers {
        members.shuffle(&mut ctx.rng);
        let sets = members.len().div_ceil(class_size(year)).max(1);
        let mut siblings = Vec::with_capacity(sets);
        for number in 1..=sets {
            let from = (number - 1) * members.len() / sets;
            let to = number * members.len() / sets;
            let slot = ClassSlot {
                year,
                band,
                subject,
                number,
            };
            let mut class = class_collection(ctx, &slot);
            add_current_members(
                &mut class,
                students,
                members[from..to].iter().copied(),
                ctx.year.start,
            );
            siblings.push(collections.len());
            collections.push(class);
            slots.push(slot);
        }
        sets_of_subject.push(siblings);
    }

    assign_teachers(ctx, &mut collections, &slots, staff);
    move_some_students_between_sets(ctx, &mut collections, &sets_of_subject);
    let last_year = last_years_classes(ctx, students, &collections, &slots, staff);
    let empty = empty_classes(ctx, &slots, &sets_of_subject, staff);
    collections.extend(last_year);
    collections.extend(empty);
    collections
}

fn class_name(slot: &ClassSlot, year: u8) -> String {
    format!(
        "{year}{}/{}{}",
        band_letter(slot.year, slot.band),
        slot.subject.code,
        slot.number
    )
}

fn class_collection(ctx: &mut Ctx, slot: &ClassSlot) -> CollectionPlan {
    let mut class = this_year_collection(
        ctx,
        class_name(slot, slot.year),
        format!("Year {} {}", slot.year, slot.subject.name),
        "CLASS",
    );
    // A few classes carry the subject only in the description.
    if ctx.chance(0.02) {
        class.description = slot.subject.name.to_owned();
    } else {
        class.subject = Some(slot.subject.name);
    }
    class
}

/// Each teacher takes a run of classes of one or two subjects, so departments emerge, and the
/// load is even. A few classes get a second teacher, a mid-year change of teacher, no main
/// teacher, or no teacher at all.
fn assign_teachers(
    ctx: &mut Ctx,
    classes: &mut [CollectionPlan],
    slots: &[ClassSlot],
    staff: &StaffPool,
) {
    if staff.teachers.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.sort_by(|&a, &b| {
        (
            slots[a].subject.name,
            slots[a].year,
            slots[a].band,
            slots[a].number,
        )
            .cmp(&(
                slots[b].subject.name,
                slots[b].year,
                slots[b].band,
                slots[b].number,
            ))
    });
    let total = order.len().max(1);
    for (position, &class) in order.iter().enumerate() {
        let teacher = staff.teachers[position * staff.teachers.len() / total];
        let executives = &mut classes[class].executives;
        let roll = ctx.below(1000);
        match roll {
            0..4 => {}
            4..14 => executives.push(current_executive(ctx, teacher, "Teacher")),
            14..34 if ctx.today > days_after(ctx.year.start, 1) => {
                // The teacher changed during the year: the old row ended, the new one began.
                let previous = if staff.leavers.is_empty() || ctx.chance(0.5) {
                    staff.random_teacher(ctx)
                } else {
                    ctx.pick(&staff.leavers)
                };
                let handover =
                    ctx.date_between(days_after(ctx.year.start, 1), days_before(ctx.today, 1));
                executives.push(Executive {
                    staff_id: previous,
                    role: "Main Teacher",
                    start: ctx.year.start,
                    end: Some(days_before(handover, 1)),
                });
                executives.push(Executive {
                    staff_id: teacher,
                    role: "Main Teacher",
                    start: handover,
                    end: None,
                });
            }
            _ => executives.push(current_executive(ctx, teacher, "Main Teacher")),
        }
        if roll >= 4 && ctx.chance(0.15) {
            let second = staff.random_teacher(ctx);
            if second != teacher {
                let role = if ctx.chance(0.6) {
                    "Teacher"
                } else {
                    "Additional Teacher"
                };
                executives.push(current_executive(ctx, second, role));
            }
        }
    }
}

/// A few students changed sets during the year: an ended membership in a sibling class.
fn move_some_students_between_sets(
    ctx: &mut Ctx,
    classes: &mut [CollectionPlan],
    sets_of_subject: &[Vec<usize>],
) {
    let latest = days_before(ctx.today, 1);
    if latest < ctx.year.start {
        return;
    }
    for siblings in sets_of_subject.iter().filter(|s| s.len() > 1) {
        for (position, &class) in siblings.iter().enumerate() {
            let mut moved = Vec::new();
            for member in &classes[class].members {
                if member.end.is_none() && ctx.chance(0.006) {
                    let other =
                        siblings[(position + 1 + ctx.below(siblings.len() - 1)) % siblings.len()];
                    let end = ctx.date_between(ctx.year.start, latest);
                    moved.push((other, member.student, member.start.min(end), end));
                }
            }
            for (other, student, start, end) in moved {
                classes[other].members.push(Member {
                    student,
                    start,
                    end: Some(end),
                });
            }
        }
    }
}

/// About 3% of classes from year 8 up existed last year under the year below's name, with the
/// same students; everything about them ended before the summer.
fn last_years_classes(
    ctx: &mut Ctx,
    students: &[StudentPlan],
    current: &[CollectionPlan],
    slots: &[ClassSlot],
    staff: &StaffPool,
) -> Vec<CollectionPlan> {
    let mut old = Vec::new();
    for (class, slot) in current.iter().zip(slots) {
        if slot.year < 8 || !ctx.chance(0.03) {
            continue;
        }
        let (start, end) = (ctx.year.last_start, ctx.year.last_end);
        let members = class
            .members
            .iter()
            .filter(|m| students[m.student].start <= end)
            .map(|m| Member {
                student: m.student,
                start,
                end: Some(end),
            })
            .collect();
        let teacher = if !staff.leavers.is_empty() && ctx.chance(0.5) {
            Some(ctx.pick(&staff.leavers))
        } else {
            class.executives.first().map(|e| e.staff_id)
        };
        let executives = teacher
            .map(|staff_id| Executive {
                staff_id,
                role: "Main Teacher",
                start,
                end: Some(end),
            })
            .into_iter()
            .collect();
        old.push(CollectionPlan {
            id: ctx.next_id(),
            name: class_name(slot, slot.year - 1),
            description: format!("Year {} {}", slot.year - 1, slot.subject.name),
            subject: Some(slot.subject.name),
            kind: "CLASS",
            start,
            end: Some(end),
            members,
            executives,
        });
    }
    old
}

/// One class in 250 is on the timetable with a teacher but nobody in it.
fn empty_classes(
    ctx: &mut Ctx,
    slots: &[ClassSlot],
    sets_of_subject: &[Vec<usize>],
    staff: &StaffPool,
) -> Vec<CollectionPlan> {
    let mut empty = Vec::new();
    for _ in 0..slots.len() / 250 {
        let pick = ctx.below(sets_of_subject.len());
        let Some(&last) = sets_of_subject
            .get(pick)
            .and_then(|siblings| siblings.last())
        else {
            continue;
        };
        let template = &slots[last];
        let slot = ClassSlot {
            number: template.number + 1 + empty.len(),
            ..*template
        };
        let mut class = class_collection(ctx, &slot);
        if !staff.teachers.is_empty() {
            let teacher = staff.random_teacher(ctx);
            class
                .executives
                .push(current_executive(ctx, teacher, "Main Teacher"));
        }
        empty.push(class);
    }
    empty
}

/// Houses, year groups, bands and custom groups: groups that never make a student come through.
pub fn groups(ctx: &mut Ctx, students: &[StudentPlan], staff: &StaffPool) -> Vec<CollectionPlan> {
    let mut groups = Vec::new();
    let year_start = ctx.year.start;

    let house_count = if students.len() < 600 {
        4
    } else {
        HOUSES.len()
    };
    let first_house = groups.len();
    for house in &HOUSES[..house_count] {
        let mut group =
            this_year_collection(ctx, (*house).to_owned(), format!("{house} House"), "HOUSE");
        if !staff.teachers.is_empty() {
            let head = staff.random_teacher(ctx);
            group
                .executives
                .push(current_executive(ctx, head, "Head of House"));
        }
        groups.push(group);
    }
    for index in 0..students.len() {
        let house = first_house + ctx.below(house_count);
        add_current_members(&mut groups[house], students, [index], year_start);
    }

    for year in 7..=13u8 {
        let mut group =
            this_year_collection(ctx, format!("Year {year}"), format!("Year {year}"), "YEAR");
        add_current_members(
            &mut group,
            students,
            students
                .iter()
                .enumerate()
                .filter(|(_, s)| s.year == year)
                .map(|(i, _)| i),
            year_start,
        );
        if !staff.teachers.is_empty() {
            let head = staff.random_teacher(ctx);
            group
                .executives
                .push(current_executive(ctx, head, "Head of Year"));
        }
        groups.push(group);
        if year >= 12 {
            continue;
        }
        for band in 0..2u8 {
            let letter = band_letter(year, band);
            let mut group = this_year_collection(
                ctx,
                format!("{year}{letter}"),
                format!("Year {year} Band {letter}"),
                "BAND",
            );
            add_current_members(
                &mut group,
                students,
                students
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.year == year && s.band == band)
                    .map(|(i, _)| i),
                year_start,
            );
            groups.push(group);
        }
    }

    for (name, share) in [
        ("Pupil Premium", 0.22),
        ("SEN Support", 0.13),
        ("EAL", 0.10),
        ("Gifted and Talented", 0.08),
        ("Duke of Edinburgh", 0.05),
        ("School Council", 0.02),
    ] {
        let mut group = this_year_collection(ctx, name.to_owned(), name.to_owned(), "CUSTOM");
        let chosen: Vec<usize> = (0..students.len()).filter(|_| ctx.chance(share)).collect();
        add_current_members(&mut group, students, chosen, year_start);
        groups.push(group);
    }
    // An empty club and last summer's revision group, both of which must not come through.
    groups.push(this_year_collection(
        ctx,
        "Chess Club".to_owned(),
        "Chess Club".to_owned(),
        "CUSTOM",
    ));
    let (start, end) = (ctx.year.last_start, ctx.year.last_end);
    let mut revision = CollectionPlan {
        id: ctx.next_id(),
        name: "Summer Revision".to_owned(),
        description: "Summer Revision".to_owned(),
        subject: None,
        kind: "CUSTOM",
        start,
        end: Some(end),
        members: Vec::new(),
        executives: Vec::new(),
    };
    for (index, student) in students.iter().enumerate() {
        if student.year >= 12 && ctx.chance(0.3) {
            revision.members.push(Member {
                student: index,
                start,
                end: Some(end),
            });
        }
    }
    groups.push(revision);
    groups
}

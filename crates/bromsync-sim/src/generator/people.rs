//! The people of one synthetic school: students by year group with their tutor groups and
//! bands, families of one to three siblings who share their contacts, and the staff (mostly
//! teachers, some support staff who teach nothing, a few who have left).

use chrono::NaiveDate;
use rand::seq::SliceRandom;

use super::ctx::{Ctx, days_after, days_before, ymd};
use super::curriculum::{Subject, subjects_for};
use super::names::{BOYS, GIRLS, SURNAMES};

/// Relative size of years 7 to 13: the sixth form is smaller than the main school.
const YEAR_WEIGHTS: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6];
pub const STUDENTS_PER_TUTOR_GROUP: f64 = 25.0;
/// Staff as a share of students, and teachers as a share of staff.
const STAFF_PER_STUDENT: f64 = 0.08;
const TEACHERS_PER_STAFF: f64 = 0.76;

pub struct StudentPlan {
    pub id: i64,
    pub year: u8,
    pub female: bool,
    pub first: &'static str,
    pub surname: &'static str,
    pub dob: NaiveDate,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    /// Where a leaver's memberships were closed on their leaving date (most, not all).
    pub memberships_end: Option<NaiveDate>,
    /// Index into the school's tutor groups; `None` is Bromcom's `NoTutorGrp`.
    pub tutor_group: Option<usize>,
    /// 0 or 1 (X or Y) below the sixth form.
    pub band: u8,
    /// Empty for the few who are on roll but not yet on the timetable.
    pub subjects: Vec<Subject>,
}

impl StudentPlan {
    /// The dates of this student's membership of a collection running this academic year, or
    /// `None` where they had left before it could start.
    pub fn membership_this_year(
        &self,
        year_start: NaiveDate,
    ) -> Option<(NaiveDate, Option<NaiveDate>)> {
        let start = self.start.max(year_start);
        match self.memberships_end {
            Some(end) if end < start => None,
            end => Some((start, end)),
        }
    }
}

pub struct TutorGroupPlan {
    pub name: String,
    pub members: Vec<usize>,
}

pub struct ContactPlan {
    pub id: i64,
    pub female: bool,
    pub first: &'static str,
    pub surname: &'static str,
    pub relationship: &'static str,
    pub parental_responsibility: bool,
    /// Indexes of the students this contact is linked to.
    pub children: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffKind {
    Teacher,
    Support,
    Leaver,
}

pub struct StaffPlan {
    pub id: i64,
    pub kind: StaffKind,
    pub female: bool,
    pub first: &'static str,
    pub surname: &'static str,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// Splits `total` in proportion to `weights`, largest remainders first, so the parts add up.
pub fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let short = total.saturating_sub(parts.iter().sum());
    for &index in order.iter().cycle().take(short) {
        parts[index] += 1;
    }
    parts
}

pub fn plan_students(ctx: &mut Ctx, count: usize) -> Vec<StudentPlan> {
    let sizes = apportion(count, &YEAR_WEIGHTS);
    let mut students = Vec::with_capacity(count);
    for (offset, size) in sizes.into_iter().enumerate() {
        let year = 7 + offset as u8;
        for _ in 0..size {
            students.push(plan_student(ctx, year));
        }
    }
    students
}

fn plan_student(ctx: &mut Ctx, year: u8) -> StudentPlan {
    let today = ctx.today;
    let first_year = ctx.year.first_calendar_year();
    let years_in = i32::from(year - 7);
    let female = ctx.chance(0.5);
    let first = ctx.pick(if female { GIRLS } else { BOYS });
    let born_from = ymd(first_year - 12 - years_in, 9, 1, today);
    let born_to = ymd(first_year - 11 - years_in, 8, 31, today);
    let dob = ctx.date_between(born_from, born_to);

    let joined_in_year_7 = ymd(first_year - years_in, 9, 1, today);
    let mut start = if year >= 12 && ctx.chance(0.15) {
        ymd(first_year - i32::from(year - 12), 9, 1, today)
    } else {
        joined_in_year_7
    };
    let mut end = None;
    let mut memberships_end = None;
    if ctx.chance(0.004) {
        // Admitted, starting in the next few weeks: not on roll yet.
        start = days_after(today, 1 + ctx.below(21) as u64);
    } else {
        let latest = days_before(today, 1);
        if ctx.chance(0.06) && days_after(start, 30) < latest {
            start = ctx.date_between(days_after(start, 30), latest);
        }
        if ctx.chance(0.02) && start < latest {
            let earliest = days_after(start, 1).max(days_before(today, 150));
            let left = ctx.date_between(earliest, latest);
            end = Some(left);
            if ctx.chance(0.7) {
                memberships_end = Some(left);
            }
        }
    }
    // A few on roll without a tutor group; half of those not timetabled yet either.
    let (has_tutor_group, timetabled) = if ctx.chance(0.01) {
        (false, ctx.chance(0.5))
    } else {
        (true, true)
    };
    let subjects = if timetabled {
        subjects_for(year, &mut ctx.rng)
    } else {
        Vec::new()
    };
    StudentPlan {
        id: ctx.next_id(),
        year,
        female,
        first,
        surname: "",
        dob,
        start,
        end,
        memberships_end,
        tutor_group: has_tutor_group.then_some(usize::MAX),
        band: 0,
        subjects,
    }
}

/// Puts each year's students into tutor groups of about 25 and each group into band X or Y.
pub fn plan_tutor_groups(ctx: &mut Ctx, students: &mut [StudentPlan]) -> Vec<TutorGroupPlan> {
    let mut groups = Vec::new();
    for year in 7..=13u8 {
        let mut in_year: Vec<usize> = (0..students.len())
            .filter(|&i| students[i].year == year)
            .collect();
        if in_year.is_empty() {
            continue;
        }
        let count = ((in_year.len() as f64 / STUDENTS_PER_TUTOR_GROUP).round() as usize).max(1);
        let first_group = groups.len();
        for index in 0..count {
            groups.push(TutorGroupPlan {
                name: format!("{year}{}", tutor_group_suffix(index)),
                members: Vec::new(),
            });
        }
        in_year.shuffle(&mut ctx.rng);
        for (position, &student) in in_year.iter().enumerate() {
            let within_year = position % count;
            let band = u8::from(within_year * 2 >= count && count > 1);
            let plan = &mut students[student];
            plan.band = if year >= 12 { 0 } else { band };
            if plan.tutor_group.is_some() {
                plan.tutor_group = Some(first_group + within_year);
                groups[first_group + within_year].members.push(student);
            } else if year < 12 {
                plan.band = u8::from(ctx.chance(0.5));
            }
        }
    }
    groups
}

/// `A`..`Z` (skipping I and O), then two letters for very large years.
fn tutor_group_suffix(index: usize) -> String {
    let letters = super::names::TUTOR_LETTERS;
    let n = letters.len();
    if index < n {
        char::from(letters[index]).to_string()
    } else {
        let first = letters[(index / n - 1) % n];
        let second = letters[index % n];
        format!("{}{}", char::from(first), char::from(second))
    }
}

/// Families of one to three siblings (who mostly share a surname) and their contacts.
pub fn plan_families(ctx: &mut Ctx, students: &mut [StudentPlan]) -> Vec<ContactPlan> {
    let mut order: Vec<usize> = (0..students.len()).collect();
    order.shuffle(&mut ctx.rng);
    let mut contacts = Vec::with_capacity(students.len() * 13 / 10);
    let mut rest = &order[..];
    while !rest.is_empty() {
        let size = ctx
            .weighted(&[(1usize, 0.58), (2, 0.32), (3, 0.10)])
            .clamp(1, rest.len());
        let (family, remaining) = rest.split_at(size);
        rest = remaining;
        let surname = ctx.pick(SURNAMES);
        for (position, &child) in family.iter().enumerate() {
            students[child].surname = if position > 0 && ctx.chance(0.08) {
                ctx.pick(SURNAMES)
            } else {
                surname
            };
        }
        plan_family_contacts(ctx, family, surname, &mut contacts);
    }
    contacts
}

fn plan_family_contacts(
    ctx: &mut Ctx,
    family: &[usize],
    surname: &'static str,
    contacts: &mut Vec<ContactPlan>,
) {
    let count = ctx.weighted(&[(1usize, 0.28), (2, 0.57), (3, 0.12), (4, 0.03)]);
    let first_role = ctx.weighted(&[
        ("Mother", 0.82),
        ("Father", 0.12),
        ("Grandparent", 0.03),
        ("Carer", 0.03),
    ]);
    let mut roles = vec![first_role];
    if count >= 2 {
        roles.push(match first_role {
            "Mother" => ctx.weighted(&[
                ("Father", 0.78),
                ("Step-Father", 0.12),
                ("Grandparent", 0.06),
                ("Aunt", 0.02),
                ("Uncle", 0.02),
            ]),
            "Father" => ctx.weighted(&[
                ("Mother", 0.65),
                ("Step-Mother", 0.25),
                ("Grandparent", 0.10),
            ]),
            _ => ctx.weighted(&[("Grandparent", 0.5), ("Aunt", 0.25), ("Uncle", 0.25)]),
        });
    }
    while roles.len() < count {
        roles.push(ctx.weighted(&[
            ("Grandparent", 0.4),
            ("Aunt", 0.15),
            ("Uncle", 0.15),
            ("Step-Mother", 0.1),
            ("Step-Father", 0.1),
            ("Carer", 0.1),
        ]));
    }
    for relationship in roles {
        let female = match relationship {
            "Mother" | "Step-Mother" | "Aunt" => true,
            "Father" | "Step-Father" | "Uncle" => false,
            _ => ctx.chance(0.6),
        };
        let shares_surname = match relationship {
            "Father" => 0.9,
            "Mother" => 0.75,
            _ => 0.4,
        };
        let contact_surname = if ctx.chance(shares_surname) {
            surname
        } else {
            ctx.pick(SURNAMES)
        };
        let responsibility = match relationship {
            "Mother" | "Father" => 0.97,
            "Carer" => 0.7,
            "Step-Mother" | "Step-Father" => 0.35,
            "Grandparent" => 0.2,
            _ => 0.1,
        };
        let parental_responsibility = ctx.chance(responsibility);
        // A step-parent is not always linked to every child in the household.
        let mut children: Vec<usize> = if relationship.starts_with("Step-") && family.len() > 1 {
            family.iter().copied().filter(|_| ctx.chance(0.8)).collect()
        } else {
            family.to_vec()
        };
        if children.is_empty() {
            children.extend(family.first());
        }
        contacts.push(ContactPlan {
            id: ctx.next_id(),
            female,
            first: ctx.pick(if female { GIRLS } else { BOYS }),
            surname: contact_surname,
            relationship,
            parental_responsibility,
            children,
        });
    }
}

/// Staff of about 8% of the students: teachers first, then support staff, then leavers.
pub fn plan_staff(ctx: &mut Ctx, students: usize) -> Vec<StaffPlan> {
    let total = ((students as f64 * STAFF_PER_STUDENT).round() as usize).max(1);
    let teachers = ((total as f64 * TEACHERS_PER_STAFF).round() as usize).clamp(1, total);
    let leavers = (total as f64 * 0.03).round() as usize;
    let mut staff = Vec::with_capacity(total + leavers);
    for index in 0..total + leavers {
        let kind = if index < teachers {
            StaffKind::Teacher
        } else if index < total {
            StaffKind::Support
        } else {
            StaffKind::Leaver
        };
        let female = ctx.chance(0.62);
        let earliest = days_before(ctx.year.start, 365 * 20);
        let start = ctx.date_between(earliest, ctx.year.last_start);
        let end = (kind == StaffKind::Leaver)
            .then(|| ctx.date_between(ctx.year.last_end, days_before(ctx.today, 1)));
        staff.push(StaffPlan {
            id: ctx.next_id(),
            kind,
            female,
            first: ctx.pick(if female { GIRLS } else { BOYS }),
            surname: ctx.pick(SURNAMES),
            start,
            end,
        });
    }
    staff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_adds_up_and_follows_weights() {
        for total in [0, 1, 7, 100, 1001] {
            let parts = apportion(total, &YEAR_WEIGHTS);
            assert_eq!(parts.iter().sum::<usize>(), total);
            assert!(parts[0] >= parts[6]);
        }
        assert_eq!(apportion(62, &YEAR_WEIGHTS), vec![10, 10, 10, 10, 10, 6, 6]);
    }

    #[test]
    fn tutor_group_suffixes_are_distinct() {
        let mut seen: Vec<String> = (0..300).map(tutor_group_suffix).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 300);
    }
}

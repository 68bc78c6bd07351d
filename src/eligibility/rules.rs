//! The rules one record must pass on its own (docs/eligibility.md, "Records and their rules" and
//! "Dates that bound a row"), kept apart from the ripple so each can be read against the text.
//! Every function here expects rows already cleaned (trimmed, control characters removed,
//! empty = `None`), which `cleaning` guarantees.

use chrono::NaiveDate;

use super::reasons::ReasonSet;
use crate::roster::{ClassKind, GroupKind, NameChoice, Reason};
use crate::snapshot::{Contact, Staff, Student, StudentContact};
use crate::text::same_text;

/// `dataProcessingConsent` is `Granted`, trimmed, any case; anything else (or nothing) is not.
pub(super) fn consent_granted(consent: Option<&str>) -> bool {
    consent.is_some_and(|text| same_text(text, "Granted"))
}

/// A row counts while its start is absent or on/before today and its end absent or on/after
/// today: a membership ending today still counts today.
pub(super) fn is_current(
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    today: NaiveDate,
) -> bool {
    start.is_none_or(|start| start <= today) && end.is_none_or(|end| end >= today)
}

/// One part of a name per the school's choice; an absent preferred part falls back to the legal
/// one, part by part (a preferred first name with no preferred last name keeps the legal last).
pub(super) fn chosen_name<'a>(
    legal: Option<&'a str>,
    preferred: Option<&'a str>,
    choice: NameChoice,
) -> Option<&'a str> {
    match choice {
        NameChoice::Preferred => preferred.or(legal),
        NameChoice::Legal => legal,
    }
}

/// A person's stored first and last name per the school's choice.
pub(super) struct ChosenNames<'a> {
    pub(super) first: Option<&'a str>,
    pub(super) last: Option<&'a str>,
}

pub(super) fn student_names(student: &Student, choice: NameChoice) -> ChosenNames<'_> {
    ChosenNames {
        first: chosen_name(
            student.first_name.as_deref(),
            student.preferred_first_name.as_deref(),
            choice,
        ),
        last: chosen_name(
            student.last_name.as_deref(),
            student.preferred_last_name.as_deref(),
            choice,
        ),
    }
}

pub(super) fn staff_names(staff: &Staff, choice: NameChoice) -> ChosenNames<'_> {
    ChosenNames {
        first: chosen_name(
            staff.first_name.as_deref(),
            staff.preferred_first_name.as_deref(),
            choice,
        ),
        last: chosen_name(
            staff.last_name.as_deref(),
            staff.preferred_last_name.as_deref(),
            choice,
        ),
    }
}

/// Why a student fails its own rules (empty: it passes them; `no_classes` is the ripple's).
pub(super) fn student_reasons(
    student: &Student,
    today: NaiveDate,
    choice: NameChoice,
) -> ReasonSet {
    let names = student_names(student, choice);
    let mut reasons = ReasonSet::default();
    reasons.add_if(
        !consent_granted(student.data_processing_consent.as_deref()),
        Reason::NoConsent,
    );
    reasons.add_if(
        !is_current(student.start_date, student.end_date, today),
        Reason::NotOnRoll,
    );
    reasons.add_if(names.first.is_none(), Reason::MissingFirstName);
    reasons.add_if(names.last.is_none(), Reason::MissingLastName);
    reasons
}

/// Why a staff member fails their own rules (`no_eligible_students` is the ripple's).
pub(super) fn staff_reasons(staff: &Staff, today: NaiveDate, choice: NameChoice) -> ReasonSet {
    let names = staff_names(staff, choice);
    let mut reasons = ReasonSet::default();
    reasons.add_if(
        !consent_granted(staff.data_processing_consent.as_deref()),
        Reason::NoConsent,
    );
    reasons.add_if(
        !is_current(staff.start_date, staff.end_date, today),
        Reason::NotOnStaff,
    );
    reasons.add_if(staff.title.is_none(), Reason::MissingTitle);
    reasons.add_if(names.first.is_none(), Reason::MissingFirstName);
    reasons.add_if(names.last.is_none(), Reason::MissingLastName);
    reasons
}

/// Why a contact fails their own rules (`no_eligible_children` is the ripple's). Contacts have
/// only legal names in Bromcom, so the school's name choice does not apply.
pub(super) fn contact_reasons(contact: &Contact) -> ReasonSet {
    let mut reasons = ReasonSet::default();
    reasons.add_if(
        !consent_granted(contact.data_processing_consent.as_deref()),
        Reason::NoConsent,
    );
    reasons.add_if(contact.title.is_none(), Reason::MissingTitle);
    reasons.add_if(contact.first_name.is_none(), Reason::MissingFirstName);
    reasons.add_if(contact.last_name.is_none(), Reason::MissingLastName);
    reasons
}

/// The stored tutor group: the placeholder `NoTutorGrp` (trimmed, any case) means none.
pub(super) fn tutor_group(student: &Student) -> Option<String> {
    student
        .tutor_group
        .as_deref()
        .filter(|group| !same_text(group, "NoTutorGrp"))
        .map(str::to_owned)
}

/// `Main Teacher` or `Main Tutor`, trimmed, any case.
pub(super) fn is_main_role(role: Option<&str>) -> bool {
    role.is_some_and(|role| same_text(role, "Main Teacher") || same_text(role, "Main Tutor"))
}

/// Mother and Father skip the parental-responsibility rule; nothing else does (`Step-Mother`
/// is not `Mother`).
pub(super) fn is_mother_or_father(relationship: Option<&str>) -> bool {
    relationship.is_some_and(|text| same_text(text, "Mother") || same_text(text, "Father"))
}

/// One link row's own rule: Mother, Father, or parental responsibility.
pub(super) fn link_row_qualifies(row: &StudentContact) -> bool {
    row.parental_responsibility || is_mother_or_father(row.relationship.as_deref())
}

/// What `collectionTypeName` says a collection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CollectionType {
    Class(ClassKind),
    Group(GroupKind),
    Unknown,
}

pub(super) fn collection_type(type_name: Option<&str>) -> CollectionType {
    let Some(type_name) = type_name else {
        return CollectionType::Unknown;
    };
    let known = [
        ("CLASS", CollectionType::Class(ClassKind::Class)),
        ("TUTORGRP", CollectionType::Class(ClassKind::TutorGroup)),
        ("HOUSE", CollectionType::Group(GroupKind::House)),
        ("YEAR", CollectionType::Group(GroupKind::Year)),
        ("BAND", CollectionType::Group(GroupKind::Band)),
        ("CUSTOM", CollectionType::Group(GroupKind::Custom)),
    ];
    known
        .into_iter()
        .find(|(name, _)| same_text(type_name, name))
        .map_or(CollectionType::Unknown, |(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn consent_is_granted_trimmed_any_case_only() {
        assert!(consent_granted(Some("Granted")));
        assert!(consent_granted(Some("gRANTED ")));
        assert!(!consent_granted(Some("Withdrawn")));
        assert!(!consent_granted(Some("Granted please")));
        assert!(!consent_granted(None));
    }

    #[test]
    fn dates_bound_inclusively() {
        let today = day("2025-03-10");
        assert!(is_current(None, None, today));
        assert!(is_current(Some(today), Some(today), today));
        assert!(!is_current(Some(day("2025-03-11")), None, today));
        assert!(!is_current(None, Some(day("2025-03-09")), today));
        assert!(is_current(
            Some(day("2020-01-01")),
            Some(day("2030-01-01")),
            today
        ));
    }

    #[test]
    fn names_follow_the_choice_with_part_by_part_fallback() {
        let legal = Some("Amelia");
        assert_eq!(
            chosen_name(legal, Some("Millie"), NameChoice::Preferred),
            Some("Millie")
        );
        assert_eq!(
            chosen_name(legal, Some("Millie"), NameChoice::Legal),
            Some("Amelia")
        );
        assert_eq!(
            chosen_name(legal, None, NameChoice::Preferred),
            Some("Amelia")
        );
        assert_eq!(chosen_name(None, Some("Millie"), NameChoice::Legal), None);
    }

    #[test]
    fn collection_types_match_trimmed_any_case() {
        assert_eq!(
            collection_type(Some("tutorgrp")),
            CollectionType::Class(ClassKind::TutorGroup)
        );
        assert_eq!(
            collection_type(Some(" Class")),
            CollectionType::Class(ClassKind::Class)
        );
        assert_eq!(
            collection_type(Some("house")),
            CollectionType::Group(GroupKind::House)
        );
        assert_eq!(
            collection_type(Some("CUSTOM")),
            CollectionType::Group(GroupKind::Custom)
        );
        assert_eq!(collection_type(Some("CLUB")), CollectionType::Unknown);
        assert_eq!(collection_type(None), CollectionType::Unknown);
    }

    #[test]
    fn roles_and_relationships() {
        assert!(is_main_role(Some("main teacher")));
        assert!(is_main_role(Some("MAIN TUTOR ")));
        assert!(!is_main_role(Some("Additional Teacher")));
        assert!(!is_main_role(None));
        assert!(is_mother_or_father(Some("father")));
        assert!(!is_mother_or_father(Some("Step-Mother")));
        assert!(!is_mother_or_father(None));
    }
}

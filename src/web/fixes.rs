//! What each reason code means, in plain English, and what to change in Bromcom to fix it:
//! the "why didn't it come through" page's text. Every code of [`Reason`] has its line (the
//! match has no catch-all, so a new code does not build until it is explained here).

use crate::roster::Reason;

/// A reason said for a school's data manager.
pub struct Fix {
    /// A short title for the group.
    pub title: &'static str,
    /// What it means.
    pub means: &'static str,
    /// What to change in Bromcom.
    pub fix: &'static str,
}

pub fn fix(reason: Reason) -> Fix {
    let (title, means, fix) = match reason {
        Reason::NoConsent => (
            "No data-processing consent",
            "The record's data-processing consent is not Granted, so the booking system may not hold it.",
            "In Bromcom, open the person's record and set the data-processing consent to Granted.",
        ),
        Reason::NotOnRoll => (
            "Not on roll today",
            "The student's admission and leaving dates say they are not on roll today.",
            "If the student is on roll, correct the admission date (or clear the leaving date) on the student's record in Bromcom.",
        ),
        Reason::NotOnStaff => (
            "Not on the staff today",
            "The staff member's start and end dates say they are not employed today.",
            "If they teach here, correct the staff member's start or end date in Bromcom.",
        ),
        Reason::NotCurrent => (
            "Not current",
            "The class or group is outside its start and end dates today.",
            "If it still runs, extend the class or group's end date (or fix its start date) in Bromcom.",
        ),
        Reason::MissingTitle => (
            "No title",
            "Parents' evening invitations address teachers and parents by title (Mr, Ms, Dr...), and this record has none.",
            "Give the person a title on their record in Bromcom.",
        ),
        Reason::MissingFirstName => (
            "No first name",
            "The record has no first name (or no preferred name, when the school uses preferred names).",
            "Fill in the first name (or the preferred name) on the record in Bromcom.",
        ),
        Reason::MissingLastName => (
            "No last name",
            "The record has no last name (or no preferred last name, when the school uses preferred names).",
            "Fill in the last name (or the preferred last name) on the record in Bromcom.",
        ),
        Reason::NoClasses => (
            "In no class that comes through",
            "The student is in no current class or tutor group that comes through, so no teacher could meet their parents.",
            "Put the student in their current classes or tutor group in Bromcom; if they are in one, open that class here to see why it did not come through.",
        ),
        Reason::NoEligibleStudents => (
            "Teaches no student who comes through",
            "The teacher is attached to no class that comes through, so no parent could book them.",
            "Attach the teacher to their current classes in Bromcom; if they are attached, open those classes here to see why they did not come through.",
        ),
        Reason::NoStudents => (
            "No students who come through",
            "The class or group has no current student member who comes through.",
            "Add the current students to the class or group in Bromcom, or fix why its students do not come through (open them here).",
        ),
        Reason::NoTeachers => (
            "No teacher who comes through",
            "The class has no current teacher who comes through, so parents could book no one for it.",
            "Give the class a main teacher in Bromcom (and check that the teacher has a title and consent); if it has teachers, open them here to see why they do not come through.",
        ),
        Reason::NoEligibleChildren => (
            "No child who comes through",
            "None of the contact's links to students comes through: their children do not come through, or the link gives no parental responsibility.",
            "Give the contact parental responsibility, or the relationship Mother or Father, on the student's contacts in Bromcom; if the child does not come through, open the child here.",
        ),
        Reason::StudentNotEligible => (
            "The linked student does not come through",
            "A contact's link was dropped because the student it points at does not come through.",
            "Fix the student first (open the student here to see why).",
        ),
        Reason::NoParentalResponsibility => (
            "No parental responsibility",
            "The link between the contact and the student is neither Mother nor Father and does not have parental responsibility.",
            "On the student's contacts in Bromcom, tick parental responsibility for this contact, or set the relationship to Mother or Father.",
        ),
        Reason::InvalidRecord => (
            "A field could not be read",
            "A field of the record holds a value that cannot be read (the field is named below; its value is never shown or stored).",
            "Correct the named field on the record in Bromcom (for example a date in the wrong form).",
        ),
        Reason::TextTooLong => (
            "A field is too long",
            "A text field is longer than the booking system accepts (the field is named below).",
            "Shorten the named field on the record in Bromcom.",
        ),
        Reason::DuplicateId => (
            "The same ID twice",
            "Bromcom sent two different rows with this ID, and neither is picked silently.",
            "Ask Bromcom support to merge or remove the duplicate record.",
        ),
        Reason::UnknownStudent => (
            "Points at an unknown student",
            "A membership or link points at a student Bromcom did not send.",
            "Check the student still exists in Bromcom and remove the stale membership or link.",
        ),
        Reason::UnknownContact => (
            "Points at an unknown contact",
            "A student's link points at a contact Bromcom did not send.",
            "Remove the stale contact link from the student's record in Bromcom.",
        ),
        Reason::UnknownStaff => (
            "Points at an unknown staff member",
            "A class's staff list points at a staff member Bromcom did not send.",
            "Remove the stale staff member from the class in Bromcom.",
        ),
        Reason::UnknownCollection => (
            "Points at an unknown class or group",
            "A membership points at a class or group Bromcom did not send.",
            "Remove the stale membership in Bromcom.",
        ),
        Reason::UnknownCollectionType => (
            "Not a class or a group kind we know",
            "The collection's type is none of class, tutor group, house, year, band or custom.",
            "If it should come through, give it one of those types in Bromcom; otherwise nothing needs doing.",
        ),
    };
    Fix { title, means, fix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_title_and_a_fix() {
        let mut titles = std::collections::BTreeSet::new();
        for reason in Reason::ALL {
            let fix = fix(*reason);
            assert!(titles.insert(fix.title), "{reason}: title repeated");
            assert!(!fix.means.is_empty() && !fix.fix.is_empty(), "{reason}");
        }
    }
}

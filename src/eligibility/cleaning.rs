//! Cleans every text field of a row again with [`crate::text::clean`]. The client already does
//! this, but `decide` must be safe on any `Snapshot` (a test's, a replayed one), and cleaning is
//! idempotent, so doing it twice costs little and removes a way to be wrong.

use std::borrow::Cow;

use crate::snapshot::{
    Collection, CollectionExecutive, Contact, ContactDetail, Staff, Student, StudentContact,
};
use crate::text::{clean, has_control};

fn tidy(text: &Option<String>) -> Option<String> {
    text.as_deref().and_then(clean)
}

pub(super) fn student(row: &Student) -> Student {
    Student {
        student_id: row.student_id,
        first_name: tidy(&row.first_name),
        last_name: tidy(&row.last_name),
        preferred_first_name: tidy(&row.preferred_first_name),
        preferred_last_name: tidy(&row.preferred_last_name),
        date_of_birth: row.date_of_birth,
        tutor_group: tidy(&row.tutor_group),
        year_group: tidy(&row.year_group),
        start_date: row.start_date,
        end_date: row.end_date,
        data_processing_consent: tidy(&row.data_processing_consent),
    }
}

pub(super) fn staff(row: &Staff) -> Staff {
    Staff {
        staff_id: row.staff_id,
        title: tidy(&row.title),
        first_name: tidy(&row.first_name),
        last_name: tidy(&row.last_name),
        preferred_first_name: tidy(&row.preferred_first_name),
        preferred_last_name: tidy(&row.preferred_last_name),
        work_email: tidy(&row.work_email),
        start_date: row.start_date,
        end_date: row.end_date,
        data_processing_consent: tidy(&row.data_processing_consent),
    }
}

pub(super) fn contact(row: &Contact) -> Contact {
    Contact {
        person_id: row.person_id,
        title: tidy(&row.title),
        first_name: tidy(&row.first_name),
        last_name: tidy(&row.last_name),
        data_processing_consent: tidy(&row.data_processing_consent),
    }
}

pub(super) fn collection(row: &Collection) -> Collection {
    Collection {
        collection_id: row.collection_id,
        name: tidy(&row.name),
        description: tidy(&row.description),
        subject_name: tidy(&row.subject_name),
        type_name: tidy(&row.type_name),
        start_date: row.start_date,
        end_date: row.end_date,
    }
}

pub(super) fn student_contact(row: &StudentContact) -> StudentContact {
    StudentContact {
        student_id: row.student_id,
        person_id: row.person_id,
        relationship: tidy(&row.relationship),
        parental_responsibility: row.parental_responsibility,
    }
}

/// As [`clean`], borrowing when the text is already clean: the text of rows that are many
/// (roles, emails, phones) is read far more often than it is kept.
fn tidy_borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    let text = text.as_deref()?;
    if has_control(text) {
        return clean(text).map(Cow::Owned);
    }
    let trimmed = text.trim();
    (!trimmed.is_empty()).then_some(Cow::Borrowed(trimmed))
}

/// Only the role is text; the rest of an executive row is IDs and dates.
pub(super) fn executive_role(row: &CollectionExecutive) -> Option<Cow<'_, str>> {
    tidy_borrowed(&row.role)
}

pub(super) fn detail_value(row: &ContactDetail) -> Option<Cow<'_, str>> {
    tidy_borrowed(&row.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_control_characters_and_padding_from_every_text_field() {
        let dirty = Student {
            student_id: 1,
            first_name: Some(" Am\0elia ".into()),
            last_name: Some("\u{7}".into()),
            tutor_group: Some("7X\n".into()),
            data_processing_consent: Some("Granted\0".into()),
            ..Student::default()
        };
        let cleaned = student(&dirty);
        assert_eq!(cleaned.first_name.as_deref(), Some("Amelia"));
        assert_eq!(cleaned.last_name, None);
        assert_eq!(cleaned.tutor_group.as_deref(), Some("7X"));
        assert_eq!(cleaned.data_processing_consent.as_deref(), Some("Granted"));
        assert_eq!(student(&cleaned), cleaned, "cleaning twice changes nothing");
    }

    #[test]
    fn borrowed_cleaning_agrees_with_clean() {
        for raw in [" a@x ", "a\0@x", "   ", "\u{7}", "plain"] {
            let row = ContactDetail {
                person_id: 1,
                value: Some(raw.to_owned()),
                priority: None,
            };
            assert_eq!(
                detail_value(&row).map(Cow::into_owned),
                clean(raw),
                "{raw:?}"
            );
        }
    }
}

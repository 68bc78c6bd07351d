//! Operator text for one exclusion: why the record fell out, following `caused_by` a few levels
//! back towards where the ripple started, e.g.
//! `student 5 fell out: no_classes (class 301 fell out: no_students, no_teachers (teacher 88
//! fell out: missing_title, no_eligible_students))`.
//!
//! IDs and reason codes only, never names: the text may end up in logs. A record already on the
//! path is not repeated (ripples are mutual: a class falls with its only student and the
//! student with it), and the depth and the number of causes shown are capped.

use std::fmt::Write;

use crate::roster::{ExcludedEntity, Exclusion, Exclusions, RecordRef};

/// How many levels of causes are followed below the record asked about.
const MAX_DEPTH: usize = 3;
/// How many causes are spelled out per record; the rest are counted.
const MAX_CAUSES: usize = 5;

/// Why `entity` `id` is excluded, or `None` when `exclusions` (sorted by entity and ID, as
/// `decide` makes them) do not hold it. Used on a fresh decision and on what a run stored.
pub fn explain(exclusions: &Exclusions, entity: ExcludedEntity, id: i64) -> Option<String> {
    let records = &exclusions.records;
    let root = find(records, RecordRef { entity, id })?;
    let mut text = String::new();
    let mut path = vec![RecordRef { entity, id }];
    describe(records, root, &mut path, &mut text);
    Some(text)
}

fn find(records: &[Exclusion], wanted: RecordRef) -> Option<&Exclusion> {
    records
        .binary_search_by_key(&(wanted.entity, wanted.id), |record| {
            (record.entity, record.id)
        })
        .ok()
        .map(|index| &records[index])
}

fn describe(
    records: &[Exclusion],
    record: &Exclusion,
    path: &mut Vec<RecordRef>,
    out: &mut String,
) {
    let reasons: Vec<&str> = record
        .reasons
        .iter()
        .map(|reason| reason.as_str())
        .collect();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{} {} fell out: {}",
        record.entity.as_str(),
        record.id,
        reasons.join(", ")
    );
    let (too_long, unreadable): (Vec<&str>, Vec<&str>) = record
        .invalid_fields
        .iter()
        .map(String::as_str)
        .partition(|field| crate::roster::too_long_field(field).is_some());
    if !unreadable.is_empty() {
        let _ = write!(out, " [unreadable: {}]", unreadable.join(", "));
    }
    if !too_long.is_empty() {
        let names: Vec<&str> = too_long
            .iter()
            .filter_map(|field| crate::roster::too_long_field(field))
            .collect();
        let _ = write!(out, " [over the length limit: {}]", names.join(", "));
    }

    let causes: Vec<&Exclusion> = record
        .caused_by
        .iter()
        .filter(|cause| !path.contains(cause))
        .filter_map(|cause| find(records, *cause))
        .collect();
    if causes.is_empty() {
        return;
    }
    if path.len() > MAX_DEPTH {
        out.push_str(" (...)");
        return;
    }
    out.push_str(" (");
    for (position, cause) in causes.iter().take(MAX_CAUSES).enumerate() {
        if position > 0 {
            out.push_str("; ");
        }
        path.push(RecordRef {
            entity: cause.entity,
            id: cause.id,
        });
        describe(records, cause, path, out);
        path.pop();
    }
    if causes.len() > MAX_CAUSES {
        let _ = write!(out, "; and {} more", causes.len() - MAX_CAUSES);
    }
    out.push(')');
}

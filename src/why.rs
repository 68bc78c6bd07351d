//! "Why is this parent missing?": the answer from what the latest successful run stored. A
//! record that was left out is told with its reasons, and each reason that came from other
//! records (a ripple) is followed back to where it started: IDs and reason codes only.

use std::collections::{BTreeMap, BTreeSet};

use crate::roster::ExcludedEntity;
use crate::store::StoredExclusion;

/// Where a record stands in the school's stored roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// In the roster; the run that last inserted or changed it.
    ComesThrough { changed_in_run: i64 },
    /// Left out by the latest successful run.
    LeftOut,
    /// Neither: Bromcom did not send it (or no run has succeeded yet).
    Unknown,
}

/// How many links of a ripple are followed before the answer says "and so on".
const MAX_DEPTH: usize = 6;
/// How many causing records are named at each step.
const MAX_CAUSES: usize = 5;

/// The operator's answer for one record, as lines of text.
pub fn explain(
    entity: ExcludedEntity,
    id: i64,
    standing: &Standing,
    exclusions: &[StoredExclusion],
) -> Vec<String> {
    let name = format!("{} {id}", entity.as_str());
    match standing {
        Standing::ComesThrough { changed_in_run } => vec![format!(
            "{name} comes through: it is in the roster (last written by run {changed_in_run})"
        )],
        Standing::Unknown => vec![format!(
            "{name} is not in the roster and was not left out by the latest successful run: \
             Bromcom did not send it (check the ID and the entity), or no run has succeeded yet"
        )],
        Standing::LeftOut => {
            let by_key: BTreeMap<(&str, i64), &StoredExclusion> = exclusions
                .iter()
                .map(|e| ((e.entity.as_str(), e.id), e))
                .collect();
            let mut lines = Vec::new();
            let mut seen = BTreeSet::new();
            describe(entity.as_str(), id, 0, &by_key, &mut seen, &mut lines);
            lines
        }
    }
}

fn describe(
    entity: &str,
    id: i64,
    depth: usize,
    by_key: &BTreeMap<(&str, i64), &StoredExclusion>,
    seen: &mut BTreeSet<(String, i64)>,
    lines: &mut Vec<String>,
) {
    let indent = "  ".repeat(depth);
    let lead = if depth == 0 { "" } else { "because " };
    let Some(exclusion) = by_key.get(&(entity, id)) else {
        lines.push(format!("{indent}{lead}{entity} {id} (no stored reason)"));
        return;
    };
    let mut text = format!(
        "{indent}{lead}{entity} {id} is left out: {}",
        exclusion.reasons.join(", ")
    );
    if !exclusion.invalid_fields.is_empty() {
        text.push_str(&format!(
            " (unreadable: {})",
            exclusion.invalid_fields.join(", ")
        ));
    }
    lines.push(text);
    if !seen.insert((entity.to_owned(), id)) {
        return;
    }
    if depth + 1 >= MAX_DEPTH {
        if !exclusion.caused_by.is_empty() {
            lines.push(format!("{indent}  ... and so on"));
        }
        return;
    }
    for (cause_entity, cause_id) in exclusion.caused_by.iter().take(MAX_CAUSES) {
        describe(cause_entity, *cause_id, depth + 1, by_key, seen, lines);
    }
    if exclusion.caused_by.len() > MAX_CAUSES {
        lines.push(format!(
            "{indent}  ... and {} more",
            exclusion.caused_by.len() - MAX_CAUSES
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(
        entity: &str,
        id: i64,
        reasons: &[&str],
        caused_by: &[(&str, i64)],
    ) -> StoredExclusion {
        StoredExclusion {
            entity: entity.to_owned(),
            id,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            invalid_fields: Vec::new(),
            caused_by: caused_by.iter().map(|(e, i)| (e.to_string(), *i)).collect(),
            run_id: 1,
        }
    }

    #[test]
    fn follows_a_ripple_back_to_where_it_started() {
        // Worked example 10: a teacher without a title takes out the class, its student and
        // the student's mother.
        let exclusions = vec![
            stored("parent", 7, &["no_eligible_children"], &[("student", 4101)]),
            stored("student", 4101, &["no_classes"], &[("class", 301)]),
            stored("class", 301, &["no_teachers"], &[("teacher", 88)]),
            stored("teacher", 88, &["missing_title"], &[]),
        ];
        let lines = explain(ExcludedEntity::Parent, 7, &Standing::LeftOut, &exclusions);
        assert_eq!(
            lines,
            vec![
                "parent 7 is left out: no_eligible_children",
                "  because student 4101 is left out: no_classes",
                "    because class 301 is left out: no_teachers",
                "      because teacher 88 is left out: missing_title",
            ]
        );
    }

    #[test]
    fn a_cycle_of_causes_ends() {
        let exclusions = vec![
            stored("class", 1, &["no_teachers"], &[("teacher", 2)]),
            stored("teacher", 2, &["no_eligible_students"], &[("class", 1)]),
        ];
        let lines = explain(ExcludedEntity::Class, 1, &Standing::LeftOut, &exclusions);
        assert_eq!(lines.len(), 3, "{lines:?}");
    }

    #[test]
    fn says_when_a_record_comes_through_or_was_never_sent() {
        let through = explain(
            ExcludedEntity::Student,
            5,
            &Standing::ComesThrough { changed_in_run: 9 },
            &[],
        );
        assert!(through[0].contains("comes through") && through[0].contains("run 9"));
        let unknown = explain(ExcludedEntity::Student, 5, &Standing::Unknown, &[]);
        assert!(unknown[0].contains("did not send it"));
    }
}

//! "Why is this parent missing?": the answer from what the latest successful run stored. A
//! record that was left out is told with its reasons, and each reason that came from other
//! records (a ripple) is followed back to where it started: IDs and reason codes only.

use crate::roster::{ExcludedEntity, Exclusion, Exclusions};
use crate::snapshot::SchoolId;
use crate::store::{Store, StoreError, StoredExclusion};

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

/// The operator's answer for one record of one school, from what the store holds now.
pub async fn answer(
    store: &Store,
    school: SchoolId,
    entity: ExcludedEntity,
    id: i64,
) -> Result<String, StoreError> {
    let exclusions = store.load_exclusions(school).await?;
    let standing = match store.roster_run_of(school, entity, id).await? {
        Some(run) => Standing::ComesThrough {
            changed_in_run: run,
        },
        None if exclusions.iter().any(|e| e.entity == entity && e.id == id) => Standing::LeftOut,
        None => Standing::Unknown,
    };
    Ok(explain(entity, id, &standing, &exclusions))
}

/// The answer for one record, given where it stands and the school's stored exclusions.
pub fn explain(
    entity: ExcludedEntity,
    id: i64,
    standing: &Standing,
    stored: &[StoredExclusion],
) -> String {
    let name = format!("{} {id}", entity.as_str());
    match standing {
        Standing::ComesThrough { changed_in_run } => format!(
            "{name} comes through: it is in the roster (last written by run {changed_in_run})"
        ),
        Standing::Unknown => format!(
            "{name} is not in the roster and was not left out by the latest successful run: \
             Bromcom did not send it (check the ID and the entity), or no run has succeeded yet"
        ),
        Standing::LeftOut => {
            let mut records: Vec<Exclusion> =
                stored.iter().map(StoredExclusion::to_exclusion).collect();
            records.sort_by_key(|record| (record.entity, record.id));
            let exclusions = Exclusions {
                records,
                ..Exclusions::default()
            };
            crate::eligibility::explain(&exclusions, entity, id)
                .unwrap_or_else(|| format!("{name} is left out (its reasons are not readable)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::roster::{Reason, RecordRef};

    fn stored(
        entity: &str,
        id: i64,
        reasons: &[&str],
        caused_by: &[(&str, i64)],
    ) -> StoredExclusion {
        let entity_named = |name: &str| ExcludedEntity::parse(name).expect("an entity name");
        StoredExclusion {
            entity: entity_named(entity),
            id,
            reasons: reasons
                .iter()
                .map(|r| Reason::parse(r).expect("a reason code"))
                .collect(),
            invalid_fields: Vec::new(),
            caused_by: caused_by
                .iter()
                .map(|(e, id)| RecordRef {
                    entity: entity_named(e),
                    id: *id,
                })
                .collect(),
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
        assert_eq!(
            explain(ExcludedEntity::Parent, 7, &Standing::LeftOut, &exclusions),
            "parent 7 fell out: no_eligible_children (student 4101 fell out: no_classes \
             (class 301 fell out: no_teachers (teacher 88 fell out: missing_title)))"
        );
    }

    #[test]
    fn says_when_a_record_comes_through_or_was_never_sent() {
        let through = explain(
            ExcludedEntity::Student,
            5,
            &Standing::ComesThrough { changed_in_run: 9 },
            &[],
        );
        assert!(through.contains("comes through") && through.contains("run 9"));
        let unknown = explain(ExcludedEntity::Student, 5, &Standing::Unknown, &[]);
        assert!(unknown.contains("did not send it"));
    }
}

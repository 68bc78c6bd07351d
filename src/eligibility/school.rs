//! One school judged: every record read into its table, its own reasons, the ripple settled,
//! groups and contacts decided. [`School`] holds all of it by dense index, so that building the
//! roster and the exclusions is plain reading.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::Dropped;
use super::collections::{self, CollectionRole};
use super::contacts::{self, Link};
use super::intake::{Table, build_table};
use super::memberships::{self, Memberships};
use super::reasons::ReasonSet;
use super::ripple::{self, Alive, ClassGraph};
use super::rules;
use super::{cleaning, rules::is_current};
use crate::roster::{NameChoice, Reason};
use crate::snapshot::{BadRow, Collection, Contact, EntityKind, Snapshot, Staff, Student};

pub(super) struct School {
    pub(super) names: NameChoice,
    pub(super) students: Table<Student>,
    pub(super) staff: Table<Staff>,
    pub(super) contacts: Table<Contact>,
    pub(super) collections: Table<Collection>,
    pub(super) roles: Vec<CollectionRole>,
    pub(super) memberships: Memberships,
    pub(super) graph: ClassGraph,
    /// Reasons from each record's own rows: intake faults, or its own rules when readable.
    pub(super) own_students: Vec<ReasonSet>,
    pub(super) own_staff: Vec<ReasonSet>,
    pub(super) own_contacts: Vec<ReasonSet>,
    pub(super) own_collections: Vec<ReasonSet>,
    /// Students, staff and classes that come through (indexes over their tables).
    pub(super) alive: Alive,
    pub(super) groups_alive: Vec<bool>,
    pub(super) links: Vec<Link>,
    /// Per link: it comes through (its student does and it passes its own rule).
    pub(super) links_alive: Vec<bool>,
    pub(super) contacts_alive: Vec<bool>,
    pub(super) emails: Vec<Option<String>>,
    pub(super) phones: Vec<Option<String>>,
    pub(super) dropped: Dropped,
}

/// Bad rows' fields by record ID, per record entity. Bad rows that cannot name a record (link
/// entities, or a record entity's row whose ID could not be read) are counted as dropped.
#[derive(Default)]
struct BadFields {
    students: BTreeMap<i64, Vec<String>>,
    staff: BTreeMap<i64, Vec<String>>,
    contacts: BTreeMap<i64, Vec<String>>,
    collections: BTreeMap<i64, Vec<String>>,
}

fn split_bad_rows(bad_rows: &[BadRow], dropped: &mut Dropped) -> BadFields {
    let mut fields = BadFields::default();
    for row in bad_rows {
        let by_id = match row.entity {
            EntityKind::Students => Some(&mut fields.students),
            EntityKind::Staff => Some(&mut fields.staff),
            EntityKind::Contacts => Some(&mut fields.contacts),
            EntityKind::Collections => Some(&mut fields.collections),
            _ => None,
        };
        let too_long = row.is_too_long();
        match (by_id, row.id) {
            (Some(by_id), Some(id)) if too_long => by_id.entry(id).or_default().push(format!(
                "{}{}",
                row.field,
                crate::roster::TOO_LONG_MARK
            )),
            (Some(by_id), Some(id)) => by_id.entry(id).or_default().push(row.field.clone()),
            _ => {
                let reason = if too_long {
                    Reason::TextTooLong
                } else {
                    Reason::InvalidRecord
                };
                *dropped.entry((row.entity, reason)).or_default() += 1
            }
        }
    }
    fields
}

fn own_reasons<T>(table: &Table<T>, rules: impl Fn(&T) -> ReasonSet) -> Vec<ReasonSet> {
    table
        .entries
        .iter()
        .map(|entry| match entry.readable() {
            Some(row) => rules(row),
            None => entry.intake_reasons(),
        })
        .collect()
}

fn passes(own: &[ReasonSet]) -> Vec<bool> {
    own.iter().map(|reasons| reasons.is_empty()).collect()
}

impl School {
    pub(super) fn judge(snapshot: &Snapshot, today: NaiveDate, names: NameChoice) -> School {
        let mut dropped = Dropped::new();
        let bad = split_bad_rows(&snapshot.bad_rows, &mut dropped);

        let students = build_table(
            snapshot.students.iter().map(cleaning::student).collect(),
            |row| row.student_id,
            bad.students,
        );
        let staff = build_table(
            snapshot.staff.iter().map(cleaning::staff).collect(),
            |row| row.staff_id,
            bad.staff,
        );
        let contacts = build_table(
            snapshot.contacts.iter().map(cleaning::contact).collect(),
            |row| row.person_id,
            bad.contacts,
        );
        let collections = build_table(
            snapshot
                .collections
                .iter()
                .map(cleaning::collection)
                .collect(),
            |row| row.collection_id,
            bad.collections,
        );
        let roles = collections::roles(&collections);

        let own_students = own_reasons(&students, |row| rules::student_reasons(row, today, names));
        let own_staff = own_reasons(&staff, |row| rules::staff_reasons(row, today, names));
        let own_contacts = own_reasons(&contacts, rules::contact_reasons);
        let own_collections: Vec<ReasonSet> = collections
            .entries
            .iter()
            .zip(&roles)
            .map(|(entry, role)| match entry.readable() {
                Some(row) => {
                    let mut reasons = ReasonSet::default();
                    reasons.add_if(
                        !is_current(row.start_date, row.end_date, today),
                        Reason::NotCurrent,
                    );
                    reasons.add_if(
                        *role == CollectionRole::UnknownType,
                        Reason::UnknownCollectionType,
                    );
                    reasons
                }
                None => entry.intake_reasons(),
            })
            .collect();

        let memberships = memberships::read(
            &snapshot.associates,
            &snapshot.executives,
            today,
            &collections,
            &roles,
            &students,
            &staff,
            &mut dropped,
        );
        let graph = ClassGraph::build(students.len(), staff.len(), collections.len(), &memberships);
        let classes_pass: Vec<bool> = own_collections
            .iter()
            .zip(&roles)
            .map(|(own, role)| own.is_empty() && matches!(role, CollectionRole::Class(_)))
            .collect();
        let alive = ripple::settle(
            &graph,
            Alive {
                students: passes(&own_students),
                staff: passes(&own_staff),
                classes: classes_pass,
            },
        );

        // Groups never make a student come through, so they are decided after the ripple.
        let mut groups_alive = vec![false; collections.len()];
        for &(group, student) in &memberships.group_students {
            let group = group as usize;
            if alive.students[student as usize] && own_collections[group].is_empty() {
                groups_alive[group] = true;
            }
        }

        let links = contacts::read_links(
            &snapshot.student_contacts,
            &contacts,
            &students,
            &mut dropped,
        );
        let mut links_alive = Vec::with_capacity(links.len());
        let mut contacts_alive = vec![false; contacts.len()];
        for link in &links {
            let student_in = alive.students[link.student as usize];
            let entity = EntityKind::StudentContacts;
            if !student_in {
                *dropped
                    .entry((entity, Reason::StudentNotEligible))
                    .or_default() += 1;
            }
            if link.stored.is_none() {
                *dropped
                    .entry((entity, Reason::NoParentalResponsibility))
                    .or_default() += 1;
            }
            let link_in = student_in && link.stored.is_some();
            links_alive.push(link_in);
            if link_in && own_contacts[link.contact as usize].is_empty() {
                contacts_alive[link.contact as usize] = true;
            }
        }
        let emails = contacts::best_details(&snapshot.emails, &contacts);
        let phones = contacts::best_details(&snapshot.telephones, &contacts);

        School {
            names,
            students,
            staff,
            contacts,
            collections,
            roles,
            memberships,
            graph,
            own_students,
            own_staff,
            own_contacts,
            own_collections,
            alive,
            groups_alive,
            links,
            links_alive,
            contacts_alive,
            emails,
            phones,
            dropped,
        }
    }
}

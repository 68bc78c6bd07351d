//! What each collection ID is for eligibility: a class (or tutor group), a group, a collection
//! of a type we do not use, or one we cannot tell because its rows are unreadable.

use super::intake::Table;
use super::rules::{CollectionType, collection_type};
use crate::roster::{ClassKind, ExcludedEntity, GroupKind};
use crate::snapshot::Collection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CollectionRole {
    Class(ClassKind),
    Group(GroupKind),
    /// Readable, but its type is neither a class nor a group kind (`unknown_collection_type`).
    UnknownType,
    /// Unreadable (bad row or conflicting duplicates) and its rows do not agree on a known
    /// type. It might have been a class, so memberships of it take part in the class ripple as
    /// a class that fell out; it is reported as a `collection`.
    Unreadable,
}

impl CollectionRole {
    pub(super) fn entity(self) -> ExcludedEntity {
        match self {
            CollectionRole::Class(_) => ExcludedEntity::Class,
            CollectionRole::Group(_) => ExcludedEntity::Group,
            CollectionRole::UnknownType | CollectionRole::Unreadable => ExcludedEntity::Collection,
        }
    }

    /// Whether student and staff memberships of it count in the class ripple.
    pub(super) fn in_class_ripple(self) -> bool {
        matches!(self, CollectionRole::Class(_) | CollectionRole::Unreadable)
    }
}

/// One role per table entry, by dense index. An unreadable collection keeps the type its rows
/// agree on (its exclusion is then a `class` or `group`, which is what an operator looks for);
/// no agreement, or no readable row at all, makes it `Unreadable`.
pub(super) fn roles(collections: &Table<Collection>) -> Vec<CollectionRole> {
    collections
        .entries
        .iter()
        .map(|entry| {
            let mut types = entry
                .rows
                .iter()
                .map(|row| collection_type(row.type_name.as_deref()));
            let agreed = types
                .next()
                .filter(|first| types.all(|other| other == *first));
            match (entry.readable().is_some(), agreed) {
                (_, Some(CollectionType::Class(kind))) => CollectionRole::Class(kind),
                (_, Some(CollectionType::Group(kind))) => CollectionRole::Group(kind),
                (true, _) => CollectionRole::UnknownType,
                (false, _) => CollectionRole::Unreadable,
            }
        })
        .collect()
}

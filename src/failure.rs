//! Which failures cannot heal by waiting. A run that fails because Bromcom refused the
//! credentials, because the school has not granted an entity, because Bromcom does not know the
//! school, or because the database schema is not current fails again the same way until a
//! person changes something; retrying it only spends the retry ladder (and Bromcom's patience).
//! This is the one place that decides it: the daemon acts on it, `status` says it, from the
//! error's category (the first word of every recorded run error).

use std::fmt;

use crate::bromcom::ErrorCategory;

/// Why a failure will not heal by waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permanent {
    /// 401: the application id/secret were refused (every school fails alike).
    Credentials,
    /// 403: the school has not granted an entity to the application.
    NotGranted,
    /// 404: Bromcom does not know the school (or the entity).
    UnknownSchool,
    /// The database schema is not the one this binary was built for.
    Schema,
}

impl Permanent {
    /// A Bromcom failure's permanence; `None` for one that may heal by waiting (5xx, throttled,
    /// a timeout...) or that the contract does not promise to repeat.
    pub fn of_category(category: ErrorCategory) -> Option<Permanent> {
        match category {
            ErrorCategory::Credentials => Some(Permanent::Credentials),
            ErrorCategory::NotGranted => Some(Permanent::NotGranted),
            ErrorCategory::UnknownSchool => Some(Permanent::UnknownSchool),
            ErrorCategory::UnexpectedStatus
            | ErrorCategory::BodyTooLarge
            | ErrorCategory::Http5xx
            | ErrorCategory::Throttled
            | ErrorCategory::ServerErrorMessage
            | ErrorCategory::BrokenResponse
            | ErrorCategory::Timeout
            | ErrorCategory::Connection => None,
        }
    }

    /// The permanence of a recorded error's category word (as `status` reads it back).
    pub fn of_recorded(category: &str) -> Option<Permanent> {
        [
            Permanent::Credentials,
            Permanent::NotGranted,
            Permanent::UnknownSchool,
            Permanent::Schema,
        ]
        .into_iter()
        .find(|p| p.as_str() == category)
    }

    /// The word logs and `status` use for it (a Bromcom failure's is its category's).
    pub fn as_str(self) -> &'static str {
        match self {
            Permanent::Credentials => ErrorCategory::Credentials.as_str(),
            Permanent::NotGranted => ErrorCategory::NotGranted.as_str(),
            Permanent::UnknownSchool => ErrorCategory::UnknownSchool.as_str(),
            Permanent::Schema => "schema",
        }
    }

    /// What is wrong and who has to act, for an operator.
    pub fn advice(self) -> &'static str {
        match self {
            Permanent::Credentials => "credentials rejected; fix the configuration",
            Permanent::NotGranted => {
                "an entity is not granted; the school must add it to the application's scope"
            }
            Permanent::UnknownSchool => "Bromcom does not know the school; fix the configuration",
            Permanent::Schema => "the database schema is not current; run `bromsync migrate`",
        }
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_a_person_must_fix_are_permanent() {
        assert_eq!(
            Permanent::of_category(ErrorCategory::Credentials),
            Some(Permanent::Credentials)
        );
        assert_eq!(
            Permanent::of_category(ErrorCategory::NotGranted),
            Some(Permanent::NotGranted)
        );
        assert_eq!(
            Permanent::of_category(ErrorCategory::UnknownSchool),
            Some(Permanent::UnknownSchool)
        );
        for transient in [
            ErrorCategory::Http5xx,
            ErrorCategory::Throttled,
            ErrorCategory::Timeout,
            ErrorCategory::Connection,
            ErrorCategory::ServerErrorMessage,
        ] {
            assert_eq!(Permanent::of_category(transient), None, "{transient}");
        }
    }

    #[test]
    fn a_recorded_category_reads_back_to_the_same_permanence() {
        for p in [
            Permanent::Credentials,
            Permanent::NotGranted,
            Permanent::UnknownSchool,
            Permanent::Schema,
        ] {
            assert_eq!(Permanent::of_recorded(p.as_str()), Some(p));
        }
        assert_eq!(Permanent::of_recorded("http_5xx"), None);
        assert_eq!(Permanent::of_recorded("database"), None);
    }
}

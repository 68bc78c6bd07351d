//! The process's exit codes, shared by every command (and documented in `--help` and README),
//! how the codes of several schools' outcomes combine into one, and the one mapping from an
//! error that ends a command ([`CommandError`]) to its code ([`code_of`]).

use crate::bromcom::ClientBuildError;
use crate::config::ConfigError;
use crate::ops::OpsError;
use crate::store::StoreError;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const BAD_CONFIG: u8 = 2;
pub const REFUSED: u8 = 3;
pub const SKIPPED: u8 = 4;
/// The database's schema is not the one this binary was built for: run `bromsync migrate`.
pub const NOT_MIGRATED: u8 = 5;

/// The code that says more of two: a failure outranks a schema that is not current, which
/// outranks a refused configuration, then a refused run, then a skipped school.
pub fn worse(a: u8, b: u8) -> u8 {
    let rank = |code: u8| match code {
        FAILED => 5,
        NOT_MIGRATED => 4,
        BAD_CONFIG => 3,
        REFUSED => 2,
        SKIPPED => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Why a command stopped before it could finish its work, kept typed up to where it is printed
/// (`bromsync: {error}` on stderr) and turned into an exit code (by [`code_of`]).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no configuration given; pass --config FILE (see config/example.toml)")]
    NoConfig,
    #[error("configuration refused: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot use the database: {0}")]
    Database(StoreError),
    #[error("cannot migrate the database: {0}")]
    Migrate(StoreError),
    #[error("cannot set up the Bromcom client: {0}")]
    Client(#[from] ClientBuildError),
    /// An operator view's (its text is already whole).
    #[error("{0}")]
    Ops(#[from] OpsError),
}

/// The exit code an error that ends a command stands for; every command exits through it.
pub fn code_of(error: &CommandError) -> u8 {
    match error {
        CommandError::NoConfig | CommandError::Config(_) | CommandError::Client(_) => BAD_CONFIG,
        CommandError::Database(e) if e.is_schema_mismatch() => NOT_MIGRATED,
        CommandError::Database(_) | CommandError::Migrate(_) => FAILED,
        CommandError::Ops(OpsError::Refused(_)) => BAD_CONFIG,
        CommandError::Ops(OpsError::Failed(_)) => FAILED,
        CommandError::Ops(OpsError::NotMigrated(_)) => NOT_MIGRATED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worse_code_wins_whatever_the_order() {
        let codes = [OK, SKIPPED, REFUSED, BAD_CONFIG, NOT_MIGRATED, FAILED];
        for (i, a) in codes.iter().enumerate() {
            for (j, b) in codes.iter().enumerate() {
                let expected = codes[i.max(j)];
                assert_eq!(worse(*a, *b), expected, "worse({a}, {b})");
            }
        }
    }

    #[test]
    fn each_error_has_its_code() {
        assert_eq!(code_of(&CommandError::NoConfig), BAD_CONFIG);
        let schema = StoreError::NotMigrated("version 3 of 4".to_owned());
        assert_eq!(code_of(&CommandError::Database(schema)), NOT_MIGRATED);
        let down = StoreError::Timeout("connecting");
        assert_eq!(code_of(&CommandError::Database(down)), FAILED);
        let refused = OpsError::Refused("school 9 is not in the configuration".to_owned());
        assert_eq!(code_of(&CommandError::Ops(refused)), BAD_CONFIG);
        let bad_client = ClientBuildError("no base URL".to_owned());
        assert_eq!(code_of(&CommandError::Client(bad_client)), BAD_CONFIG);
    }
}

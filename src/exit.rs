//! The process's exit codes, shared by every command (and documented in `--help` and README),
//! and how the codes of several schools' outcomes combine into one.

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
}

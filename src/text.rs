//! Text cleaning shared by every reader of Bromcom data: the one place that decides what a
//! string from the source becomes before any rule looks at it.

/// Trims both ends and removes control characters (NUL among them, which Postgres rejects).
/// An empty result is `None`: the contract treats empty text as absent.
pub fn clean(raw: &str) -> Option<String> {
    let cleaned: String = if raw.chars().any(char::is_control) {
        raw.chars().filter(|c| !c.is_control()).collect()
    } else {
        raw.to_owned()
    };
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == cleaned.len() {
        Some(cleaned)
    } else {
        Some(trimmed.to_owned())
    }
}

/// Compares two texts the way eligibility.md does: trimmed, ignoring case.
pub fn same_text(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim()) || a.trim().to_lowercase() == b.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_treats_empty_as_absent() {
        assert_eq!(clean("  Amelia   "), Some("Amelia".to_owned()));
        assert_eq!(clean("   "), None);
        assert_eq!(clean(""), None);
    }

    #[test]
    fn removes_control_characters_including_nul() {
        assert_eq!(clean("Am\0el\u{7}ia\n"), Some("Amelia".to_owned()));
        assert_eq!(clean("\0"), None);
    }

    #[test]
    fn keeps_non_ascii_text() {
        assert_eq!(clean(" Zoë 👩‍🏫 "), Some("Zoë 👩‍🏫".to_owned()));
        assert_eq!(clean("مريم"), Some("مريم".to_owned()));
    }

    #[test]
    fn compares_trimmed_ignoring_case() {
        assert!(same_text("granted ", "Granted"));
        assert!(same_text("TUTORGRP", "tutorgrp"));
        assert!(!same_text("Step-Mother", "Mother"));
    }
}

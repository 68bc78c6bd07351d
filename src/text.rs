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

pub use bromcom_api::same_text;

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
}

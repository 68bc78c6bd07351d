//! Text cleaning shared by every reader of Bromcom data: the one place that decides what a
//! string from the source becomes before any rule looks at it.

/// Trims both ends and removes control characters (NUL among them, which Postgres rejects).
/// An empty result is `None`: the contract treats empty text as absent.
pub fn clean(raw: &str) -> Option<String> {
    let cleaned: String = if has_control(raw) {
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

/// Whether `text` holds a control character (`char::is_control`). Every name of every row is
/// checked, twice: most bytes are plain and are passed over in one sweep that the compiler
/// vectorises; only text with a byte that could start a control character (below 0x20, 0x7F,
/// or 0xC2, the lead byte of U+0080 to U+009F) is decoded.
pub fn has_control(text: &str) -> bool {
    let plain = text.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20 && b != 0x7f && b != 0xc2)
    });
    !plain && text.chars().any(char::is_control)
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
    fn control_characters_are_found_as_char_is_control_finds_them() {
        let mut samples: Vec<String> = (0u32..0x3000)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        samples.extend(["", "Zoë", "\u{85}", "é\u{9f}", "\u{a0}", "👩‍🏫"].map(String::from));
        for text in samples {
            assert_eq!(
                has_control(&text),
                text.chars().any(char::is_control),
                "{text:?}"
            );
        }
    }

    #[test]
    fn keeps_non_ascii_text() {
        assert_eq!(clean(" Zoë 👩‍🏫 "), Some("Zoë 👩‍🏫".to_owned()));
        assert_eq!(clean("مريم"), Some("مريم".to_owned()));
    }
}

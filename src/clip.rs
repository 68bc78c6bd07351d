//! How an error message echoes a value it could not use: clipped, so that a long value (or a
//! secret pasted in the wrong place) never fills a log line. Configuration errors and cron
//! expressions use it; it sits below both so that neither imports the other for it.

/// The longest value an error message echoes, in characters.
const ECHO_CHARS: usize = 80;

/// `value` as an error may echo it: at most [`ECHO_CHARS`] characters, the rest replaced by
/// a note of how many there were.
pub fn clip(value: &str) -> String {
    clip_to(value, ECHO_CHARS)
}

/// `value` cut to `chars` characters, with a note of how many there were.
pub fn clip_to(value: &str, chars: usize) -> String {
    let count = value.chars().count();
    if count <= chars {
        return value.to_owned();
    }
    let kept: String = value.chars().take(chars).collect();
    format!("{kept}... ({count} characters)")
}

/// `message` with every quoted part (between `"` or between backticks) clipped: how serde and
/// the `config` crate echo a value they could not read.
pub fn clip_quoted(message: &str) -> String {
    clip_quoted_by(message, &['"', '`'])
}

/// `message` with every part between two of the same `quotes` clipped.
pub fn clip_quoted_by(message: &str, quotes: &[char]) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(quotes) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let inner = &rest[open + 1..];
        let close = closing_quote(inner, quote);
        match close {
            Some(close) => {
                out.push_str(&clip(&inner[..close]));
                out.push(quote);
                rest = &inner[close + 1..];
            }
            None => {
                out.push_str(&clip(inner));
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index of the quote that closes a quoted part starting at `inner`, skipping escaped ones.
fn closing_quote(inner: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in inner.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_clipped_and_short_ones_kept() {
        let long = "x".repeat(500);
        let clipped = clip(&long);
        assert!(
            clipped.len() < 120 && clipped.contains("(500 characters)"),
            "{clipped}"
        );
        assert_eq!(clip("Europe/Atlantis"), "Europe/Atlantis");
        let message = format!("invalid type: string \"{long}\", expected u32 and `{long}`");
        let clipped = clip_quoted(&message);
        assert!(clipped.len() < 300, "{clipped}");
        assert!(
            clipped.starts_with("invalid type: string \"xxx"),
            "{clipped}"
        );
        assert!(clipped.contains("\", expected u32 and `"), "{clipped}");
        let escaped = format!("string \"a\\\"{long}\" then `short`");
        assert!(clip_quoted(&escaped).ends_with("\" then `short`"));
    }
}

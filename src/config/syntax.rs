//! TOML syntax errors in the configuration file, told without the file's text. The parser's
//! own report quotes the offending line, and that line is often `application_secret = "...`
//! or a database URL with its password: printed at start and logged on every failed reload.
//! This says where (line, column), in which key, and what the parser expected, nothing more.
//! Values echoed in other configuration errors go through [`crate::clip`].

use toml::de::{DeTable, DeValue};

use crate::clip::clip;

/// How far back a syntax error is traced to the statement it is in.
const MAX_LINES_BACK: usize = 2_000;

/// A key name no configuration uses, put where a key would go to learn which table it is in.
const PROBE: &str = "__bromsync_probe_key__";

/// Where a TOML syntax error is, in terms that quote nothing of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The key whose statement holds the error (`bromcom.application_secret`), when it can be
    /// told; or the table it is in (`bromcom`).
    pub key: Option<String>,
    /// What the parser expected ("invalid basic string, expected `\"`"): grammar, not text.
    pub what: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TOML syntax error at line {}, column {}",
            self.line, self.column
        )?;
        if let Some(key) = &self.key {
            write!(f, " (key `{key}`)")?;
        }
        write!(f, ": {}", clip(&self.what))
    }
}

/// Parses `text` as TOML, for its syntax only.
pub fn check(text: &str) -> Result<(), SyntaxError> {
    let error = match DeTable::parse(text) {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    let offset = error
        .span()
        .map_or(text.len(), |span| span.start)
        .min(text.len());
    let offset = floor_char_boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    Err(SyntaxError {
        line: text[..offset].matches('\n').count() + 1,
        column: text[line_start..offset].chars().count() + 1,
        key: key_of_statement(text, line_start),
        what: error.message().to_owned(),
    })
}

/// The key of the statement that holds the line starting at `line_start`: the nearest line at
/// or before it that starts a statement (the text before it parses on its own, so that line
/// cannot be inside a string or an array), read as `key = ...`. Only what parses as a key is
/// returned, so nothing of a value can come out.
fn key_of_statement(text: &str, line_start: usize) -> Option<String> {
    let mut start = line_start;
    for _ in 0..MAX_LINES_BACK {
        let prefix = &text[..start];
        if DeTable::parse(prefix).is_ok() {
            let line = text[start..].lines().next().unwrap_or("");
            let table = table_at(prefix);
            let key = line
                .split_once('=')
                .map(|(key, _)| key.trim())
                .filter(|key| !key.is_empty() && !key.starts_with('['))
                .filter(|key| DeTable::parse(&format!("{prefix}\n{key} = 0\n")).is_ok());
            return match (table, key) {
                (Some(table), Some(key)) => Some(clip(&format!("{table}.{key}"))),
                (None, Some(key)) => Some(clip(key)),
                (table, None) => table.map(|t| clip(&t)),
            };
        }
        if start == 0 {
            return None;
        }
        start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    None
}

/// The table a key written after `prefix` (a document that parses) would land in, as the
/// configuration's errors name it (`schools[1]`); `None` at the top level.
fn table_at(prefix: &str) -> Option<String> {
    let probed = format!("{prefix}\n{PROBE} = 0\n");
    let table = DeTable::parse(&probed).ok()?;
    path_to_probe(table.get_ref())
        .filter(|path| !path.is_empty())
        .map(|path| path.join("."))
}

fn path_to_probe(table: &DeTable<'_>) -> Option<Vec<String>> {
    for (key, value) in table.iter() {
        let key = key.get_ref();
        if key.as_ref() == PROBE {
            return Some(Vec::new());
        }
        match value.get_ref() {
            DeValue::Table(inner) => {
                if let Some(mut path) = path_to_probe(inner) {
                    path.insert(0, key.to_string());
                    return Some(path);
                }
            }
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let DeValue::Table(inner) = item.get_ref()
                        && let Some(mut path) = path_to_probe(inner)
                    {
                        path.insert(0, format!("{key}[{index}]"));
                        return Some(path);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Never-Printed-77x";

    fn error_of(text: &str) -> SyntaxError {
        check(text).expect_err("a syntax error")
    }

    #[test]
    fn an_unterminated_secret_is_located_by_key_and_never_quoted() {
        let text = format!(
            "[database]\nurl = \"postgres://u:pw@h/db\"\n\n[bromcom]\napplication_id = \"app\"\napplication_secret = \"{SECRET}\nbase_url = \"https://x\"\n"
        );
        let error = error_of(&text);
        assert_eq!(error.line, 6, "{error:?}");
        assert_eq!(error.key.as_deref(), Some("bromcom.application_secret"));
        let shown = error.to_string();
        assert!(
            !shown.contains(SECRET) && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(
            shown.starts_with("TOML syntax error at line 6, column "),
            "{shown}"
        );
    }

    #[test]
    fn a_broken_database_url_is_located_by_key_and_its_password_not_quoted() {
        let text = format!("[database]\nurl = postgres://root:{SECRET}@127.0.0.1/db\n");
        let error = error_of(&text);
        assert_eq!(error.line, 2);
        assert_eq!(error.key.as_deref(), Some("database.url"));
        assert!(!error.to_string().contains(SECRET), "{error}");
    }

    #[test]
    fn an_error_inside_a_multi_line_value_names_the_key_it_belongs_to() {
        let text =
            format!("[bromcom]\napplication_secret = \"\"\"\nfirst {SECRET} = line\nsecond line\n");
        let error = error_of(&text);
        assert_eq!(error.key.as_deref(), Some("bromcom.application_secret"));
        assert!(!error.to_string().contains(SECRET), "{error}");
        assert!(!error.to_string().contains("first"), "{error}");
    }

    #[test]
    fn keys_in_arrays_of_tables_and_columns_are_counted() {
        let text = "[[schools]]\nid = 1\n[[schools]]\nid = 2\ntimezone = Europe/London\n";
        let error = error_of(text);
        assert_eq!((error.line, error.column), (5, 12), "{error:?}");
        assert_eq!(error.key.as_deref(), Some("schools[1].timezone"));
        let error = error_of("[bromcom\nx = 1\n");
        assert_eq!(error.line, 1);
        assert_eq!(error.key, None);
        let error = error_of("a = 1\nb = [1,\n");
        assert_eq!(error.key.as_deref(), Some("b"), "{error:?}");
    }

    #[test]
    fn good_toml_passes() {
        assert_eq!(check("[a]\nb = \"c\"\n[[d]]\ne = 1\n"), Ok(()));
    }
}

//! Rows in Postgres's `COPY` text format, written exactly as Postgres itself writes them with
//! `COPY ... TO STDOUT`: so that the new roster can be loaded with one `COPY ... FROM STDIN` a
//! table, and so that a row the database already has can be recognised by comparing bytes.
//!
//! A difference in rendering between this module and Postgres can never make a changed row look
//! unchanged (the format is unambiguous both ways); it could only make an unchanged row look
//! changed, and a test syncs twice and checks that nothing is rewritten.

use std::ops::Range;

use chrono::{Datelike, NaiveDate};

/// One table's rows, one line each (fields separated by tabs, no trailing newline kept).
#[derive(Default)]
pub(super) struct Lines {
    text: Vec<u8>,
    /// Where each line ends in `text` (exclusive; the newline follows).
    ends: Vec<usize>,
}

impl Lines {
    /// Lines as Postgres sent them (`COPY ... TO STDOUT` in text format).
    pub(super) fn from_copy_output(text: Vec<u8>) -> Lines {
        let ends = memchr_newlines(&text);
        Lines { text, ends }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn line(&self, index: usize) -> &[u8] {
        &self.text[self.range(index)]
    }

    fn range(&self, index: usize) -> Range<usize> {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] + 1
        };
        start..self.ends[index]
    }

    /// Every line, each ending in a newline: a `COPY ... FROM STDIN` body.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.line(i))
    }

    /// Starts a new line; fields are added with the returned writer.
    pub(super) fn row(&mut self) -> Row<'_> {
        Row {
            lines: self,
            first: true,
        }
    }
}

fn memchr_newlines(text: &[u8]) -> Vec<usize> {
    text.iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
        .collect()
}

/// Writes one line's fields; the line ends when this is dropped.
pub(super) struct Row<'a> {
    lines: &'a mut Lines,
    first: bool,
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        self.lines.ends.push(self.lines.text.len());
        self.lines.text.push(b'\n');
    }
}

impl Row<'_> {
    fn separate(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.lines.text.push(b'\t');
        }
        self.first = false;
        &mut self.lines.text
    }

    pub(super) fn int(&mut self, value: i64) -> &mut Self {
        let out = self.separate();
        // Most of a line's fields are IDs: itoa, not the formatting machinery (perf: 4% of a
        // resync's CPU went to `Display` here).
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    pub(super) fn bool(&mut self, value: bool) -> &mut Self {
        let out = self.separate();
        out.push(if value { b't' } else { b'f' });
        self
    }

    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        let out = self.separate();
        escape_into(out, value);
        self
    }

    pub(super) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub(super) fn date(&mut self, value: Option<NaiveDate>) -> &mut Self {
        match value {
            Some(d) => {
                let out = self.separate();
                write_iso_date(out, d);
                self
            }
            None => self.null(),
        }
    }

    fn null(&mut self) -> &mut Self {
        let out = self.separate();
        out.extend_from_slice(b"\\N");
        self
    }
}

/// The escapes of Postgres's `CopyAttributeOutText`: backslash, and the control characters
/// that have a letter; other control characters pass as they are.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // Runs between escapes are copied whole: most values have no escape at all.
    let mut run_start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let escaped = match b {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            b'\r' => b'r',
            0x08 => b'b',
            0x0c => b'f',
            0x0b => b'v',
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..at]);
        out.extend_from_slice(&[b'\\', escaped]);
        run_start = at + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// A date as Postgres prints it with `DateStyle = ISO` (sqlx's setting): four-digit years at
/// least, and years before 1 as `YYYY-MM-DD BC`.
fn write_iso_date(out: &mut Vec<u8>, date: NaiveDate) {
    let year = date.year();
    let (shown, era) = if year >= 1 {
        (year, &b""[..])
    } else {
        (1 - year, &b" BC"[..])
    };
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(shown).as_bytes();
    out.extend(std::iter::repeat_n(
        b'0',
        4usize.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(digits);
    for part in [date.month(), date.day()] {
        out.extend_from_slice(&[b'-', b'0' + (part / 10) as u8, b'0' + (part % 10) as u8]);
    }
    out.extend_from_slice(era);
}

/// The fields of one line, still escaped.
pub(super) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b'\t')
}

/// The first `count` fields of a line (the key), still escaped, with their separators.
pub(super) fn key_prefix(line: &[u8], count: usize) -> &[u8] {
    let mut seen = 0;
    for (i, b) in line.iter().enumerate() {
        if *b == b'\t' {
            seen += 1;
            if seen == count {
                return &line[..i];
            }
        }
    }
    line
}

/// A field's text with the escapes undone; `None` for NULL.
pub(super) fn unescape(field: &[u8]) -> Option<String> {
    if field == b"\\N" {
        return None;
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'b') => out.push(0x08),
            Some(b'f') => out.push(0x0c),
            Some(b'v') => out.push(0x0b),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_as_postgres_writes_them() {
        let mut lines = Lines::default();
        lines
            .row()
            .int(-7)
            .text("a\tb\\c\nd\u{1}é")
            .opt_text(None)
            .bool(true)
            .date(NaiveDate::from_ymd_opt(5, 3, 9));
        lines.row().int(2).date(NaiveDate::from_ymd_opt(0, 1, 2));
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines.line(0),
            "-7\ta\\tb\\\\c\\nd\u{1}é\t\\N\tt\t0005-03-09".as_bytes()
        );
        assert_eq!(lines.line(1), b"2\t0001-01-02 BC");
        let first: Vec<_> = fields(lines.line(0)).map(unescape).collect();
        assert_eq!(first[1].as_deref(), Some("a\tb\\c\nd\u{1}é"));
        assert_eq!(first[2], None);
        assert_eq!(key_prefix(b"1\t2\tx", 2), b"1\t2");
        assert_eq!(key_prefix(b"1", 1), b"1");
    }

    #[test]
    fn dates_are_written_as_postgres_writes_them() {
        for (date, text) in [
            ((2026, 11, 30), "2026-11-30"),
            ((999, 1, 1), "0999-01-01"),
            ((12345, 12, 31), "12345-12-31"),
            ((-99, 7, 4), "0100-07-04 BC"),
        ] {
            let mut lines = Lines::default();
            lines
                .row()
                .date(NaiveDate::from_ymd_opt(date.0, date.1, date.2));
            assert_eq!(lines.line(0), text.as_bytes());
        }
    }
}

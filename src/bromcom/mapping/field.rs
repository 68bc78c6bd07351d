//! One column's value as the row readers see it, and what it reads as: the [`Field`] a JSON
//! value is parsed into (strings borrowed from the page when they can be, and none kept past
//! [`RAW_TEXT_MAX_BYTES`]), the [`Skip`] that passes a value over unread, and the value readers
//! (IDs, text, dates, yes/no flags). Part of the decoding engine: it names no column.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::columns::TEXT_TOO_LONG;
use crate::text::clean;

/// A string longer than this many bytes as received is too long for any column (the longest
/// limit, 1000 characters, is at most 4000 bytes of UTF-8, plus room for what cleaning takes
/// out). It is kept only as [`Field::TooLong`], never copied out of the page.
pub(super) const RAW_TEXT_MAX_BYTES: usize = 16 * 1024;

/// One column's value as the readers see it: scalars as they came (text borrowed from the page
/// when it can be), lists and objects only noted, since no column may hold one.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::bromcom) enum Field<'de> {
    Null,
    Bool(bool),
    Integer(i64),
    /// A whole number above `i64::MAX`.
    Huge(u64),
    Float(f64),
    Text(Cow<'de, str>),
    /// A string over [`RAW_TEXT_MAX_BYTES`]: too long for any column, and not kept.
    TooLong,
    Structure,
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Integer(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(i64::try_from(v).map_or(Field::Huge(v), Field::Integer))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
        Ok(Field::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        if v.len() > RAW_TEXT_MAX_BYTES {
            return Ok(Field::TooLong);
        }
        Ok(Field::Text(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Field::Structure)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Field::Structure)
    }
}

/// A value passed over unread. Unlike serde's `IgnoredAny`, lists and objects are walked
/// through the parser's own nesting limit, so a page nested absurdly deep fails as JSON the
/// parser will not read, as it would were the value kept.
pub(in crate::bromcom) struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// What is wrong with one field (the value itself is never kept).
type FieldResult<T> = Result<T, &'static str>;

/// An integer from a JSON number or a numeric string. `Ok(None)` for a blank string.
/// A float is accepted only when it is whole and exactly representable (below 2^53).
pub(super) fn read_integer(value: &Field) -> FieldResult<Option<i64>> {
    const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Field::Integer(i) => Ok(Some(*i)),
        Field::Huge(_) => Err("is out of range for an ID"),
        Field::Float(f) if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_LIMIT => Ok(Some(*f as i64)),
        Field::Float(f) if f.fract() == 0.0 => Err("is out of range for an ID"),
        Field::Float(_) => Err("is not a whole number"),
        Field::Text(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("is not an integer");
            }
            trimmed
                .parse::<i64>()
                .map(Some)
                .map_err(|_| "is out of range for an ID")
        }
        Field::Null => Ok(None),
        Field::Bool(_) | Field::Structure | Field::TooLong => Err("is not an integer"),
    }
}

/// Text from a string (cleaned), or a number or boolean written as JSON writes it (a year
/// group may arrive as `7`). Lists and objects are not text.
pub(super) fn read_text(value: &Field) -> FieldResult<Option<String>> {
    match value {
        Field::Text(s) => Ok(clean(s)),
        Field::Integer(i) => Ok(Some(i.to_string())),
        Field::Huge(u) => Ok(Some(u.to_string())),
        Field::Float(f) => Ok(serde_json::Number::from_f64(*f).map(|n| n.to_string())),
        Field::Bool(b) => Ok(Some(b.to_string())),
        Field::Null => Ok(None),
        Field::TooLong => Err(TEXT_TOO_LONG),
        Field::Structure => Err("is not text"),
    }
}

pub(super) fn read_date(value: &Field) -> FieldResult<Option<NaiveDate>> {
    const NOT_A_DATE: &str = "is not a date (expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)";
    match value {
        Field::Text(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                Ok(None)
            } else {
                parse_date(trimmed).map(Some).ok_or(NOT_A_DATE)
            }
        }
        Field::Null => Ok(None),
        _ => Err(NOT_A_DATE),
    }
}

/// `yyyy-MM-dd`, optionally followed by `THH:mm:ss` and fractional seconds. Hand-written
/// because it runs for every membership row and a format-string parser is much slower.
/// The time part is checked for shape and range but otherwise dropped.
pub(super) fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if b.len() == 10 {
        return Some(date);
    }
    let time = &b[10..];
    if time.len() < 9 || !matches!(time[0], b'T' | b't') || time[3] != b':' || time[6] != b':' {
        return None;
    }
    let (hours, minutes, seconds) = (
        digits(&time[1..3])?,
        digits(&time[4..6])?,
        digits(&time[7..9])?,
    );
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    match &time[9..] {
        [] => Some(date),
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            Some(date)
        }
        _ => None,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Yes for `true`, `1`, or a string Yes/True/Y/1 in any case; everything else is no.
pub(super) fn read_flag(value: &Field) -> bool {
    match value {
        Field::Bool(b) => *b,
        Field::Integer(i) => *i == 1,
        Field::Text(s) => {
            let s = s.trim();
            ["yes", "true", "y", "1"]
                .iter()
                .any(|yes| s.eq_ignore_ascii_case(yes))
        }
        _ => false,
    }
}

//! One page's body read into typed rows: the `{"success": true, "data": [...]}` envelope of
//! `docs/bromcom-api.md`, parsed in one pass, each row of `data` read by
//! [`super::mapping::RowSeed`] as it goes by. Nothing of the page outlives this: no tree of JSON
//! values is built, and the caller can let the body go as soon as the page is read.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::Problem;
use super::mapping::{Field, KeyMemo, RowSeed, Skip};
use crate::snapshot::{EntityKind, Snapshot};

/// The longest server message TRACE logs (after redaction).
const MESSAGE_CLIP_CHARS: usize = 200;

/// One page's rows.
#[derive(Debug)]
pub(super) struct Page {
    /// Rows on the page, read or bad: a page with fewer than the page size is the last.
    pub rows: usize,
    /// The rows read, and the bad rows, of this page alone.
    pub part: Snapshot,
}

/// Reads a page of `entity`; anything but a success envelope with a list of rows is a
/// transient problem. A server's message is kept as its length alone; TRACE logs its text with
/// `secret` cut out of it (in case a server echoes the request).
pub(super) fn read_page(entity: EntityKind, body: &[u8], secret: &str) -> Result<Page, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::BrokenResponse("empty body"));
    }
    // Checked whole, once: the parser then need not check each string it meets.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Problem::BrokenResponse("not JSON"));
    };
    let parsed = parse(entity, text, secret).or_else(|error| {
        // One name with a lone UTF-16 surrogate escape must not fail the whole school every
        // night: such escapes become U+FFFD and the page is read again. Only on failure, so
        // the common path never pays for the scan.
        match repair_lone_surrogates(text) {
            Some(repaired) if error.is_syntax() => parse(entity, &repaired, secret),
            _ => Err(error),
        }
    });
    parsed.map_err(|e| Problem::BrokenResponse(describe_json_error(&e)))?
}

/// What was wrong with a body that would not parse. serde_json names its nesting limit only
/// in its message (the error code is private), so that is what is matched.
fn describe_json_error(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "JSON ends early",
        serde_json::error::Category::Data => "not the success/data envelope",
        _ if error.to_string().starts_with("recursion limit exceeded") => {
            "JSON nested too deeply (over 128 levels)"
        }
        _ => "not JSON",
    }
}

/// The page, or what the server said instead; the outer error is JSON that cannot be parsed.
fn parse(
    entity: EntityKind,
    text: &str,
    secret: &str,
) -> Result<Result<Page, Problem>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let envelope = EnvelopeSeed { entity }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    if envelope.success != Some(Field::Bool(true)) {
        let message_chars = match &envelope.message {
            Some(Field::Text(text)) => {
                trace_message(entity, text, secret);
                Some(text.chars().count())
            }
            _ => None,
        };
        return Ok(Err(Problem::ServerReportedFailure { message_chars }));
    }
    Ok(match envelope.data {
        Some(Data::Rows(page)) => Ok(*page),
        None | Some(Data::Null) => Err(Problem::BrokenResponse("`data` is missing")),
        Some(Data::NotAList) => Err(Problem::BrokenResponse("`data` is not a list")),
    })
}

/// The envelope's three members (`Success`, `Message`, `Data` are accepted too).
struct Envelope<'de> {
    success: Option<Field<'de>>,
    message: Option<Field<'de>>,
    data: Option<Data>,
}

/// What `data` held.
enum Data {
    Rows(Box<Page>),
    Null,
    NotAList,
}

struct EnvelopeSeed {
    entity: EntityKind,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the success/data envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope {
            success: None,
            message: None,
            data: None,
        };
        while let Some(key) = map.next_key::<Member>()? {
            match key {
                Member::Success if envelope.success.is_some() => {
                    return Err(de::Error::duplicate_field("success"));
                }
                Member::Message if envelope.message.is_some() => {
                    return Err(de::Error::duplicate_field("message"));
                }
                Member::Data if envelope.data.is_some() => {
                    return Err(de::Error::duplicate_field("data"));
                }
                Member::Success => envelope.success = Some(map.next_value()?),
                Member::Message => envelope.message = Some(map.next_value()?),
                Member::Data => {
                    let seed = DataSeed {
                        entity: self.entity,
                    };
                    envelope.data = Some(map.next_value_seed(seed)?);
                }
                Member::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// An envelope member's name.
enum Member {
    Success,
    Message,
    Data,
    Other,
}

impl<'de> de::Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl Visitor<'_> for MemberVisitor {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E>(self, name: &str) -> Result<Member, E> {
                Ok(match name {
                    "success" | "Success" => Member::Success,
                    "message" | "Message" => Member::Message,
                    "data" | "Data" => Member::Data,
                    _ => Member::Other,
                })
            }
        }
        deserializer.deserialize_str(MemberVisitor)
    }
}

struct DataSeed {
    entity: EntityKind,
}

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Data, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data, A::Error> {
        let mut part = Snapshot::default();
        let mut rows = 0;
        let mut keys = KeyMemo::default();
        loop {
            let seed = RowSeed {
                entity: self.entity,
                into: &mut part,
                keys: &mut keys,
            };
            if seq.next_element_seed(seed)?.is_none() {
                break;
            }
            rows += 1;
        }
        Ok(Data::Rows(Box::new(Page { rows, part })))
    }

    fn visit_unit<E>(self) -> Result<Data, E> {
        Ok(Data::Null)
    }

    fn visit_none<E>(self) -> Result<Data, E> {
        Ok(Data::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Data::NotAList)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Data, E> {
        Ok(Data::NotAList)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Data, E> {
        Ok(Data::NotAList)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Data, E> {
        Ok(Data::NotAList)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Data, E> {
        Ok(Data::NotAList)
    }

    fn visit_str<E>(self, _: &str) -> Result<Data, E> {
        Ok(Data::NotAList)
    }
}

/// `body` with every `\uXXXX` escape of a lone UTF-16 surrogate (one not part of a high/low
/// pair) replaced by `\ufffd`; `None` when there is none. Escaped backslashes are skipped, so
/// the JSON text `\\ud800` (an escaped backslash, then "ud800") is left alone.
fn repair_lone_surrogates(text: &str) -> Option<String> {
    let body = text.as_bytes();
    fn unit_at(body: &[u8], at: usize) -> Option<u16> {
        if body.get(at) != Some(&b'\\') || body.get(at + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(body.get(at + 2..at + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let is_high = |u: u16| (0xD800..=0xDBFF).contains(&u);
    let is_low = |u: u16| (0xDC00..=0xDFFF).contains(&u);
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit_at(body, i) {
            Some(high) if is_high(high) && unit_at(body, i + 6).is_some_and(is_low) => i += 12,
            Some(unit) if is_high(unit) || is_low(unit) => {
                // `i` and `copied` sit on ASCII (a backslash, the end of an escape).
                let repaired = out.get_or_insert_with(|| String::with_capacity(body.len()));
                repaired.push_str(&text[copied..i]);
                repaired.push_str("\\ufffd");
                i += 6;
                copied = i;
            }
            Some(_) => i += 6,
            // Any other escape (`\\`, `\"`, `\n`...) is two bytes.
            None => i += 2,
        }
    }
    let mut repaired = out?;
    repaired.push_str(&text[copied..]);
    Some(repaired)
}

/// The server's message at TRACE only, redacted and clipped: it may name a pupil, so no other
/// level, no error and no run record carries it.
fn trace_message(entity: EntityKind, message: &str, secret: &str) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let Some(text) = crate::text::clean(message) else {
        return;
    };
    let clipped: String = super::redact::redact(&text, secret)
        .chars()
        .take(MESSAGE_CLIP_CHARS)
        .collect();
    tracing::trace!(entity = entity.api_name(), message = %clipped, "Bromcom's message");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn students(body: &[u8]) -> Result<Page, Problem> {
        read_page(EntityKind::Students, body, "s3cret")
    }

    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        let repaired = repair_lone_surrogates(r#"{"a":"Ann\ud800e","b":"x\uDC01"}"#).unwrap();
        assert_eq!(repaired, r#"{"a":"Ann\ufffde","b":"x\ufffd"}"#);
        let value: serde_json::Value = serde_json::from_str(&repaired).unwrap();
        assert_eq!(value["a"], "Ann\u{fffd}e");
    }

    #[test]
    fn pairs_and_escaped_backslashes_are_left_alone() {
        assert_eq!(repair_lone_surrogates(r#"{"a":"\ud83e\udd84"}"#), None);
        assert_eq!(repair_lone_surrogates(r#"{"a":"\\ud800"}"#), None);
        assert_eq!(repair_lone_surrogates(r#"{"a":"plain \n \u0041"}"#), None);
        // A high surrogate followed by a non-surrogate escape is lone.
        assert_eq!(
            repair_lone_surrogates(r#""\ud800\u0041""#).unwrap(),
            r#""\ufffd\u0041""#
        );
    }

    #[test]
    fn a_page_with_a_lone_surrogate_is_read_with_a_replacement_character() {
        let page = students(
            br#"{"success": true, "data": [{"studentID": 1, "firstName": "Ann\ud800e"}]}"#,
        )
        .unwrap();
        assert_eq!(
            page.part.students[0].first_name.as_deref(),
            Some("Ann\u{fffd}e")
        );
    }

    #[test]
    fn rows_are_read_in_any_member_order_and_counted_read_or_bad() {
        let body = br#"{"Data": [{"studentID": 1, "firstName": "A\"nn"}, 7, {"firstName": "B"},
            {"studentID": "2", "extra": {"deep": [1, {"x": null}]}}],
            "meta": {"page": 0}, "Success": true}"#;
        let page = students(body).unwrap();
        assert_eq!(page.rows, 4);
        let ids: Vec<i64> = page.part.students.iter().map(|s| s.student_id).collect();
        assert_eq!(ids, [1, 2]);
        // An escaped string is read as well as a borrowed one.
        assert_eq!(page.part.students[0].first_name.as_deref(), Some("A\"nn"));
        let bad: Vec<&str> = page
            .part
            .bad_rows
            .iter()
            .map(|b| b.field.as_str())
            .collect();
        assert_eq!(bad, ["(row)", "studentID"]);
    }

    #[test]
    fn envelope_problems_are_transient_and_named() {
        let page = students(br#"{"success":true,"data":[{"a":1}]}"#).unwrap();
        assert_eq!((page.rows, page.part.bad_rows.len()), (1, 1));
        let cases: [(&[u8], Problem); 14] = [
            (b"", Problem::BrokenResponse("empty body")),
            (b"  \n", Problem::BrokenResponse("empty body")),
            (b"<html>oops</html>", Problem::BrokenResponse("not JSON")),
            (
                b"{\"success\":true,\"data\":[{\"firstName\":\"\xff\xfe\"}]}",
                Problem::BrokenResponse("not JSON"),
            ),
            (
                br#"{"success":true,"data":[{"a"#,
                Problem::BrokenResponse("JSON ends early"),
            ),
            (
                br#"{"success":true,"data":[]} trailing"#,
                Problem::BrokenResponse("not JSON"),
            ),
            (
                br#"{"success":true}"#,
                Problem::BrokenResponse("`data` is missing"),
            ),
            (
                br#"{"success":true,"data":{}}"#,
                Problem::BrokenResponse("`data` is not a list"),
            ),
            (
                br#"{"success":true,"data":[],"data":[]}"#,
                Problem::BrokenResponse("not the success/data envelope"),
            ),
            (
                br#"[{"success":true}]"#,
                Problem::BrokenResponse("not the success/data envelope"),
            ),
            (
                br#"{"data":[]}"#,
                Problem::ServerReportedFailure {
                    message_chars: None,
                },
            ),
            (
                format!(
                    r#"{{"success":true,"data":[{{"x":{}1{}}}]}}"#,
                    "[".repeat(500),
                    "]".repeat(500)
                )
                .leak()
                .as_bytes(),
                Problem::BrokenResponse("JSON nested too deeply (over 128 levels)"),
            ),
            (
                format!(r#"{{"success":true,"data":[{}]}}"#, "{\"a\":".repeat(200))
                    .leak()
                    .as_bytes(),
                Problem::BrokenResponse("JSON nested too deeply (over 128 levels)"),
            ),
            (
                br#"{"success":false,"message":" bad s3cret h\u00e9re ","data":[]}"#,
                Problem::ServerReportedFailure {
                    message_chars: Some(17),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                students(body).map(|page| page.rows),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::{Value, json};
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            // Quarters: written and parsed back exactly (serde_json's default float parsing
            // can be one unit off on long mantissas, whichever way a row is read).
            any::<i32>().prop_map(|i| json!(f64::from(i) / 4.0)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("studentID".to_owned()),
                        Just("STUDENTID".to_owned()),
                        Just("personId".to_owned()),
                        Just("firstName".to_owned()),
                        Just("dateOfBirth".to_owned()),
                        "\\PC{0,8}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever a page's rows hold, each is counted and either read or recorded as bad,
        /// and reading the JSON text agrees with reading the same rows as values.
        #[test]
        fn every_row_of_a_page_is_read_or_recorded(
            entity_index in 0usize..9,
            rows in prop::collection::vec(any_json(), 0..12),
        ) {
            let entity = EntityKind::ALL[entity_index];
            let body = serde_json::to_vec(&serde_json::json!({"success": true, "data": rows}))
                .unwrap();
            let page = read_page(entity, &body, "").unwrap();
            prop_assert_eq!(page.rows, rows.len());
            let part = &page.part;
            let read = part.students.len() + part.staff.len() + part.contacts.len()
                + part.student_contacts.len() + part.emails.len() + part.telephones.len()
                + part.collections.len() + part.associates.len() + part.executives.len();
            prop_assert_eq!(read + part.bad_rows.len(), rows.len());
            let mut from_values = Snapshot::default();
            for row in &rows {
                // Each row on its own, with nothing remembered from the rows before it.
                let keys = &mut KeyMemo::default();
                RowSeed { entity, into: &mut from_values, keys }.deserialize(row).unwrap();
            }
            prop_assert_eq!(part, &from_values);
        }
    }
}

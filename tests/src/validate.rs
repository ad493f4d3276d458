//! The stand-in's request validator: a `batchWrite` body checked as strictly
//! as Google documents Cloud Trace v2, parsed into typed, borrowing structs
//! (no tree of `serde_json::Value`s), so the stand-in is not the bottleneck
//! of an upload benchmark.
//!
//! What is checked: field names (an unknown or repeated field fails, as
//! ProtoJSON does), field types (int64 values must be JSON strings, int32
//! values numbers), the span name `projects/P/traces/T/spans/S` against the
//! project and `spanId`, id formats (lowercase hex, not all zero),
//! timestamps (RFC 3339 with `Z` and 0, 3, 6 or 9 fractional digits; end not
//! before start; start within the 14-day window, end at most 3 days ahead),
//! a display name that is empty or blank ("Missing span display name") and
//! an empty attribute key, as Cloud Trace refuses them,
//! every documented limit (display name 128 bytes, keys 128 bytes, string
//! values 256 bytes, 32 attributes per span and link, 4 per annotation, 32
//! annotations, 128 message events, 128 links), enum names, and status
//! codes. JSON `null` counts as absent, as in ProtoJSON.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

type Str<'a> = Cow<'a, str>;

/// What is checked against, for every span of a body.
struct Ctx<'c> {
    prefix: String,
    project: &'c str,
    now: u64,
    poison: &'c HashSet<String>,
}

/// The body `{"spans": [...]}`, each span checked as soon as it is parsed
/// (no vector of parsed spans); the value is the names, borrowed from the
/// body where they have no escapes.
struct BodySeed<'c>(&'c Ctx<'c>);

impl<'de, 'c> DeserializeSeed<'de> for BodySeed<'c> {
    type Value = Vec<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'c> Visitor<'de> for BodySeed<'c> {
    type Value = Vec<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a BatchWriteSpansRequest")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
        let mut names = None;
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            if k != "spans" {
                return Err(serde::de::Error::custom(format!(
                    "Unknown name \"{k}\" at 'BatchWriteSpansRequest'"
                )));
            }
            if names.is_some() {
                return Err(serde::de::Error::duplicate_field("spans"));
            }
            names = Some(m.next_value_seed(SpansSeed(self.0))?);
        }
        Ok(names.unwrap_or_default())
    }
}

struct SpansSeed<'c>(&'c Ctx<'c>);

impl<'de, 'c> DeserializeSeed<'de> for SpansSeed<'c> {
    type Value = Vec<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, 'c> Visitor<'de> for SpansSeed<'c> {
    type Value = Vec<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of spans")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(s) = seq.next_element::<Span<'de>>()? {
            let c = self.0;
            let i = names.len();
            span(&s, &c.prefix, c.project, c.now, c.poison)
                .map_err(|m| serde::de::Error::custom(Rejected(format!("spans[{i}]: {m}"))))?;
            names.push(s.name.expect("checked by span()"));
        }
        Ok(names)
    }
}

/// A span's problem, told apart from a JSON syntax error.
struct Rejected(String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{REJECTED_MARK}{}", self.0)
    }
}

const REJECTED_MARK: &str = "\u{1}rejected:";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Span<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(borrow, default)]
    span_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    parent_span_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    display_name: Option<Truncatable<'a>>,
    #[serde(borrow, default)]
    start_time: Option<Str<'a>>,
    #[serde(borrow, default)]
    end_time: Option<Str<'a>>,
    #[serde(borrow, default)]
    attributes: Option<Attributes<'a>>,
    /// Accepted, not checked (tracespool never sends one).
    #[serde(default)]
    #[allow(dead_code)]
    stack_trace: Option<IgnoredAny>,
    #[serde(borrow, default)]
    time_events: Option<TimeEvents<'a>>,
    #[serde(borrow, default)]
    links: Option<Links<'a>>,
    #[serde(borrow, default)]
    status: Option<Status<'a>>,
    /// Its type is all there is to check.
    #[serde(default)]
    #[allow(dead_code)]
    same_process_as_parent_span: Option<bool>,
    #[serde(default)]
    child_span_count: Option<i32>,
    #[serde(borrow, default)]
    span_kind: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Truncatable<'a> {
    #[serde(borrow, default)]
    value: Option<Str<'a>>,
    #[serde(default)]
    truncated_byte_count: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Attributes<'a> {
    #[serde(borrow, default)]
    attribute_map: Option<AttributeMap<'a>>,
    #[serde(default)]
    dropped_attributes_count: Option<i32>,
}

/// Key → value pairs in order; a repeated key fails.
struct AttributeMap<'a>(Vec<(Str<'a>, AttributeValue<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for AttributeMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = AttributeMap<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attribute values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out: Vec<(Str<'a>, AttributeValue<'a>)> = Vec::new();
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if out.iter().any(|(x, _)| *x == k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate attribute key {k:?}"
                        )));
                    }
                    let v = m.next_value::<AttributeValue<'a>>()?;
                    out.push((k, v));
                }
                Ok(AttributeMap(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AttributeValue<'a> {
    #[serde(borrow, default)]
    string_value: Option<Truncatable<'a>>,
    #[serde(borrow, default)]
    int_value: Option<Str<'a>>,
    #[serde(default)]
    bool_value: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeEvents<'a> {
    #[serde(borrow, default)]
    time_event: Option<Vec<TimeEvent<'a>>>,
    #[serde(default)]
    dropped_annotations_count: Option<i32>,
    #[serde(default)]
    dropped_message_events_count: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeEvent<'a> {
    #[serde(borrow, default)]
    time: Option<Str<'a>>,
    #[serde(borrow, default)]
    annotation: Option<Annotation<'a>>,
    #[serde(borrow, default)]
    message_event: Option<MessageEvent<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Annotation<'a> {
    #[serde(borrow, default)]
    description: Option<Truncatable<'a>>,
    #[serde(borrow, default)]
    attributes: Option<Attributes<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MessageEvent<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    id: Option<Str<'a>>,
    #[serde(borrow, default)]
    uncompressed_size_bytes: Option<Str<'a>>,
    #[serde(borrow, default)]
    compressed_size_bytes: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Links<'a> {
    #[serde(borrow, default)]
    link: Option<Vec<Link<'a>>>,
    #[serde(default)]
    dropped_links_count: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Link<'a> {
    #[serde(borrow, default)]
    trace_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    span_id: Option<Str<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    attributes: Option<Attributes<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Status<'a> {
    #[serde(default)]
    code: Option<i32>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    message: Option<Str<'a>>,
    #[serde(default)]
    #[allow(dead_code)]
    details: Option<IgnoredAny>,
}

/// Lowercase hex of `n` digits, not all zero.
pub fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

fn truncatable(t: &Truncatable<'_>, max: usize, what: &str) -> Result<(), String> {
    let s = t
        .value
        .as_deref()
        .ok_or_else(|| format!("{what}.value is required"))?;
    if s.len() > max {
        return Err(format!("{what} is {} bytes, the limit is {max}", s.len()));
    }
    count(t.truncated_byte_count, "truncatedByteCount")
}

fn int64_string(v: &str, what: &str) -> Result<(), String> {
    v.parse::<i64>()
        .map(|_| ())
        .map_err(|_| format!("{what} {v:?} is not an int64"))
}

fn count(v: Option<i32>, what: &str) -> Result<(), String> {
    match v {
        Some(c) if c < 0 => Err(format!("{what} is negative")),
        _ => Ok(()),
    }
}

fn attributes(a: &Attributes<'_>, max: usize, what: &str) -> Result<(), String> {
    count(a.dropped_attributes_count, "droppedAttributesCount")?;
    let Some(m) = &a.attribute_map else {
        return Ok(());
    };
    if m.0.len() > max {
        return Err(format!(
            "{what} has {} attributes, the limit is {max}",
            m.0.len()
        ));
    }
    for (k, v) in &m.0 {
        if k.is_empty() {
            return Err(format!("{what} has an empty attribute key"));
        }
        if k.len() > 128 {
            return Err(format!("{what} key of {} bytes, the limit is 128", k.len()));
        }
        let set = usize::from(v.string_value.is_some())
            + usize::from(v.int_value.is_some())
            + usize::from(v.bool_value.is_some());
        if set != 1 {
            return Err(format!(
                "{what}[{k}] must set exactly one of stringValue, intValue, boolValue"
            ));
        }
        if let Some(s) = &v.string_value {
            truncatable(s, 256, "stringValue").map_err(|e| format!("{what}[{k}]: {e}"))?;
        }
        if let Some(i) = &v.int_value {
            int64_string(i, "intValue").map_err(|e| format!("{what}[{k}]: {e}"))?;
        }
    }
    Ok(())
}

/// Parses an RFC 3339 timestamp with `Z` and 0, 3, 6 or 9 fractional
/// digits into (seconds since the epoch, nanoseconds).
pub fn timestamp(s: &str, what: &str) -> Result<(i64, u32), String> {
    let bad = || format!("{what} {s:?} is not an RFC 3339 timestamp");
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || !s.ends_with('Z')
    {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let frac = &s[19..s.len() - 1];
    let nanos = match frac.len() {
        0 => 0,
        4 | 7 | 10 if frac.starts_with('.') && frac[1..].bytes().all(|c| c.is_ascii_digit()) => {
            let digits = &frac[1..];
            digits.parse::<u32>().map_err(|_| bad())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Ok((days * 86_400 + h * 3600 + mi * 60 + se, nanos))
}

fn time_events(te: &TimeEvents<'_>) -> Result<(), String> {
    count(te.dropped_annotations_count, "droppedAnnotationsCount")?;
    count(te.dropped_message_events_count, "droppedMessageEventsCount")?;
    let (mut ann, mut msg) = (0, 0);
    for e in te.time_event.as_deref().unwrap_or(&[]) {
        timestamp(
            e.time.as_deref().ok_or("timeEvent.time is required")?,
            "timeEvent.time",
        )?;
        match (&e.annotation, &e.message_event) {
            (Some(a), None) => {
                ann += 1;
                truncatable(
                    a.description
                        .as_ref()
                        .ok_or("annotation.description is required")?,
                    256,
                    "annotation.description",
                )?;
                if let Some(x) = &a.attributes {
                    attributes(x, 4, "annotation.attributes")?;
                }
            }
            (None, Some(m)) => {
                msg += 1;
                if !matches!(
                    m.kind.as_deref(),
                    None | Some("TYPE_UNSPECIFIED" | "SENT" | "RECEIVED")
                ) {
                    return Err("messageEvent.type is invalid".into());
                }
                for (f, v) in [
                    ("id", &m.id),
                    ("uncompressedSizeBytes", &m.uncompressed_size_bytes),
                    ("compressedSizeBytes", &m.compressed_size_bytes),
                ] {
                    if let Some(v) = v {
                        int64_string(v, f)?;
                    }
                }
            }
            _ => return Err("a timeEvent must set exactly one of annotation, messageEvent".into()),
        }
    }
    if ann > 32 || msg > 128 {
        return Err(format!(
            "{ann} annotations / {msg} message events exceed 32 / 128"
        ));
    }
    Ok(())
}

fn links(l: &Links<'_>) -> Result<(), String> {
    count(l.dropped_links_count, "droppedLinksCount")?;
    let links = l.link.as_deref().unwrap_or(&[]);
    if links.len() > 128 {
        return Err(format!("{} links exceed 128", links.len()));
    }
    for k in links {
        if !k.trace_id.as_deref().is_some_and(|t| is_hex(t, 32))
            || !k.span_id.as_deref().is_some_and(|t| is_hex(t, 16))
        {
            return Err("link ids are invalid".into());
        }
        if !matches!(
            k.kind.as_deref(),
            None | Some("TYPE_UNSPECIFIED" | "CHILD_LINKED_SPAN" | "PARENT_LINKED_SPAN")
        ) {
            return Err("link.type is invalid".into());
        }
        if let Some(x) = &k.attributes {
            attributes(x, 32, "link.attributes")?;
        }
    }
    Ok(())
}

/// Checks one span.
fn span(
    s: &Span<'_>,
    prefix: &str,
    project: &str,
    now: u64,
    poison: &HashSet<String>,
) -> Result<(), String> {
    let name = s.name.as_deref().ok_or("name is required")?;
    let rest = name
        .strip_prefix(prefix)
        .ok_or_else(|| format!("name {name:?} is not under projects/{project}"))?;
    // `TRACE/spans/SPAN`: fixed widths, so no search.
    let (trace, span_id) = match rest.as_bytes() {
        r if r.len() == 55 && &r[32..39] == b"/spans/" && rest.is_char_boundary(32) => {
            (&rest[..32], &rest[39..])
        }
        _ => return Err(format!("name {name:?} is malformed")),
    };
    if !is_hex(trace, 32) || !is_hex(span_id, 16) {
        return Err(format!("name {name:?} has an invalid trace or span id"));
    }
    if s.span_id.as_deref() != Some(span_id) {
        return Err("spanId does not match the span name".into());
    }
    if poison.contains(span_id) {
        return Err(format!("span {span_id} rejected (poison)"));
    }
    if let Some(p) = &s.parent_span_id {
        if !is_hex(p, 16) {
            return Err("parentSpanId is not 16 hex digits".into());
        }
    }
    let display_name = s.display_name.as_ref().ok_or("displayName is required")?;
    truncatable(display_name, 128, "displayName")?;
    // Cloud Trace: an empty (ProtoJSON: absent) or blank name is refused.
    if display_name
        .value
        .as_deref()
        .is_none_or(|v| v.trim().is_empty())
    {
        return Err("Missing span display name".into());
    }
    let start = timestamp(
        s.start_time.as_deref().ok_or("startTime is required")?,
        "startTime",
    )?;
    let end = timestamp(
        s.end_time.as_deref().ok_or("endTime is required")?,
        "endTime",
    )?;
    if end < start {
        return Err("endTime is before startTime".into());
    }
    if start.0 < now as i64 - 14 * 86_400 {
        return Err("startTime is more than 14 days in the past".into());
    }
    if end.0 > now as i64 + 3 * 86_400 {
        return Err("endTime is more than 3 days in the future".into());
    }
    if let Some(a) = &s.attributes {
        attributes(a, 32, "attributes")?;
    }
    if let Some(te) = &s.time_events {
        time_events(te)?;
    }
    if let Some(l) = &s.links {
        links(l)?;
    }
    if let Some(st) = &s.status {
        if !st.code.is_none_or(|c| (0..=16).contains(&c)) {
            return Err("status.code is not a google.rpc.Code".into());
        }
    }
    if s.child_span_count.is_some_and(|c| c < 0) {
        return Err("childSpanCount is negative".into());
    }
    if let Some(k) = &s.span_kind {
        if !matches!(
            k.as_ref(),
            "SPAN_KIND_UNSPECIFIED" | "INTERNAL" | "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER"
        ) {
            return Err("spanKind is invalid".into());
        }
    }
    Ok(())
}

/// Validates a `batchWrite` body for `project` as of `now` (seconds since
/// the epoch) and calls `accept` with each span's name, in order, once the
/// whole body is valid. The first problem fails the request, as in Cloud
/// Trace; the message says which span and why. Returns the span count.
pub fn validate_body(
    body: &[u8],
    project: &str,
    now: u64,
    poison: &HashSet<String>,
    mut accept: impl FnMut(&str),
) -> Result<usize, String> {
    let ctx = Ctx {
        prefix: format!("projects/{project}/traces/"),
        project,
        now,
        poison,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let names = BodySeed(&ctx)
        .deserialize(&mut de)
        .and_then(|n| de.end().map(|()| n))
        .map_err(|e| {
            let msg = e.to_string();
            match msg.strip_prefix(REJECTED_MARK) {
                // serde_json appends " at line L column C"; keep the reason.
                Some(m) => m.rsplit_once(" at line ").map_or(m, |(m, _)| m).to_owned(),
                None => format!("Invalid JSON payload received. {msg}"),
            }
        })?;
    for n in &names {
        accept(n);
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn span() -> Value {
        json!({
            "name": "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7",
            "spanId": "00f067aa0ba902b7",
            "displayName": {"value": "x"},
            "startTime": "2026-11-24T10:00:00.123456789Z",
            "endTime": "2026-11-24T10:00:01Z",
            "attributes": {"attributeMap": {
                "/http/method": {"stringValue": {"value": "GET"}},
                "n": {"intValue": "-5"},
                "b": {"boolValue": true}
            }, "droppedAttributesCount": 1},
            "timeEvents": {"timeEvent": [
                {"time": "2026-11-24T10:00:00.500Z", "annotation": {"description": {"value": "a"}}},
                {"time": "2026-11-24T10:00:00.600Z", "messageEvent": {"type": "SENT", "id": "1"}}
            ]},
            "links": {"link": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b8", "type": "PARENT_LINKED_SPAN"}]},
            "status": {"code": 2, "message": "boom"},
            "spanKind": "SERVER",
            "sameProcessAsParentSpan": false
        })
    }

    fn now() -> u64 {
        timestamp("2026-11-24T12:00:00Z", "t").unwrap().0 as u64
    }

    fn check(body: &Value, now: u64, poison: &HashSet<String>) -> Result<usize, String> {
        validate_body(&serde_json::to_vec(body).unwrap(), "p", now, poison, |_| {})
    }

    #[test]
    fn the_validator_accepts_a_good_span_and_rejects_each_violation() {
        let ok = json!({"spans": [span()]});
        let mut names = Vec::new();
        validate_body(
            &serde_json::to_vec(&ok).unwrap(),
            "p",
            now(),
            &HashSet::new(),
            |n| names.push(n.to_owned()),
        )
        .unwrap();
        assert_eq!(
            names,
            ["projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7"]
        );
        let bad: Vec<(&str, Value)> = vec![
            ("/spanId", json!("00f067aa0ba902b8")),
            (
                "/name",
                json!("projects/q/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7"),
            ),
            ("/displayName", json!({"value": "x".repeat(129)})),
            ("/displayName", json!({"value": "x", "extra": 1})),
            ("/startTime", json!("2026-11-24 10:00:00Z")),
            ("/startTime", json!("2026-11-24T10:00:00.12Z")),
            ("/endTime", json!("2026-11-24T09:00:00Z")),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"intValue": 5}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"intValue": "5x"}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"stringValue": {"value": "v".repeat(257)}}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"boolValue": true, "intValue": "1"}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"doubleValue": 1.5}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k".repeat(129): {"boolValue": true}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": (0..33).map(|i| (format!("k{i}"), json!({"boolValue": true}))).collect::<serde_json::Map<_, _>>()}),
            ),
            (
                "/timeEvents",
                json!({"timeEvent": [{"time": "2026-11-24T10:00:00Z"}]}),
            ),
            (
                "/timeEvents",
                json!({"timeEvent": [{"time": "2026-11-24T10:00:00Z", "messageEvent": {"type": "SENT", "id": 1}}]}),
            ),
            (
                "/timeEvents",
                json!({"timeEvent": (0..33).map(|_| json!({"time": "2026-11-24T10:00:00Z", "annotation": {"description": {"value": "a"}}})).collect::<Vec<_>>()}),
            ),
            (
                "/links",
                json!({"link": [{"traceId": "00", "spanId": "00f067aa0ba902b8"}]}),
            ),
            ("/status", json!({"code": 17})),
            ("/links", json!({"droppedLinksCount": -1})),
            ("/spanKind", json!("SERVERISH")),
            ("/unknownField", json!(1)),
            ("/parentSpanId", json!("0000000000000000")),
            ("/sameProcessAsParentSpan", json!("yes")),
        ];
        for (ptr, val) in bad {
            let mut s = span();
            s[&ptr[1..]] = val;
            let body = json!({"spans": [span(), s]});
            let err = check(&body, now(), &HashSet::new()).expect_err(ptr);
            assert!(
                err.contains("spans[1]") || err.starts_with("Invalid JSON"),
                "{ptr}: {err}"
            );
        }
        // A repeated field fails, as in ProtoJSON.
        let dup = br#"{"spans":[],"spans":[]}"#;
        assert!(validate_body(dup, "p", now(), &HashSet::new(), |_| {}).is_err());
        assert!(
            check(&ok, now() + 15 * 86_400, &HashSet::new()).is_err(),
            "too old accepted"
        );
        assert!(
            check(&ok, now() - 4 * 86_400, &HashSet::new()).is_err(),
            "future accepted"
        );
        let poison: HashSet<String> = ["00f067aa0ba902b7".to_string()].into();
        assert!(check(&ok, now(), &poison).is_err());
    }

    #[test]
    fn nothing_is_accepted_from_a_body_with_one_bad_span() {
        let mut bad = span();
        bad["spanKind"] = json!("NOPE");
        let body = serde_json::to_vec(&json!({"spans": [span(), bad]})).unwrap();
        let mut accepted = 0;
        assert!(validate_body(&body, "p", now(), &HashSet::new(), |_| accepted += 1).is_err());
        assert_eq!(accepted, 0);
    }
}

//! `tracespool spans`: rows by filter, newest first, as text or JSON.

use crate::records::RecordReader;
use std::io::Write;

use anyhow::Context as _;
use serde_json::{json, Value};
use tracespool_schema::{AttributeValue, TimeEventKind, TraceId};
use tracespool_spool::{now_ns, RowFilter, SpanRow, SpanState};

use super::common::*;
use crate::timefmt::{rfc3339_nanos, rfc3339_secs};

pub(crate) fn parse_state(s: &str) -> Result<SpanState, String> {
    match s {
        "pending" => Ok(SpanState::Pending),
        "quarantined" => Ok(SpanState::Quarantined),
        _ => Err(format!("expected pending or quarantined, got {s:?}")),
    }
}

/// A time: RFC 3339 (`2026-11-24T10:00:00Z`) or a duration ago (`15m`).
pub(crate) fn parse_since(s: &str) -> Result<u64, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ns().saturating_sub(d.as_nanos() as u64));
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{s:?}: expected RFC 3339 time or a duration like 15m ({e})"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| e.to_string())
        })
}

/// Arguments of `tracespool spans`.
#[derive(clap::Args, Debug)]
pub struct SpansArgs {
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// Only this trace (32 hex digits).
    #[arg(long)]
    trace: Option<TraceId>,
    /// Only names matching this glob (`*` any text, `?` one character).
    #[arg(long)]
    name: Option<String>,
    /// Only this state.
    #[arg(long, value_parser = parse_state)]
    state: Option<SpanState>,
    /// Only spans started since: RFC 3339 time or a duration ago (`15m`).
    #[arg(long, value_parser = parse_since)]
    since: Option<u64>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: u64,
    /// JSON lines with every field.
    #[arg(long)]
    json: bool,
}

pub(crate) fn attr_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::String(s) => json!(s),
        AttributeValue::Int(i) => json!(i),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Float(f) => json!(f),
        AttributeValue::StringArray(v) => json!(v),
        AttributeValue::IntArray(v) => json!(v),
        AttributeValue::BoolArray(v) => json!(v),
        AttributeValue::FloatArray(v) => json!(v),
        other => json!(format!("{other:?}")),
    }
}

pub(crate) fn attrs_json(a: &[tracespool_schema::Attribute]) -> Value {
    Value::Object(
        a.iter()
            .map(|a| (a.key.to_string(), attr_json(&a.value)))
            .collect(),
    )
}

/// Our JSON for a row: every field of the span, or the corruption.
pub(crate) fn row_json(row: &SpanRow, records: &mut RecordReader<'_>) -> Value {
    let mut v = json!({
        "row": row.row_id,
        "state": row.state.as_str(),
        "trace_id": hex(&row.trace_id),
        "span_id": hex(&row.span_id),
        "parent_span_id": row.parent_span_id.as_deref().map(hex),
        "name": row.name,
        "start_time": rfc3339_nanos(row.start_ns.max(0) as u64),
        "end_time": rfc3339_nanos(row.end_ns.max(0) as u64),
        "duration_ns": row.end_ns - row.start_ns,
    });
    if let Some(r) = &row.reason {
        v["quarantine_reason"] = json!(r);
    }
    match records.decode(&row.record) {
        Err(e) => {
            v["corrupt"] = json!(e.to_string());
        }
        Ok(rec) => {
            let s = &rec.span;
            v["record_version"] = json!(rec.version);
            v["parent_is_remote"] = json!(s.parent_is_remote);
            v["kind"] = json!(format!("{:?}", s.kind));
            v["attributes"] = attrs_json(&s.attributes);
            v["events"] = Value::Array(
                s.events
                    .iter()
                    .map(|e| match &e.kind {
                        TimeEventKind::Annotation { description, attributes, dropped_attributes } => json!({
                            "time": rfc3339_nanos(e.time_ns), "annotation": description,
                            "attributes": attrs_json(attributes), "dropped_attributes": dropped_attributes}),
                        TimeEventKind::Message { kind, id, uncompressed_size, compressed_size } => json!({
                            "time": rfc3339_nanos(e.time_ns), "message": format!("{kind:?}"), "id": id,
                            "uncompressed_size": uncompressed_size, "compressed_size": compressed_size}),
                    })
                    .collect(),
            );
            v["links"] = Value::Array(
                s.links
                    .iter()
                    .map(|l| {
                        json!({"trace_id": l.trace_id.to_string(), "span_id": l.span_id.to_string(),
                        "kind": format!("{:?}", l.kind), "attributes": attrs_json(&l.attributes),
                        "trace_flags": l.trace_flags, "trace_state": l.trace_state,
                        "is_remote": l.is_remote, "dropped_attributes": l.dropped_attributes})
                    })
                    .collect(),
            );
            v["status"] =
                json!({"code": format!("{:?}", s.status.code), "message": s.status.message});
            v["dropped"] = json!({"attributes": s.dropped.attributes, "annotations": s.dropped.annotations,
                "message_events": s.dropped.message_events, "links": s.dropped.links});
            v["trace_flags"] = json!(s.trace_flags);
            v["trace_state"] = json!(s.trace_state);
            v["scope"] = json!({"name": s.scope.name, "version": s.scope.version,
                "schema_url": s.scope.schema_url, "attributes": attrs_json(&s.scope.attributes)});
            v["resource"] = attrs_json(&rec.resource.attributes);
            v["resource_schema_url"] = json!(rec.resource.schema_url);
        }
    }
    v
}

/// `tracespool spans`.
pub fn spans(a: SpansArgs) -> anyhow::Result<u8> {
    let r = open_ro(a.spool.path())?;
    let filter = RowFilter {
        trace_id: a.trace.map(|t| t.0),
        name_glob: a.name.clone(),
        state: a.state,
        since_ns: a.since,
        ..RowFilter::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json {
        writeln!(
            out,
            "{:>8}  {:<11}  {:<32}  {:<16}  {:<20}  {:>12}  name",
            "row", "state", "trace_id", "span_id", "start", "duration"
        )?;
    }
    let mut records = RecordReader::new(&r);
    stream_rows(&r, &filter, Some(a.limit), |row| {
        if a.json {
            serde_json::to_writer(&mut out, &row_json(&row, &mut records))
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"))
        } else {
            let corrupt = records.decode(&row.record).err();
            writeln!(
                out,
                "{:>8}  {:<11}  {:<32}  {:<16}  {:<20}  {:>12}  {}{}",
                row.row_id,
                row.state.as_str(),
                hex(&row.trace_id),
                hex(&row.span_id),
                rfc3339_secs(row.start_ns.max(0) as u64),
                duration_text(row.end_ns - row.start_ns),
                row.name,
                corrupt
                    .map(|e| format!("  [CORRUPT: {e}]"))
                    .unwrap_or_default()
            )
        }
        .context("write to stdout")
    })?;
    out.flush().context("write to stdout")?;
    Ok(0)
}

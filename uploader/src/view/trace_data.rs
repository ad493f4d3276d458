//! One trace for the waterfall, one span's details, a trace's download:
//! read by a scan of the spool filtered on the trace id (there is no index
//! on trace ids; 1,000,000 rows take about 80 ms), decoded with the spool's
//! dictionaries.

use serde::Serialize;
use serde_json::Value;
use tracespool_schema::{StatusCode, TimeEventKind, TraceId};
use tracespool_spool::{RowFilter, SpanRow, SpanState, SpoolReader};

use super::search::service_name;
use crate::destination::requests::RequestLines;
use crate::destination::sink::Sink;
use crate::inspect::common::hex;
use crate::inspect::spans::row_json;
use crate::inspect::tree::tree_order;
use crate::records::RecordReader;
use crate::repair::ConvertOptions;

/// One bar of the waterfall.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaterfallSpan {
    pub span_id: String,
    /// The parent's id, when the span has one (in the spool or not).
    pub parent_span_id: Option<String>,
    /// Whether that parent is in the spool.
    pub parent_in_spool: bool,
    pub depth: usize,
    pub name: String,
    pub service: String,
    pub kind: String,
    pub offset_ns: i64,
    pub duration_ns: i64,
    pub error: bool,
    /// `pending` or `quarantined`.
    pub state: &'static str,
    /// Its events' times, from the span's start.
    pub event_offsets_ns: Vec<i64>,
    pub links: usize,
    /// The record could not be decoded (its row is shown with what the
    /// columns say).
    pub corrupt: bool,
}

/// A trace as the waterfall shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceView {
    pub trace_id: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub errors: usize,
    /// Spans in tree order.
    pub spans: Vec<WaterfallSpan>,
}

/// The rows of `trace`, by start.
fn trace_rows(
    r: &SpoolReader,
    trace: &TraceId,
    span: Option<[u8; 8]>,
) -> anyhow::Result<Vec<SpanRow>> {
    let filter = RowFilter {
        trace_id: Some(trace.0),
        span_id: span,
        oldest_first: true,
        ..RowFilter::default()
    };
    let mut rows = Vec::new();
    r.for_each_row(&filter, None, |row| {
        rows.push(row);
        true
    })?;
    rows.sort_by_key(|x| (x.start_ns, x.row_id));
    Ok(rows)
}

/// The trace for the waterfall, or `None` when no span of it is in the
/// spool.
pub fn load_trace(r: &SpoolReader, trace: &TraceId) -> anyhow::Result<Option<TraceView>> {
    let rows = trace_rows(r, trace, None)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let links: Vec<(&[u8], Option<&[u8]>)> = rows
        .iter()
        .map(|x| (&x.span_id[..], x.parent_span_id.as_deref()))
        .collect();
    let order = tree_order(&links);
    let present: std::collections::HashSet<&[u8]> = rows.iter().map(|x| &x.span_id[..]).collect();
    let t0 = rows.iter().map(|x| x.start_ns).min().unwrap_or(0);
    let t1 = rows.iter().map(|x| x.end_ns).max().unwrap_or(t0).max(t0);
    let mut records = RecordReader::new(r);
    let mut spans = Vec::with_capacity(rows.len());
    for (i, depth) in order {
        let row = &rows[i];
        let decoded = records.decode(&row.record);
        let (service, kind, error, events, n_links) = match &decoded {
            Ok(rec) => (
                service_name(&rec.resource),
                format!("{:?}", rec.span.kind),
                rec.span.status.code == StatusCode::Error,
                rec.span
                    .events
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.kind,
                            TimeEventKind::Annotation { .. } | TimeEventKind::Message { .. }
                        )
                    })
                    .map(|e| e.time_ns as i64 - row.start_ns)
                    .collect(),
                rec.span.links.len(),
            ),
            Err(_) => (String::new(), String::new(), false, Vec::new(), 0),
        };
        spans.push(WaterfallSpan {
            span_id: hex(&row.span_id),
            parent_span_id: row.parent_span_id.as_deref().map(hex),
            parent_in_spool: row
                .parent_span_id
                .as_deref()
                .is_some_and(|p| present.contains(p)),
            depth,
            name: row.name.clone(),
            service,
            kind,
            offset_ns: row.start_ns - t0,
            duration_ns: row.end_ns - row.start_ns,
            error,
            state: row.state.as_str(),
            event_offsets_ns: events,
            links: n_links,
            corrupt: decoded.is_err(),
        });
    }
    Ok(Some(TraceView {
        trace_id: trace.to_string(),
        start_ns: t0,
        duration_ns: t1 - t0,
        errors: spans.iter().filter(|s| s.error).count(),
        spans,
    }))
}

/// Every field of one span (as `tracespool spans --json` shows it), with
/// which of its links' traces are in the spool; `None` when it is not.
pub fn load_span(r: &SpoolReader, trace: &TraceId, span: [u8; 8]) -> anyhow::Result<Option<Value>> {
    let rows = trace_rows(r, trace, Some(span))?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut records = RecordReader::new(r);
    let mut v = row_json(row, &mut records);
    if row.state == SpanState::Quarantined {
        v["state_detail"] = Value::String(format!(
            "quarantined: {}",
            row.reason.as_deref().unwrap_or("(no reason recorded)")
        ));
    }
    // Which linked traces can be opened here.
    let mut linked: Vec<[u8; 16]> = Vec::new();
    if let Ok(rec) = records.decode(&row.record) {
        for l in &rec.span.links {
            if l.trace_id.0 != trace.0 && !linked.contains(&l.trace_id.0) {
                linked.push(l.trace_id.0);
            }
        }
    }
    let mut in_spool = Vec::new();
    for t in linked.iter().take(32) {
        let f = RowFilter {
            trace_id: Some(*t),
            ..RowFilter::default()
        };
        let mut found = false;
        r.for_each_row(&f, Some(1), |_| {
            found = true;
            false
        })?;
        if found {
            in_spool.push(Value::String(hex(t)));
        }
    }
    v["linked_traces_in_spool"] = Value::Array(in_spool);
    Ok(Some(v))
}

/// The trace as `export --format NAME` writes it (one request per line).
pub fn export_trace(
    r: &SpoolReader,
    trace: &TraceId,
    sink: Sink,
    project: &str,
) -> anyhow::Result<Vec<u8>> {
    let rows = trace_rows(r, trace, None)?;
    let mut lines = RequestLines::new(sink, project, ConvertOptions::now());
    let mut records = RecordReader::new(r);
    let mut out = Vec::new();
    for row in &rows {
        if let Ok(rec) = records.decode(&row.record) {
            lines.push(&rec.span, &rec.resource, &mut out)?;
        }
    }
    lines.flush(&mut out)?;
    Ok(out)
}

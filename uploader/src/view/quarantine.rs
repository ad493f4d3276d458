//! The quarantine page's data: quarantined spans grouped by reason (read
//! through the spool's index of quarantined rows), newest first, at most
//! [`SPANS_PER_REASON`] listed per reason.

use serde::Serialize;
use tracespool_spool::{RowFilter, SpanState, SpoolReader};

use crate::inspect::common::hex;

/// Spans listed per reason at most (the count is always whole).
pub const SPANS_PER_REASON: usize = 100;
/// Quarantined rows read at most for the lists.
const ROWS_READ: u64 = 20_000;

/// A quarantined span.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarantinedSpan {
    pub row: i64,
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    pub start_ns: i64,
}

/// One reason and its spans.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReasonGroup {
    pub reason: String,
    pub spans: u64,
    pub listed: Vec<QuarantinedSpan>,
}

/// The groups, the most frequent reason first.
pub fn load_quarantine(r: &SpoolReader) -> anyhow::Result<Vec<ReasonGroup>> {
    let mut groups: Vec<ReasonGroup> = r
        .quarantine_reasons()?
        .into_iter()
        .map(|(reason, spans)| ReasonGroup {
            reason,
            spans,
            listed: Vec::new(),
        })
        .collect();
    let f = RowFilter {
        state: Some(SpanState::Quarantined),
        ..RowFilter::default()
    };
    r.for_each_row(&f, Some(ROWS_READ), |row| {
        let reason = row.reason.clone().unwrap_or_default();
        if let Some(g) = groups.iter_mut().find(|g| g.reason == reason) {
            if g.listed.len() < SPANS_PER_REASON {
                g.listed.push(QuarantinedSpan {
                    row: row.row_id,
                    trace_id: hex(&row.trace_id),
                    span_id: hex(&row.span_id),
                    name: row.name,
                    start_ns: row.start_ns,
                });
            }
        }
        true
    })?;
    groups.sort_by_key(|g| std::cmp::Reverse(g.spans));
    Ok(groups)
}

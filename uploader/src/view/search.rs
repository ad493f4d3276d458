//! Finding traces in a spool that has no index on trace ids, in memory
//! that does not grow with the spool.
//!
//! # How
//!
//! Rows are read newest first (by row id, the primary key) and grouped by
//! trace, in the order each trace is first seen (its newest row first).
//! The spans of one trace are committed close together (a recorder
//! commits a span soon after it ends, and a trace's spans end within the
//! trace), so a trace is **settled** once the scan has read
//! [`WINDOW_ROWS`] rows past its newest row: its other spans, if any, were
//! among them. Settled traces are judged against the query in the order
//! they were first seen; the page is full at `limit` matches.
//!
//! A trace belongs to the page that holds its newest row. The next page
//! starts below the newest row of the last trace this page judged
//! (`next_before_row`), and first reads the [`WINDOW_ROWS`] rows above
//! that point: a trace with a row there belonged to an earlier page and is
//! skipped. So no trace is shown twice or cut in two, unless its spans
//! lie more than [`WINDOW_ROWS`] rows apart (a trace longer than the
//! window on a busy spool: then it shows in parts, each with its own
//! counts).
//!
//! Memory holds the traces within one window and the page, never the
//! spool. A query that matches nothing reads at most
//! [`MAX_ROWS_PER_PAGE`] rows per request and returns where it stopped.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use tracespool_schema::StatusCode;
use tracespool_spool::{RowFilter, SpoolReader};

use crate::inspect::common::hex;
use crate::records::RecordReader;
use crate::value_text::value_text;

/// How many rows apart the spans of one trace may be.
pub const WINDOW_ROWS: i64 = 20_000;

/// Rows read for one page at most (then the page says where to go on).
pub const MAX_ROWS_PER_PAGE: u64 = 400_000;

/// What a search asks for. Every condition must hold (for a trace: any of
/// its spans may satisfy the span conditions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `service.name` of a span's resource, exactly.
    pub service: Option<String>,
    /// A substring of a span's name (ASCII case-insensitive).
    pub name: Option<String>,
    /// The trace lasts at least this long.
    pub min_duration_ns: Option<i64>,
    /// The trace starts at or after / before these times.
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    /// The trace has a span with an error status.
    pub errors_only: bool,
    /// A span (or its resource) has this attribute with this value (as
    /// text).
    pub attribute: Option<(String, String)>,
    /// Continue below this row id (the previous page's `next_before_row`).
    pub before_row: Option<i64>,
    /// Traces per page.
    pub limit: usize,
}

/// One row as the search sees it (decoded once).
#[derive(Debug, Clone, Default)]
pub struct SearchRow {
    pub row_id: i64,
    pub trace_id: [u8; 16],
    /// Its parent, when it has one.
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub service: String,
    pub error: bool,
    /// Attributes and resource attributes as `(key, value as text)`, only
    /// when the query filters on one (else empty).
    pub attributes: Vec<(String, String)>,
}

/// One trace of a result page.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's name (the earliest span whose parent is not in the
    /// trace, when the root itself is missing).
    pub root_name: String,
    /// Whether a span without a parent is in the spool.
    pub root_in_spool: bool,
    pub service: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub spans: u64,
    pub errors: u64,
    /// The trace's newest row (a hint for opening it fast).
    pub newest_row: i64,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TracePage {
    pub traces: Vec<TraceSummary>,
    /// Where the next page starts (`before_row`), or `None` at the end of
    /// the spool.
    pub next_before_row: Option<i64>,
    /// Rows read for this page.
    pub rows_read: u64,
}

/// A trace in progress.
#[derive(Default)]
struct Acc {
    spans: u64,
    errors: u64,
    min_start: i64,
    max_end: i64,
    newest_row: i64,
    /// (start, name, service, is a root) of the best root candidate.
    root: Option<(i64, String, String, bool)>,
    services: Vec<String>,
    name_match: bool,
    attribute_match: bool,
}

/// The search state: feed it rows newest first, ask whether to go on.
pub struct Search<'q> {
    q: &'q Query,
    /// Traces of earlier pages (seen above the cursor).
    skip: HashSet<[u8; 16]>,
    open: HashMap<[u8; 16], Acc>,
    /// Open traces in the order first seen.
    queue: VecDeque<[u8; 16]>,
    out: Vec<TraceSummary>,
    rows_read: u64,
    /// The newest row of the last trace judged.
    last_judged: Option<i64>,
    position: Option<i64>,
    /// [`WINDOW_ROWS`] (smaller in tests).
    window: i64,
}

impl<'q> Search<'q> {
    /// A search that skips `skip` (the traces with a row just above the
    /// cursor: they belong to earlier pages).
    pub fn new(q: &'q Query, skip: HashSet<[u8; 16]>) -> Self {
        Search {
            q,
            skip,
            open: HashMap::new(),
            queue: VecDeque::new(),
            out: Vec::new(),
            rows_read: 0,
            last_judged: None,
            position: None,
            window: WINDOW_ROWS,
        }
    }

    fn full(&self) -> bool {
        self.out.len() >= self.q.limit.max(1)
    }

    /// Takes the next row (newest first); `false`: stop reading.
    pub fn push(&mut self, row: SearchRow) -> bool {
        self.rows_read += 1;
        self.position = Some(row.row_id);
        if !self.skip.contains(&row.trace_id) {
            self.add(row);
        }
        // Judge the traces whose window has passed.
        while let Some(id) = self.queue.front().copied() {
            let newest = self.open.get(&id).map_or(i64::MIN, |a| a.newest_row);
            if newest - self.position.unwrap_or(newest) < self.window || self.full() {
                break;
            }
            self.judge_front();
        }
        !self.full() && self.rows_read < MAX_ROWS_PER_PAGE
    }

    fn judge_front(&mut self) {
        if let Some(id) = self.queue.pop_front() {
            if let Some(acc) = self.open.remove(&id) {
                self.last_judged = Some(acc.newest_row);
                self.judge(id, acc);
            }
        }
    }

    fn add(&mut self, row: SearchRow) {
        let q = self.q;
        let acc = self.open.entry(row.trace_id).or_insert_with(|| {
            self.queue.push_back(row.trace_id);
            Acc {
                min_start: i64::MAX,
                max_end: i64::MIN,
                newest_row: row.row_id,
                ..Acc::default()
            }
        });
        acc.spans += 1;
        acc.errors += u64::from(row.error);
        acc.min_start = acc.min_start.min(row.start_ns);
        acc.max_end = acc.max_end.max(row.end_ns);
        if let Some(n) = &q.name {
            acc.name_match |= contains_ignore_ascii_case(&row.name, n);
        }
        if let Some((k, v)) = &q.attribute {
            acc.attribute_match |= row.attributes.iter().any(|(rk, rv)| rk == k && rv == v);
        }
        if !acc.services.contains(&row.service) {
            acc.services.push(row.service.clone());
        }
        let is_root = row.parent.is_none();
        let better = match &acc.root {
            None => true,
            Some((start, _, _, root)) => {
                (is_root && !root) || (is_root == *root && row.start_ns < *start)
            }
        };
        if better {
            acc.root = Some((row.start_ns, row.name, row.service, is_root));
        }
    }

    fn judge(&mut self, id: [u8; 16], acc: Acc) {
        let q = self.q;
        let duration = acc.max_end.saturating_sub(acc.min_start);
        let keep = q.service.as_ref().is_none_or(|s| acc.services.contains(s))
            && (q.name.is_none() || acc.name_match)
            && (q.attribute.is_none() || acc.attribute_match)
            && (!q.errors_only || acc.errors > 0)
            && q.min_duration_ns.is_none_or(|d| duration >= d)
            && q.from_ns.is_none_or(|f| acc.min_start >= f)
            && q.to_ns.is_none_or(|t| acc.min_start < t);
        if !keep {
            return;
        }
        // Without a root in the spool: the earliest span whose parent is
        // missing stands for it.
        let (root_name, service, root_in_spool) = match acc.root {
            Some((_, name, service, is_root)) => (name, service, is_root),
            None => (String::new(), String::new(), false),
        };
        self.out.push(TraceSummary {
            trace_id: hex(&id),
            root_name,
            root_in_spool,
            service,
            start_ns: acc.min_start,
            duration_ns: duration,
            spans: acc.spans,
            errors: acc.errors,
            newest_row: acc.newest_row,
        });
    }

    /// The page. `exhausted`: the scan reached the oldest row.
    pub fn page(mut self, exhausted: bool) -> TracePage {
        if exhausted {
            while !self.queue.is_empty() && !self.full() {
                self.judge_front();
            }
        }
        let next = if exhausted && self.queue.is_empty() {
            None
        } else if self.full() {
            // The traces first seen after the last one judged are read
            // again, whole, by the next page.
            self.last_judged
        } else if let Some(front) = self.queue.front().and_then(|id| self.open.get(id)) {
            // Stopped by the row budget: the next page reads the oldest
            // trace in progress whole.
            Some(front.newest_row + 1)
        } else {
            self.position
        };
        TracePage {
            traces: self.out,
            next_before_row: next,
            rows_read: self.rows_read,
        }
    }
}

/// The traces with a row among the [`WINDOW_ROWS`] rows at and above
/// `before_row` (they belong to earlier pages).
fn traces_above(r: &SpoolReader, before_row: i64) -> anyhow::Result<HashSet<[u8; 16]>> {
    let mut set = HashSet::new();
    r.for_each_trace_id_from(before_row, WINDOW_ROWS as u64, |t| {
        if let Ok(id) = <[u8; 16]>::try_from(t) {
            set.insert(id);
        }
    })?;
    Ok(set)
}

/// Runs `q` on the spool: rows newest first from `q.before_row`, each
/// decoded once (its service, status, and attributes when the query needs
/// them).
pub fn find_traces(r: &SpoolReader, q: &Query) -> anyhow::Result<TracePage> {
    let skip = match q.before_row {
        Some(b) => traces_above(r, b)?,
        None => HashSet::new(),
    };
    let mut search = Search::new(q, skip);
    let mut records = RecordReader::new(r);
    let filter = RowFilter {
        before_row: q.before_row,
        ..RowFilter::default()
    };
    let mut exhausted = true;
    r.for_each_row(&filter, None, |row| {
        let Ok(trace_id) = <[u8; 16]>::try_from(&row.trace_id[..]) else {
            return true;
        };
        let mut sr = SearchRow {
            row_id: row.row_id,
            trace_id,
            parent: row
                .parent_span_id
                .as_deref()
                .and_then(|p| <[u8; 8]>::try_from(p).ok()),
            start_ns: row.start_ns,
            end_ns: row.end_ns,
            ..SearchRow::default()
        };
        if let Ok(rec) = records.decode(&row.record) {
            sr.error = rec.span.status.code == StatusCode::Error;
            sr.service = service_name(&rec.resource);
            if q.attribute.is_some() {
                sr.attributes = rec
                    .span
                    .attributes
                    .iter()
                    .chain(&rec.resource.attributes)
                    .map(|a| (a.key.to_string(), value_text(&a.value).into_owned()))
                    .collect();
            }
        }
        sr.name = row.name;
        let go_on = search.push(sr);
        exhausted = go_on;
        go_on
    })?;
    Ok(search.page(exhausted))
}

/// A resource's `service.name` as text (empty when it has none).
pub fn service_name(resource: &tracespool_schema::Resource) -> String {
    resource
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .map(|a| value_text(&a.value).into_owned())
        .unwrap_or_default()
}

fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn row(id: i64, trace: u8, span: u8, parent: Option<u8>, start: i64, end: i64) -> SearchRow {
        SearchRow {
            row_id: id,
            trace_id: [trace; 16],
            parent: parent.map(|p| [p; 8]),
            name: format!("op-{span}"),
            start_ns: start * S,
            end_ns: end * S,
            service: "svc".into(),
            ..SearchRow::default()
        }
    }

    /// Trace t (1..=n) starts at 100 t seconds: a root and two children,
    /// committed children first; rows numbered in commit order.
    fn spool(n: u8) -> Vec<SearchRow> {
        let mut rows = Vec::new();
        let mut id = 0;
        for t in 1..=n {
            let base = 100 * i64::from(t);
            for (span, parent, s, e) in [
                (2, Some(1), base + 1, base + 2),
                (3, Some(1), base + 2, base + 4),
                (1, None, base, base + 5),
            ] {
                id += 1;
                rows.push(row(id, t, span, parent, s, e));
            }
        }
        rows.reverse();
        rows
    }

    fn run(rows: &[SearchRow], q: &Query) -> TracePage {
        run_with_window(rows, q, WINDOW_ROWS)
    }

    /// A search as `find_traces` runs it, with a window of `window` rows.
    fn run_with_window(rows: &[SearchRow], q: &Query, window: i64) -> TracePage {
        let skip = q
            .before_row
            .map(|b| {
                rows.iter()
                    .filter(|r| r.row_id >= b && r.row_id < b + window)
                    .map(|r| r.trace_id)
                    .collect()
            })
            .unwrap_or_default();
        let mut s = Search::new(q, skip);
        s.window = window;
        let mut it = rows
            .iter()
            .filter(|r| q.before_row.is_none_or(|b| r.row_id < b));
        let mut exhausted = true;
        for r in it.by_ref() {
            if !s.push(r.clone()) {
                exhausted = false;
                break;
            }
        }
        if !exhausted && it.next().is_none() {
            exhausted = true;
        }
        s.page(exhausted)
    }

    #[test]
    fn pages_cover_every_trace_once_newest_first() {
        let rows = spool(7);
        let mut q = Query {
            limit: 3,
            ..Query::default()
        };
        let mut seen = Vec::new();
        loop {
            let p = run(&rows, &q);
            seen.extend(p.traces.iter().map(|t| t.trace_id.clone()));
            for t in &p.traces {
                assert_eq!(t.spans, 3, "{t:?}");
                assert!(t.root_in_spool);
                assert_eq!(t.duration_ns, 5 * S);
            }
            match p.next_before_row {
                Some(b) => q.before_row = Some(b),
                None => break,
            }
        }
        let want: Vec<String> = (1..=7u8).rev().map(|t| hex(&[t; 16])).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_small_window_still_pages_exactly() {
        // Windows of 3 rows: each trace's 3 rows are adjacent.
        let rows = spool(9);
        for limit in [1, 2, 4] {
            let mut q = Query {
                limit,
                ..Query::default()
            };
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let p = run_with_window(&rows, &q, 3);
                pages += 1;
                assert!(p.traces.len() <= limit);
                assert!(p.traces.iter().all(|t| t.spans == 3), "{p:?}");
                seen.extend(p.traces.iter().map(|t| t.trace_id.clone()));
                match p.next_before_row {
                    Some(b) => q.before_row = Some(b),
                    None => break,
                }
                assert!(pages < 50, "no progress");
            }
            let want: Vec<String> = (1..=9u8).rev().map(|t| hex(&[t; 16])).collect();
            assert_eq!(seen, want, "limit {limit}");
        }
    }

    #[test]
    fn filters_apply_to_whole_traces() {
        let mut rows = spool(4);
        // Trace 2's second child fails and carries an attribute.
        for r in rows
            .iter_mut()
            .filter(|r| r.trace_id == [2; 16] && r.name == "op-3")
        {
            r.error = true;
            r.attributes = vec![("user".into(), "ada".into())];
        }
        let q = Query {
            errors_only: true,
            limit: 10,
            ..Query::default()
        };
        let p = run(&rows, &q);
        assert_eq!(p.traces.len(), 1);
        assert_eq!(p.traces[0].trace_id, hex(&[2; 16]));
        assert_eq!(p.traces[0].errors, 1);
        assert_eq!(p.traces[0].root_name, "op-1");
        let q = Query {
            attribute: Some(("user".into(), "ada".into())),
            name: Some("OP-3".into()),
            limit: 10,
            ..Query::default()
        };
        assert_eq!(run(&rows, &q).traces.len(), 1);
        let q = Query {
            min_duration_ns: Some(6 * S),
            limit: 10,
            ..Query::default()
        };
        assert!(run(&rows, &q).traces.is_empty());
        let q = Query {
            service: Some("other".into()),
            limit: 10,
            ..Query::default()
        };
        assert!(run(&rows, &q).traces.is_empty());
        let q = Query {
            from_ns: Some(300 * S),
            limit: 10,
            ..Query::default()
        };
        assert_eq!(run(&rows, &q).traces.len(), 2);
    }

    #[test]
    fn a_trace_without_its_root_is_shown_by_its_earliest_span() {
        let rows: Vec<SearchRow> = spool(1).into_iter().filter(|r| r.name != "op-1").collect();
        let p = run(
            &rows,
            &Query {
                limit: 5,
                ..Query::default()
            },
        );
        assert_eq!(p.traces.len(), 1);
        assert!(!p.traces[0].root_in_spool);
        assert_eq!(p.traces[0].root_name, "op-2");
        assert_eq!(p.traces[0].spans, 2);
    }
}

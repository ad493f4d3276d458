//! Browsing a spool for people: rows by filter (streamed, so an export of
//! a million rows stays small), quarantine reasons, the oldest and newest
//! pending rows. Reads only.

use rusqlite::types::Value;

use crate::error::{Operation, SpoolError, SqlContext, SqliteError};
use crate::reader::SpoolReader;
use crate::tally::to_i64;

/// A row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanState {
    /// Waiting for upload.
    Pending,
    /// Rejected; kept for an operator.
    Quarantined,
}

impl SpanState {
    /// `pending` or `quarantined`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanState::Pending => "pending",
            SpanState::Quarantined => "quarantined",
        }
    }
    fn code(self) -> i64 {
        match self {
            SpanState::Pending => 0,
            SpanState::Quarantined => 1,
        }
    }
}

/// Which rows [`SpoolReader::for_each_row`] visits.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    /// Only this trace (a full scan: there is no index on trace ids).
    pub trace_id: Option<[u8; 16]>,
    /// Only this span id.
    pub span_id: Option<[u8; 8]>,
    /// Only names matching this SQLite `GLOB` pattern (`*`, `?`, `[...]`).
    pub name_glob: Option<String>,
    /// Only this state.
    pub state: Option<SpanState>,
    /// Only spans that started at or after this time (ns since the epoch).
    pub since_ns: Option<u64>,
    /// Only rows with an id below this one (a cursor for paging through
    /// the spool newest first).
    pub before_row: Option<i64>,
    /// Oldest first (default: newest first).
    pub oldest_first: bool,
}

/// One row with its columns and its encoded record.
#[derive(Debug, Clone)]
pub struct SpanRow {
    /// Row id.
    pub row_id: i64,
    /// Trace id column (16 bytes if well formed).
    pub trace_id: Vec<u8>,
    /// Span id column.
    pub span_id: Vec<u8>,
    /// Parent span id column.
    pub parent_span_id: Option<Vec<u8>>,
    /// Name column.
    pub name: String,
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End, ns since the epoch.
    pub end_ns: i64,
    /// State.
    pub state: SpanState,
    /// Quarantine reason.
    pub reason: Option<String>,
    /// The encoded record.
    pub record: Vec<u8>,
}

impl SpoolReader {
    /// SQLite's `quick_check` of the whole file (every page and row, not
    /// the indexes' contents): `Ok` when sound, else a corrupt
    /// [`SpoolError`] with SQLite's first findings. It reads the whole
    /// file: about 0.5 s for 400 MB in the page cache, 10 s from this
    /// machine's disk.
    pub fn quick_check(&self) -> Result<(), SpoolError> {
        let op = Operation::Check;
        let mut stmt = self.conn.prepare("PRAGMA quick_check(3)").op(op)?;
        let found: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .op(op)?
            .collect::<Result<_, _>>()
            .op(op)?;
        if found.len() == 1 && found[0] == "ok" {
            return Ok(());
        }
        Err(SpoolError::Sqlite {
            op,
            source: SqliteError::corrupt(found.join("; ")),
        })
    }

    /// The spool's format version (`PRAGMA user_version`).
    pub fn format_version(&self) -> Result<i32, SpoolError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .op(Operation::Meta)
    }

    /// Quarantined rows per reason, most first (uses the partial index).
    pub fn quarantine_reasons(&self) -> Result<Vec<(String, u64)>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT coalesce(reason, ''), count(*) FROM spans WHERE state = 1 GROUP BY 1 ORDER BY 2 DESC, 1",
            )
            .op(Operation::List)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .op(Operation::List)?;
        rows.collect::<Result<Vec<_>, _>>().op(Operation::List)
    }

    /// Rows matching `filter`, at most `limit`, calling `f` for each (so an
    /// export of a million rows streams). `f` returning `false` stops.
    pub fn for_each_row(
        &self,
        filter: &RowFilter,
        limit: Option<u64>,
        mut f: impl FnMut(SpanRow) -> bool,
    ) -> Result<(), SpoolError> {
        let mut sql = String::from(
            "SELECT id, trace_id, span_id, parent_span_id, name, start_ns, end_ns, state, reason, record \
             FROM spans WHERE 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(t) = filter.trace_id {
            sql.push_str(" AND trace_id = ?");
            args.push(t.to_vec().into());
        }
        if let Some(s) = filter.span_id {
            sql.push_str(" AND span_id = ?");
            args.push(s.to_vec().into());
        }
        if let Some(g) = &filter.name_glob {
            sql.push_str(" AND name GLOB ?");
            args.push(g.clone().into());
        }
        if let Some(st) = filter.state {
            sql.push_str(" AND state = ?");
            args.push(st.code().into());
        }
        if let Some(since) = filter.since_ns {
            sql.push_str(" AND start_ns >= ?");
            args.push(to_i64(since).into());
        }
        if let Some(before) = filter.before_row {
            sql.push_str(" AND id < ?");
            args.push(before.into());
        }
        sql.push_str(if filter.oldest_first {
            " ORDER BY id"
        } else {
            " ORDER BY id DESC"
        });
        if let Some(l) = limit {
            sql.push_str(" LIMIT ?");
            args.push(to_i64(l).into());
        }
        let mut stmt = self.conn.prepare(&sql).op(Operation::List)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .op(Operation::List)?;
        while let Some(r) = rows.next().op(Operation::List)? {
            let row = SpanRow {
                row_id: r.get(0).op(Operation::List)?,
                trace_id: r.get(1).op(Operation::List)?,
                span_id: r.get(2).op(Operation::List)?,
                parent_span_id: r.get(3).op(Operation::List)?,
                name: r.get(4).op(Operation::List)?,
                start_ns: r.get(5).op(Operation::List)?,
                end_ns: r.get(6).op(Operation::List)?,
                state: if r.get::<_, i64>(7).op(Operation::List)? == 1 {
                    SpanState::Quarantined
                } else {
                    SpanState::Pending
                },
                reason: r.get(8).op(Operation::List)?,
                record: r.get(9).op(Operation::List)?,
            };
            if !f(row) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `f` with the trace id of each of the `limit` rows from row
    /// `from` up (ids ascending), reading nothing else.
    pub fn for_each_trace_id_from(
        &self,
        from: i64,
        limit: u64,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT trace_id FROM spans WHERE id >= ? ORDER BY id LIMIT ?")
            .op(Operation::List)?;
        let mut rows = stmt
            .query(rusqlite::params![from, to_i64(limit)])
            .op(Operation::List)?;
        while let Some(r) = rows.next().op(Operation::List)? {
            let id: Vec<u8> = r.get(0).op(Operation::List)?;
            f(&id);
        }
        Ok(())
    }

    /// Calls `f` with every row's start time (ns since the epoch), in row
    /// order: one pass over the table, reading no record.
    pub fn for_each_start(&self, mut f: impl FnMut(i64)) -> Result<(), SpoolError> {
        let mut stmt = self
            .conn
            .prepare("SELECT start_ns FROM spans")
            .op(Operation::List)?;
        let mut rows = stmt.query([]).op(Operation::List)?;
        while let Some(r) = rows.next().op(Operation::List)? {
            f(r.get(0).op(Operation::List)?);
        }
        Ok(())
    }

    /// The oldest and newest pending rows (by id).
    pub fn pending_edges(&self) -> Result<(Option<SpanRow>, Option<SpanRow>), SpoolError> {
        let mut first = None;
        let f = RowFilter {
            state: Some(SpanState::Pending),
            oldest_first: true,
            ..RowFilter::default()
        };
        self.for_each_row(&f, Some(1), |r| {
            first = Some(r);
            false
        })?;
        let mut last = None;
        let f = RowFilter {
            oldest_first: false,
            ..f
        };
        self.for_each_row(&f, Some(1), |r| {
            last = Some(r);
            false
        })?;
        Ok((first, last))
    }
}

//! The exact tallies (invariant 4): `totals` (rows and bytes per state)
//! and named `counters`, changed only here and only inside the write
//! transaction that changes the rows they count.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Operation, SpoolError, SqlContext};
use crate::format::ROW_OVERHEAD_BYTES;

/// A named counter kept in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// Rows appended by recorders.
    Appended,
    /// Rows deleted to make room, oldest first.
    BudgetDroppedOldest,
    /// New spans refused because the spool was full.
    BudgetDroppedNewest,
    /// Rows deleted because they were older than the spool's `max_age`.
    AgeExpired,
    /// Spans a recorder dropped because its queue was full.
    RecorderQueueFull,
    /// Spans a recorder dropped because the spool could not be written (for
    /// any reason; those for lack of room are also in `RecorderNoRoom`).
    RecorderWriteErrors,
    /// Spans a recorder dropped because the file system had no room for
    /// them (beyond the space reserve kept for the uploader): part of
    /// `RecorderWriteErrors`.
    RecorderNoRoom,
    /// Spans delivered (2xx) and deleted by the uploader.
    Uploaded,
    /// Spans moved to quarantine.
    Quarantined,
    /// Spans not sent because they were past Cloud Trace's 14-day window.
    UploadExpired,
    /// Upload requests retried.
    UploadRetries,
    /// Spans resent after an ambiguous failure (timeout, reset, 502/504):
    /// Cloud Trace may hold them twice.
    UploadPossibleDuplicates,
    /// Quarantined spans put back to pending.
    Requeued,
    /// Rows deleted by an operator (`tracespool purge`).
    Purged,
    /// Rows `tracespool recover` could not read from a damaged spool.
    LostToDamage,
    /// Request body bytes the uploader put on the wire (every attempt).
    UploadBytes,
    /// Spans an OTLP server reported rejected in a partial success without
    /// naming them: they were deleted with the batch, whose other spans it
    /// accepted (the spans it names are quarantined instead).
    RejectedByServer,
    /// Spans sent at a time repaired from the spool's clock samples (the
    /// wall clock was wrong when they were recorded, and a later sample of
    /// the same boot told by how much).
    ClockRepaired,
    /// Spans not sent because they were past the 14-day window by a time
    /// known to be wrong (recorded before the clock could be right) that no
    /// later clock sample could repair.
    UploadUndatable,
}

impl Counter {
    /// Every counter, in display order.
    pub const ALL: &'static [Counter] = &[
        Counter::Appended,
        Counter::BudgetDroppedOldest,
        Counter::BudgetDroppedNewest,
        Counter::AgeExpired,
        Counter::RecorderQueueFull,
        Counter::RecorderWriteErrors,
        Counter::RecorderNoRoom,
        Counter::Uploaded,
        Counter::Quarantined,
        Counter::UploadExpired,
        Counter::UploadRetries,
        Counter::UploadPossibleDuplicates,
        Counter::Requeued,
        Counter::Purged,
        Counter::LostToDamage,
        Counter::UploadBytes,
        Counter::RejectedByServer,
        Counter::ClockRepaired,
        Counter::UploadUndatable,
    ];

    /// The counter's name in the `counters` table.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Appended => "appended",
            Counter::BudgetDroppedOldest => "budget_dropped_oldest",
            Counter::BudgetDroppedNewest => "budget_dropped_newest",
            Counter::AgeExpired => "age_expired",
            Counter::RecorderQueueFull => "recorder_queue_full",
            Counter::RecorderWriteErrors => "recorder_write_errors",
            Counter::RecorderNoRoom => "recorder_no_room",
            Counter::Uploaded => "uploaded",
            Counter::Quarantined => "quarantined",
            Counter::UploadExpired => "upload_expired",
            Counter::UploadRetries => "upload_retries",
            Counter::UploadPossibleDuplicates => "upload_possible_duplicates",
            Counter::Requeued => "requeued",
            Counter::Purged => "purged",
            Counter::LostToDamage => "lost_to_damage",
            Counter::UploadBytes => "upload_bytes",
            Counter::RejectedByServer => "rejected_by_server",
            Counter::ClockRepaired => "clock_repaired",
            Counter::UploadUndatable => "upload_undatable",
        }
    }
}

/// Rows and bytes per state, from the `totals` table (no scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Totals {
    /// Pending rows.
    pub pending_rows: u64,
    /// Bytes of pending rows.
    pub pending_bytes: u64,
    /// Quarantined rows.
    pub quarantined_rows: u64,
    /// Bytes of quarantined rows.
    pub quarantined_bytes: u64,
}

impl Totals {
    /// Bytes of all rows, as the budget counts them.
    pub fn bytes(&self) -> u64 {
        self.pending_bytes + self.quarantined_bytes
    }
    /// All rows.
    pub fn rows(&self) -> u64 {
        self.pending_rows + self.quarantined_rows
    }
}

/// A change of the totals: `[pending_rows, pending_bytes,
/// quarantined_rows, quarantined_bytes]`.
pub(crate) type Delta = [i64; 4];

pub(crate) fn plus(a: Delta, b: Delta) -> Delta {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}

pub(crate) fn neg(d: Delta) -> Delta {
    [-d[0], -d[1], -d[2], -d[3]]
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn read_totals(conn: &Connection) -> Result<Totals, SpoolError> {
    conn.query_row(
        "SELECT pending_rows, pending_bytes, quarantined_rows, quarantined_bytes FROM totals WHERE id = 1",
        [],
        |r| {
            Ok(Totals {
                pending_rows: r.get::<_, i64>(0)? as u64,
                pending_bytes: r.get::<_, i64>(1)? as u64,
                quarantined_rows: r.get::<_, i64>(2)? as u64,
                quarantined_bytes: r.get::<_, i64>(3)? as u64,
            })
        },
    )
    .op(Operation::ReadTotals)
}

pub(crate) fn add_totals(conn: &Connection, d: Delta, op: Operation) -> Result<(), SpoolError> {
    if d == [0; 4] {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE totals SET pending_rows = pending_rows + ?1, pending_bytes = pending_bytes + ?2, \
         quarantined_rows = quarantined_rows + ?3, quarantined_bytes = quarantined_bytes + ?4 WHERE id = 1",
    )
    .and_then(|mut s| s.execute(params![d[0], d[1], d[2], d[3]]))
    .op(op)?;
    Ok(())
}

pub(crate) fn add_counter(
    conn: &Connection,
    c: Counter,
    delta: u64,
    op: Operation,
) -> Result<(), SpoolError> {
    if delta == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO counters(name, value) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    )
    .and_then(|mut s| s.execute(params![c.name(), to_i64(delta)]))
    .op(op)?;
    Ok(())
}

/// One counter (0 if it was never counted).
pub(crate) fn read_counter(conn: &Connection, c: Counter) -> Result<u64, SpoolError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT value FROM counters WHERE name = ?1")
        .and_then(|mut s| s.query_row([c.name()], |r| r.get(0)).optional())
        .op(Operation::Counters)?;
    Ok(v.unwrap_or(0).max(0) as u64)
}

/// Deletes rows `WHERE <cond>` and returns their [`Delta`] (positive).
pub(crate) fn delete_counted(
    conn: &Connection,
    cond: &str,
    args: &[&dyn rusqlite::ToSql],
    op: Operation,
) -> Result<Delta, SpoolError> {
    // Count, then delete, in the caller's write transaction. Not
    // `DELETE ... RETURNING`: that runs the delete under a statement journal
    // and costs about twice as much per row (measured on the upload path).
    let count = format!(
        "SELECT state, count(*), sum(length(record) + {ROW_OVERHEAD_BYTES}) \
         FROM spans WHERE {cond} GROUP BY state"
    );
    let mut d = [0i64; 4];
    {
        let mut stmt = conn.prepare_cached(&count).op(op)?;
        let mut rows = stmt.query(args).op(op)?;
        while let Some(r) = rows.next().op(op)? {
            let state: i64 = r.get(0).op(op)?;
            let k = if state == 1 { 2 } else { 0 };
            d[k] += r.get::<_, i64>(1).op(op)?;
            d[k + 1] += r.get::<_, i64>(2).op(op)?;
        }
    }
    if d != [0; 4] {
        let deleted = conn
            .prepare_cached(&format!("DELETE FROM spans WHERE {cond}"))
            .and_then(|mut s| s.execute(args))
            .op(op)?;
        debug_assert_eq!(deleted as i64, d[0] + d[2]);
    }
    Ok(d)
}

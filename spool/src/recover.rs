//! Recovering a damaged spool: every readable row, counter and `meta` key
//! is copied into a fresh spool, the damaged file is kept aside, and what
//! could not be read is reported (and counted as `lost_to_damage`).
//!
//! # How rows are salvaged
//!
//! The bundled SQLite has no recovery extension (`sqlite3_recover` is not
//! part of the amalgamation that `libsqlite3-sys` builds), so rows are
//! salvaged through SQL, which SQLite answers page by page:
//!
//! 1. a scan in id order, until it meets a damaged page;
//! 2. then a lookup of every id after the last one read, up to the largest
//!    id ever given (`sqlite_sequence`): a lookup that crosses a damaged
//!    page fails alone, and the scan resumes after it.
//!
//! A row is copied as it was stored (id, columns, state, reason, record):
//! a record damaged inside a readable page is found by its checksum when it
//! is uploaded, and quarantined then. Totals are recomputed from the rows
//! copied. Ids keep growing after recovery: the new spool's sequence starts
//! where the old one ended (invariant 3), and the delivered mark is kept
//! (invariant 5), so nothing delivered is sent again.
//!
//! # Layout on disk
//!
//! `SPOOL` is first written as `SPOOL.recovering`; then `SPOOL` (with its
//! `-wal` and `-shm`) is renamed to `SPOOL.damaged-<unix seconds>` and the
//! new file takes its name. Recorders notice the new file at their next
//! batch (they watch the path's inode); run it with the uploader stopped
//! (it takes the uploader lock).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::connection::open_rw;
use crate::error::{LockError, OpenError, Operation, SpoolError, SqlContext};
use crate::files::with_suffix;
use crate::format::row_bytes;
use crate::format::{has_clock_column, Create};
use crate::lock::UploaderLock;
use crate::options::SpoolOptions;
use crate::tally::{add_counter, add_totals, Counter};

/// What a recovery kept and lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The damaged file, now kept aside.
    pub damaged_kept_as: PathBuf,
    /// Pending rows copied.
    pub pending_rows: u64,
    /// Quarantined rows copied.
    pub quarantined_rows: u64,
    /// Rows the damaged file's totals counted that could not be read
    /// (`None` when the totals themselves were unreadable).
    pub rows_lost: Option<u64>,
    /// Ids (of rows that may or may not have existed) whose lookup failed.
    pub unreadable_ids: u64,
    /// Counters copied, of those a spool keeps.
    pub counters_copied: usize,
    /// Whether the counters table could not be read (all were reset).
    pub counters_lost: bool,
    /// `meta` keys copied (the delivered mark among them).
    pub meta_copied: usize,
}

/// Why recovery did not run or did not finish. The damaged file is left
/// where it was unless the report says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// An uploader is working on the spool.
    #[error("{0}: an uploader is working on this spool; stop it first")]
    Locked(PathBuf),
    /// The uploader lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The damaged file cannot be read at all (not even its header).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Writing the new spool failed.
    #[error(transparent)]
    Write(#[from] SpoolError),
    /// Renaming the files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

type Row = (
    i64,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Vec<u8>,
);

const COLUMNS: &str = "id, trace_id, span_id, parent_span_id, name, start_ns, end_ns, state, \
                       reason, quarantined_at_ns, record";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Row, Option<i64>)> {
    Ok((read_columns(r)?, r.get(11)?))
}

fn read_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RecoverError + '_ {
    move |source| RecoverError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Copies what is readable of the spool at `path` into a fresh spool that
/// takes its place; see the module docs.
pub fn recover(path: &Path, opts: &SpoolOptions) -> Result<RecoveryReport, RecoverError> {
    crate::connection::check_spool_path(path)?;
    let _lock =
        UploaderLock::try_acquire(path)?.ok_or_else(|| RecoverError::Locked(path.to_owned()))?;
    let old = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| crate::format::header_error(path, e))?;

    let fresh_path = with_suffix(path, ".recovering");
    for leftover in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&fresh_path, leftover));
    }
    let mut fresh = open_rw(&fresh_path, opts, Create::Yes)?;
    let mut report = RecoveryReport::default();
    // The largest id ever given, if the damaged file still says.
    let sequence: Option<i64> = old
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'spans'",
            [],
            |r| r.get(0),
        )
        .ok();
    copy_rows(&old, &mut fresh, sequence, &mut report)?;
    copy_tallies(&old, &mut fresh, sequence, &mut report)?;
    drop(fresh);
    drop(old);

    let stamp = crate::clock::now_ns() / 1_000_000_000;
    let aside = with_suffix(path, &format!(".damaged-{stamp}"));
    for part in ["-wal", "-shm", ""] {
        let from = with_suffix(path, part);
        if from.exists() || part.is_empty() {
            std::fs::rename(&from, with_suffix(&aside, part)).map_err(io(&from))?;
        }
    }
    std::fs::rename(&fresh_path, path).map_err(io(&fresh_path))?;
    for part in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&fresh_path, part));
    }
    report.damaged_kept_as = aside;
    Ok(report)
}

/// Copies rows: a scan until the first error, then lookups id by id.
fn copy_rows(
    old: &Connection,
    fresh: &mut Connection,
    sequence: Option<i64>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    let op = Operation::Append;
    let tx = fresh
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .op(op)?;
    let mut delta = [0i64; 4];
    {
        let mut ins = tx
            .prepare(&format!(
                "INSERT INTO spans({COLUMNS}, clock) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .op(op)?;
        let mut put = |(row, clock): (Row, Option<i64>)| -> Result<(), SpoolError> {
            let bytes = row_bytes(row.10.len()) as i64;
            let k = if row.7 == 1 { 2 } else { 0 };
            delta[k] += 1;
            delta[k + 1] += bytes;
            ins.execute(params![
                row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10, clock
            ])
            .op(op)?;
            Ok(())
        };
        // The damaged file's clock samples column, if it has the extension.
        let clock = if has_clock_column(old) {
            "clock"
        } else {
            "NULL"
        };
        let mut last = 0i64;
        let scan_ok = (|| -> rusqlite::Result<()> {
            let mut stmt =
                old.prepare(&format!("SELECT {COLUMNS}, {clock} FROM spans ORDER BY id"))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let row = read_row(r)?;
                last = row.0 .0;
                put(row).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            }
            Ok(())
        })();
        if scan_ok.is_err() {
            // Lookups after the last row read, up to the largest id given.
            let max_id = sequence.unwrap_or(last);
            let mut stmt = old
                .prepare(&format!(
                    "SELECT {COLUMNS}, {clock} FROM spans WHERE id = ?1"
                ))
                .ok();
            let mut id = last + 1;
            while id <= max_id {
                let got = stmt
                    .as_mut()
                    .map(|s| s.query_row([id], read_row).optional());
                match got {
                    Some(Ok(Some(row))) => put(row)?,
                    Some(Ok(None)) => {}
                    _ => report.unreadable_ids += 1,
                }
                id += 1;
            }
        }
    }
    add_totals(&tx, delta, op)?;
    tx.commit().op(op)?;
    report.pending_rows = delta[0] as u64;
    report.quarantined_rows = delta[2] as u64;
    // How many rows the damaged file counted (if its totals are readable).
    let expected: Option<i64> = old
        .query_row(
            "SELECT pending_rows + quarantined_rows FROM totals WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .ok();
    report.rows_lost = expected.map(|e| (e - (delta[0] + delta[2])).max(0) as u64);
    Ok(())
}

/// Copies counters and meta, keeps ids growing, counts what was lost.
fn copy_tallies(
    old: &Connection,
    fresh: &mut Connection,
    sequence: Option<i64>,
    report: &mut RecoveryReport,
) -> Result<(), RecoverError> {
    let op = Operation::Counters;
    let tx = fresh
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .op(op)?;
    for &c in Counter::ALL {
        match old
            .query_row(
                "SELECT value FROM counters WHERE name = ?1",
                [c.name()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
        {
            Ok(Some(v)) => {
                add_counter(&tx, c, v.max(0) as u64, op)?;
                report.counters_copied += 1;
            }
            Ok(None) => {}
            Err(_) => report.counters_lost = true,
        }
    }
    // Exact when the damaged file's totals were readable; else the ids
    // whose lookup failed (an upper bound: some may never have existed).
    let lost = report.rows_lost.unwrap_or(report.unreadable_ids);
    add_counter(&tx, Counter::LostToDamage, lost, op)?;
    let pairs: Vec<(String, String)> = old
        .prepare("SELECT key, value FROM meta")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default();
    for (k, v) in &pairs {
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
            params![k, v],
        )
        .op(Operation::Meta)?;
    }
    report.meta_copied = pairs.len();
    // Clock samples keep their ids, which the rows refer to (best effort,
    // like meta: a row whose sample is lost keeps its recorded times).
    let samples: Vec<(i64, Vec<u8>, i64, i64, i64)> = old
        .prepare("SELECT id, boot_id, boottime_ns, wall_ns, source FROM clock_samples")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default();
    for (id, boot, boottime, wall, source) in &samples {
        tx.execute(
            "INSERT OR REPLACE INTO clock_samples(id, boot_id, boottime_ns, wall_ns, source) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, boot, boottime, wall, source],
        )
        .op(Operation::Clock)?;
    }
    // Record dictionaries keep their ids, which compressed records name
    // (best effort too: a record whose dictionary is lost stays in the
    // spool, unreadable, and is quarantined with that reason).
    let dictionaries: Vec<(i64, Vec<u8>)> = old
        .prepare("SELECT id, dict FROM dictionaries ORDER BY seq")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default();
    for (id, dict) in &dictionaries {
        tx.execute(
            "INSERT OR IGNORE INTO dictionaries(id, dict) VALUES (?1, ?2)",
            params![id, dict],
        )
        .op(Operation::Dictionary)?;
    }
    // Ids keep growing: the sequence continues from the old one's.
    if let Some(seq) = sequence {
        tx.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'spans'",
            [seq],
        )
        .op(op)?;
        tx.execute(
            "INSERT INTO sqlite_sequence(name, seq) SELECT 'spans', ?1 \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'spans')",
            [seq],
        )
        .op(op)?;
    }
    tx.commit().op(op)?;
    Ok(())
}

//! The reading (consuming) half: leases pending spans oldest first,
//! acknowledges (deletes) delivered ones, quarantines bad ones one by one,
//! requeues and purges, and reads the tallies. Used by the one uploader that
//! holds the [`crate::UploaderLock`], by operators' commands, and (opened
//! read-only, see [`SpoolReader::open_read_only`]) by `inspect`.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::clock::now_ns;
use crate::clock::{ClockSample, SampleSource};
use crate::connection::{has_wal, open_read_only, open_rw, write_tx};
use crate::error::{OpenError, Operation, SpoolError, SqlContext};
use crate::format::ROW_OVERHEAD_BYTES;
use crate::format::{has_clock_column, has_dictionaries, insert_clock_sample, Create};
use crate::options::SpoolOptions;
use crate::reserve::{ensure_reserve, release_reserve, reserve_bytes};
use crate::tally::{
    add_counter, add_totals, delete_counted, neg, plus, read_counter, read_totals, to_i64, Counter,
    Totals,
};

/// A pending span handed out by [`SpoolReader::lease`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeasedSpan {
    /// The row id (`spans.id`).
    pub row_id: i64,
    /// The encoded record.
    pub record: Vec<u8>,
    /// The clock sample its batch was written with (see
    /// [`SpoolReader::clock_samples`]); `None` for rows written by builds
    /// without samples, or on systems without a boot id.
    pub clock_sample: Option<i64>,
}

/// A quarantined row, as listed by [`SpoolReader::quarantined`].
#[derive(Debug, Clone)]
pub struct QuarantinedRow {
    /// The row id.
    pub row_id: i64,
    /// Why.
    pub reason: String,
    /// When, ns since the Unix epoch.
    pub at_ns: u64,
}

/// The `meta` key of the delivered mark (see invariant 5).
pub(crate) const DELIVERED_THROUGH: &str = "delivered_through";

/// The reading (consuming) half: leases pending spans oldest first,
/// acknowledges (deletes) delivered ones, quarantines bad ones one by one,
/// requeues, and reads counts. Used by the one uploader that holds the
/// [`UploaderLock`](crate::UploaderLock), and by `inspect`.
pub struct SpoolReader {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// Opened `immutable` (read-only media): the `-wal` is not read.
    immutable: bool,
    /// The reserve it may spend when the disk is full (0: none).
    reserve_bytes: u64,
    /// Whether the spool has the clock extension (a read-only opening of
    /// a spool no newer build opened read-write has not).
    has_clock: bool,
}

impl std::fmt::Debug for SpoolReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolReader")
            .field("path", &self.path)
            .finish()
    }
}

impl SpoolReader {
    /// Opens an existing spool for consuming (read and delete). Fails with
    /// an `Io` error if it does not exist, and with `NotASpool` if the file
    /// is something else.
    pub fn open(path: &Path, opts: &SpoolOptions) -> Result<Self, OpenError> {
        let reserve_bytes = reserve_bytes(opts.reserve, path);
        let conn = match open_rw(path, opts, Create::No) {
            // No room for the `-shm` or the first WAL frames: spend the
            // reserve (see the `reserve` module) and try once more.
            Err(e) if reserve_bytes > 0 && e.is_lack_of_room() && release_reserve(path) => {
                open_rw(path, opts, Create::No)?
            }
            other => other?,
        };
        Ok(SpoolReader {
            has_clock: has_clock_column(&conn),
            conn,
            path: path.to_owned(),
            immutable: false,
            reserve_bytes,
        })
    }

    /// Opens an existing spool read-only (for `inspect`): never writes,
    /// never takes the write lock, never creates anything. Works with any
    /// SQLite version (see [`crate::MIN_SQLITE_VERSION`]).
    pub fn open_read_only(path: &Path) -> Result<Self, OpenError> {
        let (conn, immutable) = open_read_only(path)?;
        Ok(SpoolReader {
            has_clock: has_clock_column(&conn),
            conn,
            path: path.to_owned(),
            immutable,
            reserve_bytes: 0,
        })
    }

    /// Whether this read-only opening could not use SQLite's shared memory
    /// (a read-only file system, a copy without its `-shm`) and reads the
    /// file as it is, and a non-empty `-wal` beside it holds commits that
    /// are therefore not shown.
    pub fn wal_not_read(&self) -> bool {
        self.immutable && has_wal(&self.path)
    }

    /// Whether this opening reads the file as it is, without SQLite's
    /// shared memory or locks (read-only media).
    pub fn is_immutable(&self) -> bool {
        self.immutable
    }

    /// Runs a write; if it fails because the disk is full and the reserve
    /// is still there, releases the reserve and runs it once more.
    fn when_full_release_reserve<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, SpoolError>,
    ) -> Result<T, SpoolError> {
        // First the WAL's own blocks: a RESTART checkpoint folds the WAL
        // into the spool, so the next commit reuses the WAL file from its
        // start instead of growing it (a recorder writing into freed pages
        // may have grown it to its end); then the reserve.
        match f(self) {
            Err(e) if e.is_disk_full() && self.restart_wal() => match f(self) {
                Err(e) if e.is_disk_full() && self.spend_reserve() => f(self),
                other => other,
            },
            Err(e) if e.is_disk_full() && self.spend_reserve() => f(self),
            other => other,
        }
    }

    /// Checkpoints the whole WAL so that the next commit starts it over
    /// (waiting up to the busy timeout for other connections); returns
    /// whether it did.
    fn restart_wal(&self) -> bool {
        self.conn
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))
            .is_ok_and(|busy| busy == 0)
    }

    /// Deletes the reserve file, if there is one to spend.
    fn spend_reserve(&self) -> bool {
        self.reserve_bytes > 0 && release_reserve(&self.path)
    }

    /// Re-creates the space reserve if the file system has room for it
    /// twice over (after an uploader's run freed space). Returns whether a
    /// full reserve is in place.
    pub fn restore_reserve(&self) -> bool {
        ensure_reserve(&self.path, self.reserve_bytes)
    }

    /// The spool's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Row and byte tallies.
    pub fn totals(&self) -> Result<Totals, SpoolError> {
        read_totals(&self.conn)
    }

    /// Every counter (missing ones are 0), in [`Counter::ALL`] order.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>, SpoolError> {
        Counter::ALL
            .iter()
            .map(|c| Ok((*c, read_counter(&self.conn, *c)?)))
            .collect()
    }

    /// One counter (0 if it was never counted).
    pub fn counter(&self, c: Counter) -> Result<u64, SpoolError> {
        read_counter(&self.conn, c)
    }

    /// Adds to counters (e.g. the uploader's retries).
    pub fn add_counters(&mut self, deltas: &[(Counter, u64)]) -> Result<(), SpoolError> {
        self.when_full_release_reserve(|r| r.add_counters_once(deltas))
    }

    fn add_counters_once(&mut self, deltas: &[(Counter, u64)]) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Counters)?;
        for (c, d) in deltas {
            add_counter(&tx, *c, *d, Operation::Counters)?;
        }
        tx.commit().op(Operation::Counters)
    }

    /// Sets `meta` keys (the uploader's last attempt, success and error).
    pub fn set_meta(&mut self, pairs: &[(&str, &str)]) -> Result<(), SpoolError> {
        self.when_full_release_reserve(|r| r.set_meta_once(pairs))
    }

    fn set_meta_once(&mut self, pairs: &[(&str, &str)]) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Meta)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
                .op(Operation::Meta)?;
            for (k, v) in pairs {
                stmt.execute(params![k, v]).op(Operation::Meta)?;
            }
        }
        tx.commit().op(Operation::Meta)
    }

    /// Records that Cloud Trace accepted every pending row with
    /// `id <= last` (see invariant 5); [`SpoolReader::ack`] on another
    /// connection deletes them, or [`SpoolReader::ack_delivered`] after a
    /// crash. The mark never moves back.
    pub fn mark_delivered(&mut self, last: i64) -> Result<(), SpoolError> {
        self.when_full_release_reserve(|r| r.mark_delivered_once(last))
    }

    fn mark_delivered_once(&mut self, last: i64) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::MarkDelivered)?;
        tx.prepare_cached(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE \
             SET value = excluded.value WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
        )
        .and_then(|mut s| s.execute(params![DELIVERED_THROUGH, last.to_string()]))
        .op(Operation::MarkDelivered)?;
        tx.commit().op(Operation::MarkDelivered)
    }

    /// Deletes the pending rows at or below the delivered mark, counted as
    /// `uploaded`: what a killed uploader had delivered but not yet deleted.
    /// Returns how many rows were deleted.
    pub fn ack_delivered(&mut self) -> Result<u64, SpoolError> {
        match self
            .meta(DELIVERED_THROUGH)?
            .and_then(|v| v.parse::<i64>().ok())
        {
            Some(last) => self.ack(i64::MIN, last),
            None => Ok(0),
        }
    }

    /// Leaves checkpoints to the other connections on the file: commits on
    /// this one never copy the WAL back into the database. The uploader's
    /// sending connection uses it, so only its deleting connection (and
    /// the recorders) pay for checkpoints, off the request path.
    pub fn no_auto_checkpoint(&self) -> Result<(), SpoolError> {
        // wal_autocheckpoint=0: no automatic checkpoint after this
        // connection's commits (another connection's still run).
        let _: i64 = self
            .conn
            .query_row("PRAGMA wal_autocheckpoint=0", [], |r| r.get(0))
            .op(Operation::Configure)?;
        Ok(())
    }

    /// The clock samples with ids after `after`, oldest first, with their
    /// ids (none in a spool without the clock extension).
    pub fn clock_samples(&self, after: i64) -> Result<Vec<(i64, ClockSample)>, SpoolError> {
        if !self.has_clock {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, boot_id, boottime_ns, wall_ns, source FROM clock_samples \
                 WHERE id > ?1 ORDER BY id",
            )
            .op(Operation::Clock)?;
        let rows = stmt
            .query_map([after], |r| {
                let boot: Vec<u8> = r.get(1)?;
                let mut boot_id = [0u8; 16];
                if boot.len() == 16 {
                    boot_id.copy_from_slice(&boot);
                }
                Ok((
                    r.get::<_, i64>(0)?,
                    ClockSample::new(
                        boot_id,
                        r.get(2)?,
                        r.get(3)?,
                        SampleSource::from_code(r.get(4)?),
                    ),
                ))
            })
            .op(Operation::Clock)?;
        rows.collect::<Result<Vec<_>, _>>().op(Operation::Clock)
    }

    /// Records a clock sample the uploader took (its own clock, or a
    /// server's `Date`); returns its id.
    pub fn add_clock_sample(&mut self, sample: &ClockSample) -> Result<i64, SpoolError> {
        self.when_full_release_reserve(|r| {
            let tx = write_tx(&mut r.conn, Operation::Clock)?;
            let id = insert_clock_sample(&tx, sample).op(Operation::Clock)?;
            tx.commit().op(Operation::Clock)?;
            Ok(id)
        })
    }

    /// Record dictionary `id` (see [`crate::SpoolWriter::use_dictionary`]),
    /// if the spool has it.
    pub fn dictionary(&self, id: u32) -> Result<Option<Vec<u8>>, SpoolError> {
        if !has_dictionaries(&self.conn) {
            return Ok(None);
        }
        self.conn
            .query_row("SELECT dict FROM dictionaries WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .op(Operation::Dictionary)
    }

    /// Every record dictionary in the spool, `(id, content)`, oldest first.
    pub fn dictionaries(&self) -> Result<Vec<(u32, Vec<u8>)>, SpoolError> {
        if !has_dictionaries(&self.conn) {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare("SELECT id, dict FROM dictionaries ORDER BY seq")
            .op(Operation::Dictionary)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .op(Operation::Dictionary)?;
        rows.collect::<rusqlite::Result<_>>()
            .op(Operation::Dictionary)
    }

    /// Drops every record dictionary if no row is left (one transaction):
    /// writers put theirs back with their next batch. Returns how many
    /// were dropped.
    pub fn drop_dictionaries_if_empty(&mut self) -> Result<u64, SpoolError> {
        if !has_dictionaries(&self.conn) {
            return Ok(0);
        }
        let tx = write_tx(&mut self.conn, Operation::Dictionary)?;
        let rows = read_totals(&tx)?.rows();
        let n = if rows == 0 {
            tx.execute("DELETE FROM dictionaries", [])
                .op(Operation::Dictionary)? as u64
        } else {
            0
        };
        tx.commit().op(Operation::Dictionary)?;
        Ok(n)
    }

    /// Reads a `meta` key.
    pub fn meta(&self, key: &str) -> Result<Option<String>, SpoolError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .op(Operation::Meta)
    }

    /// Up to `limit` pending spans with `row_id > after`, oldest first. Does
    /// not change the spool: exclusivity comes from the [`UploaderLock`](crate::UploaderLock), and
    /// a span leaves only through [`SpoolReader::ack`] (or quarantine/expiry).
    pub fn lease(&self, after: i64, limit: usize) -> Result<Vec<LeasedSpan>, SpoolError> {
        let sql = if self.has_clock {
            "SELECT id, record, clock FROM spans WHERE id > ?1 AND state = 0 ORDER BY id LIMIT ?2"
        } else {
            "SELECT id, record, NULL FROM spans WHERE id > ?1 AND state = 0 ORDER BY id LIMIT ?2"
        };
        let mut stmt = self.conn.prepare_cached(sql).op(Operation::Lease)?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(LeasedSpan {
                    row_id: r.get(0)?,
                    record: r.get(1)?,
                    clock_sample: r.get(2)?,
                })
            })
            .op(Operation::Lease)?;
        rows.collect::<Result<Vec<_>, _>>().op(Operation::Lease)
    }

    /// Deletes the pending rows with ids in `first..=last` (a delivered run
    /// of a lease) and counts them as `uploaded`, in one transaction.
    /// Returns how many rows were deleted.
    ///
    /// On a full file system (after spending the reserve), the run is
    /// deleted in small transactions instead, so that each needs only a few
    /// pages of WAL: on a small disk one transaction of a thousand rows may
    /// need more room than is left.
    pub fn ack(&mut self, first: i64, last: i64) -> Result<u64, SpoolError> {
        match self.when_full_release_reserve(|r| r.ack_once(first, last)) {
            Err(e) if e.is_disk_full() => self.ack_in_chunks(first, last),
            other => other,
        }
    }

    /// Rows a small delete transaction takes (see [`SpoolReader::ack`]).
    const ACK_CHUNK: i64 = 32;

    fn ack_in_chunks(&mut self, first: i64, last: i64) -> Result<u64, SpoolError> {
        let lowest: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(id) FROM spans WHERE id >= ?1 AND id <= ?2 AND state = 0",
                params![first, last],
                |r| r.get(0),
            )
            .op(Operation::Ack)?;
        let Some(mut from) = lowest else {
            return Ok(0);
        };
        let mut deleted = 0;
        while from <= last {
            let to = from.saturating_add(Self::ACK_CHUNK - 1).min(last);
            deleted += self.ack_once(from, to)?;
            if to == i64::MAX {
                break;
            }
            from = to + 1;
        }
        Ok(deleted)
    }

    fn ack_once(&mut self, first: i64, last: i64) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Ack)?;
        let d = delete_counted(
            &tx,
            "id >= ?1 AND id <= ?2 AND state = 0",
            params![first, last],
            Operation::Ack,
        )?;
        add_totals(&tx, neg(d), Operation::Ack)?;
        add_counter(&tx, Counter::Uploaded, d[0] as u64, Operation::Ack)?;
        tx.commit().op(Operation::Ack)?;
        Ok(d[0] as u64)
    }

    /// Deletes single pending rows, counting them under `counter` (e.g.
    /// [`Counter::UploadExpired`]). Returns how many were deleted.
    pub fn remove(&mut self, row_ids: &[i64], counter: Counter) -> Result<u64, SpoolError> {
        self.when_full_release_reserve(|r| r.remove_once(row_ids, counter))
    }

    fn remove_once(&mut self, row_ids: &[i64], counter: Counter) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Remove)?;
        let mut total = [0i64; 4];
        for id in row_ids {
            let d = delete_counted(&tx, "id = ?1 AND state = 0", params![id], Operation::Remove)?;
            total = plus(total, d);
        }
        add_totals(&tx, neg(total), Operation::Remove)?;
        add_counter(&tx, counter, total[0] as u64, Operation::Remove)?;
        tx.commit().op(Operation::Remove)?;
        Ok(total[0] as u64)
    }

    /// Moves pending rows to quarantine with a reason, one by one.
    pub fn quarantine(&mut self, rows: &[(i64, &str)]) -> Result<u64, SpoolError> {
        self.when_full_release_reserve(|r| r.quarantine_once(rows))
    }

    fn quarantine_once(&mut self, rows: &[(i64, &str)]) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Quarantine)?;
        let now = to_i64(now_ns());
        let mut d = [0i64; 4];
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE spans SET state = 1, reason = ?2, quarantined_at_ns = ?3 \
                     WHERE id = ?1 AND state = 0 RETURNING length(record) + {ROW_OVERHEAD_BYTES}"
                ))
                .op(Operation::Quarantine)?;
            for (id, reason) in rows {
                let bytes: Option<i64> = stmt
                    .query_row(params![id, reason, now], |r| r.get(0))
                    .optional()
                    .op(Operation::Quarantine)?;
                if let Some(b) = bytes {
                    d = [d[0] - 1, d[1] - b, d[2] + 1, d[3] + b];
                }
            }
        }
        add_totals(&tx, d, Operation::Quarantine)?;
        add_counter(
            &tx,
            Counter::Quarantined,
            d[2] as u64,
            Operation::Quarantine,
        )?;
        tx.commit().op(Operation::Quarantine)?;
        Ok(d[2] as u64)
    }

    /// Quarantined rows, oldest first.
    pub fn quarantined(&self, limit: usize) -> Result<Vec<QuarantinedRow>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, coalesce(reason, ''), coalesce(quarantined_at_ns, 0) FROM spans \
                 WHERE state = 1 ORDER BY id LIMIT ?1",
            )
            .op(Operation::List)?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(QuarantinedRow {
                    row_id: r.get(0)?,
                    reason: r.get(1)?,
                    at_ns: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .op(Operation::List)?;
        rows.collect::<Result<Vec<_>, _>>().op(Operation::List)
    }

    /// Puts quarantined rows back to pending, at the tail (new row ids, so
    /// a lease in progress is never changed). `None`: every quarantined row.
    /// Returns how many were requeued.
    pub fn requeue(&mut self, row_ids: Option<&[i64]>) -> Result<u64, SpoolError> {
        self.when_full_release_reserve(|r| r.requeue_once(row_ids))
    }

    fn requeue_once(&mut self, row_ids: Option<&[i64]>) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Requeue)?;
        // The copy keeps the row's clock sample (the extension is there:
        // this is a read-write opening).
        let copy = "INSERT INTO spans(trace_id, span_id, parent_span_id, name, start_ns, end_ns, record, clock) \
                    SELECT trace_id, span_id, parent_span_id, name, start_ns, end_ns, record, clock FROM spans \
                    WHERE state = 1";
        let d = match row_ids {
            None => {
                tx.execute(&format!("{copy} ORDER BY id"), [])
                    .op(Operation::Requeue)?;
                delete_counted(&tx, "state = 1", &[], Operation::Requeue)?
            }
            Some(ids) => {
                let mut total = [0i64; 4];
                for id in ids {
                    let n = tx
                        .execute(&format!("{copy} AND id = ?1"), [id])
                        .op(Operation::Requeue)?;
                    if n == 1 {
                        let d = delete_counted(
                            &tx,
                            "id = ?1 AND state = 1",
                            params![id],
                            Operation::Requeue,
                        )?;
                        total = plus(total, d);
                    }
                }
                total
            }
        };
        let n = d[2];
        // The copies are pending with the same bytes; the originals are gone.
        add_totals(&tx, [n, d[3], -n, -d[3]], Operation::Requeue)?;
        add_counter(&tx, Counter::Requeued, n as u64, Operation::Requeue)?;
        tx.commit().op(Operation::Requeue)?;
        Ok(n as u64)
    }

    /// Deletes every quarantined row (counted as `purged`).
    pub fn purge_quarantined(&mut self) -> Result<u64, SpoolError> {
        self.purge_where("state = 1", &[])
    }

    /// Deletes every row (of any state) that ended before `cutoff_ns`
    /// (counted as `purged`).
    pub fn purge_ended_before(&mut self, cutoff_ns: u64) -> Result<u64, SpoolError> {
        self.purge_where("end_ns < ?1", params![to_i64(cutoff_ns)])
    }

    fn purge_where(
        &mut self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<u64, SpoolError> {
        self.when_full_release_reserve(|r| r.purge_where_once(cond, args))
    }

    fn purge_where_once(
        &mut self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, Operation::Purge)?;
        let d = delete_counted(&tx, cond, args, Operation::Purge)?;
        add_totals(&tx, neg(d), Operation::Purge)?;
        let n = (d[0] + d[2]) as u64;
        add_counter(&tx, Counter::Purged, n, Operation::Purge)?;
        tx.commit().op(Operation::Purge)?;
        Ok(n)
    }
}

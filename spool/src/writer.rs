//! The writing half: appends batches of spans, applying the disk budget
//! and the age limit in the same transaction (invariants 1, 4, 6). One per
//! recorder writer thread; any number of processes may have one on the
//! same file (invariant 8).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::clock::{now_ns, ClockSample, SampleSource, SAMPLE_EVERY_STEP_NS};
use crate::connection::{inode, open_rw, write_tx};
use crate::error::{OpenError, Operation, SpoolError, SqlContext};
use crate::filesystem::free_bytes;
use crate::format::insert_clock_sample;
use crate::format::Create;
use crate::format::{row_bytes, ROW_OVERHEAD_BYTES};
use crate::options::{Budget, OnBudget, SpoolOptions};
use crate::reserve::{ensure_reserve, reserve_bytes, reserve_held, MARGIN_BYTES};
use crate::tally::{add_counter, add_totals, delete_counted, read_totals, to_i64, Counter, Delta};

const OP: Operation = Operation::Append;

/// One span to append: the columns and the encoded record.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NewRow<'a> {
    /// Trace id.
    pub trace_id: &'a [u8; 16],
    /// Span id.
    pub span_id: &'a [u8; 8],
    /// Parent span id.
    pub parent_span_id: Option<&'a [u8; 8]>,
    /// Display name.
    pub name: &'a str,
    /// Start, ns since the Unix epoch.
    pub start_ns: u64,
    /// End, ns since the Unix epoch.
    pub end_ns: u64,
    /// The encoded record (tracespool-schema).
    pub record: &'a [u8],
}

impl<'a> NewRow<'a> {
    /// A row for one encoded span.
    pub fn new(
        trace_id: &'a [u8; 16],
        span_id: &'a [u8; 8],
        parent_span_id: Option<&'a [u8; 8]>,
        name: &'a str,
        (start_ns, end_ns): (u64, u64),
        record: &'a [u8],
    ) -> Self {
        NewRow {
            trace_id,
            span_id,
            parent_span_id,
            name,
            start_ns,
            end_ns,
            record,
        }
    }
}

/// What one append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppendOutcome {
    /// New rows inserted.
    pub written: u64,
    /// New spans refused because the budget was full ([`OnBudget::DropNewest`]).
    pub refused_newest: u64,
    /// New spans refused because the batch alone exceeds the budget
    /// ([`OnBudget::DropOldest`] keeps the newest of the batch).
    pub refused_oversize: u64,
    /// New spans refused because they were already older than `max_age`.
    pub refused_age: u64,
    /// Old rows deleted to make room ([`OnBudget::DropOldest`]).
    pub evicted_oldest: u64,
    /// Old rows deleted for being older than `max_age`.
    pub evicted_age: u64,
}

impl AppendOutcome {
    /// The outcome of a batch of `n` rows that were all written (for
    /// sinks outside this
    /// crate; the struct is `#[non_exhaustive]`).
    pub fn all_written(n: u64) -> Self {
        AppendOutcome {
            written: n,
            ..AppendOutcome::default()
        }
    }
}

/// Counters a recorder adds to the spool alongside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecorderDrops {
    /// Spans dropped on a full queue since the last report.
    pub queue_full: u64,
    /// Spans dropped on write errors since the last report.
    pub write_errors: u64,
    /// Of `write_errors`, those for lack of room.
    pub no_room: u64,
}

impl RecorderDrops {
    /// Drops to report.
    pub fn new(queue_full: u64, write_errors: u64) -> Self {
        RecorderDrops {
            queue_full,
            write_errors,
            no_room: 0,
        }
    }

    /// With `n` of the write errors for lack of room.
    pub fn with_no_room(mut self, n: u64) -> Self {
        self.no_room = n;
        self
    }
}

/// The writing half: appends batches of spans. One per recorder writer
/// thread; any number of processes may have one on the same file.
pub struct SpoolWriter {
    conn: Connection,
    path: PathBuf,
    ino: u64,
    budget: Budget,
    /// Free file-system space left for the uploader (0: no reserve).
    reserve_bytes: u64,
    /// Whether this writer made sure the reserve file exists (on its first
    /// append, on the writer's thread: writing 8 MiB at `open` would slow
    /// the application's start on slow flash).
    reserve_ensured: bool,
    /// The last clock sample this writer recorded: its id and offset (see
    /// the `clock` module).
    clock: Option<(i64, i64)>,
    /// The dictionary this writer's records are compressed with (see
    /// [`SpoolWriter::use_dictionary`]).
    dictionary: Option<Dictionary>,
}

impl std::fmt::Debug for SpoolWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolWriter")
            .field("path", &self.path)
            .field("budget", &self.budget)
            .finish()
    }
}

impl SpoolWriter {
    /// Opens (creating if needed, mode 0600) the spool at `path`.
    pub fn open(path: &Path, budget: Budget, opts: &SpoolOptions) -> Result<Self, OpenError> {
        let conn = open_rw(path, opts, Create::Yes)?;
        let ino = inode(path).unwrap_or(0);
        Ok(SpoolWriter {
            conn,
            path: path.to_owned(),
            ino,
            budget,
            reserve_bytes: reserve_bytes(opts.reserve, path),
            reserve_ensured: false,
            clock: None,
            dictionary: None,
        })
    }

    /// Keeps record dictionary `content` under `id` (see
    /// `tracespool-schema`'s compressed records) in the spool, now and in
    /// every batch this writer appends from now on (an uploader drops the
    /// dictionaries of an empty spool), so the records compressed with it
    /// can always be read. [`SpoolError::DictionaryConflict`] if the spool
    /// holds another dictionary under `id`.
    pub fn use_dictionary(&mut self, id: u32, content: &[u8]) -> Result<(), SpoolError> {
        const OP: Operation = Operation::Dictionary;
        self.dictionary = Some(Dictionary {
            id,
            content: content.to_vec(),
        });
        let tx = write_tx(&mut self.conn, OP)?;
        let res = ensure_dictionary(&tx, self.dictionary.as_ref().expect("set above"));
        if res.is_err() {
            self.dictionary = None;
        }
        res?;
        tx.commit().op(OP)
    }

    /// The dictionary added last to the spool, if any: `(id, content)`. A
    /// new writer may reuse it rather than add its own.
    pub fn newest_dictionary(&self) -> Result<Option<(u32, Vec<u8>)>, SpoolError> {
        self.conn
            .query_row(
                "SELECT id, dict FROM dictionaries ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .op(Operation::Dictionary)
    }

    /// The spool's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still names the file this writer has open (false
    /// after the file was deleted or replaced: reopen to write to it again).
    pub fn still_at_path(&self) -> bool {
        inode(&self.path) == Some(self.ino)
    }

    /// Appends a batch in one transaction, applying the budget, and adds the
    /// recorder's drop counters. On error nothing of the batch is written.
    /// A batch of no rows (only drops to count: a page or two of WAL) may
    /// use the margin the reserve rule leaves free, so that a full disk's
    /// drops reach the spool while it is full.
    pub fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        if !self.reserve_ensured {
            self.reserve_ensured = true;
            ensure_reserve(&self.path, self.reserve_bytes);
        }
        if !rows.is_empty() {
            self.leave_the_reserve(rows)?;
        }
        let budget = self.budget;
        let tx = write_tx(&mut self.conn, OP)?;
        let mut out = AppendOutcome::default();
        let mut delta = [0i64; 4];

        // Age limit: sweep old rows from the head (ids follow time closely
        // enough; the uploader's 14-day check catches stragglers), and
        // refuse new spans that are already too old.
        let cutoff = budget
            .max_age
            .map(|age| to_i64(now_ns().saturating_sub(age.as_nanos() as u64)));
        if let Some(cutoff) = cutoff {
            let oldest: Option<i64> = tx
                .query_row("SELECT end_ns FROM spans ORDER BY id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()
                .op(OP)?;
            if oldest.is_some_and(|e| e < cutoff) {
                let d = delete_counted(
                    &tx,
                    "id IN (SELECT id FROM spans ORDER BY id LIMIT 10000) AND end_ns < ?1",
                    params![cutoff],
                    OP,
                )?;
                out.evicted_age += (d[0] + d[2]) as u64;
                delta = sub(delta, d);
            }
        }
        let fresh = |r: &NewRow<'_>| cutoff.is_none_or(|c| to_i64(r.end_ns) >= c);

        // Size budget.
        let incoming: u64 = rows
            .iter()
            .filter(|r| fresh(r))
            .map(|r| row_bytes(r.record.len()))
            .sum();
        let mut skip_first = 0usize; // new rows (in order) not written for the budget
        let mut accept_limit = u64::MAX; // DropNewest: bytes of new rows that fit
        if let Some(max) = budget.max_bytes {
            let used = (to_i64(read_totals(&tx)?.bytes()) + delta[1] + delta[3]).max(0) as u64;
            if used + incoming > max {
                match budget.on_budget {
                    OnBudget::DropNewest => accept_limit = max.saturating_sub(used),
                    OnBudget::DropOldest => {
                        // New spans that cannot fit even in an empty spool:
                        // keep the newest of the batch.
                        let mut new_bytes = incoming;
                        for r in rows.iter() {
                            if new_bytes <= max {
                                break;
                            }
                            if fresh(r) {
                                new_bytes -= row_bytes(r.record.len());
                            }
                            skip_first += 1;
                        }
                        let need = (used + new_bytes).saturating_sub(max);
                        if need > 0 {
                            let d = free_oldest(&tx, need)?;
                            out.evicted_oldest += (d[0] + d[2]) as u64;
                            delta = sub(delta, d);
                        }
                    }
                }
            }
        }

        // The dictionary the batch was compressed with is still there.
        if let Some(d) = &self.dictionary {
            if let Err(e) = ensure_dictionary(&tx, d) {
                if e.is_dictionary_conflict() {
                    // Plain records from now on (the caller's to resend).
                    self.dictionary = None;
                }
                return Err(e);
            }
        }
        // The batch's clock sample: the last one, unless the wall clock was
        // stepped since (then a new one, in this transaction).
        let sample = ClockSample::now(SampleSource::Recorder);
        let mut new_clock = None;
        let clock_id = match (sample, self.clock) {
            (None, _) => None,
            (Some(s), Some((id, offset)))
                if (s.offset_ns() - offset).abs() <= SAMPLE_EVERY_STEP_NS =>
            {
                Some(id)
            }
            (Some(s), _) => {
                let id = insert_clock_sample(&tx, &s).op(OP)?;
                new_clock = Some((id, s.offset_ns()));
                Some(id)
            }
        };
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO spans(trace_id, span_id, parent_span_id, name, start_ns, end_ns, record, clock) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .op(OP)?;
            let mut accepted = 0u64;
            for (i, r) in rows.iter().enumerate() {
                if !fresh(r) {
                    out.refused_age += 1;
                    continue;
                }
                if i < skip_first {
                    out.refused_oversize += 1;
                    continue;
                }
                let b = row_bytes(r.record.len());
                if accepted + b > accept_limit {
                    out.refused_newest += 1;
                    continue;
                }
                accepted += b;
                ins.execute(params![
                    &r.trace_id[..],
                    &r.span_id[..],
                    r.parent_span_id.map(|p| &p[..]),
                    r.name,
                    to_i64(r.start_ns),
                    to_i64(r.end_ns),
                    r.record,
                    clock_id,
                ])
                .op(OP)?;
                out.written += 1;
                delta[0] += 1;
                delta[1] += b as i64;
            }
        }
        add_totals(&tx, delta, OP)?;
        add_counter(&tx, Counter::Appended, out.written, OP)?;
        add_counter(
            &tx,
            Counter::BudgetDroppedOldest,
            out.evicted_oldest + out.refused_oversize,
            OP,
        )?;
        add_counter(&tx, Counter::BudgetDroppedNewest, out.refused_newest, OP)?;
        add_counter(
            &tx,
            Counter::AgeExpired,
            out.evicted_age + out.refused_age,
            OP,
        )?;
        add_counter(&tx, Counter::RecorderQueueFull, drops.queue_full, OP)?;
        add_counter(&tx, Counter::RecorderWriteErrors, drops.write_errors, OP)?;
        add_counter(&tx, Counter::RecorderNoRoom, drops.no_room, OP)?;
        tx.commit().op(OP)?;
        if new_clock.is_some() {
            self.clock = new_clock;
        }
        Ok(out)
    }
}

impl SpoolWriter {
    /// Refuses a batch that would grow the spool file into the room kept
    /// for the uploader (see the `reserve` module): with the reserve file in
    /// place, the batch must leave [`MARGIN_BYTES`] free; without it, the
    /// reserve's size on top (and the writer makes the reserve when there
    /// is room for it). A batch that fits in the spool's own free pages is
    /// written if the WAL can take it (its file, reused after a checkpoint,
    /// plus the free space).
    fn leave_the_reserve(&self, rows: &[NewRow<'_>]) -> Result<(), SpoolError> {
        if self.reserve_bytes == 0 {
            return Ok(());
        }
        let Some(free) = free_bytes(&self.path) else {
            return Ok(());
        };
        // Records plus room for their pages' other contents, in the WAL.
        let needed: u64 = rows.iter().map(|r| 2 * row_bytes(r.record.len())).sum();
        let held = reserve_held(&self.path, self.reserve_bytes)
            || ensure_reserve(&self.path, self.reserve_bytes);
        let keep = if held {
            MARGIN_BYTES
        } else {
            self.reserve_bytes + MARGIN_BYTES
        };
        // Asked again: making the reserve took some of it.
        let free = if held {
            free_bytes(&self.path).unwrap_or(free)
        } else {
            free
        };
        if free >= needed.saturating_add(keep) {
            return Ok(());
        }
        let inside: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT freelist_count FROM pragma_freelist_count) * \
                        (SELECT page_size FROM pragma_page_size)",
                [],
                |r| r.get(0),
            )
            .op(OP)?;
        if inside.max(0) as u64 >= needed {
            // The pages come from the spool's free list, but the WAL holds
            // them first: let it start over (a passive checkpoint, which
            // waits for nobody), and what it cannot reuse must be free.
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            let wal = std::fs::metadata(crate::files::with_suffix(&self.path, "-wal"))
                .map_or(0, |m| m.len());
            if free.saturating_add(wal) >= needed {
                return Ok(());
            }
        }
        Err(SpoolError::ReserveReached {
            free,
            reserve: self.reserve_bytes,
        })
    }
}

fn sub(a: Delta, b: Delta) -> Delta {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
}

/// Deletes the oldest rows until at least `need` bytes are freed.
fn free_oldest(conn: &Connection, need: u64) -> Result<Delta, SpoolError> {
    let last_id: Option<i64> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT id, length(record) + {ROW_OVERHEAD_BYTES} FROM spans ORDER BY id"
            ))
            .op(OP)?;
        let mut rows = stmt.query([]).op(OP)?;
        let mut freed = 0u64;
        let mut last = None;
        while let Some(r) = rows.next().op(OP)? {
            last = Some(r.get::<_, i64>(0).op(OP)?);
            freed += r.get::<_, i64>(1).op(OP)? as u64;
            if freed >= need {
                break;
            }
        }
        last
    };
    match last_id {
        Some(id) => delete_counted(conn, "id <= ?1", params![id], OP),
        None => Ok([0; 4]),
    }
}

/// A record dictionary a writer keeps in the spool.
struct Dictionary {
    id: u32,
    content: Vec<u8>,
}

/// Puts `d` in the spool unless it is there, and checks that what is
/// stored under its id is it (a few pages of the cache: cheap next to a
/// batch).
fn ensure_dictionary(tx: &rusqlite::Transaction<'_>, d: &Dictionary) -> Result<(), SpoolError> {
    const OP: Operation = Operation::Dictionary;
    let added = tx
        .execute(
            "INSERT OR IGNORE INTO dictionaries(id, dict) VALUES (?1, ?2)",
            params![d.id, d.content],
        )
        .op(OP)?;
    if added == 0 {
        let same: bool = tx
            .query_row(
                "SELECT dict = ?2 FROM dictionaries WHERE id = ?1",
                params![d.id, d.content],
                |r| r.get(0),
            )
            .op(OP)?;
        if !same {
            return Err(SpoolError::DictionaryConflict { id: d.id });
        }
    }
    Ok(())
}

//! Everything an upload run writes to the spool: what happened to rows
//! (quarantined, expired, delivered and deleted), the counters of the run
//! (retries, possible duplicates, bytes sent, spans rejected unnamed) and
//! the upload status `inspect` shows (last attempt, success and error).
//!
//! Rows go through the spool's own operations (see `tracespool-spool`):
//! a delivered run is marked (`meta.delivered_through`) before the
//! deleting thread deletes it, so a crash between the two never sends it
//! again. Counters and the status are best effort: a failure to record
//! them is logged at debug and retried with the next write, never fatal.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracespool_spool::{now_ns, Counter, SpoolOptions, SpoolReader};

use super::delete::Deleter;

/// The run's writes to the spool.
pub(crate) struct Ledger {
    reader: SpoolReader,
    /// Absent for a dry run (which deletes nothing).
    deleter: Option<Deleter>,
    /// Possible duplicates not yet added to the spool's counter.
    unrecorded_duplicates: u64,
    /// Bytes sent not yet added to the spool's counter.
    unrecorded_bytes: u64,
    last_status: Instant,
    /// A dry run: the spool is opened read-only and nothing is written.
    dry_run: bool,
}

impl Ledger {
    /// Opens the spool for a run. Unless `dry_run` (which opens it
    /// read-only and writes nothing: no status, no counter, no sample),
    /// deletes the rows a killed run had delivered but not yet deleted,
    /// and starts the deleting thread.
    pub(crate) fn open(spool: &Path, opts: &SpoolOptions, dry_run: bool) -> anyhow::Result<Self> {
        let mut reader = if dry_run {
            SpoolReader::open_read_only(spool)
        } else {
            SpoolReader::open(spool, opts)
        }
        .context("open the spool")?;
        let deleter = if dry_run {
            None
        } else {
            let n = reader
                .ack_delivered()
                .context("delete spans delivered by an earlier run")?;
            if n > 0 {
                tracing::info!(count = n, "deleted spans an interrupted run had delivered");
            }
            reader
                .no_auto_checkpoint()
                .context("configure the spool connection")?;
            Some(Deleter::start(spool, opts)?)
        };
        Ok(Ledger {
            reader,
            deleter,
            unrecorded_duplicates: 0,
            unrecorded_bytes: 0,
            last_status: Instant::now() - Duration::from_secs(10),
            dry_run,
        })
    }

    /// Spans pending now (after every queued deletion).
    pub(crate) fn pending(&mut self) -> anyhow::Result<u64> {
        self.finish_deletes()?;
        Ok(self
            .reader
            .totals()
            .context("read spool totals")?
            .pending_rows)
    }

    /// Quarantines rows, each with its reason; returns how many.
    pub(crate) fn quarantine(&mut self, rows: &[(i64, &str)]) -> anyhow::Result<u64> {
        self.reader.quarantine(rows).context("quarantine spans")
    }

    /// Removes rows past the 14-day window, counted under `counter`
    /// (`upload_expired`, or `upload_undatable` for times known wrong);
    /// returns how many.
    pub(crate) fn expire(&mut self, rows: &[i64], counter: Counter) -> anyhow::Result<u64> {
        self.reader
            .remove(rows, counter)
            .context("remove expired spans")
    }

    /// Marks the run `first..=last` delivered and hands it to the deleting
    /// thread.
    pub(crate) fn delivered(&mut self, first: i64, last: i64) -> anyhow::Result<()> {
        self.reader
            .mark_delivered(last)
            .context("mark spans delivered")?;
        if let Some(d) = &mut self.deleter {
            d.delete(first, last)?;
        }
        Ok(())
    }

    /// The spool's clock samples, as a book (see `crate::clock_repair`).
    pub(crate) fn clock_book(&self) -> anyhow::Result<crate::clock_repair::ClockBook> {
        let mut book = crate::clock_repair::ClockBook::new();
        for (id, s) in self.reader.clock_samples(0).context("read clock samples")? {
            book.add(id, s);
        }
        Ok(book)
    }

    /// Records a clock sample the uploader took.
    pub(crate) fn add_clock_sample(
        &mut self,
        s: &tracespool_spool::ClockSample,
    ) -> anyhow::Result<()> {
        self.reader
            .add_clock_sample(s)
            .context("record a clock sample")?;
        Ok(())
    }

    /// Adds to a counter now (best effort).
    pub(crate) fn count(&mut self, counter: Counter, n: u64) {
        if self.dry_run {
            return;
        }
        if let Err(e) = self.reader.add_counters(&[(counter, n)]) {
            tracing::debug!(error = %e, counter = counter.name(), "could not count");
        }
    }

    /// Spans sent again after an ambiguous failure (recorded with the next
    /// status).
    pub(crate) fn possible_duplicates(&mut self, n: u64) {
        self.unrecorded_duplicates += n;
    }

    /// Request bytes sent (recorded with the next status).
    pub(crate) fn bytes_sent(&mut self, n: u64) {
        self.unrecorded_bytes += n;
    }

    /// Records a failed attempt and its reason.
    pub(crate) fn failed(&mut self, reason: &str) {
        if self.dry_run {
            return;
        }
        let now = now_ns().to_string();
        let _ = self.reader.set_meta(&[
            ("last_attempt_ns", &now),
            ("last_error", reason),
            ("last_error_ns", &now),
        ]);
    }

    /// Records the last attempt, and the last success when `succeeded`, with
    /// the counters gathered since (at most once a second unless `force`).
    pub(crate) fn status(&mut self, succeeded: bool, force: bool) {
        if self.dry_run || (!force && self.last_status.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.last_status = Instant::now();
        let now = now_ns().to_string();
        let mut pairs = vec![("last_attempt_ns", now.as_str())];
        if succeeded {
            pairs.push(("last_success_ns", now.as_str()));
        }
        if let Err(e) = self.reader.set_meta(&pairs) {
            tracing::debug!(error = %e, "could not record upload status");
        }
        if self.unrecorded_duplicates > 0 || self.unrecorded_bytes > 0 {
            let (n, b) = (
                std::mem::take(&mut self.unrecorded_duplicates),
                std::mem::take(&mut self.unrecorded_bytes),
            );
            if self
                .reader
                .add_counters(&[
                    (Counter::UploadPossibleDuplicates, n),
                    (Counter::UploadBytes, b),
                ])
                .is_err()
            {
                self.unrecorded_duplicates += n;
                self.unrecorded_bytes += b;
            }
        }
    }

    /// Whether the deleting thread stopped for lack of room (see
    /// `super::delete`).
    pub(crate) fn out_of_room(&self) -> bool {
        self.deleter.as_ref().is_some_and(|d| d.out_of_room())
    }

    /// Waits until every delivered run is deleted.
    fn finish_deletes(&mut self) -> anyhow::Result<()> {
        match &mut self.deleter {
            Some(d) => d.finish(),
            None => Ok(()),
        }
    }

    /// Ends the run: deletions finished, the status recorded, the record
    /// dictionaries of an emptied spool dropped (writers put theirs back),
    /// the space reserve held again (unless a dry run).
    pub(crate) fn close(&mut self, succeeded: bool) -> anyhow::Result<()> {
        self.finish_deletes()?;
        self.status(succeeded, true);
        if self.deleter.is_some() {
            if let Err(e) = self.reader.drop_dictionaries_if_empty() {
                tracing::debug!(error = %e, "record dictionaries kept");
            }
            // Space freed by this run: hold the reserve again for next time.
            self.reader.restore_reserve();
        }
        Ok(())
    }
}

//! The writer thread: drains the lanes (and builds the spans of the
//! deferred queues, [`crate::DeferredQueue`]), encodes each span into a record,
//! appends the batch to the sink in one transaction, counts what it could
//! not write, and wakes flushes.
//!
//! With compressed records, batches go through a two-stage pipeline: the
//! compressing thread compresses batch N+1 while this thread commits batch
//! N (see `crate::compressing_thread`); a round of the flush protocol ends
//! only once the batch in flight is committed.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracespool_schema::{is_blank, RecordEncoder, UNNAMED_SPAN};
use tracespool_spool::{NewRow, RecorderDrops};

use crate::compressing_thread::{CompressingThread, Records};
use crate::deferred_queues::Deferred;
use crate::queue::QueuedSpan;
use crate::record_compression::Packer;
use crate::shared::Shared;
use crate::sink::SpanSink;

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sink: Box<dyn SpanSink>,
    pub(crate) flush_interval: Duration,
    pub(crate) max_batch: usize,
    pub(crate) reported: RecorderDrops,
    /// This thread's copy of the adapters' resource encoders (see
    /// [`crate::resources::Resources::encoder`]).
    pub(crate) span_encoders: Vec<Arc<RecordEncoder>>,
    /// Scratch list of the deferred queues (see
    /// [`crate::deferred_queues::DeferredQueues::convert_into`]).
    pub(crate) deferred: Vec<Arc<dyn Deferred>>,
    /// Finds a dictionary (see [`crate::RecordCompression`]).
    pub(crate) packer: Packer,
    /// Compresses batches once there is one.
    pub(crate) compressing: Option<CompressingThread>,
    /// The batch the compressing thread has.
    pub(crate) in_flight: Option<Batch>,
    /// Buffers of plain records and of spans, reused.
    pub(crate) spare_records: Vec<Records>,
    pub(crate) spare_spans: Vec<Vec<QueuedSpan>>,
    /// When the drops were last committed alone (see `note_drops`).
    pub(crate) last_drops_note: Option<Instant>,
}

/// A batch: its spans, and their records (plain).
pub(crate) struct Batch {
    spans: Vec<QueuedSpan>,
    records: Arc<Records>,
    /// Spans that could not be encoded (not written, already counted).
    bad: u64,
}

impl Writer {
    pub(crate) fn run(mut self) {
        // Here, not in `build`: the first calibration takes up to 200 ms.
        crate::clock::calibrate();
        let mut last_resync = Instant::now();
        let mut batch = self.spans_vec();
        loop {
            if last_resync.elapsed() >= Duration::from_secs(1) {
                crate::clock::resync();
                last_resync = Instant::now();
            }
            let sh = self.shared.clone();
            let round = sh.signals.begin_round();
            // Drain until the queue is empty: every push that completed
            // before the round began is committed (or counted) below.
            loop {
                sh.lanes.drain_into(&mut batch, self.max_batch);
                let lost = sh.deferred.convert_into(
                    &sh.lanes,
                    &mut batch,
                    self.max_batch,
                    &mut self.deferred,
                );
                if lost > 0 {
                    sh.counters.dropped_other(lost);
                }
                if batch.is_empty() {
                    break;
                }
                sh.signals.room_made();
                let full = std::mem::replace(&mut batch, self.spans_vec());
                self.write(full);
            }
            self.commit_in_flight();
            sh.signals.end_round(round);
            if round.stop {
                // Drops not in the spool yet (a full disk): a last try.
                if self.pending_drops() != RecorderDrops::default() {
                    self.last_drops_note = None;
                    self.note_drops();
                }
                // Threads may keep this recorder's handle cached until they
                // exit; give back the pooled spans now.
                sh.lanes.empty_pools();
                return;
            }
            if sh.signals.may_sleep(round) && sh.queued() < sh.settings.high_water {
                std::thread::park_timeout(self.flush_interval);
            }
        }
    }

    fn pending_drops(&self) -> RecorderDrops {
        let sh = &*self.shared;
        let (write_errors, no_room) = sh.counters.write_errors();
        RecorderDrops::new(
            sh.dropped_queue_full() - self.reported.queue_full,
            write_errors - self.reported.write_errors,
        )
        .with_no_room(no_room - self.reported.no_room)
    }

    /// On a full disk, commits the drops alone (no row: a page or two),
    /// at most once a second, so that the spool's counters tell the truth
    /// while it is full.
    fn note_drops(&mut self) {
        if self
            .last_drops_note
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_drops_note = Some(Instant::now());
        let drops = self.pending_drops();
        if self.sink.append(&[], drops).is_ok() {
            self.reported_to_spool(drops);
        }
    }

    /// `drops` are in the spool's counters now.
    fn reported_to_spool(&mut self, drops: RecorderDrops) {
        self.reported.queue_full += drops.queue_full;
        self.reported.write_errors += drops.write_errors;
        self.reported.no_room += drops.no_room;
    }

    fn spans_vec(&mut self) -> Vec<QueuedSpan> {
        self.spare_spans
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.max_batch))
    }

    /// Encodes `spans` and commits them, or hands their records to the
    /// compressing thread and commits the batch it had.
    fn write(&mut self, mut spans: Vec<QueuedSpan>) {
        let mut records = self.spare_records.pop().unwrap_or_default();
        let bad = self.encode(&mut spans, &mut records);
        if self.compressing.is_none() {
            if let Some(c) = self.packer.step(self.sink.as_mut(), &records) {
                self.compressing = CompressingThread::start(c);
            }
        }
        let batch = Batch {
            spans,
            records: Arc::new(records),
            bad,
        };
        let submitted = match &mut self.compressing {
            Some(t) => t.submit(batch.records.clone()),
            None => false,
        };
        if submitted {
            if let Some(previous) = self.in_flight.replace(batch) {
                self.commit_compressed(previous);
            }
        } else {
            // No compressing thread (or it is gone): in order, plain.
            self.commit_in_flight();
            self.compressing = None;
            self.commit(batch, None);
        }
    }

    /// Encodes each span into `records`; a span that cannot be encoded
    /// (over the record size limit) is dropped and counted. Returns how
    /// many.
    fn encode(&mut self, spans: &mut [QueuedSpan], records: &mut Records) -> u64 {
        let sh = &*self.shared;
        records.arena.clear();
        records.ends.clear();
        let mut bad = 0u64;
        for d in spans.iter_mut() {
            // Cloud Trace refuses a blank name; repaired here, off the
            // recording threads.
            if is_blank(&d.name) {
                d.name = Cow::Borrowed(UNNAMED_SPAN);
            }
            // `usize::MAX` marks a span that is not written.
            let encoder = sh.resources.encoder(d.resource(), &mut self.span_encoders);
            match encoder.append_to(d, &mut records.arena) {
                Ok(()) => records.ends.push(records.arena.len()),
                Err(_) => {
                    records.ends.push(usize::MAX);
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            sh.counters.dropped_other(bad);
        }
        bad
    }

    /// Commits the batch the compressing thread has, if any.
    fn commit_in_flight(&mut self) {
        if let Some(b) = self.in_flight.take() {
            self.commit_compressed(b);
        }
    }

    /// Commits `batch`, compressed by the compressing thread (plain if
    /// that thread is gone).
    fn commit_compressed(&mut self, batch: Batch) {
        let packed = self.compressing.as_mut().and_then(|t| t.receive());
        if packed.is_none() {
            self.compressing = None;
        }
        self.commit(batch, packed);
    }

    /// Commits `batch` (its `packed` records if given) and recycles it.
    /// Lock contention (busy) is retried a few times; any other error drops
    /// the batch and counts it.
    fn commit(&mut self, batch: Batch, mut packed: Option<Records>) {
        let sh = self.shared.clone();
        let n = batch.spans.len() as u64 - batch.bad;
        let mut attempts = 0;
        let result = loop {
            let drops = self.pending_drops();
            let records = packed.as_ref().unwrap_or(&batch.records);
            let mut start = 0;
            let rows: Vec<NewRow<'_>> = batch
                .spans
                .iter()
                .zip(&records.ends)
                .filter(|(_, &end)| end != usize::MAX)
                .map(|(d, &end)| {
                    let record = &records.arena[start..end];
                    start = end;
                    NewRow::new(
                        &d.trace_id.0,
                        &d.span_id.0,
                        d.parent_span_id.as_ref().map(|p| &p.0),
                        &d.name,
                        (d.start_ns, d.end_ns),
                        record,
                    )
                })
                .collect();
            let res = self.sink.append(&rows, drops);
            drop(rows);
            match res {
                // Another dictionary under ours: plain records from now on
                // (the batch in flight comes back plain too).
                Err(e) if e.is_dictionary_conflict() && packed.is_some() => {
                    packed = None;
                    self.compressing = None;
                }
                Err(e) if e.is_busy() && attempts < 5 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(10 << attempts));
                }
                Ok(out) => {
                    self.reported_to_spool(drops);
                    break Ok(out);
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(out) => sh.counters.appended(&out),
            Err(e) => {
                sh.counters.write_failed(n, e.is_disk_full());
                if e.is_disk_full() {
                    self.note_drops();
                }
            }
        }
        sh.counters.dequeued(n + batch.bad);
        let Batch {
            mut spans, records, ..
        } = batch;
        for q in spans.drain(..) {
            sh.lanes.recycle(q);
        }
        self.spare_spans.push(spans);
        if let Ok(r) = Arc::try_unwrap(records) {
            self.spare_records.push(r);
        }
        if let (Some(p), Some(t)) = (packed, &mut self.compressing) {
            t.recycle(p);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Runs on a normal return and on a panic of the writer thread alike:
        // waiters must never hang on a writer that is gone.
        self.shared.signals.writer_gone();
    }
}

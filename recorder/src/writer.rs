//! The writer thread: drains the lanes (and builds the spans of the
//! deferred queues, [`crate::DeferredQueue`]), encodes each span into a record,
//! appends the batch to the sink in one transaction, counts what it could
//! not write, and wakes flushes.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracespool_schema::{is_blank, RecordEncoder, UNNAMED_SPAN};
use tracespool_spool::{NewRow, RecorderDrops};

use crate::deferred_queues::Deferred;
use crate::queue::QueuedSpan;
use crate::shared::Shared;
use crate::sink::SpanSink;

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    /// The batch's encoded records, back to back, and where each ends.
    pub(crate) arena: Vec<u8>,
    pub(crate) ends: Vec<usize>,
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
}

impl Writer {
    pub(crate) fn run(mut self) {
        // Here, not in `build`: the first calibration takes up to 200 ms.
        crate::clock::calibrate();
        let mut last_resync = Instant::now();
        let mut batch: Vec<QueuedSpan> = Vec::with_capacity(self.max_batch);
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
                self.write(&mut batch);
            }
            sh.signals.end_round(round);
            if round.stop {
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

    /// Commits `batch` and clears it. Lock contention (busy) is retried a
    /// few times; any other error drops the batch and counts it.
    fn write(&mut self, batch: &mut Vec<QueuedSpan>) {
        let sh = self.shared.clone();
        // Encode the batch into the arena; a span that cannot be encoded
        // (over the record size limit) is dropped and counted.
        self.arena.clear();
        self.ends.clear();
        let mut bad = 0u64;
        for d in batch.iter_mut() {
            // Cloud Trace refuses a blank name; repaired here, off the
            // recording threads.
            if is_blank(&d.name) {
                d.name = Cow::Borrowed(UNNAMED_SPAN);
            }
            // `usize::MAX` marks a span that is not written.
            let encoder = sh.resources.encoder(d.resource(), &mut self.span_encoders);
            match encoder.append_to(d, &mut self.arena) {
                Ok(()) => self.ends.push(self.arena.len()),
                Err(_) => {
                    self.ends.push(usize::MAX);
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            sh.counters.dropped_other(bad);
        }
        let n = batch.len() as u64 - bad;
        let mut attempts = 0;
        let result = loop {
            let drops = self.pending_drops();
            let mut start = 0;
            let rows: Vec<NewRow<'_>> = batch
                .iter()
                .zip(&self.ends)
                .filter(|(_, &end)| end != usize::MAX)
                .map(|(d, &end)| {
                    let record = &self.arena[start..end];
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
            match res {
                Err(e) if e.is_busy() && attempts < 5 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(10 << attempts));
                }
                Ok(out) => {
                    self.reported.queue_full += drops.queue_full;
                    self.reported.write_errors += drops.write_errors;
                    self.reported.no_room += drops.no_room;
                    break Ok(out);
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(out) => sh.counters.appended(&out),
            Err(e) => sh.counters.write_failed(n, e.is_disk_full()),
        }
        sh.counters.dequeued(n + bad);
        for q in batch.drain(..) {
            sh.lanes.recycle(q);
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

//! The writer thread: drains the lanes (and builds the spans of the
//! deferred queues, [`crate::DeferredQueue`]), encodes each span into a record,
//! appends the batch to the sink in one transaction, counts what it could
//! not write, and wakes flushes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::borrow::Cow;

use tracespool_schema::{is_blank, RecordEncoder, UNNAMED_SPAN};
use tracespool_spool::{NewRow, RecorderDrops};

use crate::handoff::Shared;
use crate::queue::QueuedSpan;
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
    /// This thread's copy of the adapters' resource encoders
    /// (`Shared::span_resources`), refreshed when a new id shows up.
    pub(crate) span_encoders: Vec<Arc<RecordEncoder>>,
    /// Scratch list of the deferred queues (see
    /// [`crate::deferred::DeferredQueues::convert_into`]).
    pub(crate) deferred: Vec<Arc<dyn crate::deferred::Deferred>>,
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
            sh.wake_pending.store(false, Ordering::Release);
            let epoch = sh.flush_requested.load(Ordering::SeqCst);
            let stop = sh.shutdown.load(Ordering::SeqCst);
            // Drain until the queue is empty: every push that completed
            // before `epoch` was read is committed (or counted) below.
            loop {
                sh.lanes.drain_into(&mut batch, self.max_batch);
                let lost = sh.deferred.convert_into(
                    &sh.lanes,
                    &mut batch,
                    self.max_batch,
                    &mut self.deferred,
                );
                if lost > 0 {
                    sh.dropped_other.fetch_add(lost, Ordering::Relaxed);
                }
                if batch.is_empty() {
                    break;
                }
                if sh.space_waiters.load(Ordering::SeqCst) > 0 {
                    let _g = sh.space_lock.lock().unwrap_or_else(|e| e.into_inner());
                    sh.space_cv.notify_all();
                }
                self.write(&mut batch);
            }
            {
                let mut st = sh.flush_done.lock().unwrap_or_else(|e| e.into_inner());
                if epoch > st.done_epoch {
                    st.done_epoch = epoch;
                }
                if stop {
                    st.stopped = true;
                }
                sh.flush_cv.notify_all();
            }
            if stop {
                // Threads may keep this recorder's handle cached until they
                // exit; give back the pooled spans now.
                sh.lanes.empty_pools();
                return;
            }
            if sh.flush_requested.load(Ordering::SeqCst) == epoch
                && !sh.shutdown.load(Ordering::SeqCst)
                && sh.queued() < sh.high_water
            {
                std::thread::park_timeout(self.flush_interval);
            }
        }
    }

    fn pending_drops(&self) -> RecorderDrops {
        let sh = &*self.shared;
        RecorderDrops {
            queue_full: sh.dropped_queue_full() - self.reported.queue_full,
            write_errors: sh.dropped_write_error.load(Ordering::Relaxed)
                - self.reported.write_errors,
        }
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
            let encoder = match d.resource() {
                0 => &sh.encoder,
                id => {
                    let i = id as usize - 1;
                    if i >= self.span_encoders.len() {
                        // A resource registered since: refresh the copy.
                        let list = sh.span_resources.lock().unwrap_or_else(|e| e.into_inner());
                        self.span_encoders = list.iter().map(|(_, e)| e.clone()).collect();
                    }
                    self.span_encoders.get(i).map_or(&sh.encoder, |e| &**e)
                }
            };
            match encoder.append_to(d, &mut self.arena) {
                Ok(()) => self.ends.push(self.arena.len()),
                Err(_) => {
                    self.ends.push(usize::MAX);
                    bad += 1;
                }
            }
        }
        sh.dropped_other.fetch_add(bad, Ordering::Relaxed);
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
                    NewRow {
                        trace_id: &d.trace_id.0,
                        span_id: &d.span_id.0,
                        parent_span_id: d.parent_span_id.as_ref().map(|p| &p.0),
                        name: &d.name,
                        start_ns: d.start_ns,
                        end_ns: d.end_ns,
                        record,
                    }
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
                    break Ok(out);
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(out) => {
                sh.written.fetch_add(out.written, Ordering::Relaxed);
                sh.dropped_budget
                    .fetch_add(out.refused_newest + out.refused_oversize, Ordering::Relaxed);
                sh.dropped_age.fetch_add(out.refused_age, Ordering::Relaxed);
                sh.evicted_by_budget
                    .fetch_add(out.evicted_oldest, Ordering::Relaxed);
            }
            Err(_) => {
                sh.dropped_write_error.fetch_add(n, Ordering::Relaxed);
            }
        }
        sh.dequeued.fetch_add(n + bad, Ordering::Release);
        for q in batch.drain(..) {
            sh.lanes.recycle(q);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Runs on a normal return and on a panic of the writer thread alike:
        // waiters must never hang on a writer that is gone.
        let mut st = self
            .shared
            .flush_done
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        st.stopped = true;
        self.shared.flush_cv.notify_all();
    }
}

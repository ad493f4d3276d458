//! The recorder handle: starting spans, stats, flush and shutdown, and the
//! guard that stops the writer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracespool_schema::{SpanData, SpanId, SpanKind, Str, TraceId};

use crate::clock::now_ns;
use crate::context::SpanContext;
use crate::handoff::{Shared, ThreadHandle, HANDLE};
use crate::span::{enter_ctx, Recording, Span};

/// Why a flush did not confirm every span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The writer did not finish in time.
    #[error("flush timed out")]
    Timeout,
    /// The recorder was shut down.
    #[error("the recorder is shut down")]
    ShutDown,
    /// Spans were dropped on write errors since the previous flush (while
    /// this one waited, or before it began): every such span is reported
    /// by exactly one flush.
    #[error("{0} spans could not be written to the spool")]
    WriteErrors(u64),
}

/// Counters of a recorder (this process only; the spool has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Spans ended and accepted into the queue.
    pub recorded: u64,
    /// Spans not recorded by the sampler.
    pub sampled_out: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because the spool could not be written.
    pub dropped_write_error: u64,
    /// Spans of this recorder refused by the spool's size budget
    /// (`OnBudget::DropNewest`), or too large to fit at all.
    pub dropped_budget: u64,
    /// Older rows the budget deleted to make room for this recorder's spans.
    pub evicted_by_budget: u64,
    /// Spans dropped because they were older than the spool's `max_age`.
    pub dropped_age: u64,
    /// Spans that could not be encoded (over 16 MiB) or ended after shutdown.
    pub dropped_other: u64,
    /// Spans committed to the spool.
    pub written: u64,
    /// Spans waiting in the queue now.
    pub queued: u64,
}

/// The cheap, cloneable handle that records spans. Clones share one queue
/// and one writer thread.
#[derive(Clone)]
pub struct Recorder {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Recorder {
    /// Starts a span whose parent is this thread's current span (or a new
    /// trace if there is none).
    pub fn span(&self, name: impl Into<Str>) -> Span {
        self.start_with(
            name.into(),
            SpanContext::current(),
            SpanKind::Unspecified,
            None,
            |_| {},
        )
    }

    /// Runs `f` inside a new span that is current for its duration.
    pub fn in_span<T>(&self, name: impl Into<Str>, f: impl FnOnce(&mut Span) -> T) -> T {
        let mut span = self.span(name);
        let guard = enter_ctx(span.context());
        let out = f(&mut span);
        drop(guard);
        out
    }

    pub(crate) fn start_with(
        &self,
        name: Str,
        parent: Option<SpanContext>,
        kind: SpanKind,
        start_ns: Option<u64>,
        init: impl FnOnce(&mut SpanData),
    ) -> Span {
        let trace_id = parent.map(|p| p.trace_id()).unwrap_or_else(TraceId::random);
        let span_id = SpanId::random();
        let sampled = self
            .shared
            .sampler
            .should_sample(trace_id, parent.map(|p| p.is_sampled()));
        let ctx = SpanContext::local(trace_id, span_id, sampled);
        if !sampled || self.shared.shutdown.load(Ordering::Relaxed) {
            if !sampled {
                self.shared.sampled_out.fetch_add(1, Ordering::Relaxed);
            } else {
                self.shared.dropped_other.fetch_add(1, Ordering::Relaxed);
            }
            return Span::new(ctx, None);
        }
        let handle = self.thread_handle();
        let mut data = self.shared.lanes.take(handle.lane);
        data.trace_id = trace_id;
        data.span_id = span_id;
        data.name = name;
        data.parent_span_id = parent.map(|p| p.span_id());
        data.parent_is_remote = parent.is_some_and(|p| p.is_remote());
        data.kind = kind;
        data.start_ns = start_ns.unwrap_or_else(now_ns);
        data.end_ns = 0;
        init(&mut data);
        Span::new(ctx, Some(Recording { handle, data }))
    }

    /// This thread's handle on the recorder (see [`ThreadHandle`]).
    pub(crate) fn thread_handle(&self) -> Arc<ThreadHandle> {
        let make = || {
            Arc::new(ThreadHandle {
                shared: self.shared.clone(),
                lane: self.shared.next_lane.fetch_add(1, Ordering::Relaxed)
                    % self.shared.lanes.count(),
            })
        };
        HANDLE
            .try_with(|h| {
                let Ok(mut h) = h.try_borrow_mut() else {
                    return make();
                };
                match &*h {
                    Some(t) if Arc::ptr_eq(&t.shared, &self.shared) => t.clone(),
                    _ => {
                        let t = make();
                        *h = Some(t.clone());
                        t
                    }
                }
            })
            .unwrap_or_else(|_| make())
    }
}

impl Recorder {
    /// This recorder's counters.
    pub fn stats(&self) -> RecorderStats {
        let s = &*self.shared;
        let queued = s.queued() as u64;
        RecorderStats {
            recorded: s.dequeued.load(Ordering::Acquire) + queued,
            sampled_out: s.sampled_out.load(Ordering::Relaxed),
            dropped_queue_full: s.dropped_queue_full(),
            dropped_write_error: s.dropped_write_error.load(Ordering::Relaxed),
            dropped_budget: s.dropped_budget.load(Ordering::Relaxed),
            evicted_by_budget: s.evicted_by_budget.load(Ordering::Relaxed),
            dropped_age: s.dropped_age.load(Ordering::Relaxed),
            dropped_other: s.dropped_other.load(Ordering::Relaxed),
            written: s.written.load(Ordering::Acquire),
            queued,
        }
    }

    /// Waits (up to 30 s) until every span ended before this call is
    /// committed to the spool. See [`Recorder::flush_timeout`].
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(Duration::from_secs(30))
    }

    /// Waits until every span ended before this call is committed to the
    /// spool, or counted as dropped. `Ok` means all were committed (or
    /// removed by the spool's own budget, which is counted there).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let sh = &*self.shared;
        let epoch = sh.flush_requested.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(t) = sh.writer.get() {
            t.unpark();
        }
        let deadline = Instant::now() + timeout;
        let mut st = sh.flush_done.lock().unwrap_or_else(|e| e.into_inner());
        while st.done_epoch < epoch {
            if st.stopped {
                return Err(FlushError::ShutDown);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout);
            }
            st = sh
                .flush_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(st);
        // Spans lost since the last report, also before this call began (a
        // span ended before it may have failed to be written already).
        let errors = sh.dropped_write_error.load(Ordering::Acquire);
        let lost =
            errors.saturating_sub(sh.write_errors_reported.fetch_max(errors, Ordering::AcqRel));
        if lost > 0 {
            return Err(FlushError::WriteErrors(lost));
        }
        Ok(())
    }

    /// Flushes and stops the writer thread, waiting at most `timeout`.
    /// Idempotent; spans ended afterwards are counted in `dropped_other`.
    /// Returns whether the writer stopped in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let sh = &*self.shared;
        sh.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = sh.writer.get() {
            t.unpark();
        }
        let deadline = Instant::now() + timeout;
        let mut st = sh.flush_done.lock().unwrap_or_else(|e| e.into_inner());
        while !st.stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = sh
                .flush_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Flushes and stops the writer when dropped (waiting at most 5 s). Keep it
/// alive for as long as the program records spans.
#[must_use = "dropping the guard stops the recorder's writer thread"]
pub struct FlushGuard {
    pub(crate) recorder: Recorder,
    pub(crate) handle: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushGuard").finish_non_exhaustive()
    }
}

impl FlushGuard {
    /// The recorder this guard stops.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if self.recorder.shutdown(Duration::from_secs(5)) {
            let h = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(h) = h {
                let _ = h.join();
            }
        }
    }
}

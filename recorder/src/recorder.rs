//! The recorder handle: starting spans, stats, flush and shutdown, and the
//! guard that stops the writer.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracespool_schema::{SpanData, SpanId, SpanKind, Str, TraceId};

use crate::clock::now_ns;
use crate::context::SpanContext;
use crate::handoff::ThreadHandle;
use crate::shared::Shared;
use crate::signals::Waited;
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
    /// Of `dropped_write_error`, those dropped for lack of room on the
    /// file system (beyond the space reserve kept for the uploader).
    pub dropped_no_room: u64,
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
        let sh = &*self.shared;
        let sampled = sh
            .settings
            .sampler
            .should_sample(trace_id, parent.map(|p| p.is_sampled()));
        let ctx = SpanContext::local(trace_id, span_id, sampled);
        if !sampled {
            sh.counters.sampled_out();
            return Span::new(ctx, None);
        }
        if sh.signals.is_shutdown() {
            sh.counters.dropped_other(1);
            return Span::new(ctx, None);
        }
        let handle = ThreadHandle::for_thread(&self.shared);
        let mut data = sh.lanes.take(handle.lane);
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
}

impl Recorder {
    /// This recorder's counters.
    pub fn stats(&self) -> RecorderStats {
        let sh = &*self.shared;
        let queued = sh.queued() as u64;
        let c = sh.counters.snapshot();
        RecorderStats {
            recorded: c.dequeued + queued,
            sampled_out: c.sampled_out,
            dropped_queue_full: sh.dropped_queue_full(),
            dropped_write_error: c.dropped_write_error,
            dropped_no_room: c.dropped_no_room,
            dropped_budget: c.dropped_budget,
            evicted_by_budget: c.evicted_by_budget,
            dropped_age: c.dropped_age,
            dropped_other: c.dropped_other,
            written: c.written,
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
        match sh.signals.flush(Instant::now() + timeout) {
            Waited::Done => {}
            Waited::Stopped => return Err(FlushError::ShutDown),
            Waited::TimedOut => return Err(FlushError::Timeout),
        }
        // Spans lost since the last report, also before this call began (a
        // span ended before it may have failed to be written already).
        match sh.counters.unreported_write_errors() {
            0 => Ok(()),
            lost => Err(FlushError::WriteErrors(lost)),
        }
    }

    /// Flushes and stops the writer thread, waiting at most `timeout`.
    /// Idempotent; spans ended afterwards are counted in `dropped_other`.
    /// Returns whether the writer stopped in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.shared.signals.shutdown(Instant::now() + timeout)
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

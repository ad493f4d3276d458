//! The recorder: builder, cloneable handle, writer thread and flush guard.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use tracespool_schema::{
    Attribute, AttributeValue, RecordEncoder, Resource, SpanData, SpanId, SpanKind, Str, TraceId,
};

use crate::queue::{Lanes, QueuedSpan};
use crate::sampler::Sampler;
use crate::span::{ParentChoice, Recording, Span, SpanBuilder, SpanContext};
use crate::spool::{
    AppendOutcome, Budget, Durability, NewRow, OnBudget, RecorderDrops, SpoolError, SpoolOptions,
    SpoolWriter,
};

pub(crate) use crate::clock::now_ns;

/// What recording does when the queue to the writer thread is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnFull {
    /// Drop the span being ended and count it (`dropped_queue_full`). The
    /// caller never waits. The default.
    #[default]
    DropNewest,
    /// Wait until the writer makes room (the caller may block; nothing is
    /// dropped while the spool is writable). For batch jobs and load tests.
    Block,
}

/// Where the writer thread puts batches. The real one is [`SqliteSink`];
/// tests put a faulty one in front to prove the recorder survives I/O
/// failures.
pub trait SpanSink: Send + 'static {
    /// Appends one batch (all or nothing) and reports the recorder's drops
    /// that have not been reported yet.
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError>;
}

/// The SQLite spool as a [`SpanSink`]. Reopens the file when it was deleted
/// or replaced, and after a failed write (at most once a second).
#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    budget: Budget,
    opts: SpoolOptions,
    writer: Option<SpoolWriter>,
    next_open: Instant,
}

impl SqliteSink {
    /// Opens the spool now, so that configuration errors surface at once.
    pub fn open(path: &Path, budget: Budget, opts: SpoolOptions) -> Result<Self, SpoolError> {
        let writer = SpoolWriter::open(path, budget, &opts)?;
        Ok(SqliteSink {
            path: path.to_owned(),
            budget,
            opts,
            writer: Some(writer),
            next_open: Instant::now(),
        })
    }
}

impl SpanSink for SqliteSink {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        if self.writer.as_ref().is_some_and(|w| !w.still_at_path()) {
            self.writer = None;
        }
        if self.writer.is_none() {
            if Instant::now() < self.next_open {
                return Err(SpoolError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other("spool unavailable; reopening shortly"),
                });
            }
            self.next_open = Instant::now() + Duration::from_secs(1);
            self.writer = Some(SpoolWriter::open(&self.path, self.budget, &self.opts)?);
        }
        let w = self.writer.as_mut().expect("opened above");
        let res = w.append(rows, drops);
        if let Err(e) = &res {
            if !e.is_busy() {
                self.writer = None;
            }
        }
        res
    }
}

/// Why the recorder could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The resource could not be encoded.
    #[error("resource: {0}")]
    Resource(#[from] tracespool_schema::EncodeError),
    /// The writer thread could not be started.
    #[error("start the writer thread: {0}")]
    Thread(std::io::Error),
}

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

struct Shared {
    lanes: Lanes,
    /// Lanes handed to threads so far (round robin).
    next_lane: AtomicUsize,
    high_water: usize,
    on_full: OnFull,
    sampler: Sampler,
    encoder: RecordEncoder,
    // Hot-path counters, touched only on their (rare) events.
    sampled_out: AtomicU64,
    dropped_other: AtomicU64,
    // Writer-side counters (single writer).
    dequeued: AtomicU64,
    written: AtomicU64,
    dropped_write_error: AtomicU64,
    dropped_budget: AtomicU64,
    evicted_by_budget: AtomicU64,
    dropped_age: AtomicU64,
    // Wake-ups and flushes.
    writer: OnceLock<Thread>,
    wake_pending: AtomicBool,
    flush_requested: AtomicU64,
    /// `dropped_write_error` as of the last flush that reported it.
    write_errors_reported: AtomicU64,
    flush_done: Mutex<FlushState>,
    flush_cv: Condvar,
    space_waiters: AtomicUsize,
    space_lock: Mutex<()>,
    space_cv: Condvar,
    shutdown: AtomicBool,
}

#[derive(Default)]
struct FlushState {
    done_epoch: u64,
    stopped: bool,
}

impl Shared {
    fn wake_writer(&self) {
        // A plain read first: while a wake-up is pending (the common case
        // when many spans ask at once), no thread writes the shared line.
        if !self.wake_pending.load(Ordering::Acquire)
            && !self.wake_pending.swap(true, Ordering::AcqRel)
        {
            if let Some(t) = self.writer.get() {
                t.unpark();
            }
        }
    }
}

/// The cheap, cloneable handle that records spans. Clones share one queue
/// and one writer thread.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Configures a [`Recorder`]. From [`Recorder::builder`].
#[derive(Debug)]
#[must_use]
pub struct RecorderBuilder {
    path: PathBuf,
    queue_capacity: usize,
    flush_interval: Duration,
    max_batch: usize,
    on_full: OnFull,
    sampler: Sampler,
    resource: Vec<Attribute>,
    budget: Budget,
    spool_options: SpoolOptions,
}

impl RecorderBuilder {
    /// Spans the queue holds before [`OnFull`] applies (default 8192, about
    /// 4 MiB).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(2);
        self
    }
    /// How often the writer commits (default 100 ms): the most a crash can
    /// lose, in time.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d.max(Duration::from_millis(1));
        self
    }
    /// Most spans per transaction (default 4096).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }
    /// What to do on a full queue (default [`OnFull::DropNewest`]).
    pub fn on_full(mut self, p: OnFull) -> Self {
        self.on_full = p;
        self
    }
    /// The sampler (default parent-based, always on for roots).
    pub fn sampler(mut self, s: Sampler) -> Self {
        self.sampler = s;
        self
    }
    /// Sets `service.name`.
    pub fn service_name(self, name: impl Into<Str>) -> Self {
        self.resource_attribute("service.name", AttributeValue::String(name.into()))
    }
    /// Sets a resource attribute (replacing one with the same key).
    pub fn resource_attribute(
        mut self,
        key: impl Into<Str>,
        value: impl Into<AttributeValue>,
    ) -> Self {
        let a = Attribute::new(key, value);
        self.resource.retain(|x| x.key != a.key);
        self.resource.push(a);
        self
    }
    /// Maximum bytes of spans the spool keeps (see `spool::row_bytes`).
    pub fn max_spool_bytes(mut self, bytes: u64) -> Self {
        self.budget.max_bytes = Some(bytes);
        self
    }
    /// Maximum age of a span in the spool.
    pub fn max_span_age(mut self, age: Duration) -> Self {
        self.budget.max_age = Some(age);
        self
    }
    /// What the size budget drops (default [`OnBudget::DropOldest`]).
    pub fn on_budget(mut self, p: OnBudget) -> Self {
        self.budget.on_budget = p;
        self
    }
    /// Commit durability (default [`Durability::Process`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.spool_options.durability = d;
        self
    }
    /// All spool options at once.
    pub fn spool_options(mut self, o: SpoolOptions) -> Self {
        self.spool_options = o;
        self
    }

    fn resource(&self) -> Resource {
        let mut attrs: Vec<Attribute> = vec![
            Attribute::new("telemetry.sdk.name", "tracespool"),
            Attribute::new("telemetry.sdk.language", "rust"),
            Attribute::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
            Attribute::new("process.pid", i64::from(std::process::id())),
        ];
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            attrs.push(Attribute::new("host.name", h.trim().to_owned()));
        }
        if !self.resource.iter().any(|a| a.key == "service.name") {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            attrs.push(Attribute::new(
                "service.name",
                format!("unknown_service:{exe}"),
            ));
        }
        for a in &self.resource {
            attrs.retain(|x| x.key != a.key);
            attrs.push(a.clone());
        }
        Resource { attributes: attrs }
    }

    /// Opens the spool (creating it, mode 0600) and starts the writer
    /// thread.
    pub fn build(self) -> Result<(Recorder, FlushGuard), BuildError> {
        let sink = SqliteSink::open(&self.path, self.budget, self.spool_options)?;
        self.build_with_sink(sink)
    }

    /// Starts the recorder with a custom [`SpanSink`] (for fault injection
    /// in tests; the path given to the builder is not used).
    pub fn build_with_sink(
        self,
        sink: impl SpanSink,
    ) -> Result<(Recorder, FlushGuard), BuildError> {
        let encoder = RecordEncoder::new(&self.resource())?;
        let shared = Arc::new(Shared {
            lanes: Lanes::new(self.queue_capacity, self.max_batch),
            next_lane: AtomicUsize::new(0),
            high_water: (self.queue_capacity / 2).max(1),
            on_full: self.on_full,
            sampler: self.sampler,
            encoder,
            sampled_out: AtomicU64::new(0),
            dropped_other: AtomicU64::new(0),
            dequeued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped_write_error: AtomicU64::new(0),
            dropped_budget: AtomicU64::new(0),
            evicted_by_budget: AtomicU64::new(0),
            dropped_age: AtomicU64::new(0),
            writer: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            flush_requested: AtomicU64::new(0),
            write_errors_reported: AtomicU64::new(0),
            flush_done: Mutex::new(FlushState::default()),
            flush_cv: Condvar::new(),
            space_waiters: AtomicUsize::new(0),
            space_lock: Mutex::new(()),
            space_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let worker = Writer {
            shared: shared.clone(),
            arena: Vec::with_capacity(self.max_batch * 512),
            ends: Vec::with_capacity(self.max_batch),
            sink: Box::new(sink),
            flush_interval: self.flush_interval,
            max_batch: self.max_batch,
            reported: RecorderDrops::default(),
        };
        let handle = std::thread::Builder::new()
            .name("tracespool-writer".into())
            .spawn(move || worker.run())
            .map_err(BuildError::Thread)?;
        let _ = shared.writer.set(handle.thread().clone());
        let recorder = Recorder { shared };
        let guard = FlushGuard {
            recorder: recorder.clone(),
            handle: Mutex::new(Some(handle)),
        };
        Ok((recorder, guard))
    }
}

impl Recorder {
    /// A builder for a recorder writing to the spool at `path`.
    pub fn builder(path: impl AsRef<Path>) -> RecorderBuilder {
        RecorderBuilder {
            path: path.as_ref().to_owned(),
            queue_capacity: 8192,
            flush_interval: Duration::from_millis(100),
            max_batch: 4096,
            on_full: OnFull::DropNewest,
            sampler: Sampler::default(),
            resource: Vec::new(),
            budget: Budget::default(),
            spool_options: SpoolOptions::default(),
        }
    }

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

    /// A builder for a span with an explicit parent, kind, attributes, links
    /// or start time.
    pub fn span_builder(&self, name: impl Into<Str>) -> SpanBuilder {
        SpanBuilder {
            recorder: self.clone(),
            name: name.into(),
            parent: ParentChoice::Current,
            kind: SpanKind::Unspecified,
            attributes: Vec::new(),
            links: Vec::new(),
            start_ns: None,
        }
    }

    /// Runs `f` inside a new span that is current for its duration.
    pub fn in_span<T>(&self, name: impl Into<Str>, f: impl FnOnce(&mut Span) -> T) -> T {
        let mut span = self.span(name);
        let guard = crate::span::enter_ctx(span.context());
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
    fn thread_handle(&self) -> Arc<ThreadHandle> {
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

/// A per-thread reference to a recorder. Every span holds one, so starting
/// and ending spans on a thread changes a reference count that only that
/// thread touches, instead of one count shared (and bounced between cores)
/// by every thread. Each thread caches the handle of the last recorder it
/// used.
pub(crate) struct ThreadHandle {
    shared: Arc<Shared>,
    /// This thread's lane of the queue (see [`crate::queue::Lanes`]).
    lane: usize,
}

thread_local! {
    static PUSHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static HANDLE: std::cell::RefCell<Option<Arc<ThreadHandle>>> = const { std::cell::RefCell::new(None) };
}

impl ThreadHandle {
    /// Queues a finished span for the writer.
    #[inline]
    pub(crate) fn submit(&self, data: QueuedSpan) {
        let sh = &*self.shared;
        let mut q = data;
        loop {
            // Reading the lane's length touches the cache lines the writer
            // is updating: do it every 32nd span of a thread.
            let n = PUSHES.with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n
            });
            match sh.lanes.push(self.lane, q, n.is_multiple_of(32)) {
                Ok(wake) => {
                    if wake {
                        sh.wake_writer();
                    }
                    return;
                }
                Err(back) => {
                    if sh.on_full == OnFull::DropNewest || sh.shutdown.load(Ordering::Acquire) {
                        sh.lanes.count_drop(self.lane);
                        sh.lanes.recycle(back);
                        sh.wake_writer();
                        return;
                    }
                    q = back;
                    sh.wake_writer();
                    sh.space_waiters.fetch_add(1, Ordering::SeqCst);
                    let g = sh.space_lock.lock().unwrap_or_else(|e| e.into_inner());
                    if sh.lanes.is_full() {
                        // Bounded wait: a missed notification costs 1 ms, not a hang.
                        let _ = sh.space_cv.wait_timeout(g, Duration::from_millis(1));
                    }
                    sh.space_waiters.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}

impl Recorder {
    /// This recorder's counters.
    pub fn stats(&self) -> RecorderStats {
        let s = &*self.shared;
        let queued = s.lanes.len() as u64;
        RecorderStats {
            recorded: s.dequeued.load(Ordering::Acquire) + queued,
            sampled_out: s.sampled_out.load(Ordering::Relaxed),
            dropped_queue_full: s.lanes.dropped(),
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
    recorder: Recorder,
    handle: Mutex<Option<JoinHandle<()>>>,
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

struct Writer {
    shared: Arc<Shared>,
    /// The batch's encoded records, back to back, and where each ends.
    arena: Vec<u8>,
    ends: Vec<usize>,
    sink: Box<dyn SpanSink>,
    flush_interval: Duration,
    max_batch: usize,
    reported: RecorderDrops,
}

impl Writer {
    fn run(mut self) {
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
                && sh.lanes.len() < sh.high_water
            {
                std::thread::park_timeout(self.flush_interval);
            }
        }
    }

    fn pending_drops(&self) -> RecorderDrops {
        let sh = &*self.shared;
        RecorderDrops {
            queue_full: sh.lanes.dropped() - self.reported.queue_full,
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
        for d in batch.iter() {
            // `usize::MAX` marks a span that is not written.
            match sh.encoder.append_to(d, &mut self.arena) {
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

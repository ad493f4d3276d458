//! # tracespool: record spans offline, upload them later
//!
//! The recorder records spans with almost no cost on the caller's thread and
//! appends them to a local SQLite **spool**. It never touches the network,
//! DNS or credentials; the separate `tracespool upload` process replays the
//! spool to Google Cloud Trace when it can.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracespool::{Recorder, SpanKind};
//!
//! let (recorder, _guard) = Recorder::builder("/var/lib/myapp/traces.spool")
//!     .service_name("myapp")
//!     .build()
//!     .expect("open the spool");
//!
//! let mut root = recorder.span("handle request").entered();
//! root.set_attribute("http.request.method", "GET");
//! {
//!     // Nested spans find their parent through the thread's current span.
//!     let mut child = recorder.span("load user").entered();
//!     child.set_kind(SpanKind::Client);
//!     child.add_annotation("cache miss", vec![]);
//! }
//! drop(root);
//! recorder.flush_timeout(Duration::from_secs(5)).ok();
//! // `_guard` flushes and stops the writer thread when dropped.
//! ```
//!
//! ## How a span travels
//!
//! 1. [`Recorder::span`] reads the clock, draws ids from a per-thread
//!    generator and consults the [`Sampler`]. The span's data lives in a
//!    cleared `Box<SpanData>` taken from a lock-free pool, so attributes and
//!    events go into vectors whose capacity is reused.
//! 2. When the span ends (drop or [`Span::end`]) the box (one pointer) is
//!    pushed onto a bounded lock-free queue. Nothing is encoded, allocated
//!    or freed on the caller's thread in the steady state.
//! 3. One writer thread per recorder drains the queue every flush interval
//!    (100 ms by default), when it is half full, or on [`Recorder::flush`];
//!    it encodes each span into a versioned record (`tracespool-schema`),
//!    appends the batch to the spool in one transaction (see `tracespool-spool`) and
//!    returns the boxes to the pool.
//!
//! ## The API in three tiers
//!
//! * **Applications** use what the crate root exports: [`Recorder`] and its
//!   builder, [`Span`] and its guards, [`SpanContext`] and propagation,
//!   the value types, and the spool settings the builder takes.
//! * **Adapters** of other instrumentation libraries (`tracing`,
//!   OpenTelemetry) use [`adapter`]: finished spans recorded with
//!   [`Recorder::record_finished`] (the same pooled box, filled on the
//!   caller's thread) or through a [`adapter::DeferredQueue`] (their own
//!   span value, converted on the writer thread), with interning and the
//!   model types they fill.
//! * **Tests and benchmarks** use [`testing`]: a recorder in front of
//!   another sink than the spool.
//!
//! A crash loses at most the spans ended in the last flush interval (plus a
//! commit). [`Recorder::flush`] waits until everything ended so far is
//! committed. Recording never returns an error and never panics: a full
//! queue, a full disk or a deleted spool file are counted in
//! [`Recorder::stats`] and, once the spool is writable again, in the spool.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
mod builder;
mod caps;
mod clock;
mod compressing_thread;
mod context;
mod counters;
mod deferred_queues;
mod handoff;
pub mod limits;
mod policy;
mod propagation;
mod queue;
mod record_compression;
mod recorder;
mod resources;
mod sampler;
mod shared;
mod signals;
mod sink;
mod span;
mod span_builder;
pub mod testing;
mod writer;

pub use builder::{BuildError, RecorderBuilder};
pub use clock::now_ns;
pub use context::SpanContext;
pub use policy::OnFull;
pub use propagation::{
    format_traceparent, format_x_cloud_trace_context, parse_traceparent,
    parse_x_cloud_trace_context, PropagationError,
};
pub use record_compression::RecordCompression;
pub use recorder::{FlushError, FlushGuard, Recorder, RecorderStats};
pub use sampler::Sampler;
pub use span::{Entered, EnteredSpan, Span};
pub use span_builder::SpanBuilder;
pub use tracespool_schema::{
    Attribute, AttributeValue, LinkKind, MessageKind, SpanId, SpanKind, StatusCode, Str, TraceId,
};
pub use tracespool_spool::{Durability, NetworkFs, OnBudget, Reserve, SpoolOptions};

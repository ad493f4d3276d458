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
//!    appends the batch to the spool in one transaction (see [`spool`]) and
//!    returns the boxes to the pool.
//!
//! Adapters of other instrumentation libraries record finished spans with
//! [`Recorder::record_finished`] (the same pooled box, filled on the
//! caller's thread) or through a [`DeferredQueue`] (their own span value,
//! converted on the writer thread).
//!
//! A crash loses at most the spans ended in the last flush interval (plus a
//! commit). [`Recorder::flush`] waits until everything ended so far is
//! committed. Recording never returns an error and never panics: a full
//! queue, a full disk or a deleted spool file are counted in
//! [`Recorder::stats`] and, once the spool is writable again, in the spool.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adapter;
mod builder;
mod clock;
mod context;
mod deferred;
mod handoff;
pub mod intern;
mod propagation;
mod queue;
mod recorder;
mod sampler;
mod sink;
mod span;
mod span_builder;
mod writer;

pub use adapter::SpanResource;
pub use builder::{BuildError, RecorderBuilder};
pub use clock::now_ns;
pub use context::SpanContext;
pub use deferred::{DeferredQueue, FinishedSpan};
pub use handoff::OnFull;
pub use propagation::{
    format_traceparent, format_x_cloud_trace_context, parse_traceparent,
    parse_x_cloud_trace_context, PropagationError,
};
pub use recorder::{FlushError, FlushGuard, Recorder, RecorderStats};
pub use sampler::Sampler;
pub use sink::{SpanSink, SqliteSink};
pub use span::{Entered, EnteredSpan, Span};
pub use span_builder::SpanBuilder;
pub use tracespool_schema as schema;
pub use tracespool_schema::{
    Attribute, AttributeValue, LinkKind, MessageKind, SpanId, SpanKind, StatusCode, TraceId,
};
/// The spool's writing half and its types (`tracespool-spool`), for
/// [`SpanSink`] implementations and budget settings.
pub use tracespool_spool as spool;

/// Per-span caps applied while recording, so one runaway span cannot grow
/// without bound. What is over a cap is dropped and counted in the span's
/// `dropped` counts. (Cloud Trace's own, lower limits are applied by the
/// uploader.)
pub mod limits {
    /// Attributes kept per span.
    pub const MAX_ATTRIBUTES: usize = 128;
    /// Annotations kept per span.
    pub const MAX_ANNOTATIONS: usize = 128;
    /// Message events kept per span.
    pub const MAX_MESSAGE_EVENTS: usize = 128;
    /// Links kept per span.
    pub const MAX_LINKS: usize = 128;
}

//! The API for adapters: integrations that already have a finished span
//! with its own ids, times, scope and resource (OpenTelemetry's
//! `SpanData`, a `tracing` span) and want it in the spool. Applications
//! do not need it; `tracespool-tracing` and `tracespool-opentelemetry` are
//! built on it.
//!
//! Two ways in, both with the hot path's lanes, drop policy and counters:
//!
//! * [`crate::Recorder::record_finished`] (and
//!   [`record_finished_with`](crate::Recorder::record_finished_with) for
//!   another [`SpanResource`]): the adapter fills a pooled, cleared
//!   [`SpanData`] on its own thread. Its vectors keep their capacity
//!   between spans, so an adapter that `extend`s them allocates nothing in
//!   the steady state beyond what its input forces.
//! * A [`DeferredQueue`] of the adapter's own span values
//!   ([`crate::Recorder::deferred_queue`]): the caller's thread pays one
//!   move into a preallocated slot, and the writer thread builds the span
//!   ([`FinishedSpan::fill`]).
//!
//! A span recorded here is not given to the recorder's
//! [`crate::Sampler`]: an adapter's spans were sampled by their own
//! framework. The recorder's caps ([`crate::limits`]) are applied and
//! counted, and an end before the start becomes the start. Keys, and
//! string values that repeat, can be interned ([`intern`]) so that an
//! adapter handing over `&str` does not allocate per span. Stamp events
//! with [`crate::now_ns`], the clock spans are timed with.
//!
//! The model types an adapter fills are re-exported here from
//! `tracespool-schema`.

mod deferred;
mod finished;
pub mod intern;
mod resource;

pub use crate::deferred_queues::FinishedSpan;
pub use deferred::DeferredQueue;
pub use resource::SpanResource;
pub use tracespool_schema::{
    DroppedCounts, EncodeError, InstrumentationScope, Link, Resource, SpanData, Status, Str,
    TimeEvent, TimeEventKind, TRACE_FLAG_SAMPLED,
};

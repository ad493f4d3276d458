//! # tracespool-opentelemetry: OpenTelemetry spans into a tracespool spool
//!
//! An application on the OpenTelemetry API (directly, or through
//! `tracing-opentelemetry`) becomes offline first by changing one line:
//! the provider's span processor.
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let (recorder, _guard) = tracespool::Recorder::builder("/var/lib/myapp/traces.spool")
//!     .service_name("myapp")
//!     .build()?;
//! let provider = SdkTracerProvider::builder()
//!     // was: .with_batch_exporter(exporter)
//!     .with_span_processor(tracespool_opentelemetry::SpoolSpanProcessor::new(recorder))
//!     .build();
//! let tracer = provider.tracer("my-crate");
//! tracer.in_span("handle request", |_cx| { /* ... */ });
//! provider.shutdown().ok();
//! # Ok::<(), tracespool::BuildError>(())
//! ```
//!
//! # How it works
//!
//! [`SpoolSpanProcessor::on_end`] moves each finished, sampled span into
//! the recorder's queue ([`tracespool::adapter::DeferredQueue`]): no batch thread of
//! its own, and on the application's thread no more work than the batch
//! processor's hand-off, one move into a preallocated slot. The recorder's
//! writer thread converts the span ([`fill_span`]) and appends it to the
//! SQLite spool; the separate `tracespool upload` process sends it on when
//! the network and credentials are there. A span is never
//! kept only in RAM waiting for an export that may fail.
//!
//! | `SpanData` | spool span |
//! |---|---|
//! | trace id, span id, trace flags, trace state | the same |
//! | parent span id, `parent_span_is_remote` | parent (none when invalid), remote flag |
//! | name, kind, start and end times | the same (a time before 1970 is 0) |
//! | attributes (arrays included), `dropped_attributes_count` | typed attributes, arrays as arrays; dropped count |
//! | events (name, time, attributes, dropped count), `events.dropped_count` | annotations at their times, each with its dropped count; dropped annotations |
//! | links (context with flags, state and remote flag, attributes, dropped count), `links.dropped_count` | links with the same; dropped links |
//! | status `Unset` / `Ok` / `Error { description }` | the same |
//! | instrumentation scope (name, version, schema URL, attributes) | the span's scope |
//! | the provider's resource ([`SpanProcessor::set_resource`]) | the record's resource: see below |
//!
//! **Resource.** The record carries the provider's resource merged over the
//! recorder's: the provider's attributes and schema URL win, except that
//! the recorder keeps its `telemetry.sdk.*` (tracespool wrote the record)
//! and a `service.name` the provider only defaulted (`unknown_service…`)
//! does not replace the recorder's. The recorder's `host.name` and
//! `process.pid` stay unless the provider has its own.
//!
//! **Sampling.** Only sampled spans are recorded, as OpenTelemetry's batch
//! processor exports only those; the recorder's own sampler does not apply.
//!
//! **Flush and shutdown.** [`SpanProcessor::force_flush`] waits until every
//! span ended so far is committed to the spool (the recorder's flush);
//! shutdown flushes and stops the recorder's writer thread. Spans that could
//! not be written are reported by the flush as an error, and counted in
//! [`tracespool::Recorder::stats`] either way.
//!
//! [`SpoolSpanExporter`] is the same as a `SpanExporter`, for code that
//! must configure an exporter; it adds the SDK's batch thread in front, so
//! prefer the processor.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod convert;
mod exporter;
mod processor;
mod resource;

pub use convert::fill_span;
pub use exporter::SpoolSpanExporter;
pub use processor::SpoolSpanProcessor;
pub use resource::merged_resource;

#[cfg(doc)]
use opentelemetry_sdk::trace::SpanProcessor;

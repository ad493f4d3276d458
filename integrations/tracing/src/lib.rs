//! # tracespool-tracing: `tracing` spans into a tracespool spool
//!
//! Rust services already emit spans through [`tracing`] (tokio, hyper,
//! axum, tonic, reqwest and sqlx do, and so do `#[instrument]` and
//! `info_span!`). [`TracespoolLayer`] is a `tracing_subscriber` layer that
//! records them with a [`tracespool::Recorder`]: into the local spool, at
//! the recorder's cost, with no network on the application's side. The
//! `tracespool upload` process sends them on when it can.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let (recorder, _guard) = tracespool::Recorder::builder("/var/lib/myapp/traces.spool")
//!     .service_name("myapp")
//!     .build()?;
//! tracing_subscriber::registry()
//!     .with(tracespool_tracing::TracespoolLayer::new(recorder))
//!     .init();
//!
//! let span = tracing::info_span!("handle request", http.request.method = "GET");
//! let _entered = span.enter();
//! tracing::info!(user = 42, "loaded the user");
//! # Ok::<(), tracespool::BuildError>(())
//! ```
//!
//! # What becomes what
//!
//! | `tracing` | spool span |
//! |---|---|
//! | a span, from creation to close | one span with its true duration, however often it was entered, on whichever threads (`.await` points included) |
//! | its parent: explicit `parent:`, else the current span | the parent; the nearest ancestor this layer recorded (a span filtered out is skipped); none: a new trace |
//! | fields (`i64`, `u64`, `i128`/`u128`, `bool`, `f64`, `&str`, `Debug`, errors) and `Span::record` | typed attributes (`u64` above `i64::MAX` and 128-bit integers as exact decimal text; `Debug` values and errors as text) |
//! | an event inside a span | an annotation at the event's time: its `message` as description, its other fields and `level` as attributes, and `target` when it is not the span's |
//! | `follows_from` | a link |
//! | `otel.name`, `otel.kind` (`server`, `client`, `producer`, `consumer`, `internal`) | the span's name and kind |
//! | `otel.status_code` (`ok`, `error`), `otel.status_message` | the status |
//! | an `error` field | status error with the field's text, and `exception.message` |
//! | an ERROR event | status error with the event's message, unless `otel.status_code` set the status |
//! | the span's `target` | attribute `code.namespace` |
//!
//! A span from another process joins its trace with [`SpanExt`]:
//! `span.set_parent_from_traceparent(header)`; [`SpanExt::traceparent`]
//! gives the header for outgoing requests.
//!
//! The layer works beside `fmt` and any other layer, and under per-layer
//! filters (`TracespoolLayer::new(rec).with_filter(...)`): a span the filter
//! drops is not recorded, and its children attach to the nearest recorded
//! ancestor.
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod ext;
mod fields;
mod layer;

pub use ext::SpanExt;
pub use layer::TracespoolLayer;

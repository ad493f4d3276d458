//! Destinations: where spans go, and everything that differs between them.
//!
//! The upload loop, the dry run, `export` and `doctor` know a destination
//! only through [`Destination`]: its URL and headers, how it writes each
//! span as a piece of a request body ([`PieceWriter`]) and frames pieces
//! into a body ([`Framing`]), what its answers mean, which spans it refuses
//! for age, and how its bodies read as JSON. Each destination lives in its
//! own folder with its limits and its conversion; the repairs every
//! destination applies live in [`crate::repair`], the decisions they share
//! in [`crate::answer`].
//!
//! | destination | `--sink` | URL | body | default endpoint | default compression |
//! |---|---|---|---|---|---|
//! | [`cloudtrace`] | `cloudtrace` | `{endpoint}/v2/projects/{project}/traces:batchWrite` | JSON | `https://cloudtrace.googleapis.com` | none |
//! | [`otlp`] | `otlp` | `{endpoint}/v1/traces` | OTLP protobuf | `https://telemetry.googleapis.com` | gzip |
//!
//! # Invariants
//!
//! * **A span is encoded once per batch.** A [`PieceWriter`] appends each
//!   span to the batch's buffer as a piece; the body of any subset of the
//!   batch (after a 400 splits it) is framed from the same pieces, never
//!   re-encoded.
//! * **Pure where it decides.** Converting a span and reading an answer
//!   are pure functions of their inputs, unit-tested in each folder
//!   without a network.
//! * **Nothing here touches the spool.** What a decision does to rows is
//!   the upload loop's business (`crate::upload`).
//!
//! # Adding a destination
//!
//! A folder beside `cloudtrace/` and `otlp/` with a type that implements
//! [`Destination`] (declared here with `pub(crate) mod`), and one line in
//! [`sink::DESTINATIONS`]. `--sink`, `export --format`, the dry run and
//! `doctor` pick it up from there.

use std::io::Write;
use std::ops::Range;

use tracespool_schema::{Resource, SpanData};

use crate::answer::{classify_refusal, classify_transport, Answer, Decision};
use crate::compression::Compression;
use crate::repair::ConvertOptions;

pub(crate) mod cloudtrace;
pub(crate) mod otlp;
pub(crate) mod requests;
pub(crate) mod sink;

/// Where a span's piece is in its batch's buffer, and its group (for
/// destinations that group spans by resource and scope; 0 otherwise).
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub(crate) range: Range<usize>,
    pub(crate) resource: u16,
    pub(crate) scope: u16,
    /// The attributes the piece carries, its events' and links' included
    /// (for destinations that limit them per group; 0 otherwise).
    pub(crate) attributes: u32,
}

/// Writes the spans of one batch as pieces of its buffer (on the
/// preparing thread).
pub(crate) trait PieceWriter: Send {
    /// Starts a batch in `buf` (empty).
    fn begin(&mut self, buf: &mut Vec<u8>);
    /// Appends one span; `first`: the batch's first span; `now_ns`: the
    /// uploader's clock for the time limits.
    fn write(
        &mut self,
        buf: &mut Vec<u8>,
        first: bool,
        span: &SpanData,
        resource: &Resource,
        now_ns: u64,
    ) -> Piece;
    /// Ends the batch: how its pieces become a body, and the body for all
    /// of `pieces` when it is not `buf` itself.
    fn finish(
        &mut self,
        buf: &mut Vec<u8>,
        pieces: &[&Piece],
    ) -> (Box<dyn Framing>, Option<Vec<u8>>);
}

/// How the pieces of one batch become a request body.
pub(crate) trait Framing: Send + Sync {
    /// The uncompressed body for `pieces` (a subset of the batch's, in
    /// order) cut from `buf`.
    fn body(&self, buf: &[u8], pieces: &mut dyn Iterator<Item = &Piece>) -> Vec<u8>;
}

/// How `doctor` checks a destination's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `GET` the endpoint: any HTTP answer proves the network path and TLS.
    AnyAnswer,
    /// `POST` an empty request body to the upload URL with the upload's
    /// headers and token: a 2xx proves them all (an empty OTLP export is a
    /// valid request that stores nothing).
    EmptyRequest,
}

/// Everything that differs between destinations.
pub(crate) trait Destination: Sync {
    /// The name on the command line (`--sink NAME`).
    fn name(&self) -> &'static str;
    /// Its name for people, in messages (`Cloud Trace`, `OTLP`).
    fn display_name(&self) -> &'static str;
    /// The `export --format` name of its request bodies.
    fn export_format(&self) -> &'static str;
    /// One line for `--help`.
    fn description(&self) -> &'static str;
    /// The endpoint used without `--endpoint`.
    fn default_endpoint(&self) -> &'static str;
    /// The compression used without `--compression`.
    fn default_compression(&self) -> Compression;
    /// Whether a project is needed (`authenticated`: requests carry a
    /// token).
    fn needs_project(&self, authenticated: bool) -> bool;
    /// The request URL.
    fn url(&self, endpoint: &str, project: &str) -> String;
    /// The request body's content type.
    fn content_type(&self) -> &'static str;
    /// Headers of its own, besides the content type and encoding and the
    /// operator's `--header`s (which may override them).
    fn own_headers(&self, project: &str, authenticated: bool) -> Vec<(&'static str, String)>;
    /// Whether spans past Google's 14-day window
    /// ([`crate::repair::is_expired`]) are dropped before sending, counted
    /// as `upload_expired`, for this endpoint.
    fn expires_old_spans(&self, endpoint: &str) -> bool;
    /// Whether the OpenTelemetry exporter variables
    /// (`OTEL_EXPORTER_OTLP_*`) configure this destination.
    fn reads_otel_environment(&self) -> bool {
        false
    }
    /// The largest request body (uncompressed) to send, if any: a batch
    /// whose body is larger goes out in parts, each within it.
    fn max_request_bytes(&self) -> Option<usize> {
        None
    }
    /// A writer of request bodies for `project` (empty: none).
    fn piece_writer(&self, project: &str, opts: ConvertOptions) -> Box<dyn PieceWriter>;
    /// What a 2xx body means: delivered, or a partial success.
    fn accepted(&self, body: &[u8]) -> Decision;
    /// The message of an error body, if this destination can read it.
    fn error_message(&self, body: &[u8]) -> Option<String>;
    /// What to check after a 403, 404 or other 4xx.
    fn config_hint(&self) -> &'static str;
    /// Writes an uncompressed request body as JSON (the dry run, `export`).
    fn write_body_json(&self, raw: &[u8], out: &mut dyn Write) -> anyhow::Result<()>;
    /// How `doctor` checks the endpoint.
    fn probe(&self) -> Probe;

    /// The decision for one attempt at a batch of `batch_len` spans.
    fn classify(&self, answer: &Answer, batch_len: usize, token_was_fresh: bool) -> Decision {
        match answer {
            Answer::Http { status, body, .. } if (200..300).contains(status) => self.accepted(body),
            Answer::Http {
                status,
                retry_after,
                body,
                ..
            } => classify_refusal(
                *status,
                *retry_after,
                self.error_message(body),
                batch_len,
                token_was_fresh,
                self.config_hint(),
            ),
            Answer::Transport { reason, sent } => classify_transport(reason.clone(), *sent),
        }
    }
}

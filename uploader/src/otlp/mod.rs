//! The OTLP sink: spool spans as OTLP/HTTP protobuf
//! `ExportTraceServiceRequest`s to `{endpoint}/v1/traces`, for Google's
//! Telemetry API or any OpenTelemetry Collector or OTLP backend.
//!
//! * `convert`: one spool span → an OTLP `Span`, within the Telemetry
//!   API's limits, with the Cloud Trace path's repairs.
//! * `body`: request bodies framed around per-span pieces (re-framed, not
//!   re-encoded, when a batch is split).
//! * `response`: what an answer means: partial success, error messages.

pub(crate) mod body;
pub(crate) mod convert;
pub(crate) mod response;

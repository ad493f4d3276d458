//! # tracespool-schema
//!
//! The small, stable core shared by every part of tracespool: the span model
//! ([`SpanData`], [`Resource`], [`SpanRecord`]), the ids ([`TraceId`],
//! [`SpanId`]) and the versioned record codec ([`RecordEncoder`],
//! [`decode_record`]).
//!
//! This crate is the contract between a recorder of one version and an
//! uploader of another. Its rules:
//!
//! * A record is an **envelope** (4 magic bytes `TSPR` and one version byte)
//!   around a payload. The envelope never changes; the payload may.
//! * Version 1's payload is `bincode(SpanData)` followed by
//!   `bincode(Resource)`, with bincode 2.0.1's serde API in its *standard*
//!   configuration (little endian, variable-length integers) and a 16 MiB
//!   decode limit.
//! * A decoder of version N decodes every version `1..=N`. Golden fixtures of
//!   each version are committed under `schema/tests/fixtures/` and are never
//!   regenerated: the test `golden_fixtures_still_decode` proves it.
//! * Decoding never panics: any input that is not a valid record gives a typed
//!   [`DecodeError`].
//!
//! * Versions 1 and 2 share one payload model, frozen in the private `v1`
//!   module; version 3 (the current model) added trace flags and state, the
//!   instrumentation scope, array values and link and event details for
//!   adapters. Old payloads are converted on decode.
//!
//! When the model must change again, freeze the current types in a `v3`
//! module, add the new fields to the model, bump [`RECORD_VERSION`] and
//! convert old payloads on decode.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compressed;
mod envelope;
mod fast;
mod ids;
mod model;
mod record;
mod v1;

pub use compressed::{
    build_dictionary, dictionary_id, record_dictionary, Dictionaries, RecordCompressor,
    MAX_DICTIONARY_BYTES,
};
pub use envelope::{
    DecodeError, EncodeError, COMPRESSED_VERSION, MAX_RECORD_BYTES, NEWEST_RECORD_VERSION,
    RECORD_MAGIC, RECORD_VERSION,
};
pub use ids::{ParseIdError, SpanId, TraceId};
pub use model::is_blank;
pub use model::{
    Attribute, AttributeValue, DroppedCounts, InstrumentationScope, Link, LinkKind, MessageKind,
    Resource, SpanData, SpanKind, SpanRecord, Status, StatusCode, Str, TimeEvent, TimeEventKind,
    TRACE_FLAG_SAMPLED, UNNAMED_SPAN,
};
pub use record::{
    decode_record, decode_record_with, encode_with_bincode, peek_version, RecordDecoder,
    RecordEncoder,
};

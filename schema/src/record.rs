//! The versioned record codec.
//!
//! ```text
//! version 3 (written by this build):
//! offset  size  field
//! 0       4     magic  b"TSPR"
//! 4       1     version (3)
//! 5       4     CRC-32C (Castagnoli) of the payload, little endian
//! 9       ..    payload: bincode(SpanData) ++ bincode(Resource), the
//!               current model (crate::model)
//!
//! version 2 (still decoded):
//! 0       4     magic  b"TSPR"
//! 4       1     version (2)
//! 5       4     CRC-32C of the payload
//! 9       ..    payload of the frozen version-1 model (crate::v1)
//!
//! version 1 (still decoded):
//! 0       4     magic  b"TSPR"
//! 4       1     version (1)
//! 5       ..    payload of the frozen version-1 model, no checksum
//! ```
//!
//! Version 3 added what adapters (OpenTelemetry, `tracing`) carry: the
//! trace flags and trace state, the instrumentation scope, array values,
//! link and event details, and the resource's schema URL. Old records are
//! converted on decode (see `v1`), so every reader sees one model.
//!
//! The checksum makes a damaged record an error ([`DecodeError::Checksum`])
//! instead of a span with altered content: of 29 version-1 records with
//! flipped bytes, 13 still decoded. CRC-32C detects every burst of up to 32
//! flipped bits and all but 1 in 2^32 of other damage; it is computed with
//! the CPU's CRC instruction where there is one.
//!
//! bincode 2.0.1, serde API, `config::standard()` (little endian, varint
//! integers), decode limit [`MAX_RECORD_BYTES`]. The resource is encoded once
//! per [`RecordEncoder`] and appended to every record as bytes, so the
//! per-span cost on the caller's thread is the span alone.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};

use crate::compressed::Dictionaries;
use crate::envelope::{
    DecodeError, EncodeError, COMPRESSED_VERSION, ENVELOPE_LEN, HEADER_LEN_V2, MAX_RECORD_BYTES,
    NEWEST_RECORD_VERSION, RECORD_MAGIC, RECORD_VERSION,
};
use crate::model::{Resource, SpanData, SpanRecord};

type Codec = Configuration<LittleEndian, Varint, Limit<MAX_RECORD_BYTES>>;

fn codec() -> Codec {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<MAX_RECORD_BYTES>()
}

/// Encodes spans of one process into records of the current version.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    resource_bytes: Vec<u8>,
}

impl RecordEncoder {
    /// An encoder that attaches `resource` to every record.
    pub fn new(resource: &Resource) -> Result<Self, EncodeError> {
        let resource_bytes = bincode::serde::encode_to_vec(resource, codec())
            .map_err(|e| EncodeError::Codec(e.to_string()))?;
        Ok(RecordEncoder { resource_bytes })
    }

    /// Clears `buf` and writes one record into it, reusing its allocation.
    pub fn encode_into(&self, span: &SpanData, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        buf.clear();
        self.append_to(span, buf)
    }

    /// Appends one record to `out` (which may already hold others).
    pub fn append_to(&self, span: &SpanData, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&RECORD_MAGIC);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&[0; 4]);
        crate::fast::encode_span(out, span);
        out.extend_from_slice(&self.resource_bytes);
        if out.len() - start > MAX_RECORD_BYTES {
            out.truncate(start);
            return Err(EncodeError::TooLarge);
        }
        seal(&mut out[start..]);
        Ok(())
    }

    /// One record in a new buffer.
    pub fn encode(&self, span: &SpanData) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::with_capacity(256);
        self.encode_into(span, &mut buf)?;
        Ok(buf)
    }
}

/// Encodes a span with bincode's own serde encoder (the reference the fast
/// encoder must match byte for byte). For tests and benchmarks.
#[doc(hidden)]
pub fn encode_with_bincode(span: &SpanData, resource: &Resource) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&RECORD_MAGIC);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&[0; 4]);
    // Writing to a Vec cannot fail, and the model has no type serde rejects.
    let _ = bincode::serde::encode_into_std_write(span, &mut out, codec());
    let _ = bincode::serde::encode_into_std_write(resource, &mut out, codec());
    seal(&mut out);
    out
}

/// Writes the checksum of a record's payload into its header.
fn seal(record: &mut [u8]) {
    let crc = crc32c::crc32c(&record[HEADER_LEN_V2..]);
    record[ENVELOPE_LEN..HEADER_LEN_V2].copy_from_slice(&crc.to_le_bytes());
}

/// The version and the checked payload of a record of any supported
/// version. A compressed record (version 4) is decompressed into
/// `scratch` with `dictionaries`; its payload has the layout of version 3.
fn open_envelope<'a>(
    bytes: &'a [u8],
    dictionaries: &mut Dictionaries,
    scratch: &'a mut Vec<u8>,
) -> Result<(u8, &'a [u8]), DecodeError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    match peek_version(bytes)? {
        1 => Ok((1, &bytes[ENVELOPE_LEN..])),
        version @ (2 | 3) => {
            if bytes.len() < HEADER_LEN_V2 {
                return Err(DecodeError::Truncated { len: bytes.len() });
            }
            let mut stored = [0u8; 4];
            stored.copy_from_slice(&bytes[ENVELOPE_LEN..HEADER_LEN_V2]);
            let stored = u32::from_le_bytes(stored);
            let payload = &bytes[HEADER_LEN_V2..];
            let computed = crc32c::crc32c(payload);
            if stored != computed {
                return Err(DecodeError::Checksum { stored, computed });
            }
            Ok((version, payload))
        }
        COMPRESSED_VERSION => {
            dictionaries.open(bytes, scratch)?;
            Ok((COMPRESSED_VERSION, &scratch[..]))
        }
        found => Err(DecodeError::UnsupportedVersion {
            found,
            supported: NEWEST_RECORD_VERSION,
        }),
    }
}

/// The version byte of a record, after checking its envelope.
pub fn peek_version(bytes: &[u8]) -> Result<u8, DecodeError> {
    if bytes.len() < ENVELOPE_LEN {
        return Err(DecodeError::Truncated { len: bytes.len() });
    }
    if bytes[..4] != RECORD_MAGIC {
        return Err(DecodeError::BadMagic);
    }
    Ok(bytes[4])
}

/// Decodes a record of any supported version but the compressed one
/// (whose dictionary it has not: [`DecodeError::UnknownDictionary`]; see
/// [`decode_record_with`]). Never panics.
pub fn decode_record(bytes: &[u8]) -> Result<SpanRecord, DecodeError> {
    decode_record_with(bytes, &mut Dictionaries::new())
}

/// Decodes a record of any supported version, compressed ones with
/// `dictionaries`. Never panics.
pub fn decode_record_with(
    bytes: &[u8],
    dictionaries: &mut Dictionaries,
) -> Result<SpanRecord, DecodeError> {
    let mut scratch = Vec::new();
    let (version, payload) = open_envelope(bytes, dictionaries, &mut scratch)?;
    let (span, rest) = decode_payload_span(version, payload)?;
    Ok(SpanRecord {
        version,
        span,
        resource: decode_payload_resource(version, rest)?,
    })
}

fn payload_err(e: bincode::error::DecodeError) -> DecodeError {
    DecodeError::Payload(e.to_string())
}

/// The span of a payload of `version`, and the bytes of its resource.
fn decode_payload_span(version: u8, payload: &[u8]) -> Result<(SpanData, &[u8]), DecodeError> {
    let (span, used) = if version < 3 {
        let (old, used): (crate::v1::SpanData, usize) =
            bincode::serde::decode_from_slice(payload, codec()).map_err(payload_err)?;
        (SpanData::from(old), used)
    } else {
        bincode::serde::decode_from_slice(payload, codec()).map_err(payload_err)?
    };
    Ok((span, &payload[used..]))
}

fn decode_payload_resource(version: u8, bytes: &[u8]) -> Result<Resource, DecodeError> {
    let (resource, used) = if version < 3 {
        let (old, used): (crate::v1::Resource, usize) =
            bincode::serde::decode_from_slice(bytes, codec()).map_err(payload_err)?;
        (Resource::from(old), used)
    } else {
        bincode::serde::decode_from_slice(bytes, codec()).map_err(payload_err)?
    };
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(resource)
}

/// Decodes records one after another, like [`decode_record`], but decodes
/// a record's resource only when its bytes differ from the previous
/// record's: the records of one recorder all carry the same resource, so a
/// reader of many records (the uploader) saves most of that work.
#[derive(Debug, Default)]
pub struct RecordDecoder {
    resource_version: u8,
    resource_bytes: Vec<u8>,
    resource: Option<Resource>,
    dictionaries: Dictionaries,
    scratch: Vec<u8>,
}

impl RecordDecoder {
    /// A decoder with nothing cached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the decoder a dictionary, for the compressed records that
    /// name it (by the id returned, [`crate::dictionary_id`]).
    pub fn add_dictionary(&mut self, dictionary: &[u8]) -> Result<u32, DecodeError> {
        self.dictionaries.add(dictionary)
    }

    /// Whether the decoder has dictionary `id`.
    pub fn has_dictionary(&self, id: u32) -> bool {
        self.dictionaries.contains(id)
    }

    /// Decodes one record into its span and (a reference to) its resource.
    /// Never panics; errors as [`decode_record_with`].
    pub fn decode(&mut self, bytes: &[u8]) -> Result<(SpanData, &Resource), DecodeError> {
        let (version, payload) = open_envelope(bytes, &mut self.dictionaries, &mut self.scratch)?;
        let (span, rest) = decode_payload_span(version, payload)?;
        // The same bytes mean the same resource only within one layout.
        let layout = version.max(2);
        if self.resource.is_none() || self.resource_version != layout || self.resource_bytes != rest
        {
            self.resource = None;
            let resource = decode_payload_resource(version, rest)?;
            self.resource_version = layout;
            self.resource_bytes.clear();
            self.resource_bytes.extend_from_slice(rest);
            self.resource = Some(resource);
        }
        match &self.resource {
            Some(r) => Ok((span, r)),
            None => Err(DecodeError::Payload("no resource".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, SpanId, TraceId};

    #[test]
    fn envelope_errors_are_typed() {
        assert_eq!(
            decode_record(b"TSP"),
            Err(DecodeError::Truncated { len: 3 })
        );
        assert_eq!(decode_record(b"XXXX\x01abc"), Err(DecodeError::BadMagic));
        assert_eq!(
            decode_record(b"TSPR\x09abc"),
            Err(DecodeError::UnsupportedVersion {
                found: 9,
                supported: NEWEST_RECORD_VERSION
            })
        );
        assert_eq!(
            decode_record(b"TSPR\x02ab"),
            Err(DecodeError::Truncated { len: 7 })
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let enc = RecordEncoder::new(&Resource::default()).unwrap();
        let span = SpanData::new(TraceId::random(), SpanId::random(), "x");
        let mut rec = enc.encode(&span).unwrap();
        assert_eq!(decode_record(&rec).unwrap().span, span);
        rec.push(0);
        // The checksum catches it first; with a matching checksum (a
        // recorder bug, not damage) the payload check still does.
        assert!(matches!(
            decode_record(&rec),
            Err(DecodeError::Checksum { .. })
        ));
        seal(&mut rec);
        assert_eq!(decode_record(&rec), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn fast_encoder_matches_bincode_here() {
        let res = Resource::new(vec![Attribute::new("service.name", "kiosk")]);
        let enc = RecordEncoder::new(&res).unwrap();
        let span = SpanData::new(TraceId::random(), SpanId::random(), "a name");
        let v = enc.encode(&span).unwrap();
        let mut slow = Vec::new();
        slow.extend_from_slice(&RECORD_MAGIC);
        slow.push(RECORD_VERSION);
        slow.extend_from_slice(&[0; 4]);
        bincode::serde::encode_into_std_write(&span, &mut slow, codec()).unwrap();
        slow.extend_from_slice(&enc.resource_bytes);
        seal(&mut slow);
        assert_eq!(v, slow);
    }

    #[test]
    fn every_flipped_bit_of_a_record_is_an_error_never_an_altered_span() {
        let res = Resource::new(vec![Attribute::new("service.name", "kiosk")]);
        let mut span = SpanData::new(TraceId::random(), SpanId::random(), "a name");
        span.attributes = vec![Attribute::new("n", 42i64), Attribute::new("s", "text")];
        let good = RecordEncoder::new(&res).unwrap().encode(&span).unwrap();
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let e = decode_record(&bad).expect_err("a damaged record decoded");
            assert!(
                e.reason().starts_with("damaged record") || e.reason().starts_with("unreadable")
            );
        }
    }

    #[test]
    fn reasons_are_short_and_stable() {
        let e = DecodeError::Checksum {
            stored: 1,
            computed: 2,
        };
        assert_eq!(e.reason(), "damaged record: checksum mismatch");
        assert_eq!(
            DecodeError::Payload("UnexpectedEnd { additional: 1 }".into()).reason(),
            "damaged record: invalid payload"
        );
    }

    #[test]
    fn the_record_decoder_agrees_with_decode_record() {
        let a =
            RecordEncoder::new(&Resource::new(vec![Attribute::new("service.name", "a")])).unwrap();
        let b =
            RecordEncoder::new(&Resource::new(vec![Attribute::new("service.name", "b")])).unwrap();
        let mut d = RecordDecoder::new();
        let mut records = Vec::new();
        for (i, enc) in [&a, &a, &b, &a, &b, &b].into_iter().enumerate() {
            let span = SpanData::new(TraceId::random(), SpanId::random(), format!("s{i}"));
            records.push(enc.encode(&span).unwrap());
        }
        // A bad record in the middle changes nothing cached.
        let mut bad = records[1].clone();
        bad.push(7);
        records.insert(2, bad);
        for r in &records {
            let want = decode_record(r);
            let got = d.decode(r).map(|(s, res)| SpanRecord {
                version: RECORD_VERSION,
                span: s,
                resource: res.clone(),
            });
            assert_eq!(got, want);
        }
        assert!(d.decode(b"TSPR\x01").is_err());
        assert!(d.decode(b"TSPR\x02\0\0\0\0").is_err());
        assert!(d.decode(b"nope").is_err());
    }

    #[test]
    fn resource_is_attached() {
        let res = Resource::new(vec![Attribute::new("service.name", "kiosk")]);
        let enc = RecordEncoder::new(&res).unwrap();
        let span = SpanData::new(TraceId::random(), SpanId::random(), "x");
        assert_eq!(
            decode_record(&enc.encode(&span).unwrap()).unwrap().resource,
            res
        );
    }
}

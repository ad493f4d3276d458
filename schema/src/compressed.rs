//! Record version 4: the version-3 payload compressed with zstd against a
//! dictionary kept beside the records.
//!
//! ```text
//! version 4:
//! offset  size  field
//! 0       4     magic  b"TSPR"
//! 4       1     version (4)
//! 5       4     CRC-32C of the *decompressed* payload, little endian
//! 9       4     the dictionary's id, little endian
//! 13      ..    a zstd frame of the version-3 payload, without the frame's
//!               4-byte magic number (it is always the same)
//! ```
//!
//! A span record is a few hundred bytes, too small for zstd alone, and half
//! of it is the resource every span of a process repeats. A dictionary
//! holds what a process's records share: the writer builds it from the
//! first spans it writes ([`build_dictionary`]: zstd trains it on them,
//! with entropy tables that spare each small record building its own;
//! plain content, zstd's *raw content* dictionary, when training fails),
//! and stores it beside the records (the spool's `dictionaries` table) under
//! its id, the CRC-32C of its content ([`dictionary_id`]): equal
//! dictionaries get equal ids in every process and file, so a spool that
//! was replaced under a writer never pairs its records with another
//! writer's dictionary. Readers
//! give the decoder the dictionaries they meet
//! ([`crate::RecordDecoder::add_dictionary`]); a record whose dictionary is
//! unknown is a [`DecodeError::UnknownDictionary`], not a damaged one.
//!
//! The checksum covers the payload before compression, so damage is found
//! as before (a damaged frame fails to decompress, or its content fails the
//! checksum), and a bug in compression cannot pass as a span.

use std::collections::HashMap;

use crate::envelope::{
    DecodeError, EncodeError, COMPRESSED_VERSION, HEADER_LEN_V2, MAX_RECORD_BYTES, RECORD_MAGIC,
    RECORD_VERSION,
};

/// A dictionary is at most this large.
pub const MAX_DICTIONARY_BYTES: usize = 16 << 10;

/// The first bytes of every dictionary this crate builds: never zstd's
/// dictionary magic, so zstd reads it as raw content.
const DICTIONARY_TAG: &[u8; 4] = b"TSPD";

/// zstd's frame magic number, as it starts a frame.
const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression level: zstd's fastest that still finds the repeats.
const LEVEL: i32 = 1;

/// The size [`build_dictionary`] aims at: as small as keeps a loadgen
/// record as small (64 bytes with 8 KiB, as with 16 KiB).
const TRAINED_DICTIONARY_BYTES: usize = 8 << 10;

/// A dictionary from version-3 `records`, at most [`MAX_DICTIONARY_BYTES`]:
/// one zstd trains on their payloads (zstd's dictionary format, whose
/// entropy tables spare each record building its own: half the time per
/// record of a plain-content dictionary), else, when training fails (too
/// few or too alike records), their payloads as plain content.
pub fn build_dictionary<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let payloads: Vec<&[u8]> = records
        .into_iter()
        .filter(|r| r.len() > HEADER_LEN_V2 && r[4] == RECORD_VERSION)
        .map(|r| &r[HEADER_LEN_V2..])
        .collect();
    let sizes: Vec<usize> = payloads.iter().map(|p| p.len()).collect();
    let joined = payloads.concat();
    match zstd::dict::from_continuous(&joined, &sizes, TRAINED_DICTIONARY_BYTES) {
        Ok(d) if !d.is_empty() && d.len() <= MAX_DICTIONARY_BYTES => d,
        _ => content_dictionary(&payloads),
    }
}

/// A plain-content dictionary (zstd's *raw content*: bytes to refer back
/// to) from record payloads: distinct span names first, then the newest,
/// nearest the end (zstd finds what is nearest the end cheapest).
fn content_dictionary(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = DICTIONARY_TAG.to_vec();
    // Span names differ most between spans: one of each first (a payload
    // starts with the ids, then the name; the first 64 bytes tell them
    // apart well enough), then the rest, newest last.
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut chosen: Vec<&[u8]> = Vec::new();
    for p in payloads {
        let key = p.get(25..p.len().min(64)).unwrap_or(p);
        if !seen.contains(&key) {
            seen.push(key);
            chosen.push(p);
        }
    }
    for p in payloads.iter().rev().take(8).rev() {
        chosen.push(p);
    }
    let budget = MAX_DICTIONARY_BYTES - out.len();
    let mut used = 0;
    let mut keep = Vec::new();
    for p in chosen.iter().rev() {
        let take = p.len().min(1024);
        if used + take > budget {
            break;
        }
        used += take;
        keep.push(&p[..take]);
    }
    for p in keep.iter().rev() {
        out.extend_from_slice(p);
    }
    out
}

/// The id records compressed with `dictionary` name it by: the CRC-32C of
/// its content.
pub fn dictionary_id(dictionary: &[u8]) -> u32 {
    crc32c::crc32c(dictionary)
}

/// The id of the dictionary a version-4 `record` was compressed with;
/// `None` for other versions and for records too short to name one.
pub fn record_dictionary(record: &[u8]) -> Option<u32> {
    if record.len() < HEADER_LEN_V2 + 4 || record[..4] != RECORD_MAGIC {
        return None;
    }
    if record[4] != COMPRESSED_VERSION {
        return None;
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&record[HEADER_LEN_V2..HEADER_LEN_V2 + 4]);
    Some(u32::from_le_bytes(id))
}

/// Turns version-3 records into version-4 records with one dictionary.
pub struct RecordCompressor {
    dictionary_id: u32,
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
}

impl std::fmt::Debug for RecordCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCompressor")
            .field("dictionary_id", &self.dictionary_id)
            .finish_non_exhaustive()
    }
}

impl RecordCompressor {
    /// A compressor with `dictionary` (whose id is [`dictionary_id`]).
    pub fn new(dictionary: &[u8]) -> Result<Self, EncodeError> {
        let id = dictionary_id(dictionary);
        let mut compressor = zstd::bulk::Compressor::with_dictionary(LEVEL, dictionary)
            .map_err(|e| EncodeError::Codec(format!("zstd dictionary: {e}")))?;
        // The record names its dictionary; the frame need not.
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))
            .map_err(|e| EncodeError::Codec(format!("zstd: {e}")))?;
        Ok(RecordCompressor {
            dictionary_id: id,
            compressor,
            frame: Vec::new(),
        })
    }

    /// The id of its dictionary.
    pub fn dictionary_id(&self) -> u32 {
        self.dictionary_id
    }

    /// Appends to `out` the version-4 form of the version-3 `record`.
    pub fn compress_into(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if record.len() < HEADER_LEN_V2 || record[4] != RECORD_VERSION {
            return Err(EncodeError::Codec("not a version-3 record".into()));
        }
        let payload = &record[HEADER_LEN_V2..];
        self.frame.clear();
        self.frame
            .reserve(zstd::zstd_safe::compress_bound(payload.len()));
        self.compressor
            .compress_to_buffer(payload, &mut self.frame)
            .map_err(|e| EncodeError::Codec(format!("zstd: {e}")))?;
        if !self.frame.starts_with(&FRAME_MAGIC) {
            return Err(EncodeError::Codec("zstd frame without its magic".into()));
        }
        out.extend_from_slice(&record[..4]);
        out.push(COMPRESSED_VERSION);
        // The checksum of the version-3 payload, as it was.
        out.extend_from_slice(&record[5..HEADER_LEN_V2]);
        out.extend_from_slice(&self.dictionary_id.to_le_bytes());
        out.extend_from_slice(&self.frame[FRAME_MAGIC.len()..]);
        Ok(())
    }
}

/// The dictionaries a reader met, ready to decompress with.
#[derive(Default)]
pub struct Dictionaries {
    by_id: HashMap<u32, zstd::bulk::Decompressor<'static>>,
    framed: Vec<u8>,
}

impl std::fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionaries")
            .field("ids", &self.by_id.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Dictionaries {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `dictionary` under its id ([`dictionary_id`]), returned.
    pub fn add(&mut self, dictionary: &[u8]) -> Result<u32, DecodeError> {
        let id = dictionary_id(dictionary);
        if self.by_id.contains_key(&id) {
            return Ok(id);
        }
        let d = zstd::bulk::Decompressor::with_dictionary(dictionary)
            .map_err(|e| DecodeError::Payload(format!("zstd dictionary {id}: {e}")))?;
        self.by_id.insert(id, d);
        Ok(id)
    }

    /// Whether dictionary `id` is known.
    pub fn contains(&self, id: u32) -> bool {
        self.by_id.contains_key(&id)
    }

    /// The checked payload of a version-4 `record`, decompressed into
    /// `out`.
    pub(crate) fn open(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let id = record_dictionary(record).ok_or(DecodeError::Truncated { len: record.len() })?;
        let mut stored = [0u8; 4];
        stored.copy_from_slice(&record[5..HEADER_LEN_V2]);
        let stored = u32::from_le_bytes(stored);
        let frame = &record[HEADER_LEN_V2 + 4..];
        let d = self
            .by_id
            .get_mut(&id)
            .ok_or(DecodeError::UnknownDictionary(id))?;
        self.framed.clear();
        self.framed.extend_from_slice(&FRAME_MAGIC);
        self.framed.extend_from_slice(frame);
        let size = zstd::zstd_safe::get_frame_content_size(&self.framed)
            .ok()
            .flatten()
            .ok_or_else(|| DecodeError::Payload("zstd frame without its size".into()))?;
        if size > MAX_RECORD_BYTES as u64 {
            return Err(DecodeError::TooLarge(size as usize));
        }
        out.clear();
        out.reserve(size as usize);
        d.decompress_to_buffer(&self.framed[..], &mut *out)
            .map_err(|e| DecodeError::Payload(format!("zstd: {e}")))?;
        let computed = crc32c::crc32c(out);
        if stored != computed {
            return Err(DecodeError::Checksum { stored, computed });
        }
        Ok(())
    }
}

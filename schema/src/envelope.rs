//! The record envelope every version shares: the magic, the version byte
//! and (from version 2) the checksum; the limits; and the errors of the
//! codec. The layouts of each version are documented in the `record` and
//! `compressed` modules.

/// The first four bytes of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"TSPR";
/// The version [`crate::RecordEncoder`] writes (a [`crate::RecordCompressor`]
/// turns its records into version 4).
pub const RECORD_VERSION: u8 = 3;
/// The version a [`crate::RecordCompressor`] writes: version 3,
/// compressed (see the `compressed` module).
pub const COMPRESSED_VERSION: u8 = 4;
/// The newest version this build reads.
pub const NEWEST_RECORD_VERSION: u8 = COMPRESSED_VERSION;
/// The largest record the decoder accepts (and the allocation limit it gives
/// bincode, so a corrupt length prefix cannot allocate more).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Magic and version.
pub(crate) const ENVELOPE_LEN: usize = 5;
/// Magic, version and checksum (versions 2 to 4).
pub(crate) const HEADER_LEN_V2: usize = 9;

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the envelope.
    #[error("record truncated: {len} bytes, the envelope alone needs more")]
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// The payload does not match its checksum: the record was damaged
    /// after it was written.
    #[error("record damaged: checksum {stored:#010x} stored, {computed:#010x} computed")]
    Checksum {
        /// The checksum in the record.
        stored: u32,
        /// The checksum of the payload as read.
        computed: u32,
    },
    /// The magic bytes are wrong: not a tracespool record.
    #[error("not a tracespool record (bad magic bytes)")]
    BadMagic,
    /// A version this decoder does not know (written by a newer recorder).
    #[error("record version {found} is not supported (this build reads 1..={supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u8,
        /// Newest version this build reads.
        supported: u8,
    },
    /// The payload is not valid for its version.
    #[error("record payload is corrupt: {0}")]
    Payload(String),
    /// The record is larger than [`MAX_RECORD_BYTES`].
    #[error("record of {0} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge(usize),
    /// Bytes were left after the payload.
    #[error("record has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// A compressed record (version 4) whose dictionary the decoder was not
    /// given (see [`crate::Dictionaries`]).
    #[error("record compressed with dictionary {0}, which is not known")]
    UnknownDictionary(u32),
}

impl DecodeError {
    /// A short, stable text for people and for grouping (a quarantine
    /// reason): the same for every record damaged the same way, whatever
    /// the details.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Checksum { .. } => "damaged record: checksum mismatch",
            DecodeError::Truncated { .. } => "damaged record: truncated",
            DecodeError::BadMagic => "damaged record: not a tracespool record",
            DecodeError::UnsupportedVersion { .. } => {
                "unreadable record: written by a newer tracespool"
            }
            DecodeError::Payload(_) => "damaged record: invalid payload",
            DecodeError::TooLarge(_) => "damaged record: too large",
            DecodeError::TrailingBytes(_) => "damaged record: trailing bytes",
            DecodeError::UnknownDictionary(_) => "unreadable record: its dictionary is missing",
        }
    }
}

/// Why a span could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded record would exceed [`MAX_RECORD_BYTES`].
    #[error("encoded record exceeds {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// The serializer failed.
    #[error("encoding failed: {0}")]
    Codec(String),
}

//! Trace and span ids: random, non-zero, cheap to make, printed as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIdError {
    /// The string does not have the expected number of hex digits.
    #[error("expected {expected} hex digits, got {got} characters")]
    Length {
        /// Hex digits required (32 for a trace id, 16 for a span id).
        expected: usize,
        /// Characters found.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("not a hex digit at position {0}")]
    NotHex(usize),
    /// The id is all zeros, which Cloud Trace and W3C trace context reject.
    #[error("the all-zero id is invalid")]
    Zero,
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return Err(ParseIdError::Length {
            expected: N * 2,
            got: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(ParseIdError::NotHex(i * 2))?;
        let lo = hex_val(pair[1]).ok_or(ParseIdError::NotHex(i * 2 + 1))?;
        out[i] = (hi << 4) | lo;
    }
    if out.iter().all(|b| *b == 0) {
        return Err(ParseIdError::Zero);
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        buf[i * 2] = DIGITS[(b >> 4) as usize];
        buf[i * 2 + 1] = DIGITS[(b & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buf[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

/// A 16-byte trace id. Never all zeros when made by [`TraceId::random`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. Never all zeros when made by [`SpanId::random`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A random, non-zero trace id from a per-thread generator: no system
    /// call per id. Ids need to be unique, not secret.
    pub fn random() -> Self {
        loop {
            let v = fastrand::u128(..);
            if v != 0 {
                return TraceId(v.to_be_bytes());
            }
        }
    }

    /// The id as a big-endian integer.
    pub fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Whether the id is all zeros (invalid).
    pub fn is_zero(self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 32 hex digits (either case); rejects the all-zero id.
    pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
        parse_hex::<16>(s).map(TraceId)
    }
}

impl SpanId {
    /// A random, non-zero span id from a per-thread generator.
    pub fn random() -> Self {
        loop {
            let v = fastrand::u64(..);
            if v != 0 {
                return SpanId(v.to_be_bytes());
            }
        }
    }

    /// The id as a big-endian integer (the decimal form Google's
    /// `X-Cloud-Trace-Context` header uses).
    pub fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// The id from a big-endian integer.
    pub fn from_u64(v: u64) -> Self {
        SpanId(v.to_be_bytes())
    }

    /// Whether the id is all zeros (invalid).
    pub fn is_zero(self) -> bool {
        self.0 == [0; 8]
    }

    /// Parses 16 hex digits (either case); rejects the all-zero id.
    pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
        parse_hex::<8>(s).map(SpanId)
    }
}

macro_rules! hex_traits {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }
        impl FromStr for $t {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }
    };
}
hex_traits!(TraceId);
hex_traits!(SpanId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_case() {
        let t = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let s = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert_eq!(s.to_u64(), 0x00f0_67aa_0ba9_02b7);
        assert_eq!(SpanId::from_u64(s.to_u64()), s);
    }

    #[test]
    fn bad_hex_is_rejected() {
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b"),
            Err(ParseIdError::Length {
                expected: 16,
                got: 15
            })
        );
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902bg"),
            Err(ParseIdError::NotHex(15))
        );
        assert_eq!(
            SpanId::from_hex("0000000000000000"),
            Err(ParseIdError::Zero)
        );
        assert_eq!(
            TraceId::from_hex("00000000000000000000000000000000"),
            Err(ParseIdError::Zero)
        );
        // Multi-byte characters must not panic.
        assert!(SpanId::from_hex("ééééééééé").is_err());
    }

    #[test]
    fn random_ids_are_non_zero_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let t = TraceId::random();
            assert!(!t.is_zero());
            assert!(seen.insert(t));
            assert!(!SpanId::random().is_zero());
        }
    }
}

//! Ids as text.

/// Bytes as lowercase hex, as ids are written everywhere (W3C, Cloud
/// Trace, OTLP/JSON, the CLI).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

//! Request body compression. Every OTLP server must accept gzip (OTLP
//! specification), so OTLP compresses by default. Google does not document
//! gzip request bodies for `traces:batchWrite`, so the Cloud Trace
//! destination sends them only when asked (`--compression gzip`).

use std::io::Write;

/// Request body compression.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`Content-Encoding: gzip`).
    Gzip,
    /// Uncompressed.
    None,
}

impl Compression {
    /// The body as sent.
    pub fn apply(self, body: Vec<u8>) -> Vec<u8> {
        match self {
            Compression::Gzip => gzip(&body),
            Compression::None => body,
        }
    }
}

/// gzip at level 1 (flate2 on zlib-rs): on span batches it keeps most of level 6's ratio at
/// several times its speed (docs/benchmarks.md).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(1),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let data = b"{\"spans\":[]}".repeat(100);
        let z = gzip(&data);
        assert!(z.len() < data.len() / 5);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}

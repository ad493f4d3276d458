//! The record decoder never panics, never allocates past its limit, and a
//! record it accepts re-encodes to a record that decodes to the same span.
//!
//! `cargo +nightly fuzz run decode_record fuzz/corpus/decode_record`
//! (from the repository root; see docs/operations.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracespool_schema::{decode_record, RecordDecoder, RecordEncoder};

fuzz_target!(|data: &[u8]| {
    let one = decode_record(data);
    // The caching decoder agrees with the plain one.
    let mut d = RecordDecoder::new();
    let cached = d.decode(data).map(|(s, r)| (s, r.clone()));
    assert_eq!(one.is_ok(), cached.is_ok());
    if let Ok(rec) = one {
        let bytes = RecordEncoder::new(&rec.resource)
            .expect("a decoded resource encodes")
            .encode(&rec.span);
        if let Ok(bytes) = bytes {
            // Compared as bytes: a NaN attribute is not equal to itself.
            let again = decode_record(&bytes).expect("a re-encoded record decodes");
            let twice = RecordEncoder::new(&again.resource)
                .expect("a decoded resource encodes")
                .encode(&again.span)
                .expect("it encoded before");
            assert_eq!(twice, bytes);
        }
    } else if let Err(e) = one {
        // Every error has a short, stable reason.
        assert!(!e.reason().is_empty());
    }
});

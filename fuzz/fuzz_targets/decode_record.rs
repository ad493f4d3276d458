//! The record decoder never panics, never allocates past its limit, and a
//! record it accepts re-encodes to a record that decodes to the same span.
//! Compressed records (version 4) are decoded with the golden fixtures'
//! dictionary, so the fuzzer reaches zstd's decoder too.
//!
//! `cargo +nightly fuzz run decode_record fuzz/corpus/decode_record`
//! (from the repository root; see docs/operations.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracespool_schema::{decode_record, decode_record_with, Dictionaries, RecordDecoder, RecordEncoder};

const DICTIONARY: &[u8] = include_bytes!("../../schema/tests/fixtures/v4_dictionary.bin");

fuzz_target!(|data: &[u8]| {
    let mut dictionaries = Dictionaries::new();
    dictionaries.add(DICTIONARY).expect("the fixture dictionary loads");
    let one = decode_record_with(data, &mut dictionaries);
    // The caching decoder agrees with the plain one.
    let mut d = RecordDecoder::new();
    d.add_dictionary(DICTIONARY).expect("the fixture dictionary loads");
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

//! Replays the fuzz target's corpus (`fuzz/corpus/decode_record`, seeds and
//! whatever `cargo fuzz` found and was committed) through the record
//! decoders on the stable toolchain, so CI exercises it on every run: no
//! input panics, both decoders agree, sound inputs round-trip, and every
//! error has a short reason.
use std::path::Path;

use tracespool_schema::{
    decode_record, decode_record_with, Dictionaries, RecordDecoder, RecordEncoder,
};

/// The dictionary the fuzz target decodes compressed records with.
const DICTIONARY: &[u8] = include_bytes!("../../../schema/tests/fixtures/v4_dictionary.bin");

#[test]
fn every_corpus_input_decodes_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_record");
    let mut inputs = 0;
    let mut sound = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        inputs += 1;
        let mut dictionaries = Dictionaries::new();
        dictionaries.add(DICTIONARY).unwrap();
        let one = decode_record_with(&data, &mut dictionaries);
        let mut d = RecordDecoder::new();
        d.add_dictionary(DICTIONARY).unwrap();
        assert_eq!(
            one.is_ok(),
            d.decode(&data).is_ok(),
            "{}: the decoders disagree",
            path.display()
        );
        match one {
            Ok(rec) => {
                sound += 1;
                let enc = RecordEncoder::new(&rec.resource).unwrap();
                let bytes = enc.encode(&rec.span).unwrap();
                let again = decode_record(&bytes).unwrap();
                assert_eq!(
                    enc.encode(&again.span).unwrap(),
                    bytes,
                    "{}",
                    path.display()
                );
            }
            Err(e) => assert!(!e.reason().is_empty()),
        }
    }
    assert!(inputs >= 16, "the seed corpus is missing ({inputs} inputs)");
    assert!(sound >= 6, "the golden seeds must decode ({sound} did)");
}

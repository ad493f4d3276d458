//! Reading back what a test recorded: every pending record of a spool,
//! decoded, and one of them by span name. Shared by the recorder's tests
//! and the integrations' (`#[path]`-included, as the benches share
//! `benches/support`).
#![allow(dead_code)]

use std::path::Path;

use tracespool_schema::{decode_record_with, Dictionaries, SpanRecord};
use tracespool_spool::{SpoolOptions, SpoolReader};

/// Every pending record of the spool at `path`, oldest first.
pub fn read_all(path: &Path) -> Vec<SpanRecord> {
    let r = SpoolReader::open(path, &SpoolOptions::default()).unwrap();
    let mut dictionaries = dictionaries(&r);
    r.lease(0, 1_000_000)
        .unwrap()
        .iter()
        .map(|l| decode_record_with(&l.record, &mut dictionaries).unwrap())
        .collect()
}

/// The record dictionaries of a spool, ready to decode with.
pub fn dictionaries(r: &SpoolReader) -> Dictionaries {
    let mut d = Dictionaries::new();
    for (id, content) in r.dictionaries().unwrap() {
        assert_eq!(d.add(&content).unwrap(), id, "a dictionary under its id");
    }
    d
}

/// The record of the span named `name`.
pub fn find<'a>(recs: &'a [SpanRecord], name: &str) -> &'a SpanRecord {
    recs.iter()
        .find(|r| r.span.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

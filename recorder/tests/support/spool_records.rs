//! Reading back what a test recorded: every pending record of a spool,
//! decoded, and one of them by span name. Shared by the recorder's tests
//! and the integrations' (`#[path]`-included, as the benches share
//! `benches/support`).
#![allow(dead_code)]

use std::path::Path;

use tracespool_schema::{decode_record, SpanRecord};
use tracespool_spool::{SpoolOptions, SpoolReader};

/// Every pending record of the spool at `path`, oldest first.
pub fn read_all(path: &Path) -> Vec<SpanRecord> {
    let r = SpoolReader::open(path, &SpoolOptions::default()).unwrap();
    r.lease(0, 1_000_000)
        .unwrap()
        .iter()
        .map(|l| decode_record(&l.record).unwrap())
        .collect()
}

/// The record of the span named `name`.
pub fn find<'a>(recs: &'a [SpanRecord], name: &str) -> &'a SpanRecord {
    recs.iter()
        .find(|r| r.span.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

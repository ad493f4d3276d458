//! Reading span records from a spool: compressed records (version 4) name
//! a dictionary the spool keeps beside them; the readers here fetch it
//! from the spool the first time a record names it.

use tracespool_schema::{
    decode_record_with, record_dictionary, DecodeError, Dictionaries, RecordDecoder, SpanRecord,
};
use tracespool_spool::SpoolReader;

/// The dictionary `record` names, from the spool, if the reader does not
/// know it yet (`known`). A dictionary missing from the spool is left to
/// the decoder to report ([`DecodeError::UnknownDictionary`]).
fn missing_dictionary(
    reader: &SpoolReader,
    record: &[u8],
    known: impl Fn(u32) -> bool,
) -> Option<Vec<u8>> {
    let id = record_dictionary(record)?;
    if known(id) {
        return None;
    }
    reader.dictionary(id).ok().flatten()
}

/// Gives `decoder` the dictionaries `records` name that it lacks.
pub(crate) fn learn_dictionaries<'a>(
    decoder: &mut RecordDecoder,
    reader: &SpoolReader,
    records: impl IntoIterator<Item = &'a [u8]>,
) {
    for r in records {
        if let Some(d) = missing_dictionary(reader, r, |id| decoder.has_dictionary(id)) {
            // A dictionary that does not load leaves its records
            // undecodable, reported as such one by one.
            let _ = decoder.add_dictionary(&d);
        }
    }
}

/// Decodes whole records (span and resource) read from one spool.
pub(crate) struct RecordReader<'r> {
    reader: &'r SpoolReader,
    dictionaries: Dictionaries,
}

impl<'r> RecordReader<'r> {
    pub(crate) fn new(reader: &'r SpoolReader) -> Self {
        RecordReader {
            reader,
            dictionaries: Dictionaries::new(),
        }
    }

    /// Decodes `record`, with its dictionary if it names one.
    pub(crate) fn decode(&mut self, record: &[u8]) -> Result<SpanRecord, DecodeError> {
        let known = |id| self.dictionaries.contains(id);
        if let Some(d) = missing_dictionary(self.reader, record, known) {
            let _ = self.dictionaries.add(&d);
        }
        decode_record_with(record, &mut self.dictionaries)
    }
}

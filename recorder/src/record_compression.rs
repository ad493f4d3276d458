//! Compressed records: how the writer thread makes each span cost fewer
//! bytes on disk ([`RecordCompression`]), on its own thread, never on the
//! recording ones.
//!
//! # Invariants
//!
//! - Every compressed record names a dictionary that is in the spool in
//!   the same transaction as the record: the sink keeps it there with
//!   every batch ([`SpanSink::use_dictionary`]).
//! - A span is never lost to compression: a record that cannot be
//!   compressed is written as it is (version 3), and a sink that cannot
//!   keep a dictionary gets plain records.
//! - A dictionary costs up to 16 KiB of spool, so it is made only once the
//!   process has written enough spans to win it back ([`LEARN_SPANS`]), or
//!   not at all when the one the spool already has (from an earlier run of
//!   the program, say) does at least halve this process's records.
//!
//! # Life of a writer
//!
//! `Learning` (plain records; samples the first spans) → `Training`
//! (plain records while a helper thread trains the dictionary: some
//! milliseconds the writer does not wait for) → compressed records, by the
//! compressing thread (`crate::compressing_thread`), once the dictionary
//! is in the spool; plain for good if the sink has no place for
//! dictionaries or holds another under the same id.

use tracespool_schema::{build_dictionary, dictionary_id, RecordCompressor};

use crate::compressing_thread::{compress_batch, Records};
use crate::sink::SpanSink;

/// How the writer thread stores span records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordCompression {
    /// Records (version 4) compressed with zstd against a dictionary the
    /// writer builds from the process's first spans and keeps in the
    /// spool: about a fifth of the bytes of a plain record, so half the
    /// spool and half the writes to disk per span or better
    /// (`docs/benchmarks.md`). Uploaders older than 0.2 cannot read these
    /// records and quarantine them (`tracespool requeue` after upgrading
    /// brings them back). The default.
    #[default]
    Zstd,
    /// Plain records (version 3), readable by every uploader.
    Off,
}

/// Spans written before a dictionary is made: a dictionary of up to
/// 16 KiB saves about 280 bytes per loadgen span, so it pays for itself
/// after about 60 spans.
pub(crate) const LEARN_SPANS: usize = 256;

/// Bytes of samples kept while learning (the dictionary takes at most
/// 16 KiB of them).
const SAMPLE_BYTES: usize = 64 << 10;

/// Bytes of one record kept as a sample (a dictionary takes no more of
/// one span).
const SAMPLE_RECORD_BYTES: usize = 1024 + 9;

/// The writer thread's way to a dictionary (see the module docs); once it
/// has one, [`Packer::step`] hands over the compressor for the
/// compressing thread and the packer is done.
pub(crate) enum Packer {
    Off,
    Learning {
        samples: Vec<Vec<u8>>,
        sampled_bytes: usize,
        seen: usize,
        tried_newest: bool,
    },
    Training(std::thread::JoinHandle<Vec<u8>>),
    /// Trained, not yet in the sink (it was busy).
    Ready(Vec<u8>),
}

impl Packer {
    pub(crate) fn new(c: RecordCompression) -> Self {
        match c {
            RecordCompression::Off => Packer::Off,
            RecordCompression::Zstd => Packer::Learning {
                samples: Vec::new(),
                sampled_bytes: 0,
                seen: 0,
                tried_newest: false,
            },
        }
    }

    /// One batch's plain records: learns from them; returns the compressor
    /// once a dictionary is in the sink (from then on the packer is done).
    pub(crate) fn step(
        &mut self,
        sink: &mut dyn SpanSink,
        records: &Records,
    ) -> Option<RecordCompressor> {
        match self {
            Packer::Learning { .. } => self.learn(sink, records),
            Packer::Training(h) if h.is_finished() => match std::mem::replace(self, Packer::Off) {
                Packer::Training(h) => h.join().ok().and_then(|d| self.adopt(sink, d)),
                _ => None,
            },
            Packer::Ready(_) => match std::mem::replace(self, Packer::Off) {
                Packer::Ready(d) => self.adopt(sink, d),
                _ => None,
            },
            _ => None,
        }
    }

    fn learn(&mut self, sink: &mut dyn SpanSink, records: &Records) -> Option<RecordCompressor> {
        let Packer::Learning {
            samples,
            sampled_bytes,
            seen,
            tried_newest,
        } = self
        else {
            return None;
        };
        // First, the dictionary the spool already has, if it halves ours.
        if !*tried_newest {
            *tried_newest = true;
            if let Ok(Some((id, dict))) = sink.newest_dictionary() {
                if let Some(c) = adopt_if_it_halves(sink, id, &dict, records) {
                    *self = Packer::Off;
                    return Some(c);
                }
            }
        }
        for r in records.iter() {
            *seen += 1;
            if *sampled_bytes < SAMPLE_BYTES {
                let keep = &r[..r.len().min(SAMPLE_RECORD_BYTES)];
                *sampled_bytes += keep.len();
                samples.push(keep.to_vec());
            }
        }
        if *seen < LEARN_SPANS {
            return None;
        }
        let samples = std::mem::take(samples);
        // Training takes some milliseconds: on a helper thread, so that
        // the queue does not wait for it. No thread: plain records.
        *self = std::thread::Builder::new()
            .name("tracespool-dictionary".into())
            .spawn(move || build_dictionary(samples.iter().map(|s| &s[..])))
            .map_or(Packer::Off, Packer::Training);
        None
    }

    /// Puts `dict` in the sink; its compressor if that worked.
    fn adopt(&mut self, sink: &mut dyn SpanSink, dict: Vec<u8>) -> Option<RecordCompressor> {
        let compressor = RecordCompressor::new(&dict).ok()?;
        match sink.use_dictionary(compressor.dictionary_id(), &dict) {
            Ok(true) => Some(compressor),
            // Busy or failing: again with the next batch.
            Err(e) if !e.is_dictionary_conflict() => {
                *self = Packer::Ready(dict);
                None
            }
            // No place for it, or another under its id.
            Ok(false) | Err(_) => None,
        }
    }
}

/// The compressor for dictionary `dict` (stored under `id`) if it at least
/// halves this batch's records, once the sink keeps it.
fn adopt_if_it_halves(
    sink: &mut dyn SpanSink,
    id: u32,
    dict: &[u8],
    records: &Records,
) -> Option<RecordCompressor> {
    if dictionary_id(dict) != id {
        return None;
    }
    let mut compressor = RecordCompressor::new(dict).ok()?;
    let mut packed = Records::default();
    compress_batch(&mut compressor, records, &mut packed);
    let plain: usize = records.iter().map(<[u8]>::len).sum();
    if plain == 0 || packed.arena.len() * 2 > plain {
        return None;
    }
    matches!(sink.use_dictionary(id, dict), Ok(true)).then_some(compressor)
}

//! Process-level tests: recorders and deleters in real processes,
//! SIGKILL, and the fuzz corpus.

mod fuzz_corpus_decodes_without_panic;
mod recorder_crash_loses_only_unconfirmed_spans;
mod spool_takes_concurrent_writers_and_a_deleter;

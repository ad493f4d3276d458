//! Test seams: a recorder in front of another sink than the spool, for
//! fault injection in tests and a null sink in benchmarks. Applications do
//! not need this module.
//!
//! **Stable.** [`SpanSink`] and the spool types in its signature
//! ([`NewRow`], [`RecorderDrops`], [`AppendOutcome`], [`SpoolError`]) follow
//! semver like the rest of the crate. A sink must append a batch all or
//! nothing, and add `drops` to its own counters only when it returns `Ok`.

pub use crate::sink::{SpanSink, SqliteSink};
pub use tracespool_spool::{AppendOutcome, NewRow, RecorderDrops, SpoolError};

use crate::builder::{BuildError, RecorderBuilder};
use crate::recorder::{FlushGuard, Recorder};

/// Starts a recorder with another sink than the spool.
pub trait BuildWithSink {
    /// Starts the recorder this builder describes with `sink` instead of
    /// the spool (the builder's path is not used).
    fn build_with_sink(self, sink: impl SpanSink) -> Result<(Recorder, FlushGuard), BuildError>;
}

impl BuildWithSink for RecorderBuilder {
    fn build_with_sink(self, sink: impl SpanSink) -> Result<(Recorder, FlushGuard), BuildError> {
        self.start(sink)
    }
}

//! Where the writer thread puts batches: the [`SpanSink`] trait and the
//! real SQLite spool behind it ([`SqliteSink`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracespool_spool::{
    AppendOutcome, Budget, NewRow, OpenError, RecorderDrops, SpoolError, SpoolOptions, SpoolWriter,
};

/// Where the writer thread puts batches. The real one is [`SqliteSink`];
/// tests put a faulty one in front to prove the recorder survives I/O
/// failures, and benchmarks a null one to measure the hot path alone.
///
/// **Stable.** This trait, and the spool types in its signature
/// ([`NewRow`], [`RecorderDrops`], [`AppendOutcome`], [`SpoolError`]), are
/// part of the public API and follow semver like the rest of the crate. A
/// sink must append a batch all or nothing, and add `drops` to its own
/// counters only when it returns `Ok`.
pub trait SpanSink: Send + 'static {
    /// Appends one batch (all or nothing) and reports the recorder's drops
    /// that have not been reported yet.
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError>;

    /// The record dictionary added last to the spool, `(id, content)`, for
    /// a new writer to try before it makes its own (see
    /// [`crate::RecordCompression`]). The default: none.
    fn newest_dictionary(&mut self) -> Result<Option<(u32, Vec<u8>)>, SpoolError> {
        Ok(None)
    }

    /// Keeps record dictionary `dictionary` under `id` with every batch
    /// appended from now on, so that the compressed records that name it
    /// can be read (see `tracespool_spool::SpoolWriter::use_dictionary`).
    /// `Ok(false)`: this sink keeps no dictionaries, and gets plain records.
    /// The default: `Ok(false)`.
    fn use_dictionary(&mut self, id: u32, dictionary: &[u8]) -> Result<bool, SpoolError> {
        let _ = (id, dictionary);
        Ok(false)
    }
}

/// The SQLite spool as a [`SpanSink`]. Reopens the file when it was deleted
/// or replaced, and after a failed write (at most once a second).
#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    budget: Budget,
    opts: SpoolOptions,
    writer: Option<SpoolWriter>,
    next_open: Instant,
    /// The record dictionary kept with every batch, `(id, content)`: given
    /// again to the writer of a reopened file.
    dictionary: Option<(u32, Vec<u8>)>,
}

impl SqliteSink {
    /// Opens the spool now, so that configuration errors (not a spool, a
    /// directory, a newer format, an unsafe SQLite) surface at once. A
    /// spool that cannot be opened for lack of room (a full disk: no space
    /// for the `-shm` or the WAL) is not an error: the program starts, its
    /// spans are counted as write errors, and the sink opens the spool once
    /// there is room.
    pub fn open(path: &Path, budget: Budget, opts: SpoolOptions) -> Result<Self, OpenError> {
        let writer = match SpoolWriter::open(path, budget, &opts) {
            Ok(w) => Some(w),
            Err(e) if e.is_lack_of_room() => None,
            Err(e) => return Err(e),
        };
        Ok(SqliteSink {
            path: path.to_owned(),
            budget,
            opts,
            writer,
            next_open: Instant::now(),
            dictionary: None,
        })
    }

    /// The writer, reopened if the file was replaced or the last write
    /// failed (at most once a second).
    fn writer(&mut self) -> Result<&mut SpoolWriter, SpoolError> {
        if self.writer.as_ref().is_some_and(|w| !w.still_at_path()) {
            self.writer = None;
        }
        if self.writer.is_none() {
            if Instant::now() < self.next_open {
                return Err(SpoolError::Open(OpenError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other("spool unavailable; reopening shortly"),
                }));
            }
            self.next_open = Instant::now() + Duration::from_secs(1);
            let mut w = SpoolWriter::open(&self.path, self.budget, &self.opts)?;
            if let Some((id, dict)) = &self.dictionary {
                if let Err(e) = w.use_dictionary(*id, dict) {
                    if e.is_dictionary_conflict() {
                        // The writer thread goes on with plain records.
                        self.dictionary = None;
                        self.writer = Some(w);
                    }
                    return Err(e);
                }
            }
            self.writer = Some(w);
        }
        Ok(self.writer.as_mut().expect("opened above"))
    }
}

impl SpanSink for SqliteSink {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        let res = self.writer()?.append(rows, drops);
        if let Err(e) = &res {
            // Busy: try again. Only the reserve left: the file is fine,
            // keep it open. Another dictionary under ours: plain records
            // from now on. Anything else: reopen (the file may be gone).
            if e.is_dictionary_conflict() {
                self.dictionary = None;
            } else if !e.is_busy() && !matches!(e, SpoolError::ReserveReached { .. }) {
                self.writer = None;
            }
        }
        res
    }

    fn newest_dictionary(&mut self) -> Result<Option<(u32, Vec<u8>)>, SpoolError> {
        self.writer()?.newest_dictionary()
    }

    fn use_dictionary(&mut self, id: u32, dictionary: &[u8]) -> Result<bool, SpoolError> {
        self.writer()?.use_dictionary(id, dictionary)?;
        self.dictionary = Some((id, dictionary.to_vec()));
        Ok(true)
    }
}

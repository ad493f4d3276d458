//! The compressing thread: while the writer thread commits one batch, this
//! one compresses the next batch's records (see [`crate::RecordCompression`]),
//! so compression costs the writer's throughput nothing it can see
//! (`docs/benchmarks.md`).
//!
//! # Invariants
//!
//! - Batches come back in the order they were handed over.
//! - The plain records stay with the writer (shared, read only): if this
//!   thread is gone, the writer commits them as they are; no span waits
//!   on it.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use tracespool_schema::RecordCompressor;

/// A batch's records, back to back, and where each ends (`usize::MAX`: a
/// span that is not written).
#[derive(Default)]
pub(crate) struct Records {
    pub(crate) arena: Vec<u8>,
    pub(crate) ends: Vec<usize>,
}

impl Records {
    /// The records, skipping the spans not written.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().filter_map(move |&end| {
            if end == usize::MAX {
                return None;
            }
            let r = &self.arena[start..end];
            start = end;
            Some(r)
        })
    }
}

/// The compressing thread, from the writer's side.
pub(crate) struct CompressingThread {
    jobs: Option<SyncSender<(Arc<Records>, Records)>>,
    done: Receiver<Records>,
    handle: Option<JoinHandle<()>>,
    /// Buffers for compressed batches, reused.
    spare: Vec<Records>,
}

impl CompressingThread {
    /// Starts the thread with `compressor`; `None` if no thread can start.
    pub(crate) fn start(mut compressor: RecordCompressor) -> Option<Self> {
        let (jobs, job_rx) = sync_channel::<(Arc<Records>, Records)>(1);
        let (done_tx, done) = sync_channel(2);
        let handle = std::thread::Builder::new()
            .name("tracespool-compress".into())
            .spawn(move || {
                for (plain, mut packed) in job_rx {
                    compress_batch(&mut compressor, &plain, &mut packed);
                    // Before answering: the writer reuses the plain buffers.
                    drop(plain);
                    if done_tx.send(packed).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(CompressingThread {
            jobs: Some(jobs),
            done,
            handle: Some(handle),
            spare: Vec::new(),
        })
    }

    /// Hands over a batch's plain records; `false` if the thread is gone.
    pub(crate) fn submit(&mut self, plain: Arc<Records>) -> bool {
        let packed = self.spare.pop().unwrap_or_default();
        self.jobs
            .as_ref()
            .is_some_and(|j| j.send((plain, packed)).is_ok())
    }

    /// The oldest batch handed over, compressed; `None` if the thread is
    /// gone.
    pub(crate) fn receive(&mut self) -> Option<Records> {
        self.done.recv().ok()
    }

    /// A compressed batch's buffers, to reuse.
    pub(crate) fn recycle(&mut self, packed: Records) {
        if self.spare.len() < 2 {
            self.spare.push(packed);
        }
    }
}

impl Drop for CompressingThread {
    fn drop(&mut self) {
        // No more jobs: the thread ends after the one it has.
        self.jobs = None;
        while self.done.recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Compresses each record of `plain` into `packed` (a record that does not
/// compress is copied as it is), with the same `usize::MAX` marks.
pub(crate) fn compress_batch(
    compressor: &mut RecordCompressor,
    plain: &Records,
    packed: &mut Records,
) {
    packed.arena.clear();
    packed.ends.clear();
    let mut start = 0;
    for &end in &plain.ends {
        if end == usize::MAX {
            packed.ends.push(usize::MAX);
            continue;
        }
        let record = &plain.arena[start..end];
        start = end;
        let before = packed.arena.len();
        let fits = compressor.compress_into(record, &mut packed.arena).is_ok()
            && packed.arena.len() - before < record.len();
        if !fits {
            packed.arena.truncate(before);
            packed.arena.extend_from_slice(record);
        }
        packed.ends.push(packed.arena.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_skip_the_spans_not_written() {
        let r = Records {
            arena: b"aaabbcccc".to_vec(),
            ends: vec![3, usize::MAX, 5, 9],
        };
        let got: Vec<&[u8]> = r.iter().collect();
        assert_eq!(got, vec![&b"aaa"[..], b"bb", b"cccc"]);
    }
}

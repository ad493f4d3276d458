//! The deleting thread of an upload run.
//!
//! A run is marked delivered before it is queued here, so a deletion that
//! cannot happen loses nothing and sends nothing twice: the next run
//! deletes the marked rows first. On a full file system (the reserve
//! spent, a recorder writing into what the uploader freed) the thread
//! retries for a few seconds, then stops deleting and says so
//! ([`Deleter::out_of_room`]): the run then ends with spans remaining
//! (exit 75) instead of an error.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracespool_spool::{SpoolOptions, SpoolReader};

/// How long a deletion is retried on a full file system.
const NO_ROOM_PATIENCE: Duration = Duration::from_secs(3);

/// The deleting thread: deletes delivered runs (oldest first) on its own
/// connection, so the next request goes out while the last one's rows are
/// deleted.
pub(crate) struct Deleter {
    pub(crate) tx: Option<std::sync::mpsc::Sender<(i64, i64)>>,
    pub(crate) thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    out_of_room: Arc<AtomicBool>,
}

impl Deleter {
    pub(crate) fn start(spool: &Path, opts: &SpoolOptions) -> anyhow::Result<Self> {
        let mut reader = SpoolReader::open(spool, opts).context("open the spool")?;
        let (tx, rx) = std::sync::mpsc::channel::<(i64, i64)>();
        let out_of_room = Arc::new(AtomicBool::new(false));
        let full = out_of_room.clone();
        let thread = std::thread::Builder::new()
            .name("tracespool-delete".into())
            .spawn(move || {
                for (first, last) in rx {
                    if full.load(Ordering::Relaxed) {
                        // Marked delivered: the next run deletes them.
                        continue;
                    }
                    let since = Instant::now();
                    loop {
                        match reader.ack(first, last) {
                            Ok(_) => break,
                            Err(e) if e.is_disk_full() && since.elapsed() < NO_ROOM_PATIENCE => {
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            Err(e) if e.is_disk_full() => {
                                tracing::warn!(error = %e, "no room to delete delivered spans; they are marked delivered, and the next run deletes them first");
                                full.store(true, Ordering::Relaxed);
                                break;
                            }
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                }
                Ok(())
            })
            .context("start the deleting thread")?;
        Ok(Deleter {
            tx: Some(tx),
            thread: Some(thread),
            out_of_room,
        })
    }

    /// Whether deleting stopped for lack of room.
    pub(crate) fn out_of_room(&self) -> bool {
        self.out_of_room.load(Ordering::Relaxed)
    }

    /// Queues a delivered run for deletion. Fails if the thread stopped
    /// on an error (which [`Deleter::finish`] then returns).
    pub(crate) fn delete(&mut self, first: i64, last: i64) -> anyhow::Result<()> {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|t| t.send((first, last)).is_ok());
        if !sent {
            self.finish()?;
            anyhow::bail!("the deleting thread stopped");
        }
        Ok(())
    }

    /// Waits until every queued run is deleted.
    pub(crate) fn finish(&mut self) -> anyhow::Result<()> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(anyhow::anyhow!(e)).context("the deleting thread"),
            Some(Err(_)) => anyhow::bail!("the deleting thread panicked"),
        }
    }
}

impl Drop for Deleter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

//! The deleting thread of an upload run.

use std::path::Path;

use anyhow::Context as _;
use tracespool_spool::{SpoolOptions, SpoolReader};

/// The deleting thread: deletes delivered runs (oldest first) on its own
/// connection, so the next request goes out while the last one's rows are
/// deleted.
pub(crate) struct Deleter {
    pub(crate) tx: Option<std::sync::mpsc::Sender<(i64, i64)>>,
    pub(crate) thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Deleter {
    pub(crate) fn start(spool: &Path) -> anyhow::Result<Self> {
        let mut reader =
            SpoolReader::open(spool, &SpoolOptions::default()).context("open the spool")?;
        let (tx, rx) = std::sync::mpsc::channel::<(i64, i64)>();
        let thread = std::thread::Builder::new()
            .name("tracespool-delete".into())
            .spawn(move || {
                for (first, last) in rx {
                    reader.ack(first, last).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
            .context("start the deleting thread")?;
        Ok(Deleter {
            tx: Some(tx),
            thread: Some(thread),
        })
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

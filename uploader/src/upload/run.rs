//! One upload run over a spool the caller holds the lock of: batches from
//! the preparing thread are delivered in order until done (`--once`),
//! stopped, or past the deadline; in service mode it then waits for new
//! spans (a file watch, or a 1 s poll).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tracespool_spool::now_ns;

use super::config::{Outcome, RunStats, UploadConfig};
use super::deliver::{Delivery, Stop};
use super::prepare::{prepare_loop, FromPrep, Plan};
use crate::auth::Auth;
use crate::repair::ConvertOptions;

/// One upload run.
pub struct Uploader {
    cfg: UploadConfig,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
    wake: Arc<Notify>,
    progress: Option<Progress>,
}

/// A progress bar on a terminal (`--once`).
struct Progress {
    total: u64,
    last: Instant,
}

impl Uploader {
    /// Prepares a run. The spool must exist.
    pub fn new(
        cfg: UploadConfig,
        auth: Auth,
        shutdown: watch::Receiver<bool>,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let mut delivery = Delivery::new(&cfg, auth, shutdown.clone())?;
        let progress = if cfg.once && !cfg.dry_run && std::io::stderr().is_terminal() {
            Some(Progress {
                total: delivery.pending().unwrap_or(0),
                last: Instant::now(),
            })
        } else {
            None
        };
        Ok(Uploader {
            cfg,
            delivery,
            shutdown,
            wake,
            progress,
        })
    }

    /// What this run did so far.
    pub fn stats(&self) -> RunStats {
        self.delivery.stats()
    }

    /// Runs until done (`--once`), stopped, or past the deadline.
    ///
    /// A preparing thread leases, decodes and converts the next batches
    /// (on its own read-only connection) while this task sends the current
    /// one and the deleting thread deletes what was delivered: the three
    /// overlap.
    pub async fn run(&mut self) -> anyhow::Result<Outcome> {
        // The clock first: the batches prepared next follow what it says.
        let unsaved_samples = self.delivery.check_clock().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<FromPrep>(2);
        let (ctl_tx, ctl_rx) = std::sync::mpsc::channel::<()>();
        let opts = ConvertOptions {
            resource_labels: self.cfg.resource_labels.clone(),
            now_ns: self.cfg.expiry_as_of_ns.unwrap_or_else(now_ns),
        };
        let plan = Plan {
            writer: self.cfg.sink.piece_writer(&self.cfg.project, opts),
            compression: self.cfg.compression,
            expire: self.cfg.sink.expires_old_spans(&self.cfg.endpoint),
            batch: self.cfg.batch_size,
            as_of: self.cfg.expiry_as_of_ns,
            unsaved_samples,
            spool_options: self.cfg.spool_options,
            read_only: self.cfg.dry_run,
        };
        let spool = self.cfg.spool.clone();
        std::thread::Builder::new()
            .name("tracespool-prepare".into())
            .spawn(move || prepare_loop(&spool, plan, tx, ctl_rx))
            .context("start the preparing thread")?;
        loop {
            if *self.shutdown.borrow() {
                return self.finish(Outcome::Interrupted);
            }
            if self.delivery.past_deadline() {
                let pending = self.delivery.pending()?;
                if pending == 0 {
                    return self.finish(Outcome::Delivered);
                }
                return self.finish(Outcome::SpansRemain {
                    pending,
                    reason: "--max-duration reached".into(),
                });
            }
            let msg = {
                let mut sd = self.shutdown.clone();
                tokio::select! {
                    m = rx.recv() => m,
                    _ = sd.changed() => continue,
                }
            };
            match msg {
                Some(FromPrep::Batch(b)) => {
                    let done = self.delivery.process(b).await?;
                    self.progress_tick();
                    if self.delivery.out_of_room() {
                        let pending = self.delivery.pending()?;
                        return self.finish(Outcome::SpansRemain {
                            pending,
                            reason: "the file system is full: delivered spans could not be deleted yet (the next run deletes them first)".into(),
                        });
                    }
                    match done {
                        Ok(()) => {}
                        Err(Stop::Shutdown) => return self.finish(Outcome::Interrupted),
                        Err(Stop::Deadline(reason)) => {
                            let pending = self.delivery.pending()?;
                            return self.finish(Outcome::SpansRemain { pending, reason });
                        }
                    }
                }
                Some(FromPrep::CaughtUp) => {
                    // Every batch sent before this message is done.
                    if self.cfg.once || self.cfg.dry_run {
                        return self.finish(Outcome::Delivered);
                    }
                    self.wait_for_spans().await;
                    let _ = ctl_tx.send(());
                }
                Some(FromPrep::Failed(e)) => return Err(e).context("read the spool"),
                None => anyhow::bail!("the preparing thread stopped"),
            }
        }
    }

    fn finish(&mut self, o: Outcome) -> anyhow::Result<Outcome> {
        self.delivery.close()?;
        if self.progress.is_some() {
            eprintln!();
        }
        Ok(o)
    }

    /// Waits for a commit to the spool (file watch), a 1 s poll tick, or a
    /// shutdown.
    async fn wait_for_spans(&mut self) {
        let mut sd = self.shutdown.clone();
        tokio::select! {
            _ = self.wake.notified() => {
                // Let a burst of commits settle into one batch.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = sd.changed() => {}
        }
    }

    fn progress_tick(&mut self) {
        let uploaded = self.delivery.stats().uploaded;
        if let Some(p) = &mut self.progress {
            if p.last.elapsed() >= Duration::from_millis(100) {
                p.last = Instant::now();
                let total = p.total.max(uploaded);
                let pct = (uploaded * 100).checked_div(total).unwrap_or(100);
                let filled = (pct / 5) as usize;
                eprint!(
                    "\r[{}{}] {uploaded}/{total} spans uploaded",
                    "#".repeat(filled),
                    " ".repeat(20 - filled.min(20))
                );
            }
        }
    }
}

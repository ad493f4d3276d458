//! The upload loop: lease pending spans oldest first, convert them, send
//! them to the sink (Cloud Trace's `traces:batchWrite`, or OTLP's
//! `/v1/traces`), and delete them only after a 2xx.
//!
//! Invariants:
//! * A span leaves the spool only after a 2xx for the request that carried
//!   it (an OTLP partial success included: the spans it names are
//!   quarantined, the count of those it does not name is kept as
//!   `rejected_by_server`), or when it is quarantined
//!   (alone, with the server's reason), or when it is past Cloud Trace's
//!   14-day window and the destination is Google's (counted as
//!   `upload_expired`; a collector gets every span, however old).
//! * No deadline deletes data: when offline, without credentials, or
//!   refused, the uploader waits and retries (or, with `--once`, exits with
//!   spans left pending).
//! * A crash at any moment loses nothing; only the batch in flight may be
//!   sent twice. Requests that failed ambiguously (timeout, reset, 502/504)
//!   are counted as possible duplicates when resent.
//! * After a 2xx the run is marked delivered (one tiny transaction) before
//!   the next request goes out; its rows are deleted by the deleting thread
//!   on its own connection while that request is in flight (the spool's
//!   invariant 5). A crash between the two leaves rows at or below the mark,
//!   which the next run deletes before sending anything: they are never
//!   sent again.
//!
//! Three threads: the preparing thread leases, decodes and writes the JSON
//! bodies ahead; this task sends them and marks them delivered; the
//! deleting thread deletes delivered runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tracespool_spool::{now_ns, Counter, SpoolOptions, SpoolReader};

mod delete;
mod deliver;
mod dry_run;
mod framing;
mod prepare;
mod send;

use self::delete::Deleter;
use self::framing::PieceWriter;
use self::prepare::{prepare_loop, FromPrep, Plan};
use self::send::Sender;
use crate::auth::Auth;
use crate::convert::ConvertOptions;
use crate::pacing::Pacer;
use crate::policy::Backoff;
use crate::sink::{Compression, Sink};

/// What `upload` was asked to do.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// The spool file.
    pub spool: PathBuf,
    /// Send what is pending, then exit.
    pub once: bool,
    /// The Cloud project (empty: none, for an OTLP collector without
    /// credentials).
    pub project: String,
    /// Where spans go.
    pub sink: Sink,
    /// The sink's root endpoint, e.g. `https://cloudtrace.googleapis.com`.
    pub endpoint: String,
    /// Request body compression.
    pub compression: Compression,
    /// Extra request headers (`--header`). Never logged.
    pub headers: Vec<(String, String)>,
    /// A CA certificate (PEM) trusted besides the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Spans per request.
    pub batch_size: usize,
    /// Stop after this long (default for `--once`: 60 s; none otherwise).
    pub max_duration: Option<Duration>,
    /// Print the requests instead of sending them.
    pub dry_run: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Longest backoff between retries.
    pub max_backoff: Duration,
    /// The time the 14-day window is judged at (`None`: now).
    pub expiry_as_of_ns: Option<u64>,
    /// Resource attributes sent besides the service and the monitored
    /// resource (`--resource-labels`).
    pub resource_labels: Option<regex::Regex>,
    /// The bandwidth budget in bytes per second (`--max-bandwidth`).
    pub max_bandwidth: Option<u64>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything pending was delivered (or quarantined/expired).
    Delivered,
    /// Spans remain because the network, the credentials or the server were
    /// not available (or `--max-duration` ran out).
    SpansRemain {
        /// Pending spans left.
        pending: u64,
        /// The last reason.
        reason: String,
    },
    /// Stopped by SIGTERM/SIGINT.
    Interrupted,
}

/// Counters of this run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    /// Spans delivered.
    pub uploaded: u64,
    /// Spans quarantined.
    pub quarantined: u64,
    /// Spans past the 14-day window.
    pub expired: u64,
    /// Requests retried.
    pub retries: u64,
    /// Spans resent after an ambiguous failure.
    pub possible_duplicates: u64,
    /// Requests sent.
    pub requests: u64,
    /// Request body bytes sent (every attempt).
    pub bytes_sent: u64,
    /// Spans an OTLP server rejected without naming them.
    pub rejected_by_server: u64,
}

enum Stop {
    Shutdown,
    Deadline(String),
}

/// One upload run over a spool the caller holds the lock of.
pub struct Uploader {
    cfg: UploadConfig,
    reader: SpoolReader,
    /// Absent for a dry run (which changes nothing).
    deleter: Option<Deleter>,
    auth: Auth,
    sender: Sender,
    shutdown: watch::Receiver<bool>,
    wake: Arc<Notify>,
    deadline: Option<Instant>,
    backoff: Backoff,
    /// Whether the last attempt failed (to log a failure once, and the
    /// recovery once).
    failing: Option<String>,
    pub(crate) stats: RunStats,
    /// Possible duplicates not yet added to the spool's counter.
    unrecorded_duplicates: u64,
    /// Bytes sent not yet added to the spool's counter.
    unrecorded_bytes: u64,
    /// The bandwidth budget, if any.
    pacer: Option<Pacer>,
    progress: Option<Progress>,
    last_meta: Instant,
}

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
        let mut reader =
            SpoolReader::open(&cfg.spool, &SpoolOptions::default()).context("open the spool")?;
        let deleter = if cfg.dry_run {
            None
        } else {
            // Rows a killed run had delivered but not yet deleted.
            let n = reader
                .ack_delivered()
                .context("delete spans delivered by an earlier run")?;
            if n > 0 {
                tracing::info!(count = n, "deleted spans an interrupted run had delivered");
            }
            reader
                .no_auto_checkpoint()
                .context("configure the spool connection")?;
            Some(Deleter::start(&cfg.spool)?)
        };
        let client = crate::sink::http_client(cfg.request_timeout, cfg.ca_cert.as_deref())?;
        let url = cfg.sink.url(&cfg.endpoint, &cfg.project);
        let headers = crate::sink::request_headers(
            cfg.sink,
            cfg.compression,
            &cfg.project,
            auth.is_enabled(),
            &cfg.headers,
        )?;
        let deadline = cfg.max_duration.map(|d| Instant::now() + d);
        let progress =
            (cfg.once && !cfg.dry_run && std::io::stderr().is_terminal()).then(|| Progress {
                total: reader.totals().map(|t| t.pending_rows).unwrap_or(0),
                last: Instant::now(),
            });
        let pacer = cfg.max_bandwidth.map(Pacer::new);
        Ok(Uploader {
            backoff: Backoff::new(Duration::from_secs(1), cfg.max_backoff),
            cfg,
            reader,
            deleter,
            auth,
            sender: Sender {
                client,
                url,
                headers,
            },
            shutdown,
            wake,
            deadline,
            failing: None,
            stats: RunStats::default(),
            unrecorded_duplicates: 0,
            unrecorded_bytes: 0,
            pacer,
            progress,
            last_meta: Instant::now() - Duration::from_secs(10),
        })
    }

    /// Runs until done (`--once`), stopped, or past the deadline.
    ///
    /// A preparing thread leases, decodes and converts the next batches
    /// (on its own read-only connection) while this task sends the current
    /// one and deletes what was delivered: the two overlap.
    pub async fn run(&mut self) -> anyhow::Result<Outcome> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<FromPrep>(2);
        let (ctl_tx, ctl_rx) = std::sync::mpsc::channel::<()>();
        let (spool, batch, as_of, compression) = (
            self.cfg.spool.clone(),
            self.cfg.batch_size,
            self.cfg.expiry_as_of_ns,
            self.cfg.compression,
        );
        let opts = ConvertOptions {
            resource_labels: self.cfg.resource_labels.clone(),
            now_ns: as_of.unwrap_or_else(now_ns),
        };
        let project = self.cfg.project.clone();
        let expire = self.cfg.sink.expires_old_spans(&self.cfg.endpoint);
        let writer = match self.cfg.sink {
            Sink::Cloudtrace => {
                PieceWriter::Json(Box::new(crate::json::SpanJsonWriter::new(&project, opts)))
            }
            Sink::Otlp => PieceWriter::Otlp(Box::new(crate::otlp::body::OtlpBatchWriter::new(
                (!project.is_empty()).then_some(project),
                opts,
            ))),
        };
        std::thread::Builder::new()
            .name("tracespool-prepare".into())
            .spawn(move || {
                let plan = Plan {
                    writer,
                    compression,
                    expire,
                    batch,
                    as_of,
                };
                prepare_loop(&spool, plan, tx, ctl_rx)
            })
            .context("start the preparing thread")?;
        loop {
            if *self.shutdown.borrow() {
                return self.finish(Outcome::Interrupted);
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                let pending = self.pending()?;
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
                Some(FromPrep::Batch(b)) => match self.process(b).await? {
                    Ok(()) => {}
                    Err(Stop::Shutdown) => return self.finish(Outcome::Interrupted),
                    Err(Stop::Deadline(reason)) => {
                        let pending = self.pending()?;
                        return self.finish(Outcome::SpansRemain { pending, reason });
                    }
                },
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

    fn pending(&mut self) -> anyhow::Result<u64> {
        if let Some(d) = &mut self.deleter {
            d.finish()?;
        }
        Ok(self
            .reader
            .totals()
            .context("read spool totals")?
            .pending_rows)
    }

    fn finish(&mut self, o: Outcome) -> anyhow::Result<Outcome> {
        if let Some(d) = &mut self.deleter {
            d.finish()?;
        }
        self.write_meta(true);
        // Space freed by this run: hold the reserve again for next time.
        if !self.cfg.dry_run {
            self.reader.restore_reserve();
        }
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

    fn count_retry(&mut self) {
        if let Err(e) = self.reader.add_counters(&[(Counter::UploadRetries, 1)]) {
            tracing::debug!(error = %e, "could not count a retry");
        }
    }

    fn recovered(&mut self) {
        if let Some(reason) = self.failing.take() {
            tracing::info!(after_failures = self.backoff.attempts(), previous = %reason, "delivering again");
        }
        self.backoff.reset();
        self.write_meta(false);
    }

    /// Logs a failure (once per kind, then at debug), records it in the
    /// spool, and waits with backoff. Fails with `Stop` on shutdown or when
    /// the wait would pass the deadline.
    async fn wait_after_failure(&mut self, reason: String, min_wait: Duration) -> Result<(), Stop> {
        let wait = self.backoff.next(min_wait, fastrand::f64());
        if self.failing.as_deref() != Some(reason.as_str()) {
            tracing::warn!(%reason, retry_in = ?wait, "upload failed; spans stay in the spool");
        } else {
            tracing::debug!(%reason, retry_in = ?wait, "upload failed again");
        }
        let now = now_ns().to_string();
        let _ = self.reader.set_meta(&[
            ("last_attempt_ns", &now),
            ("last_error", &reason),
            ("last_error_ns", &now),
        ]);
        self.failing = Some(reason.clone());
        if let Some(d) = self.deadline {
            if Instant::now() + wait > d {
                return Err(Stop::Deadline(reason));
            }
        }
        let mut sd = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = sd.changed() => Err(Stop::Shutdown),
        }
    }

    /// Records the last attempt and success (at most once a second unless
    /// `force`).
    fn write_meta(&mut self, force: bool) {
        if !force && self.last_meta.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_meta = Instant::now();
        let now = now_ns().to_string();
        let mut pairs = vec![("last_attempt_ns", now.as_str())];
        if self.failing.is_none() && self.stats.requests > 0 {
            pairs.push(("last_success_ns", now.as_str()));
        }
        if let Err(e) = self.reader.set_meta(&pairs) {
            tracing::debug!(error = %e, "could not record upload status");
        }
        if self.unrecorded_duplicates > 0 || self.unrecorded_bytes > 0 {
            let (n, b) = (
                std::mem::take(&mut self.unrecorded_duplicates),
                std::mem::take(&mut self.unrecorded_bytes),
            );
            if self
                .reader
                .add_counters(&[
                    (Counter::UploadPossibleDuplicates, n),
                    (Counter::UploadBytes, b),
                ])
                .is_err()
            {
                self.unrecorded_duplicates += n;
                self.unrecorded_bytes += b;
            }
        }
    }

    fn progress_tick(&mut self) {
        let uploaded = self.stats.uploaded;
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

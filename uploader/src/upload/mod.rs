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

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tracespool_spool::{now_ns, Counter, SpoolOptions, SpoolReader};

mod delete;
mod framing;
mod prepare;
mod send;

use self::delete::Deleter;
use self::framing::{body_of, compress, PieceWriter};
use self::prepare::{prepare_loop, FromPrep, Plan, Prepared, PreparedBatch};
use self::send::{Answer, Sender};
use crate::auth::Auth;
use crate::convert::ConvertOptions;
use crate::otlp::response::{classify_otlp, named_spans};
use crate::pacing::Pacer;
use crate::policy::{classify_status, classify_transport, Backoff, Decision};
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

/// The headers of every request: content type and encoding, the quota
/// project for Google's Telemetry API (OTLP with credentials), and the
/// `--header`s (which may override them).
fn request_headers(
    cfg: &UploadConfig,
    authenticated: bool,
) -> anyhow::Result<reqwest::header::HeaderMap> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(cfg.sink.content_type()),
    );
    if cfg.compression == Compression::Gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if cfg.sink == Sink::Otlp && authenticated && !cfg.project.is_empty() {
        h.insert(
            HeaderName::from_static("x-goog-user-project"),
            HeaderValue::from_str(&cfg.project).context("the project is not a header value")?,
        );
    }
    for (k, v) in &cfg.headers {
        // Checked when parsed; the value is never echoed.
        let name = HeaderName::from_bytes(k.as_bytes()).context("a --header name")?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| anyhow::anyhow!("the value of header {k} is not a valid header value"))?;
        h.insert(name, value);
    }
    Ok(h)
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
        let headers = request_headers(&cfg, auth.is_enabled())?;
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

    /// Quarantines the corrupt rows, removes the expired ones, and sends
    /// the rest of one prepared batch.
    async fn process(&mut self, batch: PreparedBatch) -> anyhow::Result<Result<(), Stop>> {
        let PreparedBatch {
            corrupt,
            expired,
            body,
            buf,
            framing,
            spans: prepared,
        } = batch;
        if self.cfg.dry_run {
            // A dry run changes nothing in the spool.
            if !corrupt.is_empty() || !expired.is_empty() {
                tracing::warn!(
                    corrupt = corrupt.len(),
                    expired = expired.len(),
                    "dry run: these rows would be quarantined (corrupt) or dropped (past 14 days)"
                );
            }
            if !prepared.is_empty() {
                if let Err(stop) = self.deliver(body, &prepared).await? {
                    return Ok(Err(stop));
                }
            }
            return Ok(Ok(()));
        }
        if !corrupt.is_empty() {
            let rows: Vec<(i64, &str)> = corrupt.iter().map(|(i, r)| (*i, r.as_str())).collect();
            let n = self
                .reader
                .quarantine(&rows)
                .context("quarantine corrupt rows")?;
            self.stats.quarantined += n;
            tracing::warn!(count = n, "quarantined corrupt records");
        }
        if !expired.is_empty() {
            let n = self
                .reader
                .remove(&expired, Counter::UploadExpired)
                .context("remove expired spans")?;
            self.stats.expired += n;
            tracing::warn!(
                count = n,
                "spans older than Cloud Trace's 14-day window were not sent"
            );
        }
        if prepared.is_empty() {
            return Ok(Ok(()));
        }
        // Send in order; a split pushes its halves.
        let mut stack = vec![(0usize, prepared.len())];
        while let Some((a, b)) = stack.pop() {
            let part = if (a, b) == (0, prepared.len()) {
                body.clone()
            } else {
                let raw = body_of(&framing, &buf, prepared[a..b].iter().map(|p| &p.piece));
                compress(raw, self.cfg.compression).into()
            };
            match self.deliver(part, &prepared[a..b]).await? {
                Ok(Some(mid)) => {
                    let m = a + mid;
                    stack.push((m, b));
                    stack.push((a, m));
                }
                Ok(None) => {}
                Err(stop) => return Ok(Err(stop)),
            }
        }
        Ok(Ok(()))
    }

    /// Sends one run of spans until it is delivered, quarantined, or must be
    /// split (returns the split point).
    async fn deliver(
        &mut self,
        body: bytes::Bytes,
        spans: &[Prepared],
    ) -> anyhow::Result<Result<Option<usize>, Stop>> {
        if self.cfg.dry_run {
            self.print_request(&body)?;
            self.stats.requests += 1;
            return Ok(Ok(None));
        }
        // Without credentials there is no token to refresh: a 401 is final.
        let mut token_fresh = !self.auth.is_enabled();
        let mut ambiguous_before = false;
        loop {
            if *self.shutdown.borrow() {
                return Ok(Err(Stop::Shutdown));
            }
            let token = match self.auth.token_if_enabled().await {
                Ok(t) => t,
                Err(e) => {
                    let reason = e.to_string();
                    if let Err(stop) = self
                        .wait_after_failure(reason, Duration::from_secs(5))
                        .await
                    {
                        return Ok(Err(stop));
                    }
                    continue;
                }
            };
            if ambiguous_before {
                self.stats.possible_duplicates += spans.len() as u64;
                self.unrecorded_duplicates += spans.len() as u64;
            }
            if let Some(p) = &mut self.pacer {
                let wait = p.reserve(body.len(), Instant::now());
                if !wait.is_zero() {
                    let mut sd = self.shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = sd.changed() => return Ok(Err(Stop::Shutdown)),
                    }
                }
            }
            self.stats.requests += 1;
            self.stats.bytes_sent += body.len() as u64;
            self.unrecorded_bytes += body.len() as u64;
            let answer = {
                let mut sd = self.shutdown.clone();
                let post = self.sender.post(&token, body.clone());
                tokio::pin!(post);
                tokio::select! {
                    a = &mut post => a,
                    _ = sd.changed() => {
                        // Finish the request in flight within a grace
                        // period; if abandoned, its spans stay pending.
                        match tokio::time::timeout(Duration::from_secs(10), &mut post).await {
                            Ok(a) => a,
                            Err(_) => return Ok(Err(Stop::Shutdown)),
                        }
                    }
                }
            };
            drop(token);
            let decision = match answer {
                Answer::Http {
                    status,
                    retry_after,
                    body,
                } => match self.cfg.sink {
                    Sink::Cloudtrace => classify_status(
                        status,
                        retry_after,
                        &String::from_utf8_lossy(&body),
                        spans.len(),
                        token_fresh,
                    ),
                    Sink::Otlp => {
                        classify_otlp(status, retry_after, &body, spans.len(), token_fresh)
                    }
                },
                Answer::Transport { reason, sent } => classify_transport(reason, sent),
            };
            match decision {
                Decision::Delivered => {
                    self.delivered(spans)?;
                    return Ok(Ok(None));
                }
                Decision::PartiallyDelivered { rejected, message } => {
                    self.partially_delivered(spans, rejected, &message)?;
                    self.delivered(spans)?;
                    return Ok(Ok(None));
                }
                Decision::Split => return Ok(Ok(Some(spans.len() / 2))),
                Decision::Quarantine(reason) => {
                    let n = self
                        .reader
                        .quarantine(&[(spans[0].row_id, reason.as_str())])
                        .context("quarantine a span")?;
                    self.stats.quarantined += n;
                    tracing::warn!(row = spans[0].row_id, %reason, "span quarantined");
                    self.recovered();
                    return Ok(Ok(None));
                }
                Decision::RefreshToken => {
                    tracing::info!("HTTP 401: fetching a new token");
                    self.auth.reset();
                    token_fresh = true;
                    self.stats.retries += 1;
                    self.count_retry();
                }
                Decision::Retry {
                    min_wait,
                    ambiguous,
                    reason,
                } => {
                    ambiguous_before = ambiguous;
                    self.stats.retries += 1;
                    self.count_retry();
                    if let Err(stop) = self.wait_after_failure(reason, min_wait).await {
                        return Ok(Err(stop));
                    }
                    token_fresh = !self.auth.is_enabled();
                }
            }
        }
    }

    /// Marks a run delivered and hands it to the deleting thread.
    fn delivered(&mut self, spans: &[Prepared]) -> anyhow::Result<()> {
        let first = spans[0].row_id;
        let last = spans[spans.len() - 1].row_id;
        self.reader
            .mark_delivered(last)
            .context("mark spans delivered")?;
        if let Some(d) = &mut self.deleter {
            d.delete(first, last)?;
        }
        self.stats.uploaded += spans.len() as u64;
        self.recovered();
        self.progress_tick();
        Ok(())
    }

    /// An OTLP partial success: quarantines the spans the message names
    /// (before the run is marked delivered, so the mark never covers them),
    /// and counts the rejected spans it does not name.
    fn partially_delivered(
        &mut self,
        spans: &[Prepared],
        rejected: u64,
        message: &str,
    ) -> anyhow::Result<()> {
        let ids: Vec<String> = spans.iter().map(|p| p.span_id.to_string()).collect();
        let mut named = named_spans(message, &ids);
        if named.is_empty() && spans.len() == 1 && rejected > 0 {
            // A batch of one: the rejected span is known.
            named.push(0);
        }
        let reason = format!("OTLP partial success: {message}");
        let rows: Vec<(i64, &str)> = named
            .iter()
            .map(|&i| (spans[i].row_id, reason.as_str()))
            .collect();
        if !rows.is_empty() {
            let n = self
                .reader
                .quarantine(&rows)
                .context("quarantine rejected spans")?;
            self.stats.quarantined += n;
        }
        let unnamed = rejected.saturating_sub(rows.len() as u64);
        if unnamed > 0 {
            self.stats.rejected_by_server += unnamed;
            if let Err(e) = self
                .reader
                .add_counters(&[(Counter::RejectedByServer, unnamed)])
            {
                tracing::debug!(error = %e, "could not count rejected spans");
            }
        }
        tracing::warn!(
            rejected,
            quarantined = rows.len(),
            unnamed,
            %message,
            "the server rejected some spans of a batch and accepted the rest"
        );
        Ok(())
    }

    /// A dry run's request: one JSON line with the method, URL, headers
    /// (secrets masked) and body (Cloud Trace: the JSON as sent; OTLP: the
    /// request in OTLP/JSON).
    fn print_request(&self, body: &[u8]) -> anyhow::Result<()> {
        let mut headers = serde_json::Map::new();
        if self.auth.is_enabled() {
            headers.insert("authorization".into(), "Bearer <token>".into());
        }
        for (k, v) in &self.sender.headers {
            let shown = if k == reqwest::header::CONTENT_TYPE
                || k == reqwest::header::CONTENT_ENCODING
                || k.as_str() == "x-goog-user-project"
            {
                v.to_str().unwrap_or("").to_owned()
            } else {
                "<set>".to_owned()
            };
            headers.insert(k.as_str().to_owned(), shown.into());
        }
        let raw = match self.cfg.compression {
            Compression::None => body.to_vec(),
            Compression::Gzip => {
                use std::io::Read;
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(body)
                    .read_to_end(&mut out)
                    .context("read back the compressed body")?;
                out
            }
        };
        let mut out = std::io::stdout().lock();
        let head = serde_json::json!({
            "method": "POST",
            "url": self.sender.url,
            "headers": headers,
            "body_bytes": body.len(),
        })
        .to_string();
        out.write_all(&head.as_bytes()[..head.len() - 1])
            .and_then(|_| out.write_all(b",\"body\":"))
            .context("write to stdout")?;
        match self.cfg.sink {
            Sink::Cloudtrace => out.write_all(&raw).context("write to stdout")?,
            Sink::Otlp => {
                use prost::Message;
                let req = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&raw[..])
                    .context("read back the OTLP body")?;
                serde_json::to_writer(&mut out, &req).context("write to stdout")?;
            }
        }
        out.write_all(b"}\n").context("write to stdout")?;
        Ok(())
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

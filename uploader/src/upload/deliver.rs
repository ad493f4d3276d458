//! Delivering one prepared batch: the state machine of an upload attempt.
//!
//! A batch's corrupt rows are quarantined and its expired rows removed
//! first; then its spans are sent as one run. A run goes through:
//!
//! ```text
//!            ┌──────────────────────────────── wait (backoff, at least what the answer asks) ◄─┐
//!            ▼                                                                                 │
//!   token ─► send ─► answer ─┬─ 2xx ───────────────► delivered: marked, then deleted           │
//!     │                      ├─ 2xx partial ───────► named spans quarantined, the rest delivered
//!     │                      ├─ 400/413, n > 1 ────► split: each half is a run, in order       │
//!     │                      ├─ 400/413, n = 1 ────► quarantined with the server's reason      │
//!     │                      ├─ 401, token old ────► new token, send again                     │
//!     │                      └─ 401 again, 403, 404, 429, 5xx, no answer ──────────────────────┘
//!     └─ no token ─────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The decisions are [`crate::answer`]'s and the destination's
//! ([`crate::destination::Destination::classify`]); what they do to rows
//! is written through the [`Ledger`]. A wait stops the run on shutdown,
//! or when it would pass `--max-duration` ([`Stop`]); the batch's spans
//! then stay pending. A dry run prints each request instead of sending it
//! and changes no row.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracespool_spool::{ClockSample, Counter, SampleSource};

use super::config::{RunStats, UploadConfig};
use super::dry_run;
use super::ledger::Ledger;
use super::prepare::{Prepared, PreparedBatch};
use super::send::Sender;
use super::waits::Waits;
use crate::answer::{named_spans, Answer, Decision};
use crate::auth::Auth;
use crate::backoff::Backoff;
use crate::compression::Compression;
use crate::destination::sink::Sink;
use crate::own_clock::{sample_to_record, trusts_server, ServerClock, MIN_SKEW_NS};
use crate::pacing::Pacer;

/// Why delivery stopped with spans left pending.
pub(crate) enum Stop {
    /// SIGTERM or SIGINT.
    Shutdown,
    /// The next wait would pass `--max-duration`; the last reason.
    Deadline(String),
}

/// Sends prepared batches and records what became of their spans.
pub(crate) struct Delivery {
    sink: Sink,
    compression: Compression,
    dry_run: bool,
    ledger: Ledger,
    auth: Auth,
    sender: Sender,
    backoff: Backoff,
    pacer: Option<Pacer>,
    waits: Waits,
    /// `--max-duration`, on the clock of [`Waits`].
    deadline: Option<Duration>,
    shutdown: watch::Receiver<bool>,
    /// The reason of the last failure, while failing (to log a failure
    /// once, and the recovery once).
    failing: Option<String>,
    stats: RunStats,
    endpoint: String,
    server_clock: ServerClock,
    /// The server's skew (local − server, ns) last recorded as a sample.
    recorded_skew: Option<i64>,
}

impl Delivery {
    /// Opens the spool for the run (see [`Ledger::open`]) and prepares the
    /// requests.
    pub(crate) fn new(
        cfg: &UploadConfig,
        auth: Auth,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let ledger = Ledger::open(&cfg.spool, &cfg.spool_options, cfg.dry_run)?;
        let client = crate::http::http_client(cfg.request_timeout, cfg.ca_cert.as_deref())?;
        let url = cfg
            .traces_url
            .clone()
            .unwrap_or_else(|| cfg.sink.url(&cfg.endpoint, &cfg.project));
        let headers = crate::http::request_headers(
            cfg.sink,
            cfg.compression,
            &cfg.project,
            auth.is_enabled(),
            &cfg.headers,
        )?;
        Ok(Delivery {
            sink: cfg.sink,
            compression: cfg.compression,
            dry_run: cfg.dry_run,
            ledger,
            auth,
            sender: Sender {
                client,
                url,
                headers,
            },
            backoff: Backoff::new(Duration::from_secs(1), cfg.max_backoff),
            pacer: cfg.max_bandwidth.map(Pacer::new),
            waits: Waits::new(cfg.simulated_waits),
            deadline: cfg.max_duration,
            shutdown,
            failing: None,
            stats: RunStats::default(),
            endpoint: cfg.endpoint.clone(),
            server_clock: cfg.server_clock,
            recorded_skew: None,
        })
    }

    /// Checks this machine's clock before anything is prepared: against
    /// the server's `Date` (one `GET` of the endpoint, unless a dry run or
    /// `--server-clock ignore`) and against its boot's samples. Records a
    /// sample when it says something new (see `crate::own_clock`);
    /// returns it instead for a dry run, which changes nothing.
    pub(crate) async fn check_clock(&mut self) -> anyhow::Result<Vec<ClockSample>> {
        let Some(own) = ClockSample::now(SampleSource::Uploader) else {
            return Ok(Vec::new());
        };
        let date = if self.dry_run || self.server_clock == ServerClock::Ignore {
            None
        } else {
            self.sender.server_date(&self.endpoint).await
        };
        let trusted =
            date.filter(|_| trusts_server(self.server_clock, &self.endpoint, own.wall_ns));
        let book = self.ledger.clock_book()?;
        let Some(sample) = sample_to_record(&book, &own, trusted) else {
            return Ok(Vec::new());
        };
        self.note_sample(&sample);
        if self.dry_run {
            return Ok(vec![sample]);
        }
        self.ledger.add_clock_sample(&sample)?;
        Ok(Vec::new())
    }

    /// A server's `Date` seen in an answer: when it is trusted and
    /// disagrees with this machine's clock by more than it did when last
    /// recorded, a new sample (the batches prepared next follow it).
    fn server_said(&mut self, date_s: i64) -> anyhow::Result<()> {
        let Some(own) = ClockSample::now(SampleSource::Uploader) else {
            return Ok(());
        };
        let skew = own.wall_ns - (date_s * 1_000_000_000 + 500_000_000);
        let known = self.recorded_skew.unwrap_or(0);
        if (skew - known).abs() < MIN_SKEW_NS
            || !trusts_server(self.server_clock, &self.endpoint, own.wall_ns)
        {
            return Ok(());
        }
        let book = self.ledger.clock_book()?;
        if let Some(sample) = sample_to_record(&book, &own, Some(date_s)) {
            self.note_sample(&sample);
            self.ledger.add_clock_sample(&sample)?;
        }
        Ok(())
    }

    fn note_sample(&mut self, s: &ClockSample) {
        if s.source == SampleSource::ServerDate {
            let skew = ClockSample::now(SampleSource::Uploader)
                .map_or(0, |own| own.offset_ns() - s.offset_ns());
            self.recorded_skew = Some(skew);
            tracing::warn!(
                skew_s = skew / 1_000_000_000,
                "this machine's clock disagrees with the server's Date; span times of this boot follow the server's"
            );
        } else {
            tracing::info!("the clock was stepped since this boot's last sample; earlier spans of this boot are re-timed");
        }
    }

    /// What this run did so far.
    pub(crate) fn stats(&self) -> RunStats {
        self.stats
    }

    /// Whether `--max-duration` has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| self.waits.elapsed() >= d)
    }

    /// Whether delivered spans can no longer be deleted for lack of room.
    pub(crate) fn out_of_room(&self) -> bool {
        self.ledger.out_of_room()
    }

    /// Spans pending now.
    pub(crate) fn pending(&mut self) -> anyhow::Result<u64> {
        self.ledger.pending()
    }

    /// Ends the run (see [`Ledger::close`]).
    pub(crate) fn close(&mut self) -> anyhow::Result<()> {
        let succeeded = self.failing.is_none() && self.stats.requests > 0;
        self.ledger.close(succeeded)
    }

    /// Quarantines the corrupt rows, removes the expired ones, and sends
    /// the rest of one prepared batch.
    pub(crate) async fn process(
        &mut self,
        batch: PreparedBatch,
    ) -> anyhow::Result<Result<(), Stop>> {
        if self.dry_run {
            if !batch.corrupt.is_empty() || !batch.expired.is_empty() || !batch.undatable.is_empty()
            {
                tracing::warn!(
                    corrupt = batch.corrupt.len(),
                    expired = batch.expired.len(),
                    undatable = batch.undatable.len(),
                    "dry run: these rows would be quarantined (corrupt) or dropped (past 14 days)"
                );
            }
        } else {
            self.set_aside(&batch)?;
        }
        if batch.spans.is_empty() {
            return Ok(Ok(()));
        }
        // Send in order; a split pushes its halves: a run over the
        // destination's largest request before it is sent, after a 400 or
        // 413 otherwise.
        let max_raw = self.sink.max_request_bytes();
        let mut stack = vec![(0usize, batch.spans.len())];
        while let Some((a, b)) = stack.pop() {
            let Some(body) = batch.part(a..b, self.compression, max_raw) else {
                let m = a + (b - a) / 2;
                stack.push((m, b));
                stack.push((a, m));
                continue;
            };
            match self.send_run(body, &batch.spans[a..b]).await? {
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

    /// Quarantines a batch's corrupt rows and removes its expired ones.
    fn set_aside(&mut self, batch: &PreparedBatch) -> anyhow::Result<()> {
        if !batch.corrupt.is_empty() {
            let rows: Vec<(i64, &str)> = batch
                .corrupt
                .iter()
                .map(|(i, r)| (*i, r.as_str()))
                .collect();
            let n = self.ledger.quarantine(&rows)?;
            self.stats.quarantined += n;
            tracing::warn!(count = n, "quarantined corrupt records");
        }
        if !batch.expired.is_empty() {
            let n = self.ledger.expire(&batch.expired, Counter::UploadExpired)?;
            self.stats.expired += n;
            tracing::warn!(
                count = n,
                "spans older than Google's 14-day window were not sent"
            );
        }
        if !batch.undatable.is_empty() {
            let n = self
                .ledger
                .expire(&batch.undatable, Counter::UploadUndatable)?;
            self.stats.undatable += n;
            tracing::warn!(
                count = n,
                "spans recorded before the clock was set, past the 14-day window by those times, and not repairable, were not sent"
            );
        }
        Ok(())
    }

    /// Sends one run of spans until it is delivered, quarantined, or must be
    /// split (returns the split point).
    async fn send_run(
        &mut self,
        body: bytes::Bytes,
        spans: &[Prepared],
    ) -> anyhow::Result<Result<Option<usize>, Stop>> {
        if self.dry_run {
            dry_run::print_request(
                self.sink,
                self.compression,
                &self.sender,
                self.auth.is_enabled(),
                &body,
            )?;
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
                    let mut reason = e.to_string();
                    if let Some(skew) = self.recorded_skew.filter(|s| s.abs() >= 60_000_000_000) {
                        // A signed token request carries this clock's time.
                        reason.push_str(&format!(
                            " (this machine's clock is {} s off the server's: a token request signed with it is refused until the clock is set)",
                            skew / 1_000_000_000
                        ));
                    }
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
                self.ledger.possible_duplicates(spans.len() as u64);
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
            // Only requests that reached the server count (not one refused
            // at connect, or never resolved).
            if matches!(
                answer,
                Answer::Http { .. } | Answer::Transport { sent: true, .. }
            ) {
                self.stats.requests += 1;
                self.stats.bytes_sent += body.len() as u64;
                self.ledger.bytes_sent(body.len() as u64);
            }
            // What a server echoes of the token or a header value never
            // reaches the log or the spool.
            let decision = {
                let secrets: Vec<&str> = std::iter::once(token.as_str())
                    .chain(self.sender.headers.values().filter_map(|v| v.to_str().ok()))
                    .collect();
                self.sink
                    .classify(&answer, spans.len(), token_fresh)
                    .redacted(&secrets)
            };
            drop(token);
            if let Answer::Http { date: Some(d), .. } = &answer {
                self.server_said(*d)?;
            }
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
                        .ledger
                        .quarantine(&[(spans[0].row_id, reason.as_str())])?;
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
                    self.ledger.count(Counter::UploadRetries, 1);
                }
                Decision::Retry {
                    min_wait,
                    ambiguous,
                    reason,
                } => {
                    ambiguous_before = ambiguous;
                    self.stats.retries += 1;
                    self.ledger.count(Counter::UploadRetries, 1);
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
        self.ledger.delivered(first, last)?;
        self.stats.uploaded += spans.len() as u64;
        let repaired = spans.iter().filter(|p| p.repaired).count() as u64;
        if repaired > 0 {
            self.stats.clock_repaired += repaired;
            self.ledger.count(Counter::ClockRepaired, repaired);
        }
        self.recovered();
        Ok(())
    }

    /// A partial success: quarantines the spans the message names (before
    /// the run is marked delivered, so the mark never covers them), and
    /// counts the rejected spans it does not name.
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
        let reason = format!("{} partial success: {message}", self.sink.display_name());
        let rows: Vec<(i64, &str)> = named
            .iter()
            .map(|&i| (spans[i].row_id, reason.as_str()))
            .collect();
        if !rows.is_empty() {
            let n = self.ledger.quarantine(&rows)?;
            self.stats.quarantined += n;
        }
        let unnamed = rejected.saturating_sub(rows.len() as u64);
        if unnamed > 0 {
            self.stats.rejected_by_server += unnamed;
            self.ledger.count(Counter::RejectedByServer, unnamed);
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

    /// After a success: logs the recovery once, resets the backoff, and
    /// records the status.
    fn recovered(&mut self) {
        if let Some(reason) = self.failing.take() {
            tracing::info!(after_failures = self.backoff.attempts(), previous = %reason, "delivering again");
        }
        self.backoff.reset();
        let succeeded = self.stats.requests > 0;
        self.ledger.status(succeeded, false);
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
        self.ledger.failed(&reason);
        self.failing = Some(reason.clone());
        if self
            .deadline
            .is_some_and(|d| self.waits.elapsed() + wait > d)
        {
            return Err(Stop::Deadline(reason));
        }
        let mut sd = self.shutdown.clone();
        self.waits
            .sleep(wait, &mut sd)
            .await
            .map_err(|_| Stop::Shutdown)
    }
}

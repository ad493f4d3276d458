//! Sending one prepared batch: corrupt rows quarantined, expired rows
//! removed, then the request, and what each answer means for the rows
//! (`crate::policy` for Cloud Trace, `crate::otlp::response` for OTLP):
//! delivered, partially delivered, split, quarantined, or retried.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracespool_spool::Counter;

use super::dry_run;
use super::framing::{body_of, compress};
use super::prepare::{Prepared, PreparedBatch};
use super::send::Answer;
use super::{Stop, Uploader};
use crate::otlp::response::{classify_otlp, named_spans};
use crate::policy::{classify_status, classify_transport, Decision};
use crate::sink::Sink;

impl Uploader {
    /// Quarantines the corrupt rows, removes the expired ones, and sends
    /// the rest of one prepared batch.
    pub(super) async fn process(
        &mut self,
        batch: PreparedBatch,
    ) -> anyhow::Result<Result<(), Stop>> {
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
            dry_run::print_request(
                self.cfg.sink,
                self.cfg.compression,
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
}

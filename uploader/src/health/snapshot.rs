//! What the spool says of its own health at one moment: read through a
//! read-only connection from the `totals`, `counters` and `meta` tables
//! and the two ends of the pending range (no scan), so that reading it
//! every minute costs the same on a spool of ten spans or ten million.

use std::path::{Path, PathBuf};

use tracespool_spool::{Counter, SpoolReader};

use crate::inspect::common::{file_size, meta_time, with_suffix};

/// One reading of a spool's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The spool.
    pub spool: PathBuf,
    /// When it was read (ns since the epoch).
    pub taken_ns: u64,
    /// Pending spans and their bytes.
    pub pending_spans: u64,
    pub pending_bytes: u64,
    /// Quarantined spans.
    pub quarantined_spans: u64,
    /// The spool file and its WAL, in bytes.
    pub size_bytes: u64,
    /// The start time of the oldest pending span (by arrival).
    pub oldest_pending_start_ns: Option<u64>,
    /// The uploader's last attempt and last success.
    pub last_attempt_ns: Option<u64>,
    pub last_success_ns: Option<u64>,
    /// Whether the last error came after the last success.
    pub failing: bool,
    /// Every counter the spool keeps, in display order (0 when unset).
    pub counters: Vec<(Counter, u64)>,
}

impl Health {
    /// Reads `spool` at `now_ns`.
    pub fn read(spool: &Path, now_ns: u64) -> anyhow::Result<Health> {
        let r = SpoolReader::open_read_only(spool)?;
        let totals = r.totals()?;
        let kept = r.counters()?;
        let counters = Counter::ALL
            .iter()
            .map(|c| {
                let n = kept.iter().find(|(k, _)| k == c).map_or(0, |(_, n)| *n);
                (*c, n)
            })
            .collect();
        let (oldest, _) = r.pending_edges()?;
        let last_success_ns = meta_time(&r, "last_success_ns")?;
        let last_error_ns = meta_time(&r, "last_error_ns")?;
        let failing = r.meta("last_error")?.is_some() && last_error_ns > last_success_ns;
        Ok(Health {
            spool: spool.to_owned(),
            taken_ns: now_ns,
            pending_spans: totals.pending_rows,
            pending_bytes: totals.pending_bytes,
            quarantined_spans: totals.quarantined_rows,
            size_bytes: file_size(spool) + file_size(&with_suffix(spool, "-wal")),
            oldest_pending_start_ns: oldest.map(|o| o.start_ns.max(0) as u64),
            last_attempt_ns: meta_time(&r, "last_attempt_ns")?,
            last_success_ns,
            failing,
            counters,
        })
    }
}

//! The overview page's data: the spool's health as `inspect` reads it,
//! the quarantine's reasons, and spans per time bucket over the spool's
//! time range (one pass over the start times; at most [`MAX_BUCKETS`]
//! buckets, so memory does not grow with the spool).

use std::path::Path;

use serde::Serialize;
use tracespool_spool::SpoolReader;

use crate::health::metrics::{metrics, Number};
use crate::health::snapshot::Health;

/// Buckets of the spans-per-time chart at most.
pub const MAX_BUCKETS: usize = 240;

/// One named number of the health table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figure {
    pub name: String,
    pub description: String,
    pub value: f64,
}

/// Spans that started in one bucket of time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub start_ns: i64,
    pub spans: u64,
}

/// The overview.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overview {
    pub spool: String,
    pub pending_spans: u64,
    pub quarantined_spans: u64,
    pub oldest_pending_start_ns: Option<u64>,
    pub last_success_ns: Option<u64>,
    pub last_attempt_ns: Option<u64>,
    pub failing: bool,
    pub last_error: Option<String>,
    /// Every health figure (as `--metrics-textfile` names them).
    pub figures: Vec<Figure>,
    pub quarantine_reasons: Vec<(String, u64)>,
    /// The width of a chart bucket.
    pub bucket_ns: i64,
    pub buckets: Vec<Bucket>,
}

/// Reads the overview.
pub fn load_overview(r: &SpoolReader, spool: &Path, now_ns: u64) -> anyhow::Result<Overview> {
    let h = Health::read(spool, now_ns)?;
    let figures = metrics(&h)
        .into_iter()
        .map(|m| Figure {
            name: m.prometheus_name,
            description: m.description,
            value: match m.value {
                Number::Int(i) => i as f64,
                Number::Float(f) => f,
            },
        })
        .collect();
    let (bucket_ns, buckets) = histogram(r)?;
    Ok(Overview {
        spool: spool.display().to_string(),
        pending_spans: h.pending_spans,
        quarantined_spans: h.quarantined_spans,
        oldest_pending_start_ns: h.oldest_pending_start_ns,
        last_success_ns: h.last_success_ns,
        last_attempt_ns: h.last_attempt_ns,
        failing: h.failing,
        last_error: r.meta("last_error")?,
        figures,
        quarantine_reasons: r.quarantine_reasons()?,
        bucket_ns,
        buckets,
    })
}

/// Spans per bucket: a first pass finds the range, a second counts (two
/// reads of one column, no memory beyond the buckets).
fn histogram(r: &SpoolReader) -> anyhow::Result<(i64, Vec<Bucket>)> {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    r.for_each_start(|t| {
        lo = lo.min(t);
        hi = hi.max(t);
    })?;
    if lo > hi {
        return Ok((60_000_000_000, Vec::new()));
    }
    let bucket_ns = bucket_width(hi - lo);
    let first = lo - lo.rem_euclid(bucket_ns);
    let n = ((hi - first) / bucket_ns + 1) as usize;
    let mut counts = vec![0u64; n.min(MAX_BUCKETS + 1)];
    r.for_each_start(|t| {
        let i = (((t - first) / bucket_ns) as usize).min(counts.len() - 1);
        counts[i] += 1;
    })?;
    let buckets = counts
        .into_iter()
        .enumerate()
        .map(|(i, spans)| Bucket {
            start_ns: first + i as i64 * bucket_ns,
            spans,
        })
        .collect();
    Ok((bucket_ns, buckets))
}

/// A round bucket width (1 min, 5 min, 15 min, 1 h, 6 h, 1 day, then days)
/// that cuts `range` into at most [`MAX_BUCKETS`] buckets.
pub fn bucket_width(range: i64) -> i64 {
    const MIN: i64 = 60_000_000_000;
    const STEPS: [i64; 7] = [1, 5, 15, 60, 360, 1440, 10080];
    for s in STEPS {
        if range / (s * MIN) < MAX_BUCKETS as i64 {
            return s * MIN;
        }
    }
    let days = range / (MAX_BUCKETS as i64 * 1440 * MIN) + 1;
    days * 1440 * MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_and_few() {
        let min = 60_000_000_000;
        assert_eq!(bucket_width(0), min);
        assert_eq!(bucket_width(100 * min), min);
        assert_eq!(bucket_width(300 * min), 5 * min);
        assert_eq!(bucket_width(9 * 1440 * min), 60 * min);
        // A clock that booted at 1970: decades of range, still few buckets.
        let decades = 56 * 365 * 1440 * min;
        assert!(decades / bucket_width(decades) <= MAX_BUCKETS as i64);
    }
}

//! The metrics a [`Health`] reading gives: a pure function, so the
//! Prometheus text file and the OTLP request carry the same numbers under
//! names derived from one table.
//!
//! | OTLP name | Prometheus name | kind | unit |
//! |---|---|---|---|
//! | `tracespool.spool.pending.spans` | `tracespool_spool_pending_spans` | gauge | `{span}` |
//! | `tracespool.spool.pending.bytes` | `tracespool_spool_pending_bytes` | gauge | `By` |
//! | `tracespool.spool.quarantined.spans` | `tracespool_spool_quarantined_spans` | gauge | `{span}` |
//! | `tracespool.spool.size` | `tracespool_spool_size_bytes` | gauge | `By` |
//! | `tracespool.spool.oldest_pending.age` | `tracespool_spool_oldest_pending_age_seconds` | gauge | `s` |
//! | `tracespool.upload.last_attempt.time` | `tracespool_upload_last_attempt_timestamp_seconds` | gauge | `s` |
//! | `tracespool.upload.last_success.time` | `tracespool_upload_last_success_timestamp_seconds` | gauge | `s` |
//! | `tracespool.upload.failing` | `tracespool_upload_failing` | gauge | `1` |
//! | `tracespool.spool.<counter>` | `tracespool_spool_<counter>_total` | counter | `{span}`, `{request}` or `By` |
//!
//! Every counter the spool keeps is exported (`uploaded`, `upload_expired`,
//! `upload_undatable`, `quarantined`, `upload_bytes`, `upload_retries`,
//! `upload_possible_duplicates`, the recorders' drops `recorder_queue_full`,
//! `recorder_write_errors`, `recorder_no_room`, `budget_dropped_oldest`,
//! `budget_dropped_newest`, `age_expired`, …): a counter added to the
//! spool appears here without a change. The counters are the spool's
//! lifetime totals (they survive restarts of the uploader and of the box).
//! A time never reached (no success yet, nothing pending) reads 0.

use tracespool_spool::Counter;

use super::snapshot::Health;

/// Gauge or counter (a cumulative, monotonic sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A metric's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(u64),
    Float(f64),
}

/// One metric of one spool.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub otlp_name: String,
    pub prometheus_name: String,
    pub description: String,
    pub unit: &'static str,
    pub kind: Kind,
    pub value: Number,
}

fn gauge(name: &str, prom: &str, unit: &'static str, description: &str, value: Number) -> Metric {
    Metric {
        otlp_name: format!("tracespool.{name}"),
        prometheus_name: format!("tracespool_{prom}"),
        description: description.to_owned(),
        unit,
        kind: Kind::Gauge,
        value,
    }
}

fn seconds(ns: Option<u64>) -> Number {
    Number::Float(ns.map_or(0.0, |n| n as f64 / 1e9))
}

/// The unit of a spool counter.
fn counter_unit(c: Counter) -> &'static str {
    match c {
        Counter::UploadBytes => "By",
        Counter::UploadRetries => "{request}",
        _ => "{span}",
    }
}

/// What a spool counter counts, for the metric's description.
fn counter_description(c: Counter) -> &'static str {
    match c {
        Counter::Appended => "Spans appended by recorders.",
        Counter::Uploaded => "Spans delivered and deleted by the uploader.",
        Counter::Quarantined => "Spans moved to quarantine.",
        Counter::UploadExpired => "Spans not sent: past Google's 14-day window.",
        Counter::UploadUndatable => {
            "Spans not sent: past the 14-day window by a clock known to be wrong."
        }
        Counter::UploadRetries => "Upload requests retried.",
        Counter::UploadPossibleDuplicates => "Spans resent after an ambiguous failure.",
        Counter::UploadBytes => "Request body bytes put on the wire.",
        Counter::RecorderQueueFull => "Spans recorders dropped: their queue was full.",
        Counter::RecorderWriteErrors => "Spans recorders dropped: the spool could not be written.",
        Counter::RecorderNoRoom => "Spans recorders dropped: no room on the file system.",
        Counter::BudgetDroppedOldest => "Spans deleted to keep the spool within its budget.",
        Counter::BudgetDroppedNewest => "Spans refused: the spool was at its budget.",
        Counter::AgeExpired => "Spans deleted: older than the spool's max age.",
        Counter::Requeued => "Quarantined spans put back to pending.",
        Counter::Purged => "Spans deleted by an operator.",
        Counter::LostToDamage => "Spans recover could not read from a damaged spool.",
        Counter::RejectedByServer => "Spans an OTLP server rejected without naming them.",
        Counter::ClockRepaired => "Spans sent at a repaired time.",
        _ => "A spool counter.",
    }
}

/// The metrics of `h`, gauges first, then every spool counter.
pub fn metrics(h: &Health) -> Vec<Metric> {
    let age = h
        .oldest_pending_start_ns
        .map(|start| h.taken_ns.saturating_sub(start));
    let mut out = vec![
        gauge(
            "spool.pending.spans",
            "spool_pending_spans",
            "{span}",
            "Spans waiting in the spool to be sent.",
            Number::Int(h.pending_spans),
        ),
        gauge(
            "spool.pending.bytes",
            "spool_pending_bytes",
            "By",
            "Bytes of the spans waiting in the spool.",
            Number::Int(h.pending_bytes),
        ),
        gauge(
            "spool.quarantined.spans",
            "spool_quarantined_spans",
            "{span}",
            "Spans in quarantine (refused by the server or unreadable).",
            Number::Int(h.quarantined_spans),
        ),
        gauge(
            "spool.size",
            "spool_size_bytes",
            "By",
            "The spool file and its WAL.",
            Number::Int(h.size_bytes),
        ),
        gauge(
            "spool.oldest_pending.age",
            "spool_oldest_pending_age_seconds",
            "s",
            "How long ago the oldest pending span started (0: nothing pending).",
            seconds(age),
        ),
        gauge(
            "upload.last_attempt.time",
            "upload_last_attempt_timestamp_seconds",
            "s",
            "When the uploader last sent a request (0: never).",
            seconds(h.last_attempt_ns),
        ),
        gauge(
            "upload.last_success.time",
            "upload_last_success_timestamp_seconds",
            "s",
            "When a request was last accepted (0: never).",
            seconds(h.last_success_ns),
        ),
        gauge(
            "upload.failing",
            "upload_failing",
            "1",
            "1 while the last upload error is newer than the last success.",
            Number::Int(u64::from(h.failing)),
        ),
    ];
    out.extend(h.counters.iter().map(|(c, n)| Metric {
        otlp_name: format!("tracespool.spool.{}", c.name()),
        prometheus_name: format!("tracespool_spool_{}_total", c.name()),
        description: counter_description(*c).to_owned(),
        unit: counter_unit(*c),
        kind: Kind::Counter,
        value: Number::Int(*n),
    }));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn health() -> Health {
        Health {
            spool: "/var/lib/app/traces.spool".into(),
            taken_ns: 1_000 * 1_000_000_000,
            pending_spans: 12,
            pending_bytes: 3_400,
            quarantined_spans: 1,
            size_bytes: 65_536,
            oldest_pending_start_ns: Some(940 * 1_000_000_000),
            last_attempt_ns: Some(990 * 1_000_000_000),
            last_success_ns: None,
            failing: true,
            counters: Counter::ALL
                .iter()
                .map(|c| (*c, if *c == Counter::Uploaded { 7 } else { 0 }))
                .collect(),
        }
    }

    fn find<'a>(m: &'a [Metric], prom: &str) -> &'a Metric {
        m.iter().find(|x| x.prometheus_name == prom).unwrap()
    }

    #[test]
    fn gauges_say_how_far_behind_and_whether_it_is_failing() {
        let m = metrics(&health());
        assert_eq!(
            find(&m, "tracespool_spool_pending_spans").value,
            Number::Int(12)
        );
        assert_eq!(
            find(&m, "tracespool_spool_oldest_pending_age_seconds").value,
            Number::Float(60.0)
        );
        assert_eq!(
            find(&m, "tracespool_upload_last_success_timestamp_seconds").value,
            Number::Float(0.0)
        );
        assert_eq!(find(&m, "tracespool_upload_failing").value, Number::Int(1));
    }

    #[test]
    fn every_spool_counter_is_a_counter_metric() {
        let m = metrics(&health());
        let counters: Vec<_> = m.iter().filter(|x| x.kind == Kind::Counter).collect();
        assert_eq!(counters.len(), Counter::ALL.len());
        let up = find(&m, "tracespool_spool_uploaded_total");
        assert_eq!(up.value, Number::Int(7));
        assert_eq!(up.otlp_name, "tracespool.spool.uploaded");
        assert_eq!(find(&m, "tracespool_spool_upload_bytes_total").unit, "By");
        // Names are unique on both sides.
        let mut names: Vec<_> = m.iter().map(|x| x.prometheus_name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), m.len());
    }
}

//! The repairs every destination applies before a span is sent: pure
//! functions of the span, so a span is sent with the same ids, name and
//! times whichever destination it goes to, and on every resend.
//!
//! | what a destination refuses | repair |
//! |---|---|
//! | empty or blank name | [`UNNAMED_SPAN`] ([`sent_name`]) |
//! | all-zero trace or span id | a non-zero id derived from the span's name and times, the same on every resend ([`sent_ids`]) |
//! | all-zero parent id, or the span's own id | sent as a root |
//! | end before start | end = start ([`sent_times`]) |
//! | end more than 3 days ahead of the uploader's clock | start and end clamped to the latest time accepted (now + 3 days − 10 min) |
//! | start more than 14 days ago (Google's window) | not sent, see [`is_expired`]; only for destinations that refuse such spans |
//!
//! Each destination adds its own limits (lengths, counts) in its folder.

use regex::Regex;
use tracespool_schema::{is_blank, SpanData, SpanId, TraceId, UNNAMED_SPAN};

/// The oldest span Google's trace APIs accept: 14 days.
pub const MAX_AGE_NS: u64 = 14 * 24 * 3600 * 1_000_000_000;

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a conversion needs besides the span.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Resource attributes to send besides the service and the monitored
    /// resource (`--resource-labels`), for destinations that send the
    /// resource as span labels (Cloud Trace).
    pub resource_labels: Option<Regex>,
    /// The uploader's clock (ns since the epoch), for the 3-day limit.
    pub now_ns: u64,
}

impl ConvertOptions {
    /// No opted-in resource attributes; the clock is now.
    pub fn now() -> Self {
        ConvertOptions {
            resource_labels: None,
            now_ns: tracespool_spool::now_ns(),
        }
    }

    /// The latest time accepted: 3 days ahead, less a 10-minute margin for
    /// clocks and the trip.
    pub fn latest_ns(&self) -> u64 {
        const AHEAD_NS: u64 = (3 * 24 * 60 - 10) * 60 * 1_000_000_000;
        self.now_ns.saturating_add(AHEAD_NS)
    }
}

/// The ids a span is sent with (see the repairs table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentIds {
    /// The trace id.
    pub trace: TraceId,
    /// The span id.
    pub span: SpanId,
    /// The parent, if any.
    pub parent: Option<SpanId>,
}

/// FNV-1a over the span's name and times, never 0: a stand-in for an
/// all-zero id that is the same each time the span is sent.
fn derived_id(s: &SpanData, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let times = [s.start_ns.to_le_bytes(), s.end_ns.to_le_bytes()];
    for b in s.name.bytes().chain(times.iter().flatten().copied()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

/// The ids as sent.
pub fn sent_ids(s: &SpanData) -> SentIds {
    let trace = if s.trace_id.is_zero() {
        let hi = u128::from(derived_id(s, 1));
        TraceId(((hi << 64) | u128::from(derived_id(s, 2))).to_be_bytes())
    } else {
        s.trace_id
    };
    let span = if s.span_id.is_zero() {
        SpanId::from_u64(derived_id(s, 3))
    } else {
        s.span_id
    };
    let parent = s.parent_span_id.filter(|p| !p.is_zero() && *p != span);
    SentIds {
        trace,
        span,
        parent,
    }
}

/// (start, end) as sent: end not before start, both no later than the
/// destination accepts.
pub fn sent_times(s: &SpanData, opts: &ConvertOptions) -> (u64, u64) {
    let latest = opts.latest_ns();
    let start = s.start_ns.min(latest);
    (start, s.end_ns.max(start).min(latest))
}

/// The name as sent (before a destination's truncation): [`UNNAMED_SPAN`]
/// for an empty or blank name (records of early recorders kept them).
pub fn sent_name(s: &SpanData) -> &str {
    if is_blank(&s.name) {
        UNNAMED_SPAN
    } else {
        &s.name
    }
}

/// Whether a span is too old for Google's trace APIs (its start is more
/// than 14 days, less a 10-minute safety margin for the trip, before
/// `now_ns`).
pub fn is_expired(span: &SpanData, now_ns: u64) -> bool {
    const MARGIN_NS: u64 = 10 * 60 * 1_000_000_000;
    span.start_ns < now_ns.saturating_sub(MAX_AGE_NS - MARGIN_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_000_000_000_000_000;

    fn span(name: &str) -> SpanData {
        let mut s = SpanData::new(TraceId([0; 16]), SpanId([0; 8]), name.to_owned());
        s.start_ns = NOW - 5;
        s.end_ns = NOW;
        s
    }

    #[test]
    fn zero_ids_get_stable_non_zero_ones() {
        let s = span("x");
        let a = sent_ids(&s);
        assert!(!a.trace.is_zero() && !a.span.is_zero());
        assert_eq!(a, sent_ids(&s), "the same on every resend");
        assert_ne!(a.span, sent_ids(&span("y")).span);
        let mut own_parent = span("x");
        own_parent.parent_span_id = Some(a.span);
        assert_eq!(sent_ids(&own_parent).parent, None);
    }

    #[test]
    fn times_and_names_are_repaired() {
        let opts = ConvertOptions {
            resource_labels: None,
            now_ns: NOW,
        };
        let mut s = span("  ");
        assert_eq!(sent_name(&s), UNNAMED_SPAN);
        s.end_ns = s.start_ns - 1;
        assert_eq!(sent_times(&s, &opts), (s.start_ns, s.start_ns));
        s.start_ns = u64::MAX - 1;
        s.end_ns = u64::MAX;
        let (a, b) = sent_times(&s, &opts);
        assert_eq!((a, b), (opts.latest_ns(), opts.latest_ns()));
    }

    #[test]
    fn the_window_is_fourteen_days_less_a_margin() {
        let mut s = span("x");
        s.start_ns = NOW - MAX_AGE_NS + 11 * 60 * 1_000_000_000;
        assert!(!is_expired(&s, NOW));
        s.start_ns = NOW - MAX_AGE_NS + 9 * 60 * 1_000_000_000;
        assert!(is_expired(&s, NOW));
    }
}

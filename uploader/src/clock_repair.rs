//! Repairing span times recorded while the wall clock was wrong: a pure
//! rule over the spool's clock samples (see the `clock` module of
//! `tracespool-spool`), unit-tested without a clock.
//!
//! # The rule
//!
//! Within one boot, `CLOCK_BOOTTIME` never jumps, so `wall − boottime` (a
//! sample's *offset*) is constant while nobody steps the wall clock. Every
//! batch of spans is tagged with a sample of the clock it was recorded
//! with. For a span whose sample is `s`, of boot `b`:
//!
//! 1. The **reference** of boot `b` is the offset of its latest sample (by
//!    boottime): the recorders' after NTP stepped the clock, the uploader's
//!    own when it runs in that boot, or a server's `Date` when the uploader
//!    trusts it (see `own_clock`). Clocks get better over time, so the
//!    latest word on a boot is the truest.
//! 2. The **shift** is `reference − offset(s)`: how wrong the clock was.
//!    Over [`MIN_SHIFT_NS`], the span's start, end and event times move by
//!    the shift, and the span says so in `tracespool.clock.corrected_ns`.
//! 3. A span whose clock, even repaired, reads before [`NOT_BEFORE_NS`] (no
//!    correct clock reads earlier than this build's release) is
//!    **undatable**: its times are known to be wrong and nothing can tell
//!    the truth. It keeps the 14-day rule on its recorded times, counted
//!    apart (`upload_undatable`) so an operator can tell "old" from
//!    "undatable".
//! 4. A span without a sample (an older recorder, a system without a boot
//!    id) keeps its times.
//!
//! A span recorded in the second between a step and the recorder's next
//! clock resync may keep up to that step's error: the recorder's span clock
//! follows the wall clock within a second (`recorder/src/clock.rs`).

use std::collections::HashMap;

use tracespool_schema::{Attribute, SpanData};
use tracespool_spool::ClockSample;

/// Shifts smaller than this are left alone (NTP slews by far less between
/// two samples; a sample is taken after a step of 100 ms or more).
pub const MIN_SHIFT_NS: i64 = 100_000_000;

/// No correct clock reads earlier than this: 2026-12-01T00:00:00Z, before
/// this build. A clock that does was never set (1970 at boot) or restored
/// from a stale save (fake-hwclock).
pub const NOT_BEFORE_NS: i64 = 1_796_083_200 * 1_000_000_000;

/// The attribute a repaired span carries: the shift, in ns (positive: the
/// clock was behind).
pub const CORRECTED_ATTRIBUTE: &str = "tracespool.clock.corrected_ns";

/// What the rule says of one span's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Keep them.
    Kept,
    /// Move them by this many ns.
    Shifted(i64),
    /// Known wrong, not repairable.
    Undatable,
}

/// The spool's clock samples, and each boot's reference.
#[derive(Debug, Default)]
pub struct ClockBook {
    samples: HashMap<i64, ClockSample>,
    /// Per boot: the latest sample's boottime and offset.
    latest: HashMap<[u8; 16], (i64, i64)>,
    /// The highest sample id seen (to read only newer ones).
    last_id: i64,
}

impl ClockBook {
    /// An empty book.
    pub fn new() -> Self {
        ClockBook::default()
    }

    /// The highest sample id added.
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// Adds a sample of the spool (by its id).
    pub fn add(&mut self, id: i64, s: ClockSample) {
        self.last_id = self.last_id.max(id);
        self.samples.insert(id, s);
        self.note(&s);
    }

    /// Adds a sample that is not in the spool (a dry run's own clock).
    pub fn add_unsaved(&mut self, s: ClockSample) {
        self.note(&s);
    }

    fn note(&mut self, s: &ClockSample) {
        let e = self
            .latest
            .entry(s.boot_id)
            .or_insert((s.boottime_ns, s.offset_ns()));
        if s.boottime_ns >= e.0 {
            *e = (s.boottime_ns, s.offset_ns());
        }
    }

    /// The reference offset of a boot, if it has a sample.
    pub fn reference(&self, boot_id: &[u8; 16]) -> Option<i64> {
        self.latest.get(boot_id).map(|(_, o)| *o)
    }

    /// What the rule says of a span tagged with `sample`.
    pub fn judge(&self, sample: Option<i64>) -> Timing {
        let Some(s) = sample.and_then(|id| self.samples.get(&id)) else {
            return Timing::Kept;
        };
        let reference = self.reference(&s.boot_id).unwrap_or(s.offset_ns());
        let shift = reference.saturating_sub(s.offset_ns());
        if s.wall_ns.saturating_add(shift) < NOT_BEFORE_NS {
            Timing::Undatable
        } else if shift.abs() >= MIN_SHIFT_NS {
            Timing::Shifted(shift)
        } else {
            Timing::Kept
        }
    }

    /// The wall time now by this machine's boot clock and the boot's
    /// reference (when `own` is this machine's clock now and its boot has a
    /// reference), else `own`'s wall clock.
    pub fn trusted_now_ns(&self, own: &ClockSample) -> i64 {
        match self.reference(&own.boot_id) {
            Some(r) => r.saturating_add(own.boottime_ns),
            None => own.wall_ns,
        }
    }
}

/// Moves a span's times by `shift` ns and marks it.
pub fn shift_span(span: &mut SpanData, shift: i64) {
    let by = |t: u64| t.saturating_add_signed(shift);
    span.start_ns = by(span.start_ns);
    span.end_ns = by(span.end_ns);
    for e in &mut span.events {
        e.time_ns = by(e.time_ns);
    }
    span.attributes
        .insert(0, Attribute::new(CORRECTED_ATTRIBUTE, shift));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::{SpanId, TimeEvent, TimeEventKind, TraceId};
    use tracespool_spool::SampleSource;

    const S: i64 = 1_000_000_000;
    /// 2026-12-05T00:00:00Z, the truth in these tests.
    const TRUE_BOOT: i64 = 1_796_428_800 * S;
    const A: [u8; 16] = [1; 16];
    const B: [u8; 16] = [2; 16];
    const MONTHS_18: i64 = 548 * 24 * 3600 * S;

    fn sample(boot: [u8; 16], boottime_s: i64, wall: i64, source: SampleSource) -> ClockSample {
        ClockSample::new(boot, boottime_s * S, wall, source)
    }

    fn rec(boot: [u8; 16], boottime_s: i64, wall: i64) -> ClockSample {
        sample(boot, boottime_s, wall, SampleSource::Recorder)
    }

    #[test]
    fn a_step_seen_later_in_the_boot_repairs_what_came_before() {
        let mut b = ClockBook::new();
        // Boot A: 18 months behind for the first hour, then NTP steps it.
        b.add(1, rec(A, 10, TRUE_BOOT - MONTHS_18 + 10 * S));
        b.add(2, rec(A, 3000, TRUE_BOOT - MONTHS_18 + 3000 * S));
        b.add(3, rec(A, 3700, TRUE_BOOT + 3700 * S));
        assert_eq!(b.judge(Some(1)), Timing::Shifted(MONTHS_18));
        assert_eq!(b.judge(Some(2)), Timing::Shifted(MONTHS_18));
        assert_eq!(b.judge(Some(3)), Timing::Kept);
        // Older rows (no sample) keep their times.
        assert_eq!(b.judge(None), Timing::Kept);
        assert_eq!(b.judge(Some(99)), Timing::Kept);
    }

    #[test]
    fn each_boot_is_repaired_by_its_own_samples_only() {
        let mut b = ClockBook::new();
        // Boot A was wrong and then fixed; boot B (after a reboot) started
        // at 1970 and was never fixed: its spans are undatable, and A's
        // fix says nothing about B.
        b.add(1, rec(A, 10, TRUE_BOOT - 7200 * S + 10 * S));
        b.add(2, rec(A, 20, TRUE_BOOT + 20 * S));
        b.add(3, rec(B, 5, 5 * S));
        b.add(4, rec(B, 500, 500 * S));
        assert_eq!(b.judge(Some(1)), Timing::Shifted(7200 * S));
        assert_eq!(b.judge(Some(3)), Timing::Undatable);
        assert_eq!(b.judge(Some(4)), Timing::Undatable);
        // A server's Date, learned by an uploader in boot B, repairs it.
        let true_b = TRUE_BOOT + 86_400 * S;
        b.add(
            5,
            sample(B, 900, true_b + 900 * S, SampleSource::ServerDate),
        );
        assert_eq!(b.judge(Some(3)), Timing::Shifted(true_b));
        assert_eq!(b.judge(Some(4)), Timing::Shifted(true_b));
    }

    #[test]
    fn the_latest_sample_wins_whatever_the_order_they_arrive_in() {
        let mut b = ClockBook::new();
        b.add(7, rec(A, 100, TRUE_BOOT + 100 * S));
        b.add(6, rec(A, 50, TRUE_BOOT - 3600 * S + 50 * S));
        assert_eq!(b.judge(Some(6)), Timing::Shifted(3600 * S));
        assert_eq!(b.last_id(), 7);
    }

    #[test]
    fn small_shifts_are_slews_and_plausible_unfixed_clocks_are_kept() {
        let mut b = ClockBook::new();
        b.add(1, rec(A, 10, TRUE_BOOT + 10 * S));
        b.add(2, rec(A, 20, TRUE_BOOT + 20 * S + 50_000_000));
        assert_eq!(b.judge(Some(1)), Timing::Kept);
        // A clock two days behind that nothing ever fixed: plausible
        // (after this build's release), kept.
        b.add(3, rec(B, 10, TRUE_BOOT - 2 * 86_400 * S));
        assert_eq!(b.judge(Some(3)), Timing::Kept);
    }

    #[test]
    fn now_follows_the_boot_s_reference() {
        let mut b = ClockBook::new();
        let own = rec(A, 4000, TRUE_BOOT - MONTHS_18 + 4000 * S);
        assert_eq!(b.trusted_now_ns(&own), own.wall_ns);
        b.add_unsaved(sample(
            A,
            3999,
            TRUE_BOOT + 3999 * S,
            SampleSource::ServerDate,
        ));
        assert_eq!(b.trusted_now_ns(&own), TRUE_BOOT + 4000 * S);
    }

    #[test]
    fn a_shift_moves_every_time_and_marks_the_span() {
        let mut s = SpanData::new(TraceId([1; 16]), SpanId([1; 8]), "x");
        s.start_ns = 100;
        s.end_ns = 200;
        s.events.push(TimeEvent {
            time_ns: 150,
            kind: TimeEventKind::Annotation {
                description: "e".into(),
                attributes: vec![],
                dropped_attributes: 0,
            },
        });
        shift_span(&mut s, 1000);
        assert_eq!(
            (s.start_ns, s.end_ns, s.events[0].time_ns),
            (1100, 1200, 1150)
        );
        assert_eq!(
            s.attributes[0],
            Attribute::new(CORRECTED_ATTRIBUTE, 1000i64)
        );
        shift_span(&mut s, -5000);
        assert_eq!((s.start_ns, s.end_ns), (0, 0), "saturates at the epoch");
    }
}

//! The span clock: wall-clock nanoseconds for span start, end and event
//! times, read on the caller's thread.
//!
//! Two clock reads are a quarter of the hot path's cost with the system
//! clock (`clock_gettime` through the vDSO plus `SystemTime` arithmetic).
//! Where the CPU has an invariant TSC, [`quanta`] reads it directly and
//! scales it to nanoseconds, at a fraction of that cost; elsewhere quanta
//! falls back to the OS's monotonic clock.
//!
//! Invariants:
//! * Until the TSC is calibrated (once per process, on the first writer
//!   thread, up to 200 ms of that thread's time), and wherever no clock was
//!   set up, [`now_ns`] reads the system clock: nothing on the caller's
//!   thread ever waits for calibration.
//! * The TSC gives durations; the wall-clock offset is re-read from the
//!   system clock by the writer thread ([`resync`]) about once a second
//!   (once per flush interval if that is longer), so times follow the
//!   system clock (NTP slews and steps) within the TSC's rate error over
//!   that interval (microseconds a second).
//! * A span's end is never before its start (the span clamps it), even if
//!   a resync lands between the two reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct SpanClock {
    clock: quanta::Clock,
    /// The raw reading that time is measured from.
    base_raw: u64,
    /// Wall-clock nanoseconds at `base_raw`, as of the last resync.
    offset_ns: AtomicU64,
}

static CLOCK: OnceLock<SpanClock> = OnceLock::new();

impl SpanClock {
    fn new() -> Self {
        let clock = quanta::Clock::new();
        let base_raw = clock.raw();
        let c = SpanClock {
            clock,
            base_raw,
            offset_ns: AtomicU64::new(0),
        };
        c.resync();
        c
    }

    #[inline]
    fn since_base(&self) -> u64 {
        self.clock.delta_as_nanos(self.base_raw, self.clock.raw())
    }

    #[inline]
    fn now_ns(&self) -> u64 {
        self.offset_ns
            .load(Ordering::Relaxed)
            .wrapping_add(self.since_base())
    }

    fn resync(&self) {
        let since = self.since_base();
        let wall = tracespool_spool::now_ns();
        self.offset_ns
            .store(wall.wrapping_sub(since), Ordering::Relaxed);
    }
}

/// Wall-clock nanoseconds since the Unix epoch, now, from the clock spans
/// are timed with (see the module docs): adapters stamp events with it so
/// that they line up with their spans' start and end.
#[inline]
pub fn now_ns() -> u64 {
    match CLOCK.get() {
        Some(c) => c.now_ns(),
        None => tracespool_spool::now_ns(),
    }
}

/// Sets the fast clock up (once per process; the first call calibrates).
pub(crate) fn calibrate() {
    CLOCK.get_or_init(SpanClock::new);
}

/// Re-reads the wall-clock offset from the system clock.
pub(crate) fn resync() {
    if let Some(c) = CLOCK.get() {
        c.resync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_clock_follows_the_system_clock() {
        calibrate();
        for _ in 0..1000 {
            let before = tracespool_spool::now_ns();
            let t = now_ns();
            let after = tracespool_spool::now_ns();
            // Within 1 ms of the system clock read around it.
            assert!(
                t + 1_000_000 >= before && t <= after + 1_000_000,
                "{before} {t} {after}"
            );
        }
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = now_ns();
        let d = b.saturating_sub(a);
        assert!(
            (20_000_000..1_000_000_000).contains(&d),
            "slept 20 ms, measured {d} ns"
        );
        resync();
        let c = now_ns();
        assert!(
            c + 1_000_000 >= b,
            "a resync moved time back by more than 1 ms"
        );
    }
}

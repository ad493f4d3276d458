//! The uploader's own clock, and a server's `Date` header as a second time
//! source where NTP is blocked and HTTPS is not.
//!
//! The uploader judges Google's 14-day window and the 3-day limit by its
//! own clock, and its clock is the reference for spans recorded in its own
//! boot (`clock_repair`). So it checks that clock against the server's:
//! before it prepares anything, with one `GET` of the endpoint (any answer
//! carries `Date`), and again with every answer.
//!
//! # When the server's clock is trusted (`--server-clock`)
//!
//! | policy | trusted |
//! |---|---|
//! | `auto` (the default) | Google's endpoints (`*.googleapis.com`) always; any other endpoint (a collector) only while this machine's clock reads before [`crate::clock_repair::NOT_BEFORE_NS`], that is, was never set |
//! | `trust` | every endpoint |
//! | `ignore` | none: the local clock is the truth |
//!
//! A trusted server whose `Date` differs from the local clock by
//! [`MIN_SKEW_NS`] or more (the header has 1 s resolution) sets this boot's
//! reference: the uploader records a sample of its boot with the server's
//! time (source `server-date`), so every span of this boot, and this
//! uploader's window, follow it. Otherwise the uploader records a sample of
//! its own clock when it differs from its boot's reference (a step no
//! recorder saw yet). Spans are then accurate to about a second with the
//! server's time, and exactly with a stepped clock.

use tracespool_spool::{ClockSample, SampleSource};

use crate::clock_repair::{ClockBook, NOT_BEFORE_NS};
use crate::endpoint::is_google;

/// Whose `Date` to trust.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerClock {
    /// Google's endpoints; others only while this machine's clock was never
    /// set.
    #[default]
    Auto,
    /// Every endpoint's.
    Trust,
    /// None.
    Ignore,
}

/// A server's `Date` that differs from the local clock by less than this
/// is not a disagreement (1 s resolution, plus the trip).
pub const MIN_SKEW_NS: i64 = 2_000_000_000;

/// Whether the `Date` of `endpoint` is trusted, with the local clock at
/// `local_wall_ns`.
pub fn trusts_server(policy: ServerClock, endpoint: &str, local_wall_ns: i64) -> bool {
    match policy {
        ServerClock::Trust => true,
        ServerClock::Ignore => false,
        ServerClock::Auto => is_google(endpoint) || local_wall_ns < NOT_BEFORE_NS,
    }
}

/// The sample the uploader should record, if any: `own` is this machine's
/// clock now; `server_date_s` a trusted server's `Date` (seconds) received
/// at that moment. `None` when it would say nothing the book does not
/// know.
pub fn sample_to_record(
    book: &ClockBook,
    own: &ClockSample,
    server_date_s: Option<i64>,
) -> Option<ClockSample> {
    // The header is the second it was sent in: the middle of it is the
    // best guess.
    let server_wall = server_date_s.map(|d| d * 1_000_000_000 + 500_000_000);
    let candidate = match server_wall {
        Some(w) if (own.wall_ns - w).abs() >= MIN_SKEW_NS => {
            ClockSample::new(own.boot_id, own.boottime_ns, w, SampleSource::ServerDate)
        }
        _ => ClockSample::new(
            own.boot_id,
            own.boottime_ns,
            own.wall_ns,
            SampleSource::Uploader,
        ),
    };
    match book.reference(&own.boot_id) {
        // This boot has spans: record what differs from its reference.
        Some(r) if (candidate.offset_ns() - r).abs() >= crate::clock_repair::MIN_SHIFT_NS => {
            Some(candidate)
        }
        Some(_) => None,
        // No span of this boot yet: only a server's correction is news.
        None => (candidate.source == SampleSource::ServerDate).then_some(candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const TRUE_NOW: i64 = 1_796_460_000 * S;
    const BOOT: [u8; 16] = [9; 16];

    fn own(wall: i64) -> ClockSample {
        ClockSample::new(BOOT, 1000 * S, wall, SampleSource::Uploader)
    }

    #[test]
    fn whose_date_is_trusted() {
        let google = "https://telemetry.googleapis.com";
        let collector = "http://127.0.0.1:4318";
        assert!(trusts_server(ServerClock::Auto, google, TRUE_NOW));
        assert!(!trusts_server(ServerClock::Auto, collector, TRUE_NOW));
        // A clock that reads 1970 trusts anyone who knows better.
        assert!(trusts_server(ServerClock::Auto, collector, 60 * S));
        assert!(trusts_server(ServerClock::Trust, collector, TRUE_NOW));
        assert!(!trusts_server(ServerClock::Ignore, google, 60 * S));
        assert!(!trusts_server(
            ServerClock::Auto,
            "https://googleapis.com.evil.example",
            TRUE_NOW
        ));
    }

    #[test]
    fn a_server_that_disagrees_sets_the_boot_s_reference() {
        let book = ClockBook::new();
        let behind = own(TRUE_NOW - 548 * 86_400 * S);
        let s = sample_to_record(&book, &behind, Some(TRUE_NOW / S)).unwrap();
        assert_eq!(s.source, SampleSource::ServerDate);
        assert_eq!(s.wall_ns, TRUE_NOW + 500_000_000);
        // Within the header's resolution: no disagreement, nothing new.
        assert_eq!(
            sample_to_record(&book, &own(TRUE_NOW + S), Some(TRUE_NOW / S)),
            None
        );
        assert_eq!(sample_to_record(&book, &own(TRUE_NOW), None), None);
    }

    #[test]
    fn the_uploader_s_clock_is_news_only_when_it_moved() {
        let mut book = ClockBook::new();
        book.add(
            1,
            ClockSample::new(
                BOOT,
                10 * S,
                TRUE_NOW - 3600 * S - 990 * S,
                SampleSource::Recorder,
            ),
        );
        // The clock was stepped since the recorder's last sample.
        let s = sample_to_record(&book, &own(TRUE_NOW), None).unwrap();
        assert_eq!(s.source, SampleSource::Uploader);
        book.add(2, s);
        assert_eq!(sample_to_record(&book, &own(TRUE_NOW), None), None);
    }
}

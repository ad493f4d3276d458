//! Wrong clocks for tests: libfaketime (Debian's `libfaketime`, installed
//! by `.ci/run`) preloaded into a child process fakes its wall clock only
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`: `CLOCK_BOOTTIME` and the monotonic
//! clocks stay true), and this machine's true boot clock and boot id to
//! compare with.

use std::path::PathBuf;

/// The libfaketime library, or `None` (with a message: the test then
/// skips) where it is not installed.
pub fn libfaketime() -> Option<PathBuf> {
    let found = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|d| PathBuf::from(d).join("faketime/libfaketime.so.1"))
    .find(|p| p.exists());
    if found.is_none() {
        return crate::skip("libfaketime is not installed (apt-get install libfaketime)");
    }
    found
}

/// The environment that fakes a child's wall clock: `spec` is
/// libfaketime's `FAKETIME`, e.g. `-548d` (548 days behind) or
/// `@1970-01-01 00:00:10` (starting then).
pub fn faked_wall_clock(lib: &std::path::Path, spec: &str) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME".into(), spec.into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// `CLOCK_BOOTTIME` now, ns (never faked: see the module docs).
pub fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The true wall clock at boottime `boottime_ns`, by this process's
/// (unfaked) clocks.
pub fn true_wall_at(boottime_ns: i64) -> i64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    wall - self::boottime_ns() + boottime_ns
}

/// An RFC 3339 UTC time (`2026-12-05T08:52:17.123456789Z`) as ns since the
/// epoch.
pub fn rfc3339_ns(s: &str) -> i64 {
    let (date, time) = s
        .trim_end_matches('Z')
        .split_once('T')
        .expect("a date and a time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let nanos: i64 = format!("{frac:0<9}")[..9].parse().unwrap();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 3600 + t[1] * 60 + t[2]) * 1_000_000_000 + nanos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), 0);
        assert_eq!(
            rfc3339_ns("2026-12-05T00:00:00.5Z"),
            1_796_428_800 * 1_000_000_000 + 500_000_000
        );
    }
}

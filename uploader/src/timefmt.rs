//! Time formatting without a calendar dependency: RFC 3339 with nanoseconds
//! and `Z`, as Cloud Trace's `Timestamp` wants.

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-01-02T03:04:05.123456789Z` for nanoseconds since the Unix epoch.
pub fn rfc3339_nanos(ns: u64) -> String {
    let mut out = Vec::with_capacity(30);
    write_rfc3339_nanos(&mut out, ns);
    // Only ASCII digits and separators were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`rfc3339_nanos`]`(ns)` to `out` (30 bytes; a `u64` of
/// nanoseconds ends in the year 2554, so the year has 4 digits).
pub fn write_rfc3339_nanos(out: &mut Vec<u8>, ns: u64) {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = ns % 1_000_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u64;
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u64);
    put(5, 2, u64::from(mo));
    put(8, 2, u64::from(d));
    put(11, 2, sod / 3600);
    put(14, 2, (sod / 60) % 60);
    put(17, 2, sod % 60);
    put(20, 9, nanos);
    out.extend_from_slice(&buf);
}

/// Like [`rfc3339_nanos`] but to the second, for people.
pub fn rfc3339_secs(ns: u64) -> String {
    let s = rfc3339_nanos(ns);
    format!("{}Z", &s[..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_764_000_000_123_456_789),
            "2025-11-24T16:00:00.123456789Z"
        );
        // Leap day and end of a leap year.
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(1_483_228_799_999_999_999),
            "2016-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            rfc3339_secs(1_764_000_000_123_456_789),
            "2025-11-24T16:00:00Z"
        );
    }
}

//! The bandwidth budget (`--max-bandwidth RATE`): after a long outage the
//! backlog must not saturate a metered or shared link. A pure pacer,
//! tested without a network or a clock.
//!
//! Each request body of `n` bytes occupies the link for `n / rate`
//! seconds of a virtual clock. A request waits until the virtual clock
//! reaches now; idle time builds up at most one second of credit (so a
//! burst after a pause is at most one second's worth). Retries are paced
//! too: every attempt puts its bytes on the wire.

use std::time::{Duration, Instant};

/// Paces request bodies to a rate in bytes per second.
#[derive(Debug, Clone)]
pub struct Pacer {
    bytes_per_sec: f64,
    /// When the link is free again, on the virtual clock.
    free_at: Option<Instant>,
}

/// The most idle time that turns into credit.
const MAX_CREDIT: Duration = Duration::from_secs(1);

impl Pacer {
    /// A pacer for `bytes_per_sec` (more than 0).
    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            free_at: None,
        }
    }

    /// Reserves the link for a body of `bytes` at `now`; returns how long
    /// to wait before sending it.
    pub fn reserve(&mut self, bytes: usize, now: Instant) -> Duration {
        let start = match self.free_at {
            // Idle long enough: at most a second of credit.
            Some(t) if t + MAX_CREDIT < now => now - MAX_CREDIT,
            Some(t) => t,
            None => now,
        };
        let wait = start.saturating_duration_since(now);
        self.free_at = Some(start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec));
        wait
    }
}

/// Parses a rate: a number and a unit per second, e.g. `64KiB/s`, `1MB/s`,
/// `512kbit/s`, `2Mbit/s`, `8000B/s` (the `/s` is optional; a bare number
/// is bytes per second). Returns bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate such as 64KiB/s"))?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kbit" | "Kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (B, KB, KiB, MB, MiB, kbit, Mbit)"
            ))
        }
    };
    let rate = n * factor;
    if !(rate >= 1.0 && rate.is_finite()) {
        return Err(format!(
            "{s:?}: the rate must be at least 1 byte per second"
        ));
    }
    Ok(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("64KiB/s"), Ok(65_536));
        assert_eq!(parse_rate("1MB/s"), Ok(1_000_000));
        assert_eq!(parse_rate("512kbit/s"), Ok(64_000));
        assert_eq!(parse_rate("2Mbit"), Ok(250_000));
        assert_eq!(parse_rate("8000"), Ok(8_000));
        assert_eq!(parse_rate("1.5MiB/s"), Ok(1_572_864));
        for bad in ["", "fast", "10 parsecs/s", "0B/s", "-5KB/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn back_to_back_bodies_are_spread_at_the_rate() {
        let mut p = Pacer::new(1000);
        let t0 = Instant::now();
        assert_eq!(p.reserve(500, t0), Duration::ZERO);
        assert_eq!(p.reserve(500, t0), Duration::from_millis(500));
        assert_eq!(p.reserve(1000, t0), Duration::from_millis(1000));
        // Sent as told: 2000 bytes take 2 s.
        let mut p = Pacer::new(1000);
        let mut now = t0;
        for _ in 0..4 {
            now += p.reserve(500, now);
        }
        assert_eq!(
            now - t0,
            Duration::from_millis(1500),
            "the 4th starts at 1.5 s"
        );
    }

    #[test]
    fn idle_time_gives_at_most_a_second_of_credit() {
        let mut p = Pacer::new(1000);
        let t0 = Instant::now();
        p.reserve(1000, t0);
        let later = t0 + Duration::from_secs(60);
        // A second's worth goes at once, then the rate again.
        assert_eq!(p.reserve(1000, later), Duration::ZERO);
        assert_eq!(p.reserve(1000, later), Duration::ZERO);
        assert_eq!(p.reserve(1000, later), Duration::from_secs(1));
    }
}

//! Exponential backoff with full jitter, for retries after a failure.

use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(cap, base * 2^n)]`, but never less than `min_wait`.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First ceiling.
    pub base: Duration,
    /// Largest ceiling.
    pub cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next wait, given a uniform random `jitter` in `[0, 1)`.
    pub fn next(&mut self, min_wait: Duration, jitter: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(min_wait)
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_jitters_and_respects_minimum() {
        let min_429 = Duration::from_secs(30);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(b.next(Duration::ZERO, 0.999_999).as_secs(), 0); // ceiling 1 s
        assert_eq!(b.next(Duration::ZERO, 0.5), Duration::from_secs(1)); // ceiling 2 s
        assert_eq!(b.next(Duration::ZERO, 0.5), Duration::from_secs(2)); // ceiling 4 s
        for _ in 0..30 {
            assert!(b.next(Duration::ZERO, 1.0) <= Duration::from_secs(60));
        }
        assert_eq!(
            b.next(Duration::ZERO, 0.0),
            Duration::ZERO,
            "full jitter reaches 0"
        );
        assert_eq!(b.next(min_429, 0.0), min_429);
        b.reset();
        assert_eq!(b.attempts(), 0);
    }
}

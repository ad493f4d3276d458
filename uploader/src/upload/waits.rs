//! The clock of waits after failures: real, or simulated for tests.
//!
//! A 429 waits at least 30 s and backoffs grow to minutes; tests that
//! prove those waits would spend that time asleep. With a simulated clock
//! (the hidden `upload --simulated-waits`), a wait returns at once and
//! moves the run's clock forward by its length instead: the deadline
//! (`--max-duration`) and every later wait see the time as if it had
//! passed, and each wait is logged (`simulated wait`, `wait_ms`) for the
//! test to check. The bandwidth pacer and the poll for new spans keep the
//! real clock.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The run's clock for waits after failures.
#[derive(Debug)]
pub(crate) struct Waits {
    simulated: bool,
    start: Instant,
    /// Time the simulated waits skipped.
    skipped: Duration,
}

/// A wait cut short by a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interrupted;

impl Waits {
    /// A clock starting now, simulated or real.
    pub(crate) fn new(simulated: bool) -> Self {
        Waits {
            simulated,
            start: Instant::now(),
            skipped: Duration::ZERO,
        }
    }

    /// Time since the run started, simulated waits included.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed() + self.skipped
    }

    /// Waits `d`, or until `shutdown` turns true.
    pub(crate) async fn sleep(
        &mut self,
        d: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Interrupted> {
        if self.simulated {
            self.skipped += d;
            tracing::info!(
                wait_ms = d.as_millis() as u64,
                clock_ms = self.elapsed().as_millis() as u64,
                "simulated wait"
            );
            tokio::task::yield_now().await;
            return if *shutdown.borrow() {
                Err(Interrupted)
            } else {
                Ok(())
            };
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = shutdown.changed() => Err(Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_simulated_wait_moves_the_clock_not_time() {
        let (_tx, mut rx) = watch::channel(false);
        let mut w = Waits::new(true);
        let real = Instant::now();
        w.sleep(Duration::from_secs(30), &mut rx).await.unwrap();
        w.sleep(Duration::from_secs(90), &mut rx).await.unwrap();
        assert!(real.elapsed() < Duration::from_secs(5));
        assert!(w.elapsed() >= Duration::from_secs(120));
    }

    #[tokio::test]
    async fn a_shutdown_cuts_a_wait_short() {
        let (tx, mut rx) = watch::channel(false);
        let mut w = Waits::new(false);
        tx.send(true).unwrap();
        let real = Instant::now();
        assert_eq!(
            w.sleep(Duration::from_secs(60), &mut rx).await,
            Err(Interrupted)
        );
        assert!(real.elapsed() < Duration::from_secs(5));
    }
}

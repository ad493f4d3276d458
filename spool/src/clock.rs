//! The clocks the spool is stamped with: the wall clock ([`now_ns`]) and,
//! for repairing span times later, a sample of the wall clock against the
//! boot's own clock ([`ClockSample`]).
//!
//! # Why samples
//!
//! Boards without a battery-backed clock boot at 1970, or at the time
//! `fake-hwclock` saved at the last shutdown, and keep that wrong time until
//! NTP answers: often exactly while the network, and so the uploader, is
//! away. Spans recorded then carry wrong times. `CLOCK_BOOTTIME` counts
//! from the boot (suspend included) and is never stepped, so within one boot
//! `wall − boottime` (the sample's *offset*) is constant while the wall clock
//! is right, and changes by exactly the size of a step. A writer records a
//! sample with each batch whose offset differs from its last one (by more
//! than [`SAMPLE_EVERY_STEP_NS`]), and tags the batch's rows with it; a
//! later sample of the same boot, taken after NTP stepped the clock, tells
//! the uploader how wrong the earlier one was.
//!
//! The boot is named by Linux's `/proc/sys/kernel/random/boot_id`. Where
//! there is none (other systems), no sample is taken: spans keep the times
//! they were recorded with, as before.
//!
//! `CLOCK_BOOTTIME` is read with `rustix`, straight from the vDSO; the wall
//! clock with the standard library, through libc, like every other wall
//! clock read of the program (so `libfaketime`, which the tests use to fake
//! a wrong wall clock, fakes exactly the one it should).

/// Nanoseconds since the Unix epoch, now (0 for a clock before 1970).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A writer takes a new sample when the offset moved by more than this
/// since its last one: a step of the wall clock (NTP's slewing moves it by
/// far less between two batches).
pub const SAMPLE_EVERY_STEP_NS: i64 = 100_000_000;

/// Who took a clock sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleSource {
    /// A recorder's writer, with a batch of spans: the system clock.
    Recorder,
    /// An uploader, from the system clock.
    Uploader,
    /// An uploader, from a server's `Date` header (the wall time is the
    /// server's).
    ServerDate,
}

impl SampleSource {
    pub(crate) fn code(self) -> i64 {
        match self {
            SampleSource::Recorder => 0,
            SampleSource::Uploader => 1,
            SampleSource::ServerDate => 2,
        }
    }

    pub(crate) fn from_code(c: i64) -> Self {
        match c {
            1 => SampleSource::Uploader,
            2 => SampleSource::ServerDate,
            _ => SampleSource::Recorder,
        }
    }

    /// Its name, for people.
    pub fn name(self) -> &'static str {
        match self {
            SampleSource::Recorder => "recorder",
            SampleSource::Uploader => "uploader",
            SampleSource::ServerDate => "server-date",
        }
    }
}

/// One reading of the wall clock against the boot's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClockSample {
    /// The boot (Linux's boot id, a UUID).
    pub boot_id: [u8; 16],
    /// `CLOCK_BOOTTIME`, ns since the boot.
    pub boottime_ns: i64,
    /// The wall clock at that moment, ns since the Unix epoch (negative
    /// before 1970).
    pub wall_ns: i64,
    /// Who took it.
    pub source: SampleSource,
}

impl ClockSample {
    /// A sample.
    pub fn new(boot_id: [u8; 16], boottime_ns: i64, wall_ns: i64, source: SampleSource) -> Self {
        ClockSample {
            boot_id,
            boottime_ns,
            wall_ns,
            source,
        }
    }

    /// This machine's clocks now, or `None` where the boot cannot be named.
    pub fn now(source: SampleSource) -> Option<Self> {
        let boot_id = boot_id()?;
        let boottime_ns = boottime_ns()?;
        let wall_ns = wall_now_signed();
        Some(ClockSample {
            boot_id,
            boottime_ns,
            wall_ns,
            source,
        })
    }

    /// `wall − boottime`: the wall time of the boot's start, as this
    /// sample's wall clock had it.
    pub fn offset_ns(&self) -> i64 {
        self.wall_ns.saturating_sub(self.boottime_ns)
    }
}

/// The wall clock, ns since the epoch, negative before 1970.
fn wall_now_signed() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_nanos().min(i64::MAX as u128) as i64),
    }
}

/// This boot's id, read once per process.
pub fn boot_id() -> Option<[u8; 16]> {
    static ID: std::sync::OnceLock<Option<[u8; 16]>> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .and_then(|s| parse_uuid(s.trim()))
    })
}

/// `CLOCK_BOOTTIME` now, ns.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn boottime_ns() -> Option<i64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Some(
        t.tv_sec
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn boottime_ns() -> Option<i64> {
    None
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_parse_and_samples_are_consistent() {
        assert_eq!(
            parse_uuid("a6dc4157-5cd7-4fbe-9903-ad6a7a71a058"),
            Some([
                0xa6, 0xdc, 0x41, 0x57, 0x5c, 0xd7, 0x4f, 0xbe, 0x99, 0x03, 0xad, 0x6a, 0x7a, 0x71,
                0xa0, 0x58
            ])
        );
        assert_eq!(parse_uuid("not a uuid"), None);
        if let Some(a) = ClockSample::now(SampleSource::Recorder) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let b = ClockSample::now(SampleSource::Recorder).unwrap();
            assert_eq!(a.boot_id, b.boot_id);
            assert!(b.boottime_ns - a.boottime_ns >= 20_000_000);
            // The system clock was not stepped in 20 ms: the offsets agree.
            assert!((a.offset_ns() - b.offset_ns()).abs() < SAMPLE_EVERY_STEP_NS);
        }
    }
}

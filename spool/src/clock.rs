//! The wall clock the spool stamps rows and counters with.

/// Nanoseconds since the Unix epoch, now (0 for a clock before 1970).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

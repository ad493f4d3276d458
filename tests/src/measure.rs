//! Small measurements the uploader's benchmarks share: a process's peak
//! resident memory, and the range of repeated figures.

/// The peak resident memory (VmHWM, KiB) of a running process.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (min, median, max) of `v` (sorted in place; not empty).
pub fn range(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

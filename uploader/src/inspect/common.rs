//! What the inspect commands share: opening a spool, and formatting.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tracespool_spool::{RowFilter, SpanRow, SpoolOptions, SpoolReader};

pub(crate) fn open_ro(spool: &Path) -> anyhow::Result<SpoolReader> {
    SpoolReader::open_read_only(spool).context("open the spool")
}

pub(crate) fn open_rw(spool: &Path) -> anyhow::Result<SpoolReader> {
    // Check it is a spool before opening read-write (which would create one).
    open_ro(spool)?;
    SpoolReader::open(spool, &SpoolOptions::default()).context("open the spool")
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub(crate) fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn duration_text(ns: i64) -> String {
    let ns = ns.max(0) as f64;
    if ns >= 1e9 {
        format!("{:.3}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3}ms", ns / 1e6)
    } else {
        format!("{:.1}us", ns / 1e3)
    }
}

pub(crate) fn meta_time(r: &SpoolReader, key: &str) -> anyhow::Result<Option<u64>> {
    Ok(r.meta(key)?.and_then(|v| v.parse().ok()))
}

/// Calls `f` for each row matching `filter`, stopping at the first error
/// (a closed pipe, say) and returning it.
pub(crate) fn stream_rows(
    r: &SpoolReader,
    filter: &RowFilter,
    limit: Option<u64>,
    mut f: impl FnMut(SpanRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut err = None;
    r.for_each_row(filter, limit, |row| match f(row) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    err.map_or(Ok(()), Err)
}

//! The files beside a spool: `SPOOL-wal` and `SPOOL-shm` (SQLite's),
//! `SPOOL.lock` (the uploader lock) and `SPOOL.reserve` (the space
//! reserve), each named by appending a suffix to the spool's file name.

use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name (`SPOOL` → `SPOOL.lock`,
/// `SPOOL-wal`, ...).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

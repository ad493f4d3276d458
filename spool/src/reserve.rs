//! The space reserve: a full disk never strands the spool.
//!
//! # The problem
//!
//! When the file system is full, SQLite cannot create the `-shm` file, and
//! every commit needs room in the `-wal`. The uploader, the one process
//! that makes room (its deletes free pages inside the spool, which the
//! recorders then reuse), could not start, or stopped between sending a
//! batch and marking it delivered, so the batch went out twice later.
//!
//! # The design
//!
//! 1. **A reserve file** `SPOOL.reserve` of [`SpoolOptions::reserve_bytes`]
//!    (8 MiB by default), with real blocks, is created beside the spool by
//!    recorders (at a writer's first append, on the writer's thread) and
//!    uploaders (after a run) whenever the file system has room for it
//!    twice over ([`ensure_reserve`]).
//! 2. **Recorders stop short of it.** Before a batch that would grow the
//!    spool file, a writer checks the file system's free space: below
//!    `reserve_bytes` it refuses the batch ([`SpoolError::ReserveReached`];
//!    the recorder counts the spans as write errors, and reports them to
//!    the spool once there is room). A batch that fits in free pages inside
//!    the spool is always written. So the space freed by the reserve is
//!    left to the uploader even while recorders keep running.
//! 3. **The uploader spends it.** A [`SpoolReader`](crate::SpoolReader)
//!    opened read-write deletes the reserve when an opening or a write
//!    fails for lack of space, and retries once; the room is enough for
//!    the `-shm`, the WAL of its bookkeeping (mark, delete, counters) and
//!    the checkpoints that fold it back.
//! 4. Read-only openings need no room: they fall back to reading the file
//!    as it is when the `-shm` cannot be created.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The reserve file of a spool.
pub fn reserve_path(spool: &Path) -> PathBuf {
    crate::files::with_suffix(spool, ".reserve")
}

/// Bytes free for unprivileged writers on the file system holding `path`
/// (`None` if it cannot be asked).
pub(crate) fn fs_free_bytes(path: &Path) -> Option<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Creates the reserve of `bytes` beside `spool` if it is missing (or
/// short) and the file system has room for it twice over. Best effort:
/// returns whether a full reserve is in place.
pub(crate) fn ensure_reserve(spool: &Path, bytes: u64) -> bool {
    if bytes == 0 {
        return true;
    }
    let path = reserve_path(spool);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= bytes) {
        return true;
    }
    if fs_free_bytes(spool).is_none_or(|free| free < bytes.saturating_mul(2)) {
        return false;
    }
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        // Real blocks, not a sparse file: the point is to hold the space.
        let chunk = vec![0u8; 64 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        f.sync_all()
    };
    match write() {
        Ok(()) => true,
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            false
        }
    }
}

/// Deletes the reserve, giving its space back. Returns whether there was
/// one.
pub(crate) fn release_reserve(spool: &Path) -> bool {
    std::fs::remove_file(reserve_path(spool)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_created_once_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("s.spool");
        assert!(ensure_reserve(&spool, 1 << 20));
        assert_eq!(
            std::fs::metadata(reserve_path(&spool)).unwrap().len(),
            1 << 20
        );
        assert!(ensure_reserve(&spool, 1 << 20));
        assert!(release_reserve(&spool));
        assert!(!release_reserve(&spool));
        assert!(fs_free_bytes(&spool).is_some_and(|f| f > 0));
    }
}

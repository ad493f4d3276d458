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
//! 1. **A reserve file** `SPOOL.reserve` (with real blocks, not a sparse
//!    file) holds room for the uploader. Its size scales with the file
//!    system ([`reserve_for`]: a sixteenth of it, at least 256 KiB, at most
//!    8 MiB; or [`Reserve`](crate::Reserve) set by the caller), and it is
//!    created only where it takes at most half of the free space
//!    ([`ensure_reserve`]): never the whole of it. Writers create it at
//!    their first batch and whenever it is missing and there is room;
//!    uploaders after a run.
//! 2. **Recorders write whenever the reserve holds the uploader's room.**
//!    Before a batch that would grow the spool, a writer checks the free
//!    space: with the reserve file in place it writes while the batch
//!    leaves [`MARGIN_BYTES`] free (for SQLite's `-shm` and bookkeeping);
//!    without it, it leaves the reserve's size free on top. A batch that
//!    fits in free pages inside the spool is always written. A refused
//!    batch is [`SpoolError::ReserveReached`]; the recorder counts its
//!    spans (`recorder_no_room`) and reports them to the spool with its
//!    next batch that is written.
//! 3. **The uploader spends it.** A [`SpoolReader`](crate::SpoolReader)
//!    opened read-write deletes the reserve when an opening or a write
//!    fails for lack of space, and retries once; the room is enough for
//!    the `-shm`, the WAL of its bookkeeping (mark, delete, counters) and
//!    the checkpoints that fold it back (the WAL's size limit scales with
//!    the file system too: see the `connection` module).
//! 4. Read-only openings need no room: they fall back to reading the file
//!    as it is when the `-shm` cannot be created.
//!
//! So on an 8 MiB file system a recorder fills all but about 512 KiB (the
//! reserve) and 64 KiB (the margin), and the uploader can always drain it.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::options::Reserve;

/// The reserve file of a spool.
pub fn reserve_path(spool: &Path) -> PathBuf {
    crate::files::with_suffix(spool, ".reserve")
}

/// Writers leave this much free besides what the reserve file holds.
pub const MARGIN_BYTES: u64 = 64 << 10;

/// The reserve for a file system of `total` bytes: a sixteenth, at least
/// 256 KiB, at most 8 MiB.
pub fn reserve_for(total: u64) -> u64 {
    (total / 16).clamp(256 << 10, 8 << 20)
}

/// The reserve's size for a spool at `path`, by the policy (0: none).
pub(crate) fn reserve_bytes(policy: Reserve, path: &Path) -> u64 {
    match policy {
        Reserve::Off => 0,
        Reserve::Bytes(b) => b,
        Reserve::Auto => {
            crate::filesystem::fs_info(path).map_or(8 << 20, |i| reserve_for(i.total_bytes))
        }
    }
}

/// Whether the reserve file holds `bytes`.
pub(crate) fn reserve_held(spool: &Path, bytes: u64) -> bool {
    std::fs::metadata(reserve_path(spool)).is_ok_and(|m| m.len() >= bytes)
}

/// Creates the reserve of `bytes` beside `spool` if it is missing (or
/// short) and the file system has room for it twice over (so it never
/// takes more than half of the free space). Best effort: returns whether a
/// full reserve is in place.
pub(crate) fn ensure_reserve(spool: &Path, bytes: u64) -> bool {
    if bytes == 0 {
        return true;
    }
    let path = reserve_path(spool);
    if reserve_held(spool, bytes) {
        return true;
    }
    if crate::filesystem::free_bytes(spool).is_none_or(|free| free < bytes.saturating_mul(2)) {
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
    fn the_reserve_scales_with_the_file_system() {
        const MIB: u64 = 1 << 20;
        assert_eq!(reserve_for(4 * MIB), 256 << 10);
        assert_eq!(reserve_for(8 * MIB), 512 << 10);
        assert_eq!(reserve_for(64 * MIB), 4 * MIB);
        assert_eq!(reserve_for(256 * MIB), 8 * MIB);
        assert_eq!(reserve_for(1 << 40), 8 * MIB);
    }

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
        assert!(crate::filesystem::free_bytes(&spool).is_some_and(|f| f > 0));
    }
}

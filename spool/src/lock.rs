//! The uploader lock: one uploader at a time per spool.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::LockError;

/// The advisory lock that makes one uploader at a time work on a spool: an
/// exclusive `flock` on `<spool>.lock`, released by the OS when the process
/// exits in any way (SIGKILL included).
#[derive(Debug)]
pub struct UploaderLock {
    _file: File,
    path: PathBuf,
}

/// The lock file's path for a spool.
pub fn lock_path(spool: &Path) -> PathBuf {
    crate::files::with_suffix(spool, ".lock")
}

impl UploaderLock {
    fn open(spool: &Path) -> Result<(File, PathBuf), LockError> {
        let path = lock_path(spool);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| LockError {
                path: path.clone(),
                source,
            })?;
        Ok((file, path))
    }

    /// Takes the lock, or `Ok(None)` if another process holds it.
    pub fn try_acquire(spool: &Path) -> Result<Option<UploaderLock>, LockError> {
        let (file, path) = Self::open(spool)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(UploaderLock { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(LockError { path, source }),
        }
    }

    /// Waits for the lock.
    pub fn acquire(spool: &Path) -> Result<UploaderLock, LockError> {
        let (file, path) = Self::open(spool)?;
        file.lock().map_err(|source| LockError {
            path: path.clone(),
            source,
        })?;
        Ok(UploaderLock { _file: file, path })
    }

    /// Whether some process holds the lock now (without taking it).
    pub fn is_held(spool: &Path) -> Result<bool, LockError> {
        let path = lock_path(spool);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(LockError { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(source)) => Err(LockError { path, source }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

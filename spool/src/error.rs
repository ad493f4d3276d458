//! Errors of the spool, typed by what failed: opening a file
//! ([`OpenError`]), an operation on an open spool ([`SpoolError`], which
//! names the [`Operation`]), or the uploader lock ([`LockError`]).
//!
//! No dependency type appears here: SQLite's own error is carried as a
//! [`SqliteError`] (a code class, the extended result code and SQLite's
//! message), so its text still reaches the user's logs while the crate is
//! free to change its SQLite binding.

use std::fmt;
use std::path::PathBuf;

/// The class of an SQLite error (its primary result code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqliteErrorKind {
    /// `SQLITE_BUSY`: another connection holds the lock past `busy_timeout`.
    Busy,
    /// `SQLITE_LOCKED`: a conflict inside one connection.
    Locked,
    /// `SQLITE_FULL`: the disk, or `max_page_count`, is full.
    DiskFull,
    /// `SQLITE_CORRUPT`: the file is damaged.
    Corrupt,
    /// `SQLITE_NOTADB`: the file is not an SQLite database.
    NotADatabase,
    /// `SQLITE_READONLY`: the file or its directory cannot be written.
    ReadOnly,
    /// `SQLITE_CANTOPEN`: the file (or its `-wal`/`-shm`) cannot be opened.
    CantOpen,
    /// `SQLITE_IOERR`: the operating system reported an I/O error.
    Io,
    /// `SQLITE_NOMEM`: out of memory.
    OutOfMemory,
    /// Any other SQLite error, or an error of the binding itself.
    Other,
}

/// An error reported by SQLite, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteError {
    kind: SqliteErrorKind,
    extended_code: i32,
    message: String,
}

impl SqliteError {
    /// The class of the error.
    pub fn kind(&self) -> SqliteErrorKind {
        self.kind
    }

    /// SQLite's extended result code (0 when the error did not come from
    /// SQLite itself).
    pub fn extended_code(&self) -> i32 {
        self.extended_code
    }

    /// SQLite's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl SqliteError {
    /// A damaged-file error with SQLite's words (from an integrity check).
    pub(crate) fn corrupt(message: String) -> Self {
        SqliteError {
            kind: SqliteErrorKind::Corrupt,
            extended_code: 11,
            message,
        }
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => {
                let kind = match f.code {
                    C::DatabaseBusy => SqliteErrorKind::Busy,
                    C::DatabaseLocked => SqliteErrorKind::Locked,
                    C::DiskFull => SqliteErrorKind::DiskFull,
                    C::DatabaseCorrupt => SqliteErrorKind::Corrupt,
                    C::NotADatabase => SqliteErrorKind::NotADatabase,
                    C::ReadOnly => SqliteErrorKind::ReadOnly,
                    C::CannotOpen => SqliteErrorKind::CantOpen,
                    C::SystemIoFailure => SqliteErrorKind::Io,
                    C::OutOfMemory => SqliteErrorKind::OutOfMemory,
                    _ => SqliteErrorKind::Other,
                };
                // SQLite's own words for this call ("database or disk is
                // full"), else its description of the code.
                let message = match msg {
                    Some(m) if !m.is_empty() => m.clone(),
                    _ => f.to_string(),
                };
                SqliteError {
                    kind,
                    extended_code: f.extended_code,
                    message,
                }
            }
            other => SqliteError {
                kind: SqliteErrorKind::Other,
                extended_code: 0,
                message: other.to_string(),
            },
        }
    }
}

/// What the spool was doing when an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Appending a batch of spans (recorder).
    Append,
    /// Reading pending spans for upload.
    Lease,
    /// Deleting delivered spans.
    Ack,
    /// Recording the delivered mark.
    MarkDelivered,
    /// Deleting single spans (expired).
    Remove,
    /// Moving spans to quarantine.
    Quarantine,
    /// Putting quarantined spans back to pending.
    Requeue,
    /// Deleting spans on an operator's request.
    Purge,
    /// Reading the row and byte tallies.
    ReadTotals,
    /// Reading or adding to counters.
    Counters,
    /// Reading or writing the `meta` table.
    Meta,
    /// Listing rows (inspect, export).
    List,
    /// Setting a connection pragma.
    Configure,
    /// Checking the file's integrity.
    Check,
    /// Reading or recording clock samples.
    Clock,
    /// Reading or recording record dictionaries.
    Dictionary,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Append => "append spans",
            Operation::Lease => "read pending spans",
            Operation::Ack => "delete delivered spans",
            Operation::MarkDelivered => "mark spans delivered",
            Operation::Remove => "remove spans",
            Operation::Quarantine => "quarantine spans",
            Operation::Requeue => "requeue spans",
            Operation::Clock => "read or record clock samples",
            Operation::Dictionary => "read or record record dictionaries",
            Operation::Purge => "purge spans",
            Operation::ReadTotals => "read totals",
            Operation::Counters => "update counters",
            Operation::Meta => "read or write meta",
            Operation::List => "list spans",
            Operation::Configure => "configure the connection",
            Operation::Check => "check the file",
        })
    }
}

/// Why a spool could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file exists but is not a tracespool spool.
    #[error("{path}: not a tracespool spool ({why})")]
    NotASpool {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// The spool was written by a newer tracespool.
    #[error("{path}: spool format {found} is newer than this build supports ({supported})")]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: i32,
        /// The newest this build knows.
        supported: i32,
    },
    /// The file could not be created, found or opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path names something that is not a regular file (a directory,
    /// a device, a FIFO, a socket), or a symlink to one. Nothing is opened.
    #[error("{path}: {what}, not a spool file")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// `is a directory`, `is a device`, ...
        what: &'static str,
    },
    /// The file is empty: no recorder has created the spool in it. Only a
    /// recorder turns an empty file into a spool; every other command
    /// refuses it.
    #[error("{path}: empty file, not a spool yet (a recorder creates the spool when it starts)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database, but damaged (a truncated file, a
    /// damaged page). `tracespool recover` copies what is readable into a
    /// fresh spool.
    #[error("{path}: the spool is damaged ({detail}); run `tracespool recover {path}` to keep every readable span")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's words.
        detail: String,
    },
    /// The spool is on a network file system, where SQLite's WAL (memory
    /// shared between processes) corrupts it silently. Use a local path,
    /// or allow it for one process of one host at a time
    /// ([`crate::NetworkFs::SingleHost`], `--allow-network-fs`).
    #[error("{path}: the spool is on a network file system ({fs_type}), where SQLite's WAL corrupts it silently; use a local path (or, for one process of one host at a time, --allow-network-fs)")]
    NetworkFileSystem {
        /// The file.
        path: PathBuf,
        /// The file system's type (`nfs4`, `fuse.sshfs`, `cifs`, ...).
        fs_type: String,
    },
    /// The file system cannot give the spool what it needs (WAL mode).
    #[error("{path}: spool unsupported here: {why}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// The SQLite library linked into this program has the WAL-reset bug,
    /// which can corrupt a spool that several connections write. Writing
    /// is refused; read-only opening still works.
    #[error(
        "SQLite {found} is linked into this program, but writing a spool needs {required} or newer \
         (older versions have the WAL-reset corruption bug): build with tracespool's default \
         `bundled` feature, or upgrade the system SQLite"
    )]
    SqliteTooOld {
        /// The version linked at run time.
        found: String,
        /// The oldest version that is safe.
        required: &'static str,
    },
    /// SQLite failed while opening or checking the file.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: SqliteError,
    },
}

impl OpenError {
    /// Whether opening failed for lack of room on the file system (no
    /// space for the `-shm` or the first WAL frames): a condition that
    /// passes, not a configuration error.
    pub fn is_lack_of_room(&self) -> bool {
        match self {
            OpenError::Sqlite { source, .. } => matches!(
                source.kind(),
                SqliteErrorKind::DiskFull | SqliteErrorKind::Io
            ),
            OpenError::Io { source, .. } => source.raw_os_error() == Some(28), // ENOSPC
            _ => false,
        }
    }
}

/// An operation on an open spool failed. Nothing of the operation was
/// written (every change is one transaction).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// SQLite failed.
    #[error("spool: {op}: {source}")]
    Sqlite {
        /// What the spool was doing.
        op: Operation,
        /// SQLite's error.
        source: SqliteError,
    },
    /// The spool could not be (re)opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A recorder's batch would grow the spool into the space kept for the
    /// uploader: the file system is almost full.
    #[error("spool: the file system is almost full ({free} bytes free; {reserve} are kept for the uploader)")]
    ReserveReached {
        /// Bytes free on the file system.
        free: u64,
        /// Bytes kept free for the uploader.
        reserve: u64,
    },
    /// The spool already holds a different record dictionary under the id
    /// a writer chose for its own (two contents with one checksum): the
    /// writer's records must stay uncompressed.
    #[error("spool: another record dictionary is stored under id {id}")]
    DictionaryConflict {
        /// The id both dictionaries claim.
        id: u32,
    },
}

impl SpoolError {
    /// The SQLite error behind this one, if any.
    pub fn sqlite(&self) -> Option<&SqliteError> {
        match self {
            SpoolError::Sqlite { source, .. } => Some(source),
            SpoolError::Open(OpenError::Sqlite { source, .. }) => Some(source),
            SpoolError::Open(_)
            | SpoolError::ReserveReached { .. }
            | SpoolError::DictionaryConflict { .. } => None,
        }
    }

    /// Whether the spool holds another record dictionary under the id a
    /// writer chose ([`SpoolError::DictionaryConflict`]).
    pub fn is_dictionary_conflict(&self) -> bool {
        matches!(self, SpoolError::DictionaryConflict { .. })
    }

    /// Whether the error is SQLite's lock contention (`SQLITE_BUSY`): worth
    /// retrying, not a sign of a failing disk.
    pub fn is_busy(&self) -> bool {
        self.sqlite()
            .is_some_and(|e| matches!(e.kind, SqliteErrorKind::Busy | SqliteErrorKind::Locked))
    }

    /// Whether the disk (or SQLite's `max_page_count`) is full, or only
    /// the uploader's reserve is left.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, SpoolError::ReserveReached { .. })
            || self
                .sqlite()
                .is_some_and(|e| e.kind == SqliteErrorKind::DiskFull)
    }

    /// Whether the spool file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`
    /// met while reading, or [`OpenError::Corrupt`]).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, SpoolError::Open(OpenError::Corrupt { .. }))
            || self.sqlite().is_some_and(|e| {
                matches!(
                    e.kind,
                    SqliteErrorKind::Corrupt | SqliteErrorKind::NotADatabase
                )
            })
    }
}

/// The uploader lock file could not be opened or locked.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct LockError {
    /// The lock file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Attaches an [`Operation`] to rusqlite results.
pub(crate) trait SqlContext<T> {
    fn op(self, op: Operation) -> Result<T, SpoolError>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn op(self, op: Operation) -> Result<T, SpoolError> {
        self.map_err(|e| SpoolError::Sqlite {
            op,
            source: e.into(),
        })
    }
}

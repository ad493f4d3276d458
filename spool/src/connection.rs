//! Opening connections: file creation (mode 0600), the SQLite version
//! check, the format check and the pragmas, each with the reason it is set.
//!
//! # Pragmas, checked against SQLite's guidance for several processes on
//! one WAL file
//!
//! | pragma | value | why |
//! |---|---|---|
//! | `journal_mode` | `WAL` | readers never block the writer and the writer never blocks them; a commit is one sequential append. Persistent: stored in the file. WAL needs shared memory between the processes, so the spool must be on a local file system: a network one is refused ([`OpenError::NetworkFileSystem`], see the `filesystem` module), unless allowed for one host ([`crate::NetworkFs::SingleHost`]: `DELETE`, the rollback journal, which needs file locks but no shared memory); a file system that refuses WAL is an [`OpenError::Unsupported`]. |
//! | `locking_mode` | `NORMAL` (SQLite's default, never changed) | `EXCLUSIVE` would lock other processes out and keep the WAL index in heap memory. |
//! | `synchronous` | `NORMAL` or `FULL` | in WAL mode `NORMAL` is durable against a crash of any process; `FULL` adds an fsync per commit for power loss ([`crate::Durability`]). |
//! | `busy_timeout` | 10 s (set before the first statement) | several processes take the write lock in turn; a short wait instead of `SQLITE_BUSY`. |
//! | `journal_size_limit` | a sixty-fourth of the file system, at least 128 KiB, at most 64 MiB ([`wal_limit_bytes`]) | after a checkpoint the WAL is truncated back, so one burst does not leave a huge `-wal` file; on a small file system the WAL never takes the room the spool needs. |
//! | `wal_autocheckpoint` | the same size in pages, at most SQLite's default (1000), except `0` on the uploader's sending connection | only one uploader connection (the deleting one) and the recorders pay for checkpoints, before the WAL passes its limit. Checkpoints from several connections are serialised by SQLite's checkpoint lock. |
//! | `mmap_size` | `0` (SQLite's default, never raised) | see below. |
//! | `max_page_count` | optional | a hard file cap enforced by SQLite ([`crate::SpoolOptions::max_page_count`]). |
//!
//! **No memory-mapped I/O.** Earlier versions mapped 1 GiB of the file on
//! the uploader's reading connection. With several processes writing and
//! checkpointing one WAL, a mapping turns an I/O error or a file shrunk by
//! another process (a checkpoint that truncates, a `VACUUM`) into `SIGBUS`
//! in the uploader instead of an error, and it is the path by which the
//! WAL-reset bug's transient inconsistency became lasting corruption. The
//! gain it bought was small: measured with `cargo bench -p
//! tracespool-uploader --bench upload_throughput` (1,000,000 spans, real
//! disk), see `docs/benchmarks.md`. Reads use `pread` and SQLite's page
//! cache.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{OpenError, Operation, SpoolError, SqlContext, SqliteErrorKind};
use crate::filesystem::{fs_info, FsInfo, FsKind};
use crate::format::{check_marker, header_error, migrate, Create};
use crate::options::{Durability, NetworkFs, SpoolOptions};
use crate::version::require_writable_sqlite;

/// What a path names, by `stat` (following symlinks; never `open`, see
/// [`must_exist`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathState {
    /// Nothing.
    Missing,
    /// A regular file of zero bytes.
    Empty,
    /// A regular file with content.
    File,
}

/// Refuses a path that is not a regular file (or a symlink to one): SQLite
/// would otherwise read a device, or write a schema into one.
pub(crate) fn path_state(path: &Path) -> Result<PathState, OpenError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PathState::Missing),
        Err(source) => {
            return Err(OpenError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(if meta.len() == 0 {
            PathState::Empty
        } else {
            PathState::File
        });
    } else if t.is_dir() {
        "is a directory"
    } else if t.is_block_device() || t.is_char_device() {
        "is a device"
    } else if t.is_fifo() {
        "is a FIFO"
    } else if t.is_socket() {
        "is a socket"
    } else {
        "is not a regular file"
    };
    Err(OpenError::NotAFile {
        path: path.to_owned(),
        what,
    })
}

/// Checks, without opening it, that `path` can be an existing spool: a
/// regular file (or a symlink to one) with content. For commands that must
/// fail before doing anything else.
pub fn check_spool_path(path: &Path) -> Result<(), OpenError> {
    match path_state(path)? {
        PathState::File => Ok(()),
        PathState::Empty => Err(OpenError::Empty {
            path: path.to_owned(),
        }),
        PathState::Missing => must_exist(path),
    }
}

/// Creates the file with mode 0600 if it does not exist. SQLite gives the
/// `-wal` and `-shm` files the same mode as the database file. An existing
/// file is never opened here (see [`must_exist`] for why).
fn create_private(path: &Path) -> Result<(), OpenError> {
    if path_state(path)? != PathState::Missing {
        return Ok(());
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(OpenError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn open_err(path: &Path) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
    move |e| OpenError::Sqlite {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// The WAL's size limit on a file system of `total` bytes: a
/// sixty-fourth, at least 128 KiB, at most 64 MiB. Below the space reserve
/// (a sixteenth, at least 256 KiB), so the reserve holds a whole WAL cycle
/// for the uploader.
pub fn wal_limit_bytes(total: u64) -> u64 {
    (total / 64).clamp(128 << 10, 64 << 20)
}

fn configure(
    conn: &Connection,
    path: &Path,
    opts: &SpoolOptions,
    fs: Option<&FsInfo>,
) -> Result<(), OpenError> {
    let err = open_err(path);
    // On a network file system (allowed for one host): the rollback
    // journal, which needs no shared memory.
    let network = fs.is_some_and(|f| matches!(f.kind, FsKind::Network(_)));
    let want = if network { "delete" } else { "wal" };
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode={want}"), [], |r| r.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case(want) {
        return Err(OpenError::Unsupported {
            path: path.to_owned(),
            why: format!("journal_mode is {mode}, not {want}"),
        });
    }
    let sync = match opts.durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    let limit = wal_limit_bytes(fs.map_or(u64::MAX, |f| f.total_bytes));
    let pages = (limit / 4096).min(1000);
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA journal_size_limit={limit}; PRAGMA wal_autocheckpoint={pages};"
    ))
    .map_err(&err)?;
    if let Some(pages) = opts.max_page_count {
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count={pages}"), [], |r| r.get(0))
            .map_err(&err)?;
    }
    Ok(())
}

/// Opens a read-write connection: version check, format check (or
/// creation, for [`Create::Yes`]), pragmas.
pub(crate) fn open_rw(
    path: &Path,
    opts: &SpoolOptions,
    create: Create,
) -> Result<Connection, OpenError> {
    require_writable_sqlite()?;
    let fs = fs_info(path);
    if let Some(FsKind::Network(fs_type)) = fs.as_ref().map(|f| &f.kind) {
        if opts.network_fs == NetworkFs::Refuse {
            return Err(OpenError::NetworkFileSystem {
                path: path.to_owned(),
                fs_type: fs_type.clone(),
            });
        }
    }
    match create {
        Create::Yes => create_private(path)?,
        Create::No => check_spool_path(path)?,
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err(path))?;
    // The busy timeout must be in force before the first statement, which
    // may meet another process's lock.
    conn.busy_timeout(opts.busy_timeout)
        .map_err(open_err(path))?;
    // Check the file before changing anything in it (journal mode included).
    migrate(&mut conn, path, create)?;
    configure(&conn, path, opts, fs.as_ref())?;
    Ok(conn)
}

/// Opens an existing spool read-only: never writes, never takes the write
/// lock, never creates anything.
/// Returns the connection and whether it had to be opened `immutable`.
pub(crate) fn open_read_only(path: &Path) -> Result<(Connection, bool), OpenError> {
    check_spool_path(path)?;
    // On a network file system the `-shm` would be shared across hosts:
    // read the file as it is, without it.
    if fs_info(path).is_some_and(|f| matches!(f.kind, FsKind::Network(_))) {
        return open_read_only_with(path, true).map(|c| (c, true));
    }
    match open_read_only_with(path, false) {
        Ok(c) => Ok((c, false)),
        // A read-only file system, or a directory we may not write: the
        // `-shm` file cannot be created. Read the file as it is.
        Err(OpenError::Sqlite { source, .. })
            if matches!(
                source.kind(),
                SqliteErrorKind::CantOpen | SqliteErrorKind::ReadOnly | SqliteErrorKind::Io
            ) =>
        {
            open_read_only_with(path, true).map(|c| (c, true))
        }
        Err(e) => Err(e),
    }
}

/// Read-only opening. `immutable`: SQLite's `immutable=1` (no locks, no
/// `-shm`, no WAL): for a spool on read-only media or copied off a device.
/// Commits still in a `-wal` beside it are then not seen; the caller can
/// tell with [`has_wal`].
fn open_read_only_with(path: &Path, immutable: bool) -> Result<Connection, OpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        let uri = format!("file:{}?immutable=1", uri_path(path));
        Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(|e| header_error(path, e))?;
    // Readers wait for a checkpoint or recovery in progress, briefly.
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err(path))?;
    if !check_marker(&conn, path)? {
        return Err(OpenError::NotASpool {
            path: path.to_owned(),
            why: "an SQLite database without the spool marker".into(),
        });
    }
    Ok(conn)
}

/// `path` for a `file:` URI: absolute, with `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for c in abs.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a non-empty `-wal` lies beside the spool.
pub(crate) fn has_wal(path: &Path) -> bool {
    std::fs::metadata(crate::files::with_suffix(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// A short write transaction (`BEGIN IMMEDIATE`: takes the write lock at
/// once, so it cannot fail later on a lock upgrade).
pub(crate) fn write_tx(
    conn: &mut Connection,
    op: Operation,
) -> Result<rusqlite::Transaction<'_>, SpoolError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .op(op)
}

/// Fails with `Io` if `path` does not exist. Uses `stat`, never `open`:
/// closing any descriptor of the database file would drop the POSIX locks
/// SQLite holds through other connections of this process, and another
/// process could then delete the WAL under them (invariant 7).
pub(crate) fn must_exist(path: &Path) -> Result<(), OpenError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| OpenError::Io {
            path: path.to_owned(),
            source,
        })
}

/// The inode `path` names now, if any.
pub(crate) fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(d: Durability) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.spool");
        let opts = SpoolOptions::default().with_durability(d);
        let conn = open_rw(&path, &opts, Create::Yes).unwrap();
        conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn power_loss_durability_is_synchronous_full() {
        // SQLite's numbers: 1 NORMAL, 2 FULL.
        assert_eq!(synchronous(Durability::PowerLoss), 2);
        assert_eq!(synchronous(Durability::Process), 1);
    }
}

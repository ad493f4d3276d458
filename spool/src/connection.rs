//! Opening connections: file creation (mode 0600), the SQLite version
//! check, the format check and the pragmas, each with the reason it is set.
//!
//! # Pragmas, checked against SQLite's guidance for several processes on
//! one WAL file
//!
//! | pragma | value | why |
//! |---|---|---|
//! | `journal_mode` | `WAL` | readers never block the writer and the writer never blocks them; a commit is one sequential append. Persistent: stored in the file. WAL needs shared memory between the processes, so the spool must be on a local file system (not NFS/SMB): a file system that refuses WAL is an [`OpenError::Unsupported`]. |
//! | `locking_mode` | `NORMAL` (SQLite's default, never changed) | `EXCLUSIVE` would lock other processes out and keep the WAL index in heap memory. |
//! | `synchronous` | `NORMAL` or `FULL` | in WAL mode `NORMAL` is durable against a crash of any process; `FULL` adds an fsync per commit for power loss ([`crate::Durability`]). |
//! | `busy_timeout` | 10 s (set before the first statement) | several processes take the write lock in turn; a short wait instead of `SQLITE_BUSY`. |
//! | `journal_size_limit` | 64 MiB | after a checkpoint the WAL is truncated back, so one burst does not leave a huge `-wal` file. |
//! | `wal_autocheckpoint` | SQLite's default (1000 pages), except `0` on the uploader's sending connection | only one uploader connection (the deleting one) and the recorders pay for checkpoints. Checkpoints from several connections are serialised by SQLite's checkpoint lock. |
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

use crate::error::{OpenError, Operation, SpoolError, SqlContext};
use crate::format::{check_marker, header_error, migrate};
use crate::options::{Durability, SpoolOptions};
use crate::version::require_writable_sqlite;

/// Creates the file with mode 0600 if it does not exist. SQLite gives the
/// `-wal` and `-shm` files the same mode as the database file. An existing
/// file is never opened here (see [`must_exist`] for why).
fn create_private(path: &Path) -> Result<(), OpenError> {
    if path.exists() {
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

fn configure(conn: &Connection, path: &Path, opts: &SpoolOptions) -> Result<(), OpenError> {
    let err = open_err(path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Unsupported {
            path: path.to_owned(),
            why: format!("journal_mode is {mode}, not wal (is the file on a network filesystem?)"),
        });
    }
    let sync = match opts.durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA journal_size_limit=67108864;"
    ))
    .map_err(&err)?;
    if let Some(pages) = opts.max_page_count {
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count={pages}"), [], |r| r.get(0))
            .map_err(&err)?;
    }
    Ok(())
}

/// Opens (creating if needed) a read-write connection: version check,
/// format check or creation, pragmas.
pub(crate) fn open_rw(path: &Path, opts: &SpoolOptions) -> Result<Connection, OpenError> {
    require_writable_sqlite()?;
    create_private(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err(path))?;
    // The busy timeout must be in force before the first statement, which
    // may meet another process's lock.
    conn.busy_timeout(opts.busy_timeout)
        .map_err(open_err(path))?;
    // Check the file before changing anything in it (journal mode included).
    migrate(&mut conn, path)?;
    configure(&conn, path, opts)?;
    Ok(conn)
}

/// Opens an existing spool read-only: never writes, never takes the write
/// lock, never creates anything.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, OpenError> {
    must_exist(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
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

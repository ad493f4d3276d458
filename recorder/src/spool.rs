//! The spool: one SQLite file that holds finished spans until they are
//! uploaded. This module owns both halves of the format (the writing half
//! used by the recorder's writer thread, the reading half used by the
//! uploader and by `inspect`) together with its SQL and migrations. Nothing
//! else in tracespool issues SQL.
//!
//! # Invariants
//!
//! 1. **A row is a whole span or nothing.** Every change is one short
//!    transaction (`BEGIN IMMEDIATE` for writers), so a crash at any moment
//!    leaves only committed batches; no partial record exists.
//! 2. **Committed means durable against a process crash.** With WAL and
//!    `synchronous=NORMAL` a committed transaction survives `SIGKILL` of any
//!    process. [`Durability::PowerLoss`] (`synchronous=FULL`) also survives an
//!    OS crash or power cut, at the price of one fsync per commit.
//! 3. **Ids only grow.** `spans.id` is `AUTOINCREMENT`, so a row inserted
//!    later always has a larger id, even after every row was deleted. Oldest
//!    first means lowest id first, and a leased batch (all pending rows with
//!    ids in `[first, last]`) stays exactly that set: new rows get larger ids,
//!    and [`SpoolReader::requeue`] moves a row to the tail with a new id
//!    instead of flipping its state in place.
//! 4. **The tallies are exact.** `totals` (rows and bytes per state) and
//!    `counters` are updated in the same transaction as the rows they count,
//!    by this module only, so `inspect` and the budget never scan the table.
//! 5. **A delivered run is marked before it is deleted.** When Cloud Trace
//!    accepts a run of spans, the uploader first records the run's last id
//!    as `meta.delivered_through` (one tiny transaction), then deletes the
//!    run on another connection while it sends the next request. A crash in
//!    between leaves pending rows at or below the mark; the next upload
//!    deletes them before it sends anything ([`SpoolReader::ack_delivered`]).
//!    Runs are delivered in id order and failed spans are quarantined
//!    before the uploader moves on, so every pending row at or below the
//!    mark was delivered.
//! 6. **A span leaves the spool for a reason that is counted**: delivered
//!    (`uploaded`), dropped by the disk budget (`budget_dropped_oldest`,
//!    `budget_dropped_newest`), too old (`age_expired` for the spool's own
//!    age limit, `upload_expired` for Cloud Trace's 14-day window) or purged
//!    by an operator (`purged`).
//! 7. **Only SQLite opens the database file.** Closing any other
//!    descriptor of it would drop the POSIX locks SQLite holds for this
//!    process's connections, and another process could then delete the WAL
//!    under them (a split brain). Existence checks use `stat`.
//! 8. **Several processes may write at once** (each recorder has one writer
//!    thread), while one uploader reads and deletes and any number of
//!    `inspect` readers look: WAL lets readers run beside the one writer, and
//!    writers queue on SQLite's lock through `busy_timeout`.
//!
//! # On-disk layout (format version 1, `PRAGMA user_version = 1`)
//!
//! `PRAGMA application_id = 0x54535031` (`"TSP1"`) marks the file as a spool.
//!
//! ```sql
//! CREATE TABLE spans (
//!   id                INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order
//!   trace_id          BLOB NOT NULL,    -- 16 bytes
//!   span_id           BLOB NOT NULL,    -- 8 bytes
//!   parent_span_id    BLOB,             -- 8 bytes or NULL for a root
//!   name              TEXT NOT NULL,
//!   start_ns          INTEGER NOT NULL, -- ns since the Unix epoch
//!   end_ns            INTEGER NOT NULL,
//!   state             INTEGER NOT NULL DEFAULT 0, -- 0 pending, 1 quarantined
//!   reason            TEXT,             -- why it was quarantined
//!   quarantined_at_ns INTEGER,
//!   record            BLOB NOT NULL     -- tracespool-schema record (envelope + bincode)
//! );
//! CREATE INDEX spans_quarantined ON spans(id) WHERE state = 1;
//! CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 1),
//!   pending_rows, pending_bytes, quarantined_rows, quarantined_bytes);
//! CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
//! CREATE VIEW spans_readable AS ...; -- hex ids, ISO dates, state names
//! ```
//!
//! There is deliberately no index on `trace_id`: on a random 16-byte key it
//! makes every insert several times slower (see `docs/benchmarks.md`).
//!
//! The byte size the disk budget counts for a row is
//! `length(record) + ROW_OVERHEAD_BYTES` (the other columns and SQLite's
//! per-row overhead, approximated), see [`row_bytes`].

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

/// `PRAGMA application_id` of a spool: "TSP1".
pub const APPLICATION_ID: i32 = 0x5453_5031;
/// The spool format version this build writes and reads (`PRAGMA user_version`).
pub const FORMAT_VERSION: i32 = 1;
/// Bytes counted per row on top of its record, for the disk budget.
pub const ROW_OVERHEAD_BYTES: u64 = 64;

/// The bytes the budget counts for a row with a record of `record_len` bytes.
pub fn row_bytes(record_len: usize) -> u64 {
    record_len as u64 + ROW_OVERHEAD_BYTES
}

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
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
    /// The file could not be created or opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file system or SQLite build cannot give the spool what it needs.
    #[error("spool unsupported here: {0}")]
    Unsupported(String),
    /// SQLite reported an error.
    #[error("spool {op}: {source}")]
    Sqlite {
        /// What the spool was doing.
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl SpoolError {
    /// Whether the error is SQLite's lock contention (`SQLITE_BUSY`): worth
    /// retrying, not a sign of a failing disk.
    pub fn is_busy(&self) -> bool {
        matches!(self, SpoolError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. }
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }

    /// Whether the disk (or SQLite's `max_page_count`) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, SpoolError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. }
            if e.code == rusqlite::ErrorCode::DiskFull)
    }
}

trait SqlContext<T> {
    fn op(self, op: &'static str) -> Result<T, SpoolError>;
}
impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn op(self, op: &'static str) -> Result<T, SpoolError> {
        self.map_err(|source| SpoolError::Sqlite { op, source })
    }
}

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Survives a crash of any process (`synchronous=NORMAL` in WAL mode);
    /// an OS crash or power cut may lose the last commits.
    #[default]
    Process,
    /// Also survives an OS crash or power cut (`synchronous=FULL`: an fsync
    /// per commit).
    PowerLoss,
}

/// What to drop when a batch would take the spool over its size budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnBudget {
    /// Delete the oldest rows to make room (keep the most recent spans).
    #[default]
    DropOldest,
    /// Refuse the new spans that do not fit (keep the oldest spans).
    DropNewest,
}

/// Limits on what the spool keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Maximum bytes of rows (see [`row_bytes`]); `None`: unlimited.
    pub max_bytes: Option<u64>,
    /// Maximum age of a span (by its end time); older spans are deleted by
    /// writers and counted as `age_expired`. `None`: unlimited.
    pub max_age: Option<Duration>,
    /// What to drop when `max_bytes` is reached.
    pub on_budget: OnBudget,
}

/// How to open a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long to wait for another process's write lock before giving up.
    pub busy_timeout: Duration,
    /// SQLite's `max_page_count`, to cap the file at the SQLite level (and,
    /// in tests, to make a real "disk full"). `None`: SQLite's default.
    pub max_page_count: Option<u64>,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            durability: Durability::Process,
            busy_timeout: Duration::from_secs(10),
            max_page_count: None,
        }
    }
}

/// A named counter kept in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// Rows appended by recorders.
    Appended,
    /// Rows deleted to make room, oldest first.
    BudgetDroppedOldest,
    /// New spans refused because the spool was full.
    BudgetDroppedNewest,
    /// Rows deleted because they were older than the spool's `max_age`.
    AgeExpired,
    /// Spans a recorder dropped because its queue was full.
    RecorderQueueFull,
    /// Spans a recorder dropped because the spool could not be written.
    RecorderWriteErrors,
    /// Spans delivered (2xx) and deleted by the uploader.
    Uploaded,
    /// Spans moved to quarantine.
    Quarantined,
    /// Spans not sent because they were past Cloud Trace's 14-day window.
    UploadExpired,
    /// Upload requests retried.
    UploadRetries,
    /// Spans resent after an ambiguous failure (timeout, reset, 502/504):
    /// Cloud Trace may hold them twice.
    UploadPossibleDuplicates,
    /// Quarantined spans put back to pending.
    Requeued,
    /// Rows deleted by an operator (`tracespool purge`).
    Purged,
}

impl Counter {
    /// Every counter, in display order.
    pub const ALL: [Counter; 13] = [
        Counter::Appended,
        Counter::BudgetDroppedOldest,
        Counter::BudgetDroppedNewest,
        Counter::AgeExpired,
        Counter::RecorderQueueFull,
        Counter::RecorderWriteErrors,
        Counter::Uploaded,
        Counter::Quarantined,
        Counter::UploadExpired,
        Counter::UploadRetries,
        Counter::UploadPossibleDuplicates,
        Counter::Requeued,
        Counter::Purged,
    ];

    /// The counter's name in the `counters` table.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Appended => "appended",
            Counter::BudgetDroppedOldest => "budget_dropped_oldest",
            Counter::BudgetDroppedNewest => "budget_dropped_newest",
            Counter::AgeExpired => "age_expired",
            Counter::RecorderQueueFull => "recorder_queue_full",
            Counter::RecorderWriteErrors => "recorder_write_errors",
            Counter::Uploaded => "uploaded",
            Counter::Quarantined => "quarantined",
            Counter::UploadExpired => "upload_expired",
            Counter::UploadRetries => "upload_retries",
            Counter::UploadPossibleDuplicates => "upload_possible_duplicates",
            Counter::Requeued => "requeued",
            Counter::Purged => "purged",
        }
    }
}

/// Rows and bytes per state, from the `totals` table (no scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Pending rows.
    pub pending_rows: u64,
    /// Bytes of pending rows.
    pub pending_bytes: u64,
    /// Quarantined rows.
    pub quarantined_rows: u64,
    /// Bytes of quarantined rows.
    pub quarantined_bytes: u64,
}

impl Totals {
    /// Bytes of all rows, as the budget counts them.
    pub fn bytes(&self) -> u64 {
        self.pending_bytes + self.quarantined_bytes
    }
    /// All rows.
    pub fn rows(&self) -> u64 {
        self.pending_rows + self.quarantined_rows
    }
}

/// One span to append: the columns and the encoded record.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    /// Trace id.
    pub trace_id: &'a [u8; 16],
    /// Span id.
    pub span_id: &'a [u8; 8],
    /// Parent span id.
    pub parent_span_id: Option<&'a [u8; 8]>,
    /// Display name.
    pub name: &'a str,
    /// Start, ns since the Unix epoch.
    pub start_ns: u64,
    /// End, ns since the Unix epoch.
    pub end_ns: u64,
    /// The encoded record (tracespool-schema).
    pub record: &'a [u8],
}

/// What one append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    /// New rows inserted.
    pub written: u64,
    /// New spans refused because the budget was full ([`OnBudget::DropNewest`]).
    pub refused_newest: u64,
    /// New spans refused because the batch alone exceeds the budget
    /// ([`OnBudget::DropOldest`] keeps the newest of the batch).
    pub refused_oversize: u64,
    /// New spans refused because they were already older than `max_age`.
    pub refused_age: u64,
    /// Old rows deleted to make room ([`OnBudget::DropOldest`]).
    pub evicted_oldest: u64,
    /// Old rows deleted for being older than `max_age`.
    pub evicted_age: u64,
}

/// Counters a recorder adds to the spool alongside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderDrops {
    /// Spans dropped on a full queue since the last report.
    pub queue_full: u64,
    /// Spans dropped on write errors since the last report.
    pub write_errors: u64,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

const SCHEMA_V1: &str = r#"
CREATE TABLE spans (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  trace_id          BLOB NOT NULL,
  span_id           BLOB NOT NULL,
  parent_span_id    BLOB,
  name              TEXT NOT NULL,
  start_ns          INTEGER NOT NULL,
  end_ns            INTEGER NOT NULL,
  state             INTEGER NOT NULL DEFAULT 0,
  reason            TEXT,
  quarantined_at_ns INTEGER,
  record            BLOB NOT NULL
);
CREATE INDEX spans_quarantined ON spans(id) WHERE state = 1;
CREATE TABLE totals (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  pending_rows      INTEGER NOT NULL,
  pending_bytes     INTEGER NOT NULL,
  quarantined_rows  INTEGER NOT NULL,
  quarantined_bytes INTEGER NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0, 0, 0);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE VIEW spans_readable AS
SELECT id,
       lower(hex(trace_id)) AS trace_id,
       lower(hex(span_id)) AS span_id,
       CASE WHEN parent_span_id IS NULL THEN NULL ELSE lower(hex(parent_span_id)) END AS parent_span_id,
       name,
       strftime('%Y-%m-%dT%H:%M:%fZ', start_ns / 1e9, 'unixepoch') AS start_time,
       (end_ns - start_ns) / 1e6 AS duration_ms,
       CASE state WHEN 0 THEN 'pending' WHEN 1 THEN 'quarantined' ELSE 'unknown' END AS state,
       reason,
       length(record) AS record_bytes
FROM spans;
"#;

/// Creates the file with mode 0600 if it does not exist. SQLite gives the
/// `-wal` and `-shm` files the same mode as the database file. An existing
/// file is never opened here (see [`must_exist`] for why).
fn create_private(path: &Path) -> Result<(), SpoolError> {
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
        Err(source) => Err(SpoolError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn configure(conn: &Connection, opts: &SpoolOptions) -> Result<(), SpoolError> {
    // busy_timeout: several processes write to one spool; wait for the lock
    // (transactions are short) instead of failing with SQLITE_BUSY.
    conn.busy_timeout(opts.busy_timeout)
        .op("set busy_timeout")?;
    // journal_mode=WAL: readers (uploader, inspect) never block the writer
    // and the writer never blocks them; a commit is one sequential append.
    // It is stored in the file, so every later connection gets it too.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .op("set journal_mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SpoolError::Unsupported(format!(
            "journal_mode is {mode}, not wal (is the file on a network filesystem?)"
        )));
    }
    // synchronous: NORMAL is durable against process crashes in WAL mode
    // (the WAL is fsynced at checkpoints only); FULL fsyncs every commit so
    // that a power cut loses nothing committed.
    let sync = match opts.durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous={sync}"))
        .op("set synchronous")?;
    // journal_size_limit: after a checkpoint, truncate the WAL back to 64 MiB
    // so one burst does not leave a huge -wal file behind forever.
    conn.execute_batch("PRAGMA journal_size_limit=67108864")
        .op("set journal_size_limit")?;
    if let Some(pages) = opts.max_page_count {
        // max_page_count: a hard cap on the file, enforced by SQLite itself
        // (SQLITE_FULL past it), for operators who want one and for tests.
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count={pages}"), [], |r| r.get(0))
            .op("set max_page_count")?;
    }
    Ok(())
}

/// Checks the file is a spool of a supported format, creating the schema in
/// an empty file. Safe when several processes open a new file at once: the
/// check and the creation run in one `BEGIN IMMEDIATE` transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), SpoolError> {
    let not_a_spool = |why: String| SpoolError::NotASpool {
        path: path.to_owned(),
        why,
    };
    let map_open_err = |e: rusqlite::Error| match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            not_a_spool("not an SQLite database".into())
        }
        _ => SpoolError::Sqlite {
            op: "read the format",
            source: e,
        },
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_open_err)?;
    let app_id: i32 = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(map_open_err)?;
    let version: i32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_open_err)?;
    if app_id == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(map_open_err)?;
        if tables != 0 {
            return Err(not_a_spool(format!(
                "an SQLite database with {tables} other objects"
            )));
        }
        tx.execute_batch(SCHEMA_V1).op("create the schema")?;
        tx.execute_batch(&format!(
            "PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={FORMAT_VERSION};"
        ))
        .op("mark the file as a spool")?;
        tx.commit().op("commit the schema")?;
        return Ok(());
    }
    if app_id != APPLICATION_ID {
        return Err(not_a_spool(format!(
            "an SQLite database with application_id {app_id:#x}"
        )));
    }
    if version > FORMAT_VERSION {
        return Err(SpoolError::NewerFormat {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    // Future migrations: `if version < 2 { ...; PRAGMA user_version=2 }`.
    tx.commit().op("commit")?;
    Ok(())
}

fn open_rw(path: &Path, opts: &SpoolOptions) -> Result<Connection, SpoolError> {
    create_private(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|source| SpoolError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(source),
    })?;
    // The busy timeout must be in force before the first statement, which
    // may meet another process's lock; `configure` sets the rest.
    conn.busy_timeout(opts.busy_timeout)
        .op("set busy_timeout")?;
    // Check the file before changing anything in it (journal mode included).
    migrate(&mut conn, path)?;
    configure(&conn, opts)?;
    Ok(conn)
}

/// A short write transaction (`BEGIN IMMEDIATE`: takes the write lock at
/// once, so it cannot fail later on a lock upgrade).
fn write_tx<'c>(
    conn: &'c mut Connection,
    op: &'static str,
) -> Result<rusqlite::Transaction<'c>, SpoolError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .op(op)
}

fn read_totals(conn: &Connection) -> Result<Totals, SpoolError> {
    conn.query_row(
        "SELECT pending_rows, pending_bytes, quarantined_rows, quarantined_bytes FROM totals WHERE id = 1",
        [],
        |r| {
            Ok(Totals {
                pending_rows: r.get::<_, i64>(0)? as u64,
                pending_bytes: r.get::<_, i64>(1)? as u64,
                quarantined_rows: r.get::<_, i64>(2)? as u64,
                quarantined_bytes: r.get::<_, i64>(3)? as u64,
            })
        },
    )
    .op("read totals")
}

fn add_totals(conn: &Connection, d: [i64; 4]) -> Result<(), SpoolError> {
    if d == [0; 4] {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE totals SET pending_rows = pending_rows + ?1, pending_bytes = pending_bytes + ?2, \
         quarantined_rows = quarantined_rows + ?3, quarantined_bytes = quarantined_bytes + ?4 WHERE id = 1",
    )
    .and_then(|mut s| s.execute(params![d[0], d[1], d[2], d[3]]))
    .op("update totals")?;
    Ok(())
}

fn add_counter(conn: &Connection, c: Counter, delta: u64) -> Result<(), SpoolError> {
    if delta == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO counters(name, value) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    )
    .and_then(|mut s| s.execute(params![c.name(), to_i64(delta)]))
    .op("update a counter")?;
    Ok(())
}

/// Deletes rows `WHERE <cond>` and returns (rows, bytes) per state:
/// `[pending_rows, pending_bytes, quarantined_rows, quarantined_bytes]`.
fn delete_counted(
    conn: &Connection,
    cond: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<[i64; 4], SpoolError> {
    // Count, then delete, in the caller's write transaction. Not
    // `DELETE ... RETURNING`: that runs the delete under a statement journal
    // and costs about twice as much per row (measured on the upload path).
    let count = format!(
        "SELECT state, count(*), sum(length(record) + {ROW_OVERHEAD_BYTES}) \
         FROM spans WHERE {cond} GROUP BY state"
    );
    let mut d = [0i64; 4];
    {
        let mut stmt = conn.prepare_cached(&count).op("count rows")?;
        let mut rows = stmt.query(args).op("count rows")?;
        while let Some(r) = rows.next().op("count rows")? {
            let state: i64 = r.get(0).op("count rows")?;
            let k = if state == 1 { 2 } else { 0 };
            d[k] += r.get::<_, i64>(1).op("count rows")?;
            d[k + 1] += r.get::<_, i64>(2).op("count rows")?;
        }
    }
    if d != [0; 4] {
        let deleted = conn
            .prepare_cached(&format!("DELETE FROM spans WHERE {cond}"))
            .and_then(|mut s| s.execute(args))
            .op("delete rows")?;
        debug_assert_eq!(deleted as i64, d[0] + d[2]);
    }
    Ok(d)
}

fn neg(d: [i64; 4]) -> [i64; 4] {
    [-d[0], -d[1], -d[2], -d[3]]
}

/// The writing half: appends batches of spans. One per recorder writer
/// thread; any number of processes may have one on the same file.
pub struct SpoolWriter {
    conn: Connection,
    path: PathBuf,
    ino: u64,
    budget: Budget,
}

impl std::fmt::Debug for SpoolWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolWriter")
            .field("path", &self.path)
            .field("budget", &self.budget)
            .finish()
    }
}

impl SpoolWriter {
    /// Opens (creating if needed, mode 0600) the spool at `path`.
    pub fn open(path: &Path, budget: Budget, opts: &SpoolOptions) -> Result<Self, SpoolError> {
        let conn = open_rw(path, opts)?;
        let ino = inode(path).unwrap_or(0);
        Ok(SpoolWriter {
            conn,
            path: path.to_owned(),
            ino,
            budget,
        })
    }

    /// The spool's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still names the file this writer has open (false
    /// after the file was deleted or replaced: reopen to write to it again).
    pub fn still_at_path(&self) -> bool {
        inode(&self.path) == Some(self.ino)
    }

    /// Appends a batch in one transaction, applying the budget, and adds the
    /// recorder's drop counters. On error nothing of the batch is written.
    pub fn append(
        &mut self,
        rows: &[NewRow<'_>],
        drops: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        let budget = self.budget;
        let tx = write_tx(&mut self.conn, "begin append")?;
        let mut out = AppendOutcome::default();
        let mut delta = [0i64; 4];

        // Age limit: sweep old rows from the head (ids follow time closely
        // enough; the uploader's 14-day check catches stragglers), and
        // refuse new spans that are already too old.
        let cutoff = budget
            .max_age
            .map(|age| to_i64(now_ns().saturating_sub(age.as_nanos() as u64)));
        if let Some(cutoff) = cutoff {
            let oldest: Option<i64> = tx
                .query_row("SELECT end_ns FROM spans ORDER BY id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()
                .op("read oldest")?;
            if oldest.is_some_and(|e| e < cutoff) {
                let d = delete_counted(
                    &tx,
                    "id IN (SELECT id FROM spans ORDER BY id LIMIT 10000) AND end_ns < ?1",
                    params![cutoff],
                )?;
                out.evicted_age += (d[0] + d[2]) as u64;
                delta = sub(delta, d);
            }
        }
        let fresh = |r: &NewRow<'_>| cutoff.is_none_or(|c| to_i64(r.end_ns) >= c);

        // Size budget.
        let incoming: u64 = rows
            .iter()
            .filter(|r| fresh(r))
            .map(|r| row_bytes(r.record.len()))
            .sum();
        let mut skip_first = 0usize; // new rows (in order) not written for the budget
        let mut accept_limit = u64::MAX; // DropNewest: bytes of new rows that fit
        if let Some(max) = budget.max_bytes {
            let used = (to_i64(read_totals(&tx)?.bytes()) + delta[1] + delta[3]).max(0) as u64;
            if used + incoming > max {
                match budget.on_budget {
                    OnBudget::DropNewest => accept_limit = max.saturating_sub(used),
                    OnBudget::DropOldest => {
                        // New spans that cannot fit even in an empty spool:
                        // keep the newest of the batch.
                        let mut new_bytes = incoming;
                        for r in rows.iter() {
                            if new_bytes <= max {
                                break;
                            }
                            if fresh(r) {
                                new_bytes -= row_bytes(r.record.len());
                            }
                            skip_first += 1;
                        }
                        let need = (used + new_bytes).saturating_sub(max);
                        if need > 0 {
                            let d = self::free_oldest(&tx, need)?;
                            out.evicted_oldest += (d[0] + d[2]) as u64;
                            delta = sub(delta, d);
                        }
                    }
                }
            }
        }

        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO spans(trace_id, span_id, parent_span_id, name, start_ns, end_ns, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .op("prepare insert")?;
            let mut accepted = 0u64;
            for (i, r) in rows.iter().enumerate() {
                if !fresh(r) {
                    out.refused_age += 1;
                    continue;
                }
                if i < skip_first {
                    out.refused_oversize += 1;
                    continue;
                }
                let b = row_bytes(r.record.len());
                if accepted + b > accept_limit {
                    out.refused_newest += 1;
                    continue;
                }
                accepted += b;
                ins.execute(params![
                    &r.trace_id[..],
                    &r.span_id[..],
                    r.parent_span_id.map(|p| &p[..]),
                    r.name,
                    to_i64(r.start_ns),
                    to_i64(r.end_ns),
                    r.record,
                ])
                .op("insert span")?;
                out.written += 1;
                delta[0] += 1;
                delta[1] += b as i64;
            }
        }
        add_totals(&tx, delta)?;
        add_counter(&tx, Counter::Appended, out.written)?;
        add_counter(
            &tx,
            Counter::BudgetDroppedOldest,
            out.evicted_oldest + out.refused_oversize,
        )?;
        add_counter(&tx, Counter::BudgetDroppedNewest, out.refused_newest)?;
        add_counter(&tx, Counter::AgeExpired, out.evicted_age + out.refused_age)?;
        add_counter(&tx, Counter::RecorderQueueFull, drops.queue_full)?;
        add_counter(&tx, Counter::RecorderWriteErrors, drops.write_errors)?;
        tx.commit().op("commit append")?;
        Ok(out)
    }
}

fn plus(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}

fn sub(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
}

/// Deletes the oldest rows until at least `need` bytes are freed.
fn free_oldest(conn: &Connection, need: u64) -> Result<[i64; 4], SpoolError> {
    let last_id: Option<i64> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT id, length(record) + {ROW_OVERHEAD_BYTES} FROM spans ORDER BY id"
            ))
            .op("find oldest rows")?;
        let mut rows = stmt.query([]).op("find oldest rows")?;
        let mut freed = 0u64;
        let mut last = None;
        while let Some(r) = rows.next().op("find oldest rows")? {
            last = Some(r.get::<_, i64>(0).op("find oldest rows")?);
            freed += r.get::<_, i64>(1).op("find oldest rows")? as u64;
            if freed >= need {
                break;
            }
        }
        last
    };
    match last_id {
        Some(id) => delete_counted(conn, "id <= ?1", params![id]),
        None => Ok([0; 4]),
    }
}

/// Fails with `Io` if `path` does not exist. Uses `stat`, never `open`:
/// closing any descriptor of the database file would drop the POSIX locks
/// SQLite holds through other connections of this process, and another
/// process could then delete the WAL under them.
fn must_exist(path: &Path) -> Result<(), SpoolError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| SpoolError::Io {
            path: path.to_owned(),
            source,
        })
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// A pending span handed out by [`SpoolReader::lease`].
#[derive(Debug, Clone)]
pub struct LeasedSpan {
    /// The row id (`spans.id`).
    pub row_id: i64,
    /// The encoded record.
    pub record: Vec<u8>,
}

/// A quarantined row, as listed by [`SpoolReader::quarantined`].
#[derive(Debug, Clone)]
pub struct QuarantinedRow {
    /// The row id.
    pub row_id: i64,
    /// Why.
    pub reason: String,
    /// When, ns since the Unix epoch.
    pub at_ns: u64,
}

/// The `meta` key of the delivered mark (see invariant 5).
pub const DELIVERED_THROUGH: &str = "delivered_through";

/// The reading (consuming) half: leases pending spans oldest first,
/// acknowledges (deletes) delivered ones, quarantines bad ones one by one,
/// requeues, and reads counts. Used by the one uploader that holds the
/// [`UploaderLock`], and by `inspect`.
pub struct SpoolReader {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SpoolReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolReader")
            .field("path", &self.path)
            .finish()
    }
}

impl SpoolReader {
    /// Opens an existing spool for consuming (read and delete). Fails with
    /// an `Io` error if it does not exist, and with `NotASpool` if the file
    /// is something else.
    pub fn open(path: &Path, opts: &SpoolOptions) -> Result<Self, SpoolError> {
        must_exist(path)?;
        Ok(SpoolReader {
            conn: open_rw(path, opts)?,
            path: path.to_owned(),
        })
    }

    /// The spool's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for read-only queries of `inspect`.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Row and byte tallies.
    pub fn totals(&self) -> Result<Totals, SpoolError> {
        read_totals(&self.conn)
    }

    /// Every counter (missing ones are 0), in [`Counter::ALL`] order.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM counters WHERE name = ?1")
            .op("read counters")?;
        Counter::ALL
            .iter()
            .map(|c| {
                let v: Option<i64> = stmt
                    .query_row([c.name()], |r| r.get(0))
                    .optional()
                    .op("read counters")?;
                Ok((*c, v.unwrap_or(0).max(0) as u64))
            })
            .collect()
    }

    /// One counter (0 if it was never counted).
    pub fn counter(&self, c: Counter) -> Result<u64, SpoolError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM counters WHERE name = ?1")
            .and_then(|mut s| s.query_row([c.name()], |r| r.get(0)).optional())
            .op("read a counter")?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    /// Adds to counters (e.g. the uploader's retries).
    pub fn add_counters(&mut self, deltas: &[(Counter, u64)]) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, "begin")?;
        for (c, d) in deltas {
            add_counter(&tx, *c, *d)?;
        }
        tx.commit().op("commit counters")
    }

    /// Sets `meta` keys (the uploader's last attempt, success and error).
    pub fn set_meta(&mut self, pairs: &[(&str, &str)]) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, "begin")?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
                .op("set meta")?;
            for (k, v) in pairs {
                stmt.execute(params![k, v]).op("set meta")?;
            }
        }
        tx.commit().op("commit meta")
    }

    /// Records that Cloud Trace accepted every pending row with
    /// `id <= last` (see invariant 5); [`SpoolReader::ack`] on another
    /// connection deletes them, or [`SpoolReader::ack_delivered`] after a
    /// crash. The mark never moves back.
    pub fn mark_delivered(&mut self, last: i64) -> Result<(), SpoolError> {
        let tx = write_tx(&mut self.conn, "begin mark")?;
        tx.prepare_cached(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE \
             SET value = excluded.value WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
        )
        .and_then(|mut s| s.execute(params![DELIVERED_THROUGH, last.to_string()]))
        .op("mark delivered")?;
        tx.commit().op("commit mark")
    }

    /// Deletes the pending rows at or below the delivered mark, counted as
    /// `uploaded`: what a killed uploader had delivered but not yet deleted.
    /// Returns how many rows were deleted.
    pub fn ack_delivered(&mut self) -> Result<u64, SpoolError> {
        match self
            .meta(DELIVERED_THROUGH)?
            .and_then(|v| v.parse::<i64>().ok())
        {
            Some(last) => self.ack(i64::MIN, last),
            None => Ok(0),
        }
    }

    /// Tunes this connection for streaming through the spool: reads go
    /// through a memory map of the file instead of a `pread` per page.
    pub fn read_mostly(&self) -> Result<(), SpoolError> {
        // mmap_size: map up to 1 GiB of the database file; pages are read
        // from the page cache without a system call and a copy each.
        let _: i64 = self
            .conn
            .query_row("PRAGMA mmap_size=1073741824", [], |r| r.get(0))
            .op("set mmap_size")?;
        Ok(())
    }

    /// Leaves checkpoints to the other connections on the file: commits on
    /// this one never copy the WAL back into the database. The uploader's
    /// sending connection uses it, so only its deleting connection (and
    /// the recorders) pay for checkpoints, off the request path.
    pub fn no_auto_checkpoint(&self) -> Result<(), SpoolError> {
        // wal_autocheckpoint=0: no automatic checkpoint after this
        // connection's commits (another connection's still run).
        let _: i64 = self
            .conn
            .query_row("PRAGMA wal_autocheckpoint=0", [], |r| r.get(0))
            .op("set wal_autocheckpoint")?;
        Ok(())
    }

    /// Reads a `meta` key.
    pub fn meta(&self, key: &str) -> Result<Option<String>, SpoolError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .op("read meta")
    }

    /// Up to `limit` pending spans with `row_id > after`, oldest first. Does
    /// not change the spool: exclusivity comes from the [`UploaderLock`], and
    /// a span leaves only through [`SpoolReader::ack`] (or quarantine/expiry).
    pub fn lease(&self, after: i64, limit: usize) -> Result<Vec<LeasedSpan>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, record FROM spans WHERE id > ?1 AND state = 0 ORDER BY id LIMIT ?2",
            )
            .op("lease")?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(LeasedSpan {
                    row_id: r.get(0)?,
                    record: r.get(1)?,
                })
            })
            .op("lease")?;
        rows.collect::<Result<Vec<_>, _>>().op("lease")
    }

    /// Deletes the pending rows with ids in `first..=last` (a delivered run
    /// of a lease) and counts them as `uploaded`, in one transaction.
    /// Returns how many rows were deleted.
    pub fn ack(&mut self, first: i64, last: i64) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, "begin ack")?;
        let d = delete_counted(
            &tx,
            "id >= ?1 AND id <= ?2 AND state = 0",
            params![first, last],
        )?;
        add_totals(&tx, neg(d))?;
        add_counter(&tx, Counter::Uploaded, d[0] as u64)?;
        tx.commit().op("commit ack")?;
        Ok(d[0] as u64)
    }

    /// Deletes single pending rows, counting them under `counter` (e.g.
    /// [`Counter::UploadExpired`]). Returns how many were deleted.
    pub fn remove(&mut self, row_ids: &[i64], counter: Counter) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, "begin remove")?;
        let mut total = [0i64; 4];
        for id in row_ids {
            let d = delete_counted(&tx, "id = ?1 AND state = 0", params![id])?;
            total = plus(total, d);
        }
        add_totals(&tx, neg(total))?;
        add_counter(&tx, counter, total[0] as u64)?;
        tx.commit().op("commit remove")?;
        Ok(total[0] as u64)
    }

    /// Moves pending rows to quarantine with a reason, one by one.
    pub fn quarantine(&mut self, rows: &[(i64, &str)]) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, "begin quarantine")?;
        let now = to_i64(now_ns());
        let mut d = [0i64; 4];
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE spans SET state = 1, reason = ?2, quarantined_at_ns = ?3 \
                     WHERE id = ?1 AND state = 0 RETURNING length(record) + {ROW_OVERHEAD_BYTES}"
                ))
                .op("quarantine")?;
            for (id, reason) in rows {
                let bytes: Option<i64> = stmt
                    .query_row(params![id, reason, now], |r| r.get(0))
                    .optional()
                    .op("quarantine")?;
                if let Some(b) = bytes {
                    d = [d[0] - 1, d[1] - b, d[2] + 1, d[3] + b];
                }
            }
        }
        add_totals(&tx, d)?;
        add_counter(&tx, Counter::Quarantined, d[2] as u64)?;
        tx.commit().op("commit quarantine")?;
        Ok(d[2] as u64)
    }

    /// Quarantined rows, oldest first.
    pub fn quarantined(&self, limit: usize) -> Result<Vec<QuarantinedRow>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, coalesce(reason, ''), coalesce(quarantined_at_ns, 0) FROM spans \
                 WHERE state = 1 ORDER BY id LIMIT ?1",
            )
            .op("list quarantine")?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(QuarantinedRow {
                    row_id: r.get(0)?,
                    reason: r.get(1)?,
                    at_ns: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .op("list quarantine")?;
        rows.collect::<Result<Vec<_>, _>>().op("list quarantine")
    }

    /// Puts quarantined rows back to pending, at the tail (new row ids, so
    /// a lease in progress is never changed). `None`: every quarantined row.
    /// Returns how many were requeued.
    pub fn requeue(&mut self, row_ids: Option<&[i64]>) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, "begin requeue")?;
        let copy = "INSERT INTO spans(trace_id, span_id, parent_span_id, name, start_ns, end_ns, record) \
                    SELECT trace_id, span_id, parent_span_id, name, start_ns, end_ns, record FROM spans \
                    WHERE state = 1";
        let d = match row_ids {
            None => {
                tx.execute(&format!("{copy} ORDER BY id"), [])
                    .op("requeue")?;
                delete_counted(&tx, "state = 1", &[])?
            }
            Some(ids) => {
                let mut total = [0i64; 4];
                for id in ids {
                    let n = tx
                        .execute(&format!("{copy} AND id = ?1"), [id])
                        .op("requeue")?;
                    if n == 1 {
                        let d = delete_counted(&tx, "id = ?1 AND state = 1", params![id])?;
                        total = plus(total, d);
                    }
                }
                total
            }
        };
        let n = d[2];
        // The copies are pending with the same bytes; the originals are gone.
        add_totals(&tx, [n, d[3], -n, -d[3]])?;
        add_counter(&tx, Counter::Requeued, n as u64)?;
        tx.commit().op("commit requeue")?;
        Ok(n as u64)
    }

    /// Deletes every quarantined row (counted as `purged`).
    pub fn purge_quarantined(&mut self) -> Result<u64, SpoolError> {
        self.purge_where("state = 1", &[])
    }

    /// Deletes every row (of any state) that ended before `cutoff_ns`
    /// (counted as `purged`).
    pub fn purge_ended_before(&mut self, cutoff_ns: u64) -> Result<u64, SpoolError> {
        self.purge_where("end_ns < ?1", params![to_i64(cutoff_ns)])
    }

    fn purge_where(
        &mut self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<u64, SpoolError> {
        let tx = write_tx(&mut self.conn, "begin purge")?;
        let d = delete_counted(&tx, cond, args)?;
        add_totals(&tx, neg(d))?;
        let n = (d[0] + d[2]) as u64;
        add_counter(&tx, Counter::Purged, n)?;
        tx.commit().op("commit purge")?;
        Ok(n)
    }
}

/// A row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanState {
    /// Waiting for upload.
    Pending,
    /// Rejected; kept for an operator.
    Quarantined,
}

impl SpanState {
    /// `pending` or `quarantined`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanState::Pending => "pending",
            SpanState::Quarantined => "quarantined",
        }
    }
    fn code(self) -> i64 {
        match self {
            SpanState::Pending => 0,
            SpanState::Quarantined => 1,
        }
    }
}

/// Which rows [`SpoolReader::for_each_row`] visits.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    /// Only this trace (a full scan: there is no index on trace ids).
    pub trace_id: Option<[u8; 16]>,
    /// Only this span id.
    pub span_id: Option<[u8; 8]>,
    /// Only names matching this SQLite `GLOB` pattern (`*`, `?`, `[...]`).
    pub name_glob: Option<String>,
    /// Only this state.
    pub state: Option<SpanState>,
    /// Only spans that started at or after this time (ns since the epoch).
    pub since_ns: Option<u64>,
    /// Oldest first (default: newest first).
    pub oldest_first: bool,
}

/// One row with its columns and its encoded record.
#[derive(Debug, Clone)]
pub struct SpanRow {
    /// Row id.
    pub row_id: i64,
    /// Trace id column (16 bytes if well formed).
    pub trace_id: Vec<u8>,
    /// Span id column.
    pub span_id: Vec<u8>,
    /// Parent span id column.
    pub parent_span_id: Option<Vec<u8>>,
    /// Name column.
    pub name: String,
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End, ns since the epoch.
    pub end_ns: i64,
    /// State.
    pub state: SpanState,
    /// Quarantine reason.
    pub reason: Option<String>,
    /// The encoded record.
    pub record: Vec<u8>,
}

impl SpoolReader {
    /// Opens an existing spool read-only (for `inspect`): never writes,
    /// never takes the write lock, never creates anything.
    pub fn open_read_only(path: &Path) -> Result<Self, SpoolError> {
        must_exist(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| SpoolError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(source),
        })?;
        // Readers wait for a checkpoint or recovery in progress, briefly.
        conn.busy_timeout(Duration::from_secs(5))
            .op("set busy_timeout")?;
        let not_a_spool = |why: String| SpoolError::NotASpool {
            path: path.to_owned(),
            why,
        };
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    not_a_spool("not an SQLite database".into())
                }
                _ => SpoolError::Sqlite {
                    op: "read the format",
                    source: e,
                },
            })?;
        if app_id != APPLICATION_ID {
            return Err(not_a_spool(if app_id == 0 {
                "an SQLite database without the spool marker".into()
            } else {
                format!("an SQLite database with application_id {app_id:#x}")
            }));
        }
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .op("read the format")?;
        if version > FORMAT_VERSION {
            return Err(SpoolError::NewerFormat {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(SpoolReader {
            conn,
            path: path.to_owned(),
        })
    }

    /// The spool's format version (`PRAGMA user_version`).
    pub fn format_version(&self) -> Result<i32, SpoolError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .op("read the format")
    }

    /// Quarantined rows per reason, most first (uses the partial index).
    pub fn quarantine_reasons(&self) -> Result<Vec<(String, u64)>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT coalesce(reason, ''), count(*) FROM spans WHERE state = 1                  GROUP BY 1 ORDER BY 2 DESC, 1",
            )
            .op("group reasons")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .op("group reasons")?;
        rows.collect::<Result<Vec<_>, _>>().op("group reasons")
    }

    /// Rows matching `filter`, at most `limit`, calling `f` for each (so an
    /// export of a million rows streams). `f` returning `false` stops.
    pub fn for_each_row(
        &self,
        filter: &RowFilter,
        limit: Option<u64>,
        mut f: impl FnMut(SpanRow) -> bool,
    ) -> Result<(), SpoolError> {
        let mut sql = String::from(
            "SELECT id, trace_id, span_id, parent_span_id, name, start_ns, end_ns, state, reason, record \
             FROM spans WHERE 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(t) = filter.trace_id {
            sql.push_str(" AND trace_id = ?");
            args.push(t.to_vec().into());
        }
        if let Some(s) = filter.span_id {
            sql.push_str(" AND span_id = ?");
            args.push(s.to_vec().into());
        }
        if let Some(g) = &filter.name_glob {
            sql.push_str(" AND name GLOB ?");
            args.push(g.clone().into());
        }
        if let Some(st) = filter.state {
            sql.push_str(" AND state = ?");
            args.push(st.code().into());
        }
        if let Some(since) = filter.since_ns {
            sql.push_str(" AND start_ns >= ?");
            args.push(to_i64(since).into());
        }
        sql.push_str(if filter.oldest_first {
            " ORDER BY id"
        } else {
            " ORDER BY id DESC"
        });
        if let Some(l) = limit {
            sql.push_str(" LIMIT ?");
            args.push(to_i64(l).into());
        }
        let mut stmt = self.conn.prepare(&sql).op("list spans")?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .op("list spans")?;
        while let Some(r) = rows.next().op("list spans")? {
            let row = SpanRow {
                row_id: r.get(0).op("list spans")?,
                trace_id: r.get(1).op("list spans")?,
                span_id: r.get(2).op("list spans")?,
                parent_span_id: r.get(3).op("list spans")?,
                name: r.get(4).op("list spans")?,
                start_ns: r.get(5).op("list spans")?,
                end_ns: r.get(6).op("list spans")?,
                state: if r.get::<_, i64>(7).op("list spans")? == 1 {
                    SpanState::Quarantined
                } else {
                    SpanState::Pending
                },
                reason: r.get(8).op("list spans")?,
                record: r.get(9).op("list spans")?,
            };
            if !f(row) {
                break;
            }
        }
        Ok(())
    }

    /// The oldest and newest pending rows (by id).
    pub fn pending_edges(&self) -> Result<(Option<SpanRow>, Option<SpanRow>), SpoolError> {
        let mut first = None;
        let f = RowFilter {
            state: Some(SpanState::Pending),
            oldest_first: true,
            ..RowFilter::default()
        };
        self.for_each_row(&f, Some(1), |r| {
            first = Some(r);
            false
        })?;
        let mut last = None;
        let f = RowFilter {
            oldest_first: false,
            ..f
        };
        self.for_each_row(&f, Some(1), |r| {
            last = Some(r);
            false
        })?;
        Ok((first, last))
    }
}

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
    let mut s = spool.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl UploaderLock {
    fn open(spool: &Path) -> Result<(File, PathBuf), SpoolError> {
        let path = lock_path(spool);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| SpoolError::Io {
                path: path.clone(),
                source,
            })?;
        Ok((file, path))
    }

    /// Takes the lock, or `Ok(None)` if another process holds it.
    pub fn try_acquire(spool: &Path) -> Result<Option<UploaderLock>, SpoolError> {
        let (file, path) = Self::open(spool)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(UploaderLock { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(SpoolError::Io { path, source }),
        }
    }

    /// Waits for the lock.
    pub fn acquire(spool: &Path) -> Result<UploaderLock, SpoolError> {
        let (file, path) = Self::open(spool)?;
        file.lock().map_err(|source| SpoolError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(UploaderLock { _file: file, path })
    }

    /// Whether some process holds the lock now (without taking it).
    pub fn is_held(spool: &Path) -> Result<bool, SpoolError> {
        let path = lock_path(spool);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(SpoolError::Io { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(source)) => Err(SpoolError::Io { path, source }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

//! # tracespool-spool: the one owner of the spool format
//!
//! The spool is one SQLite file that holds finished spans until they are
//! uploaded. This crate owns both halves of the format: the writing half
//! ([`SpoolWriter`], feature `writer`) used by the recorder's writer thread,
//! and the reading half ([`SpoolReader`], [`UploaderLock`], feature
//! `reader`) used by the uploader and by `inspect`, together with its SQL,
//! migrations and pragmas. Nothing else in tracespool issues SQL. The spool
//! is the contract between a recorder of one version and an uploader of
//! another: spools already on users' disks keep working (a golden spool
//! file of format 1 with version-1 records, written by the first build, is
//! opened, inspected and uploaded by every
//! build's tests).
//!
//! No dependency type appears in this crate's API: errors carry SQLite's
//! message as text ([`SqliteError`]), so an application may use any
//! rusqlite it likes beside tracespool as long as `libsqlite3-sys` unifies.
//!
//! # SQLite
//!
//! The `bundled` feature (default) compiles SQLite into the program. Without
//! it the system's `libsqlite3` is linked. Either way the version is checked
//! at run time: a connection that may write is refused below
//! [`MIN_SQLITE_VERSION`] (3.51.3, the fix of the WAL-reset corruption
//! bug) with [`OpenError::SqliteTooOld`]; read-only opening works with any
//! version. See [`version`](crate::sqlite_version) and the pragma table in
//! the `connection` module (every pragma, and why there is no `mmap`).
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
//!    by an operator (`purged`), or unreadable in a damaged file when it
//!    was recovered (`lost_to_damage`).
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
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | `format` | the schema, the marker check, migrations |
//! | `connection` | opening, file mode, the version check, pragmas |
//! | `tally` | `totals` and `counters`, counted deletes |
//! | `writer` | [`SpoolWriter`]: append with budget and age limit |
//! | `reader` | [`SpoolReader`]: lease, ack, mark, quarantine, requeue, purge |
//! | `browse` | [`RowFilter`] and row listing for `inspect` |
//! | `lock` | [`UploaderLock`] |
//! | `reserve` | the space reserve: a full disk never strands the spool |
//! | `recover` | [`recover`]: a damaged spool's readable rows into a fresh one |
//! | `error`, `options`, `version` | typed errors, policies, the SQLite check |
//! | `files`, `clock` | the names of the files beside a spool; the wall clock and clock samples |
//! | `filesystem` | the file system under a spool: size, free space, local or network |

#![warn(missing_docs)]
#![forbid(unsafe_code)]
// With only one half enabled, helpers of the other half go unused.
#![cfg_attr(not(all(feature = "writer", feature = "reader")), allow(dead_code))]

#[cfg(feature = "reader")]
mod browse;
mod clock;
mod connection;
mod error;
mod files;
mod filesystem;
mod format;
#[cfg(feature = "reader")]
mod lock;
mod options;
#[cfg(feature = "reader")]
mod reader;
#[cfg(feature = "reader")]
mod recover;
mod reserve;
mod tally;
mod version;
#[cfg(feature = "writer")]
mod writer;

#[cfg(feature = "reader")]
pub use browse::{RowFilter, SpanRow, SpanState};
pub use clock::{boot_id, now_ns, ClockSample, SampleSource, SAMPLE_EVERY_STEP_NS};
pub use connection::check_spool_path;
pub use error::{LockError, OpenError, Operation, SpoolError, SqliteError, SqliteErrorKind};
pub use filesystem::{classify, fs_info, FsInfo, FsKind, NETWORK_FUSE};
pub use format::{row_bytes, APPLICATION_ID, FORMAT_VERSION};
#[cfg(feature = "reader")]
pub use lock::{lock_path, UploaderLock};
pub use options::{Budget, Durability, NetworkFs, OnBudget, Reserve, SpoolOptions};
#[cfg(feature = "reader")]
pub use reader::{LeasedSpan, QuarantinedRow, SpoolReader};
#[cfg(feature = "reader")]
pub use recover::{recover, RecoverError, RecoveryReport};
pub use reserve::{reserve_for, reserve_path, MARGIN_BYTES};
pub use tally::{Counter, Totals};
pub use version::{sqlite_version, MIN_SQLITE_VERSION};
#[cfg(feature = "writer")]
pub use writer::{AppendOutcome, NewRow, RecorderDrops, SpoolWriter};

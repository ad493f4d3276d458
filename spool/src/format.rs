//! The on-disk format: the schema of format version 1 and the check (and
//! creation) that every read-write opening runs first.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{OpenError, SqliteError, SqliteErrorKind};

/// `PRAGMA application_id` of a spool: "TSP1".
pub const APPLICATION_ID: i32 = 0x5453_5031;
/// The spool format version this build writes and reads (`PRAGMA user_version`).
pub const FORMAT_VERSION: i32 = 1;
/// Bytes counted per row on top of its record, for the disk budget.
pub(crate) const ROW_OVERHEAD_BYTES: u64 = 64;

/// The bytes the budget counts for a row with a record of `record_len` bytes.
pub fn row_bytes(record_len: usize) -> u64 {
    record_len as u64 + ROW_OVERHEAD_BYTES
}

pub(crate) const SCHEMA_V1: &str = r#"
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

/// The clock extension (format 1, added by builds of 0.2.0; older builds
/// ignore it): clock samples, and the sample each row was written with
/// (see the `clock` module). Read-write openings add it; a spool without
/// it has no sample, and its rows keep the times they were recorded with.
pub(crate) const CLOCK_EXTENSION: &str = r#"
CREATE TABLE IF NOT EXISTS clock_samples (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  boot_id     BLOB NOT NULL,
  boottime_ns INTEGER NOT NULL,
  wall_ns     INTEGER NOT NULL,
  source      INTEGER NOT NULL
);
"#;

/// The dictionaries extension (format 1, added by builds of 0.2.0; older
/// builds ignore the table, and cannot read the compressed records that
/// need it): the dictionaries compressed records (version 4) are written
/// with. `id` is the one the records name (chosen by the writer from the
/// content, so equal dictionaries share it across processes and files);
/// `seq` orders them, newest last.
pub(crate) const DICTIONARIES_EXTENSION: &str = r#"
CREATE TABLE IF NOT EXISTS dictionaries (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  id   INTEGER NOT NULL UNIQUE,
  dict BLOB NOT NULL
);
"#;

/// Whether the spool has the clock extension's column (`spans.clock`).
pub(crate) fn has_clock_column(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('spans') WHERE name = 'clock'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// Records a clock sample; returns its id.
pub(crate) fn insert_clock_sample(
    conn: &Connection,
    s: &crate::clock::ClockSample,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO clock_samples(boot_id, boottime_ns, wall_ns, source) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![
        &s.boot_id[..],
        s.boottime_ns,
        s.wall_ns,
        s.source.code()
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Adds the extensions a spool lacks (in the opening's transaction).
fn add_extensions(tx: &Connection) -> rusqlite::Result<()> {
    if !has_clock_column(tx) {
        tx.execute_batch(CLOCK_EXTENSION)?;
        tx.execute_batch("ALTER TABLE spans ADD COLUMN clock INTEGER;")?;
    }
    tx.execute_batch(DICTIONARIES_EXTENSION)?;
    Ok(())
}

/// Whether the spool has the dictionaries extension.
pub(crate) fn has_dictionaries(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'dictionaries'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// Maps an error met while reading the file's header to the open error a
/// user understands ("not an SQLite database" rather than SQLite's code).
pub(crate) fn header_error(path: &Path, e: rusqlite::Error) -> OpenError {
    let source = SqliteError::from(e);
    match source.kind() {
        // A file whose first page is not SQLite's: a spool truncated to
        // less than a page is damaged; anything else is not a spool.
        SqliteErrorKind::NotADatabase if starts_like_sqlite(path) => OpenError::Corrupt {
            path: path.to_owned(),
            detail: source.message().to_owned(),
        },
        SqliteErrorKind::NotADatabase => OpenError::NotASpool {
            path: path.to_owned(),
            why: "not an SQLite database".into(),
        },
        SqliteErrorKind::Corrupt => OpenError::Corrupt {
            path: path.to_owned(),
            detail: source.message().to_owned(),
        },
        _ => OpenError::Sqlite {
            path: path.to_owned(),
            source,
        },
    }
}

/// Whether the file begins with SQLite's magic string. Reads through a new
/// descriptor only before SQLite has the file open in this process (it is
/// called while opening fails), see invariant 7.
fn starts_like_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// Checks `application_id` and `user_version` of an opened file.
/// `Ok(false)`: an empty SQLite file (no marker, no objects), which a
/// read-write opening turns into a spool.
pub(crate) fn check_marker(conn: &Connection, path: &Path) -> Result<bool, OpenError> {
    let not_a_spool = |why: String| OpenError::NotASpool {
        path: path.to_owned(),
        why,
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| header_error(path, e))?;
    if app_id == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| header_error(path, e))?;
        return if objects == 0 {
            Ok(false)
        } else {
            Err(not_a_spool(format!(
                "an SQLite database with {objects} other objects"
            )))
        };
    }
    if app_id != APPLICATION_ID {
        return Err(not_a_spool(format!(
            "an SQLite database with application_id {app_id:#x}"
        )));
    }
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| header_error(path, e))?;
    if version > FORMAT_VERSION {
        return Err(OpenError::NewerFormat {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(true)
}

/// Whether a read-write opening may turn an empty file into a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// The recorder: creates the file and the schema.
    Yes,
    /// Everything else: the file must already be a spool.
    No,
}

/// Checks the file is a spool of a supported format, creating the schema in
/// an empty file. Safe when several processes open a new file at once: the
/// check and the creation run in one `BEGIN IMMEDIATE` transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, create: Create) -> Result<(), OpenError> {
    let sql_err = |e: rusqlite::Error| OpenError::Sqlite {
        path: path.to_owned(),
        source: e.into(),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| header_error(path, e))?;
    if !check_marker(&tx, path)? {
        if create == Create::No {
            return Err(OpenError::NotASpool {
                path: path.to_owned(),
                why: "an SQLite database without the spool marker".into(),
            });
        }
        tx.execute_batch(SCHEMA_V1).map_err(sql_err)?;
        tx.execute_batch(&format!(
            "PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={FORMAT_VERSION};"
        ))
        .map_err(sql_err)?;
    }
    // Additions older builds ignore keep the format's number (an older
    // recorder refuses a newer format, and recorders are upgraded last).
    add_extensions(&tx).map_err(sql_err)?;
    // Future migrations: `if version < 2 { ...; PRAGMA user_version=2 }`.
    tx.commit().map_err(sql_err)
}

//! `tracespool inspect`: counts, drops and upload status of a spool.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracespool_schema::{peek_version, NEWEST_RECORD_VERSION};
use tracespool_spool::{Counter, SpanRow, UploaderLock};

use anyhow::Context as _;

use super::common::*;
use crate::timefmt::{rfc3339_nanos, rfc3339_secs};

/// `tracespool inspect SPOOL`.
/// Spools up to this size get a full integrity check on every `inspect`.
pub const CHECK_UP_TO_BYTES: u64 = 64 << 20;

/// `tracespool inspect SPOOL`. A damaged spool is an error (exit 78 with
/// what to do); spools over [`CHECK_UP_TO_BYTES`] are checked with
/// `--check` only (it reads the whole file).
pub fn inspect(spool: &Path, as_json: bool, check: bool) -> anyhow::Result<u8> {
    let r = open_ro(spool)?;
    let checked = check || file_size(spool) <= CHECK_UP_TO_BYTES;
    if checked {
        r.quick_check().context("check the spool")?;
    }
    let totals = r.totals()?;
    let counters: HashMap<Counter, u64> = r.counters()?.into_iter().collect();
    let reasons = r.quarantine_reasons()?;
    let (oldest, newest) = r.pending_edges()?;
    let held = UploaderLock::is_held(spool).unwrap_or(false);
    let last_attempt = meta_time(&r, "last_attempt_ns")?;
    let last_success = meta_time(&r, "last_success_ns")?;
    let last_error = r.meta("last_error")?;
    let last_error_at = meta_time(&r, "last_error_ns")?;
    let edge = |row: &Option<SpanRow>| {
        row.as_ref().map(|x| {
            json!({
                "row": x.row_id,
                "name": x.name,
                "trace_id": hex(&x.trace_id),
                "start_time": rfc3339_nanos(x.start_ns.max(0) as u64),
                "record_version": peek_version(&x.record).ok(),
            })
        })
    };
    let c = |k: Counter| counters.get(&k).copied().unwrap_or(0);
    // An error is current unless a success came after it.
    let error_is_current = last_error.is_some() && last_error_at > last_success;
    let size = file_size(spool);
    let wal = file_size(&with_suffix(spool, "-wal"));
    let dictionaries = r.dictionaries()?.len();
    let v = json!({
        "path": spool.display().to_string(),
        "size_bytes": size,
        "wal_bytes": wal,
        "format_version": r.format_version()?,
        "integrity": if checked { "ok" } else { "not checked (over 64 MiB: use --check)" },
        "read_only_media": r.is_immutable(),
        "wal_not_read": r.wal_not_read(),
        "record_versions_readable": [1, NEWEST_RECORD_VERSION],
        "record_dictionaries": dictionaries,
        "pending": {"spans": totals.pending_rows, "bytes": totals.pending_bytes},
        "quarantined": {
            "spans": totals.quarantined_rows,
            "bytes": totals.quarantined_bytes,
            "reasons": reasons.iter().map(|(r, n)| json!({"reason": r, "spans": n})).collect::<Vec<_>>(),
        },
        "oldest_pending": edge(&oldest),
        "newest_pending": edge(&newest),
        "recorder_dropped": {
            "queue_full": c(Counter::RecorderQueueFull),
            "write_errors": c(Counter::RecorderWriteErrors),
            "no_room": c(Counter::RecorderNoRoom),
            "budget_oldest": c(Counter::BudgetDroppedOldest),
            "budget_newest": c(Counter::BudgetDroppedNewest),
            "max_age": c(Counter::AgeExpired),
        },
        "clock": {
            "repaired": c(Counter::ClockRepaired),
            "undatable": c(Counter::UploadUndatable),
        },
        "counters": Counter::ALL.iter().map(|k| (k.name().to_string(), json!(c(*k)))).collect::<serde_json::Map<_, _>>(),
        "upload": {
            "uploader_holds_lock": held,
            "last_attempt": last_attempt.map(rfc3339_nanos),
            "last_success": last_success.map(rfc3339_nanos),
            "last_error": last_error,
            "last_error_at": last_error_at.map(rfc3339_nanos),
            "last_error_is_current": error_is_current,
        },
    });
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(0);
    }
    writeln!(out, "spool          {}", spool.display())?;
    writeln!(out, "size           {size} bytes (+ {wal} bytes of WAL)")?;
    writeln!(
        out,
        "integrity      {}",
        if checked {
            "ok"
        } else {
            "not checked (over 64 MiB: use --check)"
        }
    )?;
    if r.wal_not_read() {
        writeln!(
            out,
            "note           read-only media: the {wal} bytes of WAL beside it are not read (the newest commits may be missing)"
        )?;
    }
    writeln!(
        out,
        "format         spool v{}, records v1..v{NEWEST_RECORD_VERSION} readable, {dictionaries} record dictionaries",
        r.format_version()?
    )?;
    writeln!(
        out,
        "pending        {} spans ({} bytes)",
        totals.pending_rows, totals.pending_bytes
    )?;
    writeln!(out, "quarantined    {} spans", totals.quarantined_rows)?;
    for (reason, n) in &reasons {
        writeln!(out, "  {n:>8}  {reason}")?;
    }
    let edge_line = |row: &Option<SpanRow>| match row {
        Some(x) => format!(
            "{}  {}  (row {})",
            rfc3339_secs(x.start_ns.max(0) as u64),
            x.name,
            x.row_id
        ),
        None => "-".into(),
    };
    writeln!(out, "oldest pending {}", edge_line(&oldest))?;
    writeln!(out, "newest pending {}", edge_line(&newest))?;
    writeln!(
        out,
        "dropped        queue full {}, write errors {} ({} for lack of room), budget {} oldest / {} newest, max age {}",
        c(Counter::RecorderQueueFull),
        c(Counter::RecorderWriteErrors),
        c(Counter::RecorderNoRoom),
        c(Counter::BudgetDroppedOldest),
        c(Counter::BudgetDroppedNewest),
        c(Counter::AgeExpired)
    )?;
    let rejected = c(Counter::RejectedByServer);
    writeln!(
        out,
        "uploaded       {} (expired {}, retries {}, possible duplicates {}, {} bytes sent{})",
        c(Counter::Uploaded),
        c(Counter::UploadExpired),
        c(Counter::UploadRetries),
        c(Counter::UploadPossibleDuplicates),
        c(Counter::UploadBytes),
        if rejected > 0 {
            format!("; {rejected} of them rejected by the server without a name")
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "clock          {} spans sent at repaired times, {} undatable past 14 days (recorded before the clock was set)",
        c(Counter::ClockRepaired),
        c(Counter::UploadUndatable)
    )?;
    let t = |x: Option<u64>| x.map(rfc3339_secs).unwrap_or_else(|| "never".into());
    writeln!(
        out,
        "uploader       {}",
        if held {
            "running (holds the lock)"
        } else {
            "not running"
        }
    )?;
    writeln!(out, "last attempt   {}", t(last_attempt))?;
    // In the order they happened: the newest last.
    let success_line = format!("last success   {}", t(last_success));
    match last_error {
        Some(e) if error_is_current => {
            writeln!(out, "{success_line}")?;
            writeln!(out, "last error     {} at {}", e, t(last_error_at))?;
        }
        Some(e) => {
            writeln!(
                out,
                "last error     {} at {} (before the last success)",
                e,
                t(last_error_at)
            )?;
            writeln!(out, "{success_line}")?;
        }
        None => writeln!(out, "{success_line}")?,
    }
    Ok(0)
}

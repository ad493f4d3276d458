//! Operator commands: `inspect`, `spans`, `trace`, `export`, `requeue`,
//! `purge`, `doctor`. Reading opens the spool read-only (WAL readers never
//! block writers); only `requeue` and `purge` change it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use tracespool_schema::{
    decode_record, peek_version, AttributeValue, SpanId, TimeEventKind, TraceId, RECORD_VERSION,
};
use tracespool_spool::{
    lock_path, now_ns, Counter, RowFilter, SpanRow, SpanState, SpoolOptions, SpoolReader,
    UploaderLock,
};

use crate::convert::to_cloud_trace;
use crate::timefmt::{rfc3339_nanos, rfc3339_secs};
use crate::ConfigError;

fn open_ro(spool: &Path) -> anyhow::Result<SpoolReader> {
    SpoolReader::open_read_only(spool).with_context(|| format!("open spool {}", spool.display()))
}

fn open_rw(spool: &Path) -> anyhow::Result<SpoolReader> {
    // Check it is a spool before opening read-write (which would create one).
    open_ro(spool)?;
    SpoolReader::open(spool, &SpoolOptions::default())
        .with_context(|| format!("open spool {}", spool.display()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn duration_text(ns: i64) -> String {
    let ns = ns.max(0) as f64;
    if ns >= 1e9 {
        format!("{:.3}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3}ms", ns / 1e6)
    } else {
        format!("{:.1}us", ns / 1e3)
    }
}

fn meta_time(r: &SpoolReader, key: &str) -> anyhow::Result<Option<u64>> {
    Ok(r.meta(key)?.and_then(|v| v.parse().ok()))
}

/// Calls `f` for each row matching `filter`, stopping at the first error
/// (a closed pipe, say) and returning it.
fn stream_rows(
    r: &SpoolReader,
    filter: &RowFilter,
    limit: Option<u64>,
    mut f: impl FnMut(SpanRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut err = None;
    r.for_each_row(filter, limit, |row| match f(row) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    err.map_or(Ok(()), Err)
}

/// `tracespool inspect SPOOL`.
pub fn inspect(spool: &Path, as_json: bool) -> anyhow::Result<u8> {
    let r = open_ro(spool)?;
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
    let size = file_size(spool);
    let wal = file_size(&with_suffix(spool, "-wal"));
    let v = json!({
        "path": spool.display().to_string(),
        "size_bytes": size,
        "wal_bytes": wal,
        "format_version": r.format_version()?,
        "record_version_written_by_this_build": RECORD_VERSION,
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
            "budget_oldest": c(Counter::BudgetDroppedOldest),
            "budget_newest": c(Counter::BudgetDroppedNewest),
            "max_age": c(Counter::AgeExpired),
        },
        "counters": Counter::ALL.iter().map(|k| (k.name().to_string(), json!(c(*k)))).collect::<serde_json::Map<_, _>>(),
        "upload": {
            "uploader_holds_lock": held,
            "last_attempt": last_attempt.map(rfc3339_nanos),
            "last_success": last_success.map(rfc3339_nanos),
            "last_error": last_error,
            "last_error_at": last_error_at.map(rfc3339_nanos),
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
        "format         spool v{}, records v1..v{RECORD_VERSION} readable",
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
        "dropped        queue full {}, write errors {}, budget {} oldest / {} newest, max age {}",
        c(Counter::RecorderQueueFull),
        c(Counter::RecorderWriteErrors),
        c(Counter::BudgetDroppedOldest),
        c(Counter::BudgetDroppedNewest),
        c(Counter::AgeExpired)
    )?;
    writeln!(
        out,
        "uploaded       {} (expired {}, retries {}, possible duplicates {})",
        c(Counter::Uploaded),
        c(Counter::UploadExpired),
        c(Counter::UploadRetries),
        c(Counter::UploadPossibleDuplicates)
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
    writeln!(out, "last success   {}", t(last_success))?;
    if let Some(e) = last_error {
        writeln!(out, "last error     {} at {}", e, t(last_error_at))?;
    }
    Ok(0)
}

fn parse_state(s: &str) -> Result<SpanState, String> {
    match s {
        "pending" => Ok(SpanState::Pending),
        "quarantined" => Ok(SpanState::Quarantined),
        _ => Err(format!("expected pending or quarantined, got {s:?}")),
    }
}

/// A time: RFC 3339 (`2026-11-24T10:00:00Z`) or a duration ago (`15m`).
fn parse_since(s: &str) -> Result<u64, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ns().saturating_sub(d.as_nanos() as u64));
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{s:?}: expected RFC 3339 time or a duration like 15m ({e})"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| e.to_string())
        })
}

/// Arguments of `tracespool spans`.
#[derive(clap::Args, Debug)]
pub struct SpansArgs {
    /// The spool file.
    spool: PathBuf,
    /// Only this trace (32 hex digits).
    #[arg(long)]
    trace: Option<TraceId>,
    /// Only names matching this glob (`*` any text, `?` one character).
    #[arg(long)]
    name: Option<String>,
    /// Only this state.
    #[arg(long, value_parser = parse_state)]
    state: Option<SpanState>,
    /// Only spans started since: RFC 3339 time or a duration ago (`15m`).
    #[arg(long, value_parser = parse_since)]
    since: Option<u64>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: u64,
    /// JSON lines with every field.
    #[arg(long)]
    json: bool,
}

fn attr_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::String(s) => json!(s),
        AttributeValue::Int(i) => json!(i),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Float(f) => json!(f),
    }
}

fn attrs_json(a: &[tracespool_schema::Attribute]) -> Value {
    Value::Object(
        a.iter()
            .map(|a| (a.key.to_string(), attr_json(&a.value)))
            .collect(),
    )
}

/// Our JSON for a row: every field of the span, or the corruption.
pub fn row_json(row: &SpanRow) -> Value {
    let mut v = json!({
        "row": row.row_id,
        "state": row.state.as_str(),
        "trace_id": hex(&row.trace_id),
        "span_id": hex(&row.span_id),
        "parent_span_id": row.parent_span_id.as_deref().map(hex),
        "name": row.name,
        "start_time": rfc3339_nanos(row.start_ns.max(0) as u64),
        "end_time": rfc3339_nanos(row.end_ns.max(0) as u64),
        "duration_ns": row.end_ns - row.start_ns,
    });
    if let Some(r) = &row.reason {
        v["quarantine_reason"] = json!(r);
    }
    match decode_record(&row.record) {
        Err(e) => {
            v["corrupt"] = json!(e.to_string());
        }
        Ok(rec) => {
            let s = &rec.span;
            v["record_version"] = json!(rec.version);
            v["parent_is_remote"] = json!(s.parent_is_remote);
            v["kind"] = json!(format!("{:?}", s.kind));
            v["attributes"] = attrs_json(&s.attributes);
            v["events"] = Value::Array(
                s.events
                    .iter()
                    .map(|e| match &e.kind {
                        TimeEventKind::Annotation { description, attributes } => json!({
                            "time": rfc3339_nanos(e.time_ns), "annotation": description,
                            "attributes": attrs_json(attributes)}),
                        TimeEventKind::Message { kind, id, uncompressed_size, compressed_size } => json!({
                            "time": rfc3339_nanos(e.time_ns), "message": format!("{kind:?}"), "id": id,
                            "uncompressed_size": uncompressed_size, "compressed_size": compressed_size}),
                    })
                    .collect(),
            );
            v["links"] = Value::Array(
                s.links
                    .iter()
                    .map(|l| {
                        json!({"trace_id": l.trace_id.to_string(), "span_id": l.span_id.to_string(),
                        "kind": format!("{:?}", l.kind), "attributes": attrs_json(&l.attributes)})
                    })
                    .collect(),
            );
            v["status"] =
                json!({"code": format!("{:?}", s.status.code), "message": s.status.message});
            v["dropped"] = json!({"attributes": s.dropped.attributes, "annotations": s.dropped.annotations,
                "message_events": s.dropped.message_events, "links": s.dropped.links});
            v["resource"] = attrs_json(&rec.resource.attributes);
        }
    }
    v
}

/// `tracespool spans`.
pub fn spans(a: SpansArgs) -> anyhow::Result<u8> {
    let r = open_ro(&a.spool)?;
    let filter = RowFilter {
        trace_id: a.trace.map(|t| t.0),
        name_glob: a.name.clone(),
        state: a.state,
        since_ns: a.since,
        ..RowFilter::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json {
        writeln!(
            out,
            "{:>8}  {:<11}  {:<32}  {:<16}  {:<20}  {:>12}  name",
            "row", "state", "trace_id", "span_id", "start", "duration"
        )?;
    }
    stream_rows(&r, &filter, Some(a.limit), |row| {
        if a.json {
            serde_json::to_writer(&mut out, &row_json(&row))
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"))
        } else {
            let corrupt = decode_record(&row.record).err();
            writeln!(
                out,
                "{:>8}  {:<11}  {:<32}  {:<16}  {:<20}  {:>12}  {}{}",
                row.row_id,
                row.state.as_str(),
                hex(&row.trace_id),
                hex(&row.span_id),
                rfc3339_secs(row.start_ns.max(0) as u64),
                duration_text(row.end_ns - row.start_ns),
                row.name,
                corrupt
                    .map(|e| format!("  [CORRUPT: {e}]"))
                    .unwrap_or_default()
            )
        }
        .context("write to stdout")
    })?;
    out.flush().context("write to stdout")?;
    Ok(0)
}

/// Arguments of `tracespool trace`.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// The spool file.
    spool: PathBuf,
    /// The trace id (32 hex digits).
    trace_id: TraceId,
    /// Show each span's attributes.
    #[arg(long)]
    attributes: bool,
    /// Show each span's events.
    #[arg(long)]
    events: bool,
    /// JSON: the spans in tree order, each with its depth.
    #[arg(long)]
    json: bool,
}

/// `tracespool trace`.
pub fn trace(a: TraceArgs) -> anyhow::Result<u8> {
    let r = open_ro(&a.spool)?;
    let mut rows = Vec::new();
    let filter = RowFilter {
        trace_id: Some(a.trace_id.0),
        oldest_first: true,
        ..RowFilter::default()
    };
    r.for_each_row(&filter, None, |row| {
        rows.push(row);
        true
    })?;
    if rows.is_empty() {
        return Err(ConfigError(format!(
            "trace {} is not in {}",
            a.trace_id,
            a.spool.display()
        ))
        .into());
    }
    rows.sort_by_key(|r| (r.start_ns, r.row_id));
    let ids: HashMap<Vec<u8>, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.span_id.clone(), i))
        .collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let parent = row
            .parent_span_id
            .as_ref()
            .and_then(|p| ids.get(p).copied())
            .filter(|p| *p != i);
        children.entry(parent).or_default().push(i);
    }
    // Depth-first from the roots (spans whose parent is absent or elsewhere).
    let mut order = Vec::new();
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|&i| (i, 0))
        .collect();
    let mut seen = vec![false; rows.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        for &c in children.get(&Some(i)).into_iter().flatten().rev() {
            stack.push((c, depth + 1));
        }
    }
    // Cycles (corrupt parents) still get shown.
    for (i, shown) in seen.iter().enumerate() {
        if !shown {
            order.push((i, 0));
        }
    }
    let t0 = rows.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let t1 = rows
        .iter()
        .map(|r| r.end_ns)
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        for (i, depth) in &order {
            let mut v = row_json(&rows[*i]);
            v["depth"] = json!(depth);
            v["offset_ns"] = json!(rows[*i].start_ns - t0);
            serde_json::to_writer(&mut out, &v)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(0);
    }
    const BAR: i64 = 40;
    writeln!(
        out,
        "trace {}  {} spans  {}",
        a.trace_id,
        rows.len(),
        duration_text(t1 - t0)
    )?;
    for (i, depth) in &order {
        let row = &rows[*i];
        let from = ((row.start_ns - t0) * BAR / (t1 - t0)).clamp(0, BAR - 1);
        let to = ((row.end_ns - t0) * BAR / (t1 - t0)).clamp(from + 1, BAR);
        let bar: String = (0..BAR)
            .map(|x| if x >= from && x < to { '#' } else { '.' })
            .collect();
        let rec = decode_record(&row.record);
        writeln!(
            out,
            "{:>10} {:>10} |{bar}| {}{}{}{}",
            format!("+{}", duration_text(row.start_ns - t0)),
            duration_text(row.end_ns - row.start_ns),
            "  ".repeat(*depth),
            row.name,
            if row.state == SpanState::Quarantined {
                "  [quarantined]"
            } else {
                ""
            },
            match &rec {
                Err(e) => format!("  [CORRUPT row {}: {e}]", row.row_id),
                Ok(_) => String::new(),
            }
        )?;
        let pad = format!("{:>10} {:>10}  {:40}  {}", "", "", "", "  ".repeat(*depth));
        if let Ok(rec) = &rec {
            if a.attributes {
                for at in &rec.span.attributes {
                    writeln!(out, "{pad}  {} = {}", at.key, attr_json(&at.value))?;
                }
            }
            if a.events {
                for e in &rec.span.events {
                    let at = duration_text(e.time_ns as i64 - row.start_ns);
                    match &e.kind {
                        TimeEventKind::Annotation { description, .. } => {
                            writeln!(out, "{pad}  @{at} {description}")?
                        }
                        TimeEventKind::Message {
                            kind,
                            id,
                            uncompressed_size,
                            ..
                        } => writeln!(
                            out,
                            "{pad}  @{at} message {kind:?} id={id} size={uncompressed_size}"
                        )?,
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// Export formats.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per span (our model, every field).
    Jsonl,
    /// One Cloud Trace `traces:batchWrite` request body per line, exactly as
    /// the uploader would send it (1000 spans per body).
    Cloudtrace,
}

/// Arguments of `tracespool export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The spool file.
    spool: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
    /// Only this state.
    #[arg(long, value_parser = parse_state)]
    state: Option<SpanState>,
    /// Project for `--format cloudtrace` [default: $GOOGLE_CLOUD_PROJECT].
    #[arg(long)]
    project: Option<String>,
}

/// `tracespool export`.
pub fn export(a: ExportArgs) -> anyhow::Result<u8> {
    let r = open_ro(&a.spool)?;
    let project = match a.format {
        ExportFormat::Cloudtrace => Some(
            a.project
                .clone()
                .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
                .ok_or_else(|| {
                    ConfigError(
                        "--format cloudtrace needs --project or GOOGLE_CLOUD_PROJECT".into(),
                    )
                })?,
        ),
        ExportFormat::Jsonl => None,
    };
    let filter = RowFilter {
        state: a.state,
        oldest_first: true,
        ..RowFilter::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<crate::convert::CtSpan> = Vec::new();
    let mut corrupt = 0u64;
    let write_batch =
        |batch: &mut Vec<crate::convert::CtSpan>, out: &mut dyn Write| -> anyhow::Result<()> {
            if !batch.is_empty() {
                serde_json::to_writer(&mut *out, &crate::convert::BatchWrite { spans: batch })?;
                out.write_all(b"\n")?;
                batch.clear();
            }
            Ok(())
        };
    stream_rows(&r, &filter, None, |row| {
        match &project {
            None => {
                serde_json::to_writer(&mut out, &row_json(&row))?;
                out.write_all(b"\n")?;
            }
            Some(p) => match decode_record(&row.record) {
                Ok(rec) => {
                    batch.push(to_cloud_trace(p, &rec));
                    if batch.len() == 1000 {
                        write_batch(&mut batch, &mut out)?;
                    }
                }
                Err(_) => corrupt += 1,
            },
        }
        Ok(())
    })
    .context("write the export")?;
    write_batch(&mut batch, &mut out)?;
    out.flush().context("write the export")?;
    if corrupt > 0 {
        eprintln!(
            "tracespool: {corrupt} corrupt rows were left out (see `tracespool spans --json`)"
        );
    }
    Ok(0)
}

/// Arguments of `tracespool requeue`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["span", "all_quarantined"])))]
pub struct RequeueArgs {
    /// The spool file.
    spool: PathBuf,
    /// A quarantined span: its row number or its span id (16 hex digits).
    #[arg(long)]
    span: Option<String>,
    /// Every quarantined span.
    #[arg(long)]
    all_quarantined: bool,
}

/// `tracespool requeue`.
pub fn requeue(a: RequeueArgs) -> anyhow::Result<u8> {
    let mut r = open_rw(&a.spool)?;
    let n = if a.all_quarantined {
        r.requeue(None)?
    } else {
        let s = a.span.unwrap_or_default();
        let ids: Vec<i64> = if let Ok(row) = s.parse::<i64>() {
            vec![row]
        } else {
            let span = SpanId::from_hex(&s).map_err(|e| {
                ConfigError(format!("--span {s:?}: not a row number or span id ({e})"))
            })?;
            let mut ids = Vec::new();
            let f = RowFilter {
                span_id: Some(span.0),
                state: Some(SpanState::Quarantined),
                ..RowFilter::default()
            };
            r.for_each_row(&f, None, |row| {
                ids.push(row.row_id);
                true
            })?;
            ids
        };
        r.requeue(Some(&ids))?
    };
    println!("requeued {n} spans");
    Ok(0)
}

/// Arguments of `tracespool purge`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["quarantined", "older_than"])))]
pub struct PurgeArgs {
    /// The spool file.
    spool: PathBuf,
    /// Delete every quarantined span.
    #[arg(long)]
    quarantined: bool,
    /// Delete every span (any state) that ended longer ago than this (`7d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Option<Duration>,
}

/// `tracespool purge`.
pub fn purge(a: PurgeArgs) -> anyhow::Result<u8> {
    let mut r = open_rw(&a.spool)?;
    let n = match a.older_than {
        Some(d) => r.purge_ended_before(now_ns().saturating_sub(d.as_nanos() as u64))?,
        None => r.purge_quarantined()?,
    };
    println!("purged {n} spans");
    Ok(0)
}

/// Arguments of `tracespool doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Also check this spool.
    #[arg(long)]
    spool: Option<PathBuf>,
    #[command(flatten)]
    cloud: crate::CloudArgs,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

/// `tracespool doctor`: exits 0 when every check passes, 1 otherwise.
pub async fn doctor(a: DoctorArgs) -> anyhow::Result<u8> {
    let mut checks = Vec::new();
    let source = a.cloud.source();
    let mut auth = crate::auth::Auth::new(source.clone());
    let token = auth.token().await;
    checks.push(Check {
        name: "credentials",
        ok: token.is_ok(),
        detail: match &token {
            Ok(_) => format!("a token for {} was obtained from {}", crate::auth::SCOPE, source.describe()),
            Err(e) => e.to_string(),
        },
        fix: token.is_err().then(|| {
            "pass --credentials KEY.json or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key \
             with roles/cloudtrace.agent; check the key's token_uri is reachable"
                .to_string()
        }),
    });
    let project = crate::resolve_project(a.cloud.project.clone(), Some(&mut auth)).await;
    checks.push(Check {
        name: "project",
        ok: project.is_ok(),
        detail: match &project {
            Ok(p) => format!("project {p}"),
            Err(e) => e.to_string(),
        },
        fix: project
            .is_err()
            .then(|| "pass --project or set GOOGLE_CLOUD_PROJECT".into()),
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let answer = client.get(&a.cloud.endpoint).send().await;
    let server_date = answer.as_ref().ok().and_then(|r| {
        r.headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    checks.push(Check {
        name: "endpoint",
        ok: answer.is_ok(),
        detail: match &answer {
            Ok(r) => format!("{} answered HTTP {}", a.cloud.endpoint, r.status().as_u16()),
            Err(e) => format!("{}: {e}", a.cloud.endpoint),
        },
        fix: answer.is_err().then(|| {
            "check the network, proxy and firewall; spans wait in the spool meanwhile".into()
        }),
    });
    let now_s = now_ns() / 1_000_000_000;
    let skew = server_date
        .as_deref()
        .and_then(|d| crate::policy::parse_retry_after(d, 0))
        .map(|server| server.as_secs() as i64 - now_s as i64);
    let plausible = now_s > 1_700_000_000;
    let clock_ok = plausible && skew.is_none_or(|s| s.abs() < 300);
    checks.push(Check {
        name: "clock",
        ok: clock_ok,
        detail: match skew {
            Some(s) => format!("local time {}, {s:+} s from the server's", rfc3339_secs(now_ns())),
            None => format!("local time {} (no server time to compare)", rfc3339_secs(now_ns())),
        },
        fix: (!clock_ok).then(|| "synchronise the clock (NTP): Cloud Trace rejects spans over 14 days old or 3 days ahead".into()),
    });
    if let Some(spool) = &a.spool {
        let ro = SpoolReader::open_read_only(spool);
        // Permission bits only: opening the file would drop SQLite's locks.
        let writable_path = |p: &Path| {
            std::fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                let uid = effective_uid();
                m.mode() & 0o200 != 0 && (uid == 0 || uid == m.uid())
            })
        };
        let dir = match spool.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let writable = ro.is_ok() && writable_path(spool) && writable_path(dir);
        checks.push(Check {
            name: "spool",
            ok: writable,
            detail: match &ro {
                Ok(r) => format!(
                    "{}: {} pending, {} quarantined; {}; uploader lock {} {}",
                    spool.display(),
                    r.totals().map(|t| t.pending_rows).unwrap_or(0),
                    r.totals().map(|t| t.quarantined_rows).unwrap_or(0),
                    if writable { "writable" } else { "NOT writable" },
                    lock_path(spool).display(),
                    if UploaderLock::is_held(spool).unwrap_or(false) { "held" } else { "free" },
                ),
                Err(e) => e.to_string(),
            },
            fix: (!writable).then(|| "the recorder's user needs write access to the spool file and its directory (for -wal and -shm)".into()),
        });
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let mut out = std::io::stdout().lock();
    if a.json {
        let v: Vec<Value> = checks
            .iter()
            .map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &json!({"ok": failed == 0, "checks": v}))?;
        writeln!(out)?;
    } else {
        for c in &checks {
            writeln!(
                out,
                "{} {:<12} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
            if let Some(f) = &c.fix {
                writeln!(out, "     {:<12} fix: {f}", "")?;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// This process's effective uid, from /proc (no unsafe code needed).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

//! `tracespool trace`: one trace as a tree.

use crate::records::RecordReader;
use std::io::Write;

use serde_json::json;
use tracespool_schema::{TimeEventKind, TraceId};
use tracespool_spool::{RowFilter, SpanState};

use super::common::*;
use super::spans::{attr_json, row_json};
use crate::cli::exit::ConfigError;

/// Arguments of `tracespool trace`.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// The spool file.
    spool: std::path::PathBuf,
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
    let mut records = RecordReader::new(&r);
    let links: Vec<(&[u8], Option<&[u8]>)> = rows
        .iter()
        .map(|r| (&r.span_id[..], r.parent_span_id.as_deref()))
        .collect();
    let order = super::tree::tree_order(&links);
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
            let mut v = row_json(&rows[*i], &mut records);
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
        let rec = records.decode(&row.record);
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

//! `tracespool export`: every row as JSON lines, or a destination's
//! requests (Cloud Trace JSON, OTLP/JSON) exactly as the uploader would
//! send them.

use crate::records::RecordReader;
use std::io::Write;

use anyhow::Context as _;
use tracespool_spool::{RowFilter, SpanState};

use super::common::*;
use super::spans::{parse_state, row_json};
use crate::cli::exit::ConfigError;
use crate::destination::requests::RequestLines;
use crate::destination::sink::{Sink, DESTINATIONS};
use crate::repair::ConvertOptions;

/// Export formats: `jsonl`, or the request bodies of a destination.
#[derive(Copy, Clone, Debug)]
pub enum ExportFormat {
    /// One JSON object per span (our model, every field).
    Spans,
    /// One request body per line, as the uploader would send it to this
    /// destination (1000 spans per request), read as JSON.
    Requests(Sink),
}

impl ExportFormat {
    fn parser() -> impl clap::builder::TypedValueParser<Value = ExportFormat> {
        use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
        let spans =
            PossibleValue::new("jsonl").help("One JSON object per span (our model, every field)");
        let requests = DESTINATIONS.iter().map(|d| {
            PossibleValue::new(d.export_format()).help(format!(
                "One {} request per line, exactly as `upload --sink {}` sends it (1000 spans per request), as JSON",
                d.display_name(),
                d.name()
            ))
        });
        PossibleValuesParser::new(std::iter::once(spans).chain(requests)).map(|name| {
            Sink::by_export_format(&name).map_or(ExportFormat::Spans, ExportFormat::Requests)
        })
    }
}

/// Arguments of `tracespool export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// Output format.
    #[arg(long, value_parser = ExportFormat::parser(), default_value = "jsonl")]
    format: ExportFormat,
    /// Only this state.
    #[arg(long, value_parser = parse_state)]
    state: Option<SpanState>,
    /// Project for `--format cloudtrace` (and `gcp.project_id` for
    /// `--format otlp-json`) [default: $GOOGLE_CLOUD_PROJECT].
    #[arg(long)]
    project: Option<String>,
    /// As `upload --resource-labels`.
    #[arg(long, value_name = "REGEX", value_parser = crate::cli::parse_key_regex)]
    resource_labels: Option<regex::Regex>,
}

/// `tracespool export`.
pub fn export(a: ExportArgs) -> anyhow::Result<u8> {
    let r = open_ro(a.spool.path())?;
    let filter = RowFilter {
        state: a.state,
        oldest_first: true,
        ..RowFilter::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sink = match a.format {
        ExportFormat::Spans => {
            let mut records = RecordReader::new(&r);
            stream_rows(&r, &filter, None, |row| {
                serde_json::to_writer(&mut out, &row_json(&row, &mut records))?;
                out.write_all(b"\n")?;
                Ok(())
            })
            .context("write the export")?;
            out.flush().context("write the export")?;
            return Ok(0);
        }
        ExportFormat::Requests(sink) => sink,
    };
    let project = a
        .project
        .clone()
        .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
        .filter(|p| !p.is_empty());
    match &project {
        Some(p) => crate::config_check::check_project_id(p)?,
        None if sink.needs_project(false) => {
            return Err(ConfigError(format!(
                "--format {} needs --project or GOOGLE_CLOUD_PROJECT",
                sink.export_format()
            ))
            .into())
        }
        None => {}
    }
    let opts = ConvertOptions {
        resource_labels: a.resource_labels.clone(),
        ..ConvertOptions::now()
    };
    let mut lines = RequestLines::new(sink, project.as_deref().unwrap_or(""), opts);
    let mut corrupt = 0u64;
    let mut records = RecordReader::new(&r);
    stream_rows(&r, &filter, None, |row| {
        match records.decode(&row.record) {
            Ok(rec) => lines.push(&rec.span, &rec.resource, &mut out)?,
            Err(_) => corrupt += 1,
        }
        Ok(())
    })
    .context("write the export")?;
    lines.flush(&mut out).context("write the export")?;
    out.flush().context("write the export")?;
    if corrupt > 0 {
        eprintln!(
            "tracespool: {corrupt} corrupt rows were left out (see `tracespool spans --json`)"
        );
    }
    Ok(0)
}

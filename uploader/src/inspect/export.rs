//! `tracespool export`: every row as JSON lines, Cloud Trace requests or
//! OTLP/JSON requests.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use tracespool_schema::decode_record;
use tracespool_spool::{RowFilter, SpanState};

use super::*;
use crate::convert::{to_cloud_trace, ConvertOptions};
use crate::ConfigError;

/// Export formats.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per span (our model, every field).
    Jsonl,
    /// One Cloud Trace `traces:batchWrite` request body per line, exactly as
    /// the uploader would send it (1000 spans per body).
    Cloudtrace,
    /// One OTLP `ExportTraceServiceRequest` per line in OTLP/JSON (ids as
    /// hex), with the content `upload --sink otlp` sends (1000 spans per
    /// request; `gcp.project_id` added when a project is given).
    OtlpJson,
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
    /// Project for `--format cloudtrace` (and `gcp.project_id` for
    /// `--format otlp-json`) [default: $GOOGLE_CLOUD_PROJECT].
    #[arg(long)]
    project: Option<String>,
    /// As `upload --resource-labels`.
    #[arg(long, value_name = "REGEX", value_parser = crate::parse_key_regex)]
    resource_labels: Option<regex::Regex>,
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
        ExportFormat::OtlpJson => {
            let p = a
                .project
                .clone()
                .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok());
            if let Some(p) = &p {
                crate::config_check::check_project_id(p)?;
            }
            let opts = ConvertOptions {
                resource_labels: None,
                ..ConvertOptions::now()
            };
            return export_otlp_json(&r, a.state, p, opts);
        }
    };
    if let Some(p) = &project {
        crate::config_check::check_project_id(p)?;
    }
    let opts = ConvertOptions {
        resource_labels: a.resource_labels.clone(),
        ..ConvertOptions::now()
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
                    batch.push(to_cloud_trace(p, &rec, &opts));
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

/// `--format otlp-json`: pieces as the uploader encodes them, framed into
/// requests of 1000 spans, written as OTLP/JSON.
fn export_otlp_json(
    r: &tracespool_spool::SpoolReader,
    state: Option<SpanState>,
    project: Option<String>,
    opts: ConvertOptions,
) -> anyhow::Result<u8> {
    use crate::otlp::body::{assemble, OtlpBatchWriter, Piece};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let filter = RowFilter {
        state,
        oldest_first: true,
        ..RowFilter::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut w = OtlpBatchWriter::new(project, opts);
    let (mut buf, mut pieces): (Vec<u8>, Vec<Piece>) = (Vec::new(), Vec::new());
    let mut corrupt = 0u64;
    w.begin();
    let flush = |w: &mut OtlpBatchWriter,
                 buf: &mut Vec<u8>,
                 pieces: &mut Vec<Piece>,
                 out: &mut dyn Write|
     -> anyhow::Result<()> {
        if !pieces.is_empty() {
            let body = assemble(&w.groups(), buf, pieces.iter());
            let req = ExportTraceServiceRequest::decode(&body[..])
                .context("read back an OTLP request")?;
            serde_json::to_writer(&mut *out, &req)?;
            out.write_all(b"\n")?;
            buf.clear();
            pieces.clear();
            w.begin();
        }
        Ok(())
    };
    stream_rows(r, &filter, None, |row| {
        match decode_record(&row.record) {
            Ok(rec) => {
                pieces.push(w.write(&mut buf, &rec.span, &rec.resource));
                if pieces.len() == 1000 {
                    flush(&mut w, &mut buf, &mut pieces, &mut out)?;
                }
            }
            Err(_) => corrupt += 1,
        }
        Ok(())
    })
    .context("write the export")?;
    flush(&mut w, &mut buf, &mut pieces, &mut out)?;
    out.flush().context("write the export")?;
    if corrupt > 0 {
        eprintln!(
            "tracespool: {corrupt} corrupt rows were left out (see `tracespool spans --json`)"
        );
    }
    Ok(0)
}

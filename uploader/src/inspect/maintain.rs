//! `tracespool requeue` and `tracespool purge`: the two commands that change a spool.

use std::time::Duration;

use tracespool_schema::SpanId;
use tracespool_spool::{now_ns, RowFilter, SpanState};

use super::common::*;
use crate::cli::exit::ConfigError;

/// Arguments of `tracespool requeue`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["span", "all_quarantined"])))]
pub struct RequeueArgs {
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// A quarantined span: its row number or its span id (16 hex digits).
    #[arg(long)]
    span: Option<String>,
    /// Every quarantined span.
    #[arg(long)]
    all_quarantined: bool,
}

/// `tracespool requeue`.
pub fn requeue(a: RequeueArgs) -> anyhow::Result<u8> {
    let mut r = open_rw(a.spool.path())?;
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
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// Delete every quarantined span.
    #[arg(long)]
    quarantined: bool,
    /// Delete every span (any state) that ended longer ago than this (`7d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Option<Duration>,
}

/// `tracespool purge`.
pub fn purge(a: PurgeArgs) -> anyhow::Result<u8> {
    let mut r = open_rw(a.spool.path())?;
    let n = match a.older_than {
        Some(d) => r.purge_ended_before(now_ns().saturating_sub(d.as_nanos() as u64))?,
        None => r.purge_quarantined()?,
    };
    println!("purged {n} spans");
    Ok(0)
}

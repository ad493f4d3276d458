//! `tracespool recover`: a damaged spool's readable spans into a fresh one.

use std::io::Write;

use anyhow::Context as _;
use serde_json::json;
use tracespool_spool::{RecoverError, SpoolOptions};

use crate::cli::exit::{Exit, EXIT_LOCKED};

/// Arguments of `tracespool recover`.
#[derive(clap::Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// `tracespool recover`: exits 0 when a fresh spool took the damaged one's
/// place (whatever was lost is reported), 69 when an uploader holds it.
pub fn recover(a: RecoverArgs) -> anyhow::Result<u8> {
    let report = match tracespool_spool::recover(a.spool.path(), &SpoolOptions::default()) {
        Ok(r) => r,
        Err(RecoverError::Locked(p)) => {
            return Err(Exit {
                code: EXIT_LOCKED,
                message: format!(
                    "{}: an uploader is working on this spool; stop it first",
                    p.display()
                ),
            }
            .into())
        }
        Err(e) => return Err(e).context("recover the spool"),
    };
    let lost = report.rows_lost.map(|n| n.to_string()).unwrap_or_else(|| {
        format!(
            "unknown (totals unreadable; {} ids unreadable)",
            report.unreadable_ids
        )
    });
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(
            &mut out,
            &json!({
                "spool": a.spool.path().display().to_string(),
                "damaged_kept_as": report.damaged_kept_as.display().to_string(),
                "pending_rows": report.pending_rows,
                "quarantined_rows": report.quarantined_rows,
                "rows_lost": report.rows_lost,
                "unreadable_ids": report.unreadable_ids,
                "counters_copied": report.counters_copied,
                "counters_lost": report.counters_lost,
                "meta_copied": report.meta_copied,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "recovered      {} pending and {} quarantined spans into {}",
            report.pending_rows,
            report.quarantined_rows,
            a.spool.path().display()
        )?;
        writeln!(
            out,
            "lost           {lost} spans (counted as lost_to_damage)"
        )?;
        writeln!(
            out,
            "counters       {} copied{}",
            report.counters_copied,
            if report.counters_lost {
                " (the counters table was unreadable)"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "damaged file   kept as {}",
            report.damaged_kept_as.display()
        )?;
    }
    Ok(0)
}

//! `tracespool`: upload a spool to Google Cloud Trace (v2, or OTLP to the
//! Telemetry API or any OpenTelemetry Collector), and inspect it.
//!
//! Exit codes: see [`cli::exit`] and `docs/operations.md`.
//!
//! # Layout
//!
//! Each module imports only modules below it (`.ci/check-module-cycles`):
//!
//! | layer | modules |
//! |---|---|
//! | commands | this file (the command table), [`upload`], [`inspect`], [`view`] (the web viewer) |
//! | fleet health | [`health`]: the spool's state as Prometheus text and OTLP metrics |
//! | the command line | [`cli`] (shared flags, exit codes, the project, logging), [`config_check`] |
//! | requests | [`http`] (client, headers), [`auth`] (OAuth tokens) |
//! | destinations | [`destination`]: the seam, one folder per destination, the registry |
//! | decisions and repairs | [`answer`], [`repair`], [`backoff`], [`pacing`], [`compression`] |
//! | formatting | [`timefmt`], [`value_text`] |
#![forbid(unsafe_code)]

mod answer;
mod auth;
mod backoff;
mod cli;
mod clock_repair;
mod compression;
mod config_check;
mod destination;
mod endpoint;
mod health;
mod http;
mod inspect;
mod own_clock;
mod pacing;
mod records;
mod repair;
mod timefmt;
mod upload;
mod value_text;
mod view;

use std::process::ExitCode;

use anyhow::Context as _;
use std::io::Write as _;

use clap::{CommandFactory as _, Parser, Subcommand};

use cli::logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "tracespool",
    version,
    about = "Upload a tracespool spool to Google Cloud Trace (v2, or OTLP to the Telemetry API \
             or any OpenTelemetry Collector), and inspect it",
    after_help = "Exit codes: 0 done, 1 unexpected error, 64 usage error, 69 another uploader holds \
                  the spool, 75 spans remain (offline or no credentials; try again later), 78 \
                  configuration error.\n\nEvery flag of `upload` can also be set by an environment \
                  variable (shown as [env: ...]); NO_COLOR turns colours off."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "TRACESPOOL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human,
          global = true)]
    log_format: LogFormat,
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay pending spans to the destination: Cloud Trace
    /// `traces:batchWrite`, or OTLP (`--sink otlp`).
    Upload(upload::command::UploadArgs),
    /// Summary of a spool: counts, states, drops, upload status.
    Inspect {
        #[command(flatten)]
        spool: cli::spool_arg::SpoolArg,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Check the whole file's integrity even when it is over 64 MiB
        /// (smaller spools are always checked).
        #[arg(long)]
        check: bool,
    },
    /// Copy every readable span of a damaged spool into a fresh spool,
    /// keep the damaged file aside, and report what was lost.
    Recover(inspect::recover::RecoverArgs),
    /// List spans, newest first.
    Spans(inspect::spans::SpansArgs),
    /// Show one trace as a tree.
    Trace(inspect::trace::TraceArgs),
    /// Export spans as JSON lines, or as a destination's request bodies.
    Export(inspect::export::ExportArgs),
    /// Put quarantined spans back to pending.
    Requeue(inspect::maintain::RequeueArgs),
    /// Delete spans: quarantined ones, or older ones.
    Purge(inspect::maintain::PurgeArgs),
    /// Check credentials, token, endpoint, project, clock and spool.
    Doctor(inspect::doctor::DoctorArgs),
    /// Serve a local web viewer of the spool (waterfalls, search,
    /// quarantine), read-only; prints its URL first.
    View(view::ViewArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell).
    Completions(cli::generated_docs::CompletionsArgs),
    /// Print the man page, or write one per command with --dir.
    Man(cli::generated_docs::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => cli::exit::EXIT_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli::logging::init(cli.log_format, cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(cli::exit::report(&e)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Upload(a) => runtime()?.block_on(upload::command::upload(a)),
        Cmd::Inspect { spool, json, check } => inspect::status::inspect(spool.path(), json, check),
        Cmd::Recover(a) => inspect::recover::recover(a),
        Cmd::Spans(a) => inspect::spans::spans(a),
        Cmd::Trace(a) => inspect::trace::trace(a),
        Cmd::Export(a) => inspect::export::export(a),
        Cmd::Requeue(a) => inspect::maintain::requeue(a),
        Cmd::Purge(a) => inspect::maintain::purge(a),
        Cmd::Doctor(a) => runtime()?.block_on(inspect::doctor::doctor(a)),
        Cmd::View(a) => runtime()?.block_on(view::server::serve(a)),
        Cmd::Completions(a) => {
            // Rendered in memory first: clap_complete panics on a failed
            // write, and a closed pipe is success (cli::exit).
            let mut text = Vec::new();
            cli::generated_docs::completions(a.shell, Cli::command(), &mut text);
            std::io::stdout().lock().write_all(&text)?;
            Ok(0)
        }
        Cmd::Man(a) => {
            let mut text = Vec::new();
            cli::generated_docs::man(Cli::command(), a.dir.as_deref(), &mut text)?;
            std::io::stdout().lock().write_all(&text)?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // clap's own checks of every subcommand (a positional order, a
        // group, a conflicting name), which otherwise fire only when that
        // subcommand runs.
        super::Cli::command().debug_assert();
    }
}

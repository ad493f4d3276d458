//! `tracespool upload`: its flags, the checks that exit 78 before any
//! traffic, the uploader lock, signals, and the run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tracespool_spool::{NetworkFs, SpoolOptions, UploaderLock};

use super::config::{Outcome, UploadConfig};
use super::run::Uploader;
use super::watch::watch_spool;
use crate::auth::Auth;
use crate::cli::cloud::CloudArgs;
use crate::cli::exit::{Exit, EXIT_LOCKED, EXIT_SPANS_REMAIN};
use crate::cli::project::resolve_project;
use crate::compression::Compression;
use crate::health::{otlp_target, HealthArgs, HealthReporter, Upstream};
use crate::own_clock::ServerClock;

/// Arguments of `tracespool upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    #[command(flatten)]
    spool: crate::cli::spool_arg::SpoolArg,
    /// Send what is pending, then exit (for cron).
    #[arg(long, env = "TRACESPOOL_ONCE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    once: bool,
    #[command(flatten)]
    cloud: CloudArgs,
    /// Spans per request.
    #[arg(long, env = "TRACESPOOL_BATCH_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=20_000))]
    batch_size: u64,
    /// Stop after this long, e.g. `90s`, `10m` [default: 60s with --once, unlimited otherwise].
    #[arg(long, env = "TRACESPOOL_MAX_DURATION", value_parser = humantime::parse_duration)]
    max_duration: Option<Duration>,
    /// Per-request timeout [default: 30s; with --sink otlp,
    /// $OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds) when unset].
    #[arg(long, env = "TRACESPOOL_REQUEST_TIMEOUT", value_parser = humantime::parse_duration)]
    request_timeout: Option<Duration>,
    /// Longest wait between retries.
    #[arg(long, env = "TRACESPOOL_MAX_BACKOFF", default_value = "5m",
          value_parser = humantime::parse_duration)]
    max_backoff: Duration,
    /// Print the exact requests (JSON lines on stdout) instead of sending
    /// them; needs no credentials and changes nothing in the spool.
    #[arg(long, env = "TRACESPOOL_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    dry_run: bool,
    /// Wait for another uploader to release the spool instead of exiting 69.
    #[arg(long, env = "TRACESPOOL_WAIT_FOR_LOCK", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    wait_for_lock: bool,
    /// Judge Google's 14-day window as of this RFC 3339 time instead of
    /// now. Hidden: the tests replay golden spools, recorded long ago, with
    /// it (a real Cloud Trace still refuses spans past its window).
    #[arg(long, hide = true, value_parser = humantime::parse_rfc3339)]
    as_of: Option<std::time::SystemTime>,
    /// Waits after failures pass on a simulated clock: they return at once
    /// and are logged as `simulated wait`. Hidden: for the tests of the
    /// 429 and backoff waits.
    #[arg(long, hide = true)]
    simulated_waits: bool,
    /// Allow a spool on a network file system (NFS, SMB, sshfs, ...) for
    /// one process of one host at a time: the spool then uses SQLite's
    /// rollback journal, not WAL (see docs/operations.md, "Edge boxes").
    #[arg(long, env = "TRACESPOOL_ALLOW_NETWORK_FS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    allow_network_fs: bool,
    /// Whose `Date` header may correct this machine's clock (for the
    /// 14-day window, and the times of spans recorded in this boot):
    /// `auto` trusts Google's endpoints, and others only while this
    /// machine's clock was never set (it reads before this build's
    /// release).
    #[arg(long, env = "TRACESPOOL_SERVER_CLOCK", value_enum, default_value_t = ServerClock::Auto)]
    server_clock: ServerClock,
    /// Cloud Trace: also send the resource attributes whose key matches
    /// this regex (besides the service and the monitored-resource labels,
    /// which are always sent), e.g. `^(service\.version|deployment\.)`.
    /// (OTLP sends every resource attribute, in the resource.)
    #[arg(long, env = "TRACESPOOL_RESOURCE_LABELS", value_name = "REGEX",
          value_parser = crate::cli::parse_key_regex)]
    resource_labels: Option<regex::Regex>,
    /// Request body compression [default: gzip for otlp (or
    /// $OTEL_EXPORTER_OTLP_COMPRESSION), none for cloudtrace].
    #[arg(long, env = "TRACESPOOL_COMPRESSION", value_enum)]
    compression: Option<Compression>,
    /// Pace uploads to this rate, e.g. `64KiB/s`, `1MB/s`, `512kbit/s`,
    /// so that a backlog after an outage does not saturate a metered or
    /// shared link [default: unlimited].
    #[arg(long, env = "TRACESPOOL_MAX_BANDWIDTH", value_name = "RATE",
          value_parser = crate::pacing::parse_rate)]
    max_bandwidth: Option<u64>,
    #[command(flatten)]
    health: HealthArgs,
}

/// `tracespool upload`: 0 when done, 75 when spans remain, 69 when
/// another uploader holds the spool; configuration errors exit 78 before
/// any traffic.
pub async fn upload(a: UploadArgs) -> anyhow::Result<u8> {
    tracespool_spool::check_spool_path(a.spool.path()).context("open the spool")?;
    // Mistakes exit 78 now, before any traffic, even with nothing pending.
    let dest = a.cloud.resolve()?;
    let endpoint = dest.endpoint.clone();
    crate::config_check::check_endpoint(&endpoint)?;
    if let Some(url) = &dest.traces_url {
        crate::config_check::check_endpoint(url)?;
    }
    let request_timeout = a
        .request_timeout
        .or(dest.otel.timeout)
        .unwrap_or(Duration::from_secs(30));
    if !a.dry_run && !a.cloud.no_auth {
        crate::config_check::check_credentials(a.cloud.credentials.as_deref())?;
    }
    let token_client = crate::http::http_client(request_timeout, dest.ca_cert.as_deref())?;
    let mut auth = Auth::new(a.cloud.source(), token_client);
    let project = if !a.cloud.needs_project() {
        // A collector needs no project; with one, spans carry it.
        resolve_project(a.cloud.project.clone(), None)
            .await
            .unwrap_or_default()
    } else if a.dry_run {
        resolve_project(a.cloud.project.clone(), None).await?
    } else {
        // A missing credential is not a configuration error when the project
        // is known: it may appear later (exit 75 then).
        match resolve_project(a.cloud.project.clone(), None).await {
            Ok(p) => p,
            Err(_) => resolve_project(None, Some(&mut auth)).await?,
        }
    };
    if !project.is_empty() {
        crate::config_check::check_project_id(&project)?;
    }
    let compression = a
        .compression
        .or(dest.otel.compression)
        .unwrap_or_else(|| a.cloud.sink.default_compression());
    let metrics_target = otlp_target(
        a.health.otlp_metrics,
        &Upstream {
            sink: a.cloud.sink,
            endpoint: &endpoint,
            traces_url: dest.traces_url.as_deref().unwrap_or(&endpoint),
            headers: &dest.headers,
            metrics_url: non_empty_var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            metrics_headers: non_empty_var("OTEL_EXPORTER_OTLP_METRICS_HEADERS"),
        },
    )?;
    let reporter = if a.dry_run {
        None
    } else {
        let otlp = match metrics_target {
            Some(t) => Some((
                t,
                crate::http::http_client(request_timeout, dest.ca_cert.as_deref())?,
                compression,
            )),
            None => None,
        };
        HealthReporter::new(a.spool.path(), a.health.metrics_textfile.clone(), otlp)
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("stopping: finishing the request in flight");
        let _ = shutdown_tx.send(true);
    });

    let _lock = if a.dry_run {
        None
    } else {
        match UploaderLock::try_acquire(a.spool.path()).context("take the uploader lock")? {
            Some(l) => Some(l),
            None if a.wait_for_lock => {
                tracing::info!(spool = %a.spool.path().display(), "another uploader holds the spool; waiting");
                let path = a.spool.path().to_owned();
                let mut sd = shutdown_rx.clone();
                tokio::select! {
                    l = tokio::task::spawn_blocking(move || UploaderLock::acquire(&path)) => {
                        Some(l.context("wait for the uploader lock")??)
                    }
                    _ = sd.changed() => return Ok(0),
                }
            }
            None => {
                return Err(Exit {
                    code: EXIT_LOCKED,
                    message: format!(
                        "{}: another uploader is working on this spool (lock {}); exiting",
                        a.spool.path().display(),
                        tracespool_spool::lock_path(a.spool.path()).display()
                    ),
                }
                .into())
            }
        }
    };

    let wake = Arc::new(Notify::new());
    let _watcher = if a.once || a.dry_run {
        None
    } else {
        watch_spool(a.spool.path(), wake.clone())
    };
    let cfg = UploadConfig {
        spool: a.spool.path().to_owned(),
        once: a.once,
        project,
        sink: a.cloud.sink,
        endpoint,
        traces_url: dest.traces_url.clone(),
        compression,
        headers: dest.headers.clone(),
        ca_cert: dest.ca_cert.clone(),
        batch_size: a.batch_size as usize,
        max_duration: a.max_duration.or(a.once.then_some(Duration::from_secs(60))),
        dry_run: a.dry_run,
        request_timeout,
        max_backoff: a.max_backoff,
        resource_labels: a.resource_labels.clone(),
        max_bandwidth: a.max_bandwidth,
        expiry_as_of_ns: a.as_of.map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        }),
        simulated_waits: a.simulated_waits,
        server_clock: a.server_clock,
        spool_options: SpoolOptions::default().with_network_fs(if a.allow_network_fs {
            NetworkFs::SingleHost
        } else {
            NetworkFs::Refuse
        }),
    };
    tracing::info!(spool = %cfg.spool.display(), sink = cfg.sink.name(), project = %cfg.project,
        endpoint = %cfg.endpoint, compression = ?cfg.compression,
        credentials = %auth.source().describe(), once = cfg.once, "uploading");
    let mut up = Uploader::new(cfg, auth, shutdown_rx, wake)?;
    // Fleet health: at start, every interval, and once more at the end.
    let (stop_reports, reports_stop) = watch::channel(false);
    let reports = reporter.map(|r| tokio::spawn(r.run(a.health.metrics_interval, reports_stop)));
    let outcome = up.run().await;
    let _ = stop_reports.send(true);
    if let Some(task) = reports {
        if let Ok(mut r) = task.await {
            r.report().await;
        }
    }
    let outcome = outcome?;
    let s = up.stats();
    tracing::info!(
        uploaded = s.uploaded,
        quarantined = s.quarantined,
        expired = s.expired,
        undatable = s.undatable,
        clock_repaired = s.clock_repaired,
        retries = s.retries,
        possible_duplicates = s.possible_duplicates,
        requests = s.requests,
        bytes_sent = s.bytes_sent,
        rejected_by_server = s.rejected_by_server,
        "upload finished"
    );
    Ok(match outcome {
        Outcome::Delivered | Outcome::Interrupted => 0,
        Outcome::SpansRemain { pending, reason } => {
            tracing::warn!(pending, %reason, "spans remain in the spool; try again later");
            EXIT_SPANS_REMAIN
        }
    })
}

/// An environment variable, when set and not empty.
fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

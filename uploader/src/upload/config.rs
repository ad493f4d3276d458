//! What `upload` was asked to do, how a run ended, and what it did.

use std::path::PathBuf;
use std::time::Duration;

use crate::compression::Compression;
use crate::destination::sink::Sink;

/// What `upload` was asked to do.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// The spool file.
    pub spool: PathBuf,
    /// Send what is pending, then exit.
    pub once: bool,
    /// The Cloud project (empty: none, for an OTLP collector without
    /// credentials).
    pub project: String,
    /// Where spans go.
    pub sink: Sink,
    /// The destination's root endpoint, e.g. `https://cloudtrace.googleapis.com`.
    pub endpoint: String,
    /// The upload URL when given whole (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`);
    /// otherwise the destination's URL under `endpoint`.
    pub traces_url: Option<String>,
    /// Request body compression.
    pub compression: Compression,
    /// Extra request headers (`--header`). Never logged.
    pub headers: Vec<(String, String)>,
    /// A CA certificate (PEM) trusted besides the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Spans per request.
    pub batch_size: usize,
    /// Stop after this long (default for `--once`: 60 s; none otherwise).
    pub max_duration: Option<Duration>,
    /// Print the requests instead of sending them.
    pub dry_run: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Longest backoff between retries.
    pub max_backoff: Duration,
    /// The time the 14-day window is judged at (`None`: now).
    pub expiry_as_of_ns: Option<u64>,
    /// Resource attributes sent besides the service and the monitored
    /// resource (`--resource-labels`).
    pub resource_labels: Option<regex::Regex>,
    /// The bandwidth budget in bytes per second (`--max-bandwidth`).
    pub max_bandwidth: Option<u64>,
    /// Waits after failures pass on a simulated clock (tests).
    pub simulated_waits: bool,
    /// Whose `Date` header is trusted over this machine's clock.
    pub server_clock: crate::own_clock::ServerClock,
    /// How every connection of the run opens the spool.
    pub spool_options: tracespool_spool::SpoolOptions,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything pending was delivered (or quarantined/expired).
    Delivered,
    /// Spans remain because the network, the credentials or the server were
    /// not available (or `--max-duration` ran out).
    SpansRemain {
        /// Pending spans left.
        pending: u64,
        /// The last reason.
        reason: String,
    },
    /// Stopped by SIGTERM/SIGINT.
    Interrupted,
}

/// Counters of this run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    /// Spans delivered.
    pub uploaded: u64,
    /// Spans quarantined.
    pub quarantined: u64,
    /// Spans past the 14-day window.
    pub expired: u64,
    /// Spans past the 14-day window by times known to be wrong.
    pub undatable: u64,
    /// Spans delivered at repaired times.
    pub clock_repaired: u64,
    /// Requests retried.
    pub retries: u64,
    /// Spans resent after an ambiguous failure.
    pub possible_duplicates: u64,
    /// Requests sent.
    pub requests: u64,
    /// Request body bytes sent (every attempt).
    pub bytes_sent: u64,
    /// Spans an OTLP server rejected without naming them.
    pub rejected_by_server: u64,
}

//! Fleet health: the uploader reports its spool's state, so that an
//! operator of many boxes sees which one falls behind without logging in
//! to it.
//!
//! # What, where, when
//!
//! * **What:** one reading of the spool ([`snapshot::Health`]: pending
//!   spans and bytes, quarantined spans, the age of the oldest pending
//!   span, the last attempt and success, whether uploads are failing) and
//!   every counter the spool keeps (uploaded, expired, undatable,
//!   quarantined, bytes sent, retries, possible duplicates, the recorders'
//!   drops by cause). The names are in [`metrics`].
//! * **Where:** `--metrics-textfile FILE` writes Prometheus text for
//!   node_exporter's textfile collector (with any sink); with
//!   `--sink otlp` the same numbers go as OTLP metrics to the receiver's
//!   `/v1/metrics` (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` overrides the
//!   URL), on by default (`--otlp-metrics auto`). Google's Telemetry API
//!   takes metrics under another role and scope than trace.append, so
//!   `auto` never sends them to `*.googleapis.com` and `on` refuses to
//!   (exit 78): send them to a collector.
//! * **When:** at start, every `--metrics-interval` (60 s), and once more
//!   when the run ends (so a `--once` run from cron leaves its final state).
//!
//! # Invariants
//!
//! * Reporting never changes what happens to spans: it reads the spool on
//!   its own read-only connection, and a failure (a full disk for the
//!   text file, a receiver that is down) is logged, once as a warning,
//!   then at debug level until it works again; it never changes the exit
//!   code.
//! * Metrics requests never carry the upload's OAuth token. They carry the
//!   upload's headers only when they go to the same origin as the spans
//!   (scheme, host and port), and `OTEL_EXPORTER_OTLP_METRICS_HEADERS`.
//! * A dry run reports nothing.

pub(crate) mod metrics;
pub(crate) mod otlp;
pub(crate) mod prometheus;
pub(crate) mod snapshot;

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message as _;
use tokio::sync::watch;

use crate::cli::exit::ConfigError;
use crate::cli::headers::parse_header_list;
use crate::cli::otel_env::merge_headers;
use crate::compression::Compression;
use crate::destination::sink::Sink;

/// Whether to send OTLP metrics.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpMetrics {
    /// With `--sink otlp`, to a receiver that is not Google's.
    #[default]
    Auto,
    /// Always (to `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or the endpoint's
    /// `/v1/metrics`); never to Google's APIs.
    On,
    /// Never.
    Off,
}

/// The flags of fleet health reporting.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    /// Also write the spool's health as Prometheus text to FILE (for
    /// node_exporter's textfile collector), replaced whole at every report.
    #[arg(long, env = "TRACESPOOL_METRICS_TEXTFILE", value_name = "FILE")]
    pub metrics_textfile: Option<PathBuf>,
    /// Send the spool's health as OTLP metrics to `/v1/metrics`: `auto`
    /// with --sink otlp to a receiver that is not Google's.
    #[arg(long, env = "TRACESPOOL_OTLP_METRICS", value_enum, default_value_t = OtlpMetrics::Auto)]
    pub otlp_metrics: OtlpMetrics,
    /// How often to report (and once more at the end).
    #[arg(long, env = "TRACESPOOL_METRICS_INTERVAL", default_value = "60s",
          value_parser = humantime::parse_duration)]
    pub metrics_interval: Duration,
}

/// Where OTLP metrics go, and with which headers.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsTarget {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// `scheme://host:port` of `url`.
fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

/// Where the spans go, and what the environment says of metrics.
pub struct Upstream<'a> {
    pub sink: Sink,
    /// The root endpoint of the upload.
    pub endpoint: &'a str,
    /// The URL spans are sent to.
    pub traces_url: &'a str,
    /// The upload's headers.
    pub headers: &'a [(String, String)],
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
    pub metrics_url: Option<String>,
    /// `OTEL_EXPORTER_OTLP_METRICS_HEADERS`.
    pub metrics_headers: Option<String>,
}

/// Whether and where OTLP metrics go (a pure decision).
pub fn otlp_target(
    choice: OtlpMetrics,
    up: &Upstream<'_>,
) -> Result<Option<MetricsTarget>, ConfigError> {
    if choice == OtlpMetrics::Off {
        return Ok(None);
    }
    let url = up
        .metrics_url
        .clone()
        .unwrap_or_else(|| format!("{}/v1/metrics", up.endpoint.trim_end_matches('/')));
    let google = crate::endpoint::is_google(&url);
    match choice {
        OtlpMetrics::Auto if !up.sink.reads_otel_environment() || google => return Ok(None),
        OtlpMetrics::On if google => {
            return Err(ConfigError(format!(
                "--otlp-metrics on: {url} is Google's; its Telemetry API takes metrics with \
                 another role and scope than trace.append. Send them to a collector \
                 (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)"
            )))
        }
        _ => {}
    }
    crate::config_check::check_endpoint(&url)?;
    let mut headers = if origin(&url).is_some() && origin(&url) == origin(up.traces_url) {
        up.headers.to_vec()
    } else {
        Vec::new()
    };
    if let Some(v) = &up.metrics_headers {
        let list = parse_header_list(v)
            .map_err(|e| ConfigError(format!("OTEL_EXPORTER_OTLP_METRICS_HEADERS: {e}")))?;
        merge_headers(&mut headers, list);
    }
    Ok(Some(MetricsTarget { url, headers }))
}

/// This machine's name, for the metrics' resource.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A failure logged once as a warning, then at debug level until it
/// works again.
#[derive(Default)]
struct Quiet {
    failing: bool,
}

impl Quiet {
    fn failed(&mut self, what: &str, why: &str) {
        if self.failing {
            tracing::debug!(%why, "{what} failed again");
        } else {
            tracing::warn!(%why, "{what} failed (spans are not affected; retried at the next report)");
        }
        self.failing = true;
    }

    fn worked(&mut self, what: &str) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("{what} works again");
        }
    }
}

/// Reports one spool's health where it was asked to.
pub struct HealthReporter {
    spool: PathBuf,
    textfile: Option<PathBuf>,
    otlp: Option<(MetricsTarget, reqwest::Client, Compression)>,
    resource: otlp::Reporter,
    start_ns: u64,
    textfile_quiet: Quiet,
    otlp_quiet: Quiet,
}

impl HealthReporter {
    /// A reporter, or `None` when nothing is to be reported.
    pub fn new(
        spool: &Path,
        textfile: Option<PathBuf>,
        otlp: Option<(MetricsTarget, reqwest::Client, Compression)>,
    ) -> Option<Self> {
        if textfile.is_none() && otlp.is_none() {
            return None;
        }
        Some(HealthReporter {
            spool: spool.to_owned(),
            textfile,
            otlp,
            resource: otlp::Reporter {
                host: host_name(),
                spool: spool.display().to_string(),
            },
            start_ns: tracespool_spool::now_ns(),
            textfile_quiet: Quiet::default(),
            otlp_quiet: Quiet::default(),
        })
    }

    /// Reads the spool and reports it.
    pub async fn report(&mut self) {
        let spool = self.spool.clone();
        let now = tracespool_spool::now_ns();
        let read = tokio::task::spawn_blocking(move || snapshot::Health::read(&spool, now)).await;
        let health = match read {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                self.textfile_quiet
                    .failed("reading the spool's health", &format!("{e:#}"));
                return;
            }
            Err(_) => return,
        };
        let metrics = metrics::metrics(&health);
        if let Some(path) = &self.textfile {
            let text = prometheus::render(&metrics, &self.spool);
            match prometheus::write_atomically(path, &text) {
                Ok(()) => self.textfile_quiet.worked("writing the metrics text file"),
                Err(e) => self.textfile_quiet.failed(
                    "writing the metrics text file",
                    &format!("{}: {e}", path.display()),
                ),
            }
        }
        if let Some((target, client, compression)) = &self.otlp {
            let body = otlp::request(&metrics, &self.resource, self.start_ns, now).encode_to_vec();
            match post(client, target, *compression, body).await {
                Ok(()) => self.otlp_quiet.worked("sending OTLP metrics"),
                Err(why) => self.otlp_quiet.failed("sending OTLP metrics", &why),
            }
        }
    }

    /// Reports now, then every `interval` until `stop` turns true; returns
    /// itself for a last report.
    pub async fn run(mut self, interval: Duration, mut stop: watch::Receiver<bool>) -> Self {
        loop {
            self.report().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return self,
            }
        }
    }
}

/// One metrics request; the error names the status and the receiver's
/// words, without a header value.
async fn post(
    client: &reqwest::Client,
    target: &MetricsTarget,
    compression: Compression,
    body: Vec<u8>,
) -> Result<(), String> {
    let secrets: Vec<&str> = target.headers.iter().map(|(_, v)| v.as_str()).collect();
    let mut req = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
    if compression == Compression::Gzip {
        req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
    }
    for (k, v) in &target.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .body(compression.apply(body))
        .send()
        .await
        .map_err(|e| crate::answer::redact(&crate::http::error_chain(&e), &secrets))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| crate::answer::body_text(&b));
    Err(crate::answer::redact(
        &format!(
            "{}: HTTP {status}{}",
            target.url,
            text.map(|t| format!(": {t}")).unwrap_or_default()
        ),
        &secrets,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up<'a>(sink: &str, endpoint: &'a str, headers: &'a [(String, String)]) -> Upstream<'a> {
        Upstream {
            sink: Sink::named(sink).unwrap(),
            endpoint,
            traces_url: endpoint,
            headers,
            metrics_url: None,
            metrics_headers: None,
        }
    }

    #[test]
    fn auto_sends_to_a_collector_and_never_to_google() {
        let h = vec![("x-fleet-key".to_owned(), "k".to_owned())];
        let t = otlp_target(OtlpMetrics::Auto, &up("otlp", "https://collector:4318", &h))
            .unwrap()
            .unwrap();
        assert_eq!(t.url, "https://collector:4318/v1/metrics");
        assert_eq!(t.headers, h, "same origin: the upload's headers");
        let google = up("otlp", "https://telemetry.googleapis.com", &h);
        assert_eq!(otlp_target(OtlpMetrics::Auto, &google).unwrap(), None);
        assert!(otlp_target(OtlpMetrics::On, &google).is_err());
        let cloudtrace = up("cloudtrace", "http://127.0.0.1:9", &h);
        assert_eq!(otlp_target(OtlpMetrics::Auto, &cloudtrace).unwrap(), None);
        assert_eq!(
            otlp_target(OtlpMetrics::Off, &up("otlp", "https://collector:4318", &h)).unwrap(),
            None
        );
    }

    #[test]
    fn headers_stay_with_their_origin() {
        let h = vec![("x-fleet-key".to_owned(), "k".to_owned())];
        let mut u = up("otlp", "https://telemetry.googleapis.com", &h);
        u.metrics_url = Some("http://metrics.internal:4318/v1/metrics".into());
        u.metrics_headers = Some("x-metrics-key=m%20k".into());
        let t = otlp_target(OtlpMetrics::Auto, &u).unwrap().unwrap();
        assert_eq!(t.url, "http://metrics.internal:4318/v1/metrics");
        assert_eq!(
            t.headers,
            [("x-metrics-key".to_owned(), "m k".to_owned())],
            "another origin gets only the metrics headers"
        );
    }
}

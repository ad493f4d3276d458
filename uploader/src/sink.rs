//! Where spans go: the sink (Cloud Trace v2 or OTLP), its URL and content
//! type, request compression, extra headers, and the HTTP client (with an
//! optional private CA).
//!
//! | sink | URL | body | default endpoint | default compression |
//! |---|---|---|---|---|
//! | `cloudtrace` | `{endpoint}/v2/projects/{project}/traces:batchWrite` | JSON | `https://cloudtrace.googleapis.com` | none |
//! | `otlp` | `{endpoint}/v1/traces` | OTLP protobuf | `https://telemetry.googleapis.com` | gzip |
//!
//! Every OTLP server must accept gzip (OTLP specification), so OTLP
//! compresses by default. Google does not document gzip request bodies for
//! `traces:batchWrite`, so the Cloud Trace sink sends them only when asked
//! (`--compression gzip`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

/// The destination API.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Cloud Trace API v2, `traces:batchWrite` (JSON).
    Cloudtrace,
    /// OTLP/HTTP protobuf: Google's Telemetry API or any OpenTelemetry
    /// Collector or OTLP backend.
    Otlp,
}

/// Request body compression.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`Content-Encoding: gzip`).
    Gzip,
    /// Uncompressed.
    None,
}

impl Sink {
    /// The endpoint used without `--endpoint`.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Sink::Cloudtrace => "https://cloudtrace.googleapis.com",
            Sink::Otlp => "https://telemetry.googleapis.com",
        }
    }

    /// The request URL.
    pub fn url(self, endpoint: &str, project: &str) -> String {
        let e = endpoint.trim_end_matches('/');
        match self {
            Sink::Cloudtrace => format!("{e}/v2/projects/{project}/traces:batchWrite"),
            Sink::Otlp => format!("{e}/v1/traces"),
        }
    }

    /// The request body's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Sink::Cloudtrace => "application/json",
            Sink::Otlp => "application/x-protobuf",
        }
    }

    /// The compression used without `--compression`.
    pub fn default_compression(self) -> Compression {
        match self {
            Sink::Cloudtrace => Compression::None,
            Sink::Otlp => Compression::Gzip,
        }
    }

    /// Whether spans past Cloud Trace's 14-day window are dropped before
    /// sending (counted as `upload_expired`): for Cloud Trace, and for OTLP
    /// to Google (`*.googleapis.com`), which refuse them. A collector or
    /// another OTLP backend decides for itself, so nothing is dropped for
    /// age on the way to it.
    pub fn expires_old_spans(self, endpoint: &str) -> bool {
        match self {
            Sink::Cloudtrace => true,
            Sink::Otlp => reqwest::Url::parse(endpoint)
                .ok()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| h == "googleapis.com" || h.ends_with(".googleapis.com"))
                })
                .unwrap_or(false),
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Sink::Cloudtrace => "cloudtrace",
            Sink::Otlp => "otlp",
        }
    }
}

/// The headers of every request: content type and encoding, the quota
/// project for Google's Telemetry API (OTLP with credentials), and the
/// `--header`s (which may override them). Values are never echoed.
pub fn request_headers(
    sink: Sink,
    compression: Compression,
    project: &str,
    authenticated: bool,
    extra: &[(String, String)],
) -> anyhow::Result<reqwest::header::HeaderMap> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(sink.content_type()));
    if compression == Compression::Gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if sink == Sink::Otlp && authenticated && !project.is_empty() {
        h.insert(
            HeaderName::from_static("x-goog-user-project"),
            HeaderValue::from_str(project).context("the project is not a header value")?,
        );
    }
    for (k, v) in extra {
        let name = HeaderName::from_bytes(k.as_bytes()).context("a --header name")?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| anyhow::anyhow!("the value of header {k} is not a valid header value"))?;
        h.insert(name, value);
    }
    Ok(h)
}

/// gzip at level 1: on span batches it keeps most of level 6's ratio at
/// several times its speed (docs/benchmarks.md).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(1),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// A `--header NAME=VALUE`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| "expected NAME=VALUE".to_string())?;
    let k = k.trim();
    reqwest::header::HeaderName::from_bytes(k.as_bytes())
        .map_err(|_| format!("{k:?} is not a valid header name"))?;
    // The value is not echoed: it may be a secret (an API key).
    reqwest::header::HeaderValue::from_str(v.trim())
        .map_err(|_| format!("the value of header {k} is not a valid header value"))?;
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// The HTTP client: system roots (webpki) plus `ca_cert` when given.
pub fn http_client(timeout: Duration, ca_cert: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tracespool-uploader/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = ca_cert {
        for cert in read_ca_certs(p)? {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().context("build the HTTP client")
}

/// The certificates of a PEM file (a bundle may hold several).
pub fn read_ca_certs(p: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem =
        std::fs::read(p).with_context(|| format!("read the CA certificate {}", p.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("{}: not a PEM certificate", p.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no PEM certificate in the file", p.display());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_per_sink() {
        assert_eq!(
            Sink::Otlp.url("http://127.0.0.1:4318/", "p"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            Sink::Cloudtrace.url("https://cloudtrace.googleapis.com", "proj-p1"),
            "https://cloudtrace.googleapis.com/v2/projects/proj-p1/traces:batchWrite"
        );
    }

    #[test]
    fn only_google_destinations_expire_old_spans() {
        assert!(Sink::Cloudtrace.expires_old_spans("http://127.0.0.1:1"));
        assert!(Sink::Otlp.expires_old_spans("https://telemetry.googleapis.com"));
        assert!(!Sink::Otlp.expires_old_spans("https://collector.internal:4318"));
        assert!(!Sink::Otlp.expires_old_spans("https://googleapis.com.evil.example"));
    }

    #[test]
    fn headers_parse_and_secrets_are_not_echoed() {
        assert_eq!(
            parse_header("x-api-key= s3cret ").unwrap(),
            ("x-api-key".into(), "s3cret".into())
        );
        assert!(parse_header("novalue").is_err());
        let e = parse_header("bad name=v").unwrap_err();
        assert!(e.contains("bad name"));
        let e = parse_header("k=sec\nret").unwrap_err();
        assert!(!e.contains("sec"), "{e}");
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let data = b"{\"spans\":[]}".repeat(100);
        let z = gzip(&data);
        assert!(z.len() < data.len() / 5);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}

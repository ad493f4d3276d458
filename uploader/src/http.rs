//! What every destination's requests share: the HTTP client (with an
//! optional private CA) and the headers of every request (content type and
//! encoding, the destination's own, the operator's `--header`s).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::compression::Compression;
use crate::destination::sink::Sink;

/// The headers of every request: content type and encoding, the
/// destination's own (the quota project for Google's Telemetry API), and
/// the `--header`s (which may override them). Values are never echoed.
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
    for (k, v) in sink.own_headers(project, authenticated) {
        let value = HeaderValue::from_str(&v)
            .map_err(|_| anyhow::anyhow!("the value of header {k} is not a valid header value"))?;
        h.insert(HeaderName::from_static(k), value);
    }
    for (k, v) in extra {
        let name = HeaderName::from_bytes(k.as_bytes()).context("a --header name")?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| anyhow::anyhow!("the value of header {k} is not a valid header value"))?;
        h.insert(name, value);
    }
    Ok(h)
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

/// The roots of trust the HTTP client starts from (before `--ca-cert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The machine's CA store (rustls-native-certs: the system's store,
    /// or `$SSL_CERT_FILE` / `$SSL_CERT_DIR` when set), with this many
    /// certificates.
    Machine(usize),
    /// Mozilla's roots, compiled in (webpki-roots): the machine has no CA
    /// store (a minimal container without `ca-certificates`).
    Mozilla,
}

impl std::fmt::Display for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Roots::Machine(n) => write!(f, "the machine's CA store ({n} certificates)"),
            Roots::Mozilla => {
                f.write_str("Mozilla's roots, built in (the machine has no CA store)")
            }
        }
    }
}

/// The roots of trust, read once.
pub fn roots() -> Roots {
    static ROOTS: std::sync::OnceLock<Roots> = std::sync::OnceLock::new();
    *ROOTS.get_or_init(|| {
        let n = rustls_native_certs::load_native_certs().certs.len();
        if n > 0 {
            Roots::Machine(n)
        } else {
            tracing::info!("no CA store on this machine: trusting Mozilla's roots, built in");
            Roots::Mozilla
        }
    })
}

/// The HTTP client of uploads, `doctor` and the token request: the
/// machine's CA store ([`roots`]) plus `ca_cert` when given.
pub fn http_client(timeout: Duration, ca_cert: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tracespool-uploader/", env!("CARGO_PKG_VERSION")));
    b = match roots() {
        Roots::Machine(_) => b.tls_built_in_webpki_certs(false),
        Roots::Mozilla => b.tls_built_in_native_certs(false),
    };
    if let Some(p) = ca_cert {
        for cert in read_ca_certs(p)? {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().context("build the HTTP client")
}

/// An error with its causes, `outer: cause: root cause` (reqwest's own
/// message is "error sending request"; the cause says "Connection
/// refused"). reqwest's messages name the URL, never the headers.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !out.ends_with(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
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
    fn operator_headers_override_the_destination_s() {
        let otlp = Sink::named("otlp").unwrap();
        let h = request_headers(
            otlp,
            Compression::Gzip,
            "proj-p1",
            true,
            &[("x-goog-user-project".into(), "other-p2".into())],
        )
        .unwrap();
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["x-goog-user-project"], "other-p2");
        let plain = request_headers(otlp, Compression::None, "proj-p1", false, &[]).unwrap();
        assert!(plain.get("x-goog-user-project").is_none());
        assert!(plain.get("content-encoding").is_none());
    }
}

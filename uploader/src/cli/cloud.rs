//! Where spans go: the flags `upload` and `doctor` share (destination,
//! endpoint, project, credentials, headers, CA).

use std::path::PathBuf;

use super::exit::ConfigError;
use super::headers::{parse_header_list, read_header_file};
use super::otel_env::{merge_headers, OtelEnv};
use crate::auth::Source;
use crate::destination::sink::Sink;

/// Where spans go: which destination, endpoint, project and credentials
/// (`upload` and `doctor`).
#[derive(clap::Args, Debug, Clone)]
pub struct CloudArgs {
    /// The destination API.
    #[arg(long, env = "TRACESPOOL_SINK", value_parser = Sink::parser(), default_value = "cloudtrace")]
    pub sink: Sink,
    /// Cloud project id [default: $GOOGLE_CLOUD_PROJECT, then the credentials' project;
    /// optional for `--sink otlp --no-auth`].
    #[arg(long, env = "TRACESPOOL_PROJECT")]
    pub project: Option<String>,
    /// The destination's root endpoint [default: https://cloudtrace.googleapis.com for
    /// cloudtrace, https://telemetry.googleapis.com for otlp; OTLP requests go to
    /// {endpoint}/v1/traces; with --sink otlp, $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    /// (the traces URL) or $OTEL_EXPORTER_OTLP_ENDPOINT (the base) when unset].
    #[arg(long, env = "TRACESPOOL_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Service-account key file [default: gcp_auth's chain: $GOOGLE_APPLICATION_CREDENTIALS,
    /// gcloud application default credentials, the metadata server].
    #[arg(long, env = "TRACESPOOL_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// Send no credentials (a collector on a trusted network, or one
    /// authenticated by a header).
    #[arg(long, env = "TRACESPOOL_NO_AUTH", value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue, conflicts_with = "credentials")]
    pub no_auth: bool,
    /// An extra request header, `NAME=VALUE` (repeatable). Values are never
    /// logged, but the command line is visible to every user of the
    /// machine (`ps`): put secrets in --header-file or $TRACESPOOL_HEADERS
    /// (`name=value,...`, values percent-encoded) instead.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = crate::http::parse_header)]
    pub headers: Vec<(String, String)>,
    /// A file of request headers, one `Name: value` a line (`#` comments):
    /// the place for a collector's API key. It must not be writable by
    /// other users.
    #[arg(long, value_name = "FILE", env = "TRACESPOOL_HEADER_FILE")]
    pub header_file: Option<PathBuf>,
    /// A CA certificate (PEM; a bundle may hold several) to trust besides
    /// the machine's CA store (the system's, or $SSL_CERT_FILE /
    /// $SSL_CERT_DIR; Mozilla's roots, built in, where the machine has
    /// none), for the uploads and the token request [with --sink otlp:
    /// $OTEL_EXPORTER_OTLP_CERTIFICATE when unset].
    #[arg(long, value_name = "FILE", env = "TRACESPOOL_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// Where spans go once the flags, their `TRACESPOOL_*` variables, a
/// header file and (for OTLP) the OpenTelemetry variables are combined.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The root endpoint.
    pub endpoint: String,
    /// A traces URL to use as it is (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub traces_url: Option<String>,
    /// Extra headers: OpenTelemetry's, then `TRACESPOOL_HEADERS`, the
    /// header file and `--header`, each over the ones before.
    pub headers: Vec<(String, String)>,
    /// The CA certificate to trust besides the machine's store.
    pub ca_cert: Option<PathBuf>,
    /// What the OpenTelemetry variables say (compression, timeout).
    pub otel: OtelEnv,
}

impl CloudArgs {
    /// The credential source these flags select.
    pub fn source(&self) -> Source {
        match &self.credentials {
            _ if self.no_auth => Source::None,
            Some(p) => Source::KeyFile(p.clone()),
            None => Source::Default,
        }
    }

    /// Combines the flags with the environment and the header file (see
    /// [`Resolved`]); a malformed variable or header file is a
    /// configuration error.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let otel = if self.sink.reads_otel_environment() {
            OtelEnv::read(|k| std::env::var(k).ok())?
        } else {
            OtelEnv::default()
        };
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| otel.endpoint.clone())
            .unwrap_or_else(|| self.sink.default_endpoint().to_owned());
        let traces_url = self
            .endpoint
            .is_none()
            .then(|| otel.traces_url.clone())
            .flatten();
        let mut headers = otel.headers.clone();
        if let Some(v) = std::env::var("TRACESPOOL_HEADERS")
            .ok()
            .filter(|v| !v.is_empty())
        {
            let list = parse_header_list(&v)
                .map_err(|e| ConfigError(format!("TRACESPOOL_HEADERS: {e}")))?;
            merge_headers(&mut headers, list);
        }
        if let Some(p) = &self.header_file {
            merge_headers(&mut headers, read_header_file(p)?);
        }
        merge_headers(&mut headers, self.headers.clone());
        let ca_cert = self.ca_cert.clone().or_else(|| otel.certificate.clone());
        if let Some(p) = &ca_cert {
            crate::http::read_ca_certs(p).map_err(|e| ConfigError(format!("--ca-cert: {e:#}")))?;
        }
        Ok(Resolved {
            endpoint,
            traces_url,
            headers,
            ca_cert,
            otel,
        })
    }

    /// Whether the destination needs a project with these credentials.
    pub fn needs_project(&self) -> bool {
        self.sink.needs_project(!self.no_auth)
    }
}

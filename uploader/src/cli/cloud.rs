//! Where spans go: the flags `upload` and `doctor` share (destination,
//! endpoint, project, credentials, headers, CA).

use std::path::PathBuf;

use super::exit::ConfigError;
use crate::auth::Source;
use crate::destination::sink::Sink;

/// Where spans go: which destination, endpoint, project and credentials
/// (`upload` and `doctor`).
#[derive(clap::Args, Debug, Clone)]
pub struct CloudArgs {
    /// The destination API.
    #[arg(long, value_parser = Sink::parser(), default_value = "cloudtrace")]
    pub sink: Sink,
    /// Cloud project id [default: $GOOGLE_CLOUD_PROJECT, then the credentials' project;
    /// optional for `--sink otlp --no-auth`].
    #[arg(long)]
    pub project: Option<String>,
    /// The destination's root endpoint [default: https://cloudtrace.googleapis.com for
    /// cloudtrace, https://telemetry.googleapis.com for otlp; OTLP requests go to
    /// {endpoint}/v1/traces].
    #[arg(long, env = "TRACESPOOL_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Service-account key file [default: gcp_auth's chain: $GOOGLE_APPLICATION_CREDENTIALS,
    /// gcloud application default credentials, the metadata server].
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Send no credentials (a collector on a trusted network, or one
    /// authenticated by --header).
    #[arg(long, conflicts_with = "credentials")]
    pub no_auth: bool,
    /// An extra request header, `NAME=VALUE` (repeatable), e.g. a
    /// collector's API key. Values are never logged.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = crate::http::parse_header)]
    pub headers: Vec<(String, String)>,
    /// A CA certificate (PEM) to trust besides the system roots, e.g. a
    /// collector's private CA.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
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

    /// The endpoint: `--endpoint`, or the destination's.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| self.sink.default_endpoint().to_owned())
    }

    /// Whether the destination needs a project with these credentials.
    pub fn needs_project(&self) -> bool {
        self.sink.needs_project(!self.no_auth)
    }

    /// The CA certificate is readable PEM (exit 78 otherwise).
    pub fn check_ca_cert(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.ca_cert {
            crate::http::read_ca_certs(p).map_err(|e| ConfigError(format!("--ca-cert: {e:#}")))?;
        }
        Ok(())
    }
}

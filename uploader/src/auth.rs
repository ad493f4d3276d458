//! OAuth tokens through gcp_auth. Tokens never reach a log, an error
//! message or the spool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};

/// The scope Cloud Trace's write API needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/trace.append";

/// Where credentials come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A service-account key file (`--credentials`).
    KeyFile(PathBuf),
    /// gcp_auth's chain: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
    /// application default credentials, the metadata server, `gcloud`.
    Default,
    /// No credentials, no `Authorization` header (`--no-auth`: a collector
    /// on a trusted network, or one authenticated by `--header`).
    None,
}

impl Source {
    /// For people: which source this is.
    pub fn describe(&self) -> String {
        match self {
            Source::KeyFile(p) => format!("key file {}", p.display()),
            Source::Default => match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
                Some(p) => format!(
                    "GOOGLE_APPLICATION_CREDENTIALS key file {}",
                    PathBuf::from(p).display()
                ),
                None => "gcp_auth default chain (gcloud ADC, metadata server, gcloud CLI)".into(),
            },
            Source::None => "no credentials (--no-auth)".into(),
        }
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
#[error("no credentials from {source_desc}: {message}")]
pub struct AuthError {
    source_desc: String,
    message: String,
}

/// A token source that can be reset (after a 401).
pub struct Auth {
    source: Source,
    provider: Option<Arc<dyn TokenProvider>>,
}

impl Auth {
    /// Credentials from `source`; nothing is read until a token is needed.
    pub fn new(source: Source) -> Self {
        Auth {
            source,
            provider: None,
        }
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    fn err(&self, message: impl std::fmt::Display) -> AuthError {
        AuthError {
            source_desc: self.source.describe(),
            message: message.to_string(),
        }
    }

    async fn provider(&mut self) -> Result<Arc<dyn TokenProvider>, AuthError> {
        if let Some(p) = &self.provider {
            return Ok(p.clone());
        }
        let p: Arc<dyn TokenProvider> = match &self.source {
            Source::KeyFile(path) => {
                Arc::new(CustomServiceAccount::from_file(path).map_err(|e| self.err(e))?)
            }
            Source::None => return Err(self.err("credentials are off (--no-auth)")),
            Source::Default => {
                // The chain probes the metadata server; bound it.
                match tokio::time::timeout(Duration::from_secs(20), gcp_auth::provider()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(e)) => return Err(self.err(e)),
                    Err(_) => return Err(self.err("timed out looking for credentials")),
                }
            }
        };
        self.provider = Some(p.clone());
        Ok(p)
    }

    /// A bearer token for [`SCOPE`].
    pub async fn token(&mut self) -> Result<String, AuthError> {
        let p = self.provider().await?;
        match tokio::time::timeout(Duration::from_secs(60), p.token(&[SCOPE])).await {
            Ok(Ok(t)) => Ok(t.as_str().to_owned()),
            Ok(Err(e)) => {
                self.provider = None;
                Err(self.err(e))
            }
            Err(_) => {
                self.provider = None;
                Err(self.err("timed out fetching a token"))
            }
        }
    }

    /// Whether requests carry a token (not `--no-auth`).
    pub fn is_enabled(&self) -> bool {
        !matches!(self.source, Source::None)
    }

    /// A token, or an empty string with `--no-auth`.
    pub async fn token_if_enabled(&mut self) -> Result<String, AuthError> {
        if self.is_enabled() {
            self.token().await
        } else {
            Ok(String::new())
        }
    }

    /// Forgets the cached provider and its tokens (after a 401).
    pub fn reset(&mut self) {
        self.provider = None;
    }

    /// The project id of the credentials.
    pub async fn project_id(&mut self) -> Result<String, AuthError> {
        let p = self.provider().await?;
        match tokio::time::timeout(Duration::from_secs(20), p.project_id()).await {
            Ok(Ok(id)) => Ok(id.to_string()),
            Ok(Err(e)) => Err(self.err(e)),
            Err(_) => Err(self.err("timed out fetching the project id")),
        }
    }
}

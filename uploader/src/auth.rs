//! OAuth tokens. Tokens never reach a log, an error message or the spool.
//!
//! A **service-account key file** (`--credentials`, or the file
//! `$GOOGLE_APPLICATION_CREDENTIALS` names) is exchanged for a token here,
//! with the OAuth 2.0 JWT-bearer grant (RFC 7523, Google's "service
//! account" flow): gcp_auth reads the key and signs the assertion (its
//! `Signer`), and the token request goes through the uploader's own HTTP
//! client, so that it trusts what uploads trust: the machine's CA store
//! and `--ca-cert` (a TLS-inspecting proxy's CA then works for both; with
//! gcp_auth's own client it worked for uploads only). The assertion's
//! claims are gcp_auth's: `iss` the key's `client_email`, `aud` its
//! `token_uri`, `scope`, `iat` now and `exp` an hour later; the token is
//! reused until a minute before it expires.
//!
//! **Other credentials** (gcloud's application default credentials, the
//! metadata server, the gcloud CLI) go through gcp_auth's chain, whose
//! client trusts the machine's CA store (not `--ca-cert`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gcp_auth::{CustomServiceAccount, TokenProvider};

/// The scope Cloud Trace's write API needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/trace.append";

/// The JWT-bearer grant type (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Where credentials come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A service-account key file (`--credentials`).
    KeyFile(PathBuf),
    /// `$GOOGLE_APPLICATION_CREDENTIALS` (a key file), else gcp_auth's
    /// chain: gcloud's application default credentials, the metadata
    /// server, `gcloud`.
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
            Source::Default => match default_key_file() {
                Some(p) => format!("GOOGLE_APPLICATION_CREDENTIALS key file {}", p.display()),
                None => "gcp_auth default chain (gcloud ADC, metadata server, gcloud CLI)".into(),
            },
            Source::None => "no credentials (--no-auth)".into(),
        }
    }
}

/// The key file `$GOOGLE_APPLICATION_CREDENTIALS` names, if set.
fn default_key_file() -> Option<PathBuf> {
    std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
#[error("no credentials from {source_desc}: {message}")]
pub struct AuthError {
    source_desc: String,
    message: String,
}

/// A service-account key, ready to sign assertions.
struct ServiceAccount {
    email: String,
    token_uri: String,
    project_id: Option<String>,
    signer: CustomServiceAccount,
}

/// The fields of a key file read here (gcp_auth reads the private key).
#[derive(serde::Deserialize)]
struct KeyFields {
    client_email: String,
    token_uri: String,
    #[serde(default)]
    project_id: Option<String>,
}

impl ServiceAccount {
    fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("read the key: {e}"))?;
        let f: KeyFields = serde_json::from_str(&text)
            .map_err(|e| format!("not a service-account key file: {e}"))?;
        let signer = CustomServiceAccount::from_json(&text)
            .map_err(|e| format!("the key: {}", crate::http::error_chain(&e)))?;
        Ok(ServiceAccount {
            email: f.client_email,
            token_uri: f.token_uri,
            project_id: f.project_id.filter(|p| !p.is_empty()),
            signer,
        })
    }

    /// A signed assertion for [`SCOPE`], valid an hour from `now_s`.
    fn assertion(&self, now_s: u64) -> Result<String, String> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": self.email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now_s,
            "exp": now_s + 3600,
        });
        let signing_input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
        let signature = self
            .signer
            .signer()
            .sign(signing_input.as_bytes())
            .map_err(|e| format!("sign the token request: {e}"))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

/// A token endpoint's answer.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// A token, and when to fetch the next.
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// A token source that can be reset (after a 401).
pub struct Auth {
    source: Source,
    client: reqwest::Client,
    account: Option<Arc<ServiceAccount>>,
    provider: Option<Arc<dyn TokenProvider>>,
    cached: Option<Cached>,
}

impl Auth {
    /// Credentials from `source`, token requests through `client` (see
    /// the module docs); nothing is read until a token is needed.
    pub fn new(source: Source, client: reqwest::Client) -> Self {
        Auth {
            source,
            client,
            account: None,
            provider: None,
            cached: None,
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

    /// The key file this source reads, if it is one.
    fn key_file(&self) -> Option<PathBuf> {
        match &self.source {
            Source::KeyFile(p) => Some(p.clone()),
            Source::Default => default_key_file(),
            Source::None => None,
        }
    }

    fn account(&mut self, path: &std::path::Path) -> Result<Arc<ServiceAccount>, AuthError> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let a = Arc::new(ServiceAccount::read(path).map_err(|e| self.err(e))?);
        self.account = Some(a.clone());
        Ok(a)
    }

    async fn provider(&mut self) -> Result<Arc<dyn TokenProvider>, AuthError> {
        if let Some(p) = &self.provider {
            return Ok(p.clone());
        }
        // The chain probes the metadata server; bound it.
        let p = match tokio::time::timeout(Duration::from_secs(20), gcp_auth::provider()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(self.err(crate::http::error_chain(&e))),
            Err(_) => return Err(self.err("timed out looking for credentials")),
        };
        self.provider = Some(p.clone());
        Ok(p)
    }

    /// A bearer token for [`SCOPE`].
    pub async fn token(&mut self) -> Result<String, AuthError> {
        if matches!(self.source, Source::None) {
            return Err(self.err("credentials are off (--no-auth)"));
        }
        if let Some(c) = self
            .cached
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
        {
            return Ok(c.token.clone());
        }
        let fetched = match self.key_file() {
            Some(path) => self.exchange(&path).await,
            None => self.token_from_chain().await,
        };
        match fetched {
            Ok(c) => {
                let token = c.token.clone();
                self.cached = Some(c);
                Ok(token)
            }
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    /// The JWT-bearer grant with the key file at `path`.
    async fn exchange(&mut self, path: &std::path::Path) -> Result<Cached, AuthError> {
        let account = self.account(path)?;
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = account.assertion(now_s).map_err(|e| self.err(e))?;
        let sent = self
            .client
            .post(&account.token_uri)
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .send()
            .await;
        let res = sent.map_err(|e| {
            self.err(format!(
                "token request to {}: {}",
                account.token_uri,
                crate::http::error_chain(&e)
            ))
        })?;
        let status = res.status();
        let body = res.bytes().await.unwrap_or_default();
        if !status.is_success() {
            // The endpoint's own words (`invalid_grant`, a clock skew), never
            // the assertion.
            let said = crate::answer::body_text(&body)
                .map(|t| crate::answer::redact(&t, &[&assertion]))
                .unwrap_or_default();
            return Err(self.err(format!(
                "the token endpoint {} answered HTTP {}: {said}",
                account.token_uri,
                status.as_u16()
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            self.err(format!(
                "the token endpoint {} answered something else than a token: {e}",
                account.token_uri
            ))
        })?;
        // Fetch the next a minute before this one expires (half its life
        // if it is short).
        let life = Duration::from_secs(answer.expires_in);
        let margin = Duration::from_secs(60).min(life / 2);
        Ok(Cached {
            token: answer.access_token,
            refresh_at: Instant::now() + life - margin,
        })
    }

    /// A token from gcp_auth's chain (it caches its tokens itself).
    async fn token_from_chain(&mut self) -> Result<Cached, AuthError> {
        let p = self.provider().await?;
        match tokio::time::timeout(Duration::from_secs(60), p.token(&[SCOPE])).await {
            Ok(Ok(t)) => Ok(Cached {
                token: t.as_str().to_owned(),
                // Asked again each time: gcp_auth knows when it expires.
                refresh_at: Instant::now(),
            }),
            Ok(Err(e)) => Err(self.err(crate::http::error_chain(&e))),
            Err(_) => Err(self.err("timed out fetching a token")),
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

    /// Forgets the cached token and credentials (after a 401).
    pub fn reset(&mut self) {
        self.cached = None;
        self.account = None;
        self.provider = None;
    }

    /// The project id of the credentials.
    pub async fn project_id(&mut self) -> Result<String, AuthError> {
        if let Some(path) = self.key_file() {
            let account = self.account(&path)?;
            return account
                .project_id
                .clone()
                .ok_or_else(|| self.err("the key file names no project_id"));
        }
        if matches!(self.source, Source::None) {
            return Err(self.err("credentials are off (--no-auth)"));
        }
        let p = self.provider().await?;
        match tokio::time::timeout(Duration::from_secs(20), p.project_id()).await {
            Ok(Ok(id)) => Ok(id.to_string()),
            Ok(Err(e)) => Err(self.err(crate::http::error_chain(&e))),
            Err(_) => Err(self.err("timed out fetching the project id")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_is_a_signed_jwt_with_gcp_auth_s_claims() {
        let key = tracespool_tests::test_account().key_file_json("http://127.0.0.1:9/token", "p");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, key).unwrap();
        let a = ServiceAccount::read(&path).unwrap();
        assert_eq!(a.project_id.as_deref(), Some("p"));
        let jwt = a.assertion(1_800_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap();
        assert_eq!(header["alg"], "RS256");
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["exp"], 1_800_003_600u64);
        assert_eq!(decode(parts[2]).len(), 256, "an RSA-2048 signature");
    }
}

//! The project spans are sent for: `--project`, then
//! `$GOOGLE_CLOUD_PROJECT`, then the credentials'.

use super::exit::ConfigError;
use crate::auth::Auth;

/// The project: `--project`, then `$GOOGLE_CLOUD_PROJECT`, then the
/// credentials' (when `auth` is given).
pub(crate) async fn resolve_project(
    flag: Option<String>,
    auth: Option<&mut Auth>,
) -> anyhow::Result<String> {
    if let Some(p) = flag.filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    if let Some(p) = std::env::var("GOOGLE_CLOUD_PROJECT")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(p);
    }
    if let Some(auth) = auth {
        if let Ok(p) = auth.project_id().await {
            return Ok(p);
        }
    }
    Err(ConfigError(
        "no project: pass --project, set GOOGLE_CLOUD_PROJECT, or use credentials that name one"
            .into(),
    )
    .into())
}

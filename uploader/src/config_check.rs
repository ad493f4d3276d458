//! Configuration checked before anything else happens: pure functions of
//! the flags, the environment and the key file, so that a mistake exits 78
//! at once (cron alerts) instead of looking like an outage (75, "try
//! later") after retrying until the deadline. Only a real outage or a
//! refusal that may pass gives 75.

use std::path::Path;

use crate::cli::exit::ConfigError;

/// The endpoint must be an `http` or `https` URL with a host.
pub fn check_endpoint(endpoint: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| ConfigError(format!("--endpoint {endpoint:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "--endpoint {endpoint:?}: the scheme must be https (or http for a local test server), not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError(format!("--endpoint {endpoint:?} has no host")));
    }
    Ok(())
}

/// Google's rules for a project id: 6 to 30 characters, lowercase letters,
/// digits and hyphens, starting with a letter and not ending with a hyphen;
/// or the legacy `domain.com:name` form. Anything else could change the
/// request's path (`../x`), so it is refused before a token is sent.
pub fn check_project_id(project: &str) -> Result<(), ConfigError> {
    let plain = |p: &str| {
        let b = p.as_bytes();
        (6..=30).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b[b.len() - 1] != b'-'
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    let domain = |d: &str| {
        !d.is_empty()
            && d.len() <= 253
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            })
    };
    let ok = match project.split_once(':') {
        Some((d, name)) => domain(d) && plain(name),
        None => plain(project),
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "project id {project:?} is not valid: 6 to 30 lowercase letters, digits or hyphens, \
             starting with a letter (or the legacy domain.com:name form)"
        )))
    }
}

/// A service-account key file as gcp_auth needs it (when it exists):
/// readable JSON of type
/// `service_account` with a PKCS#8 `private_key`, `client_email` and an
/// http(s) `token_uri`. `what` says where the path came from. Never puts
/// the key's content in the message.
pub fn check_key_file(path: &Path, what: &str) -> Result<(), ConfigError> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        // Not there yet: credentials are often provisioned after the
        // device. The run waits for them (exit 75); it is not a mistake.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ConfigError(format!("{what} {shown}: {e}"))),
    };
    if meta.is_dir() {
        return Err(ConfigError(format!(
            "{what} {shown} is a directory, not a key file"
        )));
    }
    let text = std::fs::read(path).map_err(|e| ConfigError(format!("{what} {shown}: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        ConfigError(format!(
            "{what} {shown} is not a JSON key file (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match v.get("type").and_then(|t| t.as_str()) {
        None | Some("service_account") => {}
        Some(other) => {
            return Err(ConfigError(format!(
                "{what} {shown} holds credentials of type {other:?}; tracespool needs a \
                 service-account key (type \"service_account\") with roles/cloudtrace.agent"
            )))
        }
    }
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    for k in ["private_key", "client_email", "token_uri"] {
        if field(k).is_none() {
            return Err(ConfigError(format!(
                "{what} {shown} has no {k}: not a service-account key file"
            )));
        }
    }
    if !field("private_key").is_some_and(|k| k.contains("-----BEGIN PRIVATE KEY-----")) {
        return Err(ConfigError(format!(
            "{what} {shown}: private_key is not a PKCS#8 PEM key (BEGIN PRIVATE KEY)"
        )));
    }
    let token_uri = field("token_uri").unwrap_or_default();
    check_endpoint(token_uri).map_err(|_| {
        ConfigError(format!(
            "{what} {shown}: token_uri {token_uri:?} is not an http(s) URL"
        ))
    })?;
    Ok(())
}

/// The key file the credential source will read, checked: `--credentials`,
/// else `GOOGLE_APPLICATION_CREDENTIALS` (gcp_auth reads it first and stops
/// there). Without either, gcp_auth's chain (gcloud, metadata server) is
/// left to answer at run time.
pub fn check_credentials(flag: Option<&Path>) -> Result<(), ConfigError> {
    if let Some(p) = flag {
        return check_key_file(p, "--credentials");
    }
    match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(p) if !p.is_empty() => check_key_file(Path::new(&p), "GOOGLE_APPLICATION_CREDENTIALS"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("https://cloudtrace.googleapis.com").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080").is_ok());
        for bad in [
            "cloudtrace.googleapis.com",
            "ftp://example.com",
            "http://",
            "",
            "::",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_ids() {
        for ok in [
            "my-project",
            "abcdef",
            "a23456789012345678901234567890",
            "example.com:my-proj",
        ] {
            assert!(check_project_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../../x",
            "short",
            "My-Project",
            "1project",
            "project-",
            "a234567890123456789012345678901",
            "my project",
            "p/traces",
            ":my-project",
            "example..com:my-proj",
        ] {
            assert!(check_project_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let good = write(
            "good.json",
            r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n","client_email":"a@b","token_uri":"https://oauth2.googleapis.com/token"}"#,
        );
        assert!(check_key_file(&good, "k").is_ok());
        let err = |p: &Path| check_key_file(p, "k").unwrap_err().0;
        assert!(err(dir.path()).contains("is a directory"));
        assert!(err(&write("text.json", "not json")).contains("not a JSON key file"));
        assert!(err(&write(
            "user.json",
            r#"{"type":"authorized_user","refresh_token":"x"}"#
        ))
        .contains("type \"authorized_user\""));
        let no_key = write(
            "nokey.json",
            r#"{"type":"service_account","client_email":"a@b","token_uri":"https://x"}"#,
        );
        assert!(err(&no_key).contains("no private_key"));
        let secret = write(
            "rsa.json",
            r#"{"private_key":"-----BEGIN RSA PRIVATE KEY-----\nSECRET\n","client_email":"a@b","token_uri":"https://x"}"#,
        );
        let e = err(&secret);
        assert!(e.contains("PKCS#8") && !e.contains("SECRET"), "{e}");
    }
}

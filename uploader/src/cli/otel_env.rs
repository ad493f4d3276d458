//! The OpenTelemetry exporter's environment variables, honoured with
//! `--sink otlp` as the OTLP exporter specification defines them: a flag
//! (or its `TRACESPOOL_*` variable) wins over `OTEL_EXPORTER_OTLP_TRACES_*`,
//! which wins over `OTEL_EXPORTER_OTLP_*`.
//!
//! | variable | meaning |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the base URL; traces go to `{base}/v1/traces` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the traces URL, used as it is |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `key=value,...`, values percent-encoded (the traces list's keys replace the general list's) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `gzip` or `none` |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | a PEM CA certificate to trust (as `--ca-cert`) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | the request timeout, in milliseconds |

use std::path::PathBuf;
use std::time::Duration;

use super::exit::ConfigError;
use super::headers::parse_header_list;
use crate::compression::Compression;

/// What the variables say (nothing when unset).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OtelEnv {
    /// The root endpoint (without `/v1/traces`).
    pub endpoint: Option<String>,
    /// A traces URL to use as it is.
    pub traces_url: Option<String>,
    pub headers: Vec<(String, String)>,
    pub compression: Option<Compression>,
    pub certificate: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

const TRACES_PATH: &str = "/v1/traces";

impl OtelEnv {
    /// Reads the variables through `get` (the process environment, or a
    /// table in tests).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        // The traces variable, else the general one.
        let pick = |what: &str| {
            let specific = format!("OTEL_EXPORTER_OTLP_TRACES_{what}");
            let general = format!("OTEL_EXPORTER_OTLP_{what}");
            var(&specific)
                .map(|v| (specific.clone(), v))
                .or_else(|| var(&general).map(|v| (general.clone(), v)))
        };
        let mut env = OtelEnv::default();
        if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            env.endpoint = Some(
                url.strip_suffix(TRACES_PATH)
                    .unwrap_or(&url)
                    .trim_end_matches('/')
                    .to_owned(),
            );
            env.traces_url = Some(url);
        } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            env.endpoint = Some(base.trim_end_matches('/').to_owned());
        }
        // Headers: the general list, with the traces list's keys over it.
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(v) = var(name) {
                let list =
                    parse_header_list(&v).map_err(|e| ConfigError(format!("{name}: {e}")))?;
                merge_headers(&mut env.headers, list);
            }
        }
        if let Some((name, v)) = pick("COMPRESSION") {
            env.compression = Some(match v.as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                other => {
                    return Err(ConfigError(format!(
                        "{name}={other}: expected gzip or none"
                    )))
                }
            });
        }
        env.certificate = pick("CERTIFICATE").map(|(_, v)| PathBuf::from(v));
        if let Some((name, v)) = pick("TIMEOUT") {
            let ms: u64 = v
                .parse()
                .map_err(|_| ConfigError(format!("{name}={v}: expected milliseconds")))?;
            env.timeout = Some(Duration::from_millis(ms));
        }
        Ok(env)
    }
}

/// Adds `more` to `headers`, replacing those of the same name (names are
/// case-insensitive).
pub fn merge_headers(headers: &mut Vec<(String, String)>, more: Vec<(String, String)>) {
    for (k, v) in more {
        headers.retain(|(x, _)| !x.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<OtelEnv, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtelEnv::read(|k| m.get(k).cloned())
    }

    #[test]
    fn nothing_set_says_nothing() {
        assert_eq!(read(&[]).unwrap(), OtelEnv::default());
    }

    #[test]
    fn the_traces_variables_win_over_the_general_ones() {
        let e = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318/"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "B=3"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/general.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
        ])
        .unwrap();
        assert_eq!(
            e.traces_url.as_deref(),
            Some("https://traces:4318/v1/traces")
        );
        assert_eq!(e.endpoint.as_deref(), Some("https://traces:4318"));
        assert_eq!(
            e.headers,
            vec![("a".into(), "1".into()), ("B".into(), "3".into())]
        );
        assert_eq!(e.compression, Some(Compression::Gzip));
        assert_eq!(e.certificate, Some(PathBuf::from("/general.pem")));
        assert_eq!(e.timeout, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn a_general_endpoint_is_a_base() {
        let e = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(e.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(e.traces_url, None);
    }

    #[test]
    fn malformed_values_are_configuration_errors_naming_the_variable() {
        for (k, v) in [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ] {
            let e = read(&[(k, v)]).unwrap_err();
            assert!(e.0.contains(k), "{e}");
        }
    }
}

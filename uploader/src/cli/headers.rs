//! Request headers from outside the command line, so that a secret (a
//! collector's API key) never shows in `ps`: a header file, and the
//! comma-separated list of `OTEL_EXPORTER_OTLP_HEADERS` and
//! `TRACESPOOL_HEADERS`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cli::exit::ConfigError;
use crate::http::parse_header;

/// A header file's headers: one `Name: value` a line; blank lines and
/// lines starting with `#` are skipped.
pub fn parse_header_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: expected `Name: value`", i + 1))?;
        let h = parse_header(&format!("{}={}", k.trim(), v.trim()))
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(h);
    }
    Ok(out)
}

/// `key1=value1,key2=value2`, values percent-decoded: the format of
/// `OTEL_EXPORTER_OTLP_HEADERS` (the OTLP exporter specification).
pub fn parse_header_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| "expected key=value pairs, comma-separated".to_string())?;
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| format!("the value of {} is not UTF-8 once decoded", k.trim()))?;
        out.push(parse_header(&format!("{}={v}", k.trim()))?);
    }
    Ok(out)
}

/// Whether a secret file (a key, headers) is safe to read: never writable
/// by other users (they could swap the secret); a warning when others may
/// read it (as a Kubernetes secret mounted 0644 is).
pub fn check_secret_file(path: &Path, what: &str) -> Result<(), ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| ConfigError(format!("{what} {shown}: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(ConfigError(format!(
            "{what} {shown} is writable by other users (mode {:o}); chmod 600 it",
            mode & 0o777
        )));
    }
    if mode & 0o044 != 0 {
        tracing::warn!(
            file = %shown,
            mode = format!("{:o}", mode & 0o777),
            "{what} is readable by other users; chmod 600 it"
        );
    }
    Ok(())
}

/// The headers of `--header-file`.
pub fn read_header_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    check_secret_file(path, "--header-file")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("--header-file {}: {e}", path.display())))?;
    // The error names the line, never its value.
    parse_header_file(&text)
        .map_err(|e| ConfigError(format!("--header-file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_files_take_name_colon_value_lines() {
        let h = parse_header_file("# fleet\nx-fleet-key: s3cr3t\n\nAuthorization: Bearer abc\n")
            .unwrap();
        assert_eq!(
            h,
            vec![
                ("x-fleet-key".into(), "s3cr3t".into()),
                ("Authorization".into(), "Bearer abc".into())
            ]
        );
        let e = parse_header_file("x-ok: 1\nno colon here s3cr3t\n").unwrap_err();
        assert!(e.starts_with("line 2:") && !e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn header_lists_are_comma_separated_and_percent_decoded() {
        let h = parse_header_list(" api-key=a%2Cb%3D , x-team = blue ").unwrap();
        assert_eq!(
            h,
            vec![
                ("api-key".into(), "a,b=".into()),
                ("x-team".into(), "blue".into())
            ]
        );
        assert!(parse_header_list("novalue").is_err());
        assert_eq!(parse_header_list("").unwrap(), vec![]);
    }

    #[test]
    fn secret_files_writable_by_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h");
        std::fs::write(&p, "x: 1\n").unwrap();
        for (mode, ok) in [(0o600, true), (0o644, true), (0o620, false), (0o666, false)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                check_secret_file(&p, "--header-file").is_ok(),
                ok,
                "{mode:o}"
            );
        }
    }
}

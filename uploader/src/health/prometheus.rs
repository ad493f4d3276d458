//! The Prometheus text exposition format (version 0.0.4), written for
//! node_exporter's textfile collector: every metric with its `# HELP` and
//! `# TYPE`, labelled with the spool's path, written to a temporary file
//! beside the target and renamed over it, so a scrape never reads half a
//! file.

use std::fmt::Write as _;
use std::path::Path;

use super::metrics::{Kind, Metric, Number};

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A `# HELP` text with `\` and newlines escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

fn number(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) if f.is_finite() => format!("{f}"),
        Number::Float(f) if f.is_nan() => "NaN".into(),
        Number::Float(f) if f > 0.0 => "+Inf".into(),
        Number::Float(_) => "-Inf".into(),
    }
}

/// The metrics of the spool at `spool` as Prometheus text.
pub fn render(metrics: &[Metric], spool: &Path) -> String {
    let label = escape_label(&spool.display().to_string());
    let mut out = String::new();
    for m in metrics {
        let kind = match m.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{spool=\"{label}\"}} {value}",
            name = m.prometheus_name,
            help = escape_help(&m.description),
            value = number(m.value),
        );
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file in the same
/// directory, renamed over `path`.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the metrics text file needs a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = match dir {
        Some(d) => d.join(tmp_name),
        None => tmp_name.into(),
    };
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{metrics, tests::health};
    use super::*;

    #[test]
    fn text_has_help_type_and_one_labelled_sample_per_metric() {
        let m = metrics(&health());
        let text = render(&m, Path::new("/var/lib/app/traces.spool"));
        assert!(text.contains(
            "# TYPE tracespool_spool_pending_spans gauge\n\
             tracespool_spool_pending_spans{spool=\"/var/lib/app/traces.spool\"} 12\n"
        ));
        assert!(text.contains("# TYPE tracespool_spool_uploaded_total counter\n"));
        assert!(text.contains(
            "tracespool_spool_oldest_pending_age_seconds{spool=\"/var/lib/app/traces.spool\"} 60\n"
        ));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, m.len());
    }

    #[test]
    fn label_values_are_escaped() {
        let m = metrics(&health());
        let text = render(&m[..1], Path::new("/odd\"dir\\x\ny.spool"));
        assert!(
            text.contains(r#"{spool="/odd\"dir\\x\ny.spool"}"#),
            "{text}"
        );
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tracespool.prom");
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b 2\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}

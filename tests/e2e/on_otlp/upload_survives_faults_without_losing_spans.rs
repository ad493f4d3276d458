//! `upload_survives_faults_without_losing_spans` against the OTLP sink: this test binary's name starts with
//! `otlp_`, which `tracespool_tests::cli::sink_args` turns into
//! `--sink otlp`.
#[path = "../upload_survives_faults_without_losing_spans.rs"]
mod tests;

//! `upload_delivers_every_span_exactly_once` against the OTLP sink: this test binary's name starts with
//! `otlp_`, which `tracespool_tests::cli::sink_args` turns into
//! `--sink otlp`.
#[path = "../upload_delivers_every_span_exactly_once.rs"]
mod tests;

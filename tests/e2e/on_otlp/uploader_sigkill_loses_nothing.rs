//! `uploader_sigkill_loses_nothing` against the OTLP sink: this test binary's name starts with
//! `otlp_`, which `tracespool_tests::cli::sink_args` turns into
//! `--sink otlp`.
#[path = "../uploader_sigkill_loses_nothing.rs"]
mod tests;

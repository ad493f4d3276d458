//! `a_bandwidth_budget_paces_the_upload` against the OTLP sink: this test binary's name starts with
//! `otlp_`, which `tracespool_tests::cli::sink_args` turns into
//! `--sink otlp`.
#[path = "../a_bandwidth_budget_paces_the_upload.rs"]
mod tests;

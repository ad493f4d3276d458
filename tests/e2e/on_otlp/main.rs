//! The sink-neutral end-to-end tests again, against the OTLP sink: this
//! harness's binary name starts with `otlp_`, which
//! `tracespool_tests::cli::sink_args` turns into `--sink otlp`.

#[path = "../a_bandwidth_budget_paces_the_upload.rs"]
mod a_bandwidth_budget_paces_the_upload;
#[path = "../upload_delivers_every_span_exactly_once.rs"]
mod upload_delivers_every_span_exactly_once;
#[path = "../upload_survives_faults_without_losing_spans.rs"]
mod upload_survives_faults_without_losing_spans;
#[path = "../uploader_sigkill_loses_nothing.rs"]
mod uploader_sigkill_loses_nothing;

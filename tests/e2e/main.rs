//! End-to-end tests of the `tracespool` binary: real processes, real
//! HTTP on 127.0.0.1 against the project's own stand-ins (Cloud Trace, the
//! Telemetry API's OTLP route, a collector, an OAuth token endpoint), real
//! spools. One module per behaviour; `on_otlp/main.rs` runs the
//! sink-neutral ones again against the OTLP sink.

mod a_bandwidth_budget_paces_the_upload;
mod a_damaged_spool_is_reported_and_recovered;
mod a_full_disk_never_strands_the_spool;
mod a_network_file_system_is_refused_not_corrupted;
mod a_small_disk_records_until_it_is_full;
mod a_wrong_clock_costs_no_span;
mod completions_and_man_pages_follow_the_command_line;
mod compressed_records_upload_and_their_dictionary_follows;
mod configuration_comes_from_the_environment_and_files;
mod configuration_errors_exit_78_before_any_traffic;
mod contrib_units_and_cron_job_run_as_installed;
mod damaged_records_are_quarantined_not_uploaded;
mod examples_never_write_where_they_are_started;
mod fleet_health_is_reported_by_the_uploader;
mod golden_spool_opens_inspects_and_uploads;
mod inspect_commands_report_what_the_spool_holds;
mod otel_spans_reach_cloud_trace_field_by_field;
mod otlp_requests_fit_googles_quotas_behind_a_collector;
mod paths_that_are_not_spools_exit_78;
mod read_only_copies_can_be_inspected;
mod readme_commands_work_as_written;
mod the_otlp_sink_speaks_to_the_telemetry_api_and_collectors;
mod the_viewer_serves_a_spool_read_only;
mod the_viewer_works_in_a_real_browser;
mod tls_trusts_the_machines_store_and_ca_cert;
mod tracing_spans_reach_cloud_trace_field_by_field;
mod upload_delivers_every_span_exactly_once;
mod upload_repairs_values_cloud_trace_would_refuse;
mod upload_status_tells_the_truth;
mod upload_survives_faults_without_losing_spans;
mod uploader_sigkill_loses_nothing;

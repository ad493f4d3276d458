//! The `tracing` layer's behaviour, one module per promise.

mod an_async_span_is_one_span_across_threads;
#[path = "../../../../recorder/tests/support/spool_records.rs"]
mod spool_records;
mod tracing_spans_arrive_in_the_spool_field_by_field;

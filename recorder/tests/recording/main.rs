//! The recorder's behaviour, one module per promise: what the app did is
//! what the spool holds; full queues and failing disks never hurt the app;
//! adapters' deferred spans are built on the writer.

mod deferred_spans_are_built_on_the_writer;
mod recorder_records_what_the_app_did;
mod recorder_survives_full_queues_and_failing_disks;
mod records_are_compressed_once_they_pay_for_it;
#[path = "../support/spool_records.rs"]
mod spool_records;

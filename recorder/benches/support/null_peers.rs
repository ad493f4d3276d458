//! The two peers' "do nothing" ends, shared by the benchmarks that compare
//! tracespool with the OpenTelemetry SDK: a recorder sink and an exporter
//! that count and discard, so each side pays for its hand-off to the
//! background thread and nothing else.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracespool::testing::SpanSink;
use tracespool_spool::{AppendOutcome, NewRow, RecorderDrops, SpoolError};

/// The writer's sink: counts and discards.
pub struct NullSink(pub Arc<AtomicU64>);

impl SpanSink for NullSink {
    fn append(
        &mut self,
        rows: &[NewRow<'_>],
        _: RecorderDrops,
    ) -> Result<AppendOutcome, SpoolError> {
        self.0.fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(AppendOutcome::all_written(rows.len() as u64))
    }
}

/// The batch processor's exporter: counts and discards.
#[derive(Debug)]
pub struct NullExporter(pub Arc<AtomicU64>);

impl SpanExporter for NullExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Prints each side's drops after a run: tracespool's are counted in its
/// stats, the batch processor's are silent (started but never exported).
pub fn report_drops(
    st: &tracespool::RecorderStats,
    written: u64,
    peer: &str,
    started: u64,
    exported: u64,
) {
    let lost = started.saturating_sub(exported);
    eprintln!(
        "drops: tracespool recorded {} + dropped {} (counted in stats), written {written}; \
         {peer} started {started}, exported {exported}, silently dropped {lost} ({:.1}%)",
        st.recorded,
        st.dropped_queue_full,
        100.0 * lost as f64 / started.max(1) as f64
    );
}

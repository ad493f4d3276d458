//! [`SpoolSpanExporter`]: the processor's work behind the `SpanExporter`
//! trait, for code that must configure an exporter.

use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource as OtelResource;
use tracespool::Recorder;

use crate::processor::{flush_result, SpoolSpanProcessor, FLUSH_TIMEOUT};
use opentelemetry_sdk::trace::SpanProcessor as _;

/// An OpenTelemetry span exporter that records every span it is given into
/// the recorder's spool. Export never fails for lack of network: there is
/// none. Prefer [`SpoolSpanProcessor`], which needs no batch thread.
#[derive(Debug, Clone)]
pub struct SpoolSpanExporter {
    inner: SpoolSpanProcessor,
}

impl SpoolSpanExporter {
    /// An exporter recording with `recorder`.
    pub fn new(recorder: Recorder) -> Self {
        SpoolSpanExporter {
            inner: SpoolSpanProcessor::new(recorder),
        }
    }
}

impl SpanExporter for SpoolSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in batch {
            self.inner.record(span);
        }
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        flush_result(
            self.inner.recorder().flush_timeout(FLUSH_TIMEOUT),
            FLUSH_TIMEOUT,
        )
    }

    fn set_resource(&mut self, resource: &OtelResource) {
        self.inner.set_resource(resource);
    }
}

//! [`SpoolSpanProcessor`]: `on_end` moves the span into the recorder's
//! queue; the recorder's writer thread converts it ([`fill_span`]).

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource as OtelResource;
use tracespool::adapter::{DeferredQueue, FinishedSpan, SpanResource};
use tracespool::{FlushError, Recorder};

use crate::convert::fill_span;
use crate::resource::merged_resource;

/// An OpenTelemetry span processor that records every finished, sampled
/// span into the recorder's spool (see the crate docs).
#[derive(Debug, Clone)]
pub struct SpoolSpanProcessor {
    recorder: Recorder,
    resource: Option<SpanResource>,
    /// Where `on_end` puts spans: converted on the recorder's writer, so
    /// the application's thread only moves the `SpanData`.
    queue: DeferredQueue<Finished>,
}

/// OpenTelemetry's finished span, as the recorder's writer receives it.
#[derive(Debug)]
struct Finished(SpanData);

impl FinishedSpan for Finished {
    fn fill(self, out: &mut tracespool::adapter::SpanData) {
        fill_span(out, self.0)
    }
}

impl SpoolSpanProcessor {
    /// A processor recording with `recorder`. It allocates its queue now:
    /// the recorder's queue capacity in `SpanData` slots (8,192 by
    /// default, about 3 MiB); see [`tracespool::RecorderBuilder::queue_capacity`].
    pub fn new(recorder: Recorder) -> Self {
        SpoolSpanProcessor {
            queue: recorder.deferred_queue(),
            recorder,
            resource: None,
        }
    }

    /// The recorder it records with (for its stats).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Records one finished span (sampled or not: the caller decides),
    /// converting it on the calling thread (the exporter's: a batch
    /// processor's thread).
    pub(crate) fn record(&self, span: SpanData) {
        match &self.resource {
            Some(r) => self
                .recorder
                .record_finished_with(r, |out| fill_span(out, span)),
            None => self.recorder.record_finished(|out| fill_span(out, span)),
        }
    }
}

pub(crate) fn flush_result(r: Result<(), FlushError>, timeout: Duration) -> OTelSdkResult {
    match r {
        Ok(()) => Ok(()),
        Err(FlushError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
        Err(FlushError::ShutDown) => Err(OTelSdkError::AlreadyShutdown),
        Err(e) => Err(OTelSdkError::InternalFailure(e.to_string())),
    }
}

/// How long [`SpanProcessor::force_flush`] waits for the spool.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl SpanProcessor for SpoolSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.queue.record(Finished(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        flush_result(self.recorder.flush_timeout(FLUSH_TIMEOUT), FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.recorder.shutdown(timeout) {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    fn set_resource(&mut self, resource: &OtelResource) {
        let merged = merged_resource(self.recorder.resource(), resource);
        // Only a resource over 16 MiB fails; the recorder's own is kept then.
        self.resource = self.recorder.span_resource(merged).ok();
        if let Some(r) = &self.resource {
            self.queue.set_resource(r);
        }
    }
}

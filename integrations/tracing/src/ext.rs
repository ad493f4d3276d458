//! Joining a trace from another process, and passing the current context
//! on: an extension trait on `tracing::Span`.

use tracespool::{
    format_traceparent, format_x_cloud_trace_context, parse_traceparent,
    parse_x_cloud_trace_context, PropagationError, SpanContext,
};

use crate::layer::WithSpoolSpan;

/// Trace context on a `tracing::Span` recorded by a
/// [`TracespoolLayer`](crate::TracespoolLayer).
///
/// ```no_run
/// use tracespool_tracing::SpanExt;
///
/// # let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let span = tracing::info_span!("handle request", otel.kind = "server");
/// span.set_parent_from_traceparent(header).ok(); // right after creating it
/// let outgoing = span.traceparent(); // for the next hop's request
/// ```
pub trait SpanExt {
    /// Makes `parent` (a span of another process) this span's parent; the
    /// span joins its trace. Call it before starting children.
    fn set_remote_parent(&self, parent: SpanContext);

    /// [`SpanExt::set_remote_parent`] from a W3C `traceparent` header.
    fn set_parent_from_traceparent(&self, header: &str) -> Result<(), PropagationError> {
        self.set_remote_parent(parse_traceparent(header)?);
        Ok(())
    }

    /// [`SpanExt::set_remote_parent`] from Google's `X-Cloud-Trace-Context`.
    fn set_parent_from_x_cloud_trace_context(&self, header: &str) -> Result<(), PropagationError> {
        self.set_remote_parent(parse_x_cloud_trace_context(header)?);
        Ok(())
    }

    /// This span's context, if a tracespool layer records it.
    fn spool_context(&self) -> Option<SpanContext>;

    /// A `traceparent` header naming this span, for outgoing requests.
    fn traceparent(&self) -> Option<String> {
        self.spool_context().map(|c| format_traceparent(&c))
    }

    /// An `X-Cloud-Trace-Context` header naming this span.
    fn x_cloud_trace_context(&self) -> Option<String> {
        self.spool_context()
            .map(|c| format_x_cloud_trace_context(&c))
    }
}

impl SpanExt for tracing::Span {
    fn set_remote_parent(&self, parent: SpanContext) {
        self.with_subscriber(|(id, dispatch)| {
            if let Some(w) = dispatch.downcast_ref::<WithSpoolSpan>() {
                w.with(dispatch, id, &mut |s| s.span.set_parent(parent));
            }
        });
    }

    fn spool_context(&self) -> Option<SpanContext> {
        let mut found = None;
        self.with_subscriber(|(id, dispatch)| {
            if let Some(w) = dispatch.downcast_ref::<WithSpoolSpan>() {
                w.with(dispatch, id, &mut |s| found = Some(s.span.context()));
            }
        });
        found
    }
}

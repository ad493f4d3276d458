//! A span's identity ([`SpanContext`]) and the per-thread stack of entered
//! spans that gives a new span its parent.

use std::cell::RefCell;

use tracespool_schema::{SpanId, TraceId};

/// The identity of a span, as children and other processes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    remote: bool,
}

impl SpanContext {
    /// A context received from another process (e.g. parsed from a
    /// `traceparent` header).
    pub fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool) -> Self {
        SpanContext {
            trace_id,
            span_id,
            sampled,
            remote: true,
        }
    }

    #[inline]
    pub(crate) fn local(trace_id: TraceId, span_id: SpanId, sampled: bool) -> Self {
        SpanContext {
            trace_id,
            span_id,
            sampled,
            remote: false,
        }
    }

    /// The trace id.
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The span id.
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
    /// Whether the span is recorded (sampled).
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }
    /// Whether the context came from another process.
    #[inline]
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// The innermost entered span of this thread, if any.
    #[inline]
    pub fn current() -> Option<SpanContext> {
        CURRENT.with(|c| c.borrow().last().copied())
    }
}

thread_local! {
    static CURRENT: RefCell<Vec<SpanContext>> = const { RefCell::new(Vec::new()) };
}

#[inline]
pub(crate) fn push_current(ctx: SpanContext) {
    CURRENT.with(|c| c.borrow_mut().push(ctx));
}

#[inline]
pub(crate) fn pop_current(ctx: SpanContext) {
    CURRENT.with(|c| {
        let mut stack = c.borrow_mut();
        // Guards normally drop in reverse order; if not, remove the right one.
        if let Some(pos) = stack.iter().rposition(|x| *x == ctx) {
            stack.remove(pos);
        }
    });
}

//! A span's identity ([`SpanContext`]) and the per-thread stack of entered
//! spans that gives a new span its parent.
//!
//! The stack is a thread-local. Recording never panics, not even in a
//! destructor that runs during the thread's own teardown (after the stack
//! was freed): every access is a `try_with`, and a span started then simply
//! has no current parent.

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
        // During the thread's teardown the stack is gone: no current span.
        CURRENT
            .try_with(|c| c.try_borrow().ok().and_then(|s| s.last().copied()))
            .ok()
            .flatten()
    }
}

thread_local! {
    static CURRENT: RefCell<Vec<SpanContext>> = const { RefCell::new(Vec::new()) };
}

#[inline]
pub(crate) fn push_current(ctx: SpanContext) {
    // Entering a span during the thread's teardown makes it current for
    // nobody; it is still recorded.
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut stack) = c.try_borrow_mut() {
            stack.push(ctx);
        }
    });
}

#[inline]
pub(crate) fn pop_current(ctx: SpanContext) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut stack) = c.try_borrow_mut() {
            // Guards normally drop in reverse order; if not, remove the right one.
            if let Some(pos) = stack.iter().rposition(|x| *x == ctx) {
                stack.remove(pos);
            }
        }
    });
}

//! A span in progress ([`Span`]) and the guards that make it the thread's
//! current span ([`Entered`], [`EnteredSpan`]).

use std::marker::PhantomData;
use std::sync::Arc;

use tracespool_schema::{
    Attribute, AttributeValue, Link, LinkKind, MessageKind, SpanData, SpanId, SpanKind, Status,
    StatusCode, Str, TimeEvent, TimeEventKind, TraceId,
};

use crate::clock::now_ns;
use crate::context::{pop_current, push_current, SpanContext};
use crate::handoff::ThreadHandle;
use crate::limits;
use crate::queue::QueuedSpan;

pub(crate) struct Recording {
    pub(crate) handle: Arc<ThreadHandle>,
    pub(crate) data: QueuedSpan,
}

/// A span in progress. It ends when dropped (or at [`Span::end`]), and is
/// then queued for the spool. It is `Send`: start it on one thread or task,
/// end it on another.
///
/// A span that was sampled out records nothing but still has a context, so
/// its children and outgoing headers carry the right ids.
#[must_use = "a span ends when dropped; bind it to a variable (let _span = ...)"]
pub struct Span {
    ctx: SpanContext,
    rec: Option<Recording>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.ctx)
            .field("recording", &self.rec.is_some())
            .finish()
    }
}

impl Span {
    pub(crate) fn new(ctx: SpanContext, rec: Option<Recording>) -> Self {
        Span { ctx, rec }
    }

    /// A span that records nothing and has no valid context.
    pub fn none() -> Self {
        Span {
            ctx: SpanContext::local(TraceId([0; 16]), SpanId([0; 8]), false),
            rec: None,
        }
    }

    /// This span's context (for children and outgoing headers).
    pub fn context(&self) -> SpanContext {
        self.ctx
    }

    /// Whether this span will be written to the spool.
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    fn with<F: FnOnce(&mut SpanData)>(&mut self, f: F) {
        if let Some(r) = self.rec.as_mut() {
            f(&mut r.data)
        }
    }

    /// Sets an attribute (replacing one with the same key).
    #[inline]
    pub fn set_attribute(&mut self, key: impl Into<Str>, value: impl Into<AttributeValue>) {
        if self.rec.is_none() {
            return;
        }
        let (key, value) = (key.into(), value.into());
        self.with(|d| set_attr(d, key, value));
    }

    /// Gives the span another parent: its trace becomes the parent's (a
    /// span of another process, from a `traceparent` header, say). For
    /// adapters that learn the parent after the span started (the
    /// `tracespool-tracing` layer): spans started under this one before
    /// the change keep the old trace id.
    pub fn set_parent(&mut self, parent: SpanContext) {
        self.ctx = SpanContext::local(parent.trace_id(), self.ctx.span_id(), self.ctx.is_sampled());
        self.with(|d| {
            d.trace_id = parent.trace_id();
            d.parent_span_id = Some(parent.span_id());
            d.parent_is_remote = parent.is_remote();
        });
    }

    /// Renames the span. An empty (or blank) name is recorded as
    /// [`UNNAMED_SPAN`](tracespool_schema::UNNAMED_SPAN).
    pub fn update_name(&mut self, name: impl Into<Str>) {
        let name = name.into();
        self.with(|d| d.name = name);
    }

    /// Sets the kind.
    pub fn set_kind(&mut self, kind: SpanKind) {
        self.with(|d| d.kind = kind);
    }

    /// Sets the status.
    pub fn set_status(&mut self, code: StatusCode, message: impl Into<Str>) {
        let message = message.into();
        self.with(|d| d.status = Status { code, message });
    }

    /// Adds an annotation (a timestamped message with attributes), now.
    pub fn add_annotation(&mut self, description: impl Into<Str>, attributes: Vec<Attribute>) {
        if self.rec.is_none() {
            return;
        }
        self.add_annotation_at(now_ns(), description, attributes);
    }

    /// Adds an annotation that happened at `time_ns` (ns since the Unix
    /// epoch), e.g. an event a library reported with its own timestamp.
    pub fn add_annotation_at(
        &mut self,
        time_ns: u64,
        description: impl Into<Str>,
        attributes: Vec<Attribute>,
    ) {
        if self.rec.is_none() {
            return;
        }
        let description = description.into();
        self.with(|d| {
            let n = d
                .events
                .iter()
                .filter(|e| matches!(e.kind, TimeEventKind::Annotation { .. }))
                .count();
            if n >= limits::MAX_ANNOTATIONS {
                d.dropped.annotations += 1;
                return;
            }
            d.events.push(TimeEvent {
                time_ns,
                kind: TimeEventKind::Annotation {
                    description,
                    attributes,
                    dropped_attributes: 0,
                },
            });
        });
    }

    /// Adds a message event (a message sent or received), now.
    pub fn add_message_event(
        &mut self,
        kind: MessageKind,
        id: u64,
        uncompressed_size: u64,
        compressed_size: u64,
    ) {
        if self.rec.is_none() {
            return;
        }
        self.add_message_event_at(now_ns(), kind, id, uncompressed_size, compressed_size);
    }

    /// Adds a message event that happened at `time_ns` (ns since the Unix
    /// epoch).
    pub fn add_message_event_at(
        &mut self,
        time_ns: u64,
        kind: MessageKind,
        id: u64,
        uncompressed_size: u64,
        compressed_size: u64,
    ) {
        self.with(|d| {
            let n = d
                .events
                .iter()
                .filter(|e| matches!(e.kind, TimeEventKind::Message { .. }))
                .count();
            if n >= limits::MAX_MESSAGE_EVENTS {
                d.dropped.message_events += 1;
                return;
            }
            d.events.push(TimeEvent {
                time_ns,
                kind: TimeEventKind::Message {
                    kind,
                    id,
                    uncompressed_size,
                    compressed_size,
                },
            });
        });
    }

    /// Links another span (of this or another trace).
    pub fn add_link(&mut self, to: SpanContext, kind: LinkKind, attributes: Vec<Attribute>) {
        self.with(|d| {
            // A link to nothing (the context of `Span::none()`) cannot be
            // sent; it is counted instead.
            if d.links.len() >= limits::MAX_LINKS
                || to.trace_id().is_zero()
                || to.span_id().is_zero()
            {
                d.dropped.links += 1;
                return;
            }
            d.links.push(link_to(to, kind, attributes));
        });
    }

    /// Makes this span the thread's current span until the guard drops.
    pub fn enter(&self) -> Entered<'_> {
        enter_ctx(self.ctx)
    }

    /// Makes this span current and returns an owning guard that ends it when
    /// dropped (`let _s = recorder.span("x").entered();`).
    pub fn entered(self) -> EnteredSpan {
        push_current(self.ctx);
        EnteredSpan {
            span: self,
            _not_send: PhantomData,
        }
    }

    /// Ends the span now.
    pub fn end(self) {
        drop(self)
    }

    /// Ends the span at the given time (ns since the Unix epoch).
    pub fn end_at(mut self, end_ns: u64) {
        self.finish(end_ns);
    }

    fn finish(&mut self, end_ns: u64) {
        if let Some(Recording { handle, mut data }) = self.rec.take() {
            data.end_ns = end_ns.max(data.start_ns);
            handle.submit(data);
        }
    }
}

/// A link to the span of `to`, with its flags and remote flag.
pub(crate) fn link_to(to: SpanContext, kind: LinkKind, attributes: Vec<Attribute>) -> Link {
    let mut link = Link::new(to.trace_id(), to.span_id(), kind);
    link.attributes = attributes;
    link.trace_flags = u8::from(to.is_sampled());
    link.is_remote = to.is_remote();
    link
}

#[inline]
pub(crate) fn set_attr(d: &mut SpanData, key: Str, value: AttributeValue) {
    if key.is_empty() {
        // Cloud Trace refuses a span with an empty key; keep the span.
        d.dropped.attributes += 1;
    } else if let Some(a) = d.attributes.iter_mut().find(|a| a.key == key) {
        a.value = value;
    } else if d.attributes.len() >= limits::MAX_ATTRIBUTES {
        d.dropped.attributes += 1;
    } else {
        d.attributes.push(Attribute { key, value });
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.rec.is_some() {
            self.finish(now_ns());
        }
    }
}

/// Pushes `ctx` and returns the guard that pops it.
pub(crate) fn enter_ctx<'a>(ctx: SpanContext) -> Entered<'a> {
    push_current(ctx);
    Entered {
        ctx,
        _span: PhantomData,
    }
}

/// Guard of [`Span::enter`]: the span is current until it drops.
#[must_use = "the span is current only while the guard lives"]
pub struct Entered<'a> {
    ctx: SpanContext,
    // Borrows the span and is !Send: the current-span stack is per thread.
    _span: PhantomData<(&'a Span, *const ())>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        pop_current(self.ctx);
    }
}

/// An owned span that is the thread's current span; dropping it leaves the
/// span and ends it.
#[must_use = "the span ends when this guard drops"]
pub struct EnteredSpan {
    span: Span,
    _not_send: PhantomData<*const ()>,
}

impl EnteredSpan {
    /// Leaves the span and ends it at `end_ns` (ns since the Unix epoch).
    pub fn end_at(self, end_ns: u64) {
        self.exit().end_at(end_ns);
    }

    /// Leaves the span without ending it (e.g. to move it to another task).
    pub fn exit(self) -> Span {
        pop_current(self.span.ctx);
        let mut me = std::mem::ManuallyDrop::new(self);
        std::mem::replace(&mut me.span, Span::none())
    }
}

impl std::ops::Deref for EnteredSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}
impl std::ops::DerefMut for EnteredSpan {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl Drop for EnteredSpan {
    fn drop(&mut self) {
        pop_current(self.span.ctx);
    }
}

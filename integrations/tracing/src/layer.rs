//! The layer: one tracespool span per `tracing` span, kept in the span's
//! extensions from `on_new_span` to `on_close`.

use std::any::TypeId;
use std::marker::PhantomData;

use tracespool::{Attribute, Recorder, SpanContext, StatusCode};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use crate::fields::{Fields, Steering};

/// The tracespool span of a `tracing` span, in its extensions.
pub(crate) struct SpoolSpan {
    pub(crate) span: tracespool::Span,
    /// Whether `otel.status_code` set the status (an ERROR event then
    /// leaves it alone).
    status_is_explicit: bool,
}

impl SpoolSpan {
    fn steer(&mut self, s: Steering) {
        if let Some(name) = s.name {
            self.span.update_name(name);
        }
        if let Some(kind) = s.kind {
            self.span.set_kind(kind);
        }
        if let Some(code) = s.status {
            self.span
                .set_status(code, s.status_message.clone().unwrap_or_default());
            self.status_is_explicit = true;
        } else if let Some(message) = s.status_message {
            self.span.set_status(StatusCode::Error, message);
        }
        if let Some(e) = s.error {
            if !self.status_is_explicit {
                self.span.set_status(StatusCode::Error, e);
            }
        }
    }
}

/// A function that finds the [`SpoolSpan`] of a span id in a dispatcher
/// whose subscriber type only the layer knows (see [`crate::SpanExt`]).
#[derive(Clone, Copy)]
pub(crate) struct WithSpoolSpan(
    #[allow(clippy::type_complexity)] fn(&Dispatch, &Id, &mut dyn FnMut(&mut SpoolSpan)),
);

impl WithSpoolSpan {
    pub(crate) fn with(&self, dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut SpoolSpan)) {
        (self.0)(dispatch, id, f)
    }
}

/// A `tracing_subscriber` layer that records every `tracing` span into a
/// tracespool spool through a [`Recorder`]. See the crate docs for what
/// becomes what.
pub struct TracespoolLayer<S> {
    recorder: Recorder,
    with_span: WithSpoolSpan,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> std::fmt::Debug for TracespoolLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracespoolLayer")
            .field("recorder", &self.recorder)
            .finish()
    }
}

impl<S> TracespoolLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// A layer recording into `recorder`'s spool.
    pub fn new(recorder: Recorder) -> Self {
        TracespoolLayer {
            recorder,
            with_span: WithSpoolSpan(Self::with_spool_span),
            _subscriber: PhantomData,
        }
    }

    fn with_spool_span(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut SpoolSpan)) {
        let Some(subscriber) = dispatch.downcast_ref::<S>() else {
            return;
        };
        let Some(span) = subscriber.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(s) = ext.get_mut::<SpoolSpan>() {
            f(s);
        }
    }
}

/// The context of the nearest span, from `span` up, that this layer
/// recorded.
fn recorded_context<S>(span: Option<SpanRef<'_, S>>) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?
        .scope()
        .find_map(|s| s.extensions().get::<SpoolSpan>().map(|x| x.span.context()))
}

impl<S> Layer<S> for TracespoolLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = if let Some(p) = attrs.parent() {
            recorded_context(ctx.span(p))
        } else if attrs.is_contextual() {
            recorded_context(ctx.lookup_current())
        } else {
            None
        };
        let meta = attrs.metadata();
        let s = self
            .recorder
            .span_builder(meta.name())
            .parent_opt(parent)
            .start();
        // Fields go straight into the pooled span.
        let mut fields = Fields::into(s);
        attrs.record(&mut fields);
        let Fields {
            attributes: mut s,
            steering,
            ..
        } = fields;
        s.set_attribute("code.namespace", meta.target());
        let mut spool = SpoolSpan {
            span: s,
            status_is_explicit: false,
        };
        spool.steer(steering);
        span.extensions_mut().insert(spool);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(spool) = ext.get_mut::<SpoolSpan>() else {
            return;
        };
        // Borrow the span out of its slot for the visit, then put it back.
        let span = std::mem::replace(&mut spool.span, tracespool::Span::none());
        let mut fields = Fields::into(span);
        values.record(&mut fields);
        spool.span = fields.attributes;
        spool.steer(fields.steering);
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(to) = recorded_context(ctx.span(follows)) else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(spool) = ext.get_mut::<SpoolSpan>() {
            spool
                .span
                .add_link(to, tracespool::LinkKind::Unspecified, Vec::new());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The span the event belongs to, or the nearest recorded ancestor.
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let span = if span.extensions().get::<SpoolSpan>().is_some() {
            span
        } else {
            let Some(s) = span
                .scope()
                .find(|s| s.extensions().get::<SpoolSpan>().is_some())
            else {
                return;
            };
            s
        };
        let time_ns = tracespool::now_ns();
        let meta = event.metadata();
        let mut fields = Fields::into(Vec::with_capacity(4));
        event.record(&mut fields);
        let Fields {
            mut attributes,
            message,
            ..
        } = fields;
        attributes.push(Attribute::new("level", meta.level().as_str()));
        // The target, when it is not the span's own (`code.namespace`).
        if meta.target() != span.metadata().target() {
            attributes.push(Attribute::new("target", meta.target()));
        }
        let description = message.unwrap_or_else(|| meta.name().to_owned());
        let mut ext = span.extensions_mut();
        let Some(spool) = ext.get_mut::<SpoolSpan>() else {
            return;
        };
        if *meta.level() == tracing_core::Level::ERROR && !spool.status_is_explicit {
            spool
                .span
                .set_status(StatusCode::Error, description.clone());
        }
        spool
            .span
            .add_annotation_at(time_ns, description, attributes);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        // Dropping the span ends it now.
        let spool = span.extensions_mut().remove::<SpoolSpan>();
        drop(spool);
    }

    // The pattern `tracing-opentelemetry` uses to reach a layer through a
    // `Dispatch` whose subscriber type is unknown to the caller: the
    // pointers returned point into `self`, which outlives the call.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<WithSpoolSpan>() {
            Some(&self.with_span as *const WithSpoolSpan as *const ())
        } else {
            None
        }
    }
}

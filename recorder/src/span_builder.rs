//! [`SpanBuilder`]: a span with an explicit parent, kind, attributes,
//! links or start time.

use tracespool_schema::{Attribute, AttributeValue, Link, LinkKind, SpanKind, Str};

use crate::context::SpanContext;
use crate::limits;
use crate::recorder::Recorder;
use crate::span::{set_attr, Span};

impl Recorder {
    /// A builder for a span with an explicit parent, kind, attributes, links
    /// or start time.
    pub fn span_builder(&self, name: impl Into<Str>) -> SpanBuilder {
        SpanBuilder {
            recorder: self.clone(),
            name: name.into(),
            parent: ParentChoice::Current,
            kind: SpanKind::Unspecified,
            attributes: Vec::new(),
            links: Vec::new(),
            start_ns: None,
        }
    }
}

/// Builds a span with explicit options. From [`Recorder::span_builder`].
#[must_use = "call .start() to start the span"]
pub struct SpanBuilder {
    pub(crate) recorder: Recorder,
    pub(crate) name: Str,
    pub(crate) parent: ParentChoice,
    pub(crate) kind: SpanKind,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) links: Vec<Link>,
    pub(crate) start_ns: Option<u64>,
}

pub(crate) enum ParentChoice {
    Current,
    Root,
    Explicit(SpanContext),
}

impl SpanBuilder {
    /// Uses this parent instead of the thread's current span.
    pub fn parent(mut self, parent: SpanContext) -> Self {
        self.parent = ParentChoice::Explicit(parent);
        self
    }
    /// Uses this parent if `Some`, else starts a new trace.
    pub fn parent_opt(mut self, parent: Option<SpanContext>) -> Self {
        self.parent = match parent {
            Some(p) => ParentChoice::Explicit(p),
            None => ParentChoice::Root,
        };
        self
    }
    /// Starts a new trace, ignoring the current span.
    pub fn root(mut self) -> Self {
        self.parent = ParentChoice::Root;
        self
    }
    /// Sets the kind.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }
    /// Adds an attribute.
    pub fn attribute(mut self, key: impl Into<Str>, value: impl Into<AttributeValue>) -> Self {
        self.attributes.push(Attribute::new(key, value));
        self
    }
    /// Adds a link.
    pub fn link(mut self, to: SpanContext, kind: LinkKind, attributes: Vec<Attribute>) -> Self {
        self.links.push(crate::span::link_to(to, kind, attributes));
        self
    }
    /// Sets the start time (ns since the Unix epoch) instead of now.
    pub fn start_time_ns(mut self, start_ns: u64) -> Self {
        self.start_ns = Some(start_ns);
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span {
        let SpanBuilder {
            recorder,
            name,
            parent,
            kind,
            attributes,
            links,
            start_ns,
        } = self;
        let parent = match parent {
            ParentChoice::Current => SpanContext::current(),
            ParentChoice::Root => None,
            ParentChoice::Explicit(p) => Some(p),
        };
        recorder.start_with(name, parent, kind, start_ns, |d| {
            for a in attributes {
                set_attr(d, a.key, a.value);
            }
            let room = limits::MAX_LINKS.saturating_sub(d.links.len());
            d.dropped.links += links.len().saturating_sub(room) as u32;
            d.links.extend(links.into_iter().take(room));
        })
    }
}

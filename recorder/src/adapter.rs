//! The API for adapters: integrations that already have a finished span
//! with its own ids, times, scope and resource (OpenTelemetry's
//! `SpanData`, a `tracing` span) and want it in the spool.
//!
//! [`Recorder::record_finished`] takes a cleared span box from the calling
//! thread's pool, lets the adapter fill every field, applies the per-span
//! caps of [`crate::limits`] and queues it: the same hot path, lanes,
//! drop policy and counters as a native [`crate::Span`]. Its vectors keep
//! their capacity between spans, so an adapter that `extend`s them
//! allocates nothing in the steady state beyond what its input forces.
//!
//! A span recorded here is not given to the recorder's [`crate::Sampler`]:
//! an adapter's spans were sampled by their own framework. Adapters whose
//! process has another resource than the recorder's (an OpenTelemetry
//! provider's) record with a [`SpanResource`]; the writer encodes the
//! resource once per [`SpanResource`], not per span.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracespool_schema::{EncodeError, RecordEncoder, Resource, SpanData, TimeEventKind};

use crate::limits;
use crate::queue::QueuedSpan;
use crate::recorder::Recorder;

/// A resource for the spans of an adapter, made by
/// [`Recorder::span_resource`]. Cheap to clone; valid with the recorder
/// (and its clones) that made it.
#[derive(Clone)]
pub struct SpanResource {
    id: u32,
    resource: Arc<Resource>,
}

impl std::fmt::Debug for SpanResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SpanResource").field(&self.resource).finish()
    }
}

impl SpanResource {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
}

impl Recorder {
    /// The resource this recorder attaches to its spans (service name,
    /// host, process, and what the builder added).
    pub fn resource(&self) -> &Resource {
        &self.shared.resource
    }

    /// A resource that [`Recorder::record_finished_with`] attaches instead
    /// of the recorder's. The recorder keeps one entry per distinct
    /// resource (asking twice for the same one gives the same entry), and
    /// its writer encodes each once. Fails only if the resource alone
    /// exceeds the record size limit (16 MiB).
    pub fn span_resource(&self, resource: Resource) -> Result<SpanResource, EncodeError> {
        let mut list = self
            .shared
            .span_resources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let index = match list.iter().position(|(r, _)| *r == resource) {
            Some(i) => i,
            None => {
                let encoder = Arc::new(RecordEncoder::new(&resource)?);
                list.push((resource.clone(), encoder));
                list.len() - 1
            }
        };
        Ok(SpanResource {
            id: index as u32 + 1,
            resource: Arc::new(resource),
        })
    }

    /// Records one finished span that `fill` describes completely: ids,
    /// parent, times, attributes, events, links, status, flags, scope.
    /// `fill` receives a cleared span (trace flags "sampled", everything
    /// else empty or zero) whose vectors have capacity from earlier spans.
    ///
    /// What is over a cap of [`crate::limits`] is dropped and counted in
    /// the span's `dropped` counts; an end before the start is set to the
    /// start. Never blocks (unless the recorder was built with
    /// [`crate::OnFull::Block`]), never panics, returns nothing: drops are
    /// counted in [`Recorder::stats`]. While the queue stays full after
    /// this thread's last span was dropped, `fill` is not called: the span
    /// is counted as dropped without being built.
    #[inline]
    pub fn record_finished(&self, fill: impl FnOnce(&mut SpanData)) {
        self.record_finished_inner(None, fill)
    }

    /// As [`Recorder::record_finished`], with `resource` instead of the
    /// recorder's own.
    #[inline]
    pub fn record_finished_with(&self, resource: &SpanResource, fill: impl FnOnce(&mut SpanData)) {
        self.record_finished_inner(Some(resource), fill)
    }

    fn record_finished_inner(
        &self,
        resource: Option<&SpanResource>,
        fill: impl FnOnce(&mut SpanData),
    ) {
        if self.shared.shutdown.load(Ordering::Relaxed) {
            self.shared.dropped_other.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let handle = self.thread_handle();
        if handle.drop_before_building() {
            return;
        }
        let mut data = self.shared.lanes.take(handle.lane);
        fill(&mut data);
        finish(&mut data, resource.map_or(0, |r| r.id));
        handle.submit(data);
    }
}

/// What every adapter's span gets once filled: the caps, an end not
/// before the start, its resource.
pub(crate) fn finish(data: &mut QueuedSpan, resource: u32) {
    apply_caps(data);
    data.end_ns = data.end_ns.max(data.start_ns);
    data.set_resource(resource);
}

/// Truncates what is over the recorder's per-span caps, counting it.
fn apply_caps(d: &mut SpanData) {
    fn cut<T>(v: &mut Vec<T>, max: usize, dropped: &mut u32) {
        if v.len() > max {
            *dropped = dropped.saturating_add((v.len() - max) as u32);
            v.truncate(max);
        }
    }
    cut(
        &mut d.attributes,
        limits::MAX_ATTRIBUTES,
        &mut d.dropped.attributes,
    );
    cut(&mut d.links, limits::MAX_LINKS, &mut d.dropped.links);
    let (mut annotations, mut messages) = (0usize, 0usize);
    let dropped = &mut d.dropped;
    d.events.retain(|e| match e.kind {
        TimeEventKind::Annotation { .. } => {
            annotations += 1;
            let keep = annotations <= limits::MAX_ANNOTATIONS;
            if !keep {
                dropped.annotations = dropped.annotations.saturating_add(1);
            }
            keep
        }
        TimeEventKind::Message { .. } => {
            messages += 1;
            let keep = messages <= limits::MAX_MESSAGE_EVENTS;
            if !keep {
                dropped.message_events = dropped.message_events.saturating_add(1);
            }
            keep
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::{Attribute, TimeEvent};

    #[test]
    fn caps_cut_and_count() {
        let mut d = SpanData::new(
            tracespool_schema::TraceId([1; 16]),
            tracespool_schema::SpanId([1; 8]),
            "x",
        );
        d.attributes = (0..limits::MAX_ATTRIBUTES + 3)
            .map(|i| Attribute::new(format!("k{i}"), 1i64))
            .collect();
        d.events = (0..limits::MAX_ANNOTATIONS + 2)
            .map(|i| TimeEvent {
                time_ns: i as u64,
                kind: TimeEventKind::Annotation {
                    description: "e".into(),
                    attributes: vec![],
                    dropped_attributes: 0,
                },
            })
            .collect();
        d.dropped.attributes = 1;
        apply_caps(&mut d);
        assert_eq!(d.attributes.len(), limits::MAX_ATTRIBUTES);
        assert_eq!(d.dropped.attributes, 4);
        assert_eq!(d.events.len(), limits::MAX_ANNOTATIONS);
        assert_eq!(d.dropped.annotations, 2);
        // The first ones are kept.
        assert_eq!(d.events[0].time_ns, 0);
    }
}

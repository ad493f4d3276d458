//! What every adapter's span gets once filled, before it is queued:
//! the per-span caps of [`crate::limits`] (what is over them is dropped and
//! counted), an end not before its start, and its resource.

use tracespool_schema::{SpanData, TimeEventKind};

use crate::limits;
use crate::queue::QueuedSpan;

/// Caps a filled span, clamps its end, and sets its resource id.
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

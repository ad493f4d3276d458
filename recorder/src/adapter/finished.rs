//! [`Recorder::record_finished`]: a finished span filled on the caller's
//! thread into a pooled box.

use tracespool_schema::SpanData;

use super::resource::SpanResource;
use crate::caps::finish;
use crate::handoff::ThreadHandle;
use crate::recorder::Recorder;

/// Recording adapters' finished spans (see [`crate::adapter`]).
impl Recorder {
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
        let sh = &*self.shared;
        if sh.signals.is_shutdown() {
            sh.counters.dropped_other(1);
            return;
        }
        let handle = ThreadHandle::for_thread(&self.shared);
        if handle.drop_before_building() {
            return;
        }
        let mut data = sh.lanes.take(handle.lane);
        fill(&mut data);
        finish(&mut data, resource.map_or(0, |r| r.id()));
        handle.submit(data);
    }
}

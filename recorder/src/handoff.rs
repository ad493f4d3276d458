//! The hand-off of a finished span from the recording thread to the
//! writer thread: each thread's handle on the recorder ([`ThreadHandle`]),
//! and what happens when the queue is full ([`crate::OnFull`]).
//!
//! A span ends on the caller's thread by pushing its pooled box onto the
//! thread's lane ([`crate::queue::Lanes`]); the writer is woken when a lane
//! passes the high-water mark, at the flush interval, or on a flush. The
//! only shared line a caller writes is its lane; drop counters are per lane.

use std::sync::Arc;

use crate::policy::OnFull;
use crate::queue::QueuedSpan;
use crate::shared::Shared;

/// A per-thread reference to a recorder. Every span holds one, so starting
/// and ending spans on a thread changes a reference count that only that
/// thread touches, instead of one count shared (and bounced between cores)
/// by every thread. Each thread caches the handle of the last recorder it
/// used.
pub(crate) struct ThreadHandle {
    pub(crate) shared: Arc<Shared>,
    /// This thread's lane of the queue (see [`crate::queue::Lanes`]).
    pub(crate) lane: usize,
}

thread_local! {
    /// The last span this thread ended was dropped on a full queue.
    static DROPPED_LAST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PUSHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static HANDLE: std::cell::RefCell<Option<Arc<ThreadHandle>>> = const { std::cell::RefCell::new(None) };
}

impl ThreadHandle {
    /// This thread's handle on the recorder of `shared`: the cached one,
    /// or a new one (with the next lane) that is cached from now on. During
    /// the thread's teardown, when the cache is gone, a fresh handle.
    pub(crate) fn for_thread(shared: &Arc<Shared>) -> Arc<ThreadHandle> {
        let make = || {
            Arc::new(ThreadHandle {
                shared: shared.clone(),
                lane: shared.assign_lane(),
            })
        };
        HANDLE
            .try_with(|h| {
                let Ok(mut h) = h.try_borrow_mut() else {
                    return make();
                };
                match &*h {
                    Some(t) if Arc::ptr_eq(&t.shared, shared) => t.clone(),
                    _ => {
                        let t = make();
                        *h = Some(t.clone());
                        t
                    }
                }
            })
            .unwrap_or_else(|_| make())
    }
}

impl ThreadHandle {
    /// For a span not built yet (an adapter's): whether it would be
    /// dropped on a full queue anyway, in which case the drop is counted
    /// now and the caller skips the work of building it. Checked only
    /// after this thread's last span was dropped (reading every lane's
    /// fill costs cache misses): an overloaded application then pays less
    /// per dropped span, not more.
    #[inline]
    pub(crate) fn drop_before_building(&self) -> bool {
        if !DROPPED_LAST.try_with(|d| d.get()).unwrap_or(false) {
            return false;
        }
        let sh = &*self.shared;
        if sh.settings.on_full == OnFull::DropNewest && sh.lanes.is_full() {
            sh.lanes.count_drop(self.lane);
            sh.signals.wake_writer();
            return true;
        }
        let _ = DROPPED_LAST.try_with(|d| d.set(false));
        false
    }

    /// Queues a finished span for the writer.
    #[inline]
    pub(crate) fn submit(&self, data: QueuedSpan) {
        let sh = &*self.shared;
        let mut q = data;
        loop {
            // Reading the lane's length touches the cache lines the writer
            // is updating: do it every 32nd span of a thread.
            let n = PUSHES
                .try_with(|c| {
                    let n = c.get().wrapping_add(1);
                    c.set(n);
                    n
                })
                .unwrap_or(1);
            match sh.lanes.push(self.lane, q, n.is_multiple_of(32)) {
                Ok(wake) => {
                    if wake {
                        sh.signals.wake_writer();
                    }
                    return;
                }
                Err(back) => {
                    if sh.settings.on_full == OnFull::DropNewest || sh.signals.is_shutdown() {
                        let _ = DROPPED_LAST.try_with(|d| d.set(true));
                        sh.lanes.count_drop(self.lane);
                        sh.lanes.recycle(back);
                        sh.signals.wake_writer();
                        return;
                    }
                    q = back;
                    sh.signals.wake_writer();
                    sh.signals.wait_for_space(|| sh.lanes.is_full());
                }
            }
        }
    }
}

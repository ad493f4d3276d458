//! What a recorder's threads share, in named parts: the queue
//! ([`Lanes`]) and the adapters' queues ([`DeferredQueues`]), the resources
//! ([`Resources`]), the counters ([`Counters`]), the signals between the
//! threads ([`Signals`]), and the settings fixed at build time. Each part
//! keeps its state private and changes it through methods named for the
//! event; no module writes another's fields.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::counters::Counters;
use crate::deferred_queues::DeferredQueues;
use crate::policy::OnFull;
use crate::queue::Lanes;
use crate::resources::Resources;
use crate::sampler::Sampler;
use crate::signals::Signals;

/// The state a recorder's threads share.
pub(crate) struct Shared {
    /// The queue to the writer, in lanes, with the span pools.
    pub(crate) lanes: Lanes,
    /// Adapters' queues, built on the writer.
    pub(crate) deferred: DeferredQueues,
    /// The resources spans are written with.
    pub(crate) resources: Resources,
    /// This recorder's counters.
    pub(crate) counters: Counters,
    /// Wake-ups, flushes, shutdown, waits for room.
    pub(crate) signals: Signals,
    /// The settings, fixed at build time.
    pub(crate) settings: Settings,
    /// Lanes handed out so far (round robin).
    next_lane: AtomicUsize,
}

/// A recorder's settings, fixed at build time.
pub(crate) struct Settings {
    /// What a full queue does.
    pub(crate) on_full: OnFull,
    /// Which new traces are recorded.
    pub(crate) sampler: Sampler,
    /// Spans queued before the writer is woken early.
    pub(crate) high_water: usize,
    /// Capacity of the queue, in spans (of each deferred queue too).
    pub(crate) queue_capacity: usize,
}

impl Shared {
    /// The shared state of a new recorder.
    pub(crate) fn new(lanes: Lanes, resources: Resources, settings: Settings) -> Self {
        Shared {
            lanes,
            deferred: DeferredQueues::default(),
            resources,
            counters: Counters::default(),
            signals: Signals::default(),
            settings,
            next_lane: AtomicUsize::new(0),
        }
    }

    /// The lane for a new thread handle or deferred queue (round robin).
    pub(crate) fn assign_lane(&self) -> usize {
        self.next_lane.fetch_add(1, Ordering::Relaxed) % self.lanes.count()
    }

    /// Spans queued for the writer: in the lanes and deferred queues.
    pub(crate) fn queued(&self) -> usize {
        self.lanes.len() + self.deferred.len()
    }

    /// Spans dropped on a full queue: lanes and deferred queues.
    pub(crate) fn dropped_queue_full(&self) -> u64 {
        self.lanes.dropped() + self.deferred.dropped()
    }
}

//! What recording does when the queue to the writer thread is full.

/// What recording does when the queue to the writer thread is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnFull {
    /// Drop the span being ended and count it (`dropped_queue_full`). The
    /// caller never waits. The default.
    #[default]
    DropNewest,
    /// Wait until the writer makes room (the caller may block; nothing is
    /// dropped while the spool is writable). For batch jobs and load tests.
    Block,
}

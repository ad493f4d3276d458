//! Per-span caps applied while recording, so one runaway span cannot grow
//! without bound. What is over a cap is dropped and counted in the span's
//! `dropped` counts. (Each destination's own, lower limits are applied by
//! the uploader.)

/// Attributes kept per span.
pub const MAX_ATTRIBUTES: usize = 128;
/// Annotations kept per span.
pub const MAX_ANNOTATIONS: usize = 128;
/// Message events kept per span.
pub const MAX_MESSAGE_EVENTS: usize = 128;
/// Links kept per span.
pub const MAX_LINKS: usize = 128;

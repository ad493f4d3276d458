//! Cloud Trace v2's documented limits (`../shared/reference/cloud-trace-api.md`).

/// Bytes of a display name.
pub const DISPLAY_NAME_BYTES: usize = 128;
/// Bytes of an attribute key.
pub const KEY_BYTES: usize = 128;
/// Bytes of a string attribute value or annotation description.
pub const STRING_VALUE_BYTES: usize = 256;
/// Attributes per span (and per link).
pub const ATTRIBUTES: usize = 32;
/// Attributes per annotation.
pub const ANNOTATION_ATTRIBUTES: usize = 4;
/// Annotations per span.
pub const ANNOTATIONS: usize = 32;
/// Message events per span.
pub const MESSAGE_EVENTS: usize = 128;
/// Links per span.
pub const LINKS: usize = 128;

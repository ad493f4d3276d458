//! [`SpanResource`]: a resource for the spans of an adapter.

use std::sync::Arc;

use tracespool_schema::{EncodeError, Resource};

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
    /// The id spans carry for this resource (see `crate::resources`).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
}

/// The resources of adapters.
impl Recorder {
    /// The resource this recorder attaches to its spans (service name,
    /// host, process, and what the builder added).
    pub fn resource(&self) -> &Resource {
        self.shared.resources.own()
    }

    /// A resource that [`Recorder::record_finished_with`] and
    /// [`crate::adapter::DeferredQueue::set_resource`] attach instead of
    /// the recorder's. The recorder keeps one entry per distinct resource
    /// (asking twice for the same one gives the same entry), and its
    /// writer encodes each once. Fails only if the resource alone exceeds
    /// the record size limit (16 MiB).
    pub fn span_resource(&self, resource: Resource) -> Result<SpanResource, EncodeError> {
        let id = self.shared.resources.register(&resource)?;
        Ok(SpanResource {
            id,
            resource: Arc::new(resource),
        })
    }
}

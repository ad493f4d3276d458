//! The resources a recorder's spans are written with: its own, and the
//! ones adapters register ([`crate::adapter::SpanResource`]), each encoded
//! once.
//!
//! A span carries its resource as an id (0: the recorder's own; `i + 1`:
//! the `i`-th registered), not an `Arc`: a reference count shared by every
//! span of an adapter was the hottest line of its hot path. The registry
//! is append-only, one entry per distinct resource, so an id stays valid
//! for the recorder's life; the writer keeps its own copy of the encoders
//! and refreshes it when it meets an id it does not know yet.

use std::sync::{Arc, Mutex};

use tracespool_schema::{EncodeError, RecordEncoder, Resource};

/// The recorder's resources.
pub(crate) struct Resources {
    own: Resource,
    own_encoder: RecordEncoder,
    registered: Mutex<Vec<(Resource, Arc<RecordEncoder>)>>,
}

impl Resources {
    /// The recorder's own resource.
    pub(crate) fn new(own: Resource) -> Result<Self, EncodeError> {
        Ok(Resources {
            own_encoder: RecordEncoder::new(&own)?,
            own,
            registered: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Resource, Arc<RecordEncoder>)>> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorder's own resource.
    pub(crate) fn own(&self) -> &Resource {
        &self.own
    }

    /// The id of `resource` (registered now if it is new). Fails only if
    /// the resource alone exceeds the record size limit.
    pub(crate) fn register(&self, resource: &Resource) -> Result<u32, EncodeError> {
        let mut list = self.lock();
        let index = match list.iter().position(|(r, _)| r == resource) {
            Some(i) => i,
            None => {
                let encoder = Arc::new(RecordEncoder::new(resource)?);
                list.push((resource.clone(), encoder));
                list.len() - 1
            }
        };
        Ok(index as u32 + 1)
    }

    /// The encoder of resource `id`. `cache` is the writer's copy of the
    /// registered encoders, refreshed here when `id` is newer than it; an
    /// unknown id falls back to the recorder's own resource.
    pub(crate) fn encoder<'a>(
        &'a self,
        id: u32,
        cache: &'a mut Vec<Arc<RecordEncoder>>,
    ) -> &'a RecordEncoder {
        if id == 0 {
            return &self.own_encoder;
        }
        let i = id as usize - 1;
        if i >= cache.len() {
            *cache = self.lock().iter().map(|(_, e)| e.clone()).collect();
        }
        cache.get(i).map_or(&self.own_encoder, |e| &**e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::Attribute;

    #[test]
    fn one_id_per_distinct_resource() {
        let r = Resources::new(Resource::new(vec![Attribute::new("service.name", "own")])).unwrap();
        let a = Resource::new(vec![Attribute::new("service.name", "a")]);
        let b = Resource::new(vec![Attribute::new("service.name", "b")]);
        let (ia, ib) = (r.register(&a).unwrap(), r.register(&b).unwrap());
        assert_eq!((ia, ib), (1, 2));
        assert_eq!(
            r.register(&a).unwrap(),
            ia,
            "the same resource, the same id"
        );
        let mut cache = Vec::new();
        // Each id's encoder is the registered one; 0 and unknown ids are the own.
        let own = r.encoder(0, &mut cache) as *const RecordEncoder;
        assert_eq!(r.encoder(99, &mut cache) as *const _, own);
        assert_ne!(r.encoder(ia, &mut cache) as *const _, own);
        assert_eq!(cache.len(), 2);
    }
}

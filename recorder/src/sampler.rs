//! Sampling decisions, made once when a span starts.

use tracespool_schema::TraceId;

/// Decides whether a new span is recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// Record every span.
    AlwaysOn,
    /// Record none (ids are still made, so context still propagates).
    AlwaysOff,
    /// Record a fraction of traces, decided by the trace id alone, so every
    /// process that sees the same trace id decides the same way. Values are
    /// clamped to `0.0..=1.0`.
    TraceIdRatio(f64),
    /// Follow the parent's decision when there is a parent (local or
    /// remote); use the inner sampler for roots.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    /// `ParentBased(AlwaysOn)`, as OpenTelemetry's default.
    fn default() -> Self {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

impl Sampler {
    /// Whether to record a span of `trace_id` whose parent (if any) was
    /// sampled or not.
    pub fn should_sample(&self, trace_id: TraceId, parent_sampled: Option<bool>) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_sample(*ratio, trace_id),
            Sampler::ParentBased(root) => match parent_sampled {
                Some(p) => p,
                None => root.should_sample(trace_id, None),
            },
        }
    }
}

fn ratio_sample(ratio: f64, trace_id: TraceId) -> bool {
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    if ratio >= 1.0 {
        return true;
    }
    // The low 8 bytes of the id, as OpenTelemetry's TraceIdRatioBased does;
    // 63 bits keep the comparison exact in u64.
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id.0[8..]);
    let x = u64::from_be_bytes(low) >> 1;
    let threshold = (ratio * (1u64 << 63) as f64) as u64;
    x < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_close_and_deterministic() {
        let s = Sampler::TraceIdRatio(0.25);
        let ids: Vec<TraceId> = (0..40_000).map(|_| TraceId::random()).collect();
        let n = ids.iter().filter(|t| s.should_sample(**t, None)).count();
        assert!((9_000..11_000).contains(&n), "sampled {n} of 40000 at 0.25");
        for t in &ids[..100] {
            assert_eq!(s.should_sample(*t, None), s.should_sample(*t, None));
        }
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(ids[0], None));
        assert!(Sampler::TraceIdRatio(1.0).should_sample(ids[0], None));
        assert!(!Sampler::TraceIdRatio(f64::NAN).should_sample(ids[0], None));
    }

    #[test]
    fn parent_based_follows_parent() {
        let s = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let t = TraceId::random();
        assert!(s.should_sample(t, Some(true)));
        assert!(!s.should_sample(t, Some(false)));
        assert!(!s.should_sample(t, None));
        assert!(Sampler::default().should_sample(t, None));
    }
}

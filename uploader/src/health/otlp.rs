//! The metrics as an OTLP `ExportMetricsServiceRequest` (protobuf), for
//! `POST /v1/metrics` on a collector: one ResourceMetrics per spool, its
//! resource naming the uploader, the host and the spool; gauges as
//! gauges, the spool's counters as cumulative monotonic sums whose start
//! is when this uploader first read them (what a collector's Prometheus
//! receiver does for a counter of unknown start).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric as OtlpMetric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::metrics::{Kind, Metric, Number};

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// The resource the metrics describe.
#[derive(Debug, Clone, PartialEq)]
pub struct Reporter {
    /// `host.name`.
    pub host: String,
    /// `tracespool.spool.path`.
    pub spool: String,
}

/// The request carrying `metrics`, read at `now_ns`; counters count
/// from `start_ns`.
pub fn request(
    metrics: &[Metric],
    reporter: &Reporter,
    start_ns: u64,
    now_ns: u64,
) -> ExportMetricsServiceRequest {
    let point = |m: &Metric| NumberDataPoint {
        start_time_unix_nano: if m.kind == Kind::Counter { start_ns } else { 0 },
        time_unix_nano: now_ns,
        value: Some(match m.value {
            Number::Int(i) => number_data_point::Value::AsInt(i64::try_from(i).unwrap_or(i64::MAX)),
            Number::Float(f) => number_data_point::Value::AsDouble(f),
        }),
        ..Default::default()
    };
    let metrics = metrics
        .iter()
        .map(|m| OtlpMetric {
            name: m.otlp_name.clone(),
            description: m.description.clone(),
            unit: m.unit.to_owned(),
            data: Some(match m.kind {
                Kind::Gauge => metric::Data::Gauge(Gauge {
                    data_points: vec![point(m)],
                }),
                Kind::Counter => metric::Data::Sum(Sum {
                    data_points: vec![point(m)],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            }),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "tracespool-uploader".into()),
                    kv("service.version", env!("CARGO_PKG_VERSION").into()),
                    kv("host.name", reporter.host.clone()),
                    kv("tracespool.spool.path", reporter.spool.clone()),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "tracespool-uploader".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::{metrics, tests::health};
    use super::*;

    #[test]
    fn gauges_and_cumulative_counters_under_one_resource() {
        let m = metrics(&health());
        let r = Reporter {
            host: "edge-17".into(),
            spool: "/var/lib/app/traces.spool".into(),
        };
        let req = request(&m, &r, 5, 9);
        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert!(attrs.iter().any(|a| a.key == "host.name"));
        let ms = &rm.scope_metrics[0].metrics;
        assert_eq!(ms.len(), m.len());
        let pending = ms
            .iter()
            .find(|x| x.name == "tracespool.spool.pending.spans")
            .unwrap();
        let Some(metric::Data::Gauge(g)) = &pending.data else {
            panic!("a gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(12))
        );
        let uploaded = ms
            .iter()
            .find(|x| x.name == "tracespool.spool.uploaded")
            .unwrap();
        let Some(metric::Data::Sum(s)) = &uploaded.data else {
            panic!("a sum")
        };
        assert!(s.is_monotonic);
        assert_eq!(
            s.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(s.data_points[0].start_time_unix_nano, 5);
        assert_eq!(s.data_points[0].time_unix_nano, 9);
    }
}

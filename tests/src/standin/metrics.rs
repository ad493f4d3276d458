//! The stand-in's OTLP metrics receiver (`POST /v1/metrics`), as a
//! collector takes them: protobuf, gzip or not, the collector's required
//! headers; each request is kept as name → value with its resource and
//! the headers that matter to the tests (whether a token came along).

use std::io::Read as _;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message as _;

use super::reply::json_reply;
use super::state::{ReceivedMetrics, Shared};

pub(super) fn handle_metrics(req: crate::http::Request, state: &Shared) -> crate::http::Reply {
    let refuse = |status: u16, why: &str| {
        json_reply(status, serde_json::json!({"code": 3, "message": why}), None)
    };
    if req.method != "POST" {
        return refuse(405, "/v1/metrics takes POST");
    }
    let required = state.0.lock().unwrap().otlp.required_headers.clone();
    for (k, v) in &required {
        if req.header(k) != Some(v.as_str()) {
            return refuse(401, &format!("header {k} missing or wrong"));
        }
    }
    if req.header("Content-Type") != Some("application/x-protobuf") {
        return refuse(415, "Content-Type must be application/x-protobuf");
    }
    let body = match req.header("Content-Encoding") {
        None | Some("identity") => req.body.clone(),
        Some("gzip") => {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(&req.body[..])
                .read_to_end(&mut out)
                .is_err()
            {
                return refuse(400, "body is not valid gzip");
            }
            out
        }
        Some(_) => return refuse(415, "unknown Content-Encoding"),
    };
    let Ok(request) = ExportMetricsServiceRequest::decode(&body[..]) else {
        return refuse(400, "not an ExportMetricsServiceRequest");
    };
    let mut got = ReceivedMetrics {
        had_authorization: req.header("Authorization").is_some(),
        ..Default::default()
    };
    for rm in &request.resource_metrics {
        for a in rm.resource.iter().flat_map(|r| &r.attributes) {
            if let Some(any_value::Value::StringValue(v)) =
                a.value.as_ref().and_then(|v| v.value.as_ref())
            {
                got.resource.insert(a.key.clone(), v.clone());
            }
        }
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let (kind, points) = match &m.data {
                Some(metric::Data::Gauge(g)) => ("gauge".to_owned(), &g.data_points),
                Some(metric::Data::Sum(s)) => (
                    format!(
                        "sum ({}, {})",
                        if s.aggregation_temporality == 2 {
                            "cumulative"
                        } else {
                            "delta"
                        },
                        if s.is_monotonic {
                            "monotonic"
                        } else {
                            "not monotonic"
                        }
                    ),
                    &s.data_points,
                ),
                _ => return refuse(400, &format!("{}: unexpected metric type", m.name)),
            };
            for p in points {
                let v = match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    None => return refuse(400, &format!("{}: a point without a value", m.name)),
                };
                got.values.insert(m.name.clone(), v);
            }
            got.kinds.insert(m.name.clone(), kind);
        }
    }
    let (lock, cv) = &**state;
    lock.lock().unwrap().metrics.push(got);
    cv.notify_all();
    json_reply(200, serde_json::json!({}), None)
}

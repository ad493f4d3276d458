//! The stand-in's OTLP/HTTP receiver (`POST /v1/traces`), as strict as
//! Google's Telemetry API documents and the OTLP specification requires.
//!
//! * Decodes with the official OTLP protobuf definitions
//!   (`opentelemetry-proto`, prost); `Content-Type` must be
//!   `application/x-protobuf`; `Content-Encoding` `gzip` is inflated, any
//!   other encoding is refused (415).
//! * Auth: a bearer token the token endpoint issued, unless
//!   [`StandIn::otlp_collector_mode`] (a collector without auth).
//! * Project (Telemetry API mode, the default): every resource has
//!   `gcp.project_id`, equal to the `x-goog-user-project` header.
//! * Spans: 16- and 8-byte non-zero ids, a parent of 0 or 8 bytes, a
//!   non-empty name of at most 1024 bytes, a known kind, 0 < start <= end,
//!   times within the 14-day / 3-day window (not in collector mode), attribute keys non-empty, at
//!   most 512 bytes and unique, string values of at most 64 KiB, at most
//!   1024 attributes (span, event, link, scope, resource), 256 events, 128
//!   links with valid ids, a known status code. One invalid span fails the
//!   whole request (400, a `google.rpc.Status` body).
//! * Quotas (Telemetry API mode): at most 8,192 attributes per
//!   ResourceSpans, its resource's, scopes', spans', events' and links'
//!   together (400 otherwise). A collector forwarding to Google
//!   ([`StandIn::otlp_collector_forwarding_to_google`]) answers 200 and
//!   loses such a request, and one over 4 MiB (a gRPC hop's default).
//! * Poisoned span ids ([`StandIn::poison`]) are refused by a partial
//!   success (200 with `rejected_spans`), the rest accepted; the message
//!   names their span ids unless [`StandIn::otlp_partial_success_anonymous`].
//! * Faults ([`StandIn::push_faults`]) apply as on the Cloud Trace route,
//!   with `google.rpc.Status` bodies.

use crate::ids::hex;
use std::collections::HashSet;
use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use std::time::Instant;

use serde_json::json;

use super::state::{now_s, Fault, Shared};

/// `google.rpc.Status`, the body of OTLP/HTTP errors.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn proto_reply(status: u16, body: Vec<u8>, retry_after: Option<u64>) -> crate::http::Reply {
    let mut extra = vec![(
        "Content-Type".to_string(),
        "application/x-protobuf".to_string(),
    )];
    if let Some(ra) = retry_after {
        extra.push(("Retry-After".into(), ra.to_string()));
    }
    crate::http::Reply::Respond(status, extra, body)
}

fn error(status: u16, code: i32, message: &str, retry_after: Option<u64>) -> crate::http::Reply {
    proto_reply(
        status,
        RpcStatus {
            code,
            message: message.into(),
        }
        .encode_to_vec(),
        retry_after,
    )
}

/// What the OTLP route is set to check.
/// The Telemetry API's time window (14 days back, 3 days ahead), with an
/// hour's slack for the trip.
const WINDOW_PAST_S: u64 = 14 * 24 * 3600 + 3600;
const WINDOW_AHEAD_S: u64 = 3 * 24 * 3600 + 3600;

fn check_attributes(kvs: &[KeyValue], what: &str) -> Result<(), String> {
    if kvs.len() > 1024 {
        return Err(format!("{what}: {} attributes, at most 1024", kvs.len()));
    }
    let mut seen = HashSet::new();
    for kv in kvs {
        if kv.key.is_empty() || kv.key.len() > 512 {
            return Err(format!("{what}: attribute key of {} bytes", kv.key.len()));
        }
        if !seen.insert(kv.key.as_str()) {
            return Err(format!("{what}: attribute {} repeated", kv.key));
        }
        check_value(kv.value.as_ref().and_then(|v| v.value.as_ref()), what)?;
    }
    Ok(())
}

fn check_value(v: Option<&any_value::Value>, what: &str) -> Result<(), String> {
    match v {
        Some(any_value::Value::StringValue(s)) if s.len() > 64 * 1024 => {
            Err(format!("{what}: a value of {} bytes", s.len()))
        }
        Some(any_value::Value::ArrayValue(a)) => a
            .values
            .iter()
            .try_for_each(|x| check_value(x.value.as_ref(), what)),
        _ => Ok(()),
    }
}

fn nonzero(b: &[u8], len: usize) -> bool {
    b.len() == len && b.iter().any(|x| *x != 0)
}

/// `as_of`: the time the Telemetry API's window is judged at; `None`: no
/// window (a collector takes spans of any age).
fn check_span(s: &Span, as_of: Option<u64>) -> Result<(), String> {
    let id = hex(&s.span_id);
    if !nonzero(&s.trace_id, 16) {
        return Err(format!("span {id}: invalid trace id"));
    }
    if !nonzero(&s.span_id, 8) {
        return Err("invalid span id".into());
    }
    if !s.parent_span_id.is_empty() && !nonzero(&s.parent_span_id, 8) {
        return Err(format!("span {id}: invalid parent span id"));
    }
    if s.name.is_empty() || s.name.len() > 1024 {
        return Err(format!("span {id}: name of {} bytes", s.name.len()));
    }
    if !(0..=5).contains(&s.kind) {
        return Err(format!("span {id}: kind {}", s.kind));
    }
    let (start, end) = (s.start_time_unix_nano, s.end_time_unix_nano);
    if start == 0 || end < start {
        return Err(format!("span {id}: times {start}..{end}"));
    }
    let (start_s, end_s) = (start / 1_000_000_000, end / 1_000_000_000);
    if let Some(as_of) = as_of {
        if start_s + WINDOW_PAST_S < as_of || end_s > as_of + WINDOW_AHEAD_S {
            return Err(format!("span {id}: outside the accepted time window"));
        }
    }
    check_attributes(&s.attributes, &format!("span {id}"))?;
    if s.events.len() > 256 {
        return Err(format!("span {id}: {} events", s.events.len()));
    }
    for e in &s.events {
        if e.name.len() > 1024 {
            return Err(format!("span {id}: event name of {} bytes", e.name.len()));
        }
        check_attributes(&e.attributes, &format!("span {id} event"))?;
    }
    if s.links.len() > 128 {
        return Err(format!("span {id}: {} links", s.links.len()));
    }
    for l in &s.links {
        if !nonzero(&l.trace_id, 16) || !nonzero(&l.span_id, 8) {
            return Err(format!("span {id}: a link with invalid ids"));
        }
        check_attributes(&l.attributes, &format!("span {id} link"))?;
    }
    if let Some(st) = &s.status {
        if !(0..=2).contains(&st.code) {
            return Err(format!("span {id}: status code {}", st.code));
        }
    }
    Ok(())
}

/// Attributes of a ResourceSpans, its children's included, as the
/// Telemetry API counts them.
fn resource_spans_attributes(rs: &opentelemetry_proto::tonic::trace::v1::ResourceSpans) -> usize {
    rs.resource.as_ref().map_or(0, |r| r.attributes.len())
        + rs.scope_spans
            .iter()
            .map(|ss| {
                ss.scope.as_ref().map_or(0, |s| s.attributes.len())
                    + ss.spans
                        .iter()
                        .map(|s| {
                            s.attributes.len()
                                + s.events.iter().map(|e| e.attributes.len()).sum::<usize>()
                                + s.links.iter().map(|l| l.attributes.len()).sum::<usize>()
                        })
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// The Telemetry API's quotas per ResourceSpans.
fn check_quotas(request: &ExportTraceServiceRequest) -> Result<(), String> {
    for rs in &request.resource_spans {
        let n = resource_spans_attributes(rs);
        if n > 8192 {
            return Err(format!(
                "a ResourceSpans carries {n} attributes with its children, at most 8192"
            ));
        }
    }
    Ok(())
}

fn string_attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

pub(super) fn handle_otlp(req: crate::http::Request, state: &Shared) -> crate::http::Reply {
    use crate::http::Reply;
    if req.method != "POST" {
        return error(405, 3, "/v1/traces takes POST", None);
    }
    let (fault, token_ok, poison, as_of, mode) = {
        let mut st = state.0.lock().unwrap();
        st.requests += 1;
        st.request_times.push(Instant::now());
        st.request_bytes.push(req.body.len());
        st.request_encodings
            .push(req.header("Content-Encoding").map(str::to_owned));
        let token_ok = req
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.contains(t));
        (
            st.faults.pop_front(),
            token_ok,
            st.poison_span_ids.clone(),
            st.as_of,
            st.otlp.clone(),
        )
    };
    match fault {
        Some(Fault::Reset) => return Reply::Reset,
        Some(Fault::BrokenConnection) => return Reply::Broken,
        Some(Fault::Body(status, body)) => return super::reply::text_reply(status, body),
        Some(Fault::Status(code, ra)) => {
            let grpc = match code {
                429 => 8,
                503 => 14,
                504 => 4,
                400 => 3,
                _ => 13,
            };
            return error(code, grpc, "injected fault", ra);
        }
        Some(Fault::Unauthorized) => return error(401, 16, "invalid authentication", None),
        Some(Fault::Slow(_)) | None => {}
    }
    if !mode.collector && !token_ok {
        return error(401, 16, "missing or unknown bearer token", None);
    }
    for (k, v) in &mode.required_headers {
        if req.header(k) != Some(v.as_str()) {
            return error(401, 16, &format!("header {k} missing or wrong"), None);
        }
    }
    if req.header("Content-Type") != Some("application/x-protobuf") {
        return error(415, 3, "Content-Type must be application/x-protobuf", None);
    }
    let header_project = req.header("x-goog-user-project").map(str::to_owned);
    let header_project = header_project.as_deref();
    let body = match req.header("Content-Encoding") {
        None | Some("identity") => req.body,
        Some("gzip") => {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(&req.body[..])
                .read_to_end(&mut out)
                .is_err()
            {
                return error(400, 3, "body is not valid gzip", None);
            }
            out
        }
        Some(other) => return error(415, 3, &format!("Content-Encoding {other}"), None),
    };
    let reject = |why: String| {
        state.0.lock().unwrap().rejected.push(why.clone());
        error(400, 3, &why, None)
    };
    let request = match ExportTraceServiceRequest::decode(&body[..]) {
        Ok(r) => r,
        Err(e) => return reject(format!("not an ExportTraceServiceRequest: {e}")),
    };
    if mode.forwards_to_google {
        // Answered 200 already, as a collector does; Google's verdict
        // comes after.
        let over = if body.len() > 4 << 20 {
            Err(format!("{} bytes, over a gRPC hop's 4 MiB", body.len()))
        } else {
            check_quotas(&request)
        };
        if let Err(why) = over {
            state.0.lock().unwrap().lost_after_200.push(why);
            return proto_reply(
                200,
                ExportTraceServiceResponse::default().encode_to_vec(),
                None,
            );
        }
    } else if !mode.collector {
        if let Err(why) = check_quotas(&request) {
            return reject(why);
        }
    }
    let as_of = as_of.unwrap_or_else(now_s);
    let mut accepted = Vec::new();
    let mut rejected_ids = Vec::new();
    for rs in &request.resource_spans {
        let Some(resource) = &rs.resource else {
            return reject("a ResourceSpans without a resource".into());
        };
        if let Err(why) = check_attributes(&resource.attributes, "resource") {
            return reject(why);
        }
        let project = string_attr(&resource.attributes, "gcp.project_id");
        if !mode.collector {
            match project {
                None => {
                    return reject(
                        "the resource has no gcp.project_id: the Telemetry API routes data by it"
                            .into(),
                    )
                }
                Some(p) if Some(p) != header_project => {
                    return reject(format!(
                        "gcp.project_id {p} differs from x-goog-user-project {header_project:?}"
                    ))
                }
                _ => {}
            }
        }
        for ss in &rs.scope_spans {
            if let Some(sc) = &ss.scope {
                if let Err(why) = check_attributes(&sc.attributes, "scope") {
                    return reject(why);
                }
            }
            for s in &ss.spans {
                if let Err(why) = check_span(s, (!mode.collector).then_some(as_of)) {
                    return reject(why);
                }
                let id = hex(&s.span_id);
                if poison.contains(&id) {
                    rejected_ids.push(id);
                    continue;
                }
                accepted.push((project.unwrap_or("").to_owned(), rs, ss, s));
            }
        }
    }
    {
        let (lock, cv) = &**state;
        let mut st = lock.lock().unwrap();
        for (project, rs, ss, s) in &accepted {
            let p = match st.projects.iter().position(|x| x == project) {
                Some(p) => p,
                None => {
                    st.projects.push(project.clone());
                    st.projects.len() - 1
                }
            } as u32;
            let t = u128::from_be_bytes(s.trace_id[..].try_into().unwrap_or([0; 16]));
            let i = u64::from_be_bytes(s.span_id[..].try_into().unwrap_or([0; 8]));
            st.accepted.push((p, t, i));
            if let Some(kept) = &mut st.otlp_kept {
                kept.push(json!({
                    "resource": rs.resource,
                    "resource_schema_url": rs.schema_url,
                    "scope": ss.scope,
                    "scope_schema_url": ss.schema_url,
                    "span": s,
                }));
            }
        }
        drop(st);
        cv.notify_all();
    }
    if let Some(Fault::Slow(d)) = fault {
        std::thread::sleep(d);
    }
    let partial_success = (!rejected_ids.is_empty()).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected_ids.len() as i64,
        error_message: if mode.anonymous_partial {
            format!("{} spans rejected", rejected_ids.len())
        } else {
            format!("rejected spans {}: poisoned", rejected_ids.join(", "))
        },
    });
    proto_reply(
        200,
        ExportTraceServiceResponse { partial_success }.encode_to_vec(),
        None,
    )
}

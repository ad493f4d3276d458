//! The stand-in's Cloud Trace route (`POST /v2/projects/{P}/traces:batchWrite`):
//! the bearer token, the content type, gzip, then the body as strictly as
//! Google documents it ([`crate::validate`]); one invalid span fails the
//! whole request with 400 INVALID_ARGUMENT, as Cloud Trace does.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{json, Value};

use super::reply::{google_error, json_reply};
use super::state::{now_s, Fault, Shared};
use crate::http::{Reply, Request};

/// Handles a request to `batchWrite` (any path that is not another route).
pub(super) fn handle_batch_write(req: Request, state: &Shared) -> Reply {
    let Some(project) = req
        .path
        .strip_prefix("/v2/projects/")
        .and_then(|r| r.strip_suffix("/traces:batchWrite"))
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .map(str::to_owned)
    else {
        return json_reply(
            404,
            google_error(404, "NOT_FOUND", &format!("no route {}", req.path)),
            None,
        );
    };
    if req.method != "POST" {
        return json_reply(
            405,
            google_error(405, "INVALID_ARGUMENT", "batchWrite takes POST"),
            None,
        );
    }
    let (fault, authorized, poison, as_of) = {
        let mut st = state.0.lock().unwrap();
        st.requests += 1;
        st.request_times.push(Instant::now());
        st.request_bytes.push(req.body.len());
        let token_ok = req
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.contains(t));
        let poison = (!st.poison_span_ids.is_empty()).then(|| st.poison_span_ids.clone());
        (st.faults.pop_front(), token_ok, poison, st.as_of)
    };
    match fault {
        Some(Fault::Reset) => return Reply::Reset,
        Some(Fault::BrokenConnection) => return Reply::Broken,
        Some(Fault::Body(status, body)) => return super::reply::text_reply(status, body),
        Some(Fault::Status(code, ra)) => {
            let status = match code {
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            return json_reply(code, google_error(code, status, "injected fault"), ra);
        }
        Some(Fault::Unauthorized) => {
            return json_reply(
                401,
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                ),
                None,
            )
        }
        Some(Fault::Slow(_)) | None => {}
    }
    if !authorized {
        return json_reply(
            401,
            google_error(401, "UNAUTHENTICATED", "missing or unknown bearer token"),
            None,
        );
    }
    if !req
        .header("Content-Type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return json_reply(
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "Content-Type must be application/json",
            ),
            None,
        );
    }
    // A gzipped body (`--compression gzip`) is inflated first; Google does
    // not document gzip for batchWrite, so the uploader sends it only when
    // asked.
    let mut req = req;
    match req.header("Content-Encoding") {
        None | Some("identity") => {}
        Some("gzip") => {
            let mut out = Vec::new();
            if std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&req.body[..]),
                &mut out,
            )
            .is_err()
            {
                return json_reply(
                    400,
                    google_error(400, "INVALID_ARGUMENT", "body is not valid gzip"),
                    None,
                );
            }
            req.body = out;
        }
        Some(other) => {
            return json_reply(
                415,
                google_error(
                    415,
                    "INVALID_ARGUMENT",
                    &format!("Content-Encoding {other}"),
                ),
                None,
            )
        }
    }
    let no_poison = HashSet::new();
    let mut ids: Vec<(u128, u64)> = Vec::new();
    let result = crate::validate::validate_body(
        &req.body,
        &project,
        as_of.unwrap_or_else(now_s),
        poison.as_ref().unwrap_or(&no_poison),
        |n| {
            // The validator checked the shape (`.../traces/T/spans/S`, T
            // of 32 and S of 16 hex digits).
            let (t, s) = (&n[n.len() - 55..n.len() - 23], &n[n.len() - 16..]);
            ids.push((
                u128::from_str_radix(t, 16).unwrap(),
                u64::from_str_radix(s, 16).unwrap(),
            ));
        },
    );
    match result {
        Err(why) => {
            state.0.lock().unwrap().rejected.push(why.clone());
            json_reply(400, google_error(400, "INVALID_ARGUMENT", &why), None)
        }
        Ok(_) => {
            {
                let (lock, cv) = &**state;
                let mut st = lock.lock().unwrap();
                let p = match st.projects.iter().position(|x| *x == project) {
                    Some(p) => p,
                    None => {
                        st.projects.push(project.clone());
                        st.projects.len() - 1
                    }
                } as u32;
                st.accepted.extend(ids.into_iter().map(|(t, s)| (p, t, s)));
                if let Some(((a, b), counts)) = &mut st.counted_by {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                    for span in body["spans"].as_array().into_iter().flatten() {
                        let m = &span["attributes"]["attributeMap"];
                        let int = |k: &str| m[k]["intValue"].as_str().and_then(|v| v.parse().ok());
                        if let (Some(x), Some(y)) = (int(a), int(b)) {
                            *counts.entry((x, y)).or_insert(0) += 1;
                        }
                    }
                }
                if let Some(kept) = &mut st.kept {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                    if let Some(spans) = body["spans"].as_array() {
                        kept.extend(spans.iter().cloned());
                    }
                }
                drop(st);
                cv.notify_all();
            }
            if let Some(Fault::Slow(d)) = fault {
                std::thread::sleep(d);
            }
            json_reply(200, json!({}), None)
        }
    }
}

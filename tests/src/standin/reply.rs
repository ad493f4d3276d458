//! Replies in Google's JSON error shape.

use serde_json::{json, Value};

use crate::http::Reply;

pub(super) fn json_reply(status: u16, body: Value, retry_after: Option<u64>) -> Reply {
    let extra = retry_after
        .map(|ra| vec![("Retry-After".to_string(), ra.to_string())])
        .unwrap_or_default();
    Reply::Respond(status, extra, body.to_string().into_bytes())
}

pub(super) fn google_error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

/// A reply with a body that is not Google's: plain text, or JSON when it
/// starts with `{`.
pub(super) fn text_reply(status: u16, body: String) -> Reply {
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Reply::Respond(
        status,
        vec![("Content-Type".to_string(), content_type.to_string())],
        body.into_bytes(),
    )
}

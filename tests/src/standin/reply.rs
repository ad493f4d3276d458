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

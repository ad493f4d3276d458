//! What an OTLP/HTTP answer says (OTLP specification, "OTLP/HTTP
//! Response"): pure functions of the body. The decisions every destination
//! shares (split on 400, wait on 429, ...) are in [`crate::answer`]; this
//! file reads what is OTLP's own:
//!
//! | answer | meaning |
//! |---|---|
//! | 2xx, no `partial_success` or 0 rejected | delivered |
//! | 2xx, `partial_success.rejected_spans` = n > 0 | the spans the message names (by span id) are quarantined one by one with the message; the rest are delivered; n is counted |
//! | an error body | its message: `google.rpc.Status` (protobuf, as OTLP/HTTP requires) or, failing that, Google's JSON error |
//!
//! The OTLP specification calls a 500 final; a spool keeps spans rather
//! than drop them, so it is retried like any 5xx.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::answer::{body_text, google_error_message, Decision, MESSAGE_BYTES};
use crate::repair::cut;

/// `google.rpc.Status`, the body of OTLP/HTTP errors (details skipped).
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// The canonical code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The message of an error body: `google.rpc.Status`'s or Google's JSON
/// error's, cut to [`MESSAGE_BYTES`]; else the body's first bytes when it
/// is text (a collector's or a proxy's plain text or JSON).
pub fn error_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok();
    if let Some(m) = text.and_then(google_error_message) {
        return Some(cut(&m, MESSAGE_BYTES).to_owned());
    }
    // Text is tried before protobuf: many a text body parses as a message.
    if let Some(t) = body_text(body) {
        return Some(t);
    }
    match RpcStatus::decode(body) {
        Ok(s) if !s.message.is_empty() => Some(cut(&s.message, MESSAGE_BYTES).to_owned()),
        _ => None,
    }
}

/// What a 2xx body means: a partial success with rejected spans, or
/// delivered.
pub fn accepted(body: &[u8]) -> Decision {
    match ExportTraceServiceResponse::decode(body) {
        Ok(ExportTraceServiceResponse {
            partial_success: Some(p),
        }) if p.rejected_spans > 0 => Decision::PartiallyDelivered {
            rejected: p.rejected_spans as u64,
            message: cut(&p.error_message, MESSAGE_BYTES).to_owned(),
        },
        _ => Decision::Delivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    fn partial(n: i64, m: &str) -> Vec<u8> {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: n,
                error_message: m.into(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_2xx_is_delivered_or_a_partial_success() {
        assert_eq!(accepted(b""), Decision::Delivered);
        // A warning with nothing rejected is a success.
        assert_eq!(accepted(&partial(0, "slow down")), Decision::Delivered);
        assert_eq!(
            accepted(&partial(2, "bad spans")),
            Decision::PartiallyDelivered {
                rejected: 2,
                message: "bad spans".into()
            }
        );
    }

    #[test]
    fn error_bodies_are_read_as_rpc_status_or_google_json() {
        let status = RpcStatus {
            code: 3,
            message: "span name too long".into(),
        }
        .encode_to_vec();
        assert_eq!(
            error_message(&status).as_deref(),
            Some("span name too long")
        );
        assert_eq!(
            error_message(b"{\"error\":{\"message\":\"denied\"}}").as_deref(),
            Some("denied")
        );
        assert_eq!(error_message(b""), None);
    }
}

//! What an OTLP/HTTP answer means (OTLP specification, "OTLP/HTTP
//! Response"; Telemetry API retry advice): pure functions of the status,
//! the `Retry-After` and the body.
//!
//! | answer | decision |
//! |---|---|
//! | 2xx, no `partial_success` or 0 rejected | delivered |
//! | 2xx, `partial_success.rejected_spans` = n > 0 | the spans the message names (by span id) are quarantined one by one with the message; the rest are delivered; n is counted |
//! | 400, 413 | split the batch until the bad span is alone; quarantine it with the server's message |
//! | 401 | a fresh token, once; then as 403 |
//! | 429 | retry after at least 30 s (Google's advice for its APIs), longer if `Retry-After` says so |
//! | 502, 503, 504 | retry with backoff, at least `Retry-After` (502 and 504 may have stored the spans: counted as possible duplicates) |
//! | 500 and other 5xx | retry with backoff (the OTLP spec calls them final, but a spool keeps spans rather than drop them) |
//! | other 4xx (403, 404, ...) | a configuration error: retry after at least 60 s |
//!
//! Error messages come from the body's `google.rpc.Status` (protobuf, as
//! OTLP/HTTP requires) or, failing that, Google's JSON error.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::policy::{error_message, Decision, MIN_WAIT_429, MIN_WAIT_CONFIG};

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

/// The message of an error body: `google.rpc.Status` or Google's JSON,
/// cut to 1000 bytes.
pub fn otlp_error_message(body: &[u8]) -> Option<String> {
    let msg = match RpcStatus::decode(body) {
        Ok(s) if !s.message.is_empty() => s.message,
        _ => error_message(std::str::from_utf8(body).ok()?)?,
    };
    Some(crate::convert::cut(&msg, 1000).to_owned())
}

/// Classifies an OTLP/HTTP answer for a batch of `batch_len` spans.
pub fn classify_otlp(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    batch_len: usize,
    token_was_fresh: bool,
) -> Decision {
    let msg = |default: &str| otlp_error_message(body).unwrap_or_else(|| default.to_owned());
    match status {
        200..=299 => match ExportTraceServiceResponse::decode(body) {
            Ok(ExportTraceServiceResponse {
                partial_success: Some(p),
            }) if p.rejected_spans > 0 => Decision::PartiallyDelivered {
                rejected: p.rejected_spans as u64,
                message: crate::convert::cut(&p.error_message, 1000).to_owned(),
            },
            _ => Decision::Delivered,
        },
        400 | 413 if batch_len > 1 => Decision::Split,
        400 | 413 => Decision::Quarantine(format!("HTTP {status}: {}", msg("request rejected"))),
        401 if !token_was_fresh => Decision::RefreshToken,
        429 => Decision::Retry {
            min_wait: retry_after.unwrap_or(Duration::ZERO).max(MIN_WAIT_429),
            ambiguous: false,
            reason: format!("HTTP 429: {}", msg("rate limited")),
        },
        500..=599 => Decision::Retry {
            min_wait: retry_after.unwrap_or(Duration::ZERO).max(Duration::from_secs(1)),
            ambiguous: status == 502 || status == 504,
            reason: format!("HTTP {status}: {}", msg("server error")),
        },
        _ => Decision::Retry {
            min_wait: retry_after.unwrap_or(Duration::ZERO).max(MIN_WAIT_CONFIG),
            ambiguous: false,
            reason: format!(
                "HTTP {status}: {} (check the endpoint, the headers, the project and the credentials)",
                msg("client error")
            ),
        },
    }
}

/// The positions in `span_ids` (hex, lowercase) of the spans that a
/// partial-success message names: every 16-hex-digit word of the message
/// that is one of them.
pub fn named_spans(message: &str, span_ids: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    for word in message.split(|c: char| !c.is_ascii_hexdigit()) {
        if word.len() == 16 {
            let w = word.to_ascii_lowercase();
            for (i, id) in span_ids.iter().enumerate() {
                if *id == w && !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
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
    fn answers_map_to_decisions() {
        assert_eq!(classify_otlp(200, None, b"", 5, false), Decision::Delivered);
        // A warning with nothing rejected is a success.
        assert_eq!(
            classify_otlp(200, None, &partial(0, "slow down"), 5, false),
            Decision::Delivered
        );
        assert_eq!(
            classify_otlp(200, None, &partial(2, "bad spans"), 5, false),
            Decision::PartiallyDelivered {
                rejected: 2,
                message: "bad spans".into()
            }
        );
        assert_eq!(classify_otlp(400, None, b"", 5, false), Decision::Split);
        let status = RpcStatus {
            code: 3,
            message: "span name too long".into(),
        }
        .encode_to_vec();
        assert_eq!(
            classify_otlp(400, None, &status, 1, false),
            Decision::Quarantine("HTTP 400: span name too long".into())
        );
        assert_eq!(
            classify_otlp(401, None, b"", 1, false),
            Decision::RefreshToken
        );
        match classify_otlp(429, Some(Duration::from_secs(90)), b"", 1, false) {
            Decision::Retry { min_wait, .. } => assert_eq!(min_wait, Duration::from_secs(90)),
            d => panic!("{d:?}"),
        }
        match classify_otlp(429, None, b"", 1, false) {
            Decision::Retry { min_wait, .. } => assert_eq!(min_wait, MIN_WAIT_429),
            d => panic!("{d:?}"),
        }
        for (code, amb) in [(502, true), (503, false), (504, true), (500, false)] {
            match classify_otlp(code, None, b"", 1, false) {
                Decision::Retry { ambiguous, .. } => assert_eq!(ambiguous, amb, "{code}"),
                d => panic!("{code}: {d:?}"),
            }
        }
        match classify_otlp(403, None, b"{\"error\":{\"message\":\"denied\"}}", 1, true) {
            Decision::Retry {
                min_wait, reason, ..
            } => {
                assert_eq!(min_wait, MIN_WAIT_CONFIG);
                assert!(reason.contains("denied"), "{reason}");
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn partial_success_messages_name_spans_by_id() {
        let ids = vec![
            "00f067aa0ba902b7".to_string(),
            "b7ad6b7169203331".to_string(),
            "53995c3f42cd8ad8".to_string(),
        ];
        assert_eq!(
            named_spans(
                "2 spans rejected: B7AD6B7169203331 (name too long), 53995c3f42cd8ad8",
                &ids
            ),
            vec![1, 2]
        );
        assert!(named_spans("rejected 1 span", &ids).is_empty());
        // A trace id (32 digits) is not a span id.
        assert!(named_spans("trace 00f067aa0ba902b700f067aa0ba902b7", &ids).is_empty());
    }
}

//! What to do after an upload attempt: pure decisions, unit tested without
//! a network. Every destination shares this table; a destination decides
//! only what its 2xx body means (a partial success, for OTLP) and how its
//! error bodies carry a message ([`crate::destination::Destination`]).
//!
//! | answer | decision |
//! |---|---|
//! | 2xx | delivered: delete the batch (or, after a partial success, quarantine the spans the server names and delete the rest) |
//! | 400 | the request is invalid: split the batch until the bad span is alone, quarantine it |
//! | 413 | too large: split; a single span: quarantine |
//! | 401 | get a new token, resend; again: as 403 |
//! | 403, 404, other 4xx | configuration (permission, project): back off at least 60 s, resend; never drop |
//! | 429 | back off at least 30 s (Google's advice), longer if `Retry-After` says so |
//! | 5xx | back off (at least `Retry-After`), resend; 502 and 504 may have stored the spans (a possible duplicate, counted) |
//! | timeout, connection reset after sending | back off, resend: the server may have stored it (a possible duplicate, counted) |
//! | connection refused, DNS | back off, resend |

use std::time::Duration;

/// The decision for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delete the batch from the spool.
    Delivered,
    /// Halve the batch and send each half.
    Split,
    /// The batch is one span the server rejects: quarantine it with this reason.
    Quarantine(String),
    /// Get a fresh token and resend.
    RefreshToken,
    /// The server accepted the batch but `rejected` of its spans (OTLP
    /// partial success): quarantine the spans `message` names, delete the
    /// rest.
    PartiallyDelivered {
        /// Spans the server says it rejected.
        rejected: u64,
        /// The server's message.
        message: String,
    },
    /// Wait at least `min_wait` (plus backoff) and resend the same batch.
    /// `ambiguous`: the server may have stored the batch already.
    Retry {
        /// The shortest wait the server asked for or this policy needs.
        min_wait: Duration,
        /// Whether a resend may duplicate spans.
        ambiguous: bool,
        /// What went wrong, for the log and `inspect`.
        reason: String,
    },
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An HTTP answer.
    Http {
        /// The status code.
        status: u16,
        /// `Retry-After`, parsed.
        retry_after: Option<Duration>,
        /// The body.
        body: bytes::Bytes,
        /// The server's `Date`, in seconds since the epoch.
        date: Option<i64>,
    },
    /// No HTTP answer.
    Transport {
        /// What failed, with its causes.
        reason: String,
        /// Whether the request may have reached the server (a timeout or a
        /// reset after connecting).
        sent: bool,
    },
}

/// Shortest wait after a 429, as Google's retry guidance asks.
pub const MIN_WAIT_429: Duration = Duration::from_secs(30);
/// Shortest wait after a configuration error (403, 404, ...).
pub const MIN_WAIT_CONFIG: Duration = Duration::from_secs(60);

/// Classifies a non-2xx HTTP answer. `message`: what the body says, if the
/// destination could read it; `config_hint`: what to check after a 403,
/// 404 or other 4xx.
pub fn classify_refusal(
    status: u16,
    retry_after: Option<Duration>,
    message: Option<String>,
    batch_len: usize,
    token_was_fresh: bool,
    config_hint: &str,
) -> Decision {
    let ra = retry_after.unwrap_or(Duration::ZERO);
    let msg = |default: &str| message.clone().unwrap_or_else(|| default.to_owned());
    match status {
        400 | 413 if batch_len > 1 => Decision::Split,
        400 | 413 => Decision::Quarantine(format!("HTTP {status}: {}", msg("request rejected"))),
        401 if !token_was_fresh => Decision::RefreshToken,
        429 => Decision::Retry {
            min_wait: ra.max(MIN_WAIT_429),
            ambiguous: false,
            reason: format!("HTTP 429: {}", msg("rate limited")),
        },
        500..=599 => Decision::Retry {
            min_wait: ra.max(Duration::from_secs(1)),
            // A 5xx may come from a proxy after the backend stored the spans.
            ambiguous: status == 504 || status == 502,
            reason: format!("HTTP {status}: {}", msg("server error")),
        },
        _ => Decision::Retry {
            min_wait: ra.max(MIN_WAIT_CONFIG),
            ambiguous: false,
            reason: format!("HTTP {status}: {} ({config_hint})", msg("client error")),
        },
    }
}

/// Classifies a transport failure. `sent`: the request may have reached the
/// server (timeout or reset after connecting).
pub fn classify_transport(reason: String, sent: bool) -> Decision {
    Decision::Retry {
        min_wait: Duration::from_secs(1),
        ambiguous: sent,
        reason,
    }
}

/// The longest message kept from a server's answer, in bytes.
pub const MESSAGE_BYTES: usize = 1000;

/// The most of an error body quoted when it is not in a format a
/// destination knows (plain text, other JSON).
pub const BODY_TEXT_BYTES: usize = 200;

/// The first [`BODY_TEXT_BYTES`] of an error body that is text (plain
/// text or JSON), on one line; `None` for an empty or binary body.
pub fn body_text(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return None;
    }
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return None;
    }
    let cut = crate::repair::cut(&one_line, BODY_TEXT_BYTES);
    Some(if cut.len() < one_line.len() {
        format!("{cut}…")
    } else {
        cut.to_owned()
    })
}

/// `text` with every one of `secrets` (a token, header values) replaced
/// by `<redacted>`: what a server echoes never reaches a log.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "<redacted>");
        }
    }
    out
}

impl Decision {
    /// The decision with `secrets` redacted from its texts.
    pub fn redacted(self, secrets: &[&str]) -> Decision {
        match self {
            Decision::Quarantine(r) => Decision::Quarantine(redact(&r, secrets)),
            Decision::PartiallyDelivered { rejected, message } => Decision::PartiallyDelivered {
                rejected,
                message: redact(&message, secrets),
            },
            Decision::Retry {
                min_wait,
                ambiguous,
                reason,
            } => Decision::Retry {
                min_wait,
                ambiguous,
                reason: redact(&reason, secrets),
            },
            d => d,
        }
    }
}

/// The `error.message` of a Google REST error body, cut to
/// [`MESSAGE_BYTES`].
pub fn google_error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let msg = v.get("error")?.get("message")?.as_str()?;
    Some(crate::repair::cut(msg, MESSAGE_BYTES).to_owned())
}

/// The positions in `span_ids` (hex, lowercase) of the spans that a
/// server's message names: every 16-hex-digit word of the message that is
/// one of them.
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

/// Parses `Retry-After`: delta-seconds or an IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`), relative to `now_unix_secs`.
pub fn parse_retry_after(v: &str, now_unix_secs: u64) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let at = http_date_unix_secs(v)?;
    let wait = at - now_unix_secs as i64;
    Some(Duration::from_secs(wait.clamp(0, 24 * 3600) as u64))
}

/// An HTTP date (`Date`, `Retry-After`: IMF-fixdate and the two obsolete
/// forms, RFC 9110 §5.6.7) as seconds since the epoch.
pub fn http_date_unix_secs(v: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    Some(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

/// How far the local clock is from the server's `Date` header, in seconds
/// (positive: the local clock is ahead).
pub fn clock_skew_secs(server_date: &str, local_unix_secs: u64) -> Option<i64> {
    http_date_unix_secs(server_date).map(|server| local_unix_secs as i64 - server)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HINT: &str = "check the project";

    fn refusal(status: u16, ra: Option<u64>, batch: usize, fresh: bool) -> Decision {
        classify_refusal(
            status,
            ra.map(Duration::from_secs),
            None,
            batch,
            fresh,
            HINT,
        )
    }

    #[test]
    fn statuses_map_to_decisions() {
        assert_eq!(refusal(400, None, 10, false), Decision::Split);
        assert_eq!(
            classify_refusal(400, None, Some("Invalid span name".into()), 1, false, HINT),
            Decision::Quarantine("HTTP 400: Invalid span name".into())
        );
        assert_eq!(
            refusal(400, None, 1, false),
            Decision::Quarantine("HTTP 400: request rejected".into())
        );
        assert_eq!(refusal(413, None, 2, false), Decision::Split);
        assert!(matches!(
            refusal(413, None, 1, false),
            Decision::Quarantine(_)
        ));
        assert_eq!(refusal(401, None, 5, false), Decision::RefreshToken);
        assert!(matches!(
            refusal(401, None, 5, true),
            Decision::Retry {
                ambiguous: false,
                ..
            }
        ));
        let Decision::Retry { min_wait, .. } = refusal(429, None, 5, false) else {
            panic!()
        };
        assert_eq!(min_wait, MIN_WAIT_429);
        let Decision::Retry { min_wait, .. } = refusal(429, Some(90), 5, false) else {
            panic!()
        };
        assert_eq!(min_wait, Duration::from_secs(90));
        for (code, amb) in [(502, true), (503, false), (504, true), (500, false)] {
            let Decision::Retry {
                min_wait,
                ambiguous,
                ..
            } = refusal(code, Some(7), 5, false)
            else {
                panic!("{code}")
            };
            assert_eq!(
                (min_wait, ambiguous),
                (Duration::from_secs(7), amb),
                "{code}"
            );
        }
        let Decision::Retry {
            min_wait, reason, ..
        } = refusal(403, None, 5, false)
        else {
            panic!()
        };
        assert_eq!(min_wait, MIN_WAIT_CONFIG);
        assert!(reason.contains(HINT), "{reason}");
        assert!(matches!(
            refusal(404, None, 5, false),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn a_date_header_gives_the_true_skew_in_both_directions() {
        // The old bug: the Date header went through the Retry-After parser,
        // which clamps to [0, 24 h], so every skew read as about -1.8e9 s.
        let server = "Wed, 02 Dec 2026 12:00:00 GMT";
        let server_s = 1_796_212_800;
        assert_eq!(clock_skew_secs(server, server_s), Some(0));
        assert_eq!(clock_skew_secs(server, server_s + 7200), Some(7200));
        assert_eq!(clock_skew_secs(server, server_s - 7200), Some(-7200));
        // The obsolete RFC 850 and asctime forms are HTTP dates too.
        assert_eq!(
            clock_skew_secs("Wednesday, 02-Dec-26 12:00:00 GMT", server_s),
            Some(0)
        );
        assert_eq!(
            clock_skew_secs("Wed Dec  2 12:00:00 2026", server_s),
            Some(0)
        );
        assert_eq!(clock_skew_secs("yesterday", server_s), None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 + 30),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn other_error_bodies_are_quoted_on_one_line_and_secrets_redacted() {
        assert_eq!(
            body_text(b"Invalid token\n").as_deref(),
            Some("Invalid token")
        );
        assert_eq!(
            body_text(
                br#"{"detail": "queue full,
  try later"}"#
            )
            .as_deref(),
            Some(r#"{"detail": "queue full, try later"}"#)
        );
        let long = "x".repeat(500);
        let quoted = body_text(long.as_bytes()).unwrap();
        assert!(quoted.starts_with(&"x".repeat(BODY_TEXT_BYTES)) && quoted.ends_with('…'));
        assert_eq!(body_text(b""), None);
        assert_eq!(body_text(b"  \n"), None);
        assert_eq!(
            body_text(&[0x1f, 0x8b, 0x08, 0x00]),
            None,
            "gzip is not text"
        );
        assert_eq!(body_text(&[0xff, 0xfe]), None);
        let d = Decision::Retry {
            min_wait: Duration::ZERO,
            ambiguous: false,
            reason: "HTTP 401: bad key fleet-secret-123 for Bearer ya29.tok".into(),
        }
        .redacted(&["fleet-secret-123", "ya29.tok", ""]);
        assert_eq!(
            d,
            Decision::Retry {
                min_wait: Duration::ZERO,
                ambiguous: false,
                reason: "HTTP 401: bad key <redacted> for Bearer <redacted>".into(),
            }
        );
    }

    #[test]
    fn error_messages_are_extracted_and_cut() {
        let body =
            r#"{"error":{"code":400,"message":"Invalid span name","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            google_error_message(body).as_deref(),
            Some("Invalid span name")
        );
        assert_eq!(google_error_message("not json"), None);
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(600));
        assert!(google_error_message(&long).unwrap().len() <= MESSAGE_BYTES);
    }

    #[test]
    fn messages_name_spans_by_id() {
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

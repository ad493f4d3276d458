//! What to do after a `traces:batchWrite` attempt: pure decisions, unit
//! tested without a network.
//!
//! | answer | decision |
//! |---|---|
//! | 2xx | delivered: delete the batch |
//! | 400 | the request is invalid: split the batch until the bad span is alone, quarantine it |
//! | 413 | too large: split; a single span: quarantine |
//! | 401 | get a new token, resend; again: back off |
//! | 403, 404, other 4xx | configuration (permission, project): back off long, resend; never drop |
//! | 429 | back off at least 30 s (and at least `Retry-After`) |
//! | 5xx | back off (at least `Retry-After`), resend |
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

/// Shortest wait after a 429, as Google's retry guidance asks.
pub const MIN_WAIT_429: Duration = Duration::from_secs(30);
/// Shortest wait after a configuration error (403, 404, ...).
pub const MIN_WAIT_CONFIG: Duration = Duration::from_secs(60);

/// Classifies an HTTP answer.
pub fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
    batch_len: usize,
    token_was_fresh: bool,
) -> Decision {
    let ra = retry_after.unwrap_or(Duration::ZERO);
    match status {
        200..=299 => Decision::Delivered,
        400 | 413 if batch_len > 1 => Decision::Split,
        400 | 413 => Decision::Quarantine(format!(
            "HTTP {status}: {}",
            error_message(body).unwrap_or_else(|| "request rejected".into())
        )),
        401 if !token_was_fresh => Decision::RefreshToken,
        429 => Decision::Retry {
            min_wait: ra.max(MIN_WAIT_429),
            ambiguous: false,
            reason: format!("HTTP 429: {}", error_message(body).unwrap_or_else(|| "rate limited".into())),
        },
        500..=599 => Decision::Retry {
            min_wait: ra.max(Duration::from_secs(1)),
            // A 5xx may come from a proxy after the backend stored the spans.
            ambiguous: status == 504 || status == 502,
            reason: format!("HTTP {status}: {}", error_message(body).unwrap_or_else(|| "server error".into())),
        },
        _ => Decision::Retry {
            min_wait: ra.max(MIN_WAIT_CONFIG),
            ambiguous: false,
            reason: format!(
                "HTTP {status}: {} (check the project id, the API is enabled and the role roles/cloudtrace.agent)",
                error_message(body).unwrap_or_else(|| "client error".into())
            ),
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

/// The `error.message` of a Google REST error body, cut to 1000 bytes.
pub fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let msg = v.get("error")?.get("message")?.as_str()?;
    let mut end = msg.len().min(1000);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    Some(msg[..end].to_owned())
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

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(cap, base * 2^n)]`, but never less than `min_wait`.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First ceiling.
    pub base: Duration,
    /// Largest ceiling.
    pub cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next wait, given a uniform random `jitter` in `[0, 1)`.
    pub fn next(&mut self, min_wait: Duration, jitter: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(min_wait)
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY_400: &str =
        r#"{"error":{"code":400,"message":"Invalid span name","status":"INVALID_ARGUMENT"}}"#;

    #[test]
    fn statuses_map_to_decisions() {
        assert_eq!(
            classify_status(200, None, "{}", 10, false),
            Decision::Delivered
        );
        assert_eq!(
            classify_status(400, None, BODY_400, 10, false),
            Decision::Split
        );
        assert_eq!(
            classify_status(400, None, BODY_400, 1, false),
            Decision::Quarantine("HTTP 400: Invalid span name".into())
        );
        assert_eq!(classify_status(413, None, "", 2, false), Decision::Split);
        assert!(matches!(
            classify_status(413, None, "", 1, false),
            Decision::Quarantine(_)
        ));
        assert_eq!(
            classify_status(401, None, "", 5, false),
            Decision::RefreshToken
        );
        assert!(matches!(
            classify_status(401, None, "", 5, true),
            Decision::Retry {
                ambiguous: false,
                ..
            }
        ));
        let Decision::Retry { min_wait, .. } = classify_status(429, None, "", 5, false) else {
            panic!()
        };
        assert_eq!(min_wait, MIN_WAIT_429);
        let Decision::Retry { min_wait, .. } =
            classify_status(429, Some(Duration::from_secs(90)), "", 5, false)
        else {
            panic!()
        };
        assert_eq!(min_wait, Duration::from_secs(90));
        let Decision::Retry {
            min_wait,
            ambiguous,
            ..
        } = classify_status(503, Some(Duration::from_secs(7)), "", 5, false)
        else {
            panic!()
        };
        assert_eq!((min_wait, ambiguous), (Duration::from_secs(7), false));
        assert!(matches!(
            classify_status(504, None, "", 5, false),
            Decision::Retry {
                ambiguous: true,
                ..
            }
        ));
        let Decision::Retry {
            min_wait, reason, ..
        } = classify_status(403, None, "", 5, false)
        else {
            panic!()
        };
        assert_eq!(min_wait, MIN_WAIT_CONFIG);
        assert!(reason.contains("roles/cloudtrace.agent"));
        assert!(matches!(
            classify_status(404, None, "", 5, false),
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
    fn backoff_grows_caps_jitters_and_respects_minimum() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(b.next(Duration::ZERO, 0.999_999).as_secs(), 0); // ceiling 1 s
        assert_eq!(b.next(Duration::ZERO, 0.5), Duration::from_secs(1)); // ceiling 2 s
        assert_eq!(b.next(Duration::ZERO, 0.5), Duration::from_secs(2)); // ceiling 4 s
        for _ in 0..30 {
            assert!(b.next(Duration::ZERO, 1.0) <= Duration::from_secs(60));
        }
        assert_eq!(
            b.next(Duration::ZERO, 0.0),
            Duration::ZERO,
            "full jitter reaches 0"
        );
        assert_eq!(b.next(MIN_WAIT_429, 0.0), MIN_WAIT_429);
        b.reset();
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn error_messages_are_extracted_and_cut() {
        assert_eq!(
            error_message(BODY_400).as_deref(),
            Some("Invalid span name")
        );
        assert_eq!(error_message("not json"), None);
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "é".repeat(600));
        assert!(error_message(&long).unwrap().len() <= 1000);
    }
}

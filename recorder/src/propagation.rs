//! Joining a remote trace: W3C `traceparent` and Google's
//! `X-Cloud-Trace-Context` headers.

use tracespool_schema::{SpanId, TraceId};

use crate::context::SpanContext;

/// Why a propagation header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// The header does not have the expected shape.
    #[error("malformed {header} header")]
    Malformed {
        /// Which header.
        header: &'static str,
    },
    /// The trace or span id is invalid (e.g. all zeros).
    #[error("invalid id in {header} header: {source}")]
    InvalidId {
        /// Which header.
        header: &'static str,
        /// Why.
        source: tracespool_schema::ParseIdError,
    },
    /// An unsupported `traceparent` version (`ff`).
    #[error("unsupported traceparent version {0:?}")]
    Version(String),
}

const TP: &str = "traceparent";
const XCTC: &str = "X-Cloud-Trace-Context";

/// Parses `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` into a
/// remote parent context. Versions above 00 are accepted if they carry at
/// least these fields (as the W3C spec asks); version `ff` is rejected.
pub fn parse_traceparent(value: &str) -> Result<SpanContext, PropagationError> {
    let malformed = PropagationError::Malformed { header: TP };
    let v = value.trim();
    let mut parts = v.split('-');
    let (Some(ver), Some(trace), Some(span), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(ver, 2) || !lower_hex(flags, 2) {
        return Err(malformed);
    }
    if ver == "ff" {
        return Err(PropagationError::Version(ver.to_owned()));
    }
    if ver == "00" && parts.next().is_some() {
        return Err(malformed);
    }
    if !lower_hex(trace, 32) || !lower_hex(span, 16) {
        return Err(malformed);
    }
    let invalid = |source| PropagationError::InvalidId { header: TP, source };
    let trace_id = TraceId::from_hex(trace).map_err(invalid)?;
    let span_id = SpanId::from_hex(span).map_err(invalid)?;
    let flags =
        u8::from_str_radix(flags, 16).map_err(|_| PropagationError::Malformed { header: TP })?;
    Ok(SpanContext::remote(trace_id, span_id, flags & 1 == 1))
}

/// Formats a context as a version-00 `traceparent` value.
pub fn format_traceparent(ctx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        ctx.trace_id(),
        ctx.span_id(),
        u8::from(ctx.is_sampled())
    )
}

/// Parses `TRACE_ID/SPAN_ID_DECIMAL;o=OPTIONS`. A missing `;o=` means
/// sampled; `o=1` sampled, `o=0` not.
pub fn parse_x_cloud_trace_context(value: &str) -> Result<SpanContext, PropagationError> {
    let malformed = PropagationError::Malformed { header: XCTC };
    let v = value.trim();
    let (ids, options) = match v.split_once(';') {
        Some((ids, opt)) => (ids, Some(opt)),
        None => (v, None),
    };
    let (trace, span) = ids.split_once('/').ok_or(malformed.clone())?;
    if trace.len() != 32
        || span.is_empty()
        || span.len() > 20
        || !span.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed);
    }
    let invalid = |source| PropagationError::InvalidId {
        header: XCTC,
        source,
    };
    let trace_id = TraceId::from_hex(trace).map_err(invalid)?;
    let span_num: u64 = span.parse().map_err(|_| malformed.clone())?;
    if span_num == 0 {
        return Err(invalid(tracespool_schema::ParseIdError::Zero));
    }
    let sampled = match options {
        None => true,
        Some(o) => match o.strip_prefix("o=") {
            Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => bits
                .parse::<u32>()
                .map(|b| b & 1 == 1)
                .map_err(|_| malformed.clone())?,
            _ => return Err(malformed),
        },
    };
    Ok(SpanContext::remote(
        trace_id,
        SpanId::from_u64(span_num),
        sampled,
    ))
}

/// Formats a context as an `X-Cloud-Trace-Context` value.
pub fn format_x_cloud_trace_context(ctx: &SpanContext) -> String {
    format!(
        "{}/{};o={}",
        ctx.trace_id(),
        ctx.span_id().to_u64(),
        u8::from(ctx.is_sampled())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trip() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = parse_traceparent(v).unwrap();
        assert_eq!(c.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.span_id().to_string(), "00f067aa0ba902b7");
        assert!(c.is_sampled() && c.is_remote());
        assert_eq!(format_traceparent(&c), v);
        let c =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!c.is_sampled());
    }

    #[test]
    fn traceparent_rejects_bad_values() {
        for v in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1x",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(v).is_err(), "{v:?} accepted");
        }
        // A future version may carry more fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
                .is_ok()
        );
    }

    #[test]
    fn cloud_trace_context_round_trip() {
        let c = parse_x_cloud_trace_context("105445aa7843bc8bf206b12000100000/1;o=1").unwrap();
        assert_eq!(c.span_id().to_u64(), 1);
        assert!(c.is_sampled());
        assert_eq!(
            format_x_cloud_trace_context(&c),
            "105445aa7843bc8bf206b12000100000/1;o=1"
        );
        let c = parse_x_cloud_trace_context(
            "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0",
        )
        .unwrap();
        assert_eq!(c.span_id().to_u64(), u64::MAX);
        assert!(!c.is_sampled());
        assert!(
            parse_x_cloud_trace_context("105445aa7843bc8bf206b12000100000/123")
                .unwrap()
                .is_sampled()
        );
        for v in [
            "105445aa7843bc8bf206b12000100000",
            "105445aa7843bc8bf206b12000100000/",
            "105445aa7843bc8bf206b12000100000/0;o=1",
            "105445aa7843bc8bf206b12000100000/18446744073709551616;o=1",
            "105445aa7843bc8bf206b12000100000/12;o=",
            "105445aa7843bc8bf206b12000100000/12;x=1",
            "xyz/12;o=1",
        ] {
            assert!(parse_x_cloud_trace_context(v).is_err(), "{v:?} accepted");
        }
    }
}

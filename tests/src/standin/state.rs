//! The stand-in's state: what tests set up (faults, poison, modes) and
//! what it saw (requests, accepted spans), shared by its routes.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A fault for the next request(s) to `batchWrite`.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status with an optional `Retry-After` (seconds).
    Status(u16, Option<u64>),
    /// Read the request, then close the connection with a TCP reset: the
    /// client cannot know whether the spans were stored (they were not).
    Reset,
    /// Read the request, answer bytes that are not HTTP, close.
    BrokenConnection,
    /// Process the request normally (spans are stored!) but answer late.
    Slow(Duration),
    /// Answer 401 UNAUTHENTICATED (the token is valid; as after a revocation).
    Unauthorized,
    /// Answer this status with this body (`text/plain`, or JSON when it
    /// starts with `{`), as a proxy or a non-Google receiver does.
    Body(u16, String),
}

#[derive(Default)]
pub(super) struct State {
    pub(super) faults: VecDeque<Fault>,
    pub(super) poison_span_ids: HashSet<String>,
    pub(super) tokens: HashSet<String>,
    /// Accepted spans, duplicates included, in arrival order: the project
    /// (an index into `projects`) and the ids of `projects/P/traces/T/spans/S`,
    /// kept as numbers (no string per span).
    pub(super) accepted: Vec<(u32, u128, u64)>,
    pub(super) projects: Vec<String>,
    pub(super) requests: u64,
    pub(super) token_requests: u64,
    pub(super) rejected: Vec<String>,
    pub(super) request_times: Vec<Instant>,
    /// Body bytes of each `batchWrite` request, in arrival order.
    pub(super) request_bytes: Vec<usize>,
    /// The time (s since the epoch) span windows are judged at; `None`: now.
    pub(super) as_of: Option<u64>,
    /// Accepted spans as JSON, when asked to keep them.
    pub(super) kept: Option<Vec<Value>>,
    /// Accepted spans counted by two integer attributes, when asked.
    pub(super) counted_by: Option<CountedBy>,
    /// `Content-Encoding` of each OTLP request, in arrival order.
    pub(super) request_encodings: Vec<Option<String>>,
    /// What the OTLP route checks.
    pub(super) otlp: OtlpMode,
    /// Accepted OTLP spans (with their resource and scope) as OTLP/JSON,
    /// when asked to keep them.
    pub(super) otlp_kept: Option<Vec<Value>>,
    /// Request bodies as received, with their content headers, when asked
    /// (up to the given number).
    pub(super) kept_bodies: Option<(usize, Vec<KeptRequest>)>,
    /// Why requests a forwarding collector answered 200 were lost after.
    pub(super) lost_after_200: Vec<String>,
    /// OTLP metrics requests, in arrival order.
    pub(super) metrics: Vec<ReceivedMetrics>,
}

/// A request body as it arrived, with the headers that say how to read
/// it (for replaying it in benchmarks).
#[derive(Debug, Clone)]
pub struct KeptRequest {
    /// The request path.
    pub path: String,
    /// `Content-Type`, `Content-Encoding` and `x-goog-user-project`, when set.
    pub headers: Vec<(String, String)>,
    /// The body, as sent (compressed if it was).
    pub body: Vec<u8>,
}

/// One metrics request as received.
#[derive(Debug, Clone, Default)]
pub struct ReceivedMetrics {
    /// Resource attributes (string values).
    pub resource: BTreeMap<String, String>,
    /// Each data point's value by metric name.
    pub values: BTreeMap<String, f64>,
    /// Metric name → "gauge" or "sum (cumulative, monotonic)".
    pub kinds: BTreeMap<String, String>,
    /// Whether an `Authorization` header came with it.
    pub had_authorization: bool,
}

/// What the OTLP route checks beyond the Telemetry API's rules.
#[derive(Debug, Clone, Default)]
pub(super) struct OtlpMode {
    /// A collector: no token, no project needed.
    pub(super) collector: bool,
    /// Headers every request must carry (collector mode).
    pub(super) required_headers: Vec<(String, String)>,
    /// Partial successes do not name the rejected spans.
    pub(super) anonymous_partial: bool,
    /// A collector that forwards to Google's Telemetry API: it answers 200
    /// at once, and a request Google would refuse for its quotas is lost
    /// after that 200 (its spans are not accepted; counted in
    /// `lost_after_200`).
    pub(super) forwards_to_google: bool,
}

pub(super) type Shared = Arc<(Mutex<State>, Condvar)>;

/// The two attribute keys, and the count of accepted spans per pair of
/// their values.
pub(super) type CountedBy = ((String, String), HashMap<(i64, i64), u32>);

/// Seconds since the epoch, now.
pub(super) fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

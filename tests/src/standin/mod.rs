//! A Cloud Trace v2 stand-in and an OAuth token endpoint, on 127.0.0.1, in
//! one real HTTP server.
//!
//! * `POST /token`: the service-account JWT-bearer flow gcp_auth speaks. The
//!   RS256 signature is verified against the key pair this module generated
//!   (see [`ServiceAccount`]), as are `iss`, `aud`, `scope`, `iat` and `exp`.
//!   It answers a random access token valid for an hour.
//! * `POST /v2/projects/{P}/traces:batchWrite`: checks the bearer token
//!   (only tokens it issued), then the body as strictly as Google documents
//!   it (see [`crate::validate`]); a single invalid span fails the whole
//!   request with 400 INVALID_ARGUMENT, as Cloud Trace does. Accepted spans
//!   are recorded, duplicates included (Cloud Trace keeps re-sent spans).
//! * Faults are queued or switched on by tests: refused (the server is not
//!   listening), a TCP reset, a broken answer, a status with `Retry-After`, slow answers, a 401, a
//!   poison span rejected with 400.
//! * `POST /v1/metrics`: OTLP metrics, kept per request ([`ReceivedMetrics`]).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod cloudtrace;
mod metrics;
mod oauth;
mod otlp;
mod reply;
mod state;

pub use oauth::ServiceAccount;
pub use state::{Fault, KeptRequest, ReceivedMetrics};

use oauth::{rand_u128, verify_token_request};
use reply::json_reply;
use state::{Shared, State};

/// The running stand-in.
pub struct StandIn {
    server: crate::http::Server,
    /// `http` or `https`.
    scheme: &'static str,
    state: Shared,
    /// The service account whose JWTs the token endpoint accepts.
    pub account: ServiceAccount,
}

impl StandIn {
    /// Starts on `127.0.0.1:port` (0: any free port). `_workers` is kept for
    /// compatibility: every connection gets its own thread.
    pub fn start(port: u16, account: ServiceAccount, _workers: usize) -> std::io::Result<Self> {
        Self::start_with(port, account, None)
    }

    /// Starts on `https://127.0.0.1:PORT` (any free port), with a
    /// certificate `ca` signed: every route, the token endpoint included.
    pub fn start_tls(account: ServiceAccount, ca: &crate::tls::PrivateCa) -> std::io::Result<Self> {
        Self::start_with(0, account, Some(ca.server_config()))
    }

    fn start_with(
        port: u16,
        account: ServiceAccount,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state: Shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        // The token_uri the JWT must name; known once bound.
        let token_uri = Arc::new(std::sync::OnceLock::<String>::new());
        let handler: crate::http::Handler = {
            let (state, account, token_uri) = (state.clone(), account.clone(), token_uri.clone());
            Arc::new(move |req| {
                handle(
                    req,
                    &state,
                    &account,
                    token_uri.get().map(String::as_str).unwrap_or(""),
                )
            })
        };
        let server = match tls {
            Some(t) => crate::http::Server::start_tls(port, handler, t)?,
            None => crate::http::Server::start(port, handler)?,
        };
        let _ = token_uri.set(format!("{scheme}://{}/token", server.addr()));
        Ok(StandIn {
            server,
            scheme,
            state,
            account,
        })
    }

    /// `http://127.0.0.1:PORT` (`https` for [`StandIn::start_tls`]).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.server.addr())
    }

    /// The token endpoint.
    pub fn token_uri(&self) -> String {
        format!("{}://{}/token", self.scheme, self.server.addr())
    }

    /// Queues faults for the next `batchWrite` requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.0.lock().unwrap().faults.extend(faults);
    }

    /// Keeps every accepted span's JSON from now on, for field-by-field
    /// comparisons ([`StandIn::accepted_spans`]).
    pub fn keep_accepted_spans(&self) {
        self.state
            .0
            .lock()
            .unwrap()
            .kept
            .get_or_insert_with(Vec::new);
    }

    /// Counts accepted spans by the values of two integer attributes from
    /// now on (for soaks of millions of spans: a few bytes a span).
    pub fn count_accepted_by(&self, a: &str, b: &str) {
        self.state.0.lock().unwrap().counted_by = Some(((a.into(), b.into()), HashMap::new()));
    }

    /// The counts of [`StandIn::count_accepted_by`]: (a, b) → copies.
    pub fn accepted_counts(&self) -> HashMap<(i64, i64), u32> {
        self.state
            .0
            .lock()
            .unwrap()
            .counted_by
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    /// The accepted spans' JSON, duplicates included, in arrival order
    /// (empty unless [`StandIn::keep_accepted_spans`] was called).
    pub fn accepted_spans(&self) -> Vec<Value> {
        self.state
            .0
            .lock()
            .unwrap()
            .kept
            .clone()
            .unwrap_or_default()
    }

    /// Sends `Date` headers `secs` ahead of this machine's clock, as a
    /// server would if this machine's clock were `secs` behind.
    pub fn set_clock_offset_secs(&self, secs: i64) {
        self.server.set_date_offset_secs(secs);
    }

    /// Judges span times (the 14-day and 3-day windows) as of this time,
    /// in seconds since the epoch, instead of now: for golden spools
    /// recorded long ago (with the uploader's hidden `--as-of`).
    pub fn judge_times_as_of(&self, secs: u64) {
        self.state.0.lock().unwrap().as_of = Some(secs);
    }

    /// Rejects (400) every Cloud Trace request carrying this span id; on
    /// the OTLP route, rejects the span alone (a partial success).
    pub fn poison(&self, span_id_hex: &str) {
        self.state
            .0
            .lock()
            .unwrap()
            .poison_span_ids
            .insert(span_id_hex.to_owned());
    }

    /// Number of accepted spans (duplicates included).
    pub fn accepted_count(&self) -> usize {
        self.state.0.lock().unwrap().accepted.len()
    }

    /// How many times each span name was accepted.
    pub fn accepted_by_name(&self) -> HashMap<String, u32> {
        let st = self.state.0.lock().unwrap();
        let mut m = HashMap::new();
        for (p, t, s) in &st.accepted {
            let name = format!(
                "projects/{}/traces/{t:032x}/spans/{s:016x}",
                st.projects[*p as usize]
            );
            *m.entry(name).or_insert(0) += 1;
        }
        m
    }

    /// `batchWrite` requests received.
    pub fn requests(&self) -> u64 {
        self.state.0.lock().unwrap().requests
    }

    /// When each `batchWrite` request arrived.
    pub fn request_times(&self) -> Vec<Instant> {
        self.state.0.lock().unwrap().request_times.clone()
    }

    /// Body bytes of each `batchWrite` request, in arrival order.
    pub fn request_bytes(&self) -> Vec<usize> {
        self.state.0.lock().unwrap().request_bytes.clone()
    }

    /// Token requests received (valid or not).
    pub fn token_requests(&self) -> u64 {
        self.state.0.lock().unwrap().token_requests
    }

    /// Reasons of rejected requests.
    pub fn rejections(&self) -> Vec<String> {
        self.state.0.lock().unwrap().rejected.clone()
    }

    /// Keeps every span accepted on the OTLP route from now on
    /// ([`StandIn::accepted_otlp_spans`]).
    pub fn keep_accepted_otlp_spans(&self) {
        self.state
            .0
            .lock()
            .unwrap()
            .otlp_kept
            .get_or_insert_with(Vec::new);
    }

    /// The accepted OTLP spans, duplicates included, in arrival order:
    /// `{"resource", "resource_schema_url", "scope", "scope_schema_url",
    /// "span"}` in OTLP/JSON.
    pub fn accepted_otlp_spans(&self) -> Vec<Value> {
        self.state
            .0
            .lock()
            .unwrap()
            .otlp_kept
            .clone()
            .unwrap_or_default()
    }

    /// The OTLP route acts as a collector: no token, no project needed;
    /// `headers` must be on every request.
    pub fn otlp_collector_mode(&self, headers: &[(&str, &str)]) {
        let mut st = self.state.0.lock().unwrap();
        st.otlp.collector = true;
        st.otlp.required_headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// The OTLP route acts as a collector that forwards to Google's
    /// Telemetry API: 200 at once, then a request over Google's quotas (a
    /// ResourceSpans of more than 8,192 attributes, more than 1,024
    /// resource attributes, a body over the 4 MiB a gRPC hop takes) is lost
    /// ([`StandIn::lost_after_200`]), as a real collector loses it.
    pub fn otlp_collector_forwarding_to_google(&self) {
        let mut st = self.state.0.lock().unwrap();
        st.otlp.collector = true;
        st.otlp.forwards_to_google = true;
    }

    /// Why requests answered 200 were lost after (see
    /// [`StandIn::otlp_collector_forwarding_to_google`]).
    pub fn lost_after_200(&self) -> Vec<String> {
        self.state.0.lock().unwrap().lost_after_200.clone()
    }

    /// Keeps the first `max` request bodies from now on
    /// ([`StandIn::kept_requests`]).
    pub fn keep_request_bodies(&self, max: usize) {
        self.state.0.lock().unwrap().kept_bodies = Some((max, Vec::new()));
    }

    /// The kept requests, in arrival order.
    pub fn kept_requests(&self) -> Vec<KeptRequest> {
        self.state
            .0
            .lock()
            .unwrap()
            .kept_bodies
            .as_ref()
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// OTLP partial successes do not name the rejected spans.
    pub fn otlp_partial_success_anonymous(&self) {
        self.state.0.lock().unwrap().otlp.anonymous_partial = true;
    }

    /// `Content-Encoding` of each OTLP request, in arrival order.
    pub fn request_encodings(&self) -> Vec<Option<String>> {
        self.state.0.lock().unwrap().request_encodings.clone()
    }

    /// The OTLP metrics requests received so far.
    pub fn metrics_received(&self) -> Vec<ReceivedMetrics> {
        self.state.0.lock().unwrap().metrics.clone()
    }

    /// Waits until a metrics request satisfies `f`, or `timeout`; returns
    /// that request.
    pub fn wait_for_metrics(
        &self,
        timeout: Duration,
        f: impl Fn(&ReceivedMetrics) -> bool,
    ) -> Option<ReceivedMetrics> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap();
        loop {
            if let Some(m) = st.metrics.iter().find(|m| f(m)) {
                return Some(m.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = cv.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Waits until at least `n` spans were accepted, or `timeout`.
    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap();
        loop {
            if st.accepted.len() >= n {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = cv.wait_timeout(st, deadline - now).unwrap().0;
        }
    }
}

fn handle(
    req: crate::http::Request,
    state: &Shared,
    account: &ServiceAccount,
    token_uri: &str,
) -> crate::http::Reply {
    if req.path == "/token" {
        state.0.lock().unwrap().token_requests += 1;
        return match verify_token_request(&req.method, &req.body, account, token_uri) {
            Ok(()) => {
                let token = format!("ya29.test-{:032x}", rand_u128());
                state.0.lock().unwrap().tokens.insert(token.clone());
                json_reply(
                    200,
                    json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}),
                    None,
                )
            }
            Err(why) => json_reply(
                400,
                json!({"error": "invalid_grant", "error_description": why}),
                None,
            ),
        };
    }
    {
        let mut st = state.0.lock().unwrap();
        if let Some((max, kept)) = &mut st.kept_bodies {
            if kept.len() < *max && req.path != "/token" {
                let headers = ["Content-Type", "Content-Encoding", "x-goog-user-project"]
                    .into_iter()
                    .filter_map(|h| req.header(h).map(|v| (h.to_string(), v.to_string())))
                    .collect();
                kept.push(KeptRequest {
                    path: req.path.clone(),
                    headers,
                    body: req.body.clone(),
                });
            }
        }
    }
    if req.path == "/v1/traces" {
        return otlp::handle_otlp(req, state);
    }
    if req.path == "/v1/metrics" {
        return metrics::handle_metrics(req, state);
    }
    cloudtrace::handle_batch_write(req, state)
}

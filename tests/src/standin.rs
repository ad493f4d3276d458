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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

/// A generated service account: its key file for gcp_auth, and the public
/// key the token endpoint verifies with.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub email: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
    public: RsaPublicKey,
}

impl ServiceAccount {
    /// A fresh 2048-bit RSA key (the smallest ring signs with).
    pub fn generate() -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 2048).expect("generate an RSA key");
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encode the key")
            .to_string();
        ServiceAccount {
            email: "uploader@tracespool-test.iam.gserviceaccount.com".into(),
            private_key_pem: pem,
            public: RsaPublicKey::from(&key),
        }
    }

    /// A key file in Google's format whose `token_uri` points at `token_uri`.
    pub fn key_file_json(&self, token_uri: &str, project: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": "test",
            "private_key": self.private_key_pem,
            "client_email": self.email,
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string()
    }
}

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
}

#[derive(Default)]
struct State {
    faults: VecDeque<Fault>,
    poison_span_ids: HashSet<String>,
    tokens: HashSet<String>,
    /// Accepted spans, duplicates included, in arrival order: the project
    /// (an index into `projects`) and the ids of `projects/P/traces/T/spans/S`,
    /// kept as numbers (no string per span).
    accepted: Vec<(u32, u128, u64)>,
    projects: Vec<String>,
    requests: u64,
    token_requests: u64,
    rejected: Vec<String>,
    request_times: Vec<Instant>,
    /// Body bytes of each `batchWrite` request, in arrival order.
    request_bytes: Vec<usize>,
    /// The time (s since the epoch) span windows are judged at; `None`: now.
    as_of: Option<u64>,
    /// Accepted spans as JSON, when asked to keep them.
    kept: Option<Vec<Value>>,
    /// Accepted spans counted by two integer attributes, when asked.
    counted_by: Option<CountedBy>,
    /// `Content-Encoding` of each OTLP request, in arrival order.
    request_encodings: Vec<Option<String>>,
    /// What the OTLP route checks.
    otlp: otlp::OtlpMode,
    /// Accepted OTLP spans (with their resource and scope) as OTLP/JSON,
    /// when asked to keep them.
    otlp_kept: Option<Vec<Value>>,
    /// Request bodies as received, with their content headers, when asked
    /// (up to the given number).
    kept_bodies: Option<(usize, Vec<KeptRequest>)>,
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

#[path = "otlp_receiver.rs"]
mod otlp;

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The two attribute keys, and the count of accepted spans per pair of
/// their values.
type CountedBy = ((String, String), HashMap<(i64, i64), u32>);

/// The running stand-in.
pub struct StandIn {
    server: crate::http::Server,
    state: Shared,
    /// The service account whose JWTs the token endpoint accepts.
    pub account: ServiceAccount,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StandIn {
    /// Starts on `127.0.0.1:port` (0: any free port). `_workers` is kept for
    /// compatibility: every connection gets its own thread.
    pub fn start(port: u16, account: ServiceAccount, _workers: usize) -> std::io::Result<Self> {
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
        let server = crate::http::Server::start(port, handler)?;
        let _ = token_uri.set(format!("http://{}/token", server.addr()));
        Ok(StandIn {
            server,
            state,
            account,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The token endpoint.
    pub fn token_uri(&self) -> String {
        format!("http://{}/token", self.server.addr())
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

fn json_reply(status: u16, body: Value, retry_after: Option<u64>) -> crate::http::Reply {
    let extra = retry_after
        .map(|ra| vec![("Retry-After".to_string(), ra.to_string())])
        .unwrap_or_default();
    crate::http::Reply::Respond(status, extra, body.to_string().into_bytes())
}

fn google_error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

fn handle(
    req: crate::http::Request,
    state: &Shared,
    account: &ServiceAccount,
    token_uri: &str,
) -> crate::http::Reply {
    use crate::http::Reply;
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

fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    rsa::rand_core::RngCore::fill_bytes(&mut rsa::rand_core::OsRng, &mut b);
    u128::from_le_bytes(b)
}

/// A value of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &str, key: &str) -> Option<String> {
    let raw = body
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn b64(seg: &str) -> Result<Vec<u8>, String> {
    // gcp_auth pads its segments; JWTs normally do not. Accept both.
    URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(seg))
        .map_err(|e| format!("bad base64: {e}"))
}

/// Verifies a JWT-bearer token request from gcp_auth.
fn verify_token_request(
    method: &str,
    body: &[u8],
    account: &ServiceAccount,
    token_uri: &str,
) -> Result<(), String> {
    if method != "POST" {
        return Err("token requests are POST".into());
    }
    let body = std::str::from_utf8(body).map_err(|_| "body is not UTF-8")?;
    if form_value(body, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err("grant_type must be jwt-bearer".into());
    }
    let jwt = form_value(body, "assertion").ok_or("no assertion")?;
    let jwt = jwt.as_str();
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts[..] else {
        return Err("assertion is not a JWT".into());
    };
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let claims: Value = serde_json::from_slice(&b64(c)?).map_err(|e| e.to_string())?;
    let signature = Signature::try_from(&b64(sig)?[..]).map_err(|e| e.to_string())?;
    VerifyingKey::<Sha256>::new(account.public.clone())
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| "signature does not verify")?;
    if claims["iss"] != account.email.as_str() {
        return Err("iss is not the service account".into());
    }
    if claims["aud"] != token_uri {
        return Err(format!("aud {} is not {token_uri}", claims["aud"]));
    }
    let scope = claims["scope"].as_str().unwrap_or("");
    if !scope.split(' ').any(|s| {
        s == "https://www.googleapis.com/auth/trace.append"
            || s == "https://www.googleapis.com/auth/cloud-platform"
    }) {
        return Err(format!("scope {scope:?} cannot write traces"));
    }
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let now = now_s();
    if iat > now + 60 || exp <= now || exp > iat + 3600 {
        return Err("iat/exp out of range".into());
    }
    Ok(())
}

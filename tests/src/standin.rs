//! A Cloud Trace v2 stand-in and an OAuth token endpoint, on 127.0.0.1, in
//! one real HTTP server.
//!
//! * `POST /token`: the service-account JWT-bearer flow gcp_auth speaks. The
//!   RS256 signature is verified against the key pair this module generated
//!   (see [`ServiceAccount`]), as are `iss`, `aud`, `scope`, `iat` and `exp`.
//!   It answers a random access token valid for an hour.
//! * `POST /v2/projects/{P}/traces:batchWrite`: checks the bearer token
//!   (only tokens it issued), then the body as strictly as Google documents
//!   it (see [`validate_body`]); a single invalid span fails the whole
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
    /// Names (`projects/P/traces/T/spans/S`) of accepted spans, duplicates
    /// included, in arrival order.
    accepted: Vec<String>,
    requests: u64,
    token_requests: u64,
    rejected: Vec<String>,
    request_times: Vec<Instant>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

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

    /// Rejects (400) every request carrying this span id.
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
        for a in &st.accepted {
            *m.entry(a.clone()).or_insert(0) += 1;
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

    /// Token requests received (valid or not).
    pub fn token_requests(&self) -> u64 {
        self.state.0.lock().unwrap().token_requests
    }

    /// Reasons of rejected requests.
    pub fn rejections(&self) -> Vec<String> {
        self.state.0.lock().unwrap().rejected.clone()
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
    let (fault, authorized, poison) = {
        let mut st = state.0.lock().unwrap();
        st.requests += 1;
        st.request_times.push(Instant::now());
        let token_ok = req
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.contains(t));
        let poison = (!st.poison_span_ids.is_empty()).then(|| st.poison_span_ids.clone());
        (st.faults.pop_front(), token_ok, poison)
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
    let no_poison = HashSet::new();
    let result = serde_json::from_slice::<Value>(&req.body)
        .map_err(|e| format!("Invalid JSON payload received. {e}"))
        .and_then(|v| validate_body(&v, &project, now_s(), poison.as_ref().unwrap_or(&no_poison)));
    match result {
        Err(why) => {
            state.0.lock().unwrap().rejected.push(why.clone());
            json_reply(400, google_error(400, "INVALID_ARGUMENT", &why), None)
        }
        Ok(names) => {
            {
                let (lock, cv) = &**state;
                lock.lock().unwrap().accepted.extend(names);
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

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

fn check_keys(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{what}'"
            ));
        }
    }
    Ok(())
}

fn truncatable(v: &Value, max: usize, what: &str) -> Result<(), String> {
    check_keys(v, &["value", "truncatedByteCount"], what)?;
    let s = v["value"]
        .as_str()
        .ok_or_else(|| format!("{what}.value is not a string"))?;
    if s.len() > max {
        return Err(format!("{what} is {} bytes, the limit is {max}", s.len()));
    }
    if let Some(t) = v.get("truncatedByteCount") {
        t.as_i64()
            .ok_or_else(|| format!("{what}.truncatedByteCount is not an int32"))?;
    }
    Ok(())
}

fn int64_string(v: &Value, what: &str) -> Result<(), String> {
    // ProtoJSON accepts numbers too, but the uploader must send strings.
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what} must be an int64 string"))?;
    s.parse::<i64>()
        .map(|_| ())
        .map_err(|_| format!("{what} {s:?} is not an int64"))
}

fn attributes(v: &Value, max: usize, what: &str) -> Result<(), String> {
    check_keys(v, &["attributeMap", "droppedAttributesCount"], what)?;
    if let Some(m) = v.get("attributeMap") {
        let m = m
            .as_object()
            .ok_or_else(|| format!("{what}.attributeMap is not an object"))?;
        if m.len() > max {
            return Err(format!(
                "{what} has {} attributes, the limit is {max}",
                m.len()
            ));
        }
        for (k, val) in m {
            if k.len() > 128 {
                return Err(format!("{what} key of {} bytes, the limit is 128", k.len()));
            }
            let o = val
                .as_object()
                .ok_or_else(|| format!("{what}[{k}] is not an AttributeValue"))?;
            if o.len() != 1 {
                return Err(format!(
                    "{what}[{k}] must set exactly one of stringValue, intValue, boolValue"
                ));
            }
            match o.iter().next() {
                Some((t, x)) if t == "stringValue" => {
                    truncatable(x, 256, "stringValue").map_err(|e| format!("{what}[{k}]: {e}"))?
                }
                Some((t, x)) if t == "intValue" => {
                    int64_string(x, "intValue").map_err(|e| format!("{what}[{k}]: {e}"))?
                }
                Some((t, x)) if t == "boolValue" => {
                    x.as_bool()
                        .ok_or_else(|| format!("{what}[{k}] boolValue is not a bool"))?;
                }
                Some((t, _)) => {
                    return Err(format!(
                        "Invalid JSON payload received. Unknown name \"{t}\" at '{what}[{k}]'"
                    ))
                }
                None => unreachable!(),
            }
        }
    }
    if let Some(d) = v.get("droppedAttributesCount") {
        d.as_i64()
            .ok_or_else(|| format!("{what}.droppedAttributesCount is not an int32"))?;
    }
    Ok(())
}

/// Parses an RFC 3339 timestamp with `Z` and 0, 3, 6 or 9 fractional
/// digits into seconds since the epoch.
fn timestamp(v: &Value, what: &str) -> Result<(i64, u32), String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what} is not a string"))?;
    let bad = || format!("{what} {s:?} is not an RFC 3339 timestamp");
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || !s.ends_with('Z')
    {
        return Err(bad());
    }
    let n =
        |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let frac = &s[19..s.len() - 1];
    let nanos = match frac.len() {
        0 => 0,
        4 | 7 | 10 if frac.starts_with('.') && frac[1..].bytes().all(|c| c.is_ascii_digit()) => {
            let digits = &frac[1..];
            digits.parse::<u32>().map_err(|_| bad())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Ok((days * 86_400 + h * 3600 + mi * 60 + se, nanos))
}

const SPAN_FIELDS: &[&str] = &[
    "name",
    "spanId",
    "parentSpanId",
    "displayName",
    "startTime",
    "endTime",
    "attributes",
    "stackTrace",
    "timeEvents",
    "links",
    "status",
    "sameProcessAsParentSpan",
    "childSpanCount",
    "spanKind",
];

/// Validates a `batchWrite` body for `project` as of `now` (seconds) and
/// returns the span names in order. The first problem fails the request.
pub fn validate_body(
    v: &Value,
    project: &str,
    now: u64,
    poison: &HashSet<String>,
) -> Result<Vec<String>, String> {
    check_keys(v, &["spans"], "BatchWriteSpansRequest")?;
    let spans = v["spans"].as_array().ok_or("spans is not an array")?;
    let mut names = Vec::with_capacity(spans.len());
    let prefix = format!("projects/{project}/traces/");
    for (i, s) in spans.iter().enumerate() {
        let at = |m: String| format!("spans[{i}]: {m}");
        check_keys(s, SPAN_FIELDS, "Span").map_err(at)?;
        let name = s["name"]
            .as_str()
            .ok_or_else(|| at("name is required".into()))?;
        let rest = name
            .strip_prefix(&prefix)
            .ok_or_else(|| at(format!("name {name:?} is not under projects/{project}")))?;
        let (trace, span) = rest
            .split_once("/spans/")
            .ok_or_else(|| at(format!("name {name:?} is malformed")))?;
        if !is_hex(trace, 32) || !is_hex(span, 16) {
            return Err(at(format!("name {name:?} has an invalid trace or span id")));
        }
        if s["spanId"].as_str() != Some(span) {
            return Err(at("spanId does not match the span name".into()));
        }
        if poison.contains(span) {
            return Err(at(format!("span {span} rejected (poison)")));
        }
        if let Some(p) = s.get("parentSpanId") {
            if !p.as_str().is_some_and(|p| is_hex(p, 16)) {
                return Err(at("parentSpanId is not 16 hex digits".into()));
            }
        }
        truncatable(
            s.get("displayName")
                .ok_or_else(|| at("displayName is required".into()))?,
            128,
            "displayName",
        )
        .map_err(at)?;
        let start = timestamp(
            s.get("startTime")
                .ok_or_else(|| at("startTime is required".into()))?,
            "startTime",
        )
        .map_err(at)?;
        let end = timestamp(
            s.get("endTime")
                .ok_or_else(|| at("endTime is required".into()))?,
            "endTime",
        )
        .map_err(at)?;
        if end < start {
            return Err(at("endTime is before startTime".into()));
        }
        if start.0 < now as i64 - 14 * 86_400 {
            return Err(at("startTime is more than 14 days in the past".into()));
        }
        if end.0 > now as i64 + 3 * 86_400 {
            return Err(at("endTime is more than 3 days in the future".into()));
        }
        if let Some(a) = s.get("attributes") {
            attributes(a, 32, "attributes").map_err(at)?;
        }
        if let Some(te) = s.get("timeEvents") {
            check_keys(
                te,
                &[
                    "timeEvent",
                    "droppedAnnotationsCount",
                    "droppedMessageEventsCount",
                ],
                "timeEvents",
            )
            .map_err(at)?;
            let evs = te
                .get("timeEvent")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let (mut ann, mut msg) = (0, 0);
            for e in evs {
                check_keys(e, &["time", "annotation", "messageEvent"], "timeEvent").map_err(at)?;
                timestamp(&e["time"], "timeEvent.time").map_err(at)?;
                match (e.get("annotation"), e.get("messageEvent")) {
                    (Some(a), None) => {
                        ann += 1;
                        check_keys(a, &["description", "attributes"], "annotation").map_err(at)?;
                        truncatable(&a["description"], 256, "annotation.description")
                            .map_err(at)?;
                        if let Some(x) = a.get("attributes") {
                            attributes(x, 4, "annotation.attributes").map_err(at)?;
                        }
                    }
                    (None, Some(m)) => {
                        msg += 1;
                        check_keys(
                            m,
                            &["type", "id", "uncompressedSizeBytes", "compressedSizeBytes"],
                            "messageEvent",
                        )
                        .map_err(at)?;
                        if !matches!(
                            m["type"].as_str(),
                            Some("TYPE_UNSPECIFIED" | "SENT" | "RECEIVED")
                        ) {
                            return Err(at("messageEvent.type is invalid".into()));
                        }
                        for f in ["id", "uncompressedSizeBytes", "compressedSizeBytes"] {
                            if let Some(x) = m.get(f) {
                                int64_string(x, f).map_err(at)?;
                            }
                        }
                    }
                    _ => {
                        return Err(at(
                            "a timeEvent must set exactly one of annotation, messageEvent".into(),
                        ))
                    }
                }
            }
            if ann > 32 || msg > 128 {
                return Err(at(format!(
                    "{ann} annotations / {msg} message events exceed 32 / 128"
                )));
            }
        }
        if let Some(l) = s.get("links") {
            check_keys(l, &["link", "droppedLinksCount"], "links").map_err(at)?;
            let links = l
                .get("link")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if links.len() > 128 {
                return Err(at(format!("{} links exceed 128", links.len())));
            }
            for k in links {
                check_keys(k, &["traceId", "spanId", "type", "attributes"], "link").map_err(at)?;
                if !k["traceId"].as_str().is_some_and(|t| is_hex(t, 32))
                    || !k["spanId"].as_str().is_some_and(|t| is_hex(t, 16))
                {
                    return Err(at("link ids are invalid".into()));
                }
                if !matches!(
                    k["type"].as_str(),
                    None | Some("TYPE_UNSPECIFIED" | "CHILD_LINKED_SPAN" | "PARENT_LINKED_SPAN")
                ) {
                    return Err(at("link.type is invalid".into()));
                }
                if let Some(x) = k.get("attributes") {
                    attributes(x, 32, "link.attributes").map_err(at)?;
                }
            }
        }
        if let Some(st) = s.get("status") {
            check_keys(st, &["code", "message", "details"], "status").map_err(at)?;
            if !st
                .get("code")
                .is_none_or(|c| c.as_i64().is_some_and(|c| (0..=16).contains(&c)))
            {
                return Err(at("status.code is not a google.rpc.Code".into()));
            }
        }
        if let Some(b) = s.get("sameProcessAsParentSpan") {
            b.as_bool()
                .ok_or_else(|| at("sameProcessAsParentSpan is not a bool".into()))?;
        }
        if let Some(k) = s.get("spanKind") {
            if !matches!(
                k.as_str(),
                Some(
                    "SPAN_KIND_UNSPECIFIED"
                        | "INTERNAL"
                        | "SERVER"
                        | "CLIENT"
                        | "PRODUCER"
                        | "CONSUMER"
                )
            ) {
                return Err(at("spanKind is invalid".into()));
            }
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> Value {
        json!({
            "name": "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7",
            "spanId": "00f067aa0ba902b7",
            "displayName": {"value": "x"},
            "startTime": "2026-11-24T10:00:00.123456789Z",
            "endTime": "2026-11-24T10:00:01Z",
        })
    }

    fn now() -> u64 {
        timestamp(&json!("2026-11-24T12:00:00Z"), "t").unwrap().0 as u64
    }

    #[test]
    fn the_validator_accepts_a_good_span_and_rejects_each_violation() {
        let ok = json!({"spans": [span()]});
        assert_eq!(
            validate_body(&ok, "p", now(), &HashSet::new())
                .unwrap()
                .len(),
            1
        );
        let bad: Vec<(&str, Value)> = vec![
            ("/spanId", json!("00f067aa0ba902b8")),
            (
                "/name",
                json!("projects/q/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7"),
            ),
            ("/displayName", json!({"value": "x".repeat(129)})),
            ("/startTime", json!("2026-11-24 10:00:00Z")),
            ("/endTime", json!("2026-11-24T09:00:00Z")),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"intValue": 5}}}),
            ),
            (
                "/attributes",
                json!({"attributeMap": {"k": {"stringValue": {"value": "v".repeat(257)}}}}),
            ),
            ("/spanKind", json!("SERVERISH")),
            ("/unknownField", json!(1)),
            ("/parentSpanId", json!("0000000000000000")),
        ];
        for (ptr, val) in bad {
            let mut s = span();
            let key = &ptr[1..];
            s[key] = val;
            let body = json!({"spans": [span(), s]});
            assert!(
                validate_body(&body, "p", now(), &HashSet::new()).is_err(),
                "{ptr} accepted"
            );
        }
        assert!(
            validate_body(&ok, "p", now() + 15 * 86_400, &HashSet::new()).is_err(),
            "too old accepted"
        );
        assert!(
            validate_body(&ok, "p", now() - 4 * 86_400, &HashSet::new()).is_err(),
            "future accepted"
        );
        let poison: HashSet<String> = ["00f067aa0ba902b7".to_string()].into();
        assert!(validate_body(&ok, "p", now(), &poison).is_err());
    }
}

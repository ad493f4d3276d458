//! The HTTP side of `tracespool view`: routes, the access guard, startup
//! and shutdown. Reading is done on tokio's blocking threads, one request
//! at a time on the one read-only connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::extract::{Path, Query as QueryParams, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tracespool_schema::{SpanId, TraceId};
use tracespool_spool::SpoolReader;

use super::pages::{self, FormValues};
use super::search::{find_traces, Query};
use super::{overview, quarantine, trace_data, ViewArgs};
use crate::destination::sink::Sink;

const CSS: &str = include_str!("assets/view.css");
const JS: &str = include_str!("assets/view.js");
const COOKIE: &str = "tracespool_view";

struct Inner {
    spool: PathBuf,
    spool_text: String,
    reader: Mutex<SpoolReader>,
    /// Required on a non-loopback address.
    token: Option<String>,
    /// `Host` values accepted on loopback.
    hosts: Vec<String>,
    project: String,
}

type Shared = Arc<Inner>;

/// A failure answered as a page or JSON.
enum Fail {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

impl Fail {
    fn status(&self) -> StatusCode {
        match self {
            Fail::BadRequest(_) => StatusCode::BAD_REQUEST,
            Fail::NotFound(_) => StatusCode::NOT_FOUND,
            Fail::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn text(&self) -> &str {
        match self {
            Fail::BadRequest(t) | Fail::NotFound(t) | Fail::Internal(t) => t,
        }
    }
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Internal(format!("{e:#}"))
    }
}

/// Runs `f` with the reader on a blocking thread.
async fn read<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&SpoolReader) -> Result<T, Fail> + Send + 'static,
) -> Result<T, Fail> {
    let st = st.clone();
    tokio::task::spawn_blocking(move || {
        let r = st.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&r)
    })
    .await
    .map_err(|e| Fail::Internal(e.to_string()))?
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn page_error(st: &Shared, f: Fail) -> Response {
    let title = match f {
        Fail::NotFound(_) => "Not found",
        Fail::BadRequest(_) => "Bad request",
        Fail::Internal(_) => "Error",
    };
    html(
        f.status(),
        pages::message_page(&st.spool_text, title, f.text()),
    )
}

fn api_error(f: Fail) -> Response {
    let status = f.status();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": f.text()}).to_string(),
    )
        .into_response()
}

fn parse_trace(id: &str) -> Result<TraceId, Fail> {
    id.parse()
        .map_err(|_| Fail::BadRequest(format!("{id:?} is not a trace id (32 hex digits)")))
}

/// The search form's parameters.
#[derive(Debug, Default, serde::Deserialize)]
struct SearchParams {
    #[serde(default)]
    service: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    min_duration: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    errors: String,
    #[serde(default)]
    attr: String,
    before: Option<i64>,
    limit: Option<usize>,
}

fn time_param(name: &str, v: &str) -> Result<Option<i64>, Fail> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    let t = humantime::parse_rfc3339_weak(v.trim())
        .map_err(|e| Fail::BadRequest(format!("{name}: {e} (e.g. 2026-12-05T08:00:00Z)")))?;
    let ns = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok(Some(ns))
}

impl SearchParams {
    fn form(&self) -> FormValues {
        FormValues {
            service: self.service.clone(),
            name: self.name.clone(),
            min_duration: self.min_duration.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            errors: matches!(self.errors.as_str(), "on" | "true" | "1"),
            attr: self.attr.clone(),
        }
    }

    fn query(&self) -> Result<Query, Fail> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let min_duration_ns = match some(&self.min_duration) {
            None => None,
            Some(d) => Some(
                humantime::parse_duration(&d)
                    .map_err(|e| Fail::BadRequest(format!("at least: {e} (e.g. 250ms)")))?
                    .as_nanos() as i64,
            ),
        };
        let attribute = match some(&self.attr) {
            None => None,
            Some(kv) => {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Fail::BadRequest("attribute: expected key=value".into()))?;
                Some((k.trim().to_owned(), v.trim().to_owned()))
            }
        };
        Ok(Query {
            service: some(&self.service),
            name: some(&self.name),
            min_duration_ns,
            from_ns: time_param("from", &self.from)?,
            to_ns: time_param("to", &self.to)?,
            errors_only: self.form().errors,
            attribute,
            before_row: self.before,
            limit: self.limit.unwrap_or(50).clamp(1, 500),
        })
    }
}

async fn overview_data(st: &Shared) -> Result<overview::Overview, Fail> {
    let spool = st.spool.clone();
    read(st, move |r| {
        Ok(overview::load_overview(
            r,
            &spool,
            tracespool_spool::now_ns(),
        )?)
    })
    .await
}

async fn page_overview(State(st): State<Shared>) -> Response {
    match overview_data(&st).await {
        Ok(o) => html(StatusCode::OK, pages::overview_page(&o)),
        Err(f) => page_error(&st, f),
    }
}

async fn api_overview(State(st): State<Shared>) -> Response {
    overview_data(&st)
        .await
        .map_or_else(api_error, |o| json(&o))
}

async fn traces_data(
    st: &Shared,
    p: &SearchParams,
) -> Result<(Query, super::search::TracePage), Fail> {
    let q = p.query()?;
    let q2 = q.clone();
    let page = read(st, move |r| Ok(find_traces(r, &q2)?)).await?;
    Ok((q, page))
}

async fn page_traces(
    State(st): State<Shared>,
    QueryParams(p): QueryParams<SearchParams>,
) -> Response {
    let form = p.form();
    match traces_data(&st, &p).await {
        Ok((q, page)) => html(
            StatusCode::OK,
            pages::traces_page(&st.spool_text, &form, &q, &page, None),
        ),
        Err(Fail::BadRequest(e)) => {
            let empty = super::search::TracePage {
                traces: Vec::new(),
                next_before_row: None,
                rows_read: 0,
            };
            html(
                StatusCode::BAD_REQUEST,
                pages::traces_page(&st.spool_text, &form, &Query::default(), &empty, Some(&e)),
            )
        }
        Err(f) => page_error(&st, f),
    }
}

async fn api_traces(
    State(st): State<Shared>,
    QueryParams(p): QueryParams<SearchParams>,
) -> Response {
    traces_data(&st, &p)
        .await
        .map_or_else(api_error, |(_, page)| json(&page))
}

async fn trace_data_of(st: &Shared, id: &str) -> Result<trace_data::TraceView, Fail> {
    let trace = parse_trace(id)?;
    read(st, move |r| {
        trace_data::load_trace(r, &trace)?.ok_or_else(|| {
            Fail::NotFound(format!(
                "trace {trace} is not in the spool (uploaded since, or never recorded here)"
            ))
        })
    })
    .await
}

async fn page_trace(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    match trace_data_of(&st, &id).await {
        Ok(t) => html(StatusCode::OK, pages::trace_page(&st.spool_text, &t)),
        Err(f) => page_error(&st, f),
    }
}

async fn api_trace(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    trace_data_of(&st, &id)
        .await
        .map_or_else(api_error, |t| json(&t))
}

async fn api_span(State(st): State<Shared>, Path((id, span)): Path<(String, String)>) -> Response {
    let result = async {
        let trace = parse_trace(&id)?;
        let span: SpanId = span
            .parse()
            .map_err(|_| Fail::BadRequest(format!("{span:?} is not a span id (16 hex digits)")))?;
        read(&st, move |r| {
            trace_data::load_span(r, &trace, span.0)?.ok_or_else(|| {
                Fail::NotFound(format!("span {span} of trace {trace} is not in the spool"))
            })
        })
        .await
    }
    .await;
    result.map_or_else(api_error, |v| json(&v))
}

#[derive(serde::Deserialize)]
struct ExportParams {
    format: String,
}

async fn api_export(
    State(st): State<Shared>,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<ExportParams>,
) -> Response {
    let result = async {
        let trace = parse_trace(&id)?;
        let sink = Sink::by_export_format(&p.format).ok_or_else(|| {
            Fail::BadRequest(format!("format {:?}: cloudtrace or otlp-json", p.format))
        })?;
        let project = st.project.clone();
        let body = read(&st, move |r| {
            Ok(trace_data::export_trace(r, &trace, sink, &project)?)
        })
        .await?;
        Ok::<_, Fail>((trace, sink, body))
    }
    .await;
    match result {
        Ok((trace, sink, body)) => {
            let name = format!(
                "attachment; filename=\"trace-{trace}.{}.jsonl\"",
                sink.export_format()
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/x-ndjson"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&name)
                            .unwrap_or(HeaderValue::from_static("attachment")),
                    ),
                ],
                body,
            )
                .into_response()
        }
        Err(f) => api_error(f),
    }
}

async fn quarantine_data(st: &Shared) -> Result<Vec<quarantine::ReasonGroup>, Fail> {
    read(st, |r| Ok(quarantine::load_quarantine(r)?)).await
}

async fn page_quarantine(State(st): State<Shared>) -> Response {
    match quarantine_data(&st).await {
        Ok(g) => html(StatusCode::OK, pages::quarantine_page(&st.spool_text, &g)),
        Err(f) => page_error(&st, f),
    }
}

async fn api_quarantine(State(st): State<Shared>) -> Response {
    quarantine_data(&st)
        .await
        .map_or_else(api_error, |g| json(&g))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn not_found(State(st): State<Shared>) -> Response {
    page_error(&st, Fail::NotFound("no such page".into()))
}

/// Equal in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The access guard: the `Host` on loopback, the token elsewhere; the
/// headers every answer carries.
async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let mut set_cookie = false;
    match &st.token {
        None => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if !st.hosts.iter().any(|h| h == host) {
                return (
                    StatusCode::FORBIDDEN,
                    "tracespool view answers only to the address it printed\n",
                )
                    .into_response();
            }
        }
        Some(token) => {
            let in_query = req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|kv| kv.strip_prefix("token=").is_some_and(|t| same(t, token)))
            });
            let in_cookie = req.headers().get_all(header::COOKIE).iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(';').any(|c| {
                        c.trim()
                            .strip_prefix(COOKIE)
                            .and_then(|r| r.strip_prefix('='))
                            .is_some_and(|t| same(t, token))
                    })
                })
            });
            let bearer = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|t| same(t, token));
            if !(in_query || in_cookie || bearer) {
                return (
                    StatusCode::UNAUTHORIZED,
                    "this viewer needs its access token: open the URL `tracespool view` printed\n",
                )
                    .into_response();
            }
            set_cookie = in_query && !in_cookie;
        }
    }
    let token = st.token.clone();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let (true, Some(t)) = (set_cookie, token) {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict"))
        {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn router(st: Shared) -> Router {
    Router::new()
        .route("/", get(page_overview))
        .route("/traces", get(page_traces))
        .route("/trace/{id}", get(page_trace))
        .route("/quarantine", get(page_quarantine))
        .route("/api/overview", get(api_overview))
        .route("/api/traces", get(api_traces))
        .route("/api/trace/{id}", get(api_trace))
        .route("/api/trace/{id}/span/{span}", get(api_span))
        .route("/api/trace/{id}/export", get(api_export))
        .route("/api/quarantine", get(api_quarantine))
        .route(
            "/assets/view.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/assets/view.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(st.clone(), guard))
        .with_state(st)
}

/// 32 hex digits from the kernel's random source.
fn random_token() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("read /dev/urandom for the access token")?;
    Ok(crate::inspect::common::hex(&b))
}

/// `tracespool view`: serves until Ctrl-C, SIGTERM or `--exit-after`.
pub async fn serve(a: ViewArgs) -> anyhow::Result<u8> {
    let spool = a.spool.path().to_owned();
    let reader = crate::inspect::common::open_ro(&spool)?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("listen on {}", a.listen))?;
    let addr: SocketAddr = listener.local_addr().context("the listening address")?;
    let loopback = addr.ip().is_loopback();
    let token = if loopback {
        None
    } else {
        Some(random_token()?)
    };
    let port = addr.port();
    let hosts = vec![
        format!("{addr}"),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    let url = match &token {
        None => format!("http://{addr}/"),
        Some(t) => format!("http://{addr}/?token={t}"),
    };
    let st = Arc::new(Inner {
        spool_text: spool.display().to_string(),
        spool,
        reader: Mutex::new(reader),
        token,
        hosts,
        project: a
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "PROJECT_ID".into()),
    });
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
    }
    if loopback {
        eprintln!(
            "tracespool view: {} read-only at {url} (Ctrl-C to stop)",
            st.spool_text
        );
    } else {
        eprintln!(
            "tracespool view: {} read-only at {url} (listening beyond this machine: every request needs the token in this URL; Ctrl-C to stop)",
            st.spool_text
        );
    }
    let exit_after = a.exit_after;
    let stop = async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let timer = async {
            match exit_after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {}, _ = timer => {} }
    };
    axum::serve(listener, router(st))
        .with_graceful_shutdown(stop)
        .await
        .context("serve")?;
    Ok(0)
}

//! Posting one request body and reading the answer: a status with its
//! `Retry-After`, or a transport error and whether the body may have left.

use tracespool_spool::now_ns;

use crate::answer::{http_date_unix_secs, parse_retry_after, Answer};

/// Posts a body; returns (status, Retry-After, body) or a transport error.
pub(crate) struct Sender {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    /// Content type, `Content-Encoding`, `x-goog-user-project` and the
    /// `--header`s: the same on every request. Never logged.
    pub(crate) headers: reqwest::header::HeaderMap,
}

impl Sender {
    /// Posts `body`; `token` empty: no `Authorization` (`--no-auth`).
    pub(crate) async fn post(&self, token: &str, body: bytes::Bytes) -> Answer {
        let mut req = self.client.post(&self.url).headers(self.headers.clone());
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let res = req.body(body).send().await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let now = now_ns() / 1_000_000_000;
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now));
                let date = server_date(r.headers());
                let body = r.bytes().await.unwrap_or_default();
                Answer::Http {
                    status,
                    retry_after,
                    body,
                    date,
                }
            }
            Err(e) => {
                let sent = !e.is_connect();
                let reason = crate::http::error_chain(&e);
                Answer::Transport { reason, sent }
            }
        }
    }
}

/// A response's `Date`, in seconds since the epoch.
pub(crate) fn server_date(h: &reqwest::header::HeaderMap) -> Option<i64> {
    h.get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date_unix_secs)
}

impl Sender {
    /// One `GET` of `endpoint`, without credentials, for the server's
    /// `Date` (any answer carries one). `None` offline.
    pub(crate) async fn server_date(&self, endpoint: &str) -> Option<i64> {
        let r = self
            .client
            .get(endpoint)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        server_date(r.headers())
    }
}

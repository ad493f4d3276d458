//! `upload --dry-run`: each request as one JSON line on stdout instead of
//! sending it: method, URL, headers (secrets masked: the token and every
//! `--header` value), the body's size as it would be sent, and the body
//! (as the destination reads it as JSON: Cloud Trace's is the exact body;
//! OTLP's the request in OTLP/JSON, read back from the protobuf that would
//! be sent).

use std::io::{Read, Write};

use anyhow::Context as _;

use super::send::Sender;
use crate::compression::Compression;
use crate::destination::sink::Sink;

/// Prints one request.
pub(crate) fn print_request(
    sink: Sink,
    compression: Compression,
    sender: &Sender,
    authenticated: bool,
    body: &[u8],
) -> anyhow::Result<()> {
    let mut headers = serde_json::Map::new();
    if authenticated {
        headers.insert("authorization".into(), "Bearer <token>".into());
    }
    for (k, v) in &sender.headers {
        let shown = if k == reqwest::header::CONTENT_TYPE
            || k == reqwest::header::CONTENT_ENCODING
            || k.as_str() == "x-goog-user-project"
        {
            v.to_str().unwrap_or("").to_owned()
        } else {
            "<set>".to_owned()
        };
        headers.insert(k.as_str().to_owned(), shown.into());
    }
    // Read back what would be sent: the printed body is the sent one.
    let raw = match compression {
        Compression::None => body.to_vec(),
        Compression::Gzip => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .context("read back the compressed body")?;
            out
        }
    };
    let mut out = std::io::stdout().lock();
    let head = serde_json::json!({
        "method": "POST",
        "url": sender.url,
        "headers": headers,
        "body_bytes": body.len(),
    })
    .to_string();
    out.write_all(&head.as_bytes()[..head.len() - 1])
        .and_then(|_| out.write_all(b",\"body\":"))
        .context("write to stdout")?;
    sink.write_body_json(&raw, &mut out)
        .context("write to stdout")?;
    out.write_all(b"}\n").context("write to stdout")?;
    Ok(())
}

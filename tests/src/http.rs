//! A minimal HTTP/1.1 server on 127.0.0.1 for the stand-in: a thread per
//! connection, keep-alive, `Content-Length` bodies, `TCP_NODELAY`, and two
//! ways to fail a request that a library server does not offer: a real TCP
//! reset (`SO_LINGER` 0) and a broken answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// A request.
#[derive(Debug)]
pub struct Request {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The request target, e.g. `/v2/projects/p/traces:batchWrite`.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with a request.
pub enum Reply {
    /// Answer: status, extra headers, body (JSON unless the extra headers
    /// name another `Content-Type`).
    Respond(u16, Vec<(String, String)>, Vec<u8>),
    /// Close the connection with a TCP reset and no answer.
    Reset,
    /// Write bytes that are not HTTP, then close.
    Broken,
}

/// The handler.
pub type Handler = Arc<dyn Fn(Request) -> Reply + Send + Sync>;

/// A running server; stops accepting when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Added to this machine's clock in every `Date` header, as a server
    /// whose clock differs would send it.
    date_offset_secs: Arc<AtomicI64>,
    accept: Option<std::thread::JoinHandle<()>>,
}

/// A connection: plain TCP, or TLS over it.
trait Conn: Read + Write + Send + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

impl Server {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn start(port: u16, handler: Handler) -> std::io::Result<Server> {
        Self::start_with(port, handler, None)
    }

    /// Listens on `127.0.0.1:port` for HTTPS with `tls`.
    pub fn start_tls(
        port: u16,
        handler: Handler,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Server> {
        Self::start_with(port, handler, Some(tls))
    }

    fn start_with(
        port: u16,
        handler: Handler,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let date_offset_secs = Arc::new(AtomicI64::new(0));
        let offset = date_offset_secs.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_nodelay(true);
                let (h, stop3, offset) = (handler.clone(), stop2.clone(), offset.clone());
                match &tls {
                    None => {
                        std::thread::spawn(move || serve(conn, h, stop3, offset));
                    }
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        let stream = rustls::StreamOwned::new(session, conn);
                        std::thread::spawn(move || serve(stream, h, stop3, offset));
                    }
                }
            }
        });
        Ok(Server {
            addr,
            stop,
            date_offset_secs,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `Date` headers `secs` ahead of this machine's clock (behind
    /// when negative).
    pub fn set_date_offset_secs(&self, secs: i64) {
        self.date_offset_secs.store(secs, Ordering::SeqCst);
    }
}

/// The `Date` header value, as every Google answer carries one.
fn http_date(offset_secs: i64) -> String {
    let now = std::time::SystemTime::now();
    let d = std::time::Duration::from_secs(offset_secs.unsigned_abs());
    let t = if offset_secs >= 0 { now + d } else { now - d };
    httpdate::fmt_http_date(t)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn serve<C: Conn>(stream: C, handler: Handler, stop: Arc<AtomicBool>, date_offset: Arc<AtomicI64>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let close = get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if get("transfer-encoding").is_some() {
            let w = reader.get_mut();
            let _ = w.write_all(
                b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let _ = w.flush();
            return;
        }
        let len: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = handler(Request {
            method,
            path,
            headers,
            body,
        });
        match reply {
            Reply::Reset => {
                reset(reader.get_ref().tcp());
                return;
            }
            Reply::Broken => {
                let w = reader.get_mut();
                let _ = w.write_all(b"NOT HTTP\r\n\r\n");
                let _ = w.flush();
                return;
            }
            Reply::Respond(status, extra, body) => {
                let mut out = format!(
                    "HTTP/1.1 {status} {}\r\nDate: {}\r\nContent-Length: {}\r\n",
                    reason(status),
                    http_date(date_offset.load(Ordering::Relaxed)),
                    body.len()
                );
                if !extra
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    out.push_str("Content-Type: application/json\r\n");
                }
                for (k, v) in extra {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                if close {
                    out.push_str("Connection: close\r\n");
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&body);
                let w = reader.get_mut();
                if w.write_all(&bytes).and_then(|()| w.flush()).is_err() || close {
                    return;
                }
            }
        }
    }
}

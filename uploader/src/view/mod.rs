//! `tracespool view`: a spool's traces in a browser, offline.
//!
//! # Invariants
//!
//! * **It never writes.** The spool is opened read-only (as `inspect`
//!   opens it: a live spool through its WAL, a read-only copy or medium
//!   as it is); every route is `GET`; any other method gets 405. (Beside
//!   a spool whose writers have all closed, SQLite's read protocol may
//!   leave an empty `-wal` and a `-shm`; the spool file is never changed.)
//! * **It stays on this machine unless asked.** It binds to 127.0.0.1 on a
//!   free port by default, and there it answers only requests whose `Host`
//!   is this address (no DNS rebinding). On any other address (`--listen`),
//!   every request needs the random access token printed at start (in the
//!   URL's `?token=`, which sets a cookie, or as `Authorization: Bearer`).
//! * **No network beyond the browser's requests to it.** Every asset (one
//!   stylesheet, one script) is compiled into the binary; the pages work
//!   without the script, except the span details panel.
//! * **Memory does not grow with the spool.** Searches read rows newest
//!   first and keep only the traces in progress ([`search`]); a trace, a
//!   span or the chart is one pass over the table ([`trace_data`],
//!   [`overview`]).
//!
//! # Pages and API
//!
//! Each page is rendered on the server from the same value the JSON API
//! serves under `/api/`:
//!
//! | page | API | what |
//! |---|---|---|
//! | `/` | `/api/overview` | pending, quarantined, oldest pending, upload status and last error, every health figure, spans per time bucket |
//! | `/traces?service=&name=&min_duration=&from=&to=&errors=on&attr=K=V&before=&limit=` | `/api/traces?…` (same parameters) | a page of traces, newest first, with `next_before_row` for the next page |
//! | `/trace/<32 hex>` | `/api/trace/<32 hex>` | the waterfall: spans in tree order with depth, offset, duration, error, state, event offsets |
//! | (the details panel) | `/api/trace/<id>/span/<16 hex>` | every field of a span (as `spans --json`), its state and quarantine reason, the linked traces in the spool |
//! | (downloads) | `/api/trace/<id>/export?format=cloudtrace\|otlp-json` | the trace as `export --format` writes it |
//! | `/quarantine` | `/api/quarantine` | quarantined spans by reason |
//!
//! In the waterfall each span is an element with `data-span-id` (16 hex)
//! and `data-parent-span-id` (16 hex, or empty for a root); a span whose
//! parent is not in the spool has the class `orphan`. The page sets
//! `data-ready` on `<body>` once its script ran; the details panel sets
//! `data-loaded-span-id` when a span's details are shown.

pub(crate) mod overview;
pub(crate) mod pages;
pub(crate) mod quarantine;
pub(crate) mod search;
pub(crate) mod server;
pub(crate) mod trace_data;

use std::net::SocketAddr;
use std::time::Duration;

/// Arguments of `tracespool view`.
#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    #[command(flatten)]
    pub spool: crate::cli::spool_arg::SpoolArg,
    /// Where to listen. Any address that is not loopback needs the access
    /// token printed at start.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Stop after this long (for scripts), e.g. `10m`.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub exit_after: Option<Duration>,
    /// The project named in Cloud Trace downloads [default:
    /// $GOOGLE_CLOUD_PROJECT, else PROJECT_ID].
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT", hide_env = true)]
    pub project: Option<String>,
}

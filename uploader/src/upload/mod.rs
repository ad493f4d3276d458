//! The upload: lease pending spans oldest first, convert them for the
//! destination, send them, and delete them only after a 2xx.
//!
//! # Invariants
//!
//! * A span leaves the spool only after a 2xx for the request that carried
//!   it (a partial success included: the spans it names are quarantined,
//!   the count of those it does not name is kept as `rejected_by_server`),
//!   or when it is quarantined (alone, with the server's reason), or when
//!   it is past Google's 14-day window and the destination is Google's
//!   (counted as `upload_expired`; a collector gets every span, however
//!   old).
//! * No deadline deletes data: when offline, without credentials, or
//!   refused, the uploader waits and retries (or, with `--once`, exits with
//!   spans left pending).
//! * A crash at any moment loses nothing; only the batch in flight may be
//!   sent twice. Requests that failed ambiguously (timeout, reset, 502/504)
//!   are counted as possible duplicates when resent.
//! * After a 2xx the run is marked delivered (one tiny transaction) before
//!   the next request goes out; its rows are deleted by the deleting thread
//!   on its own connection while that request is in flight (the spool's
//!   invariant 5). A crash between the two leaves rows at or below the mark,
//!   which the next run deletes before sending anything: they are never
//!   sent again.
//!
//! # Layout
//!
//! Three threads: the **preparing** thread ([`prepare`]) leases, decodes
//! and writes request bodies ahead; the **sending** task ([`run`], with
//! [`deliver`]'s state machine) sends them and marks them delivered; the
//! **deleting** thread ([`delete`]) deletes delivered runs.
//!
//! | module | what |
//! |---|---|
//! | [`command`] | `tracespool upload`: its flags, checks before any traffic, the lock |
//! | [`config`] | what a run was asked to do, how it ended, its counters |
//! | [`run`] | the run's loop: batches in, shutdown, deadline, waiting for spans |
//! | [`prepare`] | the preparing thread |
//! | [`deliver`] | one batch's attempts: the state machine |
//! | [`send`] | one request and its answer |
//! | [`ledger`] | every write to the spool: rows, counters, status |
//! | [`delete`] | the deleting thread |
//! | [`waits`] | the clock of waits after failures (real or simulated) |
//! | [`dry_run`] | `--dry-run`: requests printed instead of sent |
//! | [`watch`] | file watching, to wake on new spans |

pub(crate) mod command;
pub(crate) mod config;
pub(crate) mod delete;
pub(crate) mod deliver;
pub(crate) mod dry_run;
pub(crate) mod ledger;
pub(crate) mod prepare;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod waits;
pub(crate) mod watch;

//! Operator commands: `inspect`, `spans`, `trace`, `export`, `requeue`,
//! `purge`, `recover`, `doctor`. Reading opens the spool read-only (WAL
//! readers never block writers); only `requeue`, `purge` and `recover`
//! change it. One command per file, each with its arguments; the helpers
//! they share are in [`common`] and [`tree`] (a trace in tree order).

pub(crate) mod common;
pub(crate) mod doctor;
pub(crate) mod export;
pub(crate) mod maintain;
pub(crate) mod recover;
pub(crate) mod spans;
pub(crate) mod status;
pub(crate) mod trace;
pub(crate) mod tree;

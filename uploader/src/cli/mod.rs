//! What the commands share on the command line: where spans go
//! ([`cloud::CloudArgs`]), the project ([`project`]), exit codes and the
//! errors that choose them ([`exit`]), logging ([`logging`]), completions
//! and man pages ([`generated_docs`]). The command
//! table itself is in `main.rs`; each command's arguments live with the
//! command.

pub(crate) mod cloud;
pub(crate) mod exit;
pub(crate) mod generated_docs;
pub(crate) mod headers;
pub(crate) mod logging;
pub(crate) mod otel_env;
pub(crate) mod project;
pub(crate) mod spool_arg;

/// A `--resource-labels` regex.
pub fn parse_key_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| e.to_string())
}

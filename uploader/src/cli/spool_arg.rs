//! The spool a command works on.

use std::path::{Path, PathBuf};

/// `SPOOL`, or `--spool SPOOL` (the same: the form `upload` took before
/// 0.2, kept for scripts), or `$TRACESPOOL_SPOOL`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct SpoolArg {
    /// The spool file [env: TRACESPOOL_SPOOL].
    #[arg(value_name = "SPOOL", env = "TRACESPOOL_SPOOL", hide_env = true)]
    positional: Option<PathBuf>,
    /// The spool file (the same as SPOOL).
    #[arg(long = "spool", value_name = "SPOOL", hide = true)]
    flag: Option<PathBuf>,
}

impl SpoolArg {
    /// The spool's path.
    pub fn path(&self) -> &Path {
        self.flag
            .as_deref()
            .or(self.positional.as_deref())
            .expect("clap requires one")
    }
}

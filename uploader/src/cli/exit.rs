//! Exit codes and the errors that choose them (see `docs/operations.md`):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (for `upload --once`: nothing left pending; after SIGTERM/SIGINT; a closed pipe) |
//! | 1 | unexpected error |
//! | 64 | usage error: an unknown flag, a missing or malformed argument (also from the environment), as `EX_USAGE` |
//! | 69 | another uploader holds the spool |
//! | 75 | spans remain because the network, credentials or server were not available (cron may simply try again later) |
//! | 78 | configuration error (an unreadable key or spool, not a spool, no project, a damaged spool, a network file system) |

/// Exit code: the command line (or an environment variable standing for
/// a flag) is malformed.
pub const EXIT_USAGE: u8 = 64;
/// Exit code: another uploader holds the spool.
pub const EXIT_LOCKED: u8 = 69;
/// Exit code: spans remain (offline, no credentials, server refusing).
pub const EXIT_SPANS_REMAIN: u8 = 75;
/// Exit code: configuration error.
pub const EXIT_CONFIG: u8 = 78;

/// A configuration error: exit 78.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// An error whose exit code is already decided.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

/// Prints a failed command's error and returns its exit code: the
/// decided code of an [`Exit`], 0 for a closed pipe, 78 for configuration
/// errors and damaged spools (with what to do), 1 otherwise.
pub fn report(e: &anyhow::Error) -> u8 {
    if is_broken_pipe(e) {
        return 0;
    }
    if let Some(x) = e.downcast_ref::<Exit>() {
        eprintln!("tracespool: {}", x.message);
        return x.code;
    }
    // The whole chain, each cause once (a cause its outer message already
    // quotes is not repeated).
    eprintln!("tracespool: {}", crate::http::error_chain(e.as_ref()));
    let damaged = e.chain().any(|c| {
        c.downcast_ref::<tracespool_spool::SpoolError>()
            .is_some_and(|s| s.is_corrupt())
    });
    if damaged {
        eprintln!(
            "tracespool: the spool is damaged; `tracespool recover SPOOL` moves every readable span into a fresh spool and keeps the damaged file aside"
        );
    }
    let config = damaged
        || e.chain().any(|c| {
            c.downcast_ref::<ConfigError>().is_some()
                || c.downcast_ref::<tracespool_spool::OpenError>()
                    .is_some_and(is_config_open_error)
                || matches!(
                    c.downcast_ref::<tracespool_spool::SpoolError>(),
                    Some(tracespool_spool::SpoolError::Open(o)) if is_config_open_error(o)
                )
        });
    if config {
        EXIT_CONFIG
    } else {
        1
    }
}

/// Whether opening the spool failed for a reason the operator must fix
/// (exit 78), not SQLite trouble that may pass.
fn is_config_open_error(e: &tracespool_spool::OpenError) -> bool {
    !matches!(e, tracespool_spool::OpenError::Sqlite { .. })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_choose_their_exit_codes() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(report(&pipe.context("write to stdout")), 0);
        let locked = anyhow::Error::from(Exit {
            code: EXIT_LOCKED,
            message: "held".into(),
        });
        assert_eq!(report(&locked), EXIT_LOCKED);
        let config = anyhow::Error::from(ConfigError("no project".into())).context("upload");
        assert_eq!(report(&config), EXIT_CONFIG);
        assert_eq!(report(&anyhow::anyhow!("surprise")), 1);
    }
}

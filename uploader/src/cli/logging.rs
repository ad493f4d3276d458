//! Logging on stderr: human or JSON lines, `-v`/`-vv`, `RUST_LOG`;
//! colours on a terminal unless `NO_COLOR` is set (<https://no-color.org>).

/// Log format on stderr.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
}

/// Starts logging on stderr.
pub fn init(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // gcp_auth warns at every retry of a token request (five tries)
    // before the error the uploader reports itself: its chatter shows
    // from -v on.
    let default = match verbose {
        0 => "info,gcp_auth=error",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => b.with_ansi(colours()).init(),
        LogFormat::Json => b.json().init(),
    }
}

/// Whether stderr gets colours: a terminal, and `NO_COLOR` unset or empty.
pub fn colours() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

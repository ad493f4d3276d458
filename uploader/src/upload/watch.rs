//! File watching: every change of the spool or its WAL wakes the uploader
//! in service mode (besides its 1 s poll).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;

/// Watches the spool's directory; every change of the spool or its WAL
/// wakes the uploader. `None` (polling only) if watching is unavailable.
pub(crate) fn watch_spool(spool: &Path, wake: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let name = spool.file_name()?.to_os_string();
    let dir = match spool.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let handler = move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            let ours = ev.paths.iter().any(|p| {
                p.file_name()
                    .is_some_and(|f| f.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
            });
            if ours {
                wake.notify_one();
            }
        }
    };
    let watched = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w));
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::info!(error = %e, "file watching unavailable; polling the spool every second");
            None
        }
    }
}

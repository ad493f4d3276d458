//! Where benchmarks put their spools, and what file system that is.
//!
//! Spool figures depend on the disk: the same benchmark on tmpfs runs about
//! twice as fast as on this machine's virtual disk. Benchmarks therefore
//! write under `TRACESPOOL_BENCH_DIR` if set, else under the target
//! directory (on the real disk in a normal checkout), and print the file
//! system they measured. This file is shared by path with the recorder's
//! benchmarks, which cannot depend on this crate.
use std::path::{Path, PathBuf};

/// The directory benchmarks create their spools in (created if missing).
pub fn bench_dir(target_tmpdir: &str) -> PathBuf {
    let dir = std::env::var_os("TRACESPOOL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(target_tmpdir));
    std::fs::create_dir_all(&dir).expect("create the benchmark directory");
    dir
}

/// The type and source of the file system `path` is on, from
/// `/proc/self/mounts` (the longest mount point that contains it), e.g.
/// `"ext4 on /dev/vda"` or `"tmpfs on tmpfs"`.
pub fn filesystem_of(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1])).then(|| (f[1].len(), f[2], f[0]))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, fstype, source)| format!("{fstype} on {source}"))
        .unwrap_or_else(|| "unknown file system".into())
}

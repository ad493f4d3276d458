//! Real small file systems for tests: a tmpfs of a given size mounted on a
//! fresh directory (with `mount`, as root), unmounted when dropped. Where
//! mounting is not permitted (no root, no `CAP_SYS_ADMIN`), [`Tmpfs::mount`]
//! says so on stderr and returns `None`: the test then skips, with that
//! message in its output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A mounted tmpfs.
pub struct Tmpfs {
    dir: PathBuf,
}

/// A fresh, empty directory for a mount point.
fn mount_point() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tracespool-tmpfs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a mount point");
    dir
}

impl Tmpfs {
    /// A tmpfs of `bytes` on a fresh directory, or `None` (with a message)
    /// where mounting is not permitted.
    pub fn mount(bytes: u64) -> Option<Tmpfs> {
        let dir = mount_point();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0755")])
            .arg("tmpfs")
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                let _ = std::fs::remove_dir(&dir);
                crate::skip(&format!(
                    "cannot mount a {bytes}-byte tmpfs here: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => crate::skip(&format!("cannot run mount: {e}")),
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A path inside the mount.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Remounts it read-only (or read-write again).
    pub fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let st = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount -o {mode} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process the test started may still hold a file open.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

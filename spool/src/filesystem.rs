//! What the file system under a spool is: its size, its free space, and
//! whether it is local.
//!
//! # Why it matters
//!
//! * **Network file systems corrupt a WAL spool silently.** SQLite's WAL
//!   keeps its index in shared memory (the `-shm` file, mapped by every
//!   process), which only works when every process is on one host with one
//!   page cache; SQLite states that WAL does not work over a network file
//!   system. So a read-write opening on one is refused
//!   ([`crate::OpenError::NetworkFileSystem`]) unless the caller says that
//!   one process of one host uses the spool ([`crate::NetworkFs`]).
//! * **Small file systems need proportions, not constants.** The space
//!   reserve and the WAL's size follow the file system's size
//!   ([`crate::reserve_for`], the `connection` module's pragmas).
//!
//! # Classification
//!
//! `statfs`'s magic number names the file system, except FUSE, where
//! `/proc/self/mountinfo`'s type (`fuse.sshfs`, ...) does, and virtiofs,
//! which mountinfo names too. Network (refused): NFS, SMB/CIFS, 9p,
//! virtiofs, Ceph, Lustre, GPFS, AFS, Coda, NCP, the cluster file systems
//! OCFS2 and GFS2, and the network FUSE file systems in
//! [`NETWORK_FUSE`]. Everything else is local, other FUSE file systems
//! included (`fuse-overlayfs` in rootless containers, `bindfs`). On systems
//! other than Linux every file system counts as local.

use std::path::{Path, PathBuf};

/// The network FUSE file systems (mountinfo's `fuse.` subtype).
pub const NETWORK_FUSE: &[&str] = &[
    "sshfs",
    "glusterfs",
    "s3fs",
    "rclone",
    "gcsfuse",
    "ceph-fuse",
    "juicefs",
    "mfs",
    "lizardfs",
    "beegfs",
    "blobfuse",
    "blobfuse2",
    "goofys",
    "davfs",
    "curlftpfs",
];

/// What kind of file system.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsKind {
    /// One host's disk (or memory).
    Local,
    /// Shared over the network (or by a cluster): its type, as mountinfo
    /// or the magic number names it (`nfs4`, `fuse.sshfs`, `cifs`, ...).
    Network(String),
}

/// The file system under a path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsInfo {
    /// Its size, bytes.
    pub total_bytes: u64,
    /// Bytes free for unprivileged writers.
    pub free_bytes: u64,
    /// Local or network.
    pub kind: FsKind,
}

/// The file system of the directory that holds `path` (`None` if it
/// cannot be asked).
pub fn fs_info(path: &Path) -> Option<FsInfo> {
    let dir = parent_dir(path);
    let st = rustix::fs::statvfs(&dir).ok()?;
    Some(FsInfo {
        total_bytes: st.f_blocks.saturating_mul(st.f_frsize),
        free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
        kind: kind_of(&dir),
    })
}

/// Bytes free for unprivileged writers on the file system holding `path`
/// (`None` if it cannot be asked): one `statvfs`, cheap enough for every
/// batch.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(parent_dir(path)).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn kind_of(dir: &Path) -> FsKind {
    let Ok(st) = rustix::fs::statfs(dir) else {
        return FsKind::Local;
    };
    let mount_type = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| mount_type(&std::fs::read_to_string("/proc/self/mountinfo").ok()?, &d));
    classify(st.f_type as u64, mount_type.as_deref())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn kind_of(_dir: &Path) -> FsKind {
    FsKind::Local
}

/// Linux's file system magic numbers of network and cluster file systems.
const NETWORK_MAGIC: &[(u64, &str)] = &[
    (0x6969, "nfs"),
    (0x517b, "smb"),
    (0xff53_4d42, "cifs"),
    (0xfe53_4d42, "smb2"),
    (0x0102_1997, "9p"),
    (0x00c3_6400, "ceph"),
    (0x0bd0_0bd0, "lustre"),
    (0x4750_4653, "gpfs"),
    (0x5346_414f, "afs"),
    (0x6b41_4653, "afs"),
    (0x7375_7245, "coda"),
    (0x564c, "ncp"),
    (0x7461_636f, "ocfs2"),
    (0x0116_1970, "gfs2"),
];

/// The kind of a file system from its `statfs` magic and its mountinfo
/// type, if known.
pub fn classify(magic: u64, mount_type: Option<&str>) -> FsKind {
    if let Some(&(_, name)) = NETWORK_MAGIC.iter().find(|(m, _)| *m == magic) {
        return FsKind::Network(mount_type.unwrap_or(name).to_owned());
    }
    match mount_type {
        Some(t) if t == "virtiofs" || network_mount_type(t) => FsKind::Network(t.to_owned()),
        // FUSE without a known network subtype, and everything else.
        _ => FsKind::Local,
    }
}

fn network_mount_type(t: &str) -> bool {
    match t.strip_prefix("fuse.") {
        Some(sub) => NETWORK_FUSE.contains(&sub),
        None => matches!(
            t,
            "nfs"
                | "nfs4"
                | "cifs"
                | "smb3"
                | "smbfs"
                | "9p"
                | "ceph"
                | "lustre"
                | "gpfs"
                | "glusterfs"
                | "afs"
                | "coda"
                | "ncpfs"
                | "ocfs2"
                | "gfs2"
                | "davfs"
        ),
    }
}

/// The type of the mount that holds `dir` (canonical), from the text of
/// `/proc/self/mountinfo`: the longest mount point that is a prefix of it.
/// FUSE mounts read `fuse.<subtype>`.
pub fn mount_type(mountinfo: &str, dir: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options [optional...] - type source super-options
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(dash)) = (fields.get(4), fields.iter().position(|f| *f == "-"))
        else {
            continue;
        };
        let Some(fstype) = fields.get(dash + 1) else {
            continue;
        };
        let point = unescape(point);
        if dir.starts_with(&point) {
            let len = point.len();
            if best.as_ref().is_none_or(|(l, _)| len >= *l) {
                best = Some((len, (*fstype).to_owned()));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FUSE's magic number (the type is then mountinfo's).
    const FUSE_MAGIC: u64 = 0x6573_5546;

    #[test]
    fn magic_numbers_and_mount_types_classify() {
        let net = |t: &str| FsKind::Network(t.to_owned());
        // ext4, tmpfs, xfs, btrfs, overlay: local.
        for magic in [0xef53, 0x0102_1994, 0x5846_5342, 0x9123_683e, 0x794c_7630] {
            assert_eq!(classify(magic, None), FsKind::Local, "{magic:#x}");
        }
        assert_eq!(classify(0x6969, Some("nfs4")), net("nfs4"));
        assert_eq!(classify(0x6969, None), net("nfs"));
        assert_eq!(classify(0xff53_4d42, Some("cifs")), net("cifs"));
        assert_eq!(classify(0xfe53_4d42, Some("smb3")), net("smb3"));
        assert_eq!(classify(0x0102_1997, Some("9p")), net("9p"));
        assert_eq!(classify(0x0bd0_0bd0, Some("lustre")), net("lustre"));
        assert_eq!(classify(0x4750_4653, Some("gpfs")), net("gpfs"));
        // FUSE: the subtype decides.
        assert_eq!(classify(FUSE_MAGIC, Some("fuse.sshfs")), net("fuse.sshfs"));
        assert_eq!(
            classify(FUSE_MAGIC, Some("fuse.glusterfs")),
            net("fuse.glusterfs")
        );
        assert_eq!(classify(FUSE_MAGIC, Some("virtiofs")), net("virtiofs"));
        assert_eq!(
            classify(FUSE_MAGIC, Some("fuse.fuse-overlayfs")),
            FsKind::Local
        );
        assert_eq!(classify(FUSE_MAGIC, Some("fuse.bindfs")), FsKind::Local);
        assert_eq!(classify(FUSE_MAGIC, None), FsKind::Local);
    }

    #[test]
    fn the_longest_mount_point_holds_the_directory() {
        let mi = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
45 22 0:40 / /tmp/mnt rw,nosuid - fuse.sshfs root@127.0.0.1:/src rw,user_id=0
46 22 0:41 / /tmp/mnt\\040two rw - nfs4 server:/export rw
47 45 0:42 / /tmp/mnt/inner rw - tmpfs tmpfs rw,size=4096k
";
        let t = |p: &str| mount_type(mi, Path::new(p));
        assert_eq!(t("/var/lib/app").as_deref(), Some("ext4"));
        assert_eq!(t("/tmp/mnt/data").as_deref(), Some("fuse.sshfs"));
        assert_eq!(t("/tmp/mnt/inner/x").as_deref(), Some("tmpfs"));
        assert_eq!(t("/tmp/mnt two/x").as_deref(), Some("nfs4"));
        // `/tmp/mntx` is not under `/tmp/mnt`.
        assert_eq!(t("/tmp/mntx").as_deref(), Some("ext4"));
    }

    #[test]
    fn this_machine_s_temporary_directory_is_local() {
        let info = fs_info(&std::env::temp_dir().join("x.spool")).unwrap();
        assert_eq!(info.kind, FsKind::Local);
        assert!(info.total_bytes >= info.free_bytes && info.total_bytes > 0);
    }
}

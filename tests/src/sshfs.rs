//! A real network file system for tests: an OpenSSH server on 127.0.0.1
//! (its own keys and configuration, in a fresh directory) and an sshfs
//! (FUSE) mount of one of its directories. Needs root, `/dev/fuse`,
//! `sshd`, `sshfs` and `ssh-keygen` (Debian's `openssh-server` and `sshfs`,
//! installed by `.ci/install-test-tools`); elsewhere [`Sshfs::mount`] says
//! what is missing and returns `None`, and the test skips.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// An sshfs mount of a local directory, through sshd on 127.0.0.1.
pub struct Sshfs {
    work: PathBuf,
    sshd: Child,
}

fn skip(why: &str) -> Option<Sshfs> {
    crate::skip(&format!("no sshfs mount here: {why}"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Sshfs {
    /// Starts sshd and mounts its directory, or `None` (with the reason).
    pub fn mount() -> Option<Sshfs> {
        for (p, what) in [
            ("/usr/sbin/sshd", "openssh-server"),
            ("/usr/bin/sshfs", "sshfs"),
            ("/usr/bin/ssh-keygen", "openssh-client"),
            ("/dev/fuse", "FUSE (/dev/fuse)"),
        ] {
            if !Path::new(p).exists() {
                return skip(&format!("{what} is missing"));
            }
        }
        if std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned))
            .is_none_or(|l| l.split_whitespace().nth(1) != Some("0"))
        {
            return skip("not root (sshd needs it)");
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let work = std::env::temp_dir().join(format!(
            "tracespool-sshfs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&work);
        for d in ["served", "mnt"] {
            std::fs::create_dir_all(work.join(d)).ok()?;
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        for key in ["client_key", "host_key"] {
            if let Err(e) = run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(work.join(key)))
            {
                return skip(&e);
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {w}/host_key\n\
             AuthorizedKeysFile {w}/client_key.pub\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nStrictModes no\nPidFile {w}/sshd.pid\n\
             Subsystem sftp internal-sftp\n",
            w = work.display()
        );
        std::fs::write(work.join("sshd_config"), config).ok()?;
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(work.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(sshd) = sshd else {
            return skip("sshd did not start");
        };
        let me = Sshfs { work, sshd };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return skip("sshd did not listen");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mounted = run(Command::new("sshfs")
            .args(["-p", &port.to_string(), "-o"])
            .arg(format!(
                "IdentityFile={}/client_key,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes",
                me.work.display()
            ))
            .arg(format!("root@127.0.0.1:{}", me.served().display()))
            .arg(me.path()));
        if let Err(e) = mounted {
            // Dropping `me` stops sshd.
            return skip(&e);
        }
        Some(me)
    }

    /// The mount point: paths under it are on sshfs.
    pub fn path(&self) -> PathBuf {
        self.work.join("mnt")
    }

    /// The local directory sshd serves (what the mount shows).
    pub fn served(&self) -> PathBuf {
        self.work.join("served")
    }
}

impl Drop for Sshfs {
    fn drop(&mut self) {
        let mnt = self.path();
        let unmounted = Command::new("fusermount3")
            .arg("-u")
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&mnt).status();
        }
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

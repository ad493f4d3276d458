//! How a spool is opened and what it keeps: named policies.

use std::time::Duration;

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Survives a crash of any process (`synchronous=NORMAL` in WAL mode);
    /// an OS crash or power cut may lose the last commits.
    #[default]
    Process,
    /// Also survives an OS crash or power cut (`synchronous=FULL`: an fsync
    /// per commit).
    PowerLoss,
}

/// What to drop when a batch would take the spool over its size budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnBudget {
    /// Delete the oldest rows to make room (keep the most recent spans).
    #[default]
    DropOldest,
    /// Refuse the new spans that do not fit (keep the oldest spans).
    DropNewest,
}

/// Limits on what the spool keeps. Unlimited by default; set a field, or
/// chain the `with_` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Budget {
    /// Maximum bytes of rows (see [`crate::row_bytes`]); `None`: unlimited.
    pub max_bytes: Option<u64>,
    /// Maximum age of a span (by its end time); older spans are deleted by
    /// writers and counted as `age_expired`. `None`: unlimited.
    pub max_age: Option<Duration>,
    /// What to drop when `max_bytes` is reached.
    pub on_budget: OnBudget,
}

/// How to open a spool. Start from the default; set a field, or chain the
/// `with_` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long to wait for another process's write lock before giving up.
    pub busy_timeout: Duration,
    /// SQLite's `max_page_count`, to cap the file at the SQLite level (and,
    /// in tests, to make a real "disk full"). `None`: SQLite's default.
    pub max_page_count: Option<u64>,
    /// The space reserve kept beside the spool for the uploader (see the
    /// `reserve` module): it holds room the uploader spends when the disk
    /// is full.
    pub reserve: Reserve,
    /// Whether a network file system may hold the spool.
    pub network_fs: NetworkFs,
}

/// How big the space reserve is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reserve {
    /// Scales with the file system: [`crate::reserve_for`] its size (a
    /// sixteenth, at least 256 KiB, at most 8 MiB).
    #[default]
    Auto,
    /// This many bytes.
    Bytes(u64),
    /// None: a full disk may strand the spool until something frees room.
    Off,
}

/// Whether a spool may be opened for writing on a network file system (see
/// the `filesystem` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NetworkFs {
    /// Refuse ([`crate::OpenError::NetworkFileSystem`]): WAL's shared
    /// memory does not work across hosts, and would corrupt the spool
    /// silently.
    #[default]
    Refuse,
    /// Allow it for one process of one host at a time (a batch job that
    /// records, then uploads when it is done), in SQLite's rollback-journal
    /// mode (`journal_mode=DELETE`), which needs no shared memory but
    /// working file locks (NFSv4, SMB); a writer then blocks readers.
    SingleHost,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            durability: Durability::Process,
            busy_timeout: Duration::from_secs(10),
            max_page_count: None,
            reserve: Reserve::Auto,
            network_fs: NetworkFs::Refuse,
        }
    }
}

impl Budget {
    /// With at most `bytes` of rows (see [`crate::row_bytes`]).
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// With spans kept at most `age` (by their end time).
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// With `policy` when `max_bytes` is reached.
    pub fn with_on_budget(mut self, policy: OnBudget) -> Self {
        self.on_budget = policy;
        self
    }
}

impl SpoolOptions {
    /// With this commit durability.
    pub fn with_durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// With this wait for another process's write lock.
    pub fn with_busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// With SQLite's `max_page_count` set.
    pub fn with_max_page_count(mut self, pages: u64) -> Self {
        self.max_page_count = Some(pages);
        self
    }

    /// With a space reserve of `bytes` (0: none).
    pub fn with_reserve_bytes(mut self, bytes: u64) -> Self {
        self.reserve = if bytes == 0 {
            Reserve::Off
        } else {
            Reserve::Bytes(bytes)
        };
        self
    }

    /// With this space reserve.
    pub fn with_reserve(mut self, r: Reserve) -> Self {
        self.reserve = r;
        self
    }

    /// Whether a network file system may hold the spool.
    pub fn with_network_fs(mut self, n: NetworkFs) -> Self {
        self.network_fs = n;
        self
    }
}

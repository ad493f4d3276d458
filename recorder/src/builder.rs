//! Configuring and starting a recorder: [`RecorderBuilder`], the resource
//! it records with, and the writer thread it starts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracespool_schema::{Attribute, AttributeValue, Resource, Str};
use tracespool_spool::{Budget, Durability, OnBudget, OpenError, RecorderDrops, SpoolOptions};

use crate::policy::OnFull;
use crate::queue::Lanes;
use crate::record_compression::{Packer, RecordCompression};
use crate::recorder::{FlushGuard, Recorder};
use crate::resources::Resources;
use crate::sampler::Sampler;
use crate::shared::{Settings, Shared};
use crate::sink::{SpanSink, SqliteSink};
use crate::writer::Writer;

/// Why the recorder could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] OpenError),
    /// The resource could not be encoded.
    #[error("resource: {0}")]
    Resource(#[from] tracespool_schema::EncodeError),
    /// The writer thread could not be started.
    #[error("start the writer thread: {0}")]
    Thread(std::io::Error),
}

/// Configures a [`Recorder`]. From [`Recorder::builder`].
#[derive(Debug)]
#[must_use]
pub struct RecorderBuilder {
    path: PathBuf,
    queue_capacity: usize,
    flush_interval: Duration,
    max_batch: usize,
    on_full: OnFull,
    sampler: Sampler,
    resource: Vec<Attribute>,
    /// Keys removed from the resource, the automatic ones included.
    removed: Vec<Str>,
    budget: Budget,
    spool_options: SpoolOptions,
    record_compression: RecordCompression,
}

impl RecorderBuilder {
    /// Spans the queue holds before [`OnFull`] applies (default 8192, about
    /// 4 MiB).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(2);
        self
    }
    /// How often the writer commits (default 100 ms): the most a crash can
    /// lose, in time.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d.max(Duration::from_millis(1));
        self
    }
    /// Most spans per transaction (default 4096).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }
    /// What to do on a full queue (default [`OnFull::DropNewest`]).
    pub fn on_full(mut self, p: OnFull) -> Self {
        self.on_full = p;
        self
    }
    /// The sampler (default parent-based, always on for roots).
    pub fn sampler(mut self, s: Sampler) -> Self {
        self.sampler = s;
        self
    }
    /// Sets `service.name`.
    pub fn service_name(self, name: impl Into<Str>) -> Self {
        self.resource_attribute("service.name", AttributeValue::String(name.into()))
    }
    /// Sets a resource attribute, replacing one with the same key (an
    /// automatic one too, see [`RecorderBuilder::remove_resource_attribute`]).
    /// An empty key is ignored.
    pub fn resource_attribute(
        mut self,
        key: impl Into<Str>,
        value: impl Into<AttributeValue>,
    ) -> Self {
        let a = Attribute::new(key, value);
        if a.key.is_empty() {
            return self;
        }
        self.removed.retain(|k| *k != a.key);
        self.resource.retain(|x| x.key != a.key);
        self.resource.push(a);
        self
    }

    /// Removes a resource attribute, whether set by
    /// [`RecorderBuilder::resource_attribute`] or added automatically.
    ///
    /// Added automatically unless removed: `telemetry.sdk.name`
    /// (`tracespool`), `telemetry.sdk.language` (`rust`),
    /// `telemetry.sdk.version`, `process.pid`, `host.name` (the node name
    /// of `uname`) and, when none is set,
    /// `service.name` = `unknown_service:<executable name>`. On devices
    /// where the host name is personal data:
    /// `.remove_resource_attribute("host.name")`.
    pub fn remove_resource_attribute(mut self, key: impl Into<Str>) -> Self {
        let key = key.into();
        self.resource.retain(|x| x.key != key);
        self.removed.push(key);
        self
    }
    /// Maximum bytes of spans the spool keeps (see `spool::row_bytes`).
    pub fn max_spool_bytes(mut self, bytes: u64) -> Self {
        self.budget.max_bytes = Some(bytes);
        self
    }
    /// Maximum age of a span in the spool.
    pub fn max_span_age(mut self, age: Duration) -> Self {
        self.budget.max_age = Some(age);
        self
    }
    /// What the size budget drops (default [`OnBudget::DropOldest`]).
    pub fn on_budget(mut self, p: OnBudget) -> Self {
        self.budget.on_budget = p;
        self
    }
    /// Commit durability (default [`Durability::Process`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.spool_options.durability = d;
        self
    }
    /// How records are stored (default [`RecordCompression::Zstd`]; `Off`
    /// while uploaders older than 0.2 read the spool).
    pub fn record_compression(mut self, c: RecordCompression) -> Self {
        self.record_compression = c;
        self
    }
    /// All spool options at once.
    pub fn spool_options(mut self, o: SpoolOptions) -> Self {
        self.spool_options = o;
        self
    }

    fn resource(&self) -> Resource {
        let mut attrs: Vec<Attribute> = vec![
            Attribute::new("telemetry.sdk.name", "tracespool"),
            Attribute::new("telemetry.sdk.language", "rust"),
            Attribute::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
            Attribute::new("process.pid", i64::from(std::process::id())),
        ];
        let uname = rustix::system::uname();
        let host = uname.nodename().to_string_lossy();
        if !host.is_empty() {
            attrs.push(Attribute::new("host.name", host.into_owned()));
        }
        if !self.resource.iter().any(|a| a.key == "service.name") {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            attrs.push(Attribute::new(
                "service.name",
                format!("unknown_service:{exe}"),
            ));
        }
        for a in &self.resource {
            attrs.retain(|x| x.key != a.key);
            attrs.push(a.clone());
        }
        attrs.retain(|x| !self.removed.contains(&x.key));
        Resource::new(attrs)
    }

    /// Opens the spool (creating it, mode 0600) and starts the writer
    /// thread.
    pub fn build(self) -> Result<(Recorder, FlushGuard), BuildError> {
        let sink = SqliteSink::open(&self.path, self.budget, self.spool_options)?;
        self.start(sink)
    }

    /// Starts the recorder with `sink` (see [`crate::testing`]; `build`
    /// uses the spool).
    pub(crate) fn start(self, sink: impl SpanSink) -> Result<(Recorder, FlushGuard), BuildError> {
        let resources = Resources::new(self.resource())?;
        let shared = Arc::new(Shared::new(
            Lanes::new(self.queue_capacity, self.max_batch),
            resources,
            Settings {
                on_full: self.on_full,
                sampler: self.sampler,
                high_water: (self.queue_capacity / 2).max(1),
                queue_capacity: self.queue_capacity,
            },
        ));
        let worker = Writer {
            shared: shared.clone(),
            sink: Box::new(sink),
            flush_interval: self.flush_interval,
            max_batch: self.max_batch,
            reported: RecorderDrops::default(),
            span_encoders: Vec::new(),
            deferred: Vec::new(),
            packer: Packer::new(self.record_compression),
            compressing: None,
            in_flight: None,
            spare_records: Vec::new(),
            spare_spans: Vec::new(),
            last_drops_note: None,
        };
        let handle = std::thread::Builder::new()
            .name("tracespool-writer".into())
            .spawn(move || worker.run())
            .map_err(BuildError::Thread)?;
        shared.signals.set_writer(handle.thread().clone());
        let recorder = Recorder { shared };
        let guard = FlushGuard {
            recorder: recorder.clone(),
            handle: Mutex::new(Some(handle)),
        };
        Ok((recorder, guard))
    }
}

impl Recorder {
    /// A builder for a recorder writing to the spool at `path`.
    pub fn builder(path: impl AsRef<Path>) -> RecorderBuilder {
        RecorderBuilder {
            path: path.as_ref().to_owned(),
            queue_capacity: 8192,
            flush_interval: Duration::from_millis(100),
            max_batch: 4096,
            on_full: OnFull::DropNewest,
            sampler: Sampler::default(),
            resource: Vec::new(),
            removed: Vec::new(),
            budget: Budget::default(),
            spool_options: SpoolOptions::default(),
            record_compression: RecordCompression::default(),
        }
    }
}

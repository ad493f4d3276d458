//! The destination chosen by `--sink`: [`Sink`], one of [`DESTINATIONS`].

use super::{cloudtrace, otlp, Destination};

/// Every destination, the default first.
pub(crate) const DESTINATIONS: &[&dyn Destination] = &[&cloudtrace::CloudTrace, &otlp::Otlp];

/// A destination from [`DESTINATIONS`], as chosen by `--sink`.
#[derive(Clone, Copy)]
pub(crate) struct Sink(&'static dyn Destination);

impl std::ops::Deref for Sink {
    type Target = dyn Destination;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

impl PartialEq for Sink {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for Sink {}

impl Default for Sink {
    fn default() -> Self {
        Sink(DESTINATIONS[0])
    }
}

impl Sink {
    /// The destination called `name` on the command line.
    pub(crate) fn named(name: &str) -> Option<Sink> {
        DESTINATIONS
            .iter()
            .find(|d| d.name() == name)
            .map(|d| Sink(*d))
    }

    /// The destination whose request bodies `export --format name` writes.
    pub(crate) fn by_export_format(name: &str) -> Option<Sink> {
        DESTINATIONS
            .iter()
            .find(|d| d.export_format() == name)
            .map(|d| Sink(*d))
    }

    /// clap's parser for `--sink`: the names of [`DESTINATIONS`].
    pub(crate) fn parser() -> impl clap::builder::TypedValueParser<Value = Sink> {
        use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
        PossibleValuesParser::new(
            DESTINATIONS
                .iter()
                .map(|d| PossibleValue::new(d.name()).help(d.description())),
        )
        .map(|name| Sink::named(&name).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for d in DESTINATIONS {
            assert_eq!(Sink::named(d.name()).map(|s| s.name()), Some(d.name()));
            assert_eq!(
                Sink::by_export_format(d.export_format()).map(|s| s.name()),
                Some(d.name())
            );
            assert_ne!(d.export_format(), "jsonl", "taken by export's own format");
        }
        assert!(Sink::named("zipkin").is_none());
        assert_eq!(Sink::default().name(), "cloudtrace");
    }

    #[test]
    fn urls_per_destination() {
        let otlp = Sink::named("otlp").unwrap();
        let ct = Sink::named("cloudtrace").unwrap();
        assert_eq!(
            otlp.url("http://127.0.0.1:4318/", "p"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            ct.url("https://cloudtrace.googleapis.com", "proj-p1"),
            "https://cloudtrace.googleapis.com/v2/projects/proj-p1/traces:batchWrite"
        );
    }

    #[test]
    fn only_google_destinations_expire_old_spans() {
        let otlp = Sink::named("otlp").unwrap();
        let ct = Sink::named("cloudtrace").unwrap();
        assert!(ct.expires_old_spans("http://127.0.0.1:1"));
        assert!(otlp.expires_old_spans("https://telemetry.googleapis.com"));
        assert!(!otlp.expires_old_spans("https://collector.internal:4318"));
        assert!(!otlp.expires_old_spans("https://googleapis.com.evil.example"));
    }
}

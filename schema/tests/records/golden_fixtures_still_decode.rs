//! Golden fixtures: records encoded by earlier versions, committed under
//! `tests/fixtures/`, must decode to exactly these spans forever (the
//! version-4 ones with `v4_dictionary.bin`).
//!
//! The files are written once, by `TRACESPOOL_WRITE_FIXTURES=1 cargo test -p
//! tracespool-schema --test golden_fixtures_still_decode`, which refuses to
//! overwrite an existing file. Never regenerate them: add new files for new
//! versions instead.
use std::borrow::Cow;
use std::path::PathBuf;

use tracespool_schema::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The span in `v1_full.bin`: every field of the v1 model set.
fn v1_full() -> (SpanData, Resource) {
    let t = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let s = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let p = SpanId::from_hex("53995c3f42cd8ad8").unwrap();
    let mut span = SpanData::new(t, s, "GET /api/items/{id}");
    span.parent_span_id = Some(p);
    span.parent_is_remote = true;
    span.kind = SpanKind::Server;
    span.start_ns = 1_764_000_000_123_456_789;
    span.end_ns = 1_764_000_000_223_456_789;
    span.attributes = vec![
        Attribute::new("http.request.method", "GET"),
        Attribute::new("http.response.status_code", 200i64),
        Attribute::new("cache.hit", false),
        Attribute::new("load", 0.75f64),
        Attribute::new("note", "ünïcödé ✓".to_string()),
    ];
    span.events = vec![
        TimeEvent {
            time_ns: 1_764_000_000_150_000_000,
            kind: TimeEventKind::Annotation {
                description: Cow::Borrowed("cache miss"),
                attributes: vec![Attribute::new("key", "item:42")],
                dropped_attributes: 0,
            },
        },
        TimeEvent {
            time_ns: 1_764_000_000_160_000_000,
            kind: TimeEventKind::Message {
                kind: MessageKind::Sent,
                id: 7,
                uncompressed_size: 1024,
                compressed_size: 300,
            },
        },
    ];
    let mut link = Link::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        LinkKind::ParentLinkedSpan,
    );
    link.attributes = vec![Attribute::new("reason", "batch")];
    span.links = vec![link];
    span.status = Status {
        code: StatusCode::Error,
        message: Cow::Borrowed("upstream timeout"),
    };
    span.dropped = DroppedCounts {
        attributes: 1,
        annotations: 2,
        message_events: 3,
        links: 4,
    };
    let resource = Resource::new(vec![
        Attribute::new("service.name", "kiosk"),
        Attribute::new("host.name", "edge-17"),
        Attribute::new("service.version", "1.2.3"),
    ]);
    (span, resource)
}

/// The span in `v3_full.bin`: every field of the version-3 model set,
/// arrays and the adapter fields included.
fn v3_full() -> (SpanData, Resource) {
    let (mut span, mut resource) = v1_full();
    span.attributes.extend([
        Attribute::new("tags", vec!["a", "ü"]),
        Attribute::new("ports", vec![80i64, -1, i64::MAX]),
        Attribute::new("flags", vec![true, false]),
        Attribute::new("ratios", vec![0.5f64, -1e300]),
        Attribute::new("empty", Vec::<i64>::new()),
    ]);
    if let TimeEventKind::Annotation {
        dropped_attributes, ..
    } = &mut span.events[0].kind
    {
        *dropped_attributes = 5;
    }
    let link = &mut span.links[0];
    link.trace_flags = 1;
    link.trace_state = Cow::Borrowed("congo=t61rcWkgMzE");
    link.is_remote = true;
    link.dropped_attributes = 6;
    span.trace_flags = 0x01;
    span.trace_state = Cow::Borrowed("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    span.scope = InstrumentationScope {
        name: Cow::Borrowed("my-crate::db"),
        version: Cow::Borrowed("0.4.1"),
        schema_url: Cow::Borrowed("https://opentelemetry.io/schemas/1.26.0"),
        attributes: vec![Attribute::new("db.driver", "sqlx")],
    };
    resource.schema_url = Cow::Borrowed("https://opentelemetry.io/schemas/1.26.0");
    (span, resource)
}

/// The span in `v1_minimal.bin`: a root span with nothing set.
fn v1_minimal() -> (SpanData, Resource) {
    let mut span = SpanData::new(
        TraceId::from_hex("00000000000000000000000000000001").unwrap(),
        SpanId::from_hex("0000000000000001").unwrap(),
        "",
    );
    span.start_ns = 1;
    span.end_ns = 2;
    (span, Resource::default())
}

/// Whether this run may write fixtures that are missing (never replaces
/// one).
fn writing() -> bool {
    std::env::var_os("TRACESPOOL_WRITE_FIXTURES").is_some()
}

/// The dictionary of the version-4 fixtures (`v4_dictionary.bin`, built
/// once from the version-3 fixtures' spans, as a writer builds one from
/// its first spans).
fn v4_dictionary() -> Vec<u8> {
    let path = fixture_dir().join("v4_dictionary.bin");
    if writing() && !path.exists() {
        let records: Vec<Vec<u8>> = [v3_full(), v1_minimal()]
            .iter()
            .map(|(s, r)| RecordEncoder::new(r).unwrap().encode(s).unwrap())
            .collect();
        std::fs::write(&path, build_dictionary(records.iter().map(|r| &r[..]))).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(file: &str, version: u8, expected: (SpanData, Resource)) {
    let path = fixture_dir().join(file);
    if writing() && !path.exists() {
        assert!(
            version == RECORD_VERSION || version == COMPRESSED_VERSION,
            "only the current versions are written"
        );
        let mut bytes = RecordEncoder::new(&expected.1)
            .unwrap()
            .encode(&expected.0)
            .unwrap();
        if version == COMPRESSED_VERSION {
            let mut packed = Vec::new();
            RecordCompressor::new(&v4_dictionary())
                .unwrap()
                .compress_into(&bytes, &mut packed)
                .unwrap();
            bytes = packed;
        }
        std::fs::write(&path, bytes).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut dictionaries = Dictionaries::new();
    if version == COMPRESSED_VERSION {
        dictionaries.add(&v4_dictionary()).unwrap();
    }
    let rec =
        decode_record_with(&bytes, &mut dictionaries).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(rec.version, version);
    assert_eq!(rec.span, expected.0, "{file}: span differs");
    assert_eq!(rec.resource, expected.1, "{file}: resource differs");
}

#[test]
fn v1_full_decodes() {
    check("v1_full.bin", 1, v1_full());
}

#[test]
fn v1_minimal_decodes() {
    check("v1_minimal.bin", 1, v1_minimal());
}

/// Record version 2: the version-1 payload behind a CRC-32C.
#[test]
fn v2_full_decodes() {
    check("v2_full.bin", 2, v1_full());
}

#[test]
fn v2_minimal_decodes() {
    check("v2_minimal.bin", 2, v1_minimal());
}

/// Record version 3: adapter fields, arrays, scope.
#[test]
fn v3_full_decodes() {
    check("v3_full.bin", 3, v3_full());
}

#[test]
fn v3_minimal_decodes() {
    check("v3_minimal.bin", 3, v1_minimal());
}

/// Record version 4: the version-3 payload, compressed with a dictionary
/// kept beside the records.
#[test]
fn v4_full_decodes() {
    check("v4_full.bin", 4, v3_full());
}

#[test]
fn v4_minimal_decodes() {
    check("v4_minimal.bin", 4, v1_minimal());
}

#[test]
fn v4_names_its_dictionary_and_needs_it() {
    let bytes = std::fs::read(fixture_dir().join("v4_full.bin")).unwrap();
    let id = dictionary_id(&v4_dictionary());
    assert_eq!(record_dictionary(&bytes), Some(id));
    assert_eq!(
        decode_record(&bytes).unwrap_err(),
        DecodeError::UnknownDictionary(id)
    );
    // The decoder that caches resources reads it once given the dictionary.
    let mut d = RecordDecoder::new();
    assert!(!d.has_dictionary(id));
    assert_eq!(d.add_dictionary(&v4_dictionary()).unwrap(), id);
    assert_eq!(d.decode(&bytes).unwrap().0, v3_full().0);
}

#[test]
fn version_2_payloads_are_version_1_payloads() {
    let v2 = std::fs::read(fixture_dir().join("v2_full.bin")).unwrap();
    let v1 = std::fs::read(fixture_dir().join("v1_full.bin")).unwrap();
    assert_eq!(&v2[9..], &v1[5..]);
}

#[test]
fn current_encoder_still_writes_v3_bytes() {
    // While RECORD_VERSION is 3, today's encoder must produce the fixtures
    // byte for byte: a silent change of the encoding fails here.
    if RECORD_VERSION == 3 {
        for (file, (span, res)) in [("v3_full.bin", v3_full()), ("v3_minimal.bin", v1_minimal())] {
            let bytes = RecordEncoder::new(&res).unwrap().encode(&span).unwrap();
            let fixture = std::fs::read(fixture_dir().join(file)).unwrap();
            assert_eq!(bytes, fixture, "{file}");
        }
    }
}

#[test]
fn every_truncation_of_a_fixture_is_a_typed_error() {
    let mut dictionaries = Dictionaries::new();
    dictionaries.add(&v4_dictionary()).unwrap();
    for file in ["v1_full.bin", "v2_full.bin", "v3_full.bin", "v4_full.bin"] {
        let bytes = std::fs::read(fixture_dir().join(file)).unwrap();
        for n in 0..bytes.len() {
            assert!(
                decode_record_with(&bytes[..n], &mut dictionaries).is_err(),
                "{file}: prefix of {n} bytes decoded"
            );
        }
    }
}

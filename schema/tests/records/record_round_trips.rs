//! Property tests: any span round-trips through the codec, and no input
//! makes the decoder panic.
use std::borrow::Cow;

use proptest::prelude::*;
use tracespool_schema::*;

fn arb_str() -> impl Strategy<Value = Str> {
    ".{0,40}".prop_map(Cow::Owned)
}

fn arb_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        arb_str().prop_map(AttributeValue::String),
        any::<i64>().prop_map(AttributeValue::Int),
        any::<bool>().prop_map(AttributeValue::Bool),
        // NaN != NaN would fail equality; finite floats only.
        (-1e300f64..1e300).prop_map(AttributeValue::Float),
        prop::collection::vec(arb_str(), 0..4).prop_map(AttributeValue::StringArray),
        prop::collection::vec(any::<i64>(), 0..4).prop_map(AttributeValue::IntArray),
        prop::collection::vec(any::<bool>(), 0..4).prop_map(AttributeValue::BoolArray),
        prop::collection::vec(-1e300f64..1e300, 0..4).prop_map(AttributeValue::FloatArray),
    ]
}

fn arb_attrs() -> impl Strategy<Value = Vec<Attribute>> {
    prop::collection::vec(
        (arb_str(), arb_value()).prop_map(|(key, value)| Attribute { key, value }),
        0..6,
    )
}

fn arb_event() -> impl Strategy<Value = TimeEvent> {
    let ann = (arb_str(), arb_attrs(), any::<u32>()).prop_map(
        |(description, attributes, dropped_attributes)| TimeEventKind::Annotation {
            description,
            attributes,
            dropped_attributes,
        },
    );
    let msg = (0u8..3, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(k, id, u, c)| {
        TimeEventKind::Message {
            kind: [
                MessageKind::Unspecified,
                MessageKind::Sent,
                MessageKind::Received,
            ][k as usize],
            id,
            uncompressed_size: u,
            compressed_size: c,
        }
    });
    (any::<u64>(), prop_oneof![ann, msg]).prop_map(|(time_ns, kind)| TimeEvent { time_ns, kind })
}

prop_compose! {
    fn arb_span()(
        t in any::<[u8; 16]>(), s in any::<[u8; 8]>(), p in any::<Option<[u8; 8]>>(),
        remote in any::<bool>(), name in arb_str(), kind in 0usize..6,
        start in prop_oneof![0u64..300, 300u64..70_000, 70_000u64..5_000_000_000, any::<u64>()], end in any::<u64>(), attributes in arb_attrs(),
        events in prop::collection::vec(arb_event(), 0..4),
        links in prop::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), arb_attrs(), any::<(u8, bool, u32)>(), arb_str()), 0..3),
        code in 0usize..3, msg in arb_str(), dropped in any::<(u32, u32, u32, u32)>(),
        flags in any::<u8>(), state in arb_str(),
        scope in (arb_str(), arb_str(), arb_str(), arb_attrs()),
    ) -> SpanData {
        SpanData {
            trace_id: TraceId(t), span_id: SpanId(s), parent_span_id: p.map(SpanId),
            parent_is_remote: remote, name,
            kind: [SpanKind::Unspecified, SpanKind::Internal, SpanKind::Server, SpanKind::Client,
                   SpanKind::Producer, SpanKind::Consumer][kind],
            start_ns: start, end_ns: end, attributes, events,
            links: links.into_iter().map(|(t, s, attributes, (trace_flags, is_remote, dropped_attributes), trace_state)| Link {
                trace_id: TraceId(t), span_id: SpanId(s), kind: LinkKind::ChildLinkedSpan, attributes,
                trace_flags, trace_state, is_remote, dropped_attributes,
            }).collect(),
            status: Status { code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][code], message: msg },
            dropped: DroppedCounts { attributes: dropped.0, annotations: dropped.1, message_events: dropped.2, links: dropped.3 },
            trace_flags: flags, trace_state: state,
            scope: InstrumentationScope { name: scope.0, version: scope.1, schema_url: scope.2, attributes: scope.3 },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_span_round_trips(span in arb_span(), res in arb_attrs(), url in arb_str()) {
        let resource = Resource { attributes: res, schema_url: url };
        let enc = RecordEncoder::new(&resource).unwrap();
        let mut buf = Vec::new();
        enc.encode_into(&span, &mut buf).unwrap();
        let rec = decode_record(&buf).unwrap();
        prop_assert_eq!(rec.span, span);
        prop_assert_eq!(rec.resource, resource);
    }

    #[test]
    fn fast_encoder_matches_bincode(span in arb_span(), res in arb_attrs(), url in arb_str()) {
        let resource = Resource { attributes: res, schema_url: url };
        let fast = RecordEncoder::new(&resource).unwrap().encode(&span).unwrap();
        prop_assert_eq!(fast, encode_with_bincode(&span, &resource));
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_record(&bytes);
        let mut with_header = b"TSPR\x01".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = decode_record(&with_header);
    }

    #[test]
    fn flipped_bytes_never_panic(span in arb_span(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let enc = RecordEncoder::new(&Resource::default()).unwrap();
        let mut buf = enc.encode(&span).unwrap();
        let i = pos.index(buf.len());
        buf[i] ^= 1 << bit;
        let _ = decode_record(&buf);
    }
}

/// A compressor and the dictionaries to read its records, with a
/// dictionary built from `samples` spans of `resource`.
fn compressor(resource: &Resource, samples: &[SpanData]) -> (RecordCompressor, Dictionaries) {
    let enc = RecordEncoder::new(resource).unwrap();
    let records: Vec<Vec<u8>> = samples.iter().map(|s| enc.encode(s).unwrap()).collect();
    let dict = build_dictionary(records.iter().map(|r| &r[..]));
    assert!(dict.len() <= MAX_DICTIONARY_BYTES);
    let mut dicts = Dictionaries::new();
    let id = dicts.add(&dict).unwrap();
    assert_eq!(id, dictionary_id(&dict));
    let c = RecordCompressor::new(&dict).unwrap();
    assert_eq!(c.dictionary_id(), id);
    (c, dicts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compressed_records_round_trip(
        span in arb_span(),
        samples in prop::collection::vec(arb_span(), 0..6),
        res in arb_attrs(),
    ) {
        let resource = Resource { attributes: res, schema_url: "".into() };
        let (mut c, mut dicts) = compressor(&resource, &samples);
        let plain = RecordEncoder::new(&resource).unwrap().encode(&span).unwrap();
        let mut packed = Vec::new();
        c.compress_into(&plain, &mut packed).unwrap();
        prop_assert_eq!(peek_version(&packed).unwrap(), COMPRESSED_VERSION);
        let rec = decode_record_with(&packed, &mut dicts).unwrap();
        prop_assert_eq!(rec.version, COMPRESSED_VERSION);
        prop_assert_eq!(rec.span, span);
        prop_assert_eq!(rec.resource, resource);
    }

    #[test]
    fn flipped_bytes_of_a_compressed_record_are_errors_never_panics_nor_spans(
        span in arb_span(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let resource = Resource::new(vec![Attribute::new("service.name", "flip")]);
        let (mut c, mut dicts) = compressor(&resource, std::slice::from_ref(&span));
        let plain = RecordEncoder::new(&resource).unwrap().encode(&span).unwrap();
        let mut packed = Vec::new();
        c.compress_into(&plain, &mut packed).unwrap();
        let i = pos.index(packed.len());
        packed[i] ^= 1 << bit;
        // Anything but the same span (a flipped bit in the frame's padding
        // may still decode it exactly; never a different span).
        if let Ok(rec) = decode_record_with(&packed, &mut dicts) {
            prop_assert_eq!(rec.span, span);
        }
    }
}

#[test]
fn a_dictionary_makes_a_process_s_records_small_and_is_needed_to_read_them() {
    let resource = Resource::new(vec![
        Attribute::new("telemetry.sdk.name", "tracespool"),
        Attribute::new("telemetry.sdk.language", "rust"),
        Attribute::new("telemetry.sdk.version", "0.2.0"),
        Attribute::new("process.pid", 4242i64),
        Attribute::new("host.name", "kiosk-17.example"),
        Attribute::new("service.name", "checkout"),
    ]);
    let span = |i: i64| {
        let mut s = SpanData::new(
            TraceId::random(),
            SpanId::random(),
            "GET /api/v1/items/{id}",
        );
        s.start_ns = 1_764_000_000_000_000_000 + i as u64 * 1_000_000;
        s.end_ns = s.start_ns + 2_500_000;
        s.attributes = vec![
            Attribute::new("http.request.method", "GET"),
            Attribute::new("http.route", "/api/v1/items/{id}"),
            Attribute::new("http.response.status_code", 200i64),
            Attribute::new("user.id", i),
        ];
        s
    };
    let samples: Vec<SpanData> = (0..64).map(span).collect();
    let (mut c, mut dicts) = compressor(&resource, &samples);
    let enc = RecordEncoder::new(&resource).unwrap();
    let (mut plain_total, mut packed_total) = (0, 0);
    for i in 1000..1100 {
        let s = span(i);
        let plain = enc.encode(&s).unwrap();
        let mut packed = Vec::new();
        c.compress_into(&plain, &mut packed).unwrap();
        plain_total += plain.len();
        packed_total += packed.len();
        assert_eq!(decode_record_with(&packed, &mut dicts).unwrap().span, s);
        // Without the dictionary: a clear error, not a damaged record.
        assert_eq!(record_dictionary(&packed), Some(c.dictionary_id()));
        assert_eq!(record_dictionary(&plain), None);
        assert_eq!(
            decode_record(&packed).unwrap_err(),
            DecodeError::UnknownDictionary(c.dictionary_id())
        );
    }
    // The random ids (24 bytes) and the times do not compress; the rest does.
    eprintln!("{packed_total} bytes compressed, {plain_total} plain");
    assert!(
        packed_total * 3 < plain_total,
        "{packed_total} bytes compressed, {plain_total} plain"
    );
}

#[test]
fn huge_length_prefix_is_an_error_not_an_allocation() {
    // Varint 0xFD + u64::MAX as a string length right after the ids.
    let mut bytes = b"TSPR\x01".to_vec();
    bytes.extend_from_slice(&[1u8; 16 + 8]);
    bytes.push(0); // no parent
    bytes.push(0); // not remote
    bytes.push(0xFD);
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        decode_record(&bytes),
        Err(DecodeError::Payload(_))
    ));
}

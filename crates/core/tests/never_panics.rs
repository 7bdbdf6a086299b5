//! Property tests: no input makes the reader panic. Whatever the bytes, it
//! returns records or an error that names the cause. The real log files of
//! tests/fixtures, mutated (bytes set, cut, two files spliced, gzip members
//! joined, deep nesting, huge numbers, lone surrogates, invalid UTF-8
//! inserted), give only valid UTF-8 JSON records, which the writer writes
//! back as valid UTF-8 JSON; and on ordinary records the byte-level writer
//! agrees with changing the parsed record.

use ctrules_core::reader::{read_log, Record};
use proptest::prelude::*;
use std::io::Write;

const VALID: &str = r#"{"Records":[{"eventVersion":"1.08","eventName":"CreateUser","requestParameters":{"a":[1,2.5,"x\"y"]}},{"eventName":"B"}]}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Result<u64, String> {
    let mut seen = 0u64;
    read_log(bytes, &mut |r: Record<'_>| {
        assert!(
            r.value.whole().is_some_and(serde_json::Value::is_object),
            "only objects reach the sink"
        );
        seen += 1;
        Ok(())
    })
    .map(|outcome| {
        assert_eq!(outcome.records, seen);
        seen
    })
    .map_err(|e| {
        assert!(!e.to_string().is_empty());
        e.to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_all(&bytes);
        let _ = read_all(&gzip(&bytes));
    }

    #[test]
    fn mutated_log_files(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in 0usize..VALID.len(), gz in any::<bool>()) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[pos] = byte;
        bytes.truncate(cut.max(1));
        let input = if gz { gzip(&bytes) } else { bytes };
        let _ = read_all(&input);
    }

    #[test]
    fn truncated_gzip_never_yields_more_than_the_whole(cut in 0usize..200) {
        let full = gzip(VALID.as_bytes());
        let cut = cut.min(full.len());
        if let Ok(n) = read_all(&full[..cut]) {
            prop_assert!(n <= 2);
        }
    }
}

/// A JSON value of a few levels, with strings that need escaping.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z\"\\\\ \n\t{}\\[\\],:é]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-zA-Z\"]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Reading only some fields finds the same records, with the same bytes,
    /// as reading them whole, and says rightly whether the bytes are compact.
    #[test]
    fn reading_some_fields_agrees_with_reading_all(
        records in proptest::collection::vec(
            proptest::collection::vec(("(eventName|userIdentity|other|x)", json_value()), 1..5),
            1..6,
        ),
        pretty in any::<bool>(),
        gz in any::<bool>(),
    ) {
        use ctrules_core::reader::{read_log_with, FieldSet, ReadOptions};
        use serde_json::{Map, Value};
        let records: Vec<Value> = records
            .into_iter()
            .map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
            .collect();
        let doc = serde_json::json!({ "Records": records });
        let text = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.unwrap();
        let input = if gz { gzip(&text) } else { text };
        let wanted = ["eventName", "userIdentity"];
        let fields = FieldSet::new(wanted);
        let options = ReadOptions { fields: Some(&fields), ..ReadOptions::default() };
        let mut seen = Vec::new();
        read_log_with(&input[..], &options, &mut |r: Record<'_>| {
            let mut compacted = Vec::new();
            ctrules_core::json::compact_into(r.raw, &mut compacted);
            assert_eq!(r.compact, compacted == r.raw);
            seen.push((serde_json::from_slice::<Value>(r.raw).unwrap(), r.value.whole().cloned().unwrap()));
            Ok(())
        })
        .unwrap();
        prop_assert_eq!(seen.len(), records.len());
        for ((whole, part), record) in seen.iter().zip(&records) {
            prop_assert_eq!(whole, record);
            let expected: Map<String, Value> = record
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(part, &Value::Object(expected));
        }
    }
}

/// The real log files under tests/fixtures (corpus and sample logs), as
/// plain text: gzipped ones are unpacked, big ones cut to their first lines.
fn fixtures() -> &'static [Vec<u8>] {
    use std::sync::OnceLock;
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("corpus"), root.join("sample-logs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if [".json", ".json.gz", ".ndjson", ".ndjson.gz"]
                    .iter()
                    .any(|e| path.to_string_lossy().ends_with(e))
                {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
            .iter()
            .map(|path| {
                let bytes = std::fs::read(path).unwrap();
                let mut text = Vec::new();
                if bytes.starts_with(&[0x1f, 0x8b]) {
                    std::io::Read::read_to_end(
                        &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                        &mut text,
                    )
                    .unwrap();
                } else {
                    text = bytes;
                }
                if text.len() > 48 * 1024 {
                    // Whole lines of a big NDJSON file; the start of another.
                    let cut = memchr_last_newline(&text[..48 * 1024]).unwrap_or(48 * 1024);
                    text.truncate(cut);
                }
                text
            })
            .collect()
    })
}

fn memchr_last_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
}

/// One way to break or bend a log file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at (a fraction of the length) to a value.
    Flip(f64, u8),
    /// Cut the text at a fraction of its length.
    Truncate(f64),
    /// The start of this file, then the end of another (fractions).
    Splice(usize, f64, f64),
    /// This file and another, each gzipped: a multi-member gzip.
    MultiMember(usize),
    /// Bytes inserted just after the first `{` or `"` from a place (a fraction).
    Insert(f64, &'static [u8]),
}

const DEEP: &str = concat!(
    "\"deep\":",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "1",
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ","
);

/// What is inserted: members after a `{`, text after a `"` (in a string,
/// mostly): deep nesting, huge numbers, lone surrogates, invalid UTF-8, NUL.
const INSERTS: &[&[u8]] = &[
    DEEP.as_bytes(),
    b"\"big\":1e400,",
    b"\"long\":123456789012345678901234567890,\"negzero\":-0,",
    b"\\ud800",
    b"\\udfff\\ud800x",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x00",
    b"\xef\xbb\xbf",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (0.0..1.0f64).prop_map(Mutation::Truncate),
        (any::<usize>(), 0.0..1.0f64, 0.0..1.0f64).prop_map(|(o, a, b)| Mutation::Splice(o, a, b)),
        any::<usize>().prop_map(Mutation::MultiMember),
        (0.0..1.0f64, proptest::sample::select(INSERTS))
            .prop_map(|(at, s)| Mutation::Insert(at, s)),
    ]
}

fn at(len: usize, fraction: f64) -> usize {
    ((len as f64 * fraction) as usize).min(len)
}

/// Applies `mutations` to the text of a fixture; gzips the result if `gz`.
fn mutate(seed: usize, mutations: &[Mutation], gz: bool) -> Vec<u8> {
    let seeds = fixtures();
    let mut text = seeds[seed % seeds.len()].clone();
    let mut members: Vec<Vec<u8>> = Vec::new();
    for m in mutations {
        match m {
            Mutation::Flip(f, b) => {
                if !text.is_empty() {
                    let i = at(text.len() - 1, *f);
                    text[i] = *b;
                }
            }
            Mutation::Truncate(f) => text.truncate(at(text.len(), *f)),
            Mutation::Splice(other, a, b) => {
                let other = &seeds[other % seeds.len()];
                text.truncate(at(text.len(), *a));
                text.extend_from_slice(&other[at(other.len(), *b)..]);
            }
            Mutation::MultiMember(other) => members.push(seeds[other % seeds.len()].clone()),
            Mutation::Insert(f, bytes) => {
                let from = at(text.len(), *f);
                if let Some(k) = text[from..].iter().position(|&b| b == b'{' || b == b'"') {
                    let i = from + k + 1;
                    text.splice(i..i, bytes.iter().copied());
                }
            }
        }
    }
    if gz || !members.is_empty() {
        let mut out = gzip(&text);
        for m in &members {
            out.extend(gzip(m));
        }
        out
    } else {
        text
    }
}

/// Reads `bytes` with only some fields parsed, as `ctrules run` does, and
/// checks every record the sink gets: valid UTF-8 JSON, an object, and
/// written back (with overwrites and added fields) as valid UTF-8 JSON.
fn read_and_write_all(bytes: &[u8]) {
    use ctrules_core::reader::{read_log_with, FieldSet, ReadOptions};
    use ctrules_core::writer::write_enriched;
    use ctrules_core::{Enrichment, FieldPath, PathSegment};
    use serde_json::json;
    use std::sync::Arc;
    let fields = FieldSet::new([
        "eventName",
        "eventSource",
        "userIdentity",
        "xrules",
        "xtags",
        "xnote",
    ]);
    let options = ReadOptions {
        fields: Some(&fields),
        ..ReadOptions::default()
    };
    let mut plain = Enrichment::default();
    plain.rules.push(Arc::from("r"));
    let mut rewrite = plain.clone();
    rewrite
        .overwrites
        .push((FieldPath::keys("userIdentity.accessKeyId"), json!("X")));
    rewrite.overwrites.push((
        FieldPath::new(vec![
            PathSegment::Key("resources".into()),
            PathSegment::Each,
            PathSegment::Key("ARN".into()),
        ]),
        json!({"hidden": true}),
    ));
    rewrite.overwrites.push((
        FieldPath::new(vec![
            PathSegment::Key("requestParameters".into()),
            PathSegment::Key("deep".into()),
            PathSegment::Index(0),
        ]),
        json!(0),
    ));
    *rewrite.field_mut(&Arc::from("xnote")) = json!("n");
    let mut seen = 0u64;
    let mut out = Vec::new();
    let result = read_log_with(bytes, &options, &mut |r: Record<'_>| {
        assert!(
            r.value.whole().is_some_and(serde_json::Value::is_object),
            "only objects reach the sink"
        );
        let text = std::str::from_utf8(r.raw).expect("records are UTF-8");
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
            "records are JSON: {text}"
        );
        for e in [&Enrichment::default(), &plain, &rewrite] {
            out.clear();
            write_enriched(&r, e, &mut out).expect("a record the reader gives can be written");
            let line = std::str::from_utf8(&out).expect("output is UTF-8");
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok(),
                "output is JSON: {line}"
            );
        }
        seen += 1;
        Ok(())
    });
    match result {
        Ok(outcome) => assert_eq!(outcome.records, seen),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

#[test]
fn every_fixture_reads_and_writes_back() {
    for (i, text) in fixtures().iter().enumerate() {
        read_and_write_all(text);
        if i % 8 == 0 {
            read_and_write_all(&gzip(text));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Real log files, broken and bent: the reader never panics, and what
    /// reaches the sink, and what the writer makes of it, is valid UTF-8 JSON.
    #[test]
    fn mutated_fixtures(
        seed in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        gz in any::<bool>(),
    ) {
        read_and_write_all(&mutate(seed, &mutations, gz));
    }
}

/// A record of a few levels over a small set of keys, so that overwrite
/// paths often meet something.
fn record_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Floats whose text serde reads back exactly.
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 8.0)),
        "[a-z\"\\\\ é]{0,4}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("(a|b|c)", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    proptest::collection::vec(("(a|b|c|eventName|xrules|xnote)", value), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn field_path() -> impl Strategy<Value = ctrules_core::FieldPath> {
    use ctrules_core::{FieldPath, PathSegment};
    let key = "(a|b|c)".prop_map(|k| PathSegment::Key(k.into()));
    let segment = prop_oneof![
        3 => key.clone(),
        1 => Just(PathSegment::Each),
        1 => (0usize..3).prop_map(PathSegment::Index),
    ];
    (key, proptest::collection::vec(segment, 0..3))
        .prop_map(|(first, rest)| FieldPath::new(std::iter::once(first).chain(rest).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// On ordinary records (no repeated keys, numbers serde reads), the
    /// byte-level writer gives what changing the parsed record gives:
    /// `set_path` for each overwrite, then the output fields inserted.
    #[test]
    fn the_writer_agrees_with_rewriting_the_parsed_record(
        record in record_value(),
        overwrites in proptest::collection::vec((field_path(), record_value()), 0..4),
        note in proptest::option::of(record_value()),
        rules in proptest::collection::vec("[a-z]{1,3}", 0..3),
        pretty in any::<bool>(),
        projected in any::<bool>(),
    ) {
        use ctrules_core::path::set_path;
        use ctrules_core::reader::{parse_projected, FieldSet, RecordPosition};
        use ctrules_core::writer::write_enriched;
        use ctrules_core::Enrichment;
        use std::sync::Arc;
        let raw = if pretty { serde_json::to_vec_pretty(&record) } else { serde_json::to_vec(&record) }.unwrap();
        let mut e = Enrichment {
            overwrites,
            ..Enrichment::default()
        };
        if let Some(note) = note {
            *e.field_mut(&Arc::from("xnote")) = note;
        }
        e.rules = rules.iter().map(|r| Arc::from(r.as_str())).collect();
        // The reader parses the fields rules read, and those they set.
        let fields = FieldSet::new(["eventName", "xnote", "xrules", "xtags"]);
        let value = parse_projected(&raw, projected.then_some(&fields)).unwrap();
        let rec = Record { raw: &raw, value: &value, position: RecordPosition::Index(0), compact: !pretty };
        let mut out = Vec::new();
        write_enriched(&rec, &e, &mut out).unwrap();
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let mut expected = record.clone();
        for (path, v) in &e.overwrites {
            set_path(&mut expected, path, v);
        }
        if let Some(map) = expected.as_object_mut() {
            for (name, v) in e.output_fields() {
                map.insert(name.to_string(), v);
            }
        }
        let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // Key order too: compare the serializations.
        prop_assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap());
    }
}

//! Property tests: no input makes the reader panic. Whatever the bytes, it
//! returns records or an error that names the cause.

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
        assert!(r.value.is_object(), "only objects reach the sink");
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
        let options = ReadOptions { fields: Some(&fields) };
        let mut seen = Vec::new();
        read_log_with(&input[..], &options, &mut |r: Record<'_>| {
            let mut compacted = Vec::new();
            ctrules_core::json::compact_into(r.raw, &mut compacted);
            assert_eq!(r.compact, compacted == r.raw);
            seen.push((serde_json::from_slice::<Value>(r.raw).unwrap(), r.value.clone()));
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

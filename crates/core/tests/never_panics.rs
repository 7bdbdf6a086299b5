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

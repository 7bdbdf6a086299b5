//! Fuzzing the table loaders, as property tests: the real lookup files
//! (rules.d/lookups and this crate's fixtures), mutated by byte flips,
//! truncation, insertion of deep nesting and of long tokens, are written
//! under each extension and loaded, then viewed as keyed tables, value
//! sets, networks and calendars. Nothing may panic or overflow the stack.

use ctrules_context::tables::{column_values, date_ranges, load, networks, KeyedTable};
use ctrules_context::time::Tz;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// The real lookup files, sorted by path.
fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        crate_dir.join("../../rules.d/lookups"),
        crate_dir.join("tests/fixtures"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            files.push(entry.path());
        }
    }
    files.sort();
    assert!(files.len() >= 20, "the fixtures are found: {files:?}");
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect()
}

fn insertion() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1usize..50_000).prop_map(|n| "[".repeat(n).into_bytes()),
        (1usize..50_000).prop_map(|n| "{\"a\":".repeat(n).into_bytes()),
        (1usize..100_000).prop_map(|n| format!("\"{}", "q".repeat(n)).into_bytes()),
        (1usize..100_000).prop_map(|n| "9".repeat(n).into_bytes()),
        "[,\"\\\\\n\r#:{}\\[\\]]{1,8}".prop_map(String::into_bytes),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xFF, 0xFE]),
    ]
}

fn exercise(dir: &Path, name: &str, bytes: &[u8]) {
    for ext in ["csv", "json", "txt", "tsv"] {
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        let Ok(table) = load(&path) else {
            continue;
        };
        for column in table.columns.clone() {
            let _ = column_values(&table, &column);
            let _ = networks(&table, &column);
            let _ = KeyedTable::build(&table, &column, false);
            let _ = KeyedTable::build(&table, &column, true);
        }
        let _ = date_ranges(&path, &table.rows, Tz::UTC);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_real_tables_never_panic(
        seed in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        insert_at in any::<prop::sample::Index>(),
        inserted in prop::option::of(insertion()),
    ) {
        let seeds = seeds();
        let (path, original) = seed.get(&seeds);
        let mut bytes = original.clone();
        if truncate && !bytes.is_empty() {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Some(inserted) = inserted {
            let at = insert_at.index(bytes.len() + 1);
            bytes.splice(at..at, inserted);
        }
        for (at, byte) in flips {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= byte;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        exercise(dir.path(), &name, &bytes);
    }
}

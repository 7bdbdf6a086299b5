//! Fuzzing, as property tests: the real rules files (rules.d and
//! tests/fixtures/rules), mutated by byte flips, truncation, insertion of
//! deep nesting and of long tokens, are compiled, formatted and their
//! diagnostics rendered in every form. Nothing may panic or overflow the
//! stack. Cases are few so each test takes seconds in a debug build.

use ctrules_compiler::compile;
use ctrules_lang::format::format;
use ctrules_lang::Source;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn rules_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rules_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rules") {
            out.push(path);
        }
    }
}

/// The text of every real rules file, sorted by path.
fn seeds() -> Vec<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    rules_files(&repo.join("rules.d"), &mut files);
    rules_files(&repo.join("tests/fixtures/rules"), &mut files);
    files.sort();
    assert!(files.len() >= 7, "the fixtures are found: {files:?}");
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// What a mutation inserts: deep nesting, long tokens, or stray syntax.
fn insertion() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..3_000).prop_map(|n| "(".repeat(n)),
        (1usize..3_000).prop_map(|n| "not ".repeat(n)),
        (1usize..3_000).prop_map(|n| format!("{}x{}", "lower(".repeat(n), ")".repeat(n))),
        (1usize..3_000).prop_map(|n| format!("{}a{}", "t[".repeat(n), "]".repeat(n))),
        (1usize..80_000).prop_map(|n| format!("\"{}\"", "s".repeat(n))),
        (1usize..80_000).prop_map(|n| "w".repeat(n)),
        (1usize..80_000).prop_map(|n| "9".repeat(n)),
        "[\\[\\](){}=!<>,.#\"\\\\ \n]{1,8}",
    ]
}

fn exercise(text: &str) {
    let source = Source::new("fuzz.rules", text);
    let compilation = compile(std::slice::from_ref(&source));
    for d in &compilation.diagnostics {
        assert!(
            d.span.end <= text.len() && d.span.start <= d.span.end,
            "{d}"
        );
        let _ = d.render(false);
        let _ = d.render_github();
        let _ = d.to_json();
    }
    if let Ok(formatted) = format(&source) {
        // What formats must format the same again.
        let again = format(&Source::new("fuzz.rules", formatted.as_str()));
        assert_eq!(again.ok().as_deref(), Some(formatted.as_str()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_real_rules_never_panic(
        seed in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        insert_at in any::<prop::sample::Index>(),
        inserted in prop::option::of(insertion()),
    ) {
        let seeds = seeds();
        let mut bytes = seed.get(&seeds).as_bytes().to_vec();
        if truncate && !bytes.is_empty() {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Some(inserted) = inserted {
            let at = insert_at.index(bytes.len() + 1);
            bytes.splice(at..at, inserted.into_bytes());
        }
        for (at, byte) in flips {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= byte;
            }
        }
        // The loader refuses what is not UTF-8; what it accepts is this.
        exercise(&String::from_utf8_lossy(&bytes));
    }
}

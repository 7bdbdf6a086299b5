//! Golden tests: the exact rendered text of every diagnostic code.
//!
//! Each `tests/golden/diagnostics/CODE.rules` must raise `CODE`; every
//! diagnostic it raises is rendered as `ctrules check` shows it (no colour)
//! and compared with `CODE.expected`. To accept new output after a deliberate
//! change, run `UPDATE_GOLDEN=1 cargo test -p ctrules-compiler --test golden`
//! and review the diff.

use ctrules_compiler::compile;
use ctrules_lang::Source;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/diagnostics")
}

fn render(path: &Path) -> (Vec<&'static str>, String) {
    // Cases name their table files relative to the case, as reported from
    // the repository root; every test here wants that same directory.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let name = format!(
        "tests/golden/diagnostics/{}",
        path.file_name().unwrap().to_string_lossy()
    );
    let compilation = compile(&[Source::new(name, text)]);
    let codes = compilation.diagnostics.iter().map(|d| d.code).collect();
    let rendered = compilation
        .diagnostics
        .iter()
        .map(|d| format!("{}\n", d.render(false)))
        .collect();
    (codes, rendered)
}

#[test]
fn every_code_renders_as_recorded() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 28, "one case per code");
    let mut failures = Vec::new();
    for case in &cases {
        let code = case.file_stem().unwrap().to_string_lossy().to_string();
        let (codes, rendered) = render(case);
        assert!(
            codes.contains(&code.as_str()),
            "{}: raises {codes:?}, not {code}",
            case.display()
        );
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != rendered {
            failures.push(format!(
                "{code}:\n--- expected\n{expected}\n--- rendered\n{rendered}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "rendered diagnostics changed (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}

/// Every code the compiler and parser define has a golden case.
#[test]
fn every_code_has_a_case() {
    let sources = [
        include_str!("../src/codes.rs"),
        include_str!("../../lang/src/parser.rs"),
    ];
    for source in sources {
        for line in source
            .lines()
            .filter(|l| l.trim_start().starts_with("pub const ") && l.contains(": &str = \""))
        {
            let code = line.split('"').nth(1).unwrap();
            assert!(
                golden_dir().join(format!("{code}.rules")).exists(),
                "no golden case for {code}"
            );
        }
    }
}

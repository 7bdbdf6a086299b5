//! `ctrules test`: run the tests written beside the rules.
//!
//! A test file is any `*.test.json` under the given paths, usually next to
//! the `.rules` file it tests (`rules.d/geo.rules`, `rules.d/geo.test.json`):
//!
//! ```json
//! {"tests": [{
//!   "name": "a call from Sweden is HIGH and names the country",
//!   "event": {"eventSource": "s3.amazonaws.com", "sourceIPAddress": "89.160.20.112"},
//!   "geoip": {"89.160.20.112": {"country_code": "SE"}},
//!   "matches": ["outside_home_country"],
//!   "not_matches": ["iam_high_priority"],
//!   "enrichment": {"xcountry_code": "SE", "xpriority": "HIGH", "xteam": null}
//! }]}
//! ```
//!
//! `event` is one CloudTrail record, or `event_file` names a JSON file
//! holding one (relative to the test file, and confined to the rules
//! directory as table files are: its values can end up in a failing
//! test's diff). Test files found through a symbolic link that leads out
//! of the directory given are refused the same way. `enrichment` lists fields the
//! rules must add with these values (`null`: must not add). `tables` gives
//! rows in place of a table, list or calendar file, by declared name;
//! `geoip` gives GeoIP summaries by address in place of databases. Every
//! rule should have a test it matches and one it does not: `--deny-untested`
//! makes a rule without both a failure.

use crate::{exit, TestArgs};
use ctrules_compiler::{compile_with, Evaluation, Options, RuleSet};
use ctrules_context::geoip::GeoIp;
use ctrules_context::tables;
use ctrules_lang::Source;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    event_file: Option<String>,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(default)]
    not_matches: Vec<String>,
    #[serde(default)]
    enrichment: Map<String, Value>,
    #[serde(default)]
    tables: HashMap<String, Vec<Map<String, Value>>>,
    #[serde(default)]
    geoip: Option<Map<String, Value>>,
}

/// What the tests showed of each rule: matched by some test, and left
/// unmatched by some test that names it.
#[derive(Default)]
struct Coverage {
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

pub fn test(args: &TestArgs) -> i32 {
    let (sources, options) = match crate::rules::read(&args.paths, &args.geoip) {
        Ok(read) => read,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    let Some(rules) = compile_reporting(&sources, &options) else {
        return exit::FINDINGS;
    };
    let (files, refused) = test_files(&args.paths);
    let mut passed = 0;
    let mut failed = refused.len();
    for line in &refused {
        outln!("FAILED {line}");
    }
    let mut coverage = Coverage::default();
    for file in &files {
        let shown = file.display().to_string();
        let cases = match read_test_file(file) {
            Ok(t) => t.tests,
            Err(e) => {
                outln!("FAILED {shown}: {e}");
                failed += 1;
                continue;
            }
        };
        for (i, case) in cases.iter().enumerate() {
            let label = format!("{shown} #{} \"{}\"", i + 1, case.name);
            match run_case(case, file, &rules, &sources, &options, &mut coverage) {
                Ok(()) => {
                    passed += 1;
                    if !args.quiet {
                        outln!("ok     {label}");
                    }
                }
                Err(problems) => {
                    failed += 1;
                    outln!("FAILED {label}");
                    for p in problems {
                        outln!("  {}", p.replace('\n', "\n  "));
                    }
                }
            }
        }
    }
    let untested = untested(&rules, &coverage);
    for line in &untested {
        if args.deny_untested {
            outln!("FAILED {line}");
        } else if !args.quiet {
            // A warning, not a failure: `--quiet` prints only failures.
            outln!("warning: {line}");
        }
    }
    outln!(
        "{passed} passed, {failed} failed ({} test files, {} rules)",
        files.len(),
        rules.len()
    );
    if failed > 0 || (args.deny_untested && !untested.is_empty()) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// Compiles, printing errors (warnings are `ctrules check`'s business).
fn compile_reporting(sources: &[Source], options: &Options) -> Option<RuleSet> {
    let compilation = compile_with(sources, options);
    for d in compilation.diagnostics.iter().filter(|d| d.is_error()) {
        err!("{}", d.render(false));
    }
    compilation.rules
}

/// Every `*.test.json` under the paths, sorted; and, as messages, those
/// refused: found through a symbolic link that leads outside the directory
/// given.
fn test_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut refused = Vec::new();
    for given in paths {
        let root = std::fs::canonicalize(given).ok();
        let found = walkdir::WalkDir::new(given)
            .follow_links(true)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(".test.json")
            });
        for entry in found {
            let path = entry.into_path();
            let real = std::fs::canonicalize(&path).ok();
            match (&root, real) {
                (Some(root), Some(real)) if given.is_dir() && !real.starts_with(root) => {
                    refused.push(format!(
                        "{}: a symbolic link to `{}`, outside the rules directory `{}`; refused",
                        path.display(),
                        real.display(),
                        given.display()
                    ));
                }
                _ => files.push(path),
            }
        }
    }
    files.sort();
    files.dedup();
    (files, refused)
}

fn read_test_file(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not a test file: {e}"))
}

fn run_case(
    case: &TestCase,
    file: &Path,
    shared: &RuleSet,
    sources: &[Source],
    options: &Options,
    coverage: &mut Coverage,
) -> Result<(), Vec<String>> {
    let event = load_event(case, file, options.rules_root.as_deref()).map_err(|e| vec![e])?;
    // Tables or GeoIP answers of its own: the test gets its own compilation.
    let own;
    let rules = if case.tables.is_empty() && case.geoip.is_none() {
        shared
    } else {
        let mut options = options.clone();
        options.table_rows.extend(case.tables.clone());
        if let Some(answers) = &case.geoip {
            let geoip =
                GeoIp::from_answers(answers.clone()).map_err(|e| vec![format!("geoip: {e}")])?;
            options.geoip = Some(Arc::new(geoip));
        }
        own = compile_with(sources, &options).rules.ok_or_else(|| {
            vec![
                "the rules do not compile with the tables this test gives (run `ctrules check`)"
                    .to_string(),
            ]
        })?;
        &own
    };
    let mut evaluation = Evaluation::default();
    rules.evaluate(&event, &mut evaluation);
    let matched: BTreeSet<&str> = evaluation
        .matched
        .iter()
        .map(|&i| &*rules.rules()[i].info.id)
        .collect();
    let ids: Vec<&str> = rules.rules().iter().map(|r| &*r.info.id).collect();
    let mut problems = Vec::new();
    for (expected, names) in [(true, &case.matches), (false, &case.not_matches)] {
        for id in names {
            if !ids.contains(&id.as_str()) {
                let hint = ctrules_compiler::suggest::did_you_mean(id, ids.iter().copied())
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default();
                problems.push(format!("no rule has id `{id}`{hint}"));
                continue;
            }
            let did = matched.contains(id.as_str());
            if did {
                coverage.matched.insert(id.clone());
            } else {
                coverage.unmatched.insert(id.clone());
            }
            if did != expected {
                problems.push(format!(
                    "rule `{id}`: expected to {}match, but it {}",
                    if expected { "" } else { "not " },
                    if did { "matched" } else { "did not" }
                ));
            }
        }
    }
    let actual: BTreeMap<&str, Value> = evaluation.enrichment.output_fields().collect();
    let mut diff = Vec::new();
    for (field, want) in &case.enrichment {
        let got = actual.get(field.as_str());
        let same = match (want, got) {
            (Value::Null, None) => true,
            (want, Some(got)) => want == got,
            _ => false,
        };
        if !same {
            diff.push(format!("- {field}: {}", shown(Some(want))));
            diff.push(format!("+ {field}: {}", shown(got)));
        }
    }
    if !diff.is_empty() {
        problems.push(format!(
            "enrichment (- expected, + actual):\n{}\nall fields added: {}",
            diff.join("\n"),
            serde_json::to_string(&actual).unwrap_or_default()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(not added)".to_string(),
        Some(v) => v.to_string(),
    }
}

/// The test's event; an `event_file` is resolved relative to the test file
/// and confined to `rules_root` (else to the test file's own directory).
fn load_event(case: &TestCase, file: &Path, rules_root: Option<&Path>) -> Result<Value, String> {
    let event = match (&case.event, &case.event_file) {
        (Some(e), None) => e.clone(),
        (None, Some(name)) => {
            let root = rules_root.unwrap_or_else(|| tables::directory_of(file));
            let path = tables::resolve_path_of("event", root, file, name)
                .map_err(|e| format!("event_file: {e}"))?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("event_file {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("event_file {}: {e}", path.display()))?
        }
        _ => return Err("give the event as `event` or `event_file`, one of the two".to_string()),
    };
    if event.is_object() {
        Ok(event)
    } else {
        Err("the event must be one CloudTrail record (a JSON object)".to_string())
    }
}

/// Rules no test matches, or no test shows not matching.
fn untested(rules: &RuleSet, coverage: &Coverage) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules.rules() {
        let id = &*rule.info.id;
        let mut missing = Vec::new();
        if !coverage.matched.contains(id) {
            missing.push("test it matches");
        }
        if !coverage.unmatched.contains(id) {
            missing.push("test it does not match");
        }
        if !missing.is_empty() {
            out.push(format!(
                "rule `{id}` ({}:{}) has no {}",
                rule.info.file,
                rule.info.line,
                missing.join(" and no ")
            ));
        }
    }
    out
}

//! Integration tests of the ctrules compiler: evaluation semantics through
//! `compile` + `RuleSet::evaluate`, then one test per diagnostic code, then
//! the loader.

use ctrules_compiler::{compile, read_rules, Compilation, Evaluation, RuleSet};
use ctrules_lang::{Diagnostic, Severity, Source};
use serde_json::{json, Value};
use std::path::PathBuf;

// ---- Helpers ------------------------------------------------------------------

fn compile_files(files: &[(&str, &str)]) -> Compilation {
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source::new(*name, *text))
        .collect();
    compile(&sources)
}

fn show(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("  {d} [{}] (help: {:?})\n", span_text(d), d.help))
        .collect()
}

/// Compiles files that must give no diagnostic at all, but W302: these tests
/// use short field names (`a`, `b`) that CloudTrail does not write.
fn rules_of(files: &[(&str, &str)]) -> RuleSet {
    let c = compile_files(files);
    let diagnostics: Vec<Diagnostic> = c
        .diagnostics
        .iter()
        .filter(|d| !SCHEMA_WARNINGS.contains(&d.code))
        .cloned()
        .collect();
    assert!(
        diagnostics.is_empty(),
        "unexpected diagnostics:\n{}",
        show(&diagnostics)
    );
    c.rules.expect("no errors, so rules")
}

fn rules(text: &str) -> RuleSet {
    rules_of(&[("t.rules", text)])
}

fn eval(set: &RuleSet, event: &Value) -> Evaluation {
    let mut e = Evaluation::default();
    set.evaluate(event, &mut e);
    e
}

/// Whether `cond` holds for `event`.
fn holds(cond: &str, event: &Value) -> bool {
    let set = rules(&format!("when {cond} drop"));
    let e = eval(&set, event);
    // The index must agree with a direct evaluation of the condition.
    assert_eq!(
        e.enrichment.drop,
        set.rules()[0].matches(event),
        "index disagrees for {cond} on {event}"
    );
    e.enrichment.drop
}

/// Asserts `cond` holds exactly for the events marked true.
fn check(cond: &str, cases: &[(Value, bool)]) {
    for (event, expected) in cases {
        assert_eq!(holds(cond, event), *expected, "`{cond}` on {event}");
    }
}

/// The schema and lint warnings: these tests use short field names (`a`,
/// `v`) that CloudTrail does not write, made-up event names (`A`), and
/// conditions that never hold on purpose, so the warnings are left out
/// unless a test asks.
const SCHEMA_WARNINGS: &[&str] = &["W302", "W303", "W304", "W305", "W306", "W307", "W308"];

/// Every diagnostic of a compilation of one file, but the schema warnings.
fn diags(text: &str) -> Vec<Diagnostic> {
    all_diags(text)
        .into_iter()
        .filter(|d| !SCHEMA_WARNINGS.contains(&d.code))
        .collect()
}

/// Every diagnostic of a compilation of one file.
fn all_diags(text: &str) -> Vec<Diagnostic> {
    compile_files(&[("t.rules", text)]).diagnostics
}

/// The one diagnostic with `code` (asserting there is exactly one).
fn one(diags: &[Diagnostic], code: &str) -> Diagnostic {
    let found: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}, got:\n{}", show(diags));
    found[0].clone()
}

fn span_text(d: &Diagnostic) -> &str {
    &d.source.text()[d.span.start..d.span.end]
}

fn field<'e>(e: &'e Evaluation, name: &str) -> Option<&'e Value> {
    e.enrichment.field(name)
}

fn ids(set: &RuleSet, e: &Evaluation) -> Vec<String> {
    e.matched
        .iter()
        .map(|&i| set.rules()[i].info.id.to_string())
        .collect()
}

fn tags(e: &Evaluation) -> Vec<&str> {
    e.enrichment.tags.iter().map(|t| &**t).collect()
}

// ---- Comparison operators -------------------------------------------------------

#[test]
fn eq_on_strings() {
    check(
        r#"eventName == "CreateUser""#,
        &[
            (json!({"eventName": "CreateUser"}), true),
            (json!({"eventName": "createuser"}), false),
            (json!({"eventName": "CreateUserX"}), false),
            (json!({"eventName": 1}), false),
            (json!({"eventName": ["CreateUser"]}), false),
            (json!({}), false),
            (json!({"eventName": null}), false),
        ],
    );
}

#[test]
fn ne_is_true_on_missing_null_and_other_types() {
    check(
        r#"eventName != "CreateUser""#,
        &[
            (json!({"eventName": "CreateUser"}), false),
            (json!({"eventName": "DeleteUser"}), true),
            (json!({"eventName": 5}), true),
            (json!({}), true),
            (json!({"eventName": null}), true),
        ],
    );
}

#[test]
fn numbers_compare_as_numbers() {
    check(
        "n == 1",
        &[
            (json!({"n": 1}), true),
            (json!({"n": 1.0}), true),
            (json!({"n": "1"}), false),
            (json!({"n": 2}), false),
        ],
    );
    check(
        "n == 1.5",
        &[(json!({"n": 1.5}), true), (json!({"n": 1}), false)],
    );
    check(
        "n == -3",
        &[(json!({"n": -3}), true), (json!({"n": 3}), false)],
    );
    check("n == 1e3", &[(json!({"n": 1000}), true)]);
}

#[test]
fn ordering_operators_on_numbers() {
    let v = |n: f64| json!({"n": n});
    check(
        "n < 10",
        &[(v(9.5), true), (v(10.0), false), (v(11.0), false)],
    );
    check(
        "n <= 10",
        &[(v(9.0), true), (v(10.0), true), (v(10.5), false)],
    );
    check(
        "n > 10",
        &[(v(11.0), true), (v(10.0), false), (v(-1.0), false)],
    );
    check(
        "n >= 10",
        &[(v(10.0), true), (v(100.0), true), (v(9.99), false)],
    );
    check(
        "n > -1",
        &[(json!({"n": 0}), true), (json!({"n": -2}), false)],
    );
}

#[test]
fn ordering_operators_on_strings_are_bytewise() {
    check(
        r#"eventTime >= "2024-01-01T00:00:00Z""#,
        &[
            (json!({"eventTime": "2024-06-01T12:00:00Z"}), true),
            (json!({"eventTime": "2024-01-01T00:00:00Z"}), true),
            (json!({"eventTime": "2023-12-31T23:59:59Z"}), false),
        ],
    );
    check(
        r#"s < "a""#,
        &[(json!({"s": "B"}), true), (json!({"s": "b"}), false)],
    );
    check(
        r#"s > "a""#,
        &[(json!({"s": "é"}), true), (json!({"s": "Z"}), false)],
    );
    check(
        r#"s <= "b""#,
        &[(json!({"s": "b"}), true), (json!({"s": "ba"}), false)],
    );
    check(
        r#"s < i"B""#,
        &[(json!({"s": "a"}), true), (json!({"s": "C"}), false)],
    );
}

#[test]
fn ordering_with_type_mismatch_is_false_both_ways() {
    for cond in [r#"n < "5""#, r#"n >= "5""#, "n < 5", "n >= 5"] {
        let event = if cond.contains('"') {
            json!({"n": 4})
        } else {
            json!({"n": "4"})
        };
        assert!(!holds(cond, &event), "{cond} on {event}");
    }
    check(
        "n < 5",
        &[
            (json!({"n": true}), false),
            (json!({"n": [1]}), false),
            (json!({"n": {"a": 1}}), false),
        ],
    );
}

#[test]
fn booleans() {
    check(
        "readOnly == true",
        &[
            (json!({"readOnly": true}), true),
            (json!({"readOnly": false}), false),
            (json!({"readOnly": "true"}), false),
            (json!({"readOnly": 1}), false),
        ],
    );
    check(
        "readOnly != false",
        &[
            (json!({"readOnly": true}), true),
            (json!({"readOnly": false}), false),
            (json!({}), true),
        ],
    );
}

#[test]
fn eq_null_means_no_value() {
    check(
        "errorCode == null",
        &[
            (json!({}), true),
            (json!({"errorCode": null}), true),
            (json!({"errorCode": ""}), false),
            (json!({"errorCode": 0}), false),
        ],
    );
    check(
        "errorCode != null",
        &[
            (json!({}), false),
            (json!({"errorCode": null}), false),
            (json!({"errorCode": "AccessDenied"}), true),
        ],
    );
}

#[test]
fn priority_literal_compares_as_its_name() {
    check(
        "xlevel == HIGH",
        &[
            (json!({"xlevel": "HIGH"}), true),
            (json!({"xlevel": "high"}), false),
        ],
    );
}

#[test]
fn ordering_by_priority_compares_ranks() {
    // LOW < MEDIUM < HIGH < CRITICAL, whatever their spelling sorts as.
    assert!(!holds("xpriority >= HIGH", &json!({"xpriority": "LOW"})));
    assert!(!holds("xpriority >= HIGH", &json!({"xpriority": "MEDIUM"})));
    assert!(holds("xpriority >= HIGH", &json!({"xpriority": "HIGH"})));
    assert!(holds(
        "xpriority >= HIGH",
        &json!({"xpriority": "CRITICAL"})
    ));
    assert!(holds("xpriority < MEDIUM", &json!({"xpriority": "LOW"})));
    // INFO, informational, is below LOW.
    assert!(holds("xpriority < LOW", &json!({"xpriority": "INFO"})));
    assert!(!holds("xpriority >= LOW", &json!({"xpriority": "INFO"})));
    assert!(holds("xpriority >= INFO", &json!({"xpriority": "LOW"})));
    assert!(holds("xpriority in [INFO]", &json!({"xpriority": "INFO"})));
    // A value that names no priority never compares.
    assert!(!holds("xpriority >= LOW", &json!({"xpriority": "high"})));
    assert!(!holds("xpriority < CRITICAL", &json!({"xpriority": 3})));
    assert!(holds(
        "xpriority in [HIGH, CRITICAL]",
        &json!({"xpriority": "CRITICAL"})
    ));
}

// ---- `in` ------------------------------------------------------------------

#[test]
fn in_list_of_strings() {
    check(
        r#"eventName in ["CreateUser", "DeleteUser"]"#,
        &[
            (json!({"eventName": "CreateUser"}), true),
            (json!({"eventName": "DeleteUser"}), true),
            (json!({"eventName": "createuser"}), false),
            (json!({"eventName": "UpdateUser"}), false),
            (json!({}), false),
        ],
    );
}

#[test]
fn in_list_of_mixed_literals() {
    let cond = r#"v in ["a", 1, 2.5, true, HIGH]"#;
    check(
        cond,
        &[
            (json!({"v": "a"}), true),
            (json!({"v": 1}), true),
            (json!({"v": 1.0}), true),
            (json!({"v": 2.5}), true),
            (json!({"v": true}), true),
            (json!({"v": false}), false),
            (json!({"v": "HIGH"}), true),
            (json!({"v": "1"}), false),
            (json!({"v": null}), false),
            (json!({}), false),
            (json!({"v": ["a"]}), false),
        ],
    );
}

#[test]
fn not_in_is_true_on_missing_and_null() {
    check(
        r#"v not in ["a", "b"]"#,
        &[
            (json!({"v": "a"}), false),
            (json!({"v": "c"}), true),
            (json!({}), true),
            (json!({"v": null}), true),
            (json!({"v": 1}), true),
        ],
    );
}

#[test]
fn in_ignore_case_list_and_items() {
    check(
        r#"u in i["Admin", "STRASSE"]"#,
        &[
            (json!({"u": "admin"}), true),
            (json!({"u": "ADMIN"}), true),
            (json!({"u": "straße"}), true),
            (json!({"u": "adm"}), false),
        ],
    );
    // One i"" item in a plain list ignores case; the others do not.
    check(
        r#"u in [i"Admin", "Root"]"#,
        &[
            (json!({"u": "aDmIn"}), true),
            (json!({"u": "Root"}), true),
            (json!({"u": "root"}), false),
        ],
    );
}

#[test]
fn in_named_list() {
    let set = rules(
        "list admins = [\"alice\", \"bob\"]\nwhen userIdentity.userName in admins tag \"admin\"",
    );
    assert_eq!(
        tags(&eval(&set, &json!({"userIdentity": {"userName": "bob"}}))),
        vec!["admin"]
    );
    assert!(tags(&eval(&set, &json!({"userIdentity": {"userName": "eve"}}))).is_empty());
}

// ---- String operators ----------------------------------------------------------

#[test]
fn startswith_endswith_contains() {
    check(
        r#"a startswith "arn:aws:iam::""#,
        &[
            (json!({"a": "arn:aws:iam::1:user/x"}), true),
            (json!({"a": "xarn:aws:iam::"}), false),
        ],
    );
    check(
        r#"a endswith ".amazonaws.com""#,
        &[
            (json!({"a": "iam.amazonaws.com"}), true),
            (json!({"a": "amazonaws.com.evil"}), false),
        ],
    );
    check(
        r#"a contains "assumed-role""#,
        &[
            (json!({"a": "arn:aws:sts::1:assumed-role/r/s"}), true),
            (json!({"a": "role"}), false),
        ],
    );
    // Lists: any one matching is enough.
    check(
        r#"a startswith ["x", "y"]"#,
        &[(json!({"a": "yes"}), true), (json!({"a": "no"}), false)],
    );
    // Non-strings never match.
    for op in ["startswith", "endswith", "contains"] {
        check(
            &format!(r#"a {op} "1""#),
            &[
                (json!({"a": 1}), false),
                (json!({"a": ["1"]}), false),
                (json!({}), false),
            ],
        );
    }
}

#[test]
fn negated_string_operators_are_true_on_missing() {
    for op in ["startswith", "endswith", "contains", "like", "matches"] {
        check(
            &format!(r#"a not {op} "x""#),
            &[
                (json!({}), true),
                (json!({"a": null}), true),
                (json!({"a": "x"}), false),
                (json!({"a": 7}), true),
            ],
        );
    }
    check(
        r#"a not within "10.0.0.0/8""#,
        &[
            (json!({}), true),
            (json!({"a": "10.0.0.1"}), false),
            (json!({"a": "AWS Internal"}), true),
        ],
    );
}

#[test]
fn ignore_case_string_operators() {
    check(
        r#"a startswith i"ARN:""#,
        &[(json!({"a": "arn:aws"}), true), (json!({"a": "ar"}), false)],
    );
    check(r#"a endswith i".COM""#, &[(json!({"a": "x.com"}), true)]);
    check(
        r#"a contains i"ROLE""#,
        &[
            (json!({"a": "assumed-role/x"}), true),
            (json!({"a": "rol"}), false),
        ],
    );
    check(
        r#"a contains "ROLE""#,
        &[(json!({"a": "assumed-role/x"}), false)],
    );
    check(
        r#"a startswith i["X", "STRASSE"]"#,
        &[(json!({"a": "Straße 1"}), true)],
    );
}

#[test]
fn ignore_case_uses_unicode_case_folding() {
    check(
        r#"a == i"STRASSE""#,
        &[
            (json!({"a": "straße"}), true),
            (json!({"a": "Strasse"}), true),
            (json!({"a": "strase"}), false),
        ],
    );
    check(r#"a == i"straße""#, &[(json!({"a": "STRASSE"}), true)]);
    check(
        r#"a == i"ΣΊΣΥΦΟΣ""#,
        &[
            (json!({"a": "σίσυφος"}), true),
            (json!({"a": "Σίσυφος"}), true),
            (json!({"a": "σισυφος"}), false),
        ],
    );
    check(r#"a == i"ÉTÉ""#, &[(json!({"a": "été"}), true)]);
    // Without i, case matters.
    check(
        r#"a == "STRASSE""#,
        &[
            (json!({"a": "straße"}), false),
            (json!({"a": "strasse"}), false),
        ],
    );
    check(
        r#"a != i"STRASSE""#,
        &[(json!({"a": "straße"}), false), (json!({"a": "weg"}), true)],
    );
}

#[test]
fn like_globs() {
    check(
        r#"eventName like "Delete*""#,
        &[
            (json!({"eventName": "DeleteBucket"}), true),
            (json!({"eventName": "Delete"}), true),
            (json!({"eventName": "BatchDeleteX"}), false),
            (json!({"eventName": "deleteBucket"}), false),
        ],
    );
    check(
        r#"a like "a?c""#,
        &[
            (json!({"a": "abc"}), true),
            (json!({"a": "ac"}), false),
            (json!({"a": "abbc"}), false),
            (json!({"a": "aéc"}), true),
        ],
    );
    check(
        r#"a like "*.amazonaws.com""#,
        &[
            (json!({"a": "s3.amazonaws.com"}), true),
            (json!({"a": "s3xamazonaws.com"}), false),
        ],
    );
    check(
        r#"a like "a+b(c)[d]^$|\\""#,
        &[
            (json!({"a": "a+b(c)[d]^$|\\"}), true),
            (json!({"a": "aab(c)d"}), false),
        ],
    );
    check(
        r#"a like "*x*""#,
        &[(json!({"a": "line1\nx\nline3"}), true)],
    );
    check(
        r#"a like ["Get*", "List*"]"#,
        &[
            (json!({"a": "ListUsers"}), true),
            (json!({"a": "PutUser"}), false),
        ],
    );
    check(
        r#"a like "*""#,
        &[
            (json!({"a": ""}), true),
            (json!({"a": 1}), false),
            (json!({}), false),
        ],
    );
}

#[test]
fn like_ignore_case() {
    check(
        r#"a like i"delete*""#,
        &[
            (json!({"a": "DeleteBucket"}), true),
            (json!({"a": "DELETE"}), true),
            (json!({"a": "Put"}), false),
        ],
    );
    check(
        r#"a like i"*STRASSE*""#,
        &[(json!({"a": "Hauptstraße 5"}), true)],
    );
    check(
        r#"a like i["X*", "*Σ"]"#,
        &[(json!({"a": "σίσυφος"}), true)],
    );
}

#[test]
fn matches_regex() {
    check(
        r#"userAgent matches r"^aws-cli/\d+\.""#,
        &[
            (json!({"userAgent": "aws-cli/2.15.0 Python"}), true),
            (json!({"userAgent": "Boto3/1.0 aws-cli/2."}), false),
        ],
    );
    // Unanchored: a match anywhere.
    check(
        r#"a matches "b+""#,
        &[(json!({"a": "abbbc"}), true), (json!({"a": "ac"}), false)],
    );
    check(
        r#"a matches r"\d""#,
        &[(json!({"a": 5}), false), (json!({}), false)],
    );
    check(
        r#"a matches [r"^x", r"y$"]"#,
        &[
            (json!({"a": "ay"}), true),
            (json!({"a": "xa"}), true),
            (json!({"a": "ya"}), false),
        ],
    );
}

#[test]
fn matches_regex_ignore_case() {
    check(
        r#"a matches i"^console""#,
        &[
            (json!({"a": "ConsoleLogin"}), true),
            (json!({"a": "xConsole"}), false),
        ],
    );
    check(
        r#"a matches ir"^get\w+$""#,
        &[(json!({"a": "GetObject"}), true)],
    );
    check(
        r#"a matches r"^get""#,
        &[(json!({"a": "GetObject"}), false)],
    );
    check(
        r#"a matches i[r"^put", r"^get"]"#,
        &[(json!({"a": "GETX"}), true)],
    );
}

// ---- within ---------------------------------------------------------------

#[test]
fn within_ipv4() {
    check(
        r#"sourceIPAddress within "10.0.0.0/8""#,
        &[
            (json!({"sourceIPAddress": "10.1.2.3"}), true),
            (json!({"sourceIPAddress": "10.255.255.255"}), true),
            (json!({"sourceIPAddress": "11.0.0.1"}), false),
            (json!({"sourceIPAddress": " 10.1.2.3 "}), true),
        ],
    );
    // A single address; a CIDR with host bits set is truncated to its network.
    check(
        r#"ip within "192.0.2.7""#,
        &[
            (json!({"ip": "192.0.2.7"}), true),
            (json!({"ip": "192.0.2.8"}), false),
        ],
    );
    check(
        r#"ip within "10.1.2.3/8""#,
        &[(json!({"ip": "10.200.0.1"}), true)],
    );
    check(
        r#"ip within ["192.168.0.0/16", "172.16.0.0/12"]"#,
        &[
            (json!({"ip": "172.20.1.1"}), true),
            (json!({"ip": "172.32.0.1"}), false),
        ],
    );
}

#[test]
fn within_ipv6_and_ipv4_mapped() {
    check(
        r#"ip within "2001:db8::/32""#,
        &[
            (json!({"ip": "2001:db8::1"}), true),
            (json!({"ip": "2001:db9::1"}), false),
            (json!({"ip": "10.0.0.1"}), false),
        ],
    );
    check(
        r#"ip within "10.0.0.0/8""#,
        &[
            (json!({"ip": "::ffff:10.1.2.3"}), true),
            (json!({"ip": "::ffff:11.1.2.3"}), false),
            (json!({"ip": "2001:db8::1"}), false),
        ],
    );
    check(
        r#"ip within "::1""#,
        &[
            (json!({"ip": "::1"}), true),
            (json!({"ip": "127.0.0.1"}), false),
        ],
    );
}

#[test]
fn within_is_false_for_values_that_are_not_one_address() {
    check(
        r#"sourceIPAddress within ["0.0.0.0/0", "::/0"]"#,
        &[
            (json!({"sourceIPAddress": "81.2.69.142"}), true),
            (json!({"sourceIPAddress": "AWS Internal"}), false),
            (
                json!({"sourceIPAddress": "81.2.69.142, 192.168.10.10"}),
                false,
            ),
            (json!({"sourceIPAddress": "ec2.amazonaws.com"}), false),
            (json!({"sourceIPAddress": "10.0.0.0/8"}), false),
            (json!({"sourceIPAddress": 167772161}), false),
            (json!({}), false),
        ],
    );
}

#[test]
fn within_ipv4_mapped_operands_become_ipv4() {
    // Values and operands alike: ::ffff:a.b.c.d is a.b.c.d.
    assert!(diags(r#"when ip within ["::ffff:0:0/96", "::ffff:10.1.2.3"] drop"#).is_empty());
    assert!(holds(
        r#"ip within "::ffff:10.1.2.3""#,
        &json!({"ip": "::ffff:10.1.2.3"})
    ));
    assert!(holds(
        r#"ip within "::ffff:10.1.2.3""#,
        &json!({"ip": "10.1.2.3"})
    ));
    assert!(holds(
        r#"ip within "::ffff:10.0.0.0/104""#,
        &json!({"ip": "10.1.2.3"})
    ));
    assert!(!holds(
        r#"ip within "::ffff:10.0.0.0/104""#,
        &json!({"ip": "11.1.2.3"})
    ));
    assert!(holds(
        r#"ip within "::ffff:0:0/96""#,
        &json!({"ip": "::ffff:10.1.2.3"})
    ));
}

#[test]
fn missing_field_and_null_behave_the_same() {
    let conds = [
        r#"f == "x""#,
        r#"f != "x""#,
        "f == 1",
        "f < 1",
        "f >= 1",
        "f == true",
        "f == null",
        "f != null",
        r#"f in ["x", 1, true]"#,
        r#"f not in ["x"]"#,
        r#"f startswith "x""#,
        r#"f not contains "x""#,
        r#"f like "*""#,
        r#"f matches ".*""#,
        r#"f within "0.0.0.0/0""#,
        "f exists",
        "f missing",
        "f == g",
        "f != g",
        "f.sub exists",
        r#"any f[] == "x""#,
        r#"all f[] != "x""#,
    ];
    for cond in conds {
        let missing = holds(cond, &json!({"g": 1}));
        let null = holds(cond, &json!({"f": null, "g": 1}));
        assert_eq!(missing, null, "{cond}: missing {missing}, null {null}");
    }
    // And the negative forms are true on no value.
    for cond in [
        r#"f != "x""#,
        r#"f not in ["x"]"#,
        r#"f not like "*""#,
        "f missing",
    ] {
        assert!(holds(cond, &json!({"f": null})), "{cond}");
    }
}

#[test]
fn null_inside_arrays_and_objects_is_no_value() {
    check(
        "a.b exists",
        &[
            (json!({"a": {"b": null}}), false),
            (json!({"a": {"b": 0}}), true),
            (json!({"a": null}), false),
        ],
    );
    check(
        r#"r[].t == "x""#,
        &[(json!({"r": [null, {"t": null}, {"t": "x"}]}), true)],
    );
    check(
        "r[] exists",
        &[(json!({"r": [null]}), false), (json!({"r": [0]}), true)],
    );
}

#[test]
fn exists_and_missing() {
    check(
        "errorCode exists",
        &[
            (json!({"errorCode": "AccessDenied"}), true),
            (json!({"errorCode": ""}), true),
            (json!({"errorCode": false}), true),
            (json!({"errorCode": []}), true),
            (json!({"errorCode": {}}), true),
            (json!({}), false),
        ],
    );
    check(
        "errorCode missing",
        &[(json!({}), true), (json!({"errorCode": "x"}), false)],
    );
    check(
        "a.b.c exists",
        &[
            (json!({"a": {"b": {"c": 1}}}), true),
            (json!({"a": {"b": 1}}), false),
            (json!({"a": "s"}), false),
        ],
    );
    check(
        "r[] exists",
        &[
            (json!({"r": []}), false),
            (json!({"r": [1]}), true),
            (json!({"r": "x"}), false),
        ],
    );
}

// ---- Paths, quantifiers, field-to-field ---------------------------------------

#[test]
fn quoted_keys_and_indexes() {
    check(
        r#"requestParameters."x-amz-acl" == "public-read""#,
        &[(
            json!({"requestParameters": {"x-amz-acl": "public-read"}}),
            true,
        )],
    );
    check(
        r#"r[1].t == "y""#,
        &[
            (json!({"r": [{"t": "x"}, {"t": "y"}]}), true),
            (json!({"r": [{"t": "y"}]}), false),
            (json!({"r": {"1": {"t": "y"}}}), false),
        ],
    );
}

#[test]
fn each_means_any_element() {
    let cond = r#"resources[].type == "AWS::IAM::Role""#;
    let event = json!({"resources": [{"type": "AWS::S3::Bucket"}, {"type": "AWS::IAM::Role"}]});
    assert!(holds(cond, &event));
    assert!(holds(&format!("any {cond}"), &event));
    assert!(!holds(
        cond,
        &json!({"resources": [{"type": "AWS::S3::Bucket"}]})
    ));
    assert!(!holds(cond, &json!({"resources": []})));
    // Nested fan-out.
    assert!(holds(
        r#"a[].b[] == 3"#,
        &json!({"a": [{"b": [1, 2]}, {"b": [3]}]})
    ));
}

#[test]
fn all_quantifier() {
    let cond = r#"all resources[].accountId == "111""#;
    check(
        cond,
        &[
            (
                json!({"resources": [{"accountId": "111"}, {"accountId": "111"}]}),
                true,
            ),
            (
                json!({"resources": [{"accountId": "111"}, {"accountId": "222"}]}),
                false,
            ),
            (json!({"resources": [{"accountId": "111"}]}), true),
            (json!({"resources": []}), false),
            (json!({}), false),
            (json!({"resources": [{"accountId": "111"}, {}]}), true),
        ],
    );
    check(
        r#"all tags[] in ["a", "b"]"#,
        &[
            (json!({"tags": ["a", "b", "a"]}), true),
            (json!({"tags": ["a", "c"]}), false),
        ],
    );
}

#[test]
fn negation_applies_to_the_whole_quantified_test() {
    // `not in`, `!=`, ...: the negation of the whole test (ast::TestKind::Compare).
    let event = json!({"t": ["a", "b"]});
    assert!(!holds(r#"t[] != "a""#, &event), "some element is \"a\"");
    assert!(holds(r#"t[] != "c""#, &event));
    assert!(
        holds(r#"all t[] != "a""#, &event),
        "not every element is \"a\""
    );
    assert!(!holds(r#"all t[] not in ["a", "b"]"#, &event));
}

#[test]
fn field_to_field_comparison() {
    let cond = "userIdentity.accountId == recipientAccountId";
    check(
        cond,
        &[
            (
                json!({"userIdentity": {"accountId": "1"}, "recipientAccountId": "1"}),
                true,
            ),
            (
                json!({"userIdentity": {"accountId": "1"}, "recipientAccountId": "2"}),
                false,
            ),
            (
                json!({"userIdentity": {"accountId": 1}, "recipientAccountId": "1"}),
                false,
            ),
            (
                json!({"userIdentity": {}, "recipientAccountId": "1"}),
                false,
            ),
            (json!({}), false),
        ],
    );
    check(
        "userIdentity.accountId != recipientAccountId",
        &[
            (
                json!({"userIdentity": {"accountId": "1"}, "recipientAccountId": "2"}),
                true,
            ),
            (
                json!({"userIdentity": {"accountId": "1"}, "recipientAccountId": "1"}),
                false,
            ),
            (json!({"recipientAccountId": "1"}), true),
        ],
    );
    check(
        "a < b",
        &[
            (json!({"a": 1, "b": 2}), true),
            (json!({"a": 2, "b": 1}), false),
            (json!({"a": "a", "b": "b"}), true),
            (json!({"a": 1, "b": "2"}), false),
        ],
    );
    check(
        "a >= b",
        &[
            (json!({"a": 2, "b": 2.0}), true),
            (json!({"a": true, "b": true}), false),
        ],
    );
    check(
        "a == b",
        &[
            (json!({"a": true, "b": true}), true),
            (json!({"a": {"x": [1]}, "b": {"x": [1]}}), true),
            (json!({"a": [1], "b": [2]}), false),
        ],
    );
    // With fan-out: some left value equals some right value.
    check(
        "resources[].accountId == recipientAccountId",
        &[(
            json!({"resources": [{"accountId": "2"}, {"accountId": "1"}], "recipientAccountId": "1"}),
            true,
        )],
    );
}

// ---- and / or / not --------------------------------------------------------------

#[test]
fn all_is_rejected_in_field_to_field_comparison() {
    let ds = diags("when all t[] == u drop");
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0].code, "E304");
    assert!(holds("t[] == u", &json!({"t": ["a", "b"], "u": "a"})));
}

#[test]
fn connectives() {
    let ev = json!({"a": 1, "b": 2});
    assert!(holds("a exists and b exists", &ev));
    assert!(!holds("a exists and c exists", &ev));
    assert!(holds("c exists or b exists", &ev));
    assert!(!holds("c exists or d exists", &ev));
    assert!(holds("not c exists", &ev));
    assert!(holds("c exists or a exists and b exists", &ev));
    assert!(!holds("(c exists or a exists) and d exists", &ev));
    assert!(holds("not (c exists or d exists)", &ev));
}

// ---- Macros and lists -------------------------------------------------------------

#[test]
fn macros_and_lists_from_another_file_and_defined_after_use() {
    let set = rules_of(&[
        ("01-rules.rules", "when is_admin and eventName in writes set xadmin_write = true"),
        ("02-defs.rules", "macro is_admin = userIdentity.userName in admins\nlist admins = [\"alice\"]\nlist writes = [\"PutObject\"]"),
    ]);
    let e = eval(
        &set,
        &json!({"userIdentity": {"userName": "alice"}, "eventName": "PutObject"}),
    );
    assert_eq!(field(&e, "xadmin_write"), Some(&json!(true)));
    let e = eval(
        &set,
        &json!({"userIdentity": {"userName": "bob"}, "eventName": "PutObject"}),
    );
    assert_eq!(field(&e, "xadmin_write"), None);
}

#[test]
fn nested_macros_and_negated_macros() {
    let set = rules(
        "macro is_iam = eventSource == \"iam.amazonaws.com\"\n\
         macro is_root = userIdentity.type == \"Root\"\n\
         macro root_iam = is_iam and is_root\n\
         when root_iam tag \"root-iam\"\n\
         when is_iam and not is_root tag \"iam\"",
    );
    let root = json!({"eventSource": "iam.amazonaws.com", "userIdentity": {"type": "Root"}});
    let user = json!({"eventSource": "iam.amazonaws.com", "userIdentity": {"type": "IAMUser"}});
    assert_eq!(tags(&eval(&set, &root)), vec!["root-iam"]);
    assert_eq!(tags(&eval(&set, &user)), vec!["iam"]);
}

// ---- Actions and merging --------------------------------------------------------------

#[test]
fn priority_keeps_the_highest() {
    let set = rules(
        "when a exists set xpriority = HIGH\n\
         when a exists set xpriority = LOW\n\
         when b exists set xpriority = CRITICAL\n\
         when c exists set xpriority = MEDIUM",
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1})), "xpriority"),
        Some(&json!("HIGH")),
        "a later LOW never lowers HIGH"
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1, "b": 1})), "xpriority"),
        Some(&json!("CRITICAL"))
    );
    assert_eq!(
        field(&eval(&set, &json!({"c": 1})), "xpriority"),
        Some(&json!("MEDIUM"))
    );
    assert_eq!(
        field(&eval(&set, &json!({"c": 1, "a": 1})), "xpriority"),
        Some(&json!("HIGH"))
    );
    assert_eq!(field(&eval(&set, &json!({})), "xpriority"), None);
    let set = rules(
        "when a exists set xpriority = INFO\n\
         when b exists set xpriority = LOW\n\
         when c exists set xpriority = INFO",
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1, "b": 1})), "xpriority"),
        Some(&json!("LOW")),
        "INFO is below LOW"
    );
    assert_eq!(
        field(&eval(&set, &json!({"b": 1, "c": 1})), "xpriority"),
        Some(&json!("LOW")),
        "a later INFO never lowers LOW"
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1})), "xpriority"),
        Some(&json!("INFO"))
    );
}

#[test]
fn plain_fields_last_matching_rule_wins() {
    let set = rules(
        "when a exists set xowner = \"first\" set xcount = 1\n\
         when b exists set xowner = \"second\"\n\
         when c exists set xowner = 3",
    );
    let e = eval(&set, &json!({"a": 1, "b": 1}));
    assert_eq!(field(&e, "xowner"), Some(&json!("second")));
    assert_eq!(field(&e, "xcount"), Some(&json!(1)));
    let names: Vec<&str> = e.enrichment.fields.iter().map(|(n, _)| &**n).collect();
    assert_eq!(
        names,
        vec!["xowner", "xcount"],
        "fields in the order first set"
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1, "c": 1})), "xowner"),
        Some(&json!(3))
    );
    assert_eq!(
        field(&eval(&set, &json!({"b": 1})), "xowner"),
        Some(&json!("second"))
    );
}

#[test]
fn set_literal_values_of_every_kind() {
    let set = rules(
        r#"when a exists set xs = "s\n" set xn = -2.5 set xb = false set xz = null set xi = i"Keep""#,
    );
    let e = eval(&set, &json!({"a": 1}));
    assert_eq!(field(&e, "xs"), Some(&json!("s\n")));
    assert_eq!(field(&e, "xn"), Some(&json!(-2.5)));
    assert_eq!(field(&e, "xb"), Some(&json!(false)));
    assert_eq!(field(&e, "xz"), Some(&Value::Null));
    assert_eq!(
        field(&e, "xi"),
        Some(&json!("Keep")),
        "i\"\" keeps the string as written"
    );
    let out: Vec<&str> = e.enrichment.output_fields().map(|(n, _)| n).collect();
    assert!(!out.contains(&"xz"), "a null field is not written: {out:?}");
}

#[test]
fn set_null_clears_an_earlier_value() {
    let set = rules("when a exists set xnote = \"n\"\nwhen b exists set xnote = null");
    let e = eval(&set, &json!({"a": 1, "b": 1}));
    assert_eq!(field(&e, "xnote"), Some(&Value::Null));
    assert!(!e.enrichment.output_fields().any(|(n, _)| n == "xnote"));
    let e = eval(&set, &json!({"a": 1}));
    assert!(e
        .enrichment
        .output_fields()
        .any(|(n, v)| n == "xnote" && v == json!("n")));
}

#[test]
fn set_value_copied_from_the_event() {
    let set = rules("when eventName exists set xuser = userIdentity.arn set xsession = userIdentity.sessionContext set xfirst = resources[0].ARN");
    let event = json!({
        "eventName": "X",
        "userIdentity": {"arn": "arn:aws:iam::1:user/alice", "sessionContext": {"mfa": true}},
        "resources": [{"ARN": "arn:1"}, {"ARN": "arn:2"}]
    });
    let e = eval(&set, &event);
    assert_eq!(
        field(&e, "xuser"),
        Some(&json!("arn:aws:iam::1:user/alice"))
    );
    assert_eq!(field(&e, "xsession"), Some(&json!({"mfa": true})));
    assert_eq!(field(&e, "xfirst"), Some(&json!("arn:1")));
    // A missing source leaves the field unset.
    let e = eval(&set, &json!({"eventName": "X"}));
    assert_eq!(field(&e, "xuser"), None);
    assert_eq!(field(&e, "xfirst"), None);
}

#[test]
fn set_value_copied_with_fan_out_is_an_array() {
    let set = rules("when eventName exists set xtypes = resources[].type");
    let e = eval(
        &set,
        &json!({"eventName": "X", "resources": [{"type": "A"}, {"x": 1}, {"type": "B"}, {"type": null}]}),
    );
    assert_eq!(field(&e, "xtypes"), Some(&json!(["A", "B"])));
    let e = eval(&set, &json!({"eventName": "X", "resources": []}));
    assert_eq!(field(&e, "xtypes"), None, "nothing to copy");
    let e = eval(
        &set,
        &json!({"eventName": "X", "resources": [{"type": "A"}]}),
    );
    assert_eq!(
        field(&e, "xtypes"),
        Some(&json!(["A"])),
        "an array even for one value"
    );
}

#[test]
fn copied_value_missing_keeps_an_earlier_value() {
    let set = rules("when a exists set xv = \"default\"\nwhen a exists set xv = b");
    assert_eq!(
        field(&eval(&set, &json!({"a": 1})), "xv"),
        Some(&json!("default"))
    );
    assert_eq!(
        field(&eval(&set, &json!({"a": 1, "b": "from-b"})), "xv"),
        Some(&json!("from-b"))
    );
}

#[test]
fn tags_are_deduplicated_in_first_seen_order() {
    let set = rules("when a exists tag \"b\", \"a\", \"b\"\nwhen a exists tag \"c\" tag \"a\"");
    let e = eval(&set, &json!({"a": 1}));
    assert_eq!(tags(&e), vec!["b", "a", "c"]);
    let out: Vec<(&str, Value)> = e.enrichment.output_fields().collect();
    assert!(out.contains(&("xtags", json!(["b", "a", "c"]))), "{out:?}");
}

#[test]
fn drop_marks_the_event_and_later_rules_still_run() {
    let set = rules("rule d { when a exists drop }\nrule t { when a exists tag \"seen\" }");
    let e = eval(&set, &json!({"a": 1}));
    assert!(e.enrichment.drop);
    assert_eq!(tags(&e), vec!["seen"]);
    assert_eq!(ids(&set, &e), vec!["d", "t"]);
    assert!(!eval(&set, &json!({})).enrichment.drop);
}

#[test]
fn overwrite_records_the_path_and_value() {
    let set = rules(
        "when a exists overwrite userIdentity.arn = \"redacted\" overwrite sourceIPAddress = b",
    );
    let e = eval(&set, &json!({"a": 1, "b": "0.0.0.0"}));
    let ow: Vec<(String, Value)> = e
        .enrichment
        .overwrites
        .iter()
        .map(|(p, v)| (p.to_string(), v.clone()))
        .collect();
    assert_eq!(
        ow,
        vec![
            ("userIdentity.arn".to_string(), json!("redacted")),
            ("sourceIPAddress".to_string(), json!("0.0.0.0"))
        ]
    );
    let e = eval(&set, &json!({"a": 1}));
    assert_eq!(
        e.enrichment.overwrites.len(),
        1,
        "a missing source overwrites nothing"
    );
}

#[test]
fn xrules_lists_matching_rules_in_load_order() {
    let set = rules_of(&[
        (
            "a.rules",
            "rule first { when x exists }\nwhen eventName == \"E\" tag \"t\"\n\nwhen y exists",
        ),
        (
            "dir/b.rules",
            "rule last { when eventSource == \"s\" }\nwhen x exists",
        ),
    ]);
    let e = eval(&set, &json!({"x": 1, "eventName": "E", "eventSource": "s"}));
    assert_eq!(ids(&set, &e), vec!["first", "a:2", "last", "b:2"]);
    assert_eq!(e.matched, vec![0, 1, 3, 4]);
    let xrules: Vec<&str> = e.enrichment.rules.iter().map(|r| &**r).collect();
    assert_eq!(xrules, vec!["first", "a:2", "last", "b:2"]);
    let out: Vec<(&str, Value)> = e.enrichment.output_fields().collect();
    assert_eq!(
        out.last().unwrap(),
        &("xrules", json!(["first", "a:2", "last", "b:2"]))
    );
}

#[test]
fn evaluation_is_reset_between_events() {
    let set = rules("when a exists set xa = 1 tag \"t\" drop overwrite eventName = \"n\"");
    let mut e = Evaluation::default();
    set.evaluate(&json!({"a": 1}), &mut e);
    assert!(e.enrichment.drop && !e.matched.is_empty());
    set.evaluate(&json!({"b": 1}), &mut e);
    assert!(e.matched.is_empty());
    assert!(e.enrichment.is_empty(), "{:?}", e.enrichment);
    assert!(!e.enrichment.drop);
}

#[test]
fn rule_info_carries_metadata() {
    let set = rules("\n\nrule r1 {\n description \"d\"\n severity HIGH\n tags [\"iam\", \"x\"]\n when a exists\n}\nwhen b exists");
    let info = &set.rules()[0].info;
    assert_eq!(&*info.id, "r1");
    assert_eq!(info.description.as_deref(), Some("d"));
    assert_eq!(info.severity, Some(ctrules_lang::ast::Priority::High));
    assert_eq!(info.tags, vec!["iam", "x"]);
    assert_eq!((info.file.as_str(), info.line), ("t.rules", 3));
    assert_eq!(&*set.rules()[1].info.id, "t:9");
    assert_eq!(set.len(), 2);
    assert_eq!(set.version().len(), 12);
    assert_ne!(set.version(), rules("when b exists").version());
}

// ---- The index ------------------------------------------------------------------

#[test]
fn index_files_rules_by_event_name_then_source() {
    let set = rules(
        "when eventName == \"CreateUser\" tag \"by-name\"\n\
         when eventName in [\"A\", \"B\"] and eventSource == \"s\" tag \"in-list\"\n\
         when eventSource == \"iam.amazonaws.com\" tag \"by-source\"\n\
         when eventName == \"X\" or eventName == \"Y\" tag \"or\"\n\
         when errorCode exists tag \"always\"\n\
         when eventName == i\"createuser\" tag \"folded\"\n\
         when eventName == \"Z\" or errorCode exists tag \"or-any\"\n\
         when not eventName != \"W\" tag \"negated\"\n\
         when eventName like \"Create*\" tag \"like\"\n\
         when eventName startswith \"Create\" tag \"prefix\"",
    );
    // by name: CreateUser, A, B, X, Y; by source: iam; the rest are always tested.
    assert_eq!(set.index_stats(), (5, 1, 6));

    let e = eval(
        &set,
        &json!({"eventName": "CreateUser", "eventSource": "iam.amazonaws.com"}),
    );
    assert_eq!(
        tags(&e),
        vec!["by-name", "by-source", "folded", "like", "prefix"]
    );
    let e = eval(&set, &json!({"eventName": "B", "eventSource": "s"}));
    assert_eq!(tags(&e), vec!["in-list"]);
    let e = eval(&set, &json!({"eventName": "Y", "errorCode": "E"}));
    assert_eq!(tags(&e), vec!["or", "always", "or-any"]);
    let e = eval(&set, &json!({"eventName": "W"}));
    assert_eq!(tags(&e), vec!["negated"]);
}

#[test]
fn index_never_changes_what_matches() {
    let set = rules(
        "macro m = eventName == \"A\"\n\
         when m tag \"1\"\n\
         when eventName in [\"A\", \"B\"] tag \"2\"\n\
         when eventSource == \"s\" and eventName like \"*\" tag \"3\"\n\
         when eventName == \"A\" and eventSource == \"t\" tag \"4\"\n\
         when eventName != \"A\" tag \"5\"\n\
         when eventName in [\"A\", 1] tag \"6\"",
    );
    let events = [
        json!({"eventName": "A"}),
        json!({"eventName": "B", "eventSource": "s"}),
        json!({"eventName": "A", "eventSource": "t"}),
        json!({"eventName": 1}),
        json!({"eventSource": "s"}),
        json!({"eventName": "a"}),
        json!({}),
        json!([1, 2]),
        json!("not an object"),
    ];
    for event in &events {
        let e = eval(&set, event);
        let direct: Vec<usize> = (0..set.len())
            .filter(|&i| set.rules()[i].matches(event))
            .collect();
        assert_eq!(e.matched, direct, "on {event}");
    }
    assert_eq!(tags(&eval(&set, &events[0])), vec!["1", "2", "6"]);
    assert_eq!(tags(&eval(&set, &events[3])), vec!["5", "6"]);
}

// ---- Diagnostics: names (E2xx) -------------------------------------------------------

#[test]
fn syntax_errors_stop_compilation() {
    let c = compile_files(&[
        ("a.rules", "when a exists drop"),
        ("b.rules", "when b = 1"),
        ("c.rules", "when c == \"\\q\""),
    ]);
    assert!(c.rules.is_none());
    assert!(c.has_errors());
    let codes: Vec<(&str, &str)> = c
        .diagnostics
        .iter()
        .map(|d| (d.source.name(), d.code))
        .collect();
    assert_eq!(codes, vec![("b.rules", "E101"), ("c.rules", "E102")]);
}

#[test]
fn e201_duplicate_rule_id() {
    let c = compile_files(&[
        ("a.rules", "rule dup { when a exists }"),
        ("b.rules", "\nrule dup { when b exists }"),
    ]);
    assert!(c.rules.is_none());
    let d = one(&c.diagnostics, "E201");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "rule id `dup` is already used");
    assert_eq!(d.source.name(), "b.rules");
    assert_eq!(span_text(&d), "dup");
    assert_eq!(d.line_col(), (2, 6));
    assert_eq!(d.labels.len(), 1);
    assert_eq!(d.labels[0].source.name(), "a.rules");
    assert_eq!(d.labels[0].message, "first used here");
    assert_eq!(
        d.help.as_deref(),
        Some("rule ids name rules in reports and alerts: make each one unique")
    );
}

#[test]
fn e201_inline_rule_id_clashes_with_a_block_id() {
    let text = "rule t:2 { when a exists }\nwhen b exists";
    let d = one(&diags(text), "E201");
    assert_eq!(d.message, "rule id `t:2` is already used");
    assert_eq!(span_text(&d), "when");
}

#[test]
fn e201_inline_ids_clash_across_directories_as_documented() {
    // docs/language.md (Rule ids): only the file name goes into the id.
    let c = compile_files(&[
        ("aws/iam.rules", "when a exists drop"),
        ("custom/iam.rules", "when b exists drop"),
    ]);
    let d = one(&c.diagnostics, "E201");
    assert_eq!(d.message, "rule id `iam:1` is already used");
    assert_eq!(
        (d.source.name(), span_text(&d)),
        ("custom/iam.rules", "when")
    );
    assert_eq!(d.labels[0].source.name(), "aws/iam.rules");
}

#[test]
fn e201_two_inline_rules_on_one_line_share_an_id() {
    // The id is `<stem>:<line of when>`, so two one-line rules on one line clash.
    let text = "when a exists drop when b exists drop";
    let d = one(&diags(text), "E201");
    assert_eq!(d.message, "rule id `t:1` is already used");
    assert_eq!(d.span.start, text.rfind("when").unwrap());
}

#[test]
fn e202_duplicate_list_or_macro_name() {
    let c = compile_files(&[
        ("a.rules", "list shared = [\"x\"]\nwhen v in shared drop"),
        (
            "b.rules",
            "macro shared = a exists\nlist twice = [1]\nlist twice = [2]\nwhen w in twice drop",
        ),
    ]);
    let e202: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == "E202").collect();
    assert_eq!(e202.len(), 2, "{}", show(&c.diagnostics));
    let d = e202[0];
    assert_eq!(d.message, "`shared` is already defined");
    assert_eq!(
        (d.source.name(), span_text(d), d.line_col()),
        ("b.rules", "shared", (1, 7))
    );
    assert_eq!(d.labels[0].source.name(), "a.rules");
    assert_eq!(d.labels[0].message, "first defined here");
    assert_eq!(
        d.help.as_deref(),
        Some("lists, macros, tables, schedules and calendars share one namespace across all rules files: rename one of them")
    );
    let d = e202[1];
    assert_eq!((span_text(d), d.line_col()), ("twice", (3, 6)));
    assert_eq!(d.label, "defined again here");
}

#[test]
fn e203_unknown_macro_did_you_mean() {
    let text = "macro is_admin = a exists\nwhen is_admni drop";
    let ds = diags(text);
    let d = one(&ds, "E203");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "unknown macro `is_admni`");
    assert_eq!(span_text(&d), "is_admni");
    assert_eq!(d.line_col(), (2, 6));
    assert_eq!(d.help.as_deref(), Some("did you mean `is_admin`?"));
    // The suggested macro is not reported as unused as well.
    assert_eq!(
        ds.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["E203"],
        "{}",
        show(&ds)
    );
}

#[test]

fn e203_suggested_macro_is_still_checked() {
    let ds = diags("macro is_admin = u in nolist\nwhen is_admni drop");
    let codes: Vec<&str> = ds.iter().map(|d| d.code).collect();
    assert!(
        codes.contains(&"E204"),
        "the unknown list inside is_admin is not reported:\n{}",
        show(&ds)
    );
}

#[test]
fn e203_unknown_macro_that_is_a_list() {
    let d = one(&diags("list admins = [\"a\"]\nwhen admins drop"), "E203");
    assert_eq!(
        d.help.as_deref(),
        Some("`admins` is a list: test membership with `FIELD in admins`")
    );
}

#[test]
fn e203_unknown_macro_without_suggestion() {
    let d = one(&diags("when readOnly drop"), "E203");
    assert_eq!(span_text(&d), "readOnly");
    let help = d.help.unwrap();
    assert!(
        help.contains("`readOnly == true`") && help.contains("macro readOnly = ..."),
        "{help}"
    );
}

#[test]
fn e204_unknown_list_did_you_mean() {
    let text = "list admins = [\"a\"]\nwhen u in admnis drop\nwhen u in admins drop";
    let d = one(&diags(text), "E204");
    assert_eq!(d.message, "unknown list `admnis`");
    assert_eq!(span_text(&d), "admnis");
    assert_eq!(d.line_col(), (2, 11));
    assert_eq!(d.help.as_deref(), Some("did you mean `admins`?"));
    assert!(
        !diags("list admins = [\"a\"]\nwhen u in admnis drop")
            .iter()
            .any(|d| d.code == "W201"),
        "a suggested list is not also unused"
    );
}

#[test]
fn e204_unknown_list_without_suggestion() {
    let d = one(&diags("when a like patterns drop"), "E204");
    assert_eq!(span_text(&d), "patterns");
    assert_eq!(
        d.help.as_deref(),
        Some(
            "define it with `list patterns = [\"...\"]`, or write the list here: `like [\"...\"]`"
        )
    );
}

#[test]
fn e205_macro_cycle() {
    let text = "macro a = b\nmacro b = c exists and a\nwhen a drop";
    let ds = diags(text);
    let d = one(&ds, "E205");
    assert_eq!(d.message, "macro `a` refers to itself");
    assert_eq!(span_text(&d), "a");
    assert_eq!(d.line_col(), (2, 24));
    assert_eq!(d.notes, vec!["the cycle: a -> b -> a"]);
    assert_eq!(
        d.help.as_deref(),
        Some("a macro cannot use itself, directly or through other macros")
    );
    assert!(compile_files(&[("t.rules", text)]).rules.is_none());
}

#[test]
fn e205_macro_using_itself_directly_even_when_unused() {
    let ds = diags("macro loop = not loop");
    let d = one(&ds, "E205");
    assert_eq!(d.notes, vec!["the cycle: loop -> loop"]);
    assert_eq!(d.line_col(), (1, 18));
}

// ---- Diagnostics: types and values (E3xx) ------------------------------------------

#[test]
fn e301_ordering_by_boolean_or_null() {
    for (lit, kind) in [("true", "boolean"), ("null", "null")] {
        let text = format!("when a < {lit} drop");
        let d = one(&diags(&text), "E301");
        assert_eq!(d.message, format!("cannot order by a {kind}"));
        assert_eq!(span_text(&d), lit);
        assert_eq!(d.labels[0].message, "ordering comparison");
        assert!(d.help.unwrap().contains("compare numbers, or strings"));
    }
    // `!=` true is fine, `!= null` too.
    assert!(diags("when a != true drop\nwhen b != null drop").is_empty());
}

#[test]
fn e301_equality_with_a_list() {
    let text = "when a == [\"x\"] drop";
    let d = one(&diags(text), "E301");
    assert_eq!(d.message, "`==` compares with one value, not a list");
    assert_eq!(span_text(&d), "[\"x\"]");
    assert_eq!(
        d.help.as_deref(),
        Some("to test membership, write `FIELD in [...]`")
    );
}

#[test]
fn e301_in_with_a_single_value() {
    let d = one(&diags("when a in \"x\" drop"), "E301");
    assert_eq!(d.message, "`in` takes a list, found a string");
    assert_eq!(span_text(&d), "\"x\"");
    assert!(d.help.unwrap().contains("in [\"a\", \"b\"]"));
}

#[test]
fn e301_matches_and_within_with_a_computed_value_name_what_it_is() {
    for (rule, message, label) in [
        (
            "when a matches b.c drop",
            "`matches` takes a string or a list of strings, not a field path",
            "a field path",
        ),
        (
            "when a matches concat(\"x\", b) drop",
            "`matches` takes a string or a list of strings, not a function call",
            "a function call",
        ),
        (
            "when sourceIPAddress within lower(b) drop",
            "`within` takes a string or a list of strings, not a function call",
            "a function call",
        ),
        (
            "when a in concat(b) drop",
            "`in` takes a list, not a function call",
            "a function call",
        ),
    ] {
        let d = one(&diags(rule), "E301");
        assert_eq!(d.message, message, "{rule}");
        assert_eq!(d.label, label, "{rule}");
    }
}

#[test]
fn string_operators_take_a_computed_value() {
    let event = json!({
        "userIdentity": {"arn": "arn:aws:iam::1:user/alice", "userName": "alice"},
        "requestParameters": {"userName": "alice", "prefix": "arn:aws:iam", "glob": "arn:*:user/?lice"},
        "resources": [{"ARN": "arn:aws:kms:1:key/a"}, {"ARN": "arn:aws:s3:::b"}],
    });
    let other = json!({
        "userIdentity": {"arn": "arn:aws:iam::1:user/alice"},
        "requestParameters": {"userName": "bob", "prefix": "arn:aws:sts", "glob": "arn:*:role/*"},
    });
    for (cond, expected) in [
        (
            "userIdentity.arn endswith concat(\"/\", requestParameters.userName)",
            [true, false],
        ),
        (
            "userIdentity.arn not endswith concat(\"/\", requestParameters.userName)",
            [false, true],
        ),
        (
            "userIdentity.arn startswith requestParameters.prefix",
            [true, false],
        ),
        (
            "userIdentity.arn contains requestParameters.userName",
            [true, false],
        ),
        (
            "userIdentity.arn like requestParameters.glob",
            [true, false],
        ),
        (
            "userIdentity.arn like concat(\"*\", requestParameters.userName)",
            [true, false],
        ),
        (
            "userIdentity.arn contains lower(upper(userIdentity.userName))",
            [true, false],
        ),
        // Any value on the left, any on the right.
        (
            "resources[].ARN startswith concat(\"arn:aws:\", \"s3\")",
            [true, false],
        ),
        (
            "all resources[].ARN startswith concat(\"arn:aws:\", \"s3\")",
            [false, false],
        ),
        (
            "all resources[].ARN startswith concat(\"arn:\", \"aws\")",
            [true, false],
        ),
    ] {
        assert_eq!(
            holds(cond, &event),
            expected[0],
            "`{cond}` on the first event"
        );
        assert_eq!(
            holds(cond, &other),
            expected[1],
            "`{cond}` on the second event"
        );
    }
    // No value on the right (a missing argument of concat): the test is
    // false, its negation true.
    let missing = json!({"userIdentity": {"arn": "arn:aws:iam::1:user/alice"}});
    assert!(!holds(
        "userIdentity.arn endswith concat(\"/\", requestParameters.userName)",
        &missing
    ));
    assert!(holds(
        "userIdentity.arn not endswith concat(\"/\", requestParameters.userName)",
        &missing
    ));
    // Only strings compare.
    let numbers = json!({"a": 12, "b": {"c": "1"}});
    assert!(!holds("a startswith b.c", &numbers));
    // A bare name is still a list.
    let c = compile_files(&[("t.rules", "when eventName startswith nope drop")]);
    assert_eq!(c.diagnostics[0].code, "E204");
}

#[test]
fn like_with_a_computed_pattern_matches_the_whole_value() {
    for (pattern, value, expected) in [
        ("a*", "abc", true),
        ("*c", "abc", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*b*", "abc", true),
        ("b", "abc", false),
        ("", "", true),
        ("*", "", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
        ("[a]", "[a]", true),
        ("é?", "éà", true),
        ("*x*y", "xxyxy", true),
    ] {
        let event = json!({"v": value, "p": {"q": pattern}});
        assert_eq!(
            holds("v like p.q", &event),
            expected,
            "{value} like {pattern}"
        );
        // The same as a pattern written in the rules.
        let written = format!("v like \"{pattern}\"");
        assert_eq!(holds(&written, &event), expected, "{written}");
    }
}

#[test]

fn e301_in_with_a_field_path_does_not_offer_a_string() {
    let d = one(&diags("when a in b.c drop"), "E301");
    assert!(!d.message.contains("or a string"), "{}", d.message);
}

#[test]
fn e301_string_operator_with_a_non_string() {
    let d = one(&diags("when a like 5 drop"), "E301");
    assert_eq!(d.message, "`like` takes strings, found a number");
    assert_eq!(span_text(&d), "5");
    assert_eq!(d.help.as_deref(), Some("write the value in double quotes"));
    // In a named list, the error points into the list's file.
    let c = compile_files(&[
        ("a.rules", "when a contains things drop"),
        ("lists.rules", "list things = [\"x\", true]"),
    ]);
    let d = one(&c.diagnostics, "E301");
    assert_eq!((d.source.name(), span_text(&d)), ("lists.rules", "true"));
    assert_eq!(d.message, "`contains` takes strings, found a boolean");
}

#[test]
fn e302_invalid_regex() {
    let text = "when a matches r\"(unclosed\" drop";
    let ds = diags(text);
    let d = one(&ds, "E302");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "invalid regular expression");
    assert_eq!(span_text(&d), "r\"(unclosed\"");
    assert_eq!(d.notes.len(), 1);
    assert!(d.notes[0].contains("unclosed group"), "{:?}", d.notes);
    assert!(d.help.unwrap().contains("raw strings"));
}

#[test]

fn e302_in_a_named_list_is_reported_once() {
    let ds = diags("list pats = [r\"(\"]\nwhen a matches pats drop\nwhen b matches pats drop");
    one(&ds, "E302");
}

#[test]
fn e303_invalid_cidr() {
    let text =
        "when sourceIPAddress within [\"10.0.0.0/8\", \"10.0.0.0/33\", \"AWS Internal\"] drop";
    let ds = diags(text);
    let e303: Vec<&Diagnostic> = ds.iter().filter(|d| d.code == "E303").collect();
    assert_eq!(e303.len(), 2, "{}", show(&ds));
    assert_eq!(span_text(e303[0]), "\"10.0.0.0/33\"");
    assert_eq!(
        e303[0].message,
        "`10.0.0.0/33` is not a CIDR block or IP address"
    );
    assert_eq!(span_text(e303[1]), "\"AWS Internal\"");
    assert!(e303[0].help.as_deref().unwrap().contains("10.0.0.0/8"));
}

#[test]
fn e304_quantifier_without_each() {
    let text = "when all resources.type == \"x\" drop";
    let d = one(&diags(text), "E304");
    assert_eq!(d.message, "`all` needs a path with `[]`");
    assert_eq!(span_text(&d), "all");
    assert_eq!(d.labels[0].message, "this path reaches one value");
    assert_eq!(
        &text[d.labels[0].span.start..d.labels[0].span.end],
        "resources.type"
    );
    assert_eq!(
        d.help.as_deref(),
        Some("mark the array to iterate: `all resources[].type == ...`")
    );
    let d = one(&diags("when any eventName exists drop"), "E304");
    assert_eq!(d.message, "`any` needs a path with `[]`");
}

#[test]
fn e304_all_with_exists_or_missing() {
    for presence in ["exists", "missing"] {
        let text = format!("when all resources[].type {presence} drop");
        let d = one(&diags(&text), "E304");
        assert_eq!(d.message, "`all` needs a comparison");
        assert_eq!(span_text(&d), "all");
    }
    assert!(diags("when any resources[].type exists drop").is_empty());
}

// ---- Diagnostics: actions (E4xx, W4xx) -------------------------------------------

#[test]
fn e401_set_on_an_aws_field() {
    let d = one(&diags("when a exists set eventName = \"x\""), "E401");
    assert_eq!(d.message, "`eventName` is a field AWS writes");
    assert_eq!(span_text(&d), "eventName");
    assert_eq!(
        d.help.as_deref(),
        Some("to replace what AWS wrote, say so: `overwrite eventName = ...`; to add a field, give it an `x` name: `set xeventName = ...`")
    );
}

#[test]
fn e402_set_on_a_nested_path() {
    let d = one(&diags("when a exists set userIdentity.arn = \"x\""), "E402");
    assert_eq!(d.message, "`set` writes a top-level field");
    assert_eq!(span_text(&d), "userIdentity.arn");
    assert_eq!(
        d.help.as_deref(),
        Some("to change a field AWS wrote, say so: `overwrite userIdentity.arn = ...`")
    );
    let d = one(&diags("when a exists set xinfo.owner = \"x\""), "E402");
    assert_eq!(
        d.help.as_deref(),
        Some("name the field with underscores instead: `set xinfo_owner = ...`")
    );
}

#[test]
fn e403_set_on_a_reserved_field() {
    let d = one(&diags("when a exists set xtags = \"a\""), "E403");
    assert_eq!(d.message, "`xtags` is written by ctrules itself");
    assert_eq!(span_text(&d), "xtags");
    assert_eq!(d.help.as_deref(), Some("add tags with `tag \"name\"`"));
    let d = one(&diags("when a exists set xrules = 1"), "E403");
    assert_eq!(
        d.help.as_deref(),
        Some("ctrules lists the matching rules' ids there")
    );
}

#[test]
fn e404_priority_field_given_another_value() {
    let c = compile_files(&[("a.rules", "when a exists set xpriority = HIGH"), ("b.rules", "when b exists set xpriority = \"HIGH\"\nwhen c exists set xpriority = userIdentity.type")]);
    let e404: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == "E404").collect();
    assert_eq!(e404.len(), 2, "{}", show(&c.diagnostics));
    let d = e404[0];
    assert_eq!(d.message, "`xpriority` holds a priority elsewhere");
    assert_eq!((d.source.name(), span_text(d)), ("b.rules", "\"HIGH\""));
    assert_eq!(d.labels[0].source.name(), "a.rules");
    assert_eq!(d.labels[0].message, "given a priority here");
    assert!(d
        .help
        .as_deref()
        .unwrap()
        .starts_with("use INFO, LOW, MEDIUM, HIGH or CRITICAL"));
    assert_eq!(span_text(e404[1]), "userIdentity.type");
    assert!(c.rules.is_none());
}

#[test]
fn w201_unused_list_and_macro() {
    let c = compile_files(&[(
        "t.rules",
        "list spare = [\"x\"]\nmacro idle = a exists\nwhen b exists drop",
    )]);
    assert!(!c.has_errors());
    assert!(c.rules.is_some(), "warnings do not stop compilation");
    let ws: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == "W201").collect();
    assert_eq!(ws.len(), 2, "{}", show(&c.diagnostics));
    assert!(ws.iter().all(|d| d.severity == Severity::Warning));
    assert_eq!(
        (ws[0].message.as_str(), span_text(ws[0])),
        ("list `spare` is never used", "spare")
    );
    assert_eq!(
        (ws[1].message.as_str(), span_text(ws[1])),
        ("macro `idle` is never used", "idle")
    );
    assert_eq!(ws[0].label, "unused list");
    assert_eq!(ws[0].help.as_deref(), Some("use it in a rule or remove it"));
}

#[test]
fn w201_unused_macro_is_still_checked() {
    let ds = diags("macro idle = a in nowhere");
    assert_eq!(
        ds.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["W201", "E204"]
    );
}

#[test]
fn used_through_a_macro_is_used() {
    assert!(diags("list l = [\"x\"]\nmacro m = a in l\nmacro n = m\nwhen n drop").is_empty());
}

#[test]
fn w401_enrichment_field_without_x() {
    let c = compile_files(&[("t.rules", "when a exists set priority = HIGH")]);
    let d = one(&c.diagnostics, "W401");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(
        d.message,
        "enrichment field `priority` does not start with `x`"
    );
    assert_eq!(span_text(&d), "priority");
    assert_eq!(
        d.help.as_deref(),
        Some("name it `xpriority` so it never collides with a field AWS adds later")
    );
    let set = c.rules.expect("only a warning");
    assert_eq!(
        field(&eval(&set, &json!({"a": 1})), "priority"),
        Some(&json!("HIGH"))
    );
    let d = one(&diags("when a exists set Owner = 1"), "W401");
    assert!(d.help.unwrap().contains("`xowner`"));
}

#[test]

fn w401_help_for_capital_x() {
    let d = one(&diags("when a exists set Xfoo = 1"), "W401");
    assert!(
        d.help.as_deref().unwrap().contains("`xfoo`"),
        "{:?}",
        d.help
    );
}

#[test]
fn w402_overwrite_a_field_aws_does_not_write() {
    let d = one(&diags("when a exists overwrite xmine.sub = 1"), "W402");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.message, "`xmine` is not a field AWS writes");
    assert_eq!(span_text(&d), "xmine.sub");
    assert_eq!(
        d.help.as_deref(),
        Some("`overwrite` is for replacing what AWS wrote; add a field with `set xmine = ...`")
    );
    assert!(diags("when a exists overwrite userIdentity.arn = 1").is_empty());
}

#[test]
fn diagnostics_are_sorted_by_file_then_position() {
    let c = compile_files(&[
        ("z.rules", "when a in nope2 drop\nwhen b in nope1 drop"),
        ("a.rules", "when c in nope3 drop\nlist unused = [1]"),
    ]);
    let order: Vec<(&str, usize, &str)> = c
        .diagnostics
        .iter()
        .filter(|d| !SCHEMA_WARNINGS.contains(&d.code))
        .map(|d| (d.source.name(), d.line_col().0, d.code))
        .collect();
    assert_eq!(
        order,
        vec![
            ("z.rules", 1, "E204"),
            ("z.rules", 2, "E204"),
            ("a.rules", 1, "E204"),
            ("a.rules", 2, "W201")
        ]
    );
}

// ---- Loader -------------------------------------------------------------------

fn write(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn read_rules_loads_a_directory_recursively_in_bytewise_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for name in [
        "9-y.rules",
        "10-x.rules",
        "B.rules",
        "a.rules",
        "a-c.rules",
        "a/b.rules",
        "a/z/deep.rules",
        "b/a.rules",
    ] {
        write(&root.join(name), &format!("# {name}\n"));
    }
    // Ignored: other extensions, hidden files and hidden directories.
    for name in [
        "notes.txt",
        "rules",
        "x.rules.bak",
        ".hidden.rules",
        ".git/c.rules",
        "a/.swp.rules",
    ] {
        write(&root.join(name), "when a == = broken");
    }
    let sources = read_rules(&[root.to_path_buf()]).unwrap();
    let names: Vec<String> = sources
        .iter()
        .map(|s| {
            s.name()
                .strip_prefix(&*root.display().to_string())
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "10-x.rules",
            "9-y.rules",
            "B.rules",
            "a-c.rules",
            "a.rules",
            "a/b.rules",
            "a/z/deep.rules",
            "b/a.rules"
        ]
    );
    for s in &sources {
        assert!(s.text().starts_with("# "), "{}", s.name());
        assert!(
            s.name()
                .ends_with(s.text().trim_start_matches("# ").trim_end()),
            "text belongs to {}",
            s.name()
        );
    }
    // And they compile as a set.
    assert!(!compile(&sources).has_errors());
}

#[test]
fn read_rules_keeps_the_order_of_the_paths_given() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("z.rules"), "when z exists drop");
    write(&root.join("d/a.rules"), "when a exists drop");
    write(&root.join("plain.txt"), "when t exists drop");
    let sources =
        read_rules(&[root.join("z.rules"), root.join("d"), root.join("plain.txt")]).unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s.name().rsplit('/').next().unwrap())
        .collect();
    // A file named directly is read whatever its extension.
    assert_eq!(names, vec!["z.rules", "a.rules", "plain.txt"]);
}

#[test]
fn read_rules_reports_a_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("nope");
    let err = read_rules(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(err.path, missing);
    assert!(err.message.starts_with("cannot read"), "{}", err.message);
    assert!(err.to_string().contains("nope"));
}

#[test]
fn read_rules_empty_directory_is_no_sources() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read_rules(&[dir.path().to_path_buf()]).unwrap().is_empty());
    let c = compile(&[]);
    assert!(c.diagnostics.is_empty());
    assert!(c.rules.unwrap().is_empty());
}

#[cfg(unix)]
#[test]

fn read_rules_survives_a_symlink_loop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("a.rules"), "rule r { when a exists }");
    std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
    match read_rules(&[root.to_path_buf()]) {
        Ok(sources) => assert_eq!(
            sources.len(),
            1,
            "{:?}",
            sources
                .iter()
                .map(|s| s.name().to_string())
                .collect::<Vec<_>>()
        ),
        Err(e) => assert!(
            e.message.contains("loop") || e.message.contains("cycle"),
            "{e}"
        ),
    }
}

/// Names of the sources, relative to `root`.
fn names_under(sources: &[Source], root: &std::path::Path) -> Vec<String> {
    sources
        .iter()
        .map(|s| {
            s.name()
                .strip_prefix(&*root.display().to_string())
                .unwrap()
                .to_string()
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn read_rules_follows_symlinks_that_stay_inside_the_directory() {
    // A Kubernetes ConfigMap volume: files are links through `..data`, a
    // link to the current timestamped directory.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write(&rules.join("..2026_11_30/a.rules"), "when a exists drop");
    write(
        &rules.join("..2026_11_30/nested/b.rules"),
        "when b exists drop",
    );
    std::os::unix::fs::symlink("..2026_11_30", rules.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/a.rules", rules.join("a.rules")).unwrap();
    std::os::unix::fs::symlink("..data/nested", rules.join("nested")).unwrap();
    let sources = read_rules(std::slice::from_ref(&rules)).unwrap();
    assert_eq!(
        names_under(&sources, &rules),
        vec!["/a.rules", "/nested/b.rules"]
    );
}

#[cfg(unix)]
#[test]
fn read_rules_refuses_a_symlink_that_leads_outside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write(&rules.join("ok.rules"), "when a exists drop");
    write(&dir.path().join("secret.txt"), "AWS_SECRET=hunter2");
    write(
        &dir.path().join("elsewhere/one.rules"),
        "when o exists drop",
    );
    for (link, target) in [
        ("env.rules", dir.path().join("secret.txt")),
        ("linked", dir.path().join("elsewhere")),
    ] {
        let _ = std::fs::remove_file(rules.join("env.rules"));
        let _ = std::fs::remove_file(rules.join("linked"));
        std::os::unix::fs::symlink(&target, rules.join(link)).unwrap();
        let err = read_rules(std::slice::from_ref(&rules)).unwrap_err();
        assert_eq!(err.path, rules.join(link), "{err}");
        assert!(err.message.contains("outside the rules directory"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    // Named as an argument, a file is read wherever it leads.
    let sources = read_rules(&[rules.join("linked/one.rules")]).unwrap();
    assert_eq!(sources.len(), 1);
}

#[test]
fn e301_null_in_an_in_list() {
    let text = r#"when v in ["a", null] drop"#;
    let ds = diags(text);
    assert_eq!(ds.len(), 1, "{}", show(&ds));
    assert_eq!((ds[0].code, span_text(&ds[0])), ("E301", "null"));
    assert!(ds[0].help.as_deref().unwrap().contains("missing"));
}

#[test]
fn w302_bare_word_read_as_a_field() {
    let text = "when eventName == CreateUser set xpriority = high";
    let ds = all_diags(text);
    assert_eq!(
        ds.iter()
            .map(|d| (d.code, span_text(d)))
            .collect::<Vec<_>>(),
        vec![("W302", "CreateUser"), ("W302", "high")]
    );
    assert_eq!(
        ds[0].help.as_deref(),
        Some("to use the text, quote it: \"CreateUser\"")
    );
    assert_eq!(
        ds[1].help.as_deref(),
        Some("priorities are written in capitals: HIGH")
    );
    // Fields CloudTrail writes, and x-fields, are fine.
    assert!(all_diags(
        "when userIdentity.accountId != recipientAccountId set xwho = userIdentity.arn"
    )
    .is_empty());
}

#[test]
fn priority_never_lowers_the_records_own() {
    let rs = rules("when a exists set xpriority = HIGH");
    let mut ev = Evaluation::default();
    rs.evaluate(&json!({"a": 1, "xpriority": "CRITICAL"}), &mut ev);
    assert_eq!(
        ev.enrichment.field("xpriority"),
        None,
        "CRITICAL stays as the record has it"
    );
    rs.evaluate(&json!({"a": 1, "xpriority": "LOW"}), &mut ev);
    assert_eq!(ev.enrichment.field("xpriority"), Some(&json!("HIGH")));
}

#[test]
fn w303_unknown_cloudtrail_fields_with_suggestions() {
    let cases = [
        ("when eventSorce == \"iam.amazonaws.com\" drop", "eventSorce", "`eventSorce` is not a field CloudTrail writes", "did you mean `eventSource`?"),
        ("when userIdentity.userNme exists drop", "userIdentity.userNme", "`userIdentity` has no field `userNme` in CloudTrail records", "did you mean `userName`?"),
        ("when userIdentity.sessionContext.sessionIssuer.usrName == \"a\" drop", "userIdentity.sessionContext.sessionIssuer.usrName", "`userIdentity.sessionContext.sessionIssuer` has no field `usrName` in CloudTrail records", "did you mean `userName`?"),
        ("when eventName.size > 1 drop", "eventName.size", "`eventName` is a single value; it has no field `size`", "check the spelling"),
        ("when resources[].typ == \"x\" drop", "resources[].typ", "`resources[]` has no field `typ` in CloudTrail records", "did you mean `type`?"),
        ("when eventName == \"CreateUser\" set xwho = userIdentity.usrName", "userIdentity.usrName", "`userIdentity` has no field `usrName` in CloudTrail records", "did you mean `userName`?"),
    ];
    for (text, span, message, help) in cases {
        let ds = all_diags(text);
        assert_eq!(ds.len(), 1, "{text}:\n{}", show(&ds));
        assert_eq!(
            (ds[0].code, ds[0].severity, span_text(&ds[0])),
            ("W303", Severity::Warning, span),
            "{text}"
        );
        assert_eq!(ds[0].message, message, "{text}");
        assert!(
            ds[0].help.as_deref().unwrap().contains(help),
            "{text}: {:?}",
            ds[0].help
        );
    }
    // Known, open and enrichment paths pass.
    let clean = "when requestParameters.policyDocument.x exists and resources[0].ARN exists and xteam == \"a\" \
                 and additionalEventData.MFAUsed == \"No\" and tlsDetails.tlsVersion exists drop";
    assert!(all_diags(clean).is_empty(), "{}", show(&all_diags(clean)));
}

/// What a glob matches, written out directly: `*` any run, `?` one character.
fn glob_oracle(glob: &[char], text: &[char]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| glob_oracle(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && glob_oracle(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_oracle(rest, &text[1..]),
    }
}

proptest::proptest! {
    /// `like` is compiled to startswith/endswith/contains when the glob
    /// allows, and to a regex otherwise: both agree with the glob's meaning,
    /// for one pattern and for a list, with and without `i`.
    #[test]
    fn like_matches_what_the_glob_says(
        globs in proptest::collection::vec("[*]?[aAb?]{0,3}[*]?", 1..3),
        value in "[aAbB]{0,5}",
        ignore_case in proptest::bool::ANY,
    ) {
        let flag = if ignore_case { "i" } else { "" };
        let list: Vec<String> = globs.iter().map(|g| format!("{flag}\"{g}\"")).collect();
        let cond = if list.len() == 1 {
            format!("userAgent like {}", list[0])
        } else {
            format!("userAgent like [{}]", list.join(", "))
        };
        let fold = |s: &str| if ignore_case { s.to_lowercase() } else { s.to_string() };
        let text: Vec<char> = fold(&value).chars().collect();
        let expected = globs.iter().any(|g| {
            let glob: Vec<char> = fold(g).chars().collect();
            glob_oracle(&glob, &text)
        });
        proptest::prop_assert_eq!(holds(&cond, &json!({"userAgent": value})), expected, "{}", cond);
    }
}

// ---- Depth (E206) -------------------------------------------------------------------

/// A chain of `n` macros, each the one before it behind `wrap` (`not `, `(`
/// ...), used by one rule.
fn macro_chain(n: usize, wrap: &str, close: &str) -> String {
    let mut text = String::from("macro m0 = eventName == \"x\"\n");
    for i in 1..n {
        text.push_str(&format!("macro m{i} = {wrap}m{}{close}\n", i - 1));
    }
    text.push_str(&format!("when m{} tag \"t\"\n", n - 1));
    text
}

#[test]
fn a_deep_chain_of_macros_is_e206_not_a_stack_overflow() {
    use ctrules_compiler::lower::MAX_CONDITION_DEPTH;
    for (n, wrap, close) in [
        (20_000, "", ""),
        (20_000, "not ", ""),
        (2_000, "eventSource == \"s\" and (", ")"),
        (MAX_CONDITION_DEPTH + 1, "not ", ""),
    ] {
        let text = macro_chain(n, wrap, close);
        let c = compile_files(&[("deep.rules", &text)]);
        assert!(c.rules.is_none(), "{n} {wrap:?}: compiled");
        assert!(
            c.diagnostics.iter().any(|d| d.code == "E206"),
            "{n} {wrap:?}:\n{}",
            show(&c.diagnostics[..c.diagnostics.len().min(5)])
        );
    }
}

#[test]
fn a_chain_of_macros_within_the_limit_compiles_and_evaluates() {
    use ctrules_compiler::lower::MAX_CONDITION_DEPTH;
    // Each `not` is one level, the rule's condition another: this is the deepest allowed.
    let text = macro_chain(MAX_CONDITION_DEPTH - 1, "not ", "");
    let rules = rules_of(&[("deep.rules", &text)]);
    // An even number of `not`s (MAX - 2) around the test.
    let mut evaluation = Evaluation::default();
    rules.evaluate(&json!({"eventName": "x"}), &mut evaluation);
    assert_eq!(evaluation.matched.len(), 1);
    let plain = rules_of(&[("plain.rules", &macro_chain(MAX_CONDITION_DEPTH - 1, "", ""))]);
    let mut evaluation = Evaluation::default();
    plain.evaluate(&json!({"eventName": "x"}), &mut evaluation);
    assert_eq!(evaluation.matched.len(), 1);
}

// ---- any NAME in ... (...): several fields of one element ----------------------

fn kms_event(resources: Value) -> Value {
    json!({"eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion", "resources": resources})
}

#[test]
fn for_each_tests_fields_of_the_same_element() {
    let cond =
        r#"any s in resources[] (s.type == "AWS::KMS::Key" and s.ARN startswith "arn:aws:kms:")"#;
    let same = json!([{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:1:key/k"}]);
    // Each field matches in some element, but never both in one.
    let split = json!([
        {"type": "AWS::KMS::Key", "ARN": "arn:aws:s3:::b"},
        {"type": "AWS::S3::Bucket", "ARN": "arn:aws:kms:us-east-1:1:key/k"}
    ]);
    check(
        cond,
        &[
            (kms_event(same.clone()), true),
            (kms_event(split.clone()), false),
            (kms_event(json!([])), false),
            (json!({"eventName": "X"}), false),
        ],
    );
    // What two `[]` tests say instead: any element each.
    let loose =
        r#"resources[].type == "AWS::KMS::Key" and resources[].ARN startswith "arn:aws:kms:""#;
    check(loose, &[(kms_event(split), true)]);
}

#[test]
fn all_for_each_needs_every_element_and_at_least_one() {
    let cond = r#"all s in resources[] (s.type == "AWS::KMS::Key" and s.ARN exists)"#;
    check(
        cond,
        &[
            (
                kms_event(
                    json!([{"type": "AWS::KMS::Key", "ARN": "a"}, {"type": "AWS::KMS::Key", "ARN": "b"}]),
                ),
                true,
            ),
            (
                kms_event(
                    json!([{"type": "AWS::KMS::Key", "ARN": "a"}, {"type": "AWS::KMS::Key"}]),
                ),
                false,
            ),
            (kms_event(json!([])), false),
            (json!({}), false),
        ],
    );
    // `not` and `!=` inside, the element itself, and outer fields.
    check(
        r#"any n in requestParameters.names[] (n startswith "prod-" and n != "prod-x" and eventName == "E")"#,
        &[
            (
                json!({"eventName": "E", "requestParameters": {"names": ["dev", "prod-a"]}}),
                true,
            ),
            (
                json!({"eventName": "E", "requestParameters": {"names": ["prod-x"]}}),
                false,
            ),
            (
                json!({"eventName": "F", "requestParameters": {"names": ["prod-a"]}}),
                false,
            ),
        ],
    );
}

#[test]
fn for_each_nests_and_reads_nested_paths_under_the_element() {
    let cond = r#"any s in resources[] (s.type == "T" and any t in s.tags[] (t.key == "env" and t.value == s.name))"#;
    check(
        cond,
        &[
            (
                json!({"resources": [{"type": "T", "name": "prod", "tags": [{"key": "env", "value": "prod"}]}]}),
                true,
            ),
            // The tag matches another element's name only.
            (
                json!({"resources": [
                    {"type": "T", "name": "dev", "tags": [{"key": "env", "value": "prod"}]},
                    {"type": "U", "name": "prod", "tags": []}
                ]}),
                false,
            ),
            (
                json!({"resources": [{"type": "T", "name": "prod", "tags": [{"key": "app", "value": "prod"}]}]}),
                false,
            ),
        ],
    );
    // Deeper paths and `[]` under the element, and a quantified test inside.
    check(
        r#"any s in a[] (s.b.c == 1 and all s.d[] > 2)"#,
        &[
            (json!({"a": [{"b": {"c": 1}, "d": [3, 4]}]}), true),
            (
                json!({"a": [{"b": {"c": 1}, "d": [3, 1]}, {"b": {"c": 2}, "d": [3]}]}),
                false,
            ),
        ],
    );
}

#[test]
fn for_each_works_with_macros_and_terms_on_both_sides() {
    let set = rules(
        r#"macro kms = eventSource == "kms.amazonaws.com"
when kms and any s in resources[] (s.ARN endswith concat("/", requestParameters.keyId) and kms) tag "own-key""#,
    );
    let event = json!({"eventSource": "kms.amazonaws.com", "requestParameters": {"keyId": "k1"},
        "resources": [{"ARN": "arn:aws:kms:r:1:key/k2"}, {"ARN": "arn:aws:kms:r:1:key/k1"}]});
    assert_eq!(tags(&eval(&set, &event)), ["own-key"]);
    let other = json!({"eventSource": "kms.amazonaws.com", "requestParameters": {"keyId": "k3"},
        "resources": [{"ARN": "arn:aws:kms:r:1:key/k1"}]});
    assert!(tags(&eval(&set, &other)).is_empty());
}

#[test]
fn for_each_names_are_checked() {
    // A misspelt bound name: E306 with did you mean.
    let d = one(
        &all_diags(r#"when any s in resources[] (t.type == "A") drop"#),
        "E306",
    );
    assert_eq!(span_text(&d), "t.type");
    assert_eq!(d.help.as_deref(), Some("did you mean `s`?"));
    let d = one(
        &all_diags(r#"when any stmt in resources[] (eventName == "A" and stm.type == "A") drop"#),
        "E306",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `stmt`?"));
    // A name hiding a field, `actor`, a declaration or an outer binding: E305.
    for (text, hidden) in [
        (
            r#"when any eventName in resources[] (eventName.type == "A") drop"#,
            "eventName",
        ),
        (
            r#"when any actor in resources[] (actor.type == "A") drop"#,
            "actor",
        ),
        (
            "list l = [\"a\"]\nwhen eventName in l and any l in resources[] (l.type == \"A\") drop",
            "l",
        ),
        (
            r#"when any s in resources[] (any s in s.tags[] (s.key == "A")) drop"#,
            "s",
        ),
    ] {
        let d = one(&all_diags(text), "E305");
        assert_eq!(span_text(&d), hidden, "{text}");
    }
    // A name the condition never reads: W203, which the rule may allow.
    let d = one(
        &all_diags(r#"when any s in resources[] (resources[].type == "A") drop"#),
        "W203",
    );
    assert_eq!(span_text(&d), "s");
    assert!(all_diags(
        "rule r {\n  allow W203 \"on purpose\"\n  when any s in resources[] (resources[].type == \"A\")\n}"
    )
    .is_empty());
    // Over a path without `[]`: E304.
    let d = one(
        &all_diags(r#"when any s in resources (s.type == "A") drop"#),
        "E304",
    );
    assert_eq!(span_text(&d), "any");
    // Paths under the name are checked against the schema through it.
    let d = one(
        &all_diags(r#"when any s in resources[] (s.tyep == "A") drop"#),
        "W303",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `type`?"));
    assert!(all_diags(r#"when eventSource == "kms.amazonaws.com" and any s in resources[] (s.type == "A" and s.ARN exists) drop"#).is_empty());
    // A macro does not see names bound around its use.
    let d = one(
        &all_diags(
            "macro m = s.type == \"A\"\nwhen any s in resources[] (m and s.ARN exists) drop",
        ),
        "W303",
    );
    assert_eq!(span_text(&d), "s.type");
}

#[test]
fn for_each_elements_do_not_meet_the_tests_around_them_in_lints() {
    // Two elements may differ: no contradiction across bindings...
    let text = r#"when any s in resources[] (s.type == "A") and any s in resources[] (s.type == "B") drop"#;
    assert!(
        all_diags(text).iter().all(|d| d.code != "W306"),
        "{}",
        show(&all_diags(text))
    );
    // ...but within one element there is.
    let text = r#"when any s in resources[] (s.type == "A" and s.type == "B") drop"#;
    one(&all_diags(text), "W306");
}

// ---- json(TEXT): JSON held in a string ------------------------------------------

fn put_policy(document: Value) -> Value {
    let text = match document {
        Value::String(s) => s,
        other => other.to_string(),
    };
    json!({"eventSource": "iam.amazonaws.com", "eventName": "CreatePolicy",
           "requestParameters": {"policyName": "p", "policyDocument": text}})
}

#[test]
fn json_parses_a_string_and_paths_go_into_it() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}
    ]});
    let event = put_policy(doc);
    check(
        r#"json(requestParameters.policyDocument).Statement[].Effect == "Allow""#,
        &[(event.clone(), true)],
    );
    check(
        r#"json(requestParameters.policyDocument).Version == "2012-10-17""#,
        &[(event.clone(), true)],
    );
    check(
        r#"any json(requestParameters.policyDocument).Statement[].Action[] == "s3:GetObject""#,
        &[(event.clone(), true)],
    );
    check(
        r#"json(requestParameters.policyDocument) exists"#,
        &[(event.clone(), true)],
    );
    // Invalid JSON, not text, missing: no value; the test is false, its negation true.
    for bad in [
        put_policy(json!("{\"Statement\": [")),
        put_policy(json!("not json")),
        json!({"requestParameters": {"policyDocument": {"Statement": [{"Effect": "Allow"}]}}}),
        json!({"requestParameters": {"policyDocument": 5}}),
        json!({}),
    ] {
        assert!(
            !holds(
                r#"json(requestParameters.policyDocument).Statement[].Effect == "Allow""#,
                &bad
            ),
            "{bad}"
        );
        assert!(
            !holds(r#"json(requestParameters.policyDocument) exists"#, &bad),
            "{bad}"
        );
        assert!(
            holds(
                r#"json(requestParameters.policyDocument).Statement[].Effect != "Allow""#,
                &bad
            ),
            "{bad}"
        );
    }
    // Deeply nested text is no value either, and never a panic.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(!holds("json(a) exists", &json!({"a": deep})));
    // Text computed per record, and a field of an element.
    check(
        r#"json(concat("{\"a\":", n, "}")).a == 5"#,
        &[(json!({"n": 5}), true), (json!({"n": "x"}), false)],
    );
    check(
        r#"any s in items[] (json(s.doc).k == s.want)"#,
        &[
            (
                json!({"items": [{"doc": "{\"k\": 1}", "want": 2}, {"doc": "{\"k\": 2}", "want": 2}]}),
                true,
            ),
            (
                json!({"items": [{"doc": "{\"k\": 1}", "want": 2}, {"doc": "{\"k\": 3}", "want": 1}]}),
                false,
            ),
        ],
    );
}

/// "A policy statement that allows `*` to a public principal without a
/// condition", with the three ways IAM writes a principal.
const PUBLIC_ALLOW: &str = r#"any st in json(requestParameters.policyDocument).Statement[] (
    st.Effect == "Allow"
    and st.Condition missing
    and (st.Principal == "*" or st.Principal.AWS == "*" or st.Principal.AWS[] == "*")
)"#;

#[test]
fn json_with_any_finds_a_public_statement_without_a_condition() {
    let statement = |principal: Value, condition: Option<Value>| {
        let mut st =
            json!({"Effect": "Allow", "Action": "sqs:*", "Resource": "*", "Principal": principal});
        if let Some(c) = condition {
            st["Condition"] = c;
        }
        st
    };
    let doc = |statements: Vec<Value>| {
        put_policy(json!({"Version": "2012-10-17", "Statement": statements}))
    };
    let cond = Some(json!({"StringEquals": {"aws:SourceAccount": "1"}}));
    check(
        PUBLIC_ALLOW,
        &[
            (doc(vec![statement(json!("*"), None)]), true),
            (doc(vec![statement(json!({"AWS": "*"}), None)]), true),
            (
                doc(vec![statement(
                    json!({"AWS": ["arn:aws:iam::1:root", "*"]}),
                    None,
                )]),
                true,
            ),
            (
                doc(vec![statement(json!({"AWS": "arn:aws:iam::1:root"}), None)]),
                false,
            ),
            (doc(vec![statement(json!("*"), cond.clone())]), false),
            // Public with a condition in one statement, allowed without in
            // another for someone else: no single statement is both.
            (
                doc(vec![
                    statement(json!("*"), cond),
                    statement(json!({"AWS": "arn:aws:iam::1:root"}), None),
                ]),
                false,
            ),
            (
                doc(vec![{
                    let mut st = statement(json!("*"), None);
                    st["Effect"] = json!("Deny");
                    st
                }]),
                false,
            ),
            (put_policy(json!("{oops")), false),
        ],
    );
}

#[test]
fn json_of_a_field_cloudtrail_writes_as_an_object_is_w305() {
    let d = one(
        &all_diags(r#"when json(requestParameters).Statement exists drop"#),
        "W305",
    );
    assert_eq!(span_text(&d), "requestParameters");
    let d = one(&all_diags(r#"when json(resources).x exists drop"#), "W305");
    assert!(d.message.contains("an array"), "{}", d.message);
    assert!(all_diags(r#"when eventSource == "iam.amazonaws.com" and json(requestParameters.policyDocument).Statement exists drop"#).is_empty());
    let d = one(&all_diags(r#"when json(a, b) exists drop"#), "E504");
    assert_eq!(
        d.help
            .as_deref()
            .map(|h| h.starts_with("call it as `json(TEXT)`")),
        Some(true)
    );
}

// ---- PATH.** : a value anywhere inside -------------------------------------------

#[test]
fn deep_paths_reach_every_value_nested_inside() {
    let event = json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
        "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended", "MfaDelete": ["Disabled"]}}});
    check(
        r#"requestParameters.** == "Suspended""#,
        &[(event.clone(), true)],
    );
    check(
        r#"requestParameters.** contains "Suspend""#,
        &[(event.clone(), true)],
    );
    check(
        r#"requestParameters.** == "Disabled""#,
        &[(event.clone(), true)],
    );
    check(
        r#"requestParameters.** == "Enabled""#,
        &[(event.clone(), false)],
    );
    check(
        r#"requestParameters.** != "Enabled""#,
        &[(event.clone(), true)],
    );
    // Keys are not values; the value itself is one.
    check(
        r#"requestParameters.** == "VersioningConfiguration""#,
        &[(event.clone(), false)],
    );
    check(
        r#"requestParameters.bucketName.** == "b""#,
        &[(event.clone(), true)],
    );
    // With a path after it, every nested object's field.
    check(
        r#"requestParameters.**.Status == "Suspended""#,
        &[(event.clone(), true)],
    );
    check(
        r#"requestParameters.VersioningConfiguration.** exists"#,
        &[(event.clone(), true)],
    );
    // The three forms of a policy principal, in one test.
    for (principal, public) in [
        (json!("*"), true),
        (json!({"AWS": "*"}), true),
        (json!({"AWS": ["arn:aws:iam::1:root", "*"]}), true),
        (
            json!({"AWS": "arn:aws:iam::1:root", "Service": "s3.amazonaws.com"}),
            false,
        ),
    ] {
        let event = json!({"requestParameters": {"policy": {"Statement": [{"Effect": "Allow", "Principal": principal}]}}});
        check(
            r#"any st in requestParameters.policy.Statement[] (st.Effect == "Allow" and st.Principal.** == "*")"#,
            &[(event, public)],
        );
    }
    // Inside json(...) too.
    let doc = json!({"requestParameters": {"policyDocument": "{\"Statement\":[{\"Principal\":{\"AWS\":[\"*\"]}}]}"}});
    check(
        r#"json(requestParameters.policyDocument).Statement[].Principal.** == "*""#,
        &[(doc, true)],
    );
    // Deep documents are searched without overflowing (serde_json bounds the depth).
    let mut deep = json!("needle");
    for _ in 0..100 {
        deep = json!({"a": [deep]});
    }
    check(
        r#"requestParameters.** == "needle""#,
        &[(json!({"requestParameters": deep}), true)],
    );
}

#[test]
fn a_pattern_on_an_object_or_array_field_is_w305_suggesting_deep() {
    let d = one(
        &all_diags(r#"when requestParameters contains "Suspended" drop"#),
        "W305",
    );
    assert_eq!(span_text(&d), "requestParameters");
    assert!(d.message.contains("is an object"), "{}", d.message);
    assert_eq!(
        d.help.as_deref(),
        Some("to test every value nested inside it, write `requestParameters.** contains ...`")
    );
    let d = one(&all_diags(r#"when resources like "*kms*" drop"#), "W305");
    assert!(d.message.contains("is an array"), "{}", d.message);
    one(
        &all_diags(r#"when userIdentity.sessionContext startswith "x" drop"#),
        "W305",
    );
    // The deep form, and open parts below the top, are fine.
    assert!(all_diags(r#"when eventSource == "s3.amazonaws.com" and requestParameters.** contains "Suspended" drop"#).is_empty());
    assert!(all_diags(r#"when eventSource == "s3.amazonaws.com" and requestParameters.bucketName contains "x" drop"#).is_empty());
    // Nothing is written through `.**`.
    let d = one(
        &all_diags(r#"when eventName == "A" overwrite requestParameters.** = "x""#),
        "E402",
    );
    assert_eq!(span_text(&d), "requestParameters.**");
    // Quantifiers and `any NAME in` accept it as fanning out.
    assert!(diags(r#"when all requestParameters.** != "x" drop"#).is_empty());
    assert!(diags(r#"when any v in requestParameters.** (v == "x") drop"#).is_empty());
}

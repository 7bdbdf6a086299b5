//! The lints (W304-W308): what they flag, and what they must leave alone.
//! The exact text of each is in the golden cases (tests/golden/diagnostics).

use ctrules_compiler::{compile, read_rules};
use ctrules_lang::{Diagnostic, Source};
use std::path::Path;

const LINTS: &[&str] = &["W304", "W305", "W306", "W307", "W308"];

fn lints(text: &str) -> Vec<Diagnostic> {
    compile(&[Source::new("t.rules", text)])
        .diagnostics
        .into_iter()
        .filter(|d| LINTS.contains(&d.code))
        .collect()
}

/// The code and the flagged text of each lint warning.
fn flagged(text: &str) -> Vec<(&'static str, String)> {
    lints(text)
        .iter()
        .map(|d| {
            (
                d.code,
                d.source.text()[d.span.start..d.span.end].to_string(),
            )
        })
        .collect()
}

fn clean(text: &str) {
    let found = lints(text);
    assert!(
        found.is_empty(),
        "{text}:\n{}",
        found
            .iter()
            .map(|d| format!("  {}: {}\n", d.code, d.message))
            .collect::<String>()
    );
}

fn help(text: &str) -> String {
    let found = lints(text);
    assert_eq!(found.len(), 1, "{text}: {found:?}");
    found[0].help.clone().unwrap_or_default()
}

#[test]
fn real_conditions_pass() {
    for text in [
        "when eventSource == \"iam.amazonaws.com\" and eventName == \"CreateUser\" drop",
        "when eventSource == \"s3.amazonaws.com\" and eventName in [\"GetObject\", \"PutBucketPublicAccessBlock\"] drop",
        "when eventSource == \"ec2.amazonaws.com\" and eventName == \"RunInstances\" drop",
        "when eventSource == \"sts.amazonaws.com\" and eventName == \"AssumeRoleWithSAML\" drop",
        "when eventSource == \"signin.amazonaws.com\" and eventName in [\"ConsoleLogin\", \"CheckMfa\"] drop",
        "when eventSource == \"sso.amazonaws.com\" and eventName in [\"Authenticate\", \"Federate\", \"GetRoleCredentials\"] drop",
        "when eventSource == \"monitoring.amazonaws.com\" and eventName == \"PutMetricAlarm\" drop",
        "when eventSource == \"lambda.amazonaws.com\" and eventName == \"UpdateFunctionCode20150331v2\" drop",
        "when eventName == \"ConsoleLogin\" and eventType == \"AwsConsoleSignIn\" and userIdentity.type == \"Root\" drop",
        "when readOnly == false and managementEvent == true and eventCategory == \"Management\" drop",
        "when userIdentity.sessionContext.attributes.mfaAuthenticated == \"false\" drop",
        "when recipientAccountId == \"123456789012\" and eventTime >= \"2024-08-01T00:00:00Z\" drop",
        "when sessionCredentialFromConsole == \"true\" drop",
        // An open source: its names are not all known.
        "when eventSource == \"ssmmessages.amazonaws.com\" and eventName == \"OpenDataChannel\" drop",
    ] {
        clean(text);
    }
}

#[test]
fn patterns_and_other_fields_are_not_names() {
    for text in [
        "when eventSource == \"iam.amazonaws.com\" and eventName like \"Create*\" drop",
        "when eventSource == \"iam.amazonaws.com\" and eventName startswith \"Cre\" drop",
        "when eventSource == \"iam.amazonaws.com\" and eventName matches r\"^Creat\" drop",
        "when eventName contains \"Bucket\" and eventName endswith \"Policy\" drop",
        "when eventSource like \"*.amazonaws.com\" drop",
        // Names compared on other fields are not checked against the catalog.
        "when requestParameters.eventName == \"Anything\" and insightDetails.eventName == \"Whatever\" drop",
        "when userIdentity.invokedBy == \"AWS Internal\" and additionalEventData.x == 5 drop",
        "when eventName == requestParameters.name drop",
        "when xsource == \"nowhere\" or actor.name == \"a\" drop",
    ] {
        clean(text);
    }
}

#[test]
fn case_insensitive_literals_compare_in_any_case() {
    clean("when eventSource == i\"IAM.amazonaws.com\" and eventName == i\"createuser\" drop");
    clean("when eventType == i\"awsapicall\" drop");
    clean("when eventName == i\"createuser\" and eventName == \"CreateUser\" drop");
    assert_eq!(
        flagged("when eventName == \"createuser\" drop"),
        vec![("W308", "\"createuser\"".to_string())]
    );
    assert_eq!(
        flagged("when eventSource == \"IAM.amazonaws.com\" drop"),
        vec![("W307", "\"IAM.amazonaws.com\"".to_string())]
    );
}

#[test]
fn names_are_checked_against_the_source_beside_them() {
    let text = "when eventSource == \"iam.amazonaws.com\" and eventName == \"RunInstances\" drop";
    assert_eq!(
        flagged(text),
        vec![("W308", "\"RunInstances\"".to_string())]
    );
    assert!(help(text).contains("ec2.amazonaws.com"));
    // The order of the tests does not matter, nor grouping, nor `or`
    // branches, nor `not` (a misspelt exclusion is flagged too).
    for text in [
        "when eventName == \"RunInstances\" and eventSource == \"iam.amazonaws.com\" drop",
        "when eventSource == \"iam.amazonaws.com\" and (eventName == \"CreateUser\" or eventName == \"RunInstances\") drop",
        "when eventSource == \"iam.amazonaws.com\" and not eventName in [\"RunInstances\"] drop",
        "when eventSource == \"iam.amazonaws.com\" and eventName not in [\"CreateUser\", \"RunInstances\"] drop",
        "when eventSource in [\"iam.amazonaws.com\", \"sts.amazonaws.com\"] and eventName != \"RunInstances\" drop",
    ] {
        assert_eq!(
            flagged(text),
            vec![("W308", "\"RunInstances\"".to_string())],
            "{text}"
        );
    }
    // A name of any of the sources is fine; `or` does not pair across branches.
    clean("when eventSource in [\"iam.amazonaws.com\", \"sts.amazonaws.com\"] and eventName == \"AssumeRole\" drop");
    clean("when eventSource == \"iam.amazonaws.com\" or eventName == \"RunInstances\" drop");
    clean("when (eventSource == \"ec2.amazonaws.com\" and eventName == \"RunInstances\") or (eventSource == \"iam.amazonaws.com\" and eventName == \"CreateUser\") drop");
    // An excluded source says nothing about the names.
    clean("when eventSource != \"iam.amazonaws.com\" and eventName == \"RunInstances\" drop");
    // Did you mean, from that service's names.
    assert_eq!(
        help("when eventSource == \"kms.amazonaws.com\" and eventName == \"GenerateDataKy\" drop"),
        "did you mean \"GenerateDataKey\"?"
    );
}

#[test]
fn names_no_service_logs() {
    assert_eq!(
        help("when eventName in [\"CreateUser\", \"CreateUsr\"] drop"),
        "did you mean \"CreateUser\"?"
    );
    // An unknown source is reported once, and its names are not checked.
    assert_eq!(
        flagged("when eventSource == \"iam.amazonaws.co\" and eventName == \"Nothing\" drop"),
        vec![("W307", "\"iam.amazonaws.co\"".to_string())]
    );
    assert_eq!(
        help("when eventSource == \"iam\" drop"),
        "did you mean \"iam.amazonaws.com\"?"
    );
    // The SDK's name of a service, where CloudTrail writes another.
    assert_eq!(
        help("when eventSource == \"sso-admin.amazonaws.com\" drop"),
        "CloudTrail logs this service as \"sso.amazonaws.com\""
    );
}

#[test]
fn macros_carry_their_requirements() {
    let lists_and_macros = "macro console = eventName == \"ConsoleLogin\"\n\
                            macro iam = eventSource == \"iam.amazonaws.com\"\n\
                            list iam_writes = [\"CreateUser\", \"DeleteUser\"]\n";
    let cases: [(&str, &[(&str, &str)]); 6] = [
        // The macro's name against the rule's source: reported at the use.
        ("when console and iam drop", &[("W308", "console")]),
        // The rule's name against the macro's source.
        (
            "when iam and eventName == \"GetObject\" drop",
            &[("W308", "\"GetObject\"")],
        ),
        // A named list's members, where the list is written.
        ("when iam and eventName in iam_writes drop", &[]),
        (
            "when eventSource == \"sts.amazonaws.com\" and eventName in iam_writes drop",
            &[("W308", "\"CreateUser\""), ("W308", "\"DeleteUser\"")],
        ),
        // Contradictions through a macro, either way round.
        (
            "when console and eventName == \"CreateUser\" drop",
            &[("W306", "eventName == \"CreateUser\"")],
        ),
        (
            "when eventName == \"CreateUser\" and console drop",
            &[("W306", "console")],
        ),
    ];
    for (rule, expected) in cases {
        let found = flagged(&format!("{lists_and_macros}{rule}"));
        let found: Vec<(&str, &str)> = found.iter().map(|(c, t)| (*c, t.as_str())).collect();
        assert_eq!(found, expected, "{rule}");
    }
    // A macro that refers to itself (E205) does not hang the lints.
    let cycle = "macro a = eventName == \"ConsoleLogin\" and b\nmacro b = a\nwhen a drop";
    assert!(lints(cycle).is_empty());
}

#[test]
fn contradictions_within_one_and() {
    let one = |text: &str, at: &str| {
        assert_eq!(flagged(text), vec![("W306", at.to_string())], "{text}");
    };
    one(
        "when eventName == \"ConsoleLogin\" and eventName == \"GetObject\" drop",
        "eventName == \"GetObject\"",
    );
    one(
        "when eventName == \"CreateUser\" and eventName in [\"DeleteUser\", \"GetUser\"] drop",
        "eventName in [\"DeleteUser\", \"GetUser\"]",
    );
    one(
        "when eventName in [\"CreateUser\", \"GetUser\"] and eventName in [\"DeleteUser\"] drop",
        "eventName in [\"DeleteUser\"]",
    );
    one(
        "when (eventName == \"CreateUser\" or eventName == \"GetUser\") and eventName == \"DeleteUser\" drop",
        "eventName == \"DeleteUser\"",
    );
    one(
        "when eventName == \"CreateUser\" and eventName != \"CreateUser\" drop",
        "eventName != \"CreateUser\"",
    );
    one(
        "when eventName not in [\"CreateUser\"] and eventName == \"CreateUser\" drop",
        "eventName == \"CreateUser\"",
    );
    one(
        "when readOnly == true and errorCode exists and readOnly == false drop",
        "readOnly == false",
    );
    one(
        "when eventName in [\"CreateUser\", \"GetUser\"] and eventName in [\"GetUser\", \"ListUsers\"] and eventName == \"CreateUser\" drop",
        "eventName == \"CreateUser\"",
    );
    // Three tests that never hold together are reported once.
    assert_eq!(
        flagged("when eventName == \"CreateUser\" and eventName == \"GetUser\" and eventName == \"ListUsers\" drop").len(),
        1
    );
}

#[test]
fn what_is_not_a_contradiction() {
    for text in [
        // Overlapping lists, repeated values, values in any case.
        "when eventName in [\"CreateUser\", \"GetUser\"] and eventName in [\"GetUser\", \"ListUsers\"] drop",
        "when eventName == \"CreateUser\" and eventName == \"CreateUser\" drop",
        "when eventName == i\"CREATEUSER\" and eventName == \"CreateUser\" drop",
        // Different branches of an `or`, or values under `not`.
        "when eventName == \"CreateUser\" or eventName == \"GetUser\" drop",
        "when eventName == \"CreateUser\" and not (eventName == \"GetUser\" and errorCode exists) drop",
        "when eventName == \"CreateUser\" and eventName != \"GetUser\" drop",
        "when eventName != \"CreateUser\" and eventName != \"GetUser\" drop",
        // An exact exclusion leaves the other casings of a case-insensitive value.
        "when eventName == i\"createuser\" and eventName != \"CreateUser\" drop",
        // Each element of an array may differ: `any` and `all` alike.
        "when resources[].type == \"AWS::S3::Bucket\" and resources[].type == \"AWS::IAM::Role\" drop",
        "when all resources[].type == \"AWS::S3::Bucket\" and any resources[].type == \"AWS::IAM::Role\" drop",
        // Patterns and orderings constrain nothing.
        "when eventName == \"CreateUser\" and eventName like \"Get*\" drop",
        "when eventTime > \"2024\" and eventTime < \"2023\" drop",
        // `null` tests presence.
        "when errorCode == null and errorCode != null drop",
    ] {
        clean(text);
    }
}

#[test]
fn closed_sets_and_types() {
    assert_eq!(
        flagged("when eventType == \"AwsApiCal\" drop"),
        vec![("W304", "\"AwsApiCal\"".to_string())]
    );
    assert_eq!(
        help("when eventType == \"AwsConsoleSignin\" drop"),
        "did you mean \"AwsConsoleSignIn\"?"
    );
    assert_eq!(
        help("when userIdentity.type in [\"IAMUser\", \"Rooot\"] drop"),
        "did you mean \"Root\"?"
    );
    assert!(help("when eventCategory != \"Everything\" drop").contains("\"NetworkActivity\""));
    for (text, at) in [
        ("when readOnly == \"true\" drop", "\"true\""),
        (
            "when managementEvent in [true, \"false\"] drop",
            "\"false\"",
        ),
        ("when eventTime > 5 drop", "5"),
        (
            "when recipientAccountId == 123456789012 drop",
            "123456789012",
        ),
        (
            "when userIdentity.sessionContext.attributes.mfaAuthenticated == false drop",
            "false",
        ),
        ("when resources[].accountId == 1 drop", "1"),
        ("when readOnly startswith \"t\" drop", "readOnly"),
        ("when readOnly == eventName drop", "eventName"),
    ] {
        assert_eq!(flagged(text), vec![("W305", at.to_string())], "{text}");
    }
    assert!(help("when readOnly != \"false\" drop").contains("write false without quotes"));
    // Ordering by a boolean is E301, not a warning too.
    assert!(lints("when eventTime > true drop").is_empty());
}

/// No lint fires on the shipped rules or the fixture rules.
#[test]
fn shipped_and_fixture_rules_are_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dir in ["rules.d", "tests/fixtures/rules"] {
        let sources = read_rules(&[root.join(dir)]).unwrap();
        let found: Vec<Diagnostic> = compile(&sources)
            .diagnostics
            .into_iter()
            .filter(|d| LINTS.contains(&d.code))
            .collect();
        assert!(found.is_empty(), "{dir}: {found:?}");
    }
}

// ---- allow ------------------------------------------------------------------------

#[test]
fn allow_silences_one_warning_in_its_rule_only() {
    let text = r#"rule a {
  allow W308 "a new SSM event the catalog does not know yet"
  when eventSource == "ssm.amazonaws.com" and eventName == "CreateConnectorX"
}
rule b {
  when eventSource == "ssm.amazonaws.com" and eventName == "CreateConnectorX"
}
"#;
    let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text)]);
    let codes: Vec<(&str, usize)> = c
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line_col().0))
        .collect();
    assert_eq!(codes, [("W308", 6)], "only rule b's W308 is left");
    assert!(c.rules.is_some());
}

#[test]
fn allow_needs_a_reason_and_a_warning_code() {
    for (allow, message, help) in [
        ("allow W308", "`allow W308` needs a reason", "say why"),
        ("allow W308 \"  \"", "the reason is empty", "say why"),
        (
            "allow E301 \"x\"",
            "`E301` is not a warning a rule can allow",
            "errors cannot be allowed",
        ),
        (
            "allow w308 \"x\"",
            "`w308` is not a warning a rule can allow",
            "codes are written in capitals: `W308`",
        ),
        (
            "allow W309 \"x\"",
            "`W309` is not a warning a rule can allow",
            "did you mean",
        ),
        (
            "allow W201 \"x\"",
            "`W201` is not a warning a rule can allow",
            "a rule can allow only the warnings its own text raises: W302",
        ),
    ] {
        let text = format!(
            "rule a {{\n  {allow}\n  when eventSource == \"ssm.amazonaws.com\" and eventName == \"CreateConnectorX\"\n}}\n"
        );
        let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text.as_str())]);
        let e = c
            .diagnostics
            .iter()
            .find(|d| d.code == "E207")
            .unwrap_or_else(|| panic!("{allow}: no E207 in {:?}", c.diagnostics));
        assert_eq!(e.message, message, "{allow}");
        assert!(
            e.help.as_deref().unwrap_or_default().contains(help),
            "{allow}: {:?}",
            e.help
        );
        assert!(c.rules.is_none(), "{allow}: E207 is an error");
    }
}

#[test]
fn technique_and_reference_reach_rule_info_and_a_malformed_technique_is_e208() {
    let text = "rule a {\n  technique \"T1098\"\n  technique \"T1098.001\"\n  reference \"https://x\"\n  reference \"https://y\"\n  when eventName == \"ConsoleLogin\"\n}\n";
    let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text)]);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let rules = c.rules.unwrap();
    let info = &rules.rules()[0].info;
    assert_eq!(info.techniques, ["T1098", "T1098.001"]);
    assert_eq!(info.references, ["https://x", "https://y"]);
    for (technique, help) in [
        ("t1098", "write it `\"T1098\"`"),
        ("T1098.1", "three digits: `\"T1098.001\"`"),
        ("T109", "four digits"),
        ("T1098.0011", "four digits"),
        ("TA0001", "four digits"),
        ("", "four digits"),
    ] {
        let text = format!(
            "rule a {{\n  technique \"{technique}\"\n  when eventName == \"ConsoleLogin\"\n}}\n"
        );
        let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text.as_str())]);
        let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E208"], "{technique}");
        let d = &c.diagnostics[0];
        assert!(
            d.help.as_deref().unwrap_or_default().contains(help),
            "{technique}: {:?}",
            d.help
        );
        assert!(c.rules.is_none());
    }
    let text = "rule a {\n  reference \" \"\n  when eventName == \"ConsoleLogin\"\n}\n";
    let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text)]);
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E208"]);
}

#[test]
fn an_allow_that_silences_nothing_is_w202() {
    let text = "rule a {\n  allow W303 \"reason\"\n  when eventName == \"ConsoleLogin\"\n}\n";
    let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text)]);
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["W202"]);
}

#[test]
fn the_catalog_knows_register_managed_instance() {
    let text = "when eventSource == \"ssm.amazonaws.com\" and eventName == \"RegisterManagedInstance\" tag \"hybrid\"";
    let c = ctrules_compiler::compile(&[ctrules_lang::Source::new("t.rules", text)]);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
}

/// Each diagnostic's code, the text it points at and its help.
fn placed(text: &str) -> Vec<(&'static str, String, String)> {
    compile(&[Source::new("t.rules", text)])
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code,
                d.source.text()[d.span.start..d.span.end].to_string(),
                d.help.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn title_dedup_and_dedup_window_reach_rule_info() {
    let text = "rule a {\n  severity HIGH\n  title \"Root sign-in from {sourceIPAddress} ({actor.name}) {{x}}\"\n  dedup \"{userIdentity.arn}:{requestParameters.bucketName}\"\n  dedup_window 30m\n  when eventName == \"ConsoleLogin\"\n}\n";
    let c = compile(&[Source::new("t.rules", text)]);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let rules = c.rules.unwrap();
    let info = &rules.rules()[0].info;
    let record = serde_json::json!({
        "eventName": "ConsoleLogin", "sourceIPAddress": "1.2.3.4",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root"},
    });
    let actor = ctrules_context::actor::resolve(&record);
    let title = info.title.as_ref().unwrap();
    assert_eq!(
        title.as_str(),
        "Root sign-in from {sourceIPAddress} ({actor.name}) {{x}}"
    );
    assert_eq!(
        title.render(&record, &actor),
        "Root sign-in from 1.2.3.4 (root) {x}"
    );
    assert_eq!(
        info.dedup.as_ref().unwrap().render(&record, &actor),
        "arn:aws:iam::1:root:-"
    );
    assert_eq!(
        info.dedup_window,
        Some(std::time::Duration::from_secs(1800))
    );
    // None written: None, the alert stream's defaults.
    let c = compile(&[Source::new(
        "t.rules",
        "rule b {\n  when eventName == \"X\"\n}\n",
    )]);
    let rules = c.rules.unwrap();
    let info = &rules.rules()[0].info;
    assert!(info.title.is_none() && info.dedup.is_none() && info.dedup_window.is_none());
}

#[test]
fn a_malformed_template_is_e209_at_its_place_in_the_string() {
    let rule =
        |meta: &str| format!("rule a {{\n  {meta}\n  when eventName == \"ConsoleLogin\"\n}}\n");
    let e209 = |meta: &str| {
        let found = placed(&rule(meta));
        assert!(
            found.iter().all(|(code, _, _)| *code == "E209"),
            "{meta}: {found:?}"
        );
        found
            .into_iter()
            .map(|(_, at, help)| (at, help))
            .collect::<Vec<_>>()
    };
    let at = |meta: &str| e209(meta).into_iter().map(|(a, _)| a).collect::<Vec<_>>();
    assert_eq!(at(r#"title "from {sourceIPAddress""#), ["{sourceIPAddress"]);
    assert_eq!(at(r#"dedup "a {} b""#), ["{}"]);
    assert_eq!(at(r#"dedup "a } b""#), ["}"]);
    assert_eq!(
        at(r#"title "x {geoip(sourceIPAddress).country_code}""#),
        ["{geoip(sourceIPAddress).country_code}"]
    );
    assert_eq!(
        at(r#"title "x {users[actor.user].team}""#),
        ["{users[actor.user].team}"]
    );
    assert_eq!(at(r#"title "x {\"text\"}""#), [r#"{\"text\"}"#]);
    assert_eq!(at(r#"title "x {a b}""#), ["{a b}"]);
    assert_eq!(at(r#"title "{actor}""#), ["{actor}"]);
    assert_eq!(at(r#"title "{actor.name.x}""#), ["{actor.name.x}"]);
    assert_eq!(at(r#"title """#), [r#""""#]);
    // Past escapes, the place is still the placeholder's.
    assert_eq!(at(r#"title "\"\u{e9}\" {}""#), ["{}"]);
    assert_eq!(at(r#"title r"a\b {}""#), ["{}"]);
    // Every error of a template.
    assert_eq!(at(r#"dedup "{} {eventName} {""#), ["{}", "{"]);
    assert_eq!(
        e209(r#"title "by {actor.nmae}""#),
        [(
            "{actor.nmae}".to_string(),
            "did you mean `actor.name`?".to_string()
        )]
    );
    // A rule with a template error does not load.
    let c = compile(&[Source::new("t.rules", rule(r#"title "{}""#))]);
    assert!(c.rules.is_none());
}

#[test]
fn a_template_path_cloudtrail_does_not_write_is_w303_and_a_bad_window_e208() {
    let rule =
        |meta: &str| format!("rule a {{\n  {meta}\n  when eventName == \"ConsoleLogin\"\n}}\n");
    assert_eq!(
        placed(&rule(r#"title "from {sourceIPAdress} {userIdentity.arn}""#)),
        [(
            "W303",
            "{sourceIPAdress}".to_string(),
            "did you mean `sourceIPAddress`?".to_string()
        )]
    );
    assert_eq!(
        placed(&rule(r#"dedup "{userIdentity.userNme}""#))[0].2,
        "did you mean `userName`?"
    );
    // Open parts, enrichment fields, arrays: no warning.
    assert!(placed(&rule(
        r#"dedup "{requestParameters.bucketName} {xteam} {resources[0].ARN} {resources[].ARN}""#
    ))
    .is_empty());
    // An allow in the rule silences it, as for a condition.
    assert!(placed(&rule("title \"{sourceIPAdress}\"\n  allow W303 \"a test\"")).is_empty());
    for window in ["0m", "3651d"] {
        let found = placed(&rule(&format!("dedup_window {window}")));
        assert_eq!(found.len(), 1, "{window}");
        assert_eq!((found[0].0, found[0].1.as_str()), ("E208", window));
    }
}

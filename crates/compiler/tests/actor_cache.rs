//! Hostile tests of the per-thread actor cache (`term::actor_of`), keyed by
//! the raw text of userIdentity + recipientAccountId (+ additionalEventData
//! for ConsoleLogin): records read the one-pass way (LazyRecord, which has
//! `member_text`, so the cache is used) must enrich exactly as the same
//! records parsed by serde into a `Value` (no `member_text`: no cache).

use ctrules_compiler::{compile, Evaluation, RuleSet};
use ctrules_core::{read_log_with, ReadOptions, Record};
use ctrules_lang::Source;
use serde_json::{Map, Value};

const RULES: &str = "when actor.type exists \
    set xname = actor.name set xuser = actor.user set xtype = actor.type \
    set xaccount = actor.account set xservice = actor.service \
    set xarn = actor.arn set xrole = actor.role set xsession = actor.session";

const MFA_RULES: &str = "when actor.mfa == true set xmfa = \"yes\"\nwhen actor.mfa == false set xmfa = \"no\"\nwhen actor.mfa exists set xmfa_known = true";

fn set(text: &str) -> RuleSet {
    let c = compile(&[Source::new("t.rules", text)]);
    assert!(
        !c.has_errors(),
        "{:?}",
        c.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    );
    c.rules.unwrap()
}

fn fields(set: &RuleSet, record: &dyn ctrules_core::Members) -> Map<String, Value> {
    let mut e = Evaluation::default();
    set.evaluate(record, &mut e);
    e.enrichment
        .fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Each record of `file` (a Records file), read the one-pass way, and
/// evaluated; and the same record's raw bytes parsed by serde, evaluated.
/// What the rules added to each record (its output fields).
type Added = Vec<Map<String, Value>>;

fn both_ways(set: &RuleSet, file: &[u8]) -> (Added, Added) {
    let options = ReadOptions {
        fields: Some(set.record_fields()),
        ..ReadOptions::default()
    };
    let mut lazy = Vec::new();
    let mut serde = Vec::new();
    read_log_with(file, &options, &mut |r: Record<'_>| {
        lazy.push(fields(set, r.value));
        let value: Value = serde_json::from_slice(r.raw).unwrap();
        serde.push(fields(set, &value));
        Ok(())
    })
    .unwrap();
    (lazy, serde)
}

fn records(records: &[String]) -> Vec<u8> {
    format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
}

fn agree(set: &RuleSet, recs: &[String]) -> Vec<Map<String, Value>> {
    let (lazy, serde) = both_ways(set, &records(recs));
    assert_eq!(lazy.len(), recs.len());
    for (i, (l, s)) in lazy.iter().zip(&serde).enumerate() {
        assert_eq!(l, s, "record {i}: {}", recs[i]);
    }
    lazy
}

#[test]
fn the_same_identity_with_another_recipient_account() {
    let set = set(RULES);
    let identity = r#"{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}"#;
    let recs: Vec<String> = ["111111111111", "222222222222", "111111111111"]
        .iter()
        .map(|acct| {
            format!(r#"{{"eventName":"Invoke","userIdentity":{identity},"recipientAccountId":"{acct}"}}"#)
        })
        .chain([
            format!(r#"{{"eventName":"Invoke","userIdentity":{identity}}}"#),
            format!(r#"{{"eventName":"Invoke","userIdentity":{identity},"recipientAccountId":333333333333}}"#),
            format!(r#"{{"eventName":"Invoke","userIdentity":{identity},"recipientAccountId":""}}"#),
            format!(r#"{{"eventName":"Invoke","userIdentity":{identity},"recipientAccountId":null}}"#),
        ])
        .collect();
    let out = agree(&set, &recs);
    assert_eq!(out[0]["xaccount"], "111111111111");
    assert_eq!(out[1]["xaccount"], "222222222222");
}

#[test]
fn console_login_with_other_additional_event_data() {
    let set = set(MFA_RULES);
    let identity =
        r#"{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"}"#;
    let mut recs = Vec::new();
    for name in ["ConsoleLogin", "GetObject", "ConsoleLogin"] {
        for data in [
            r#","additionalEventData":{"MFAUsed":"Yes"}"#,
            r#","additionalEventData":{"MFAUsed":"No"}"#,
            "",
            r#","additionalEventData":{"MFAUsed":"Yes"}"#,
            r#","additionalEventData":null"#,
            r#","additionalEventData":{"MFAUsed":" yes "}"#,
        ] {
            recs.push(format!(
                r#"{{"eventName":"{name}","userIdentity":{identity},"recipientAccountId":"111122223333"{data}}}"#
            ));
        }
    }
    let out = agree(&set, &recs);
    assert_eq!(out[0].get("xmfa"), Some(&Value::from("yes")));
    assert_eq!(out[1].get("xmfa"), Some(&Value::from("no")));
    assert_eq!(out[2].get("xmfa"), None);
    assert_eq!(out[6].get("xmfa"), None, "not a console sign-in");
}

#[test]
fn the_same_identity_text_in_other_places_and_forms() {
    let set = set(&format!("{RULES}\n{MFA_RULES}"));
    let recs: Vec<String> = vec![
        // Equal values, different texts; different values, texts that differ only in escapes.
        r#"{"eventName":"A","userIdentity":{"type":"IAMUser","userName":"bob"}}"#.into(),
        r#"{"eventName":"A","userIdentity":{"type":"IAMUser","userName":"b\u006fb"}}"#.into(),
        r#"{"eventName":"A","userIdentity":{"type":"IAMUser","userName":"bob" }}"#.into(),
        r#"{"eventName":"A","userIdentity":{"type":"IAMUser","userName":"bob","userName":"eve"}}"#.into(),
        // Duplicate top-level keys: the last counts, in text and value.
        r#"{"eventName":"A","userIdentity":{"type":"IAMUser","userName":"bob"},"userIdentity":{"type":"Root"}}"#.into(),
        r#"{"eventName":"A","userIdentity":{"type":"Root"},"userIdentity":{"type":"IAMUser","userName":"bob"}}"#.into(),
        r#"{"eventName":"A","recipientAccountId":"1","userIdentity":{"type":"AWSService","invokedBy":"x"},"recipientAccountId":"2"}"#.into(),
        r#"{"eventName":"ConsoleLogin","eventName":"A","userIdentity":{"type":"IAMUser","userName":"bob"},"additionalEventData":{"MFAUsed":"Yes"}}"#.into(),
        r#"{"eventName":"A","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","userName":"bob"},"additionalEventData":{"MFAUsed":"Yes"}}"#.into(),
        // Not an object.
        r#"{"eventName":"A","userIdentity":"bob"}"#.into(),
        r#"{"eventName":"A","userIdentity":null}"#.into(),
        r#"{"eventName":"A"}"#.into(),
        // Session context MFA, then the same text as a console sign-in.
        r#"{"eventName":"A","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"attributes":{"mfaAuthenticated":"true"}}}}"#.into(),
        r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"attributes":{"mfaAuthenticated":"true"}}},"additionalEventData":{"MFAUsed":"No"}}"#.into(),
        // Escaped eventName.
        r#"{"eventName":"Console\u004cogin","userIdentity":{"type":"IAMUser","userName":"bob"},"additionalEventData":{"MFAUsed":"Yes"}}"#.into(),
    ];
    // Twice through, so the second pass meets a warm cache.
    let twice: Vec<String> = recs.iter().chain(recs.iter()).cloned().collect();
    agree(&set, &twice);
    let reversed: Vec<String> = twice.iter().rev().cloned().collect();
    agree(&set, &reversed);
}

/// More identities than one generation of the cache holds (1024), in an
/// order that brings old ones back.
#[test]
fn identities_past_the_cache_generations() {
    let set = set(RULES);
    let recs: Vec<String> = (0..5000)
        .map(|i| {
            let k = (i * 7919) % 2600;
            format!(
                r#"{{"eventName":"A","userIdentity":{{"type":"AWSService","invokedBy":"s{k}"}},"recipientAccountId":"{}"}}"#,
                k % 3
            )
        })
        .collect();
    agree(&set, &recs);
}

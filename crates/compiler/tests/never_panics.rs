//! Property tests: compiling any text, and evaluating what compiles against
//! any record, never panics.

use ctrules_compiler::{compile, Evaluation};
use ctrules_lang::Source;
use proptest::prelude::*;
use serde_json::json;

const VALID: &str = r#"list admins = i["alice", "bob"]
macro is_iam = eventSource == "iam.amazonaws.com"
rule r1 {
  when is_iam and not (userIdentity.userName in admins or any resources[].type like "AWS::S3::*")
    and sourceIPAddress within ["10.0.0.0/8", "::ffff:1.2.3.0/120"] and requestParameters."x-y"[0] >= -1.5e3
  set xpriority = HIGH
  set xwho = userIdentity.arn
  overwrite userAgent = "x"
  tag "t"
}
when eventName matches r"^Create\d" and all resources[].ARN startswith i"ARN" set xa = resources[].ARN
when userIdentity.accountId != recipientAccountId set xcross = true
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_rules_compile_or_report(pos in 0usize..VALID.len(), cut in 0usize..=VALID.len(), c in any::<char>()) {
        let mut text: String = VALID.chars().take(cut).collect();
        if !text.is_empty() {
            let at = text.char_indices().map(|(i, _)| i).nth(pos % text.chars().count()).unwrap_or(0);
            text.insert(at, c);
        }
        let compilation = compile(&[Source::new("p.rules", text.as_str())]);
        if let Some(rules) = compilation.rules {
            let events = [
                json!({}),
                json!({"eventSource": "iam.amazonaws.com", "eventName": "Create1", "sourceIPAddress": "10.1.1.1",
                       "userIdentity": {"userName": "ALICE", "accountId": "1", "arn": "a"}, "recipientAccountId": "2",
                       "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:x"}, 3, null], "requestParameters": {"x-y": [-2000, "s"]}}),
                json!({"eventSource": null, "eventName": 5, "resources": "notalist", "sourceIPAddress": "AWS Internal"}),
            ];
            let mut eval = Evaluation::default();
            for e in &events {
                rules.evaluate(e, &mut eval);
            }
        } else {
            prop_assert!(compilation.has_errors());
        }
    }
}

#[test]
fn the_valid_sample_compiles_clean() {
    let c = compile(&[Source::new("p.rules", VALID)]);
    assert!(
        c.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        c.diagnostics
    );
    assert_eq!(c.rules.unwrap().len(), 3);
}

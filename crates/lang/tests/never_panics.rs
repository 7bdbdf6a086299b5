//! Property tests: no text makes the parser panic; it returns a file or
//! diagnostics whose spans lie inside the text.

use ctrules_lang::{parse, parse_condition, Source};
use proptest::prelude::*;

const VALID: &str = r#"list admins = i["alice", "bob"]
macro is_iam = eventSource == "iam.amazonaws.com"
rule r1 {
  description "d\u{e9}"
  severity HIGH
  tags ["a"]
  when is_iam and not (userIdentity.userName in admins or any resources[].type like "AWS::S3::*")
    and sourceIPAddress within ["10.0.0.0/8"] and requestParameters."x-y"[0] >= -1.5e3
  set xpriority = HIGH
  set xwho = userIdentity.arn
  overwrite userAgent = null
  tag "t", "u"
  drop
}
when eventName matches r"^Create\d" set xa = true
"#;

fn check(text: &str) {
    let source = Source::new("p.rules", text);
    for result in [parse(&source).err(), parse_condition(&source).err()] {
        for d in result.into_iter().flatten() {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "{d}: span {:?} outside the text",
                d.span
            );
            assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
            let _ = d.render(false);
            let _ = d.render_github();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn rule_like_text(text in "(when|rule|list|macro|set|tag|drop|not|and|or|in|[a-z]{1,5}|\"[a-z\\\\]{0,4}\"|[0-9.e-]{1,4}|[\\[\\](){}=!<>,.#\n ]){0,40}") {
        check(&text);
    }

    #[test]
    fn mutated_valid_file(pos in 0usize..VALID.len(), cut in 0usize..VALID.len(), c in any::<char>()) {
        let mut text: String = VALID.chars().take(cut.max(1)).collect();
        let at = text.char_indices().map(|(i, _)| i).nth(pos % text.chars().count()).unwrap_or(0);
        text.insert(at, c);
        check(&text);
    }
}

#[test]
fn the_valid_sample_parses() {
    parse(&Source::new("p.rules", VALID)).unwrap();
}

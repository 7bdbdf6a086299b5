//! Integration tests of the ctrules parser: one test per construct of
//! grammar/ctrules.pest, then one per error the parser raises.

use ctrules_lang::ast::*;
use ctrules_lang::{parse, parse_condition, Diagnostic, Severity, Source, Span};

// ---- Helpers ------------------------------------------------------------------

fn src(text: &str) -> Source {
    Source::new("t.rules", text)
}

fn parse_ok(text: &str) -> RulesFile {
    match parse(&src(text)) {
        Ok(file) => file,
        Err(diags) => panic!("unexpected errors for {text:?}:\n{}", show(&diags)),
    }
}

fn parse_err(text: &str) -> Vec<Diagnostic> {
    match parse(&src(text)) {
        Ok(file) => panic!("expected an error for {text:?}, parsed {file:?}"),
        Err(diags) => diags,
    }
}

/// The one diagnostic a text raises.
fn one_err(text: &str) -> Diagnostic {
    let mut diags = parse_err(text);
    assert_eq!(
        diags.len(),
        1,
        "expected one diagnostic for {text:?}:\n{}",
        show(&diags)
    );
    diags.pop().unwrap()
}

fn show(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("  {d} (help: {:?})\n", d.help))
        .collect()
}

/// The only rule of a file.
fn only_rule(text: &str) -> Rule {
    let file = parse_ok(text);
    assert_eq!(file.items.len(), 1, "{file:?}");
    match file.items.into_iter().next().unwrap() {
        Item::Rule(r) => r,
        other => panic!("expected a rule, got {other:?}"),
    }
}

/// The condition of a one-line rule `when COND`.
fn when(cond: &str) -> Spanned<Expr> {
    only_rule(&format!("when {cond}")).condition
}

/// The test of a one-line rule whose condition is a single test.
fn test_of(cond: &str) -> Test {
    match when(cond).node {
        Expr::Test(t) => t,
        other => panic!("expected a test, got {other:?}"),
    }
}

/// The (op, negated, rhs) of a comparison test.
fn compare_of(cond: &str) -> (Spanned<Op>, bool, Spanned<Operand>) {
    match test_of(cond).kind {
        TestKind::Compare { op, negated, rhs } => (op, negated, rhs),
        other => panic!("expected a comparison, got {other:?}"),
    }
}

/// The literal right-hand side of `a == LITERAL`.
fn literal(lit: &str) -> Literal {
    match compare_of(&format!("a == {lit}")).2.node {
        Operand::Literal(l) => l,
        other => panic!("expected a literal, got {other:?}"),
    }
}

fn string(lit: &str) -> StrLit {
    match literal(lit) {
        Literal::Str(s) => s,
        other => panic!("expected a string, got {other:?}"),
    }
}

fn slice(text: &str, span: Span) -> &str {
    &text[span.start..span.end]
}

fn path(segments: &[Segment]) -> Path {
    Path {
        segments: segments.to_vec(),
    }
}

fn list_items(def: &ListDef) -> &ListLit {
    match &def.body.node {
        ListBody::Items(list) => list,
        other => panic!("not written out: {other:?}"),
    }
}

fn subject_path(test: &Test) -> &Path {
    test.subject.node.as_path().expect("a field path")
}

fn op_path(p: Path) -> Operand {
    Operand::Term(Term::Path(p))
}

fn value_path(p: Path) -> Value {
    Value::Term(Term::Path(p))
}

fn field(name: &str) -> Segment {
    Segment::Field(name.to_string())
}

/// A compact, span-free rendering of a condition, for shape assertions.
fn sexpr(expr: &Expr) -> String {
    match expr {
        Expr::And(parts) => format!(
            "(and {})",
            parts
                .iter()
                .map(|p| sexpr(&p.node))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Expr::Or(parts) => format!(
            "(or {})",
            parts
                .iter()
                .map(|p| sexpr(&p.node))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Expr::Not(inner) => format!("(not {})", sexpr(&inner.node)),
        Expr::MacroRef(name) => format!("@{name}"),
        Expr::ForEach(each) => format!(
            "({} {} in {} {})",
            if each.quantifier.node == Quantifier::Any {
                "any"
            } else {
                "all"
            },
            each.name.node,
            each.over.node,
            sexpr(&each.body.node)
        ),
        Expr::Test(t) => {
            let q = match &t.quantifier {
                Some(q) if q.node == Quantifier::Any => "any ",
                Some(_) => "all ",
                None => "",
            };
            match &t.kind {
                TestKind::Exists => format!("{q}{} exists", t.subject.node),
                TestKind::Missing => format!("{q}{} missing", t.subject.node),
                TestKind::Compare { op, negated, .. } => {
                    format!(
                        "{q}{} {}{}",
                        t.subject.node,
                        if *negated { "not " } else { "" },
                        op.node.as_str()
                    )
                }
            }
        }
    }
}

fn shape(cond: &str) -> String {
    sexpr(&when(cond).node)
}

fn str_lit(value: &str) -> Literal {
    Literal::Str(StrLit {
        value: value.to_string(),
        ignore_case: false,
        raw: false,
    })
}

// ---- Items --------------------------------------------------------------------

#[test]
fn list_def_with_strings() {
    let text = r#"list admins = ["alice", "bob"]"#;
    let file = parse_ok(text);
    let [Item::List(def)] = file.items.as_slice() else {
        panic!("{file:?}")
    };
    assert_eq!(def.name.node, "admins");
    assert_eq!(slice(text, def.name.span), "admins");
    assert_eq!(def.span, Span::new(0, text.len()));
    assert_eq!(slice(text, def.body.span), r#"["alice", "bob"]"#);
    assert!(!list_items(def).ignore_case);
    let values: Vec<&Literal> = list_items(def).items.iter().map(|i| &i.node).collect();
    assert_eq!(values, vec![&str_lit("alice"), &str_lit("bob")]);
    assert_eq!(slice(text, list_items(def).items[1].span), r#""bob""#);
}

#[test]
fn list_def_ignore_case_mixed_literals_comments_and_trailing_comma() {
    let text = "list l = i[\n  \"A\", # a comment\n  1, -2.5, true, null, HIGH,\n]";
    let file = parse_ok(text);
    let [Item::List(def)] = file.items.as_slice() else {
        panic!("{file:?}")
    };
    assert!(list_items(def).ignore_case);
    let items: Vec<&Literal> = list_items(def).items.iter().map(|i| &i.node).collect();
    assert_eq!(items.len(), 6, "{items:?}");
    assert_eq!(items[0], &str_lit("A"));
    assert_eq!(items[1], &Literal::Number(1.into()));
    assert!(matches!(items[2], Literal::Number(n) if n.as_f64() == Some(-2.5)));
    assert_eq!(items[3], &Literal::Bool(true));
    assert_eq!(items[4], &Literal::Null);
    assert_eq!(items[5], &Literal::Priority(Priority::High));
    assert!(slice(text, def.body.span).starts_with("i["));
}

#[test]
fn list_def_empty() {
    let file = parse_ok("list nothing = []\nlist spaced = [ \n ]");
    assert_eq!(file.items.len(), 2);
    for item in &file.items {
        let Item::List(def) = item else {
            panic!("{item:?}")
        };
        assert!(list_items(def).items.is_empty());
    }
}

#[test]
fn macro_def() {
    let text = r#"macro is_iam = eventSource == "iam.amazonaws.com""#;
    let file = parse_ok(text);
    let [Item::Macro(def)] = file.items.as_slice() else {
        panic!("{file:?}")
    };
    assert_eq!(def.name.node, "is_iam");
    assert_eq!(slice(text, def.name.span), "is_iam");
    assert_eq!(def.span, Span::new(0, text.len()));
    assert_eq!(
        slice(text, def.condition.span),
        r#"eventSource == "iam.amazonaws.com""#
    );
    assert_eq!(sexpr(&def.condition.node), "eventSource ==");
}

#[test]
fn macro_def_using_other_macros() {
    let file = parse_ok("macro m = a and not b");
    let [Item::Macro(def)] = file.items.as_slice() else {
        panic!("{file:?}")
    };
    assert_eq!(sexpr(&def.condition.node), "(and @a (not @b))");
}

#[test]
fn rule_block_with_description_severity_and_tags() {
    let text = r#"rule iam/root-login.v2:1 {
  description "Root \"logged\" in"
  severity CRITICAL
  tags ["iam", "root"]
  when userIdentity.type == "Root"
  set xpriority = HIGH
  tag "root"
}"#;
    let rule = only_rule(text);
    let id = rule.id.as_ref().expect("block rules have an id");
    assert_eq!(id.node, "iam/root-login.v2:1");
    assert_eq!(slice(text, id.span), "iam/root-login.v2:1");
    let desc = rule.description.as_ref().unwrap();
    assert_eq!(desc.node, "Root \"logged\" in");
    assert_eq!(slice(text, desc.span), r#""Root \"logged\" in""#);
    let sev = rule.severity.as_ref().unwrap();
    assert_eq!(sev.node, Priority::Critical);
    assert_eq!(slice(text, sev.span), "CRITICAL");
    let tags = rule.tags.as_ref().unwrap();
    assert_eq!(slice(text, tags.span), r#"["iam", "root"]"#);
    let tag_values: Vec<&Literal> = tags.node.items.iter().map(|i| &i.node).collect();
    assert_eq!(tag_values, vec![&str_lit("iam"), &str_lit("root")]);
    assert_eq!(
        slice(text, rule.condition.span),
        r#"userIdentity.type == "Root""#
    );
    assert_eq!(rule.actions.len(), 2);
    assert_eq!(slice(text, rule.actions[0].span), "set xpriority = HIGH");
    assert_eq!(
        slice(text, rule.actions[1].span).trim_end(),
        r#"tag "root""#
    );
    assert_eq!(rule.span, Span::new(0, text.len()));
}

#[test]
fn rule_block_meta_in_any_order() {
    let rule = only_rule(r#"rule r { tags ["t"] severity LOW description "d" when a exists }"#);
    assert_eq!(rule.severity.unwrap().node, Priority::Low);
    assert_eq!(rule.description.unwrap().node, "d");
    assert_eq!(rule.tags.unwrap().node.items.len(), 1);
}

#[test]
fn rule_block_minimal_has_no_meta_and_no_actions() {
    let rule = only_rule("rule r{when a exists}");
    assert_eq!(rule.id.unwrap().node, "r");
    assert!(rule.description.is_none() && rule.severity.is_none() && rule.tags.is_none());
    assert!(rule.actions.is_empty());
    assert_eq!(sexpr(&rule.condition.node), "a exists");
}

#[test]
fn rule_inline_exact_form() {
    let text = r#"when eventSource == "iam.amazonaws.com" set xpriority = HIGH"#;
    let rule = only_rule(text);
    assert!(rule.id.is_none());
    assert!(rule.description.is_none() && rule.severity.is_none() && rule.tags.is_none());
    assert_eq!(rule.span, Span::new(0, text.len()));
    let Expr::Test(test) = &rule.condition.node else {
        panic!("{:?}", rule.condition)
    };
    assert_eq!(*subject_path(test), path(&[field("eventSource")]));
    assert_eq!(slice(text, test.subject.span), "eventSource");
    let TestKind::Compare { op, negated, rhs } = &test.kind else {
        panic!("{test:?}")
    };
    assert_eq!(op.node, Op::Eq);
    assert!(!negated);
    assert_eq!(slice(text, op.span), "==");
    assert_eq!(rhs.node, Operand::Literal(str_lit("iam.amazonaws.com")));
    assert_eq!(slice(text, rhs.span), r#""iam.amazonaws.com""#);
    assert_eq!(rule.actions.len(), 1);
    let Action::Set { target, value } = &rule.actions[0].node else {
        panic!("{:?}", rule.actions)
    };
    assert_eq!(target.node, path(&[field("xpriority")]));
    assert_eq!(slice(text, target.span), "xpriority");
    assert_eq!(
        value.node,
        Value::Literal(Literal::Priority(Priority::High))
    );
    assert_eq!(slice(text, value.span), "HIGH");
}

#[test]
fn rule_inline_without_actions() {
    let rule = only_rule("when errorCode exists");
    assert!(rule.actions.is_empty());
    assert_eq!(sexpr(&rule.condition.node), "errorCode exists");
}

#[test]
fn several_items_in_one_file_keep_their_order() {
    let text = r#"
list admins = ["alice"]
macro is_admin = userIdentity.userName in admins
when is_admin set xadmin = true
rule r1 { when eventName == "A" drop }
when eventName == "B" tag "b"
when eventName == "C" tag "c" when eventName == "D" tag "d"
"#;
    let file = parse_ok(text);
    let kinds: Vec<String> = file
        .items
        .iter()
        .map(|i| match i {
            Item::List(d) => format!("list {}", d.name.node),
            Item::Macro(d) => format!("macro {}", d.name.node),
            Item::Table(d) => format!("table {}", d.name.node),
            Item::Schedule(d) => format!("schedule {}", d.name.node),
            Item::Calendar(d) => format!("calendar {}", d.name.node),
            Item::Rule(r) => match &r.id {
                Some(id) => format!("rule {}", id.node),
                None => format!("inline {}", slice(text, r.condition.span)),
            },
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "list admins",
            "macro is_admin",
            "inline is_admin",
            "rule r1",
            r#"inline eventName == "B""#,
            r#"inline eventName == "C""#,
            r#"inline eventName == "D""#,
        ]
    );
    // An inline rule ends where the next item starts.
    let Item::Rule(c) = &file.items[5] else {
        panic!()
    };
    assert_eq!(
        slice(text, c.span).trim_end(),
        r#"when eventName == "C" tag "c""#
    );
}

#[test]
fn empty_file_and_comment_only_file() {
    assert!(parse_ok("").items.is_empty());
    assert!(parse_ok("  \n\t\r\n").items.is_empty());
    assert!(parse_ok("# just a comment").items.is_empty());
    assert!(parse_ok("# one\n# two\n").items.is_empty());
}

#[test]
fn comments_anywhere_whitespace_is_insignificant() {
    let text = "# header\r\nrule r { # after brace\n\tdescription \"has # inside\" # trailing\n  when a exists # here\n  and b exists\n  drop # done\n} # end";
    let rule = only_rule(text);
    assert_eq!(
        rule.description.unwrap().node,
        "has # inside",
        "`#` in a string is not a comment"
    );
    assert_eq!(sexpr(&rule.condition.node), "(and a exists b exists)");
    assert_eq!(rule.actions.len(), 1);
    assert_eq!(rule.actions[0].node, Action::Drop);
}

#[test]
fn comment_inside_list_literal_operand() {
    let (_, _, rhs) = compare_of("a in [\"x\", # first\n \"y\" # second\n]");
    let Operand::List(list) = rhs.node else {
        panic!("{rhs:?}")
    };
    assert_eq!(
        list.items
            .iter()
            .map(|i| i.node.clone())
            .collect::<Vec<_>>(),
        vec![str_lit("x"), str_lit("y")]
    );
}

// ---- Conditions ---------------------------------------------------------------

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        shape("a exists or b exists and c exists"),
        "(or a exists (and b exists c exists))"
    );
    assert_eq!(
        shape("a exists and b exists or c exists"),
        "(or (and a exists b exists) c exists)"
    );
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(
        shape("not a exists and b exists"),
        "(and (not a exists) b exists)"
    );
    assert_eq!(
        shape("a exists or not b exists and c exists"),
        "(or a exists (and (not b exists) c exists))"
    );
    assert_eq!(shape("not not a exists"), "(not (not a exists))");
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        shape("(a exists or b exists) and c exists"),
        "(and (or a exists b exists) c exists)"
    );
    assert_eq!(
        shape("not (a exists or b exists)"),
        "(not (or a exists b exists))"
    );
    assert_eq!(
        shape("((a exists))"),
        "a exists",
        "redundant parentheses leave no node"
    );
    assert_eq!(shape("(a exists)and(b exists)"), "(and a exists b exists)");
}

#[test]
fn chains_of_one_connective_are_flat() {
    assert_eq!(
        shape("a exists and b exists and c exists"),
        "(and a exists b exists c exists)"
    );
    assert_eq!(
        shape("a exists or b exists or c exists or d exists"),
        "(or a exists b exists c exists d exists)"
    );
}

#[test]
fn connective_spans_cover_their_operands() {
    let text = "when not a exists and (b exists or c exists)";
    let rule = only_rule(text);
    assert_eq!(
        slice(text, rule.condition.span),
        "not a exists and (b exists or c exists)"
    );
    let Expr::And(parts) = &rule.condition.node else {
        panic!()
    };
    assert_eq!(slice(text, parts[0].span), "not a exists");
    let Expr::Not(inner) = &parts[0].node else {
        panic!()
    };
    assert_eq!(slice(text, inner.span), "a exists");
    assert_eq!(slice(text, parts[1].span), "b exists or c exists");
}

#[test]
fn macro_references() {
    let text = "when is_iam and not is_root";
    let rule = only_rule(text);
    assert_eq!(sexpr(&rule.condition.node), "(and @is_iam (not @is_root))");
    let Expr::And(parts) = &rule.condition.node else {
        panic!()
    };
    assert_eq!(parts[0].node, Expr::MacroRef("is_iam".into()));
    assert_eq!(slice(text, parts[0].span), "is_iam");
}

#[test]
fn symbol_operators() {
    for (written, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
    ] {
        let text = format!("when a {written} 1");
        let rule = only_rule(&text);
        let Expr::Test(Test {
            kind:
                TestKind::Compare {
                    op: o,
                    negated,
                    rhs,
                },
            ..
        }) = &rule.condition.node
        else {
            panic!("{written}: {:?}", rule.condition)
        };
        assert_eq!(o.node, op, "{written}");
        assert_eq!(op.as_str(), written);
        assert!(!negated, "{written}");
        assert_eq!(slice(&text, o.span), written);
        assert_eq!(rhs.node, Operand::Literal(Literal::Number(1.into())));
    }
}

#[test]
fn symbol_operators_need_no_spaces() {
    for (written, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
    ] {
        let (o, _, rhs) = compare_of(&format!("a{written}\"x\""));
        assert_eq!(o.node, op, "{written}");
        assert_eq!(rhs.node, Operand::Literal(str_lit("x")));
    }
}

#[test]
fn word_operators_and_their_negations() {
    let ops = [
        ("in", Op::In, r#"["x"]"#),
        ("like", Op::Like, r#""x*""#),
        ("matches", Op::Matches, r#"r"^x""#),
        ("within", Op::Within, r#""10.0.0.0/8""#),
        ("startswith", Op::StartsWith, r#""x""#),
        ("endswith", Op::EndsWith, r#""x""#),
        ("contains", Op::Contains, r#""x""#),
    ];
    for (word, op, rhs) in ops {
        assert_eq!(op.as_str(), word);
        let text = format!("when a {word} {rhs}");
        let rule = only_rule(&text);
        let Expr::Test(Test {
            kind: TestKind::Compare { op: o, negated, .. },
            ..
        }) = &rule.condition.node
        else {
            panic!("{word}: {:?}", rule.condition)
        };
        assert_eq!((o.node, *negated), (op, false), "{word}");
        assert_eq!(slice(&text, o.span), word);

        let text = format!("when a not  {word} {rhs}");
        let rule = only_rule(&text);
        let Expr::Test(Test {
            kind: TestKind::Compare { op: o, negated, .. },
            ..
        }) = &rule.condition.node
        else {
            panic!("not {word}: {:?}", rule.condition)
        };
        assert_eq!((o.node, *negated), (op, true), "not {word}");
        assert_eq!(
            slice(&text, o.span),
            format!("not  {word}"),
            "the operator span covers `not`"
        );
    }
}

#[test]
fn prefix_not_differs_from_negated_operator() {
    assert_eq!(shape(r#"not a in ["x"]"#), "(not a in)");
    assert_eq!(shape(r#"a not in ["x"]"#), "a not in");
}

#[test]
fn word_operator_must_end_at_a_word_boundary() {
    // `inside` is not `in` followed by `side`.
    let d = one_err(r#"when a inside ["x"]"#);
    assert_eq!(d.code, "E101");
    assert_eq!(d.line_col(), (1, 8));
}

#[test]
fn exists_and_missing() {
    let t = test_of("userIdentity.sessionContext exists");
    assert_eq!(t.kind, TestKind::Exists);
    assert_eq!(
        *subject_path(&t),
        path(&[field("userIdentity"), field("sessionContext")])
    );
    assert!(t.quantifier.is_none());
    let t = test_of("errorCode missing");
    assert_eq!(t.kind, TestKind::Missing);
}

#[test]
fn any_and_all_quantifiers() {
    let text =
        r#"when any resources[].type == "AWS::S3::Bucket" and all resources[].accountId == "1""#;
    let rule = only_rule(text);
    let Expr::And(parts) = &rule.condition.node else {
        panic!()
    };
    let Expr::Test(any) = &parts[0].node else {
        panic!()
    };
    let Expr::Test(all) = &parts[1].node else {
        panic!()
    };
    let q = any.quantifier.as_ref().unwrap();
    assert_eq!(q.node, Quantifier::Any);
    assert_eq!(slice(text, q.span), "any");
    assert_eq!(all.quantifier.as_ref().unwrap().node, Quantifier::All);
    assert_eq!(
        *subject_path(any),
        path(&[field("resources"), Segment::Each, field("type")])
    );
    assert_eq!(
        slice(text, parts[0].span),
        r#"any resources[].type == "AWS::S3::Bucket""#
    );
    assert_eq!(slice(text, any.subject.span), "resources[].type");
    // Quantifiers combine with presence tests too.
    assert_eq!(shape("any resources[] exists"), "any resources[] exists");
}

#[test]
fn quantifier_words_are_fields_only_when_not_followed_by_a_path() {
    // `any` is a keyword: it cannot start a path.
    let d = one_err("when any exists");
    assert_eq!(d.code, "E101");
}

// ---- Paths --------------------------------------------------------------------

#[test]
fn paths_with_dots() {
    let t = test_of("userIdentity.sessionContext.sessionIssuer.userName exists");
    assert_eq!(
        *subject_path(&t),
        path(&[
            field("userIdentity"),
            field("sessionContext"),
            field("sessionIssuer"),
            field("userName")
        ])
    );
    assert_eq!(subject_path(&t).root(), "userIdentity");
    assert!(!subject_path(&t).is_single_field());
    assert!(!t.subject.node.fans_out());
}

#[test]
fn paths_with_each_and_index() {
    let t = test_of("resources[].tags[0].key exists");
    assert_eq!(
        *subject_path(&t),
        path(&[
            field("resources"),
            Segment::Each,
            field("tags"),
            Segment::Index(0),
            field("key")
        ])
    );
    assert!(t.subject.node.fans_out());
    assert_eq!(t.subject.node.to_string(), "resources[].tags[0].key");
    let t = test_of("a[12][] exists");
    assert_eq!(
        *subject_path(&t),
        path(&[field("a"), Segment::Index(12), Segment::Each])
    );
}

#[test]
fn paths_with_quoted_keys() {
    let text = r#"when requestParameters."x-amz-acl"."a\"b\u{e9}" exists"#;
    let rule = only_rule(text);
    let Expr::Test(t) = &rule.condition.node else {
        panic!()
    };
    assert_eq!(
        *subject_path(t),
        path(&[
            field("requestParameters"),
            field("x-amz-acl"),
            field("a\"bé")
        ])
    );
    assert_eq!(
        slice(text, t.subject.span),
        r#"requestParameters."x-amz-acl"."a\"b\u{e9}""#
    );
    assert_eq!(
        t.subject.node.to_string(),
        r#"requestParameters."x-amz-acl"."a\"bé""#
    );
}

#[test]
fn keywords_are_allowed_after_a_dot_but_not_first() {
    let t = test_of("requestParameters.in.exists.tag exists");
    assert_eq!(
        *subject_path(&t),
        path(&[
            field("requestParameters"),
            field("in"),
            field("exists"),
            field("tag")
        ])
    );
    // Words that merely start with a keyword, or are not keywords, are fields.
    assert_eq!(
        *subject_path(&test_of("index exists")),
        path(&[field("index")])
    );
    assert_eq!(
        *subject_path(&test_of("tags exists")),
        path(&[field("tags")])
    );
    assert_eq!(
        *subject_path(&test_of("severity exists")),
        path(&[field("severity")])
    );
    let d = one_err("when tag exists");
    assert_eq!((d.code, d.line_col()), ("E101", (1, 6)));
    assert!(d.message.contains("a condition"), "{}", d.message);
}

#[test]
fn path_has_no_inner_whitespace() {
    let d = one_err("when a . b exists");
    assert_eq!(d.code, "E101");
}

#[test]
fn path_as_operand() {
    let (op, _, rhs) = compare_of("userIdentity.accountId == recipientAccountId");
    assert_eq!(op.node, Op::Eq);
    assert_eq!(rhs.node, op_path(path(&[field("recipientAccountId")])));
    let (_, _, rhs) = compare_of("a != resources[0].accountId");
    assert_eq!(
        rhs.node,
        op_path(path(&[
            field("resources"),
            Segment::Index(0),
            field("accountId")
        ]))
    );
    // A list name is a path operand; the compiler resolves it.
    let (op, negated, rhs) = compare_of("userIdentity.userName not in admins");
    assert_eq!((op.node, negated), (Op::In, true));
    assert_eq!(rhs.node, op_path(path(&[field("admins")])));
}

// ---- Literals -------------------------------------------------------------------

#[test]
fn string_with_every_escape() {
    let s = string(r#""q\" b\\ s\/ n\n t\t r\r e\u{e9} smile\u{1F600} zero\u{0}""#);
    assert_eq!(
        s.value,
        "q\" b\\ s/ n\n t\t r\r e\u{e9} smile\u{1F600} zero\u{0}"
    );
    assert!(!s.ignore_case && !s.raw);
}

#[test]
fn string_plain_and_unicode_text() {
    assert_eq!(string(r#""""#).value, "");
    assert_eq!(
        string(r#""Straße ΣΊΣΥΦΟΣ 日本""#).value,
        "Straße ΣΊΣΥΦΟΣ 日本"
    );
}

#[test]
fn raw_string_keeps_backslashes() {
    let s = string(r#"r"^\d+\.\w*$""#);
    assert_eq!(s.value, r"^\d+\.\w*$");
    assert!(s.raw && !s.ignore_case);
    // A raw string may contain an escaped quote, kept as written.
    assert_eq!(string(r#"r"a\"b""#).value, r#"a\"b"#);
    // Unknown escapes are not errors in raw strings.
    assert_eq!(string(r#"r"\q\u00""#).value, r"\q\u00");
}

#[test]
fn ignore_case_strings() {
    let s = string(r#"i"Straße\t""#);
    assert_eq!(s.value, "Straße\t", "i\"\" still resolves escapes");
    assert!(s.ignore_case && !s.raw);
    for prefix in ["ir", "ri"] {
        let s = string(&format!(r#"{prefix}"^Admin\d""#));
        assert_eq!(s.value, r"^Admin\d", "{prefix}");
        assert!(s.ignore_case && s.raw, "{prefix}");
    }
}

#[test]
fn ignore_case_list_operand() {
    let (op, negated, rhs) = compare_of(r#"a not in i["Alice", r"B\d", 3]"#);
    assert_eq!((op.node, negated), (Op::In, true));
    let Operand::List(list) = rhs.node else {
        panic!("{rhs:?}")
    };
    assert!(list.ignore_case);
    let items: Vec<Literal> = list.items.into_iter().map(|i| i.node).collect();
    assert_eq!(
        items,
        vec![
            str_lit("Alice"),
            Literal::Str(StrLit {
                value: r"B\d".into(),
                ignore_case: false,
                raw: true
            }),
            Literal::Number(3.into()),
        ]
    );
    let (_, _, rhs) = compare_of(r#"a in ["x"]"#);
    let Operand::List(list) = rhs.node else {
        panic!()
    };
    assert!(!list.ignore_case);
}

#[test]
fn numbers() {
    let cases: [(&str, f64); 10] = [
        ("0", 0.0),
        ("42", 42.0),
        ("-7", -7.0),
        ("2.75", 2.75),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("1e+2", 100.0),
        ("18446744073709551616", 18446744073709551616.0),
    ];
    for (text, value) in cases {
        let Literal::Number(n) = literal(text) else {
            panic!("{text}")
        };
        assert_eq!(n.as_f64(), Some(value), "{text}");
    }
    let Literal::Number(n) = literal("42") else {
        panic!()
    };
    assert_eq!(n.as_u64(), Some(42), "integers stay integers");
    let Literal::Number(n) = literal("-7") else {
        panic!()
    };
    assert_eq!(n.as_i64(), Some(-7));
}

#[test]
fn number_must_end_at_a_word_boundary() {
    let d = one_err("when a == 1x");
    assert_eq!((d.code, d.line_col()), ("E101", (1, 11)));
    assert!(d.message.contains("found `1x`"), "{}", d.message);
}

#[test]
fn booleans_and_null() {
    assert_eq!(literal("true"), Literal::Bool(true));
    assert_eq!(literal("false"), Literal::Bool(false));
    assert_eq!(literal("null"), Literal::Null);
    // Longer words are field paths, not literals.
    for word in ["trueish", "nullable", "falsehood"] {
        assert_eq!(
            compare_of(&format!("a == {word}")).2.node,
            op_path(path(&[field(word)])),
            "{word}"
        );
    }
}

#[test]
fn priorities() {
    for (text, p) in [
        ("INFO", Priority::Info),
        ("LOW", Priority::Low),
        ("MEDIUM", Priority::Medium),
        ("HIGH", Priority::High),
        ("CRITICAL", Priority::Critical),
    ] {
        assert_eq!(literal(text), Literal::Priority(p), "{text}");
        assert_eq!(p.as_str(), text);
    }
    assert!(
        Priority::Info < Priority::Low
            && Priority::Low < Priority::Medium
            && Priority::Medium < Priority::High
            && Priority::High < Priority::Critical
    );
    assert_eq!(
        compare_of("a == HIGHER").2.node,
        op_path(path(&[field("HIGHER")]))
    );
}

// ---- Actions ------------------------------------------------------------------

fn actions(text: &str) -> Vec<Spanned<Action>> {
    only_rule(text).actions
}

#[test]
fn set_with_literal_values() {
    let text = r#"when a exists set xs = "v" set xn = -1.5 set xb = false set xz = null set xp = LOW set xr = ir"R""#;
    let acts = actions(text);
    let values: Vec<(String, Value)> = acts
        .iter()
        .map(|a| match &a.node {
            Action::Set { target, value } => (target.node.to_string(), value.node.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values[0], ("xs".into(), Value::Literal(str_lit("v"))));
    assert!(
        matches!(&values[1], (f, Value::Literal(Literal::Number(n))) if f == "xn" && n.as_f64() == Some(-1.5))
    );
    assert_eq!(
        values[2],
        ("xb".into(), Value::Literal(Literal::Bool(false)))
    );
    assert_eq!(values[3], ("xz".into(), Value::Literal(Literal::Null)));
    assert_eq!(
        values[4],
        (
            "xp".into(),
            Value::Literal(Literal::Priority(Priority::Low))
        )
    );
    assert_eq!(
        values[5],
        (
            "xr".into(),
            Value::Literal(Literal::Str(StrLit {
                value: "R".into(),
                ignore_case: true,
                raw: true
            }))
        )
    );
    assert_eq!(slice(text, acts[1].span), "set xn = -1.5");
}

#[test]
fn set_with_path_values() {
    let text = "when a exists set xuser = userIdentity.arn set xtypes = resources[].type";
    let acts = actions(text);
    let Action::Set { target, value } = &acts[0].node else {
        panic!()
    };
    assert_eq!(target.node, path(&[field("xuser")]));
    assert_eq!(
        value.node,
        value_path(path(&[field("userIdentity"), field("arn")]))
    );
    assert_eq!(slice(text, value.span), "userIdentity.arn");
    let Action::Set { value, .. } = &acts[1].node else {
        panic!()
    };
    assert_eq!(
        value.node,
        value_path(path(&[field("resources"), Segment::Each, field("type")]))
    );
}

#[test]
fn set_target_may_be_any_path_syntactically() {
    // Nested targets are rejected by the compiler (E402), not the parser.
    let acts = actions("when a exists set x.y[0] = 1");
    let Action::Set { target, .. } = &acts[0].node else {
        panic!()
    };
    assert_eq!(
        target.node,
        path(&[field("x"), field("y"), Segment::Index(0)])
    );
}

#[test]
fn overwrite_action() {
    let text = r#"when a exists overwrite userIdentity.arn = "redacted""#;
    let acts = actions(text);
    let Action::Overwrite { target, value } = &acts[0].node else {
        panic!("{acts:?}")
    };
    assert_eq!(target.node, path(&[field("userIdentity"), field("arn")]));
    assert_eq!(slice(text, target.span), "userIdentity.arn");
    assert_eq!(value.node, Value::Literal(str_lit("redacted")));
    assert_eq!(
        slice(text, acts[0].span),
        r#"overwrite userIdentity.arn = "redacted""#
    );
}

#[test]
fn tag_with_one_and_several_strings() {
    let text = r#"when a exists tag "one" tag "a" , "b\n","c""#;
    let acts = actions(text);
    assert_eq!(acts.len(), 2);
    let Action::Tag(one) = &acts[0].node else {
        panic!()
    };
    assert_eq!(
        one.iter().map(|t| t.node.as_str()).collect::<Vec<_>>(),
        vec!["one"]
    );
    let Action::Tag(many) = &acts[1].node else {
        panic!()
    };
    assert_eq!(
        many.iter().map(|t| t.node.as_str()).collect::<Vec<_>>(),
        vec!["a", "b\n", "c"]
    );
    assert_eq!(slice(text, many[1].span), r#""b\n""#);
    assert_eq!(slice(text, acts[1].span), r#"tag "a" , "b\n","c""#);
}

#[test]

fn tag_and_inline_rule_spans_end_at_their_last_token() {
    let text = "when a exists tag \"t\"  # note\nwhen b exists   \n";
    let file = parse_ok(text);
    let Item::Rule(first) = &file.items[0] else {
        panic!()
    };
    assert_eq!(slice(text, first.actions[0].span), r#"tag "t""#);
    assert_eq!(slice(text, first.span), r#"when a exists tag "t""#);
    let Item::Rule(second) = &file.items[1] else {
        panic!()
    };
    assert_eq!(slice(text, second.span), "when b exists");
}

#[test]
fn tag_takes_only_strings() {
    let d = one_err("when a exists tag 1");
    assert_eq!(d.code, "E101");
    assert!(d.message.contains("a string"), "{}", d.message);
}

#[test]
fn drop_action_and_action_order() {
    let text = r#"when a exists drop tag "t" set xa = 1 drop"#;
    let acts = actions(text);
    let kinds: Vec<&str> = acts
        .iter()
        .map(|a| match a.node {
            Action::Drop => "drop",
            Action::Tag(_) => "tag",
            Action::Set { .. } => "set",
            Action::Overwrite { .. } => "overwrite",
        })
        .collect();
    assert_eq!(kinds, vec!["drop", "tag", "set", "drop"]);
    assert_eq!(slice(text, acts[0].span), "drop");
}

// ---- E101: syntax errors --------------------------------------------------------

#[test]
fn syntax_error_names_what_was_expected_and_where() {
    let text = "when a exists\nwhen b == \n";
    let d = one_err(text);
    assert_eq!(d.code, "E101");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "expected a value, found end of file");
    assert_eq!(d.line_col(), (3, 1));
    assert_eq!(d.label, "here");
    assert_eq!(d.span, Span::new(text.len(), text.len()));
    assert_eq!(
        d.to_string(),
        "t.rules:3:1: error[E101]: expected a value, found end of file"
    );
}

#[test]
fn syntax_error_column_counts_characters() {
    let text = "# é\nwhen aé == \"é\" drop @";
    let d = one_err(text);
    assert_eq!(d.code, "E101");
    // `when a` then `é` is not an identifier character: the error is at `é`.
    assert_eq!(d.line_col(), (2, 7));
    assert_eq!(
        slice(text, d.span),
        "é",
        "the span covers one whole character"
    );
}

#[test]
fn syntax_error_stops_at_the_first() {
    let diags = parse_err("when a = 1\nwhen b = 2\n");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].line_col(), (1, 8));
}

#[test]
fn allow_lines_in_a_block_rule() {
    let rule = only_rule(
        r#"rule r { allow W308 "not in the catalog" severity INFO allow W303 allow x1 when a exists }"#,
    );
    let allows: Vec<(&str, Option<&str>)> = rule
        .allows
        .iter()
        .map(|a| {
            (
                a.code.node.as_str(),
                a.reason.as_ref().map(|r| r.node.as_str()),
            )
        })
        .collect();
    assert_eq!(
        allows,
        [
            ("W308", Some("not in the catalog")),
            ("W303", None),
            ("x1", None)
        ]
    );
    assert_eq!(rule.severity.map(|s| s.node), Some(Priority::Info));
    // `allow` is not reserved: it is still a field name.
    let rule = only_rule(r#"when allow == "x" drop"#);
    assert!(rule.allows.is_empty());
}

#[test]
fn technique_and_reference_lines_in_a_block_rule() {
    let rule = only_rule(
        r#"rule r { technique "T1098" reference "https://a" technique "T1098.001" reference "https://b" when a exists }"#,
    );
    let texts = |v: &[Spanned<String>]| v.iter().map(|t| t.node.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&rule.techniques), ["T1098", "T1098.001"]);
    assert_eq!(texts(&rule.references), ["https://a", "https://b"]);
    // Neither word is reserved: both are still field names.
    let rule = only_rule(r#"when technique == "x" and reference exists drop"#);
    assert!(rule.techniques.is_empty() && rule.references.is_empty());
}

#[test]
fn title_dedup_and_dedup_window_in_a_block_rule() {
    let rule = only_rule(
        r#"rule r { title "Root from {sourceIPAddress}" dedup "{userIdentity.arn}" dedup_window 30m when a exists }"#,
    );
    assert_eq!(rule.title.unwrap().node, "Root from {sourceIPAddress}");
    assert_eq!(rule.dedup.unwrap().node, "{userIdentity.arn}");
    assert_eq!(rule.dedup_window.unwrap().node, 1800);
    for (text, seconds) in [("90s", 90), ("1h", 3600), ("2d", 172_800), ("1w", 604_800)] {
        let rule = only_rule(&format!("rule r {{ dedup_window {text} when a exists }}"));
        assert_eq!(rule.dedup_window.unwrap().node, seconds, "{text}");
    }
    // No word is reserved: they are still field names.
    let rule = only_rule(r#"when title == "x" and dedup exists and dedup_window exists drop"#);
    assert!(rule.title.is_none() && rule.dedup.is_none() && rule.dedup_window.is_none());
    let d = one_err("rule r { dedup_window 30 when a exists }");
    assert_eq!(d.code, "E101");
    assert!(
        d.message.contains("a duration such as 30m"),
        "{}",
        d.message
    );
    let d = one_err("rule r { dedup_window 99999999999999999999m when a exists }");
    assert_eq!(d.code, "E103");
}

#[test]
fn syntax_error_empty_rule_block() {
    let d = one_err("rule r { }");
    assert_eq!(
        d.message,
        "expected `allow`, `dedup_window`, `dedup`, `description`, `reference`, `severity`, `tags`, `technique`, `title` or `when`, found `}`"
    );
    assert_eq!(d.line_col(), (1, 10));
}

#[test]
fn syntax_error_unclosed_rule_block() {
    let d = one_err("rule r {\n  when a exists\n");
    assert!(d.message.ends_with("found end of file"), "{}", d.message);
    assert!(d.message.contains("an action"), "{}", d.message);
    assert_eq!(d.line_col().0, 3);
}

#[test]
fn syntax_error_missing_condition() {
    let d = one_err("when");
    assert_eq!(d.message, "expected a condition, found end of file");
    assert_eq!(d.line_col(), (1, 5));
}

#[test]
fn syntax_error_junk_at_top_level() {
    let d = one_err(r#"when a == "x" set xp = HIGH;"#);
    assert_eq!(d.line_col(), (1, 28));
    assert!(d.message.contains("found `;`"), "{}", d.message);
    assert!(d.message.contains("end of file"), "{}", d.message);
    assert_eq!(d.help, None);
}

#[test]
fn hint_single_equals_in_a_comparison() {
    let d = one_err(r#"when eventName = "CreateUser""#);
    assert_eq!(d.code, "E101");
    assert_eq!(d.line_col(), (1, 16));
    assert!(d.message.contains("found `=`"), "{}", d.message);
    assert!(d.message.contains("an operator"), "{}", d.message);
    assert_eq!(
        d.help.as_deref(),
        Some("to compare, write `==`; `=` only assigns, after `set`")
    );
}

#[test]
fn hint_double_ampersand() {
    let d = one_err(r#"when a == "x" && b == "y""#);
    assert_eq!(d.line_col(), (1, 15));
    assert_eq!(d.help.as_deref(), Some("write `and` to join conditions"));
}

#[test]
fn hint_double_bar() {
    let d = one_err(r#"when a == "x" || b == "y""#);
    assert_eq!(d.line_col(), (1, 15));
    assert_eq!(d.help.as_deref(), Some("write `or` to join alternatives"));
}

#[test]
fn hint_bang() {
    let d = one_err("when !a exists");
    assert_eq!(d.line_col(), (1, 6));
    assert_eq!(d.message, "expected a condition, found `!`");
    assert_eq!(d.help.as_deref(), Some("write `not` to negate a condition"));
}

#[test]
fn hint_single_quotes() {
    let d = one_err("when a == 'x'");
    assert_eq!(d.line_col(), (1, 11));
    assert_eq!(d.message, "expected a value, found `'`");
    assert_eq!(
        d.help.as_deref(),
        Some("strings are written in double quotes: \"text\"")
    );
}

#[test]
fn hint_upper_case_and_or_not() {
    let d = one_err(r#"when a == "x" AND b exists"#);
    assert!(d.message.contains("found `AND`"), "{}", d.message);
    assert_eq!(d.line_col(), (1, 15));
    assert_eq!(d.help.as_deref(), Some("keywords are lower case: `and`"));

    let d = one_err(r#"when a == "x" OR b exists"#);
    assert_eq!(d.help.as_deref(), Some("keywords are lower case: `or`"));

    let d = one_err(r#"when eventName NOT in ["a"]"#);
    assert!(d.message.contains("found `NOT`"), "{}", d.message);
    assert_eq!(d.help.as_deref(), Some("keywords are lower case: `not`"));
}

#[test]
fn hint_then_and_do() {
    for word in ["then", "do"] {
        let d = one_err(&format!(r#"when a == "x" {word} set xp = HIGH"#));
        assert_eq!(d.line_col(), (1, 15), "{word}");
        assert!(
            d.message.contains(&format!("found `{word}`")),
            "{}",
            d.message
        );
        assert_eq!(
            d.help.as_deref(),
            Some("actions follow the condition directly: `when ... set xpriority = HIGH`"),
            "{word}"
        );
    }
}

#[test]
fn hint_lower_case_priority() {
    for (word, upper) in [
        ("info", "INFO"),
        ("high", "HIGH"),
        ("low", "LOW"),
        ("medium", "MEDIUM"),
        ("critical", "CRITICAL"),
    ] {
        let d = one_err(&format!("rule r {{ severity {word} when a exists }}"));
        assert_eq!(
            d.message,
            format!("expected a priority (INFO, LOW, MEDIUM, HIGH, CRITICAL), found `{word}`")
        );
        assert_eq!(d.line_col(), (1, 19));
        assert_eq!(
            d.help,
            Some(format!("priorities are written in capitals: {upper}"))
        );
    }
}

#[test]
fn lower_case_priority_in_set_is_a_field_path() {
    // Not an error: `high` names a field whose value is copied.
    let acts = actions("when a exists set xp = high");
    let Action::Set { value, .. } = &acts[0].node else {
        panic!()
    };
    assert_eq!(value.node, value_path(path(&[field("high")])));
}

#[test]
fn hint_condition_starting_with_a_string() {
    let d = one_err(r#"when "x" == eventName"#);
    assert_eq!(d.line_col(), (1, 6));
    assert_eq!(
        d.help.as_deref(),
        Some("a condition starts with a field name: `eventName == \"CreateUser\"`")
    );
}

#[test]
fn hint_word_where_an_operator_was_expected() {
    let d = one_err("when eventName equals 1");
    assert_eq!(d.line_col(), (1, 16));
    assert_eq!(
        d.help.as_deref(),
        Some("a condition compares a field: `eventName == \"CreateUser\"`, `errorCode exists`")
    );
}

#[test]
fn hint_misspelt_keyword_anywhere() {
    for (text, at, keyword) in [
        // The start of an item.
        (r#"wen eventName == "x" tag "a""#, (1, 1), "when"),
        (r#"macr m = eventName == "x""#, (1, 1), "macro"),
        ("lst l = [\"a\"]", (1, 1), "list"),
        (r#"rul r { when eventName == "x" }"#, (1, 1), "rule"),
        // An action.
        (r#"when eventName == "x" sett xa = 1"#, (1, 23), "set"),
        (
            r#"rule r { when eventName == "x" tagg "a" }"#,
            (1, 32),
            "tag",
        ),
        // An operator.
        (
            r#"when eventName startwith "x" tag "a""#,
            (1, 16),
            "startswith",
        ),
        (r#"when eventName endwith "x" tag "a""#, (1, 16), "endswith"),
        (r#"when errorCode exist tag "a""#, (1, 16), "exists"),
        (r#"when eventName nott in ["a"] tag "a""#, (1, 16), "not"),
        // Between tests, and in a block's header.
        (
            r#"when eventName == "x" annd errorCode exists"#,
            (1, 23),
            "and",
        ),
        (
            r#"rule r { descripton "x" when eventName == "x" }"#,
            (1, 10),
            "description",
        ),
        (
            r#"rule r { severty HIGH when eventName == "x" }"#,
            (1, 10),
            "severity",
        ),
    ] {
        let d = one_err(text);
        assert_eq!(d.code, "E101", "{text}");
        assert_eq!(d.line_col(), at, "{text}: {}", d.message);
        assert_eq!(
            d.help.as_deref(),
            Some(format!("did you mean `{keyword}`?").as_str()),
            "{text}: {}",
            d.message
        );
    }
}

#[test]
fn hint_keyword_in_the_wrong_case() {
    let d = one_err(r#"When eventName == "x""#);
    assert_eq!(d.help.as_deref(), Some("keywords are lower case: `when`"));
    let d = one_err(r#"when eventName == "x" Set xa = 1"#);
    assert_eq!(d.help.as_deref(), Some("keywords are lower case: `set`"));
    let d = one_err(r#"rule r { severity High when a exists }"#);
    assert_eq!(
        d.help.as_deref(),
        Some("priorities are written in capitals: HIGH")
    );
}

#[test]
fn no_keyword_suggested_for_a_word_far_from_every_keyword() {
    let d = one_err("when eventName equals 1");
    assert!(!d.help.unwrap_or_default().contains("did you mean"));
    let d = one_err(r#"foo eventName == "x""#);
    assert_eq!(d.help, None);
}

#[test]
fn hint_single_equals_not_given_for_double_equals_in_set() {
    let d = one_err("when a exists set xa == 1");
    assert_eq!(d.code, "E101");
    let help = d.help.unwrap_or_default();
    assert!(
        !help.contains("to compare, write `==`"),
        "contradictory hint: {help}"
    );
}

#[test]

fn missing_comma_in_list_points_at_the_missing_comma() {
    let text = r#"list l = ["a" "b"]"#;
    let d = one_err(text);
    assert_eq!(d.code, "E101");
    // The error is between "a" and "b", not at "a" (which is a string).
    assert_eq!(d.line_col(), (1, 15), "{d}");
}

// ---- E102: escapes --------------------------------------------------------------

#[test]
fn unknown_escape() {
    let text = r#"when a matches "\d+""#;
    let d = one_err(text);
    assert_eq!(d.code, "E102");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "unknown escape `\\d`");
    assert_eq!(slice(text, d.span), r"\d");
    assert_eq!(d.line_col(), (1, 17));
    assert_eq!(d.label, "not an escape");
    assert!(
        d.help.as_deref().unwrap().contains("raw string"),
        "{:?}",
        d.help
    );
}

#[test]
fn unknown_escape_of_a_multibyte_character() {
    let text = "when a == \"x\\é\"";
    let d = one_err(text);
    assert_eq!(d.code, "E102");
    assert_eq!(slice(text, d.span), "\\é");
}

#[test]
fn bad_unicode_escapes() {
    for bad in [
        r"\u00e9",
        r"\u{zz}",
        r"\u{}",
        r"\u{110000}",
        r"\u{d800}",
        r"\u{e9",
    ] {
        let text = format!(r#"when a == "x{bad}""#);
        let d = one_err(&text);
        assert_eq!(d.code, "E102", "{bad}");
        assert_eq!(d.message, "invalid unicode escape", "{bad}");
        assert_eq!(slice(&text, d.span), r"\u", "{bad}");
        assert_eq!(d.line_col(), (1, 13), "{bad}");
        assert_eq!(d.label, "expected \\u{HEX}");
        assert!(
            d.help.as_deref().unwrap().contains(r"\u{e9}"),
            "{:?}",
            d.help
        );
    }
}

#[test]

fn unicode_escape_rejects_a_sign() {
    let d = one_err(r#"when a == "\u{+e9}""#);
    assert_eq!(d.code, "E102");
}

#[test]
fn escapes_in_quoted_path_keys_are_checked() {
    let text = "when a.\"b\\q\" exists";
    let d = one_err(text);
    assert_eq!(d.code, "E102");
    assert_eq!(slice(text, d.span), r"\q");
}

#[test]
fn escapes_in_description_and_tags_are_checked() {
    let text = "rule r {\n  description \"\\x\"\n  when a exists\n  tag \"\\y\"\n}";
    let diags = parse_err(text);
    assert_eq!(
        diags
            .iter()
            .map(|d| (d.code, d.line_col()))
            .collect::<Vec<_>>(),
        vec![("E102", (2, 16)), ("E102", (4, 8))]
    );
}

#[test]
fn every_escape_and_number_error_is_reported() {
    let text = "when a == \"\\q\"\nwhen b == \"\\u{zz}\" and c == 1e999\nwhen d[99999999999999999999999] exists";
    let diags = parse_err(text);
    let found: Vec<(&str, (usize, usize))> = diags.iter().map(|d| (d.code, d.line_col())).collect();
    assert_eq!(
        found,
        vec![
            ("E102", (1, 12)),
            ("E102", (2, 12)),
            ("E103", (2, 29)),
            ("E103", (3, 7))
        ]
    );
}

// ---- E103: numbers and indexes ----------------------------------------------------

#[test]
fn index_too_large() {
    let text = "when resources[18446744073709551616].type exists";
    let d = one_err(text);
    assert_eq!(d.code, "E103");
    assert_eq!(d.message, "array index is too large");
    assert_eq!(slice(text, d.span), "[18446744073709551616]");
    assert_eq!(d.label, "this index");
    assert_eq!(
        d.help.as_deref(),
        Some("indexes count from 0 and must fit in 64 bits")
    );
    // The largest index that fits is fine.
    let t = test_of(&format!("resources[{}] exists", usize::MAX));
    assert_eq!(
        *subject_path(&t),
        path(&[field("resources"), Segment::Index(usize::MAX)])
    );
}

#[test]
fn number_out_of_range() {
    for n in ["1e400", "-1e400", "1.5e309"] {
        let text = format!("when a == {n}");
        let d = one_err(&text);
        assert_eq!(d.code, "E103", "{n}");
        assert_eq!(d.message, "number is out of range");
        assert_eq!(slice(&text, d.span), n);
        assert_eq!(
            d.help.as_deref(),
            Some("numbers must fit in a 64-bit float")
        );
    }
}

#[test]
fn number_out_of_range_in_a_list() {
    let text = "list l = [1, 2e500]";
    let d = one_err(text);
    assert_eq!(d.code, "E103");
    assert_eq!(slice(text, d.span), "2e500");
}

#[test]
fn leading_zero_number_is_e103() {
    // docs/language.md (Literals): no leading zeros, `007` is E103.
    let text = "when a == 007";
    let d = one_err(text);
    assert_eq!(d.code, "E103");
    assert_eq!(slice(text, d.span), "007");
}

#[test]

fn leading_zero_number_message_names_the_leading_zero() {
    let d = one_err("when a == 007");
    assert!(!d.message.contains("out of range"), "misleading: {d}");
}

// ---- parse_condition -------------------------------------------------------------

fn cond(text: &str) -> Result<Spanned<Expr>, Vec<Diagnostic>> {
    parse_condition(&Source::new("<filter>", text))
}

#[test]
fn parse_condition_accepts_one_condition() {
    let text = r#"eventSource == "iam.amazonaws.com" and not errorCode exists"#;
    let e = cond(text).unwrap();
    assert_eq!(
        sexpr(&e.node),
        "(and eventSource == (not errorCode exists))"
    );
    assert_eq!(e.span, Span::new(0, text.len()));
    assert_eq!(sexpr(&cond("is_admin").unwrap().node), "@is_admin");
}

#[test]
fn parse_condition_allows_surrounding_whitespace_and_comments() {
    assert_eq!(sexpr(&cond("  a exists\n").unwrap().node), "a exists");
    assert_eq!(sexpr(&cond("a exists # why").unwrap().node), "a exists");
}

#[test]
fn parse_condition_rejects_trailing_text() {
    let text = "a exists b";
    let diags = cond(text).unwrap_err();
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.code, "E101");
    assert_eq!(d.message, "expected `and`, `or` or end of file, found `b`");
    assert_eq!(d.label, "here");
    assert_eq!(slice(text, d.span).trim(), "b");
    assert_eq!(d.source.name(), "<filter>");
    // Actions are not part of a condition.
    let d = &cond(r#"a exists set xa = 1"#).unwrap_err()[0];
    assert_eq!(
        d.message,
        "expected `and`, `or` or end of file, found `set`"
    );
}

#[test]
fn parse_condition_syntax_errors() {
    let d = &cond("").unwrap_err()[0];
    assert_eq!(
        (d.code, d.message.as_str()),
        ("E101", "expected a condition, found end of file")
    );
    let d = &cond("(a exists").unwrap_err()[0];
    assert_eq!(d.message, "expected `and` or `or`, found end of file");
    assert_eq!(d.line_col(), (1, 10));
    let d = &cond("== 1").unwrap_err()[0];
    assert_eq!(
        (d.message.as_str(), d.line_col()),
        ("expected a condition, found `=`", (1, 1))
    );
}

#[test]

fn parse_condition_gives_the_same_hints_as_parse() {
    let d = &cond(r#"eventName = "CreateUser""#).unwrap_err()[0];
    assert_eq!(
        d.help.as_deref(),
        Some("to compare, write `==`; `=` only assigns, after `set`"),
        "{d}"
    );
    let d = &cond(r#"a exists && b exists"#).unwrap_err()[0];
    assert_eq!(
        d.help.as_deref(),
        Some("write `and` to join conditions"),
        "{d}"
    );
}

#[test]
fn parse_condition_reports_escape_and_number_errors() {
    let text = r#"a == "\d" or b == 1e999"#;
    let diags = cond(text).unwrap_err();
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["E102", "E103"]
    );
    assert_eq!(slice(text, diags[0].span), r"\d");
    assert_eq!(slice(text, diags[1].span), "1e999");
}

// ---- Path and string helpers of the AST -------------------------------------------

#[test]
fn path_display_quotes_what_is_not_an_identifier() {
    let p = path(&[
        field("a"),
        field("x-y"),
        Segment::Each,
        field("q\"\n"),
        Segment::Index(3),
    ]);
    assert_eq!(p.to_string(), r#"a."x-y"[]."q\"\n"[3]"#);
    // What Display writes parses back to the same path.
    let t = test_of(&format!("{p} exists"));
    assert_eq!(*subject_path(&t), p);
}

#[test]
fn escape_string_round_trips_through_the_parser() {
    let original = "tab\t quote\" back\\ nl\n cr\r bell\u{7} é";
    let written = format!("\"{}\"", escape_string(original));
    assert_eq!(string(&written).value, original);
}

// ---- Terms and declarations of the enrichment context ---------------------------

#[test]
fn call_with_a_path_into_its_result() {
    let t = test_of(r#"geoip(sourceIPAddress).country_code == "US""#);
    let Term::Call(call) = &t.subject.node else {
        panic!("{t:?}")
    };
    assert_eq!(call.name.node, "geoip");
    assert_eq!(call.args.len(), 1);
    assert_eq!(
        call.args[0].node,
        value_path(path(&[field("sourceIPAddress")]))
    );
    assert_eq!(call.rest, vec![field("country_code")]);
    assert_eq!(
        t.subject.node.to_string(),
        "geoip(sourceIPAddress).country_code"
    );
}

#[test]
fn call_arguments_take_whitespace_literals_and_nested_calls() {
    let t = test_of(r#"hour( eventTime , "America/New_York" ) >= 18"#);
    let Term::Call(call) = &t.subject.node else {
        panic!("{t:?}")
    };
    assert_eq!(call.args.len(), 2);
    assert_eq!(
        call.args[1].node,
        Value::Literal(str_lit("America/New_York"))
    );
    let t = test_of(r#"lower(concat(actor.name, "@", recipientAccountId)) exists"#);
    assert_eq!(
        t.subject.node.to_string(),
        r#"lower(concat(actor.name, "@", recipientAccountId))"#
    );
}

#[test]
fn lookup_by_key_and_array_index_stay_apart() {
    let t = test_of(r#"users[actor.user].team == "payments""#);
    let Term::Lookup(lookup) = &t.subject.node else {
        panic!("{t:?}")
    };
    assert_eq!(lookup.table.node, "users");
    assert_eq!(lookup.key.node.to_string(), "actor.user");
    assert_eq!(lookup.rest, vec![field("team")]);
    // `[0]` and `[]` are still array accessors.
    let t = test_of(r#"resources[0].ARN exists"#);
    assert!(matches!(t.subject.node, Term::Path(_)));
    let t = test_of(r#"resources[].ARN exists"#);
    assert!(matches!(t.subject.node, Term::Path(_)));
}

#[test]
fn terms_as_operands_and_set_values() {
    let t = test_of(r#"eventTime within vacations[actor.user]"#);
    let TestKind::Compare { rhs, .. } = &t.kind else {
        panic!()
    };
    assert!(matches!(rhs.node, Operand::Term(Term::Lookup(_))));
    let file = parse_ok(
        r#"when sourceIPAddress exists set xcountry_code = geoip(sourceIPAddress).country_code"#,
    );
    let [Item::Rule(rule)] = file.items.as_slice() else {
        panic!()
    };
    let Action::Set { value, .. } = &rule.actions[0].node else {
        panic!()
    };
    assert!(matches!(value.node, Value::Term(Term::Call(_))));
}

#[test]
fn table_schedule_and_calendar_declarations() {
    let text = r#"
table users = file "lookups/users.csv" key user
list services = file "lookups/services.txt"
list offices = file "offices.csv" column "cidr"
schedule office_hours = "Mon-Fri 09:00-18:00" zone "America/New_York"
calendar holidays = file "holidays.csv" zone "America/New_York"
calendar vacations = file "vacations.csv" key "user" zone "UTC"
calendar freeze = ["2026-12-20..2027-01-04", "2026-11-26"] zone "UTC"
"#;
    let file = parse_ok(text);
    let [Item::Table(users), Item::List(services), Item::List(offices), Item::Schedule(hours), Item::Calendar(holidays), Item::Calendar(vacations), Item::Calendar(freeze)] =
        file.items.as_slice()
    else {
        panic!("{file:?}")
    };
    assert_eq!(users.source.path.node, "lookups/users.csv");
    assert_eq!(
        slice(text, users.source.path.span),
        r#""lookups/users.csv""#
    );
    assert_eq!(users.source.key.as_ref().unwrap().node, "user");
    assert!(matches!(&services.body.node, ListBody::File(f) if f.column.is_none()));
    assert!(
        matches!(&offices.body.node, ListBody::File(f) if f.column.as_ref().unwrap().node == "cidr")
    );
    assert_eq!(hours.spec.node.value, "Mon-Fri 09:00-18:00");
    assert_eq!(hours.zone.node, "America/New_York");
    assert_eq!(slice(text, hours.zone.span), r#""America/New_York""#);
    assert!(matches!(&holidays.body.node, ListBody::File(f) if f.key.is_none()));
    assert!(
        matches!(&vacations.body.node, ListBody::File(f) if f.key.as_ref().unwrap().node == "user")
    );
    assert!(matches!(&freeze.body.node, ListBody::Items(l) if l.items.len() == 2));
}

#[test]
fn declaration_words_are_not_reserved_in_paths() {
    // `file`, `key`, `zone`, `table` ... are only words of declarations.
    assert_eq!(
        subject_path(&test_of(r#"requestParameters.key == "a""#)).to_string(),
        "requestParameters.key"
    );
    assert_eq!(
        subject_path(&test_of(r#"table exists"#)).to_string(),
        "table"
    );
}

#[test]
fn a_schedule_without_zone_is_a_syntax_error_naming_zone() {
    let diags = parse_err(r#"schedule h = "Mon-Fri 09:00-18:00""#);
    assert!(diags[0].message.contains("zone"), "{}", diags[0].message);
}

// ---- Nesting depth (E104) ---------------------------------------------------------

use ctrules_lang::parser::MAX_NESTING;

/// `when` + `levels` wrappings of a test, each `open`/`close`.
fn nested(levels: usize, open: &str, close: &str) -> String {
    format!(
        "when {}eventName == \"x\"{} tag \"t\"",
        open.repeat(levels),
        close.repeat(levels)
    )
}

#[test]
fn nesting_at_the_limit_parses_and_formats() {
    for text in [
        nested(MAX_NESTING, "(", ")"),
        nested(MAX_NESTING, "not ", ""),
        format!(
            "when {}eventName{} == \"x\" tag \"t\"",
            "lower(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        ),
    ] {
        parse_ok(&text);
        ctrules_lang::format::format(&src(&text)).unwrap();
    }
}

#[test]
fn deep_nesting_is_e104_not_a_stack_overflow() {
    let cases = [
        (nested(100_000, "(", ")"), "("),
        (nested(MAX_NESTING + 1, "(", ")"), "("),
        (nested(100_000, "not ", ""), "not"),
        // Levels alternate `not`, `(`: the 65th is a `not`.
        (nested(100_000, "not (", ")"), "not"),
        (
            format!(
                "when {}eventName{} == \"x\" tag \"t\"",
                "lower(".repeat(100_000),
                ")".repeat(100_000)
            ),
            "(",
        ),
        (
            format!(
                "when {}actor.user{}.team == \"x\" tag \"t\"",
                "users[".repeat(100_000),
                "]".repeat(100_000)
            ),
            "[",
        ),
    ];
    for (text, token) in &cases {
        let d = one_err(text);
        assert_eq!(d.code, "E104", "{}", d);
        assert_eq!(&text[d.span.start..d.span.end], *token);
        let _ = d.render(false);
        let cond = parse_condition(&src(&text[5..]));
        assert_eq!(cond.unwrap_err()[0].code, "E104");
        let formatted = ctrules_lang::format::format(&src(text));
        assert_eq!(formatted.unwrap_err()[0].code, "E104");
    }
}

#[test]
fn nots_and_brackets_that_close_do_not_add_up() {
    // 200 `not`s, but no more than one pending at a time.
    let many = vec!["not eventName == \"x\""; 200].join(" and ");
    parse_ok(&format!("when {many} tag \"t\""));
    // Parentheses and `not`s in strings and comments are text.
    let quoted = format!(
        "when eventName == \"{}\" # {}\n tag \"t\"",
        "(not ".repeat(100),
        "(".repeat(100)
    );
    parse_ok(&quoted);
}

// ---- Rendering long lines ------------------------------------------------------------

#[test]
fn a_diagnostic_past_column_65535_renders_clipped() {
    let long = "a".repeat(70_000);
    for (text, filler) in [
        (format!("when eventName == \"{long}\" ) tag \"t\""), "a"),
        // Two-byte characters: the window is cut on character boundaries.
        (
            format!("when eventName == \"{}\" ) tag \"t\"", "é".repeat(70_000)),
            "é",
        ),
    ] {
        let d = one_err(&text);
        let at = text.find(" )").unwrap() + 1;
        assert_eq!(d.span.start, at);
        let out = d.render(false);
        // The place is named in full, in bytes as miette counts them.
        assert!(out.contains(&format!("t.rules:1:{}]", at + 1)), "{out}");
        assert!(out.contains("line 1 is"), "{out}");
        assert!(out.contains("clipped"), "{out}");
        assert!(
            out.contains(&format!("{}\" ) tag", filler.repeat(20))),
            "{out}"
        );
        assert!(out.chars().count() < 2_000, "{} characters", out.len());
    }
}

#[test]
fn a_label_on_a_long_line_far_from_the_primary_one_is_clipped_too() {
    // E102 on each bad escape: the second is 70,000 characters into its line.
    let text = format!(
        "when eventName == \"\\q\" tag \"{}\\q\"\n",
        "b".repeat(70_000)
    );
    let diags = parse_err(&text);
    assert_eq!(diags.len(), 2, "{}", show(&diags));
    for d in &diags {
        let out = d.render(false);
        assert!(out.chars().count() < 2_000, "{out}");
        assert!(out.contains("clipped"), "{out}");
        assert!(out.contains("\\q"), "{out}");
    }
}

#[test]
fn any_name_in_binds_an_element_for_a_condition() {
    assert_eq!(
        shape(r#"any s in resources[] (s.type == "A" and s.ARN startswith "b")"#),
        "(any s in resources[] (and s.type == s.ARN startswith))"
    );
    assert_eq!(
        shape(r#"not all st in json(p).Statement[] (st.Effect == "Allow") or a exists"#),
        "(or (not (all st in json(p).Statement[] st.Effect ==)) a exists)"
    );
    // Nested, and without a space before the parenthesis.
    assert_eq!(
        shape(r#"any s in r[](any t in s.tags[] (t.k == 1))"#),
        "(any s in r[] (any t in s.tags[] t.k ==))"
    );
    // Still tests: a quantified `in` a list, named or written out.
    assert_eq!(
        shape("any resources[].type in types"),
        "any resources[].type in"
    );
    assert_eq!(shape("any s in types"), "any s in");
    assert_eq!(shape(r#"all r[].t in ["a"]"#), "all r[].t in");
    // A keyword is no name, and the parentheses are needed.
    for bad in [
        r#"when any in in r[] (in.t == 1) drop"#,
        r#"when any s in r[] s.t == 1 drop"#,
        r#"when any s in r[] (s.t == 1 drop"#,
    ] {
        let err = parse(&Source::new("t.rules", bad)).unwrap_err();
        assert_eq!(err[0].code, "E101", "{bad}");
    }
}

#[test]
fn deep_accessor_reaches_every_nested_value() {
    assert_eq!(
        shape(r#"requestParameters.** contains "x""#),
        "requestParameters.** contains"
    );
    assert_eq!(
        shape(r#"all json(p).Statement[].Principal.**.AWS == "*""#),
        "all json(p).Statement[].Principal.**.AWS =="
    );
    let Expr::Test(t) = when("a.b.** exists").node else {
        panic!()
    };
    assert_eq!(
        t.subject.node.rest(),
        &[field("a"), field("b"), Segment::Deep]
    );
    assert!(t.subject.node.fans_out());
    // Only after a dot, and not as a first name.
    for bad in [
        "when a** exists drop",
        "when **.a exists drop",
        "when a.*.b exists drop",
    ] {
        let err = parse(&Source::new("t.rules", bad)).unwrap_err();
        assert_eq!(err[0].code, "E101", "{bad}");
    }
}

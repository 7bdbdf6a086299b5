//! The formatter (`ctrules_lang::format`, what `ctrules fmt` writes) never
//! changes what rules do. For random rule files, written with random
//! spacing, line breaks, blank lines and comments, and for every rules file
//! the repository ships:
//!
//! - formatting twice gives what formatting once gives;
//! - the formatted text parses, to the same tree (spans aside);
//! - it compiles to rules that match the same CloudTrail events and enrich
//!   them the same way (the corpus in tests/fixtures);
//! - every comment is kept, once, in the order written.

use ctrules_compiler::{compile_with, Compilation, Evaluation, Options};
use ctrules_context::geoip::GeoIp;
use ctrules_lang::ast::{Item, RulesFile};
use ctrules_lang::format::{format, tree_shape};
use ctrules_lang::{parse, Source};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- The checks ---------------------------------------------------------------

fn parsed(source: &Source) -> RulesFile {
    parse(source).unwrap_or_else(|d| panic!("{} does not parse: {}", source.name(), d[0]))
}

/// Formats `source` and checks that formatting again changes nothing and
/// that the result parses to the same tree. Returns the formatted source.
fn format_checked(source: &Source) -> Source {
    let before = parsed(source);
    let text = format(source).unwrap();
    let formatted = Source::new(source.name(), text.as_str());
    let after = parsed(&formatted);
    assert_eq!(
        tree_shape(&before),
        tree_shape(&after),
        "{}: the formatted text means something else:\n{text}",
        source.name()
    );
    let again = format(&formatted).unwrap();
    assert!(
        again == text,
        "{}: formatting is not idempotent:\n--- once\n{text}\n--- twice\n{again}",
        source.name()
    );
    formatted
}

/// Which rules have an id of their own (the others are named after their
/// line, which formatting may move).
fn explicit_ids(sources: &[Source]) -> Vec<bool> {
    sources
        .iter()
        .flat_map(|s| parsed(s).items)
        .filter_map(|item| match item {
            Item::Rule(r) => Some(r.id.is_some()),
            _ => None,
        })
        .collect()
}

/// The two rule sets compile alike and treat every event alike.
fn assert_same_behaviour(before: &[Source], after: &[Source], options: &Options, events: &[Value]) {
    let (a, b) = (compile_with(before, options), compile_with(after, options));
    let codes = |c: &Compilation| -> Vec<(&str, String)> {
        c.diagnostics
            .iter()
            .map(|d| (d.code, d.message.clone()))
            .collect()
    };
    assert_eq!(codes(&a), codes(&b), "diagnostics differ");
    let (Some(a), Some(b)) = (a.rules, b.rules) else {
        return;
    };
    assert_eq!(a.len(), b.len());
    let explicit = explicit_ids(before);
    for (i, (ra, rb)) in a.rules().iter().zip(b.rules()).enumerate() {
        if explicit[i] {
            assert_eq!(ra.info.id, rb.info.id);
        }
        assert_eq!(ra.info.description, rb.info.description);
        assert_eq!(ra.info.severity, rb.info.severity);
        assert_eq!(ra.info.tags, rb.info.tags);
        assert_eq!(ra.info.techniques, rb.info.techniques);
        assert_eq!(ra.info.references, rb.info.references);
        assert_eq!(ra.info.title, rb.info.title);
        assert_eq!(ra.info.dedup, rb.info.dedup);
        assert_eq!(ra.info.dedup_window, rb.info.dedup_window);
    }
    let (mut ea, mut eb) = (Evaluation::default(), Evaluation::default());
    for event in events {
        a.evaluate(event, &mut ea);
        b.evaluate(event, &mut eb);
        assert_eq!(ea.matched, eb.matched, "rules matched differ on {event}");
        for (i, &rule) in ea.matched.iter().enumerate() {
            if explicit[rule] {
                assert_eq!(ea.enrichment.rules[i], eb.enrichment.rules[i]);
            }
        }
        ea.enrichment.rules.clear();
        eb.enrichment.rules.clear();
        assert_eq!(
            ea.enrichment, eb.enrichment,
            "enrichment differs on {event}"
        );
    }
}

/// The comments of `text`, each found once and in order in `formatted`.
fn assert_comments_kept(comments: &[String], formatted: &str) {
    let mut from = 0;
    for c in comments {
        assert_eq!(
            formatted.matches(c.as_str()).count(),
            1,
            "comment {c:?} is not in the output exactly once:\n{formatted}"
        );
        let at = formatted[from..]
            .find(c.as_str())
            .unwrap_or_else(|| panic!("comment {c:?} moved before another:\n{formatted}"));
        from += at + c.len();
    }
}

// ---- Events -------------------------------------------------------------------

/// The CloudTrail events of the panther corpus, and a few made to meet the
/// generated rules.
fn corpus() -> &'static [Value] {
    static EVENTS: OnceLock<Vec<Value>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let path = repo().join("tests/fixtures/corpus/cloudtrail/panther-analysis-tests/events_only.ndjson");
        let mut events: Vec<Value> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        events.extend([
            json!({"eventName": "a#b", "eventSource": "iam.amazonaws.com", "readOnly": false,
                   "userIdentity": {"type": "Root", "userName": "root", "accountId": "123456789012"},
                   "recipientAccountId": "210987654321", "sourceIPAddress": "10.1.2.3",
                   "eventTime": "2019-01-05T13:00:00Z", "xpriority": "HIGH"}),
            json!({"eventName": "quote\"d", "eventSource": "s3.amazonaws.com", "errorCode": "AccessDenied",
                   "userIdentity": {"type": "IAMUser", "userName": "bob", "arn": "arn:aws:sts::1:assumed-role/x"},
                   "requestParameters": {"userName": "bob", "bucketName": "alpha"},
                   "resources": [{"type": "AWS::S3::Bucket", "ARN": "arn:1", "accountId": "123456789012"}],
                   "eventTime": "2020-06-01T09:30:00Z", "awsRegion": "us-west-2", "eventVersion": 1.08}),
            json!({"eventName": "tab\there\u{e9}", "userAgent": "AWS-CLI/2.0", "additionalEventData": {"MFAUsed": "No"},
                   "responseElements": {"ConsoleLogin": "Failure"}, "eventTime": "2019-03-02T08:00:00Z"}),
        ]);
        events
    })
}

// ---- Random rule files --------------------------------------------------------

/// A token of generated rules text. `glued` tokens follow the previous one
/// with no space (`.country_code` after `geoip(...)`); a token `]` or `)`
/// with `comma` may take a trailing comma before it; a token with
/// `new_line` starts a line (one-line rules: their id is their line).
#[derive(Debug, Clone)]
struct Tok {
    text: String,
    glued: bool,
    comma: bool,
    new_line: bool,
}

/// Splits `markup` into tokens: `|` separates tokens, `~` glues one to the
/// previous, `^` starts a line, `]L` and `)C` close a list or a call (a
/// trailing comma may come before them).
fn toks(markup: &str) -> Vec<Tok> {
    markup
        .split('|')
        .map(|t| {
            let (glued, t) = t.strip_prefix('~').map_or((false, t), |t| (true, t));
            let (new_line, t) = t.strip_prefix('^').map_or((false, t), |t| (true, t));
            let (text, comma) = match t {
                "]L" => ("]", true),
                ")C" => (")", true),
                t => (t, false),
            };
            Tok {
                text: text.to_string(),
                glued,
                comma,
                new_line,
            }
        })
        .collect()
}

/// Declarations every generated file has, so that its tests compile.
const DECLARATIONS: &[&str] = &[
    r#"list|svc|=|[|"iam.amazonaws.com"|,|"s3.amazonaws.com"|]L"#,
    r#"list|nets|=|[|"10.0.0.0/8"|,|"192.0.2.0/24"|,|"::ffff:203.0.113.0/120"|]L"#,
    r#"list|people|=|i[|"Alice"|,|"john.developer"|,|"ROOT"|]L"#,
    r#"list|offices|=|file|"offices.csv"|column|cidr"#,
    r#"table|users|=|file|"users.csv"|key|"user""#,
    r#"schedule|office|=|"Mon-Fri 09:00-18:00"|zone|"America/New_York""#,
    r#"calendar|freeze|=|[|"2019-01-01..2019-01-31"|,|"2020-06-01T09:00..2020-06-01T10:00"|]L|zone|"UTC""#,
];

/// Tests that compile, on fields the corpus has.
const TESTS: &[&str] = &[
    r#"eventName|==|"ConsoleLogin""#,
    r#"eventName|!=|"AssumeRole""#,
    r#"eventSource|==|"iam.amazonaws.com""#,
    r#"eventSource|in|svc"#,
    r#"eventName|in|[|"CreateUser"|,|"GetObject"|,|"PutBucketPolicy"|]L"#,
    r#"eventName|in|i[|"createuser"|,|"assumerole"|]L"#,
    r#"eventName|not|in|[|"Decrypt"|]L"#,
    r#"eventName|like|"Put*""#,
    r#"eventName|not|like|"Get?bject""#,
    r#"eventName|matches|r"^[CD]e[a-z]+[A-Z]\w*""#,
    r#"userAgent|matches|ir"aws-cli/2\.""#,
    r#"eventName|startswith|"Describe""#,
    r#"eventName|endswith|[|"Policy"|,|"Acl"|]L"#,
    r#"userIdentity.arn|contains|i":assumed-role/""#,
    r#"sourceIPAddress|within|nets"#,
    r#"sourceIPAddress|not|within|[|"10.0.0.0/8"|,|"::/0"|]L"#,
    r#"sourceIPAddress|within|offices"#,
    r#"errorCode|exists"#,
    r#"errorCode|missing"#,
    r#"userIdentity.type|==|"Root""#,
    r#"readOnly|==|true"#,
    r#"readOnly|==|false"#,
    r#"any|resources[].type|==|"AWS::S3::Bucket""#,
    r#"all|resources[].accountId|==|"123456789012""#,
    r#"resources[0].ARN|exists"#,
    r#"requestParameters."bucketName"|startswith|"a""#,
    r#"awsRegion|>=|"us-east-2""#,
    r#"eventVersion|>|1.05"#,
    r#"eventVersion|<=|-1.5e3"#,
    r#"xpriority|>=|HIGH"#,
    r#"additionalEventData.MFAUsed|==|"No""#,
    r#"actor.type|not|in|[|"AWSService"|]L"#,
    r#"actor.user|in|people"#,
    r#"geoip(|sourceIPAddress|)C|~.country_code|==|"US""#,
    r#"hour(|eventTime|,|"UTC"|)C|>=|9"#,
    r#"weekday(|eventTime|,|"America/New_York"|)C|in|[|"Sat"|,|"Sun"|]L"#,
    r#"lower(|eventName|)C|==|"consolelogin""#,
    r#"concat(|eventSource|,|":"|,|eventName|)C|==|"s3.amazonaws.com:GetObject""#,
    r#"coalesce(|userIdentity.userName|,|actor.name|)C|==|"root""#,
    r#"users[|actor.user|]|~.team|==|"platform""#,
    r#"users[|lower(|actor.user|)C|]|exists"#,
    r#"eventTime|within|office"#,
    r#"eventTime|not|within|freeze"#,
    r#"userIdentity.userName|==|requestParameters.userName"#,
    r#"recipientAccountId|!=|userIdentity.accountId"#,
    r#"eventName|==|"a#b""#,
    r#"eventName|==|"quote\"d""#,
    r#"eventName|==|"tab\there\u{e9}""#,
    r#"responseElements.ConsoleLogin|==|"Failure""#,
    r#"userIdentity.arn|not|endswith|concat(|"/"|,|requestParameters.userName|)C"#,
    r#"requestParameters.**|contains|"alpha""#,
    r#"all|requestParameters.**.bucketName|!=|"x""#,
];

const ACTIONS: &[&str] = &[
    r#"set|xpriority|=|HIGH"#,
    r#"set|xpriority|=|LOW"#,
    r#"set|xpriority|=|INFO"#,
    r#"set|xowner|=|"team-a""#,
    r#"set|xowner|=|eventSource"#,
    r#"set|xn|=|42"#,
    r#"set|xb|=|true"#,
    r#"set|xowner|=|null"#,
    r#"set|xtypes|=|resources[].type"#,
    r#"set|xcountry|=|geoip(|sourceIPAddress|)C|~.country_code"#,
    r#"set|xteam|=|users[|actor.user|]|~.team"#,
    r#"set|xwho|=|actor.name"#,
    r#"set|xcall|=|concat(|eventSource|,|" "|,|eventName|)C"#,
    r#"overwrite|userAgent|=|"redacted""#,
    r#"overwrite|resources[].ARN|=|"arn:x""#,
    r#"overwrite|requestParameters."bucketName"|=|null"#,
    r#"tag|"a""#,
    r#"tag|"b"|,|"c#d""#,
    r#"drop"#,
];

const STRINGS: &[&str] = &[
    r#""plain""#,
    r#""with # hash""#,
    r#""esc \" \\ \n \u{1F600}""#,
    r#"r"raw \d""#,
];

/// Templates of `title` and `dedup` lines.
const TEMPLATES: &[&str] = &[
    r#""Root sign-in from {sourceIPAddress} ({actor.name})""#,
    r#""{userIdentity.arn}:{requestParameters.bucketName}""#,
    r#""{{literal}} \"{resources[0].ARN}\" # not a comment""#,
    r#"r"{eventName}\{actor.account}""#,
];

/// A condition as generated: parentheses are written where `Paren` says,
/// and wherever the meaning needs them.
#[derive(Debug, Clone)]
enum Cond {
    Test(usize),
    Macro(usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Paren(Box<Cond>),
    /// `any eN in resources[] (eN.type == ... and INNER)`, or `all`.
    Each(bool, Box<Cond>),
}

fn cond(macros: usize) -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        4 => (0..TESTS.len()).prop_map(Cond::Test),
        1 => (0..macros.max(1)).prop_map(move |m| if macros == 0 { Cond::Test(m) } else { Cond::Macro(m) }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            2 => prop::collection::vec(inner.clone(), 2..5).prop_map(Cond::And),
            2 => prop::collection::vec(inner.clone(), 2..5).prop_map(Cond::Or),
            1 => inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            2 => inner.clone().prop_map(|c| Cond::Paren(Box::new(c))),
            1 => (any::<bool>(), inner).prop_map(|(all, c)| Cond::Each(all, Box::new(c))),
        ]
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Parent {
    Top,
    And,
    Or,
    Not,
}

fn cond_toks(c: &Cond, parent: Parent, out: &mut Vec<Tok>) {
    bound_cond_toks(c, parent, 0, out)
}

/// `bound`: how many `any eN in` are open around `c` (each binds its own name).
fn bound_cond_toks(c: &Cond, parent: Parent, bound: usize, out: &mut Vec<Tok>) {
    let cond_toks =
        |c: &Cond, parent: Parent, out: &mut Vec<Tok>| bound_cond_toks(c, parent, bound, out);
    let chain = |parts: &[Cond], op: &str, me: Parent, out: &mut Vec<Tok>| {
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.extend(toks(op));
            }
            bound_cond_toks(p, me, bound, out);
        }
    };
    match c {
        Cond::Test(i) => out.extend(toks(TESTS[*i])),
        Cond::Macro(i) => out.extend(toks(&format!("m{i}"))),
        Cond::Not(inner) => {
            out.extend(toks("not"));
            cond_toks(inner, Parent::Not, out);
        }
        Cond::Paren(inner) => {
            out.extend(toks("("));
            cond_toks(inner, Parent::Top, out);
            out.extend(toks(")"));
        }
        Cond::And(parts) if parent == Parent::Not => {
            out.extend(toks("("));
            chain(parts, "and", Parent::And, out);
            out.extend(toks(")"));
        }
        Cond::And(parts) => chain(parts, "and", Parent::And, out),
        Cond::Or(parts) if matches!(parent, Parent::Not | Parent::And) => {
            out.extend(toks("("));
            chain(parts, "or", Parent::Or, out);
            out.extend(toks(")"));
        }
        Cond::Or(parts) => chain(parts, "or", Parent::Or, out),
        Cond::Each(all, inner) => {
            let q = if *all { "all" } else { "any" };
            out.extend(toks(&format!(
                "{q}|e{bound}|in|resources[]|(|e{bound}.type|!=|\"AWS::S3::Object\"|and"
            )));
            bound_cond_toks(inner, Parent::And, bound + 1, out);
            out.extend(toks(")"));
        }
    }
}

#[derive(Debug, Clone)]
enum GenItem {
    Declaration(usize),
    Macro(Cond),
    Inline(Cond, Vec<usize>),
    /// Metadata lines (0 description, 1 severity, 2 tags, 3 allow, 4 technique,
    /// 5 reference, 6 title, 7 dedup, 8 dedup_window, with a choice of
    /// value), the condition, the actions.
    Block(Vec<(u8, usize)>, Cond, Vec<usize>),
}

/// Items in file order: the declarations, macros that use only earlier
/// macros, and rules.
fn items() -> impl Strategy<Value = Vec<GenItem>> {
    (
        prop::collection::vec(0..DECLARATIONS.len(), 0..=DECLARATIONS.len()),
        0usize..4,
    )
        .prop_flat_map(|(mut decls, macros)| {
            decls.sort_unstable();
            decls.dedup();
            // Every test's names must be declared: declare them all, in a
            // random order, some before and some after the rules.
            let rest: Vec<usize> = (0..DECLARATIONS.len())
                .filter(|d| !decls.contains(d))
                .collect();
            let macro_defs: Vec<_> = (0..macros)
                .map(|m| cond(m).prop_map(GenItem::Macro).boxed())
                .collect();
            let rule = prop_oneof![
                (cond(macros), prop::collection::vec(0..ACTIONS.len(), 0..3))
                    .prop_map(|(c, a)| GenItem::Inline(c, a)),
                (
                    prop::collection::vec((0u8..9, 0usize..4), 0..5),
                    cond(macros),
                    prop::collection::vec(0..ACTIONS.len(), 0..4),
                )
                    .prop_map(|(m, c, a)| GenItem::Block(m, c, a)),
            ];
            (macro_defs, prop::collection::vec(rule, 1..6)).prop_map(move |(macro_defs, rules)| {
                let mut out: Vec<GenItem> =
                    decls.iter().map(|&d| GenItem::Declaration(d)).collect();
                out.extend(macro_defs);
                out.extend(rules);
                out.extend(rest.iter().map(|&d| GenItem::Declaration(d)));
                out
            })
        })
}

fn item_toks(item: &GenItem, index: usize, macros_seen: &mut usize) -> Vec<Tok> {
    let mut out = Vec::new();
    let actions = |out: &mut Vec<Tok>, actions: &[usize]| {
        for &a in actions {
            out.extend(toks(ACTIONS[a]));
        }
    };
    match item {
        GenItem::Declaration(d) => out.extend(toks(DECLARATIONS[*d])),
        GenItem::Macro(c) => {
            out.extend(toks(&format!("macro|m{macros_seen}|=")));
            *macros_seen += 1;
            cond_toks(c, Parent::Top, &mut out);
        }
        GenItem::Inline(c, a) => {
            out.extend(toks("^when"));
            cond_toks(c, Parent::Top, &mut out);
            actions(&mut out, a);
        }
        GenItem::Block(meta, c, a) => {
            out.extend(toks(&format!("rule|team/r-{index}:v1.0|{{")));
            for &(kind, choice) in meta {
                match kind {
                    0 => out.extend(toks(&format!("description|{}", STRINGS[choice]))),
                    1 => out.extend(toks(&format!(
                        "severity|{}",
                        ["INFO", "MEDIUM", "HIGH", "CRITICAL"][choice]
                    ))),
                    2 => out.extend(toks(&format!("tags|[|\"t{choice}\"|,|\"u\"|]L"))),
                    3 => out.extend(toks(&format!("allow|W30{}|\"why {choice}\"", choice + 2))),
                    4 => out.extend(toks(&format!(
                        "technique|{}",
                        ["\"T1098\"", "\"T1098.001\"", "\"T1562.008\"", "\"T1190\""][choice]
                    ))),
                    5 => out.extend(toks(&format!(
                        "reference|\"https://example.com/r{choice}\""
                    ))),
                    6 => out.extend(toks(&format!("title|{}", TEMPLATES[choice]))),
                    7 => out.extend(toks(&format!("dedup|{}", TEMPLATES[3 - choice]))),
                    _ => out.extend(toks(&format!(
                        "dedup_window|{}",
                        ["30m", "1h", "7d", "90s"][choice]
                    ))),
                }
            }
            out.extend(toks("when"));
            cond_toks(c, Parent::Top, &mut out);
            actions(&mut out, a);
            out.extend(toks("}"));
        }
    }
    out
}

/// What goes between two tokens: `required` when both are words.
#[derive(Debug, Clone)]
enum Gap {
    None,
    Space,
    Spaces,
    Newline,
    Blank,
    Comment(String),
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        3 => Just(Gap::None),
        6 => Just(Gap::Space),
        1 => Just(Gap::Spaces),
        3 => Just(Gap::Newline),
        1 => Just(Gap::Blank),
        1 => "[ a-z#\"\\\\é]{0,12}".prop_map(Gap::Comment),
    ]
}

/// Writes the tokens with the gaps between them; returns the text and its
/// comments, each made unique by a number.
fn write(tokens: &[Tok], gaps: &[Gap], trailing_commas: &[bool]) -> (String, Vec<String>) {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut text = String::new();
    let mut comments = Vec::new();
    let mut prev: Option<&Tok> = None;
    for (i, t) in tokens.iter().enumerate() {
        if t.comma && trailing_commas[i % trailing_commas.len()] {
            let after_open = prev.is_some_and(|p| p.text.ends_with(['[', '(']));
            if !after_open && prev.is_none_or(|p| p.text != ",") {
                text.push(',');
            }
        }
        if !t.glued {
            let word_pair = text.ends_with(is_word) && t.text.starts_with(is_word);
            let g = &gaps[i % gaps.len()];
            match g {
                Gap::None if word_pair => text.push(' '),
                Gap::None => {}
                Gap::Space => text.push(' '),
                Gap::Spaces => text.push_str(" \t "),
                Gap::Newline => text.push_str("\n  "),
                Gap::Blank => text.push_str("\n\n"),
                Gap::Comment(body) => {
                    let comment = format!("#~{}~{}", comments.len(), body.trim_end());
                    text.push(' ');
                    text.push_str(&comment);
                    text.push('\n');
                    comments.push(comment);
                }
            }
            if t.new_line && !text.trim_end_matches([' ', '\t']).ends_with('\n') {
                text.push('\n');
            }
        }
        text.push_str(&t.text);
        prev = Some(t);
    }
    if let Some(Gap::Comment(body)) = gaps.last() {
        let comment = format!("#~{}~{}", comments.len(), body.trim_end());
        text.push('\n');
        text.push_str(&comment);
        comments.push(comment);
    }
    (text, comments)
}

fn options() -> Options {
    let rows = |v: Value| -> Vec<Map<String, Value>> { serde_json::from_value(v).unwrap() };
    Options {
        table_rows: HashMap::from([
            (
                "users".to_string(),
                rows(
                    json!([{"user": "john.developer", "team": "platform"}, {"user": "bob", "team": "payments"}]),
                ),
            ),
            (
                "offices".to_string(),
                rows(json!([{"cidr": "203.0.113.0/24"}, {"cidr": "10.0.0.0/8"}])),
            ),
        ]),
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn formatting_random_rules_keeps_their_meaning_and_comments(
        items in items(),
        gaps in prop::collection::vec(gap(), 1..64),
        trailing_commas in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let mut tokens = Vec::new();
        let mut macros = 0;
        for (i, item) in items.iter().enumerate() {
            tokens.extend(item_toks(item, i, &mut macros));
        }
        let (text, comments) = write(&tokens, &gaps, &trailing_commas);
        let source = Source::new("gen.rules", text.as_str());
        let original = compile_with(std::slice::from_ref(&source), &options());
        prop_assert!(
            !original.has_errors(),
            "the generator wrote rules with errors: {:?}\n{text}",
            original.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        );
        let formatted = format_checked(&source);
        assert_comments_kept(&comments, formatted.text());
        let events: Vec<Value> = corpus().iter().step_by(4).cloned().collect();
        assert_same_behaviour(&[source], &[formatted], &options(), &events);
    }
}

// ---- The shipped rules ----------------------------------------------------------

/// The `.rules` files under `dir`, in load order.
fn rules_files(dir: &Path) -> Vec<Source> {
    ctrules_compiler::read_rules(&[dir.to_path_buf()]).unwrap()
}

/// The comments of a text with no string holding a `#`: enough for the
/// shipped files, whose strings have none.
fn plain_comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].trim_end().to_string()))
        .collect()
}

fn check_files(sources: &[Source], options: &Options) -> Vec<Source> {
    let formatted: Vec<Source> = sources.iter().map(format_checked).collect();
    for (s, f) in sources.iter().zip(&formatted) {
        assert!(
            !s.text().contains("\"#") && !s.text().contains("#\""),
            "{}: plain_comments cannot tell a `#` in a string from a comment",
            s.name()
        );
        assert_eq!(
            plain_comments(s.text()),
            plain_comments(f.text()),
            "{}",
            s.name()
        );
    }
    assert_same_behaviour(sources, &formatted, options, corpus());
    formatted
}

#[test]
fn the_shipped_rules_are_canonical_and_keep_their_meaning() {
    let dir = repo().join("rules.d");
    let sources = rules_files(&dir);
    assert!(sources.len() >= 5);
    let geoip =
        GeoIp::open(&[repo().join("tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb")]).unwrap();
    let options = Options {
        rules_root: Some(dir),
        geoip: Some(Arc::new(geoip)),
        ..Options::default()
    };
    let formatted = check_files(&sources, &options);
    for (s, f) in sources.iter().zip(&formatted) {
        assert!(
            s.text() == f.text(),
            "{} is not canonical: run `ctrules fmt rules.d`",
            s.name()
        );
    }
}

#[test]
fn the_fixture_rules_are_canonical_and_keep_their_meaning() {
    let sources = rules_files(&repo().join("tests/fixtures/rules"));
    assert!(!sources.is_empty());
    let formatted = check_files(&sources, &Options::default());
    for (s, f) in sources.iter().zip(&formatted) {
        assert!(s.text() == f.text(), "{} is not canonical", s.name());
    }
}

/// The golden diagnostic cases are kept as written (their expected output
/// names lines and columns), but those that parse must format soundly, and
/// raise the same diagnostics once formatted.
#[test]
fn the_golden_cases_that_parse_format_soundly() {
    let dir = repo().join("tests/golden/diagnostics");
    let mut formatted_any = 0;
    for source in rules_files(&dir) {
        if parse(&source).is_err() {
            continue;
        }
        check_files(std::slice::from_ref(&source), &Options::default());
        formatted_any += 1;
    }
    assert!(
        formatted_any >= 20,
        "only {formatted_any} golden cases parse"
    );
}

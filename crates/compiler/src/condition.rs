//! Compiled conditions and their evaluation.
//!
//! A condition is a tree of tests over pre-resolved field paths. Literals are
//! converted once: strings to compare ignoring case are folded at compile
//! time, regular expressions and CIDR blocks are compiled, lists become hash
//! sets. Nothing of the source text is looked at per event.
//!
//! Semantics (docs/language.md, "Missing fields, null and case"):
//! - null and an absent field are the same: no value;
//! - a test on no value is false; its negation (`!=`, `not in`, ...) is true;
//! - a path with `[]` reaches many values: the test holds if any of them
//!   passes (or, with `all`, if there is at least one and every one passes).

use crate::term::{KeyedCalendars, Scope, Shared, Term};
use ctrules_context::time::{parse_event_time, Calendar, Schedule};
use ctrules_lang::ast::Priority;
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;
use std::collections::HashSet;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub enum Cond {
    Const(bool),
    And(Box<[Cond]>),
    Or(Box<[Cond]>),
    Not(Box<Cond>),
    /// The term reaches at least one value.
    Exists(Term),
    /// Values reached by `path` pass `matcher`.
    Test {
        path: Term,
        all: bool,
        matcher: Matcher,
    },
    /// Two terms compared: some value of `left` and some value of `right` are `op`-related.
    Fields {
        left: Term,
        right: Term,
        op: Ordering,
    },
    /// `userIdentity.arn endswith concat("/", requestParameters.userName)`:
    /// a value of `left` (any, or with `all` every one) is a string that
    /// passes `op` against some string value of `right`, computed per record.
    Text {
        left: Term,
        all: bool,
        right: Term,
        op: TextOp,
    },
    /// `any s in resources[] (...)`: `body` holds with the name bound to
    /// some value of `over` (with `all`: to at least one and every one).
    ForEach {
        over: Term,
        all: bool,
        body: Box<Cond>,
    },
    /// `eventTime within vacations[actor.user]`: the instant falls in the
    /// calendar of some key.
    WithinKeyed {
        time: Term,
        all: bool,
        calendars: Shared<KeyedCalendars>,
        key: Term,
    },
}

/// `==`, `<`, `<=`, `>`, `>=` (`!=` is `not ==`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The string operators that take a value computed from the record on
/// their right: the pattern of `like`, the text of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    StartsWith,
    EndsWith,
    Contains,
    Like,
}

impl TextOp {
    pub fn of(op: ctrules_lang::ast::Op) -> Option<TextOp> {
        use ctrules_lang::ast::Op;
        match op {
            Op::StartsWith => Some(TextOp::StartsWith),
            Op::EndsWith => Some(TextOp::EndsWith),
            Op::Contains => Some(TextOp::Contains),
            Op::Like => Some(TextOp::Like),
            _ => None,
        }
    }

    /// Whether `value` passes against `text` (for `like`, a glob).
    pub fn test(self, value: &str, text: &str) -> bool {
        match self {
            TextOp::StartsWith => value.starts_with(text),
            TextOp::EndsWith => value.ends_with(text),
            TextOp::Contains => value.contains(text),
            TextOp::Like => glob_match(text, value),
        }
    }
}

/// A string to compare with: as written, or folded when it ignores case.
#[derive(Debug, Clone)]
pub struct Text {
    pub text: Box<str>,
    pub fold: bool,
}

#[derive(Debug, Clone)]
pub enum Scalar {
    Str(Text),
    /// Compared by rank (INFO < LOW < MEDIUM < HIGH < CRITICAL) with values that name a priority.
    Priority(Priority),
    Num(f64),
    Bool(bool),
}

/// A test of one value.
#[derive(Debug, Clone)]
pub enum Matcher {
    Compare(Ordering, Scalar),
    In(Box<Set>),
    StartsWith(Box<[Text]>),
    EndsWith(Box<[Text]>),
    Contains(Box<[Text]>),
    /// Glob patterns as anchored regexes, each with whether it ignores case
    /// (then the pattern was folded, and the value is folded before matching).
    Like(Box<[(Regex, bool)]>),
    Matches(Box<[Regex]>),
    Within(Box<[IpNet]>),
    /// An instant (`eventTime`) inside working hours.
    Schedule(Shared<Schedule>),
    /// An instant inside a calendar's dates.
    Calendar(Shared<Calendar>),
}

/// The members of a list, split by how they compare.
#[derive(Debug, Clone, Default)]
pub struct Set {
    pub exact: HashSet<Box<str>>,
    pub folded: HashSet<Box<str>>,
    pub numbers: Vec<f64>,
    pub bools: Vec<bool>,
}

/// Unicode case folding, the form case-insensitive strings compare in.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        caseless::default_case_fold_str(s)
    }
}

impl Cond {
    /// How many levels of `and`, `or` and `not` it nests (a test is 1).
    /// Walked with a stack of its own, so any depth is safe to measure.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(self, 1)];
        while let Some((cond, depth)) = pending.pop() {
            deepest = deepest.max(depth);
            match cond {
                Cond::And(parts) | Cond::Or(parts) => {
                    pending.extend(parts.iter().map(|p| (p, depth + 1)));
                }
                Cond::Not(inner) => pending.push((inner, depth + 1)),
                Cond::ForEach { body, .. } => pending.push((body, depth + 1)),
                _ => {}
            }
        }
        deepest
    }

    pub fn eval(&self, record: &Scope<'_>) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::And(parts) => parts.iter().all(|c| c.eval(record)),
            Cond::Or(parts) => parts.iter().any(|c| c.eval(record)),
            Cond::Not(c) => !c.eval(record),
            Cond::Exists(path) => !path.visit(record, &mut |_| false),
            Cond::ForEach { over, all, body } => quantified(over, record, *all, |element| {
                body.eval(&record.bind(element))
            }),
            Cond::Test { path, all, matcher } => {
                quantified(path, record, *all, |v| matcher.matches(v))
            }
            Cond::Fields { left, right, op } => {
                let mut hit = false;
                left.visit(record, &mut |l| {
                    right.visit(record, &mut |r| {
                        hit = compare_values(l, r, *op);
                        !hit
                    });
                    !hit
                });
                hit
            }
            Cond::Text {
                left,
                all,
                right,
                op,
            } => {
                let mut texts: Option<Vec<String>> = None;
                quantified(left, record, *all, |v| {
                    let Value::String(value) = v else {
                        return false;
                    };
                    // The right side is read once, on the first string on the left.
                    let texts = texts.get_or_insert_with(|| {
                        let mut out = Vec::new();
                        right.visit(record, &mut |r| {
                            if let Value::String(s) = r {
                                out.push(s.clone());
                            }
                            true
                        });
                        out
                    });
                    texts.iter().any(|t| op.test(value, t))
                })
            }
            Cond::WithinKeyed {
                time,
                all,
                calendars,
                key,
            } => {
                let mut keys = Vec::new();
                key.visit(record, &mut |k| {
                    keys.extend(crate::term::text_of(k));
                    true
                });
                quantified(time, record, *all, |v| {
                    instant(v).is_some_and(|t| {
                        keys.iter()
                            .any(|k| calendars.get(k.as_str()).is_some_and(|c| c.contains(t)))
                    })
                })
            }
        }
    }
}

/// Whether the values `term` reaches pass: any of them, or (with `all`) at
/// least one and every one. Stops at the first value that decides.
fn quantified(
    term: &Term,
    scope: &Scope<'_>,
    all: bool,
    mut pass: impl FnMut(&Value) -> bool,
) -> bool {
    let mut seen = false;
    let mut decided = false;
    term.visit(scope, &mut |v| {
        seen = true;
        // `any` is decided by a pass, `all` by a failure.
        decided = pass(v) != all;
        !decided
    });
    if all {
        seen && !decided
    } else {
        decided
    }
}

impl Text {
    pub fn new(text: &str, ignore_case: bool) -> Text {
        let text = if ignore_case {
            fold(text)
        } else {
            text.to_string()
        };
        Text {
            text: text.into(),
            fold: ignore_case,
        }
    }

    /// Applies `test` to the value (folded if this text ignores case) and this text.
    fn with(&self, value: &str, test: impl Fn(&str, &str) -> bool) -> bool {
        if self.fold {
            test(&fold(value), &self.text)
        } else {
            test(value, &self.text)
        }
    }
}

fn order(o: std::cmp::Ordering, op: Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Ordering::Eq => o == Equal,
        Ordering::Lt => o == Less,
        Ordering::Le => o != Greater,
        Ordering::Gt => o == Greater,
        Ordering::Ge => o != Less,
    }
}

fn compare_values(l: &Value, r: &Value, op: Ordering) -> bool {
    match (l, r) {
        (Value::String(a), Value::String(b)) => order(a.as_str().cmp(b.as_str()), op),
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| order(o, op)),
            _ => false,
        },
        (Value::Bool(a), Value::Bool(b)) => op == Ordering::Eq && a == b,
        (a, b) if op == Ordering::Eq && (a.is_object() || a.is_array()) => a == b,
        _ => false,
    }
}

impl Matcher {
    pub fn matches(&self, value: &Value) -> bool {
        match self {
            Matcher::Compare(op, scalar) => match (scalar, value) {
                (Scalar::Str(t), Value::String(s)) => t.with(s, |v, t| order(v.cmp(t), *op)),
                (Scalar::Priority(p), Value::String(s)) => {
                    Priority::parse(s).is_some_and(|v| order(v.cmp(p), *op))
                }
                (Scalar::Num(n), Value::Number(v)) => v
                    .as_f64()
                    .and_then(|v| v.partial_cmp(n))
                    .is_some_and(|o| order(o, *op)),
                (Scalar::Bool(b), Value::Bool(v)) => *op == Ordering::Eq && b == v,
                _ => false,
            },
            Matcher::In(set) => match value {
                Value::String(s) => {
                    set.exact.contains(s.as_str())
                        || (!set.folded.is_empty() && set.folded.contains(fold(s).as_str()))
                }
                Value::Number(n) => n.as_f64().is_some_and(|n| set.numbers.contains(&n)),
                Value::Bool(b) => set.bools.contains(b),
                _ => false,
            },
            Matcher::StartsWith(texts) => str_any(value, texts, |v, t| v.starts_with(t)),
            Matcher::EndsWith(texts) => str_any(value, texts, |v, t| v.ends_with(t)),
            Matcher::Contains(texts) => str_any(value, texts, |v, t| v.contains(t)),
            Matcher::Like(patterns) => match value {
                Value::String(s) => {
                    let mut folded: Option<String> = None;
                    patterns.iter().any(|(p, ignore_case)| {
                        if *ignore_case {
                            p.is_match(folded.get_or_insert_with(|| fold(s)))
                        } else {
                            p.is_match(s)
                        }
                    })
                }
                _ => false,
            },
            Matcher::Matches(patterns) => match value {
                Value::String(s) => patterns.iter().any(|p| p.is_match(s)),
                _ => false,
            },
            Matcher::Within(nets) => match value {
                Value::String(s) => {
                    parse_ip(s).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
                }
                _ => false,
            },
            Matcher::Schedule(schedule) => instant(value).is_some_and(|t| schedule.contains(t)),
            Matcher::Calendar(calendar) => instant(value).is_some_and(|t| calendar.contains(t)),
        }
    }
}

fn instant(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value.as_str().and_then(parse_event_time)
}

/// True when `test` holds for the value and any of `texts`; the value is
/// folded at most once, however many texts ignore case.
fn str_any(value: &Value, texts: &[Text], test: impl Fn(&str, &str) -> bool) -> bool {
    let Value::String(s) = value else {
        return false;
    };
    let mut folded: Option<String> = None;
    texts.iter().any(|t| {
        if t.fold {
            test(folded.get_or_insert_with(|| fold(s)), &t.text)
        } else {
            test(s, &t.text)
        }
    })
}

/// An IP address as CloudTrail writes it; IPv4-mapped IPv6 becomes IPv4.
/// Anything else ("AWS Internal", "ec2.amazonaws.com") is no address.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    })
}

/// Whether `text` matches the glob `pattern` as a whole: `*` is any run of
/// characters, `?` one character, everything else itself. For patterns
/// known only per record (`like` a computed value), where compiling a regex
/// each time would cost far more. Linear backtracking on the last `*`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Translates a glob (`*` any run of characters, `?` one character) into an
/// anchored regular expression.
pub fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("(?s)^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

//! The spanned syntax tree of a `.rules` file.
//!
//! Every node that a diagnostic may point at carries a [`Span`]: byte offsets
//! into the source text. The tree is syntax only; names are resolved and types
//! checked by the compiler crate.

use crate::source::Span;

/// A node with the place in the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// One parsed `.rules` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesFile {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    List(ListDef),
    Macro(MacroDef),
    Rule(Rule),
}

/// `list NAME = [ ... ]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: Spanned<String>,
    pub list: Spanned<ListLit>,
    pub span: Span,
}

/// `macro NAME = CONDITION`: a named condition.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroDef {
    pub name: Spanned<String>,
    pub condition: Spanned<Expr>,
    pub span: Span,
}

/// A rule: the block form `rule ID { ... }` or the one-line form `when ... set ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `None` for the one-line form; the compiler names it after its file and line.
    pub id: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub severity: Option<Spanned<Priority>>,
    pub tags: Option<Spanned<ListLit>>,
    pub condition: Spanned<Expr>,
    pub actions: Vec<Spanned<Action>>,
    pub span: Span,
}

/// A boolean condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Spanned<Expr>>),
    Or(Vec<Spanned<Expr>>),
    Not(Box<Spanned<Expr>>),
    Test(Test),
    /// A reference to a macro by name.
    MacroRef(String),
}

/// A test of one field: `PATH exists`, `PATH missing`, or `PATH OP OPERAND`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub quantifier: Option<Spanned<Quantifier>>,
    pub path: Spanned<Path>,
    pub kind: TestKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    Exists,
    Missing,
    Compare {
        op: Spanned<Op>,
        /// `not in`, `not like`, ...: the negation of the whole test.
        negated: bool,
        rhs: Spanned<Operand>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Like,
    Matches,
    Within,
    StartsWith,
    EndsWith,
    Contains,
}

impl Op {
    /// The operator as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::Like => "like",
            Op::Matches => "matches",
            Op::Within => "within",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Contains => "contains",
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(Literal),
    List(ListLit),
    /// A field of the event, or (after `in`, `like`, `matches`, `within`, ...)
    /// the name of a list.
    Path(Path),
}

/// `[a, b, c]`, or `i[a, b, c]` where every string ignores case.
#[derive(Debug, Clone, PartialEq)]
pub struct ListLit {
    pub ignore_case: bool,
    pub items: Vec<Spanned<Literal>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(StrLit),
    Number(serde_json::Number),
    Bool(bool),
    Null,
    Priority(Priority),
}

impl Literal {
    /// What kind of literal this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "string",
            Literal::Number(_) => "number",
            Literal::Bool(_) => "boolean",
            Literal::Null => "null",
            Literal::Priority(_) => "priority",
        }
    }
}

/// A string literal. `ignore_case` is the `i` prefix, `raw` the `r` prefix
/// (kept so the formatter can write the string back as it was).
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub ignore_case: bool,
    pub raw: bool,
}

/// Priorities order LOW < MEDIUM < HIGH < CRITICAL; a field set to priorities
/// by several rules keeps the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "LOW" => Some(Priority::Low),
            "MEDIUM" => Some(Priority::Medium),
            "HIGH" => Some(Priority::High),
            "CRITICAL" => Some(Priority::Critical),
            _ => None,
        }
    }
}

/// A field path: `userIdentity.arn`, `resources[].type`, `resources[0].ARN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Field(String),
    /// `[]`: every element of an array.
    Each,
    /// `[N]`: one element of an array.
    Index(usize),
}

impl Path {
    /// The first field name (every path starts with one).
    pub fn root(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Field(f)) => f,
            _ => "",
        }
    }

    /// True for a single plain field such as `xpriority`.
    pub fn is_single_field(&self) -> bool {
        self.segments.len() == 1 && matches!(self.segments[0], Segment::Field(_))
    }

    /// True when the path fans out over array elements (`[]`).
    pub fn fans_out(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Each))
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Field(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_identifier(name) {
                        f.write_str(name)?;
                    } else {
                        write!(f, "\"{}\"", escape_string(name))?;
                    }
                }
                Segment::Each => f.write_str("[]")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// True when `s` can be written as a bare identifier.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escapes a string for writing between double quotes in a rules file.
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `set FIELD = VALUE`: add an enrichment field.
    Set {
        target: Spanned<Path>,
        value: Spanned<Value>,
    },
    /// `overwrite PATH = VALUE`: replace a field AWS wrote, said explicitly.
    Overwrite {
        target: Spanned<Path>,
        value: Spanned<Value>,
    },
    /// `tag "a", "b"`: add tags to the event's `xtags`.
    Tag(Vec<Spanned<String>>),
    /// `drop`: leave the event out of the output (counted in the summary).
    Drop,
}

/// The value of a `set` or `overwrite`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Literal(Literal),
    /// A value copied from the event.
    Path(Path),
}

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

// A file holds a few items, each parsed once: a rule's size costs nothing
// worth an indirection in every match on items.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    List(ListDef),
    Macro(MacroDef),
    Table(TableDef),
    Schedule(ScheduleDef),
    Calendar(CalendarDef),
    Rule(Rule),
}

impl Item {
    /// The name a list, macro, table, schedule or calendar declares.
    pub fn declared_name(&self) -> Option<&Spanned<String>> {
        match self {
            Item::List(d) => Some(&d.name),
            Item::Macro(d) => Some(&d.name),
            Item::Table(d) => Some(&d.name),
            Item::Schedule(d) => Some(&d.name),
            Item::Calendar(d) => Some(&d.name),
            Item::Rule(_) => None,
        }
    }
}

/// `list NAME = [ ... ]` or `list NAME = file "PATH" [column "C"]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: Spanned<String>,
    pub body: Spanned<ListBody>,
    pub span: Span,
}

/// The members of a list or the entries of a calendar: written out, or in a file.
#[derive(Debug, Clone, PartialEq)]
pub enum ListBody {
    Items(ListLit),
    File(FileSource),
}

/// `file "PATH" [key COLUMN] [column COLUMN]`: a table file beside the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSource {
    /// As written: relative to the rules file that declares it.
    pub path: Spanned<String>,
    pub key: Option<Spanned<String>>,
    pub column: Option<Spanned<String>>,
}

/// `table NAME = file "PATH" key COLUMN`: rows found by key.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub name: Spanned<String>,
    pub source: FileSource,
    pub span: Span,
}

/// `schedule NAME = "Mon-Fri 09:00-18:00" zone "America/New_York"`
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDef {
    pub name: Spanned<String>,
    pub spec: Spanned<StrLit>,
    pub zone: Spanned<String>,
    pub span: Span,
}

/// `calendar NAME = [...] zone "Z"` or `calendar NAME = file "PATH" [key COLUMN] zone "Z"`
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarDef {
    pub name: Spanned<String>,
    pub body: Spanned<ListBody>,
    pub zone: Spanned<String>,
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
    /// `allow W308 "why"` lines, in the order written.
    pub allows: Vec<Allow>,
    /// `technique "T1098.001"` lines (MITRE ATT&CK ids), in the order written;
    /// the compiler checks their shape.
    pub techniques: Vec<Spanned<String>>,
    /// `reference "https://..."` lines, in the order written.
    pub references: Vec<Spanned<String>>,
    /// `title "..."`: the template of the rule's alert titles, as written
    /// (the span is the string's); the compiler parses it.
    pub title: Option<Spanned<String>>,
    /// `dedup "..."`: the template of the rule's alert dedup keys.
    pub dedup: Option<Spanned<String>>,
    /// `dedup_window 30m`: the rule's alert window, in seconds.
    pub dedup_window: Option<Spanned<u64>>,
    pub condition: Spanned<Expr>,
    pub actions: Vec<Spanned<Action>>,
    pub span: Span,
}

/// `allow CODE "REASON"` in a block rule: the rule does not get warning CODE.
#[derive(Debug, Clone, PartialEq)]
pub struct Allow {
    /// The code as written (`W308`); the compiler checks it names a warning.
    pub code: Spanned<String>,
    /// Why the warning does not apply; required, but a missing one is the
    /// compiler's to report.
    pub reason: Option<Spanned<String>>,
    /// From the code to the end of the reason.
    pub span: Span,
}

/// A boolean condition.
// Tests are most nodes of a condition tree; boxing them would cost an
// allocation each for no gain, and make patterns over them clumsy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Spanned<Expr>>),
    Or(Vec<Spanned<Expr>>),
    Not(Box<Spanned<Expr>>),
    Test(Test),
    /// A reference to a macro by name.
    MacroRef(String),
    /// `any s in resources[] (s.type == "A" and s.ARN startswith "b")`.
    ForEach(Box<ForEach>),
}

/// `any NAME in TERM (CONDITION)` (or `all`): the condition holds for some
/// value `TERM` reaches (`all`: for at least one and every one), with NAME
/// standing for that value inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForEach {
    pub quantifier: Spanned<Quantifier>,
    /// The bound name.
    pub name: Spanned<String>,
    /// What it ranges over: a term that fans out (`resources[]`).
    pub over: Spanned<Term>,
    /// The condition inside the parentheses.
    pub body: Spanned<Expr>,
    /// The parentheses around the body.
    pub open: Span,
    pub close: Span,
}

/// A test of one value: `TERM exists`, `TERM missing`, or `TERM OP OPERAND`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub quantifier: Option<Spanned<Quantifier>>,
    pub subject: Spanned<Term>,
    pub kind: TestKind,
}

/// A value read from the event or derived from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A field of the event (`userIdentity.arn`), the derived `actor.name`,
    /// or, on the right of `in`, `within`, ..., the name of a list.
    Path(Path),
    /// `geoip(sourceIPAddress).country_code`: a function and a path into its result.
    Call(Call),
    /// `users[actor.user].team`: the rows of a table with that key, and a path into them.
    Lookup(Lookup),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Spanned<String>,
    pub args: Vec<Spanned<Value>>,
    /// The path into the result (`.country_code`); empty for the result itself.
    pub rest: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub table: Spanned<String>,
    pub key: Box<Spanned<Value>>,
    pub rest: Vec<Segment>,
}

impl Term {
    /// The path into the value, after the function or table if there is one.
    pub fn rest(&self) -> &[Segment] {
        match self {
            Term::Path(p) => &p.segments,
            Term::Call(c) => &c.rest,
            Term::Lookup(l) => &l.rest,
        }
    }

    /// True when the term can reach several values (`[]`).
    pub fn fans_out(&self) -> bool {
        self.rest().iter().any(Segment::fans_out)
    }

    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Term::Path(p) => Some(p),
            _ => None,
        }
    }
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Term::Path(p) => write!(f, "{p}"),
            Term::Call(c) => {
                write!(f, "{}(", c.name.node)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", a.node)?;
                }
                f.write_str(")")?;
                write_segments(f, &c.rest, true)
            }
            Term::Lookup(l) => {
                write!(f, "{}[{}]", l.table.node, l.key.node)?;
                write_segments(f, &l.rest, true)
            }
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Literal(l) => write!(f, "{l}"),
            Value::Term(t) => write!(f, "{t}"),
        }
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Str(s) => {
                let flags = match (s.ignore_case, s.raw) {
                    (true, true) => "ir",
                    (true, false) => "i",
                    (false, true) => "r",
                    (false, false) => "",
                };
                if s.raw && !s.value.contains('"') && !s.value.contains('\n') {
                    write!(f, "{flags}\"{}\"", s.value)
                } else {
                    let flags = if s.ignore_case { "i" } else { "" };
                    write!(f, "{flags}\"{}\"", escape_string(&s.value))
                }
            }
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
            Literal::Priority(p) => f.write_str(p.as_str()),
        }
    }
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
    /// A value of the event or derived from it; a bare name after `in`,
    /// `like`, `matches`, `within`, ... is the name of a list.
    Term(Term),
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

/// Priorities order INFO < LOW < MEDIUM < HIGH < CRITICAL; a field set to
/// priorities by several rules keeps the highest. INFO is informational: a
/// finding worth recording that needs no action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Info => "INFO",
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "INFO" => Some(Priority::Info),
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
    /// `.**`: the value and every value nested inside it, at any depth.
    Deep,
}

impl Segment {
    /// True for `[]` and `.**`, which reach several values.
    pub fn fans_out(&self) -> bool {
        matches!(self, Segment::Each | Segment::Deep)
    }
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
        self.segments.iter().any(Segment::fans_out)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_segments(f, &self.segments, false)
    }
}

/// Writes path segments; `after_value` when they follow a call or lookup
/// (so even the first field takes a dot).
fn write_segments(
    f: &mut std::fmt::Formatter<'_>,
    segments: &[Segment],
    after_value: bool,
) -> std::fmt::Result {
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Field(name) => {
                if i > 0 || after_value {
                    f.write_str(".")?;
                }
                if is_identifier(name) {
                    f.write_str(name)?;
                } else {
                    write!(f, "\"{}\"", escape_string(name))?;
                }
            }
            Segment::Each => f.write_str("[]")?,
            Segment::Deep => f.write_str(".**")?,
            Segment::Index(n) => write!(f, "[{n}]")?,
        }
    }
    Ok(())
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
    /// A value read from the event or derived from it.
    Term(Term),
}

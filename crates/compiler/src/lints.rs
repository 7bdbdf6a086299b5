//! Lints: conditions that load but can never hold as written. They only warn
//! (`check --deny-warnings` fails on them):
//!
//! - **W304**: a value CloudTrail never writes in a field with a closed set
//!   of values, such as `eventType == "AwsApiCal"` ([`schema`]'s `OneOf`);
//! - **W305**: a comparison with a value of a type the field never has:
//!   `readOnly == "true"` (a boolean field), `eventTime > 5` (a string);
//! - **W306**: a test that contradicts an earlier test of the same `and`:
//!   `eventName == "A" and eventName == "B"`;
//! - **W307**: an eventSource no AWS service logs;
//! - **W308**: an eventName that the eventSource required beside it never
//!   logs (`eventSource == "iam.amazonaws.com" and eventName == "RunInstances"`),
//!   or, with no eventSource required, that no service logs. Both come from
//!   the [catalog](ctrules_core::catalog).
//!
//! What a test requires of a path that reaches one value is a
//! `Constraint`: the literals the value must equal (`==`, `in`) or must
//! not (`!=`, `not in`). A condition is read bottom-up into the constraints
//! that hold whenever it holds (`Linter::summary`, through `and`, `or`
//! and macros), then walked top-down (`Linter::walk`): each test is
//! checked against the constraints of the tests beside it in its
//! conjunctions. A contradiction is reported on the later test, with a
//! label at the earlier one. `not` starts afresh for contradictions (a
//! conjunction that never holds under `not` makes it always true, which is
//! not a dead rule), but keeps the eventSource a name is checked against.
//!
//! Never constrained or checked as names: patterns (`like`, `matches`,
//! `startswith`, `endswith`, `contains`, `within`), orderings, paths with
//! `[]` (each element may differ), lookups and calls, fields compared with
//! fields, and names compared on other fields than `eventSource` and
//! `eventName`. Case-insensitive literals (`i"..."`) compare in any case.

use crate::codes::*;
use crate::condition::fold;
use crate::declarations::Declared;
use crate::lower::{schema_steps, ListRef, Symbols, ACTOR, MAX_CONDITION_DEPTH};
use crate::suggest::closest;
use ctrules_core::catalog::{catalog, Service};
use ctrules_core::schema::{self, Kind};
use ctrules_lang::ast::{self, Expr, Literal, Op, Operand, Spanned, TestKind};
use ctrules_lang::{Diagnostic, Source, Span};
use std::collections::HashMap;
use std::fmt;

/// A literal a value is compared with.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    /// A string, and whether its case is ignored.
    Str(String, bool),
    Num(f64),
    Bool(bool),
}

impl Val {
    /// None for `null`, which tests presence, not a value.
    fn of(lit: &Literal, ignore_case: bool) -> Option<Val> {
        match lit {
            Literal::Str(s) => Some(Val::Str(s.value.clone(), s.ignore_case || ignore_case)),
            // In a list a priority is its name; `==` compares it by rank
            // with names only, so equality is the same.
            Literal::Priority(p) => Some(Val::Str(p.as_str().to_string(), false)),
            Literal::Number(n) => n.as_f64().map(Val::Num),
            Literal::Bool(b) => Some(Val::Bool(*b)),
            Literal::Null => None,
        }
    }

    /// True when some value equals both.
    fn meets(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Str(a, false), Val::Str(b, false)) => a == b,
            (Val::Str(a, _), Val::Str(b, _)) => fold(a) == fold(b),
            (Val::Num(a), Val::Num(b)) => a == b,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            _ => false,
        }
    }

    /// True when every value equal to `other` equals `self` too.
    fn covers(&self, other: &Val) -> bool {
        !matches!((self, other), (Val::Str(_, false), Val::Str(_, true))) && self.meets(other)
    }

    /// "string", "number", "boolean", for messages.
    fn kind(&self) -> &'static str {
        match self {
            Val::Str(..) => "string",
            Val::Num(_) => "number",
            Val::Bool(_) => "boolean",
        }
    }

    fn text(&self) -> Option<(&str, bool)> {
        match self {
            Val::Str(s, ignore_case) => Some((s, *ignore_case)),
            _ => None,
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Str(s, true) => write!(f, "i\"{}\"", ast::escape_string(s)),
            Val::Str(s, false) => write!(f, "\"{}\"", ast::escape_string(s)),
            Val::Num(n) => write!(f, "{n}"),
            Val::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The values that satisfy both sets: the narrower of each pair that meets.
fn intersect(a: &[Val], b: &[Val]) -> Vec<Val> {
    let mut out: Vec<Val> = Vec::new();
    for x in a {
        for y in b.iter().filter(|y| x.meets(y)) {
            let narrower = if x.covers(y) { y } else { x };
            if !out.contains(narrower) {
                out.push(narrower.clone());
            }
        }
    }
    out
}

/// `"A"`, or `one of "A", "B", "C"`; long sets are cut short.
fn describe(vals: &[Val]) -> String {
    match vals {
        [one] => one.to_string(),
        _ => {
            let shown: Vec<String> = vals.iter().take(3).map(Val::to_string).collect();
            let more = if vals.len() > 3 {
                format!(", ... ({} values)", vals.len())
            } else {
                String::new()
            };
            format!("one of {}{more}", shown.join(", "))
        }
    }
}

/// One literal of a test, where it is written.
#[derive(Clone)]
struct Item<'a> {
    val: Val,
    source: &'a Source,
    span: Span,
    /// For a member of a list read from a file: ` (FILE:LINE)`.
    origin: String,
}

/// What a test (or a macro, or an `or` of tests) requires of a path that
/// reaches one value.
#[derive(Clone)]
struct Constraint<'a> {
    path: &'a ast::Path,
    /// The value must equal none of the items (`!=`, `not in`), rather than one.
    negated: bool,
    items: Vec<Item<'a>>,
    /// Where the requirement is written: the test, the macro's use, the `or`.
    source: &'a Source,
    span: Span,
    /// The macro it comes through.
    via: Option<&'a str>,
}

impl Constraint<'_> {
    fn vals(&self) -> Vec<Val> {
        self.items.iter().map(|i| i.val.clone()).collect()
    }

    fn on(&self, field: &str) -> bool {
        self.path.is_single_field() && self.path.root() == field
    }

    /// The label at an earlier constraint that a later test collides with.
    fn label(&self, verb: &str) -> String {
        let via = self
            .via
            .map(|m| format!(" (macro `{m}`)"))
            .unwrap_or_default();
        format!("{verb} {}{via}", describe(&self.vals()))
    }
}

/// The values every positive constraint allows; None when none constrains.
fn allowed<'c, 'a: 'c>(constraints: impl Iterator<Item = &'c Constraint<'a>>) -> Option<Vec<Val>> {
    constraints
        .filter(|c| !c.negated)
        .fold(None, |acc: Option<Vec<Val>>, c| {
            Some(match acc {
                None => c.vals(),
                Some(a) => intersect(&a, &c.vals()),
            })
        })
}

/// The right side of a test, as the lints read it.
enum Operands<'a> {
    /// `==` or `!=` a literal, `in` or `not in` a list: the literals.
    Values { items: Vec<Item<'a>>, negated: bool },
    /// `<`, `<=`, `>`, `>=` a literal.
    Order(Item<'a>),
    /// `like`, `matches`, `startswith`, ...: patterns, not values.
    Pattern(Op),
    /// A comparison with another field.
    Field(&'a ast::Path, Span),
    /// `exists`, `missing`, `null`, a term, an operand lowering rejected.
    Nothing,
}

/// What the constraints beside a test say about the eventSource.
enum Scope<'c, 'a> {
    /// No eventSource is required: any service.
    Any,
    /// One of these services, required by these constraints.
    Services(
        Vec<(&'static str, &'static Service)>,
        Vec<&'c Constraint<'a>>,
    ),
    /// An eventSource the catalog does not know (reported), or one whose
    /// names are not all known: nothing to check against.
    Unknown,
}

/// The constraints of the tests around the one being checked.
#[derive(Clone, Default)]
struct Context<'a> {
    /// Constraints of earlier tests in the enclosing conjunctions.
    earlier: Vec<Constraint<'a>>,
    /// eventSource requirements of every other test in them.
    sources: Vec<Constraint<'a>>,
}

pub struct Linter<'a, 'd> {
    symbols: &'a Symbols<'a>,
    declared: &'a Declared,
    diagnostics: &'d mut Vec<Diagnostic>,
    /// Macros being summarised, innermost last: a cycle (E205) stops there.
    expanding: Vec<&'a str>,
    /// The constraints of each macro's body, once worked out.
    /// With how deep its summary recursed: a cached summary stands for
    /// that much depth where it is used.
    macro_summaries: HashMap<&'a str, (Vec<Constraint<'a>>, usize)>,
    /// `summary` calls under way, through macros, counting a cached macro
    /// as deep as it was. Lowering reports E206 past `MAX_CONDITION_DEPTH`
    /// levels or macros; a summary takes up to two calls per level (a
    /// macro's use and its body), so past three times that the lints stop
    /// rather than recurse on, or gather ever longer lists of constraints.
    depth: usize,
    /// The deepest `depth` reached, to measure each macro's summary.
    deepest: usize,
}

impl<'a, 'd> Linter<'a, 'd> {
    pub fn new(
        symbols: &'a Symbols<'a>,
        declared: &'a Declared,
        diagnostics: &'d mut Vec<Diagnostic>,
    ) -> Self {
        Linter {
            symbols,
            declared,
            diagnostics,
            expanding: Vec::new(),
            macro_summaries: HashMap::new(),
            depth: 0,
            deepest: 0,
        }
    }

    /// Lints a rule's or a macro's condition.
    pub fn condition(&mut self, source: &'a Source, expr: &'a Spanned<Expr>) {
        self.walk(source, expr, &Context::default());
    }

    /// Checks every test against the constraints around it.
    fn walk(&mut self, source: &'a Source, expr: &'a Spanned<Expr>, ctx: &Context<'a>) {
        match &expr.node {
            Expr::And(parts) => {
                let sums: Vec<Vec<Constraint<'a>>> =
                    parts.iter().map(|p| self.summary(source, p)).collect();
                for (i, part) in parts.iter().enumerate() {
                    let mut inner = ctx.clone();
                    inner.earlier.extend(sums[..i].iter().flatten().cloned());
                    inner.sources.extend(
                        sums.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .flat_map(|(_, s)| s)
                            .filter(|c| c.on("eventSource") && !c.negated)
                            .cloned(),
                    );
                    self.walk(source, part, &inner);
                }
            }
            Expr::Or(parts) => {
                for part in parts {
                    self.walk(source, part, ctx);
                }
            }
            Expr::Not(inner) => {
                let fresh = Context {
                    earlier: Vec::new(),
                    sources: ctx.sources.clone(),
                };
                self.walk(source, inner, &fresh);
            }
            Expr::Test(test) => self.test(source, test, expr.span, ctx),
            // The body is about one element at a time: tests of it neither
            // meet the tests around it nor constrain them, but the
            // eventSource an eventName is checked against still holds.
            Expr::ForEach(each) => {
                let fresh = Context {
                    earlier: Vec::new(),
                    sources: ctx.sources.clone(),
                };
                self.walk(source, &each.body, &fresh);
            }
            Expr::MacroRef(_) => {
                for c in self.summary(source, expr) {
                    self.contradiction(&c, ctx);
                    if c.on("eventName") && !c.negated {
                        self.macro_names(&c, ctx);
                    }
                }
            }
        }
    }

    /// The constraints that hold whenever `expr` holds.
    fn summary(&mut self, source: &'a Source, expr: &'a Spanned<Expr>) -> Vec<Constraint<'a>> {
        if self.depth >= 3 * MAX_CONDITION_DEPTH {
            return Vec::new();
        }
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
        let out = self.summary_at_depth(source, expr);
        self.depth -= 1;
        out
    }

    fn summary_at_depth(
        &mut self,
        source: &'a Source,
        expr: &'a Spanned<Expr>,
    ) -> Vec<Constraint<'a>> {
        match &expr.node {
            Expr::Test(test) => {
                let ast::Term::Path(path) = &test.subject.node else {
                    return Vec::new();
                };
                let operands = self.operands(source, test);
                constraint(path, operands, source, expr.span)
                    .into_iter()
                    .collect()
            }
            Expr::And(parts) => parts.iter().flat_map(|p| self.summary(source, p)).collect(),
            Expr::Or(parts) => {
                let branches: Vec<Vec<Constraint<'a>>> =
                    parts.iter().map(|p| self.summary(source, p)).collect();
                let Some(first) = branches.first() else {
                    return Vec::new();
                };
                let mut paths: Vec<&'a ast::Path> = Vec::new();
                for c in first.iter().filter(|c| !c.negated) {
                    if !paths.contains(&c.path) {
                        paths.push(c.path);
                    }
                }
                let mut out = Vec::new();
                // A path every branch requires: one of the values of some branch.
                for path in paths {
                    let mut items: Vec<Item<'a>> = Vec::new();
                    let every = branches.iter().all(|branch| {
                        let on_path = || branch.iter().filter(|c| c.path == path);
                        let Some(vals) = allowed(on_path()) else {
                            return false;
                        };
                        let branch_items = on_path().filter(|c| !c.negated).flat_map(|c| &c.items);
                        items.extend(branch_items.filter(|i| vals.contains(&i.val)).cloned());
                        true
                    });
                    if every && !items.is_empty() {
                        out.push(Constraint {
                            path,
                            negated: false,
                            items,
                            source,
                            span: expr.span,
                            via: None,
                        });
                    }
                }
                out
            }
            Expr::Not(_) | Expr::ForEach(_) => Vec::new(),
            Expr::MacroRef(name) => {
                let symbols = self.symbols;
                let Some(&(def, def_source)) = symbols.macros.get(name.as_str()) else {
                    return Vec::new();
                };
                let name = def.name.node.as_str();
                let inner = match self.macro_summaries.get(name) {
                    Some((_, depth)) if self.depth + depth >= 3 * MAX_CONDITION_DEPTH => {
                        return Vec::new()
                    }
                    Some((inner, depth)) => {
                        self.deepest = self.deepest.max(self.depth + depth);
                        inner.clone()
                    }
                    None if self.expanding.contains(&name) => return Vec::new(),
                    None => {
                        let outer_deepest = std::mem::replace(&mut self.deepest, self.depth);
                        self.expanding.push(name);
                        let inner = self.summary(def_source, &def.condition);
                        self.expanding.pop();
                        let depth = self.deepest - self.depth;
                        self.deepest = self.deepest.max(outer_deepest);
                        self.macro_summaries.insert(name, (inner.clone(), depth));
                        inner
                    }
                };
                inner
                    .into_iter()
                    .map(|c| Constraint {
                        source,
                        span: expr.span,
                        via: Some(name),
                        ..c
                    })
                    .collect()
            }
        }
    }

    fn operands(&self, source: &'a Source, test: &'a ast::Test) -> Operands<'a> {
        let TestKind::Compare { op, negated, rhs } = &test.kind else {
            return Operands::Nothing;
        };
        let negated = *negated || op.node == Op::Ne;
        let one = |lit: &Literal| Item {
            val: Val::of(lit, false).expect("null is handled"),
            source,
            span: rhs.span,
            origin: String::new(),
        };
        match (op.node, &rhs.node) {
            (_, Operand::Literal(Literal::Null)) => Operands::Nothing,
            (Op::Eq | Op::Ne, Operand::Literal(lit)) => Operands::Values {
                items: vec![one(lit)],
                negated,
            },
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, Operand::Literal(lit)) => Operands::Order(one(lit)),
            (Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge, Operand::Term(t)) => match t {
                ast::Term::Path(p) => Operands::Field(p, rhs.span),
                _ => Operands::Nothing,
            },
            (Op::In, Operand::List(list)) => list_values(ListRef::of(list, source), negated),
            (Op::In, Operand::Term(ast::Term::Path(p))) if p.is_single_field() => {
                let Some(&(def, def_source)) = self.symbols.lists.get(p.root()) else {
                    return Operands::Nothing;
                };
                match ListRef::named(def, def_source, self.declared) {
                    Some(list) => list_values(list, negated),
                    None => Operands::Nothing,
                }
            }
            (Op::In, _) => Operands::Nothing,
            (op, _) => Operands::Pattern(op),
        }
    }

    fn test(&mut self, source: &'a Source, test: &'a ast::Test, span: Span, ctx: &Context<'a>) {
        let ast::Term::Path(path) = &test.subject.node else {
            return;
        };
        let operands = self.operands(source, test);
        if let Some(kind) = field_kind(path) {
            self.types(path, kind, &operands, source, test.subject.span);
        } else if let Operands::Pattern(op) = &operands {
            self.pattern_on_container(path, *op, source, test.subject.span);
        }
        if path.is_single_field() {
            if let Operands::Values { items, .. } = &operands {
                match path.root() {
                    "eventSource" => self.event_sources(items),
                    "eventName" => self.event_names(items, ctx),
                    _ => {}
                }
            }
        }
        if let Some(c) = constraint(path, operands, source, span) {
            self.contradiction(&c, ctx);
        }
    }

    /// W305 and W304: values of a type the field never has, and values
    /// outside a closed set.
    /// `requestParameters contains "x"`: a pattern on a field CloudTrail
    /// writes as an object or an array, which no string test matches.
    fn pattern_on_container(&mut self, path: &ast::Path, op: Op, source: &Source, subject: Span) {
        if path.root().starts_with('x')
            || path.root() == ACTOR
            || path.segments.contains(&ast::Segment::Deep)
        {
            return;
        }
        let what = match schema::shape_of(&schema_steps(path)) {
            Some(schema::Shape::Object(_) | schema::Shape::Open) => "an object",
            Some(schema::Shape::Array(_)) => "an array",
            _ => return,
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_WRONG_TYPE,
                source,
                subject,
                format!("`{path}` is {what}; `{}` only matches strings", op.as_str()),
            )
            .with_label(what)
            .with_help(format!(
                "to test every value nested inside it, write `{path}.** {} ...`",
                op.as_str()
            )),
        );
    }

    fn types(
        &mut self,
        path: &ast::Path,
        kind: Kind,
        operands: &Operands<'a>,
        source: &Source,
        subject: Span,
    ) {
        let items: &[Item<'a>] = match operands {
            Operands::Values { items, .. } => items,
            // Ordering by a boolean is E301 already.
            Operands::Order(item) if matches!(item.val, Val::Bool(_)) => return,
            Operands::Order(item) => std::slice::from_ref(item),
            Operands::Pattern(op) if kind == Kind::Bool => {
                self.diagnostics.push(
                    Diagnostic::warning(
                        W_WRONG_TYPE,
                        source,
                        subject,
                        format!(
                            "`{path}` is a boolean; `{}` only matches strings",
                            op.as_str()
                        ),
                    )
                    .with_label("a boolean")
                    .with_help(format!(
                        "compare it with `{path} == true` or `{path} == false`"
                    )),
                );
                return;
            }
            Operands::Field(other, span) => {
                if let Some(theirs) = field_kind(other) {
                    if (theirs == Kind::Bool) != (kind == Kind::Bool) {
                        self.diagnostics.push(
                            Diagnostic::warning(
                                W_WRONG_TYPE,
                                source,
                                *span,
                                format!(
                                    "`{path}` is {} and `{other}` {}: they never compare",
                                    kind.describe(),
                                    theirs.describe()
                                ),
                            )
                            .with_label(theirs.describe())
                            .with_help("two fields compare only when their values are of one type"),
                        );
                    }
                }
                return;
            }
            _ => return,
        };
        for item in items {
            match (&item.val, kind) {
                (Val::Str(s, ignore_case), Kind::OneOf(values)) => {
                    let written = |v: &&str| {
                        if *ignore_case {
                            fold(v) == fold(s)
                        } else {
                            v == s
                        }
                    };
                    if !values.iter().any(written) {
                        self.impossible_value(path, values, item);
                    }
                }
                (Val::Str(..), Kind::Str) | (Val::Bool(_), Kind::Bool) => {}
                (val, kind) => self.wrong_type(path, kind, item, val),
            }
        }
    }

    fn wrong_type(&mut self, path: &ast::Path, kind: Kind, item: &Item<'a>, val: &Val) {
        let help = match (val, kind) {
            (Val::Str(s, _), Kind::Bool) if matches!(fold(s).as_str(), "true" | "false") => {
                format!(
                    "CloudTrail writes `{path}` as a JSON boolean: write {} without quotes",
                    fold(s)
                )
            }
            (_, Kind::Bool) => format!("`{path}` is true or false"),
            (Val::Num(_), _) if path.root() == "eventTime" => {
                "compare timestamps as text: `eventTime >= \"2024-08-01T00:00:00Z\"`".to_string()
            }
            (val, _) => format!("CloudTrail writes `{path}` as text: write \"{val}\""),
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_WRONG_TYPE,
                item.source,
                item.span,
                format!(
                    "`{path}` is {}, never the {} {val}{}",
                    kind.describe(),
                    val.kind(),
                    item.origin
                ),
            )
            .with_label(format!("a {}", val.kind()))
            .with_help(help),
        );
    }

    fn impossible_value(&mut self, path: &ast::Path, values: &[&str], item: &Item<'a>) {
        let Some((text, _)) = item.val.text() else {
            return;
        };
        let help = match (closest(text, values.iter().copied()), values) {
            (Some(near), _) => format!("did you mean \"{near}\"?"),
            (None, [only]) => format!(
                "CloudTrail writes `{path}` only as \"{only}\", and leaves it out otherwise: test `{path} missing`"
            ),
            (None, _) => format!(
                "`{path}` is one of: {}",
                values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
            ),
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_IMPOSSIBLE_VALUE,
                item.source,
                item.span,
                format!(
                    "CloudTrail never writes {} in `{path}`{}",
                    item.val, item.origin
                ),
            )
            .with_label(format!("not a value of `{path}`"))
            .with_help(help),
        );
    }

    /// W307: event sources no service logs.
    fn event_sources(&mut self, items: &[Item<'a>]) {
        let catalog = catalog();
        for item in items {
            let Some((source, ignore_case)) = item.val.text() else {
                continue;
            };
            if catalog.service(source, ignore_case).is_some() {
                continue;
            }
            let lower = source.to_ascii_lowercase();
            let qualified = match lower.ends_with(".amazonaws.com") {
                true => lower,
                false => format!("{lower}.amazonaws.com"),
            };
            let help = if catalog.service(&qualified, false).is_some() {
                format!("did you mean \"{qualified}\"?")
            } else if let Some(logged) = catalog.alias(&qualified) {
                format!("CloudTrail logs this service as \"{logged}\"")
            } else if let Some(near) = closest(source, catalog.sources()) {
                format!("did you mean \"{near}\"?")
            } else if !source.ends_with(".amazonaws.com") {
                "an eventSource is a service's name followed by .amazonaws.com, as in \"iam.amazonaws.com\"".to_string()
            } else {
                "no AWS service in ctrules' catalog logs under this name (docs/diagnostics.md#w307)"
                    .to_string()
            };
            self.diagnostics.push(
                Diagnostic::warning(
                    W_UNKNOWN_SOURCE,
                    item.source,
                    item.span,
                    format!("no AWS service logs events as `{source}`{}", item.origin),
                )
                .with_label("unknown event source")
                .with_help(help),
            );
        }
    }

    /// W308: names the required eventSource never logs, or no service logs.
    fn event_names(&mut self, items: &[Item<'a>], ctx: &Context<'a>) {
        let scope = scope(ctx);
        for item in items {
            let Some((name, ignore_case)) = item.val.text() else {
                continue;
            };
            if let Some(diag) = unknown_name(&scope, name, ignore_case, item.source, item.span) {
                let diag = Diagnostic {
                    message: format!("{}{}", diag.message, item.origin),
                    ..diag
                };
                self.diagnostics.push(diag);
            }
        }
    }

    /// W308 for the names a macro requires, against the eventSource its use
    /// sits beside: reported at the use.
    fn macro_names(&mut self, c: &Constraint<'a>, ctx: &Context<'a>) {
        let scope = scope(ctx);
        if !matches!(scope, Scope::Services(..)) {
            // Checked once, in the macro itself.
            return;
        }
        for item in &c.items {
            let Some((name, ignore_case)) = item.val.text() else {
                continue;
            };
            if let Some(diag) = unknown_name(&scope, name, ignore_case, c.source, c.span) {
                let via = c.via.unwrap_or_default();
                self.diagnostics.push(
                    diag.with_label(format!("macro `{via}` requires `{name}`"))
                        .with_secondary(item.source, item.span, "required here"),
                );
            }
        }
    }

    /// W306: `c` against the earlier constraints on its path.
    fn contradiction(&mut self, c: &Constraint<'a>, ctx: &Context<'a>) {
        if c.items.is_empty() {
            return;
        }
        let earlier: Vec<&Constraint<'a>> =
            ctx.earlier.iter().filter(|e| e.path == c.path).collect();
        if earlier.is_empty() {
            return;
        }
        let before = allowed(earlier.iter().copied());
        if before.as_ref().is_some_and(Vec::is_empty) {
            // Already contradictory, and reported there.
            return;
        }
        let excluded: Vec<Val> = earlier
            .iter()
            .filter(|e| e.negated)
            .flat_map(|e| e.vals())
            .collect();
        let mine = c.vals();
        let path = c.path;
        let (message, culprits, help) = if c.negated {
            let Some(before) = before else { return };
            if !before.iter().all(|v| mine.iter().any(|x| x.covers(v))) {
                return;
            }
            (
                format!(
                    "`{path}` must be {}, and this test excludes it",
                    describe(&before)
                ),
                earlier
                    .iter()
                    .filter(|e| !e.negated)
                    .copied()
                    .collect::<Vec<_>>(),
                "the condition never holds, so the rule never matches: drop one of the tests"
                    .to_string(),
            )
        } else {
            let left = match &before {
                Some(before) => intersect(before, &mine),
                None => mine.clone(),
            };
            if left.is_empty() {
                let both: Vec<Val> = before.iter().flatten().chain(&mine).cloned().collect();
                (
                    format!(
                        "`{path}` cannot be {} and {} at once",
                        describe(before.as_deref().unwrap_or_default()),
                        describe(&mine)
                    ),
                    earlier.iter().filter(|e| !e.negated).copied().collect(),
                    format!(
                        "a record has one `{path}`, so the condition never holds; to accept any of them, write `{path} in [{}]`",
                        both.iter().map(Val::to_string).collect::<Vec<_>>().join(", ")
                    ),
                )
            } else if left.iter().all(|v| excluded.iter().any(|x| x.covers(v))) {
                (
                    format!(
                        "`{path}` cannot be {}: an earlier test excludes it",
                        describe(&mine)
                    ),
                    earlier.iter().filter(|e| e.negated).copied().collect(),
                    "the condition never holds, so the rule never matches: drop one of the tests"
                        .to_string(),
                )
            } else {
                return;
            }
        };
        let mut diag = Diagnostic::warning(W_CONTRADICTION, c.source, c.span, message)
            .with_label("never holds with the earlier test")
            .with_help(help);
        for e in culprits {
            let verb = if e.negated { "excludes" } else { "requires" };
            diag = diag.with_secondary(e.source, e.span, e.label(verb));
        }
        self.diagnostics.push(diag);
    }
}

/// The literals of a list operand.
fn list_values(list: ListRef<'_>, negated: bool) -> Operands<'_> {
    let items = list
        .items
        .iter()
        .enumerate()
        .filter_map(|(i, lit)| {
            Some(Item {
                val: Val::of(&lit.node, list.ignore_case)?,
                source: list.source,
                span: lit.span,
                origin: list.origin(i),
            })
        })
        .collect();
    Operands::Values { items, negated }
}

/// What a test requires, when its path reaches one value and it compares
/// with literals.
fn constraint<'a>(
    path: &'a ast::Path,
    operands: Operands<'a>,
    source: &'a Source,
    span: Span,
) -> Option<Constraint<'a>> {
    let Operands::Values { items, negated } = operands else {
        return None;
    };
    (!path.fans_out()).then_some(Constraint {
        path,
        negated,
        items,
        source,
        span,
        via: None,
    })
}

/// What a record field holds, when CloudTrail writes it and it is one value.
fn field_kind(path: &ast::Path) -> Option<Kind> {
    if path.root().starts_with('x')
        || path.root() == ACTOR
        || path.segments.contains(&ast::Segment::Deep)
    {
        return None;
    }
    schema::leaf_kind(&schema_steps(path))
}

/// The services the eventSource constraints beside a test allow.
fn scope<'c, 'a>(ctx: &'c Context<'a>) -> Scope<'c, 'a> {
    let constraints: Vec<&Constraint<'a>> = ctx.sources.iter().collect();
    let Some(allowed) = allowed(constraints.iter().copied()) else {
        return Scope::Any;
    };
    let mut services = Vec::new();
    for val in &allowed {
        let Some((source, ignore_case)) = val.text() else {
            return Scope::Unknown;
        };
        match catalog().service(source, ignore_case) {
            Some((name, service)) if !service.is_open() => services.push((name, service)),
            _ => return Scope::Unknown,
        }
    }
    if services.is_empty() {
        return Scope::Unknown;
    }
    Scope::Services(services, constraints)
}

/// W308 when `name` is not an event of the scope's services.
fn unknown_name(
    scope: &Scope<'_, '_>,
    name: &str,
    ignore_case: bool,
    source: &Source,
    span: Span,
) -> Option<Diagnostic> {
    let catalog = catalog();
    match scope {
        Scope::Unknown => None,
        Scope::Any => {
            if catalog.has_name(name, ignore_case) {
                return None;
            }
            let help = match closest(name, catalog.names()) {
                Some(near) => format!("did you mean \"{near}\"?"),
                None => "event names are the services' API operations (docs/diagnostics.md#w308)"
                    .to_string(),
            };
            Some(
                Diagnostic::warning(
                    W_UNKNOWN_EVENT,
                    source,
                    span,
                    format!("no AWS service logs an event named `{name}`"),
                )
                .with_label("unknown event name")
                .with_help(help),
            )
        }
        Scope::Services(services, constraints) => {
            if services.iter().any(|(_, s)| s.logs(name, ignore_case)) {
                return None;
            }
            let names: Vec<&str> = services.iter().map(|(n, _)| *n).collect();
            let (message, label) = match names.as_slice() {
                [one] => (
                    format!("`{one}` never logs `{name}`"),
                    format!("not an event of {one}"),
                ),
                _ => (
                    format!(
                        "none of {} logs `{name}`",
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "not an event of these services".to_string(),
                ),
            };
            let operations = services.iter().flat_map(|(_, s)| s.names().iter().copied());
            let elsewhere = catalog.sources_logging(name);
            let help = match closest(name, operations) {
                Some(near) => format!("did you mean \"{near}\"?"),
                None if !elsewhere.is_empty() => {
                    let shown: Vec<&str> = elsewhere.iter().take(3).copied().collect();
                    let more = if elsewhere.len() > 3 { ", ..." } else { "" };
                    format!("`{name}` is an event of {}{more}", shown.join(", "))
                }
                None if catalog.has_name(name, ignore_case) => {
                    format!("`{name}` is an event of another service")
                }
                None => format!("no AWS service logs `{name}`"),
            };
            let mut diag = Diagnostic::warning(W_UNKNOWN_EVENT, source, span, message)
                .with_label(label)
                .with_help(help);
            for c in constraints {
                let via = c.via.map(|m| format!(" (macro `{m}`)")).unwrap_or_default();
                diag = diag.with_secondary(c.source, c.span, format!("the event source{via}"));
            }
            Some(diag)
        }
    }
}

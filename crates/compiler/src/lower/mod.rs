//! From AST to evaluators: names resolved, operands checked and compiled.
//!
//! Runs after every file has parsed and every definition has been collected
//! (see `lib.rs`), so a rule may use a list or macro from any file, defined
//! before or after it.

use crate::codes::*;
use crate::condition::{glob_to_regex, Cond, Matcher, Ordering, Scalar, Set, Text, TextOp};
use crate::declarations::{Declared, FileList};
use crate::term::{self, ClockPart, Derived, Shared, Term, ZoneArg};
use ctrules_context::geoip::GeoIp;
use ctrules_core::{FieldPath, PathSegment};
use ctrules_lang::ast::{
    self, CalendarDef, Expr, ListBody, ListDef, ListLit, Literal, MacroDef, Op, Operand,
    Quantifier, ScheduleDef, Spanned, TableDef, TestKind,
};
use ctrules_lang::{Diagnostic, Source, Span};
use regex::Regex;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

mod terms;
pub use terms::ACTOR;

/// The names a rule set defines, by name; they share one namespace.
#[derive(Default)]
pub struct Symbols<'a> {
    pub lists: HashMap<&'a str, (&'a ListDef, &'a Source)>,
    pub macros: HashMap<&'a str, (&'a MacroDef, &'a Source)>,
    pub tables: HashMap<&'a str, (&'a TableDef, &'a Source)>,
    pub schedules: HashMap<&'a str, (&'a ScheduleDef, &'a Source)>,
    pub calendars: HashMap<&'a str, (&'a CalendarDef, &'a Source)>,
}

/// A defined name, whatever its kind.
#[derive(Clone, Copy)]
pub struct Definition<'a> {
    /// "list", "macro", "table", "schedule" or "calendar", for messages.
    pub kind: &'static str,
    /// The name as stored, borrowed for the rule set's lifetime.
    pub name: &'a str,
    pub source: &'a Source,
    /// Where the name is written in its definition.
    pub span: Span,
}

impl<'a> Symbols<'a> {
    /// The definition of `name`, whatever its kind.
    pub fn find(&self, name: &str) -> Option<Definition<'a>> {
        fn at<'a, D>(
            kind: &'static str,
            m: &HashMap<&'a str, (&'a D, &'a Source)>,
            name: &str,
            span: impl Fn(&D) -> Span,
        ) -> Option<Definition<'a>> {
            m.get_key_value(name).map(|(n, (d, s))| Definition {
                kind,
                name: n,
                source: s,
                span: span(d),
            })
        }
        at("list", &self.lists, name, |d| d.name.span)
            .or_else(|| at("macro", &self.macros, name, |d| d.name.span))
            .or_else(|| at("table", &self.tables, name, |d| d.name.span))
            .or_else(|| at("schedule", &self.schedules, name, |d| d.name.span))
            .or_else(|| at("calendar", &self.calendars, name, |d| d.name.span))
    }

    /// Where `name` is defined, whatever its kind.
    pub fn defined(&self, name: &str) -> Option<(&'a Source, Span)> {
        self.find(name).map(|d| (d.source, d.span))
    }

    /// What kind of thing `name` is, for messages.
    pub fn kind_of(&self, name: &str) -> Option<&'static str> {
        self.find(name).map(|d| d.kind)
    }
}

/// The context rules are compiled against.
pub struct Environment<'a> {
    pub declared: &'a Declared,
    pub geoip: Arc<GeoIp>,
    /// False when no database was given: `geoip(...)` then warns.
    pub geoip_configured: bool,
}

pub struct Lowerer<'a, 'd> {
    symbols: &'a Symbols<'a>,
    env: &'a Environment<'a>,
    pub diagnostics: &'d mut Vec<Diagnostic>,
    /// Names of lists, macros, tables, schedules and calendars some rule uses.
    pub used: HashSet<&'a str>,
    pub used_macros: HashSet<&'a str>,
    warned_no_geoip: bool,
    /// Names offered as "did you mean": not reported as unused.
    pub suggested: HashSet<&'a str>,
    /// Top-level fields of the record that some rule reads.
    pub fields_read: BTreeSet<String>,
    /// Each macro's condition, lowered once, and how deep it nests.
    macro_cache: HashMap<&'a str, (Cond, usize)>,
    /// Macros being expanded, innermost last: a name seen twice is a cycle.
    expanding: Vec<&'a str>,
    /// `and`, `or` and `not` levels of the `Cond` being built above the
    /// current point.
    depth: usize,
    /// The names bound by the `any NAME in ...` around the current point,
    /// innermost last.
    bindings: Vec<Binding<'a>>,
}

/// A name bound by `any NAME in TERM (...)`.
struct Binding<'a> {
    name: &'a str,
    span: Span,
    /// The field path it ranges over, when it is one (for checking paths
    /// under the name against the schema).
    over: Option<ast::Path>,
    used: bool,
}

/// How deep a lowered condition may nest once macros are expanded. Parsing
/// bounds each condition as written (E104); a chain of macros can still
/// stack them, and lowering, evaluating and dropping a `Cond` recurse once
/// per level.
pub const MAX_CONDITION_DEPTH: usize = 128;

/// A list operand after resolution: its items and where they were written.
pub(crate) struct ListRef<'a> {
    pub ignore_case: bool,
    pub items: std::borrow::Cow<'a, [Spanned<Literal>]>,
    pub source: &'a Source,
    /// For a list read from a file: the file and each item's line.
    pub file: Option<&'a FileList>,
}

impl<'a> ListRef<'a> {
    pub(crate) fn of(list: &'a ListLit, source: &'a Source) -> Self {
        ListRef {
            ignore_case: list.ignore_case,
            items: std::borrow::Cow::Borrowed(&list.items),
            source,
            file: None,
        }
    }

    /// The members of a named list: written out, or read from its file
    /// (None when the file did not load). File members are strings, each
    /// at the span of the `file "..."` clause.
    pub(crate) fn named(
        def: &'a ListDef,
        source: &'a Source,
        declared: &'a Declared,
    ) -> Option<Self> {
        match &def.body.node {
            ListBody::Items(items) => Some(ListRef::of(items, source)),
            ListBody::File(_) => {
                let file = declared.file_lists.get(&def.name.node)?;
                let items = file
                    .items
                    .iter()
                    .map(|item| {
                        let value = ast::StrLit {
                            value: item.value.clone(),
                            ignore_case: false,
                            raw: false,
                        };
                        Spanned::new(Literal::Str(value), def.body.span)
                    })
                    .collect();
                Some(ListRef {
                    ignore_case: false,
                    items: std::borrow::Cow::Owned(items),
                    source,
                    file: Some(file),
                })
            }
        }
    }

    /// Where item `i` was written, for messages: a file and line, or nothing
    /// (the span shows it).
    pub(crate) fn origin(&self, i: usize) -> String {
        match self.file.and_then(|f| f.items.get(i).map(|item| (f, item))) {
            Some((f, item)) => format!(" ({}:{})", f.path, item.line),
            None => String::new(),
        }
    }
}

impl<'a, 'd> Lowerer<'a, 'd> {
    pub fn new(
        symbols: &'a Symbols<'a>,
        env: &'a Environment<'a>,
        diagnostics: &'d mut Vec<Diagnostic>,
    ) -> Self {
        Lowerer {
            symbols,
            env,
            diagnostics,
            used: HashSet::new(),
            warned_no_geoip: false,
            used_macros: HashSet::new(),
            fields_read: BTreeSet::new(),
            suggested: HashSet::new(),
            macro_cache: HashMap::new(),
            expanding: Vec::new(),
            depth: 0,
            bindings: Vec::new(),
        }
    }

    fn error(&mut self, diag: Diagnostic) -> Cond {
        self.diagnostics.push(diag);
        Cond::Const(false)
    }

    /// True when `name` is a table, schedule or calendar (a list or macro
    /// name can also be read as a field).
    pub fn is_declared(&self, name: &str) -> bool {
        matches!(
            self.symbols.kind_of(name),
            Some("table" | "schedule" | "calendar")
        )
    }

    /// Reports an error where the caller has nothing to build.
    fn report<T>(&mut self, diag: Diagnostic) -> Result<T, ()> {
        self.diagnostics.push(diag);
        Err(())
    }

    pub fn condition(&mut self, source: &'a Source, expr: &'a Spanned<Expr>) -> Cond {
        match &expr.node {
            Expr::And(parts) => {
                self.depth += 1;
                let parts = parts.iter().map(|p| self.condition(source, p)).collect();
                self.depth -= 1;
                Cond::And(parts)
            }
            Expr::Or(parts) => {
                self.depth += 1;
                let parts = parts.iter().map(|p| self.condition(source, p)).collect();
                self.depth -= 1;
                Cond::Or(parts)
            }
            Expr::Not(inner) => {
                self.depth += 1;
                let inner = self.condition(source, inner);
                self.depth -= 1;
                Cond::Not(Box::new(inner))
            }
            Expr::MacroRef(name) => {
                // A macro is lowered once, on its own: names bound around
                // its use are not visible inside it.
                let bindings = std::mem::take(&mut self.bindings);
                let cond = self.macro_ref(source, name, expr.span);
                self.bindings = bindings;
                cond
            }
            Expr::Test(test) => self.test(source, test),
            Expr::ForEach(each) => self.for_each(source, each),
        }
    }

    /// `any NAME in TERM (CONDITION)`.
    fn for_each(&mut self, source: &'a Source, each: &'a ast::ForEach) -> Cond {
        let name = each.name.node.as_str();
        let mut ok = true;
        let hidden = if let Some(outer) = self.bindings.iter().find(|b| b.name == name) {
            Some((
                "a name bound by an enclosing `any`/`all`".to_string(),
                Some(outer.span),
            ))
        } else if name == ACTOR || ctrules_core::schema::is_aws_field(name) {
            Some((format!("the field `{name}` of the record"), None))
        } else {
            self.symbols
                .find(name)
                .map(|d| (format!("the {} `{name}`", d.kind), None))
        };
        if let Some((what, outer)) = hidden {
            ok = false;
            let mut diag = Diagnostic::error(
                E_BOUND_NAME,
                source,
                each.name.span,
                format!("`{name}` would hide {what}"),
            )
            .with_label("bound here")
            .with_help(format!(
                "choose a name that is not a field or a declared name, such as `{}`",
                fresh_name(name)
            ));
            if let Some(outer) = outer {
                diag = diag.with_secondary(source, outer, "already bound here");
            }
            self.diagnostics.push(diag);
        }
        if let ast::Term::Path(p) = &each.over.node {
            if self.path_warning(source, p, each.over.span, false) {
                ok = false;
            }
        }
        let over = self.term(source, &each.over.node, each.over.span);
        if over.is_some() && !each.over.node.fans_out() {
            ok = false;
            let word = match each.quantifier.node {
                Quantifier::All => "all",
                Quantifier::Any => "any",
            };
            self.diagnostics.push(
                Diagnostic::error(
                    E_QUANTIFIER,
                    source,
                    each.quantifier.span,
                    format!("`{word} {name} in` needs a path with `[]`"),
                )
                .with_label("quantifier")
                .with_secondary(source, each.over.span, "this reaches one value")
                .with_help(format!(
                    "mark the array to iterate: `{word} {name} in resources[] (...)`"
                )),
            );
        }
        // The schema path of what the name stands for, for checking paths under it.
        let over_path = match &each.over.node {
            ast::Term::Path(p) => self.schema_path(p),
            _ => None,
        };
        self.bindings.push(Binding {
            name,
            span: each.name.span,
            over: over_path,
            used: false,
        });
        self.depth += 1;
        let body = self.condition(source, &each.body);
        self.depth -= 1;
        let binding = self.bindings.pop().expect("pushed above");
        if !binding.used && ok {
            self.diagnostics.push(
                Diagnostic::warning(
                    W_BOUND_UNUSED,
                    source,
                    each.name.span,
                    format!("`{name}` is never read in the condition"),
                )
                .with_label("bound here")
                .with_secondary(source, each.body.span, format!("no path here starts with `{name}`"))
                .with_help(format!(
                    "read the element through it (`{name}.type == ...`); tests of `[]` paths may each match a different element"
                )),
            );
        }
        match over {
            Some(over) if ok => Cond::ForEach {
                over,
                all: each.quantifier.node == Quantifier::All,
                body: Box::new(body),
            },
            _ => Cond::Const(false),
        }
    }

    /// The innermost binding of `name`, as levels out from the innermost
    /// (0); marks it used.
    fn bound(&mut self, name: &str) -> Option<usize> {
        let at = self.bindings.iter().rposition(|b| b.name == name)?;
        self.bindings[at].used = true;
        Some(self.bindings.len() - 1 - at)
    }

    /// True when `name` is bound around the current point.
    pub(crate) fn bound_name(&self, name: &str) -> bool {
        self.bindings.iter().any(|b| b.name == name)
    }

    /// A path as the schema sees it: under a bound name, the path it ranges
    /// over and then the rest; None when that is not a field path.
    fn schema_path(&self, p: &ast::Path) -> Option<ast::Path> {
        match self.bindings.iter().rfind(|b| b.name == p.root()) {
            Some(binding) => {
                let mut segments = binding.over.as_ref()?.segments.clone();
                segments.extend(p.segments[1..].iter().cloned());
                Some(ast::Path { segments })
            }
            None => Some(p.clone()),
        }
    }

    /// The warning for a path CloudTrail does not write (W303, or W302 for
    /// a `value` on the right of a comparison), read through bound names;
    /// or E306 for a misspelt bound name. True when it reported an error.
    fn path_warning(&mut self, source: &'a Source, p: &ast::Path, span: Span, value: bool) -> bool {
        let root = p.root();
        let bound = self.bindings.iter().any(|b| b.name == root);
        if !bound
            && !self.bindings.is_empty()
            && !root.starts_with('x')
            && root != ACTOR
            && !ctrules_core::schema::is_aws_field(root)
            && self.symbols.find(root).is_none()
        {
            if let Some(near) = crate::suggest::closest(root, self.bindings.iter().map(|b| b.name))
            {
                let near_span = self
                    .bindings
                    .iter()
                    .rfind(|b| b.name == near)
                    .map(|b| b.span);
                let mut diag = Diagnostic::error(
                    E_UNBOUND_NAME,
                    source,
                    span,
                    format!("`{root}` is not a bound name or a field of the record"),
                )
                .with_label("unknown name")
                .with_help(format!("did you mean `{near}`?"));
                if let Some(at) = near_span {
                    diag = diag.with_secondary(source, at, format!("`{near}` is bound here"));
                }
                self.diagnostics.push(diag);
                return true;
            }
        }
        if self.is_declared(root) {
            return false;
        }
        let Some(path) = self.schema_path(p) else {
            return false;
        };
        let warning = if value && !bound {
            value_field_warning(source, &path, span)
        } else {
            unknown_field_warning(source, &path, span)
        };
        self.diagnostics.extend(warning);
        false
    }

    fn macro_ref(&mut self, source: &'a Source, name: &'a str, span: Span) -> Cond {
        let symbols = self.symbols;
        let Some(&(def, def_source)) = symbols.macros.get(name) else {
            let mut diag = Diagnostic::error(
                E_UNKNOWN_MACRO,
                source,
                span,
                format!("unknown macro `{name}`"),
            )
            .with_label("no macro has this name");
            if let Some(near) = crate::suggest::closest(name, symbols.macros.keys().copied()) {
                self.suggested.insert(near);
                diag = diag.with_help(format!("did you mean `{near}`?"));
            } else if symbols.lists.contains_key(name) {
                diag = diag.with_help(format!(
                    "`{name}` is a list: test membership with `FIELD in {name}`"
                ));
            } else {
                diag = diag.with_help(format!(
                    "a condition compares a field (`{name} == true`, `{name} exists`) or names a macro defined with `macro {name} = ...`"
                ));
            }
            return self.error(diag);
        };
        self.used_macros.insert(def.name.node.as_str());
        if let Some((cond, depth)) = self.macro_cache.get(name) {
            if self.depth + depth > MAX_CONDITION_DEPTH {
                return self.too_deep(source, name, span);
            }
            return cond.clone();
        }
        if let Some(start) = self.expanding.iter().position(|m| *m == name) {
            let chain: Vec<&str> = self.expanding[start..]
                .iter()
                .copied()
                .chain([name])
                .collect();
            let diag = Diagnostic::error(
                E_MACRO_CYCLE,
                source,
                span,
                format!("macro `{name}` refers to itself"),
            )
            .with_label("this use closes the cycle")
            .with_note(format!("the cycle: {}", chain.join(" -> ")))
            .with_help("a macro cannot use itself, directly or through other macros");
            return self.error(diag);
        }
        // Stop before recursing further: a chain of macros that only name
        // each other adds no level to the `Cond`, but recurses all the same.
        if self.depth >= MAX_CONDITION_DEPTH || self.expanding.len() >= MAX_CONDITION_DEPTH {
            return self.too_deep(source, name, span);
        }
        self.expanding.push(def.name.node.as_str());
        let cond = self.condition(def_source, &def.condition);
        self.expanding.pop();
        let depth = cond.depth();
        self.macro_cache
            .insert(def.name.node.as_str(), (cond.clone(), depth));
        cond
    }

    /// E206 at a macro use that nests the condition too deep.
    fn too_deep(&mut self, source: &'a Source, name: &str, span: Span) -> Cond {
        let mut diag = Diagnostic::error(
            E_TOO_DEEP,
            source,
            span,
            format!(
                "macro `{name}` nests this condition, or the macros it uses, more than {MAX_CONDITION_DEPTH} levels deep"
            ),
        )
        .with_label("expanded here, one level too many")
        .with_help("flatten it: fewer layers of macros using macros, and fewer nested `not`, `and` and `or` in them");
        if let (Some(first), Some(last)) = (self.expanding.first(), self.expanding.last()) {
            diag = diag.with_note(format!(
                "expanding {} macros: {first} -> ... -> {last} -> {name}",
                self.expanding.len()
            ));
        }
        self.error(diag)
    }

    fn test(&mut self, source: &'a Source, test: &'a ast::Test) -> Cond {
        if let ast::Term::Path(p) = &test.subject.node {
            // A declared name misused as a field gets its own error below.
            if self.path_warning(source, p, test.subject.span, false) {
                return Cond::Const(false);
            }
        }
        let Some(path) = self.term(source, &test.subject.node, test.subject.span) else {
            return Cond::Const(false);
        };
        let all = match &test.quantifier {
            Some(q) if !test.subject.node.fans_out() => {
                let word = if q.node == Quantifier::All {
                    "all"
                } else {
                    "any"
                };
                return self.error(
                    Diagnostic::error(
                        E_QUANTIFIER,
                        source,
                        q.span,
                        format!("`{word}` needs a path with `[]`"),
                    )
                    .with_label("quantifier")
                    .with_secondary(source, test.subject.span, "this path reaches one value")
                    .with_help(format!(
                        "mark the array to iterate: `{word} resources[].type == ...`"
                    )),
                );
            }
            Some(q) => q.node == Quantifier::All,
            None => false,
        };
        match &test.kind {
            TestKind::Exists | TestKind::Missing if all => self.error(
                Diagnostic::error(
                    E_QUANTIFIER,
                    source,
                    test.quantifier
                        .as_ref()
                        .map_or(test.subject.span, |q| q.span),
                    "`all` needs a comparison",
                )
                .with_label("quantifier")
                .with_help("`exists` and `missing` ask about any value; drop `all`"),
            ),
            TestKind::Exists => Cond::Exists(path),
            TestKind::Missing => Cond::Not(Box::new(Cond::Exists(path))),
            TestKind::Compare { op, negated, rhs } => {
                let positive = self.compare(source, path, all, op, rhs);
                if *negated || op.node == Op::Ne {
                    Cond::Not(Box::new(positive))
                } else {
                    positive
                }
            }
        }
    }

    fn compare(
        &mut self,
        source: &'a Source,
        path: Term,
        all: bool,
        op: &Spanned<Op>,
        rhs: &'a Spanned<Operand>,
    ) -> Cond {
        let ordering = match op.node {
            Op::Eq | Op::Ne => Some(Ordering::Eq),
            Op::Lt => Some(Ordering::Lt),
            Op::Le => Some(Ordering::Le),
            Op::Gt => Some(Ordering::Gt),
            Op::Ge => Some(Ordering::Ge),
            _ => None,
        };
        let test = |matcher| Cond::Test {
            path: path.clone(),
            all,
            matcher,
        };
        if let Some(ordering) = ordering {
            return match &rhs.node {
                Operand::Term(_) if all => self.error(
                    Diagnostic::error(E_QUANTIFIER, source, rhs.span, "`all` cannot compare two fields")
                        .with_label("a field")
                        .with_help("comparing two fields holds when any value of one relates to any value of the other; drop `all`"),
                ),
                Operand::Term(right) => {
                    if let ast::Term::Path(p) = right {
                        if self.path_warning(source, p, rhs.span, true) {
                            return Cond::Const(false);
                        }
                    }
                    match self.term(source, right, rhs.span) {
                        Some(right) => Cond::Fields { left: path.clone(), right, op: ordering },
                        None => Cond::Const(false),
                    }
                }
                Operand::Literal(Literal::Null) if ordering == Ordering::Eq => Cond::Not(Box::new(Cond::Exists(path.clone()))),
                Operand::Literal(lit) => match (lit, ordering) {
                    (Literal::Str(s), o) => test(Matcher::Compare(o, Scalar::Str(Text::new(&s.value, s.ignore_case)))),
                    (Literal::Priority(p), o) => test(Matcher::Compare(o, Scalar::Priority(*p))),
                    (Literal::Number(n), o) => test(Matcher::Compare(o, Scalar::Num(n.as_f64().unwrap_or(f64::NAN)))),
                    (Literal::Bool(b), Ordering::Eq) => test(Matcher::Compare(Ordering::Eq, Scalar::Bool(*b))),
                    (lit, _) => self.error(
                        Diagnostic::error(E_TYPE, source, rhs.span, format!("cannot order by a {}", lit.kind()))
                            .with_label(format!("a {}", lit.kind()))
                            .with_secondary(source, op.span, "ordering comparison")
                            .with_help("`<`, `<=`, `>`, `>=` compare numbers, or strings (byte by byte)"),
                    ),
                },
                Operand::List(_) => self.error(
                    Diagnostic::error(E_TYPE, source, rhs.span, format!("`{}` compares with one value, not a list", op.node.as_str()))
                        .with_label("a list")
                        .with_help("to test membership, write `FIELD in [...]`"),
                ),
            };
        }
        if op.node == Op::Within {
            if let Some(cond) = self.within_time(source, &path, all, rhs) {
                return cond;
            }
        }
        if let (Some(text_op), Operand::Term(right)) = (TextOp::of(op.node), &rhs.node) {
            // A bare name is a list (or a misused declaration, reported
            // below); anything else is a value computed from the record.
            let list_name = matches!(right, ast::Term::Path(p)
                if p.is_single_field() && !self.bindings.iter().any(|b| b.name == p.root()));
            if !list_name {
                if let ast::Term::Path(p) = right {
                    if self.path_warning(source, p, rhs.span, true) {
                        return Cond::Const(false);
                    }
                }
                return match self.term(source, right, rhs.span) {
                    Some(right) => Cond::Text {
                        left: path,
                        all,
                        right,
                        op: text_op,
                    },
                    None => Cond::Const(false),
                };
            }
        }
        // On error, reported: the test never holds.
        let Ok(list) = self.list_operand(source, op, rhs) else {
            return Cond::Const(false);
        };
        if op.node == Op::In {
            if let Some(null) = list.items.iter().find(|i| matches!(i.node, Literal::Null)) {
                return self.error(
                    Diagnostic::error(E_TYPE, list.source, null.span, "`null` in a list never matches")
                        .with_label("null")
                        .with_help("null and a missing field are the same; test for them with `or FIELD missing`"),
                );
            }
            return test(Matcher::In(Box::new(self.set(&list))));
        }
        let Some(strings) = self.strings(op, &list) else {
            return Cond::Const(false);
        };
        let matcher = match op.node {
            Op::StartsWith => {
                Matcher::StartsWith(strings.iter().map(|(s, i, _)| Text::new(s, *i)).collect())
            }
            Op::EndsWith => {
                Matcher::EndsWith(strings.iter().map(|(s, i, _)| Text::new(s, *i)).collect())
            }
            Op::Contains => {
                Matcher::Contains(strings.iter().map(|(s, i, _)| Text::new(s, *i)).collect())
            }
            Op::Like if let Some(simple) = simple_globs(&strings) => simple,
            Op::Like => Matcher::Like(
                strings
                    .iter()
                    .map(|(s, i, _)| {
                        let pattern = if *i {
                            crate::condition::fold(s)
                        } else {
                            s.clone()
                        };
                        (
                            Regex::new(&glob_to_regex(&pattern))
                                .expect("an escaped glob is a valid regex"),
                            *i,
                        )
                    })
                    .collect(),
            ),
            Op::Matches => {
                let mut regexes = Vec::new();
                for (s, i, span) in &strings {
                    let pattern = if *i {
                        format!("(?i){s}")
                    } else {
                        s.to_string()
                    };
                    match Regex::new(&pattern) {
                        Ok(r) => regexes.push(r),
                        Err(e) => {
                            self.diagnostics.push(
                                Diagnostic::error(E_REGEX, list.source, *span, "invalid regular expression")
                                    .with_label("this pattern")
                                    .with_note(regex_error_text(&e))
                                    .with_help("the syntax is Rust's regex crate (docs.rs/regex); write patterns as raw strings: r\"\\d+\""),
                            );
                        }
                    }
                }
                Matcher::Matches(regexes.into())
            }
            Op::Within => {
                let mut nets = Vec::new();
                for (i, (s, _, span)) in strings.iter().enumerate() {
                    match parse_net(s) {
                        Some(n) => nets.push(n),
                        None => self.diagnostics.push(
                            Diagnostic::error(E_CIDR, list.source, *span, format!("`{s}` is not a CIDR block or IP address{}", list.origin(i)))
                                .with_label("not a network")
                                .with_help("write networks as \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address"),
                        ),
                    }
                }
                Matcher::Within(nets.into())
            }
            _ => unreachable!("ordering operators handled above"),
        };
        test(matcher)
    }

    /// The list an operator takes: a literal list, a named list, or one string
    /// (for every operator but `in`).
    fn list_operand(
        &mut self,
        source: &'a Source,
        op: &Spanned<Op>,
        rhs: &'a Spanned<Operand>,
    ) -> Result<ListRef<'a>, ()> {
        match &rhs.node {
            Operand::List(list) => Ok(ListRef::of(list, source)),
            Operand::Term(ast::Term::Path(p)) if p.is_single_field() => {
                let name = p.root();
                let symbols = self.symbols;
                match symbols.lists.get(name) {
                    Some(&(def, def_source)) => {
                        self.used.insert(def.name.node.as_str());
                        // A file that failed to load was reported.
                        ListRef::named(def, def_source, self.env.declared).ok_or(())
                    }
                    None if symbols.kind_of(name).is_some() => {
                        self.wrong_kind(source, rhs.span, name, op);
                        Err(())
                    }
                    None => {
                        let mut diag = Diagnostic::error(
                            E_UNKNOWN_LIST,
                            source,
                            rhs.span,
                            format!("unknown list `{name}`"),
                        )
                        .with_label("no list has this name");
                        diag = match crate::suggest::closest(name, symbols.lists.keys().copied()) {
                            Some(near) => {
                                self.suggested.insert(near);
                                diag.with_help(format!("did you mean `{near}`?"))
                            }
                            None => diag.with_help(format!("define it with `list {name} = [\"...\"]`, or write the list here: `{} [\"...\"]`", op.node.as_str())),
                        };
                        self.report(diag)
                    }
                }
            }
            Operand::Term(term) => {
                let what = match term {
                    ast::Term::Path(_) => "a field path",
                    ast::Term::Call(_) => "a function call",
                    ast::Term::Lookup(_) => "a table lookup",
                };
                let (message, help) = match op.node {
                    Op::In => (
                        format!("`in` takes a list, not {what}"),
                        "compare two values with `==`, `!=`, `<`, `<=`, `>`, `>=`; `startswith`, `endswith`, `contains` and `like` also take a computed value",
                    ),
                    Op::Matches => (
                        format!("`matches` takes a string or a list of strings, not {what}"),
                        "regular expressions are compiled when the rules load; to match a computed value, use `like`, `startswith`, `endswith` or `contains`",
                    ),
                    _ => (
                        format!("`{}` takes a string or a list of strings, not {what}", op.node.as_str()),
                        "write the networks as strings, or name a list of them",
                    ),
                };
                self.report(
                    Diagnostic::error(E_TYPE, source, rhs.span, message)
                        .with_label(what)
                        .with_help(help),
                )
            }
            Operand::Literal(lit) if op.node == Op::In => self.report(
                Diagnostic::error(
                    E_TYPE,
                    source,
                    rhs.span,
                    format!("`in` takes a list, found a {}", lit.kind()),
                )
                .with_label("not a list")
                .with_help(
                    "write the members in brackets: `in [\"a\", \"b\"]`, or compare with `==`",
                ),
            ),
            Operand::Literal(lit) => {
                // One value: a list of one.
                let items = vec![Spanned::new(lit.clone(), rhs.span)];
                Ok(ListRef {
                    ignore_case: false,
                    items: std::borrow::Cow::Owned(items),
                    source,
                    file: None,
                })
            }
        }
    }

    fn set(&self, list: &ListRef<'_>) -> Set {
        let mut set = Set::default();
        for item in list.items.iter() {
            match &item.node {
                Literal::Str(s) if s.ignore_case || list.ignore_case => {
                    set.folded.insert(crate::condition::fold(&s.value).into());
                }
                Literal::Str(s) => {
                    set.exact.insert(s.value.as_str().into());
                }
                Literal::Priority(p) => {
                    set.exact.insert(p.as_str().into());
                }
                Literal::Number(n) => set.numbers.extend(n.as_f64()),
                Literal::Bool(b) => set.bools.push(*b),
                Literal::Null => {}
            }
        }
        set
    }

    /// The strings of a list for a string operator; a non-string is an error.
    fn strings(
        &mut self,
        op: &Spanned<Op>,
        list: &ListRef<'a>,
    ) -> Option<Vec<(String, bool, Span)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for item in list.items.iter() {
            match &item.node {
                Literal::Str(s) => out.push((
                    s.value.clone(),
                    s.ignore_case || list.ignore_case,
                    item.span,
                )),
                other => {
                    ok = false;
                    self.diagnostics.push(
                        Diagnostic::error(
                            E_TYPE,
                            list.source,
                            item.span,
                            format!(
                                "`{}` takes strings, found a {}",
                                op.node.as_str(),
                                other.kind()
                            ),
                        )
                        .with_label(format!("a {}", other.kind()))
                        .with_help("write the value in double quotes"),
                    );
                }
            }
        }
        ok.then_some(out)
    }
}

/// A name for a binding that hides nothing: `s` for `resources`, else `e`.
fn fresh_name(name: &str) -> &'static str {
    if name.starts_with('s') {
        "e"
    } else {
        "s"
    }
}

/// A value written as a bare word is a field of the event. When CloudTrail
/// writes no such top-level field, the author most likely meant text
/// (`eventName == CreateUser`) or a priority (`set xpriority = high`).
pub fn value_field_warning(source: &Source, path: &ast::Path, span: Span) -> Option<Diagnostic> {
    let root = path.root();
    if root == ACTOR {
        return None;
    }
    if ctrules_core::schema::is_aws_field(root) || root.starts_with('x') {
        return unknown_field_warning(source, path, span);
    }
    let help = match ast::Priority::parse(&root.to_uppercase()) {
        Some(p) if path.is_single_field() => {
            format!("priorities are written in capitals: {}", p.as_str())
        }
        _ if path.is_single_field() => format!("to use the text, quote it: \"{root}\""),
        _ => format!("`{root}` is not a field CloudTrail writes; check the spelling"),
    };
    Some(
        Diagnostic::warning(
            W_UNKNOWN_VALUE_FIELD,
            source,
            span,
            format!("`{path}` is read as a field of the event"),
        )
        .with_label("a field, not text")
        .with_help(help),
    )
}

/// A path CloudTrail does not write: a misspelt field (`eventSorce`,
/// `userIdentity.userNme`) would make a test silently never match.
/// Enrichment fields (`x...`) and open parts (`requestParameters...`) pass.
pub fn unknown_field_warning(source: &Source, path: &ast::Path, span: Span) -> Option<Diagnostic> {
    use ctrules_core::schema::{check_path, Step};
    if path.root().starts_with('x') || path.root() == ACTOR {
        return None;
    }
    let steps = schema_steps(path);
    let unknown = check_path(&steps).err()?;
    let Step::Key(name) = steps[unknown.step] else {
        return None;
    };
    let above = ast::Path {
        segments: path.segments[..unknown.step].to_vec(),
    };
    let message = if unknown.step == 0 {
        format!("`{name}` is not a field CloudTrail writes")
    } else if unknown.below_scalar {
        format!("`{above}` is a single value; it has no field `{name}`")
    } else {
        format!("`{above}` has no field `{name}` in CloudTrail records")
    };
    let help = match crate::suggest::closest(name, unknown.known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None if unknown.step == 0 => "enrichment fields start with `x`; docs/language.md lists the fields of a record".to_string(),
        None => "check the spelling against a sample event; the test never matches a field that is never there".to_string(),
    };
    Some(
        Diagnostic::warning(W_UNKNOWN_FIELD, source, span, message)
            .with_label("unknown field")
            .with_help(help),
    )
}

/// A path as the schema reads it: keys and array elements.
pub fn schema_steps(path: &ast::Path) -> Vec<ctrules_core::schema::Step<'_>> {
    use ctrules_core::schema::Step;
    // Below `.**` any value may be anywhere: only the path above is checked.
    path.segments
        .iter()
        .map_while(|s| match s {
            ast::Segment::Field(f) => Some(Step::Key(f.as_str())),
            ast::Segment::Each | ast::Segment::Index(_) => Some(Step::Element),
            ast::Segment::Deep => None,
        })
        .collect()
}

/// The core field path for an AST path.
/// `like` patterns that are one text with `*` at one or both ends
/// (`"*prod*"`, `"arn:aws:*"`) as the matching `contains`, `startswith` or
/// `endswith`, which are several times faster than the anchored regex a
/// glob becomes. None when any pattern needs the regex (or `?`), or the
/// patterns are of different shapes.
fn simple_globs(strings: &[(String, bool, Span)]) -> Option<Matcher> {
    #[derive(PartialEq, Clone, Copy)]
    enum Shape {
        Starts,
        Ends,
        Contains,
    }
    let mut shape = None;
    let mut texts = Vec::new();
    for (glob, ignore_case, _) in strings {
        let (this, inner) = match (glob.strip_prefix('*'), glob.strip_suffix('*')) {
            (Some(rest), Some(_)) if !rest.is_empty() => (Shape::Contains, &rest[..rest.len() - 1]),
            (Some(rest), _) => (Shape::Ends, rest),
            (None, Some(rest)) => (Shape::Starts, rest),
            (None, None) => return None,
        };
        if inner.contains(['*', '?']) || shape.is_some_and(|s| s != this) {
            return None;
        }
        shape = Some(this);
        texts.push(Text::new(inner, *ignore_case));
    }
    Some(match shape? {
        Shape::Starts => Matcher::StartsWith(texts.into()),
        Shape::Ends => Matcher::EndsWith(texts.into()),
        Shape::Contains => Matcher::Contains(texts.into()),
    })
}

pub fn field_path(path: &ast::Path) -> FieldPath {
    segments_path(&path.segments)
}

/// The core field path for path segments.
pub fn segments_path(segments: &[ast::Segment]) -> FieldPath {
    FieldPath::new(
        segments
            .iter()
            .map(|s| match s {
                ast::Segment::Field(f) => PathSegment::Key(f.as_str().into()),
                ast::Segment::Each => PathSegment::Each,
                ast::Segment::Deep => PathSegment::Deep,
                ast::Segment::Index(i) => PathSegment::Index(*i),
            })
            .collect(),
    )
}

/// A CIDR block or one address; IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`)
/// becomes IPv4, as values do when matched.
fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let net = match s.parse::<ipnet::IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => ipnet::IpNet::from(s.parse::<std::net::IpAddr>().ok()?),
    };
    if let ipnet::IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            return ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .ok()
                .map(ipnet::IpNet::V4);
        }
    }
    Some(net)
}

fn regex_error_text(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("syntax error")
            .trim()
            .to_string(),
        regex::Error::CompiledTooBig(_) => "the pattern is too large once compiled".to_string(),
        other => other.to_string(),
    }
}

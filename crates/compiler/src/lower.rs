//! From AST to evaluators: names resolved, operands checked and compiled.
//!
//! Runs after every file has parsed and every definition has been collected
//! (see `lib.rs`), so a rule may use a list or macro from any file, defined
//! before or after it.

use crate::codes::*;
use crate::condition::{glob_to_regex, Cond, Matcher, Ordering, Scalar, Set, Text};
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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The names a rule set defines, by name; they share one namespace.
#[derive(Default)]
pub struct Symbols<'a> {
    pub lists: HashMap<&'a str, (&'a ListDef, &'a Source)>,
    pub macros: HashMap<&'a str, (&'a MacroDef, &'a Source)>,
    pub tables: HashMap<&'a str, (&'a TableDef, &'a Source)>,
    pub schedules: HashMap<&'a str, (&'a ScheduleDef, &'a Source)>,
    pub calendars: HashMap<&'a str, (&'a CalendarDef, &'a Source)>,
}

impl<'a> Symbols<'a> {
    /// Where `name` is defined, whatever its kind.
    pub fn defined(&self, name: &str) -> Option<(&'a Source, Span)> {
        fn at<'a, D>(
            m: &HashMap<&'a str, (&'a D, &'a Source)>,
            name: &str,
            span: impl Fn(&D) -> Span,
        ) -> Option<(&'a Source, Span)> {
            m.get(name).map(|(d, s)| (*s, span(d)))
        }
        at(&self.lists, name, |d| d.name.span)
            .or_else(|| at(&self.macros, name, |d| d.name.span))
            .or_else(|| at(&self.tables, name, |d| d.name.span))
            .or_else(|| at(&self.schedules, name, |d| d.name.span))
            .or_else(|| at(&self.calendars, name, |d| d.name.span))
    }

    /// What kind of thing `name` is, for messages.
    pub fn kind_of(&self, name: &str) -> Option<&'static str> {
        if self.lists.contains_key(name) {
            Some("list")
        } else if self.macros.contains_key(name) {
            Some("macro")
        } else if self.tables.contains_key(name) {
            Some("table")
        } else if self.schedules.contains_key(name) {
            Some("schedule")
        } else if self.calendars.contains_key(name) {
            Some("calendar")
        } else {
            None
        }
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
    macro_cache: HashMap<&'a str, Cond>,
    /// Macros being expanded, innermost last: a name seen twice is a cycle.
    expanding: Vec<&'a str>,
}

/// A list operand after resolution: its items and where they were written.
struct ListRef<'a> {
    ignore_case: bool,
    items: std::borrow::Cow<'a, [Spanned<Literal>]>,
    source: &'a Source,
    /// For a list read from a file: the file and each item's line.
    file: Option<&'a FileList>,
}

impl<'a> ListRef<'a> {
    fn of(list: &'a ListLit, source: &'a Source) -> Self {
        ListRef {
            ignore_case: list.ignore_case,
            items: std::borrow::Cow::Borrowed(&list.items),
            source,
            file: None,
        }
    }

    /// Where item `i` was written, for messages: a file and line, or nothing
    /// (the span shows it).
    fn origin(&self, i: usize) -> String {
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
            suggested: HashSet::new(),
            macro_cache: HashMap::new(),
            expanding: Vec::new(),
        }
    }

    fn error(&mut self, diag: Diagnostic) -> Cond {
        self.diagnostics.push(diag);
        Cond::Const(false)
    }

    pub fn condition(&mut self, source: &'a Source, expr: &'a Spanned<Expr>) -> Cond {
        match &expr.node {
            Expr::And(parts) => {
                Cond::And(parts.iter().map(|p| self.condition(source, p)).collect())
            }
            Expr::Or(parts) => Cond::Or(parts.iter().map(|p| self.condition(source, p)).collect()),
            Expr::Not(inner) => Cond::Not(Box::new(self.condition(source, inner))),
            Expr::MacroRef(name) => self.macro_ref(source, name, expr.span),
            Expr::Test(test) => self.test(source, test),
        }
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
        if let Some(cond) = self.macro_cache.get(name) {
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
        self.expanding.push(def.name.node.as_str());
        let cond = self.condition(def_source, &def.condition);
        self.expanding.pop();
        self.macro_cache
            .insert(def.name.node.as_str(), cond.clone());
        cond
    }

    fn test(&mut self, source: &'a Source, test: &'a ast::Test) -> Cond {
        if let ast::Term::Path(p) = &test.subject.node {
            if let Some(warning) = unknown_field_warning(source, p, test.subject.span) {
                self.diagnostics.push(warning);
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
                        if let Some(warning) = value_field_warning(source, p, rhs.span) {
                            self.diagnostics.push(warning);
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
        let list = match self.list_operand(source, op, rhs) {
            Ok(list) => list,
            Err(cond) => return cond,
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
    ) -> Result<ListRef<'a>, Cond> {
        match &rhs.node {
            Operand::List(list) => Ok(ListRef::of(list, source)),
            Operand::Term(ast::Term::Path(p)) if p.is_single_field() => {
                let name = p.root();
                let symbols = self.symbols;
                match symbols.lists.get(name) {
                    Some(&(def, def_source)) => {
                        self.used.insert(def.name.node.as_str());
                        match &def.body.node {
                            ListBody::Items(items) => Ok(ListRef::of(items, def_source)),
                            ListBody::File(_) => match self.env.declared.file_lists.get(name) {
                                Some(file) => Ok(ListRef {
                                    ignore_case: false,
                                    items: std::borrow::Cow::Owned(
                                        file.items
                                            .iter()
                                            .map(|item| {
                                                Spanned::new(
                                                    Literal::Str(ast::StrLit {
                                                        value: item.value.clone(),
                                                        ignore_case: false,
                                                        raw: false,
                                                    }),
                                                    def.body.span,
                                                )
                                            })
                                            .collect(),
                                    ),
                                    source: def_source,
                                    file: Some(file),
                                }),
                                // Its loading failed, and was reported.
                                None => Err(Cond::Const(false)),
                            },
                        }
                    }
                    None if symbols.kind_of(name).is_some() => {
                        Err(self.wrong_kind(source, rhs.span, name, op))
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
                        Err(self.error(diag))
                    }
                }
            }
            Operand::Term(_) => Err(self.error(
                Diagnostic::error(
                    E_TYPE,
                    source,
                    rhs.span,
                    if op.node == Op::In {
                        "`in` takes a list, not a field".to_string()
                    } else {
                        format!(
                            "`{}` takes a string or a list of strings, not a field",
                            op.node.as_str()
                        )
                    },
                )
                .with_label("a field path")
                .with_help("compare two fields with `==`, `!=`, `<`, `<=`, `>`, `>=`"),
            )),
            Operand::Literal(lit) if op.node == Op::In => Err(self.error(
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
            )),
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

    /// `eventTime within office_hours`, `within holidays`, `within
    /// vacations[actor.user]`; None when the operand is not a schedule or
    /// calendar (then it is a list of networks).
    fn within_time(
        &mut self,
        source: &'a Source,
        path: &Term,
        all: bool,
        rhs: &'a Spanned<Operand>,
    ) -> Option<Cond> {
        let declared = self.env.declared;
        let test = |matcher| Cond::Test {
            path: path.clone(),
            all,
            matcher,
        };
        match &rhs.node {
            Operand::Term(ast::Term::Path(p)) if p.is_single_field() => {
                let name = p.root();
                if let Some((def, _)) = self.symbols.schedules.get(name) {
                    self.used.insert(def.name.node.as_str());
                    // A schedule that failed to load was reported.
                    return Some(match declared.schedules.get(name) {
                        Some(schedule) => test(Matcher::Schedule(Shared(schedule.clone()))),
                        None => Cond::Const(false),
                    });
                }
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    if declared.keyed_calendars.contains_key(name) {
                        return Some(
                            self.error(
                                Diagnostic::error(
                                    E_TABLE_USE,
                                    source,
                                    rhs.span,
                                    format!("calendar `{name}` has one calendar per key"),
                                )
                                .with_label("a keyed calendar")
                                .with_help(format!(
                                    "say whose calendar: `within {name}[actor.user]`"
                                )),
                            ),
                        );
                    }
                    // A calendar whose file failed to load was reported.
                    return Some(match declared.calendars.get(name) {
                        Some(calendar) => test(Matcher::Calendar(Shared(calendar.clone()))),
                        None => Cond::Const(false),
                    });
                }
                None
            }
            Operand::Term(ast::Term::Lookup(lookup)) => {
                let name = lookup.table.node.as_str();
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let Some(calendars) = declared.keyed_calendars.get(name) else {
                        if declared.calendars.contains_key(name) {
                            return Some(self.error(
                                Diagnostic::error(E_TABLE_USE, source, lookup.table.span, format!("calendar `{name}` has no key"))
                                    .with_label("one calendar for everyone")
                                    .with_help(format!("write `within {name}`, or declare it with `key COLUMN` to keep one calendar per key")),
                            ));
                        }
                        return Some(Cond::Const(false));
                    };
                    let key = self.value(source, &lookup.key)?;
                    return Some(Cond::WithinKeyed {
                        time: path.clone(),
                        all,
                        calendars: Shared(calendars.clone()),
                        key,
                    });
                }
                Some(self.error(
                    Diagnostic::error(E_TABLE_USE, source, rhs.span, "`within` takes networks, a schedule or a calendar")
                        .with_label("not a calendar")
                        .with_help("write `within vacations[actor.user]` with a calendar declared as `calendar vacations = file \"...\" key user zone \"...\"`"),
                ))
            }
            _ => None,
        }
    }

    /// A declared name used where its kind does not fit.
    fn wrong_kind(&mut self, source: &Source, span: Span, name: &str, op: &Spanned<Op>) -> Cond {
        let kind = self.symbols.kind_of(name).unwrap_or("name");
        let help = match kind {
            "table" => format!("a table is read by key: `{name}[KEY].COLUMN`; for a set of values, declare a `list`"),
            "schedule" | "calendar" => format!("test an instant against it: `eventTime within {name}`"),
            _ => format!("`{}` takes a list", op.node.as_str()),
        };
        self.error(
            Diagnostic::error(E_TABLE_USE, source, span, format!("`{name}` is a {kind}"))
                .with_label(format!("a {kind}"))
                .with_help(help),
        )
    }

    /// A value: a literal, or a term.
    fn value(&mut self, source: &'a Source, value: &'a Spanned<ast::Value>) -> Option<Term> {
        match &value.node {
            ast::Value::Literal(lit) => Some(Term::Const(crate::actions::literal_value(lit))),
            ast::Value::Term(t) => self.term(source, t, value.span),
        }
    }

    /// Compiles a term; None after reporting an error.
    pub fn term(&mut self, source: &'a Source, term: &'a ast::Term, span: Span) -> Option<Term> {
        match term {
            ast::Term::Path(p) if p.root() == ACTOR => {
                let rest = &p.segments[1..];
                self.member_warning(
                    source,
                    span,
                    "actor",
                    rest,
                    ctrules_context::actor::ACTOR_FIELDS,
                );
                Some(Term::Derived(Box::new(Derived::Actor), segments_path(rest)))
            }
            ast::Term::Path(p) => {
                let name = p.root();
                if let Some(kind) = self
                    .symbols
                    .kind_of(name)
                    .filter(|k| *k != "list" && *k != "macro")
                {
                    let help = match kind {
                        "table" => format!("a table is read by key: `{name}[KEY].COLUMN`"),
                        _ => format!("test an instant against it: `eventTime within {name}`"),
                    };
                    self.used.insert(name_of(self.symbols, name));
                    self.diagnostics.push(
                        Diagnostic::error(
                            E_TABLE_USE,
                            source,
                            span,
                            format!("`{name}` is a {kind}, not a field"),
                        )
                        .with_label(format!("a {kind}"))
                        .with_help(help),
                    );
                    return None;
                }
                Some(Term::Field(field_path(p)))
            }
            ast::Term::Call(call) => self.call(source, call, span),
            ast::Term::Lookup(lookup) => {
                let name = lookup.table.node.as_str();
                let declared = self.env.declared;
                if let Some((def, _)) = self.symbols.tables.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let key = self.value(source, &lookup.key)?;
                    let rows = declared.tables.get(name)?;
                    return Some(Term::Derived(
                        Box::new(Derived::Lookup {
                            rows: Shared(rows.clone()),
                            key,
                        }),
                        segments_path(&lookup.rest),
                    ));
                }
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let time = self.value(source, &lookup.key)?;
                    if declared.keyed_calendars.contains_key(name) {
                        self.diagnostics.push(
                            Diagnostic::error(E_TABLE_USE, source, span, format!("`{name}` holds a calendar per key"))
                                .with_label("a keyed calendar")
                                .with_help(format!("test an instant against one: `eventTime within {name}[actor.user]`")),
                        );
                        return None;
                    }
                    let calendar = declared.calendars.get(name)?;
                    self.member_warning(source, span, name, &lookup.rest, CALENDAR_ENTRY_FIELDS);
                    return Some(Term::Derived(
                        Box::new(Derived::CalendarEntry {
                            calendar: Shared(calendar.clone()),
                            time,
                        }),
                        segments_path(&lookup.rest),
                    ));
                }
                let mut diag = Diagnostic::error(
                    E_TABLE_USE,
                    source,
                    lookup.table.span,
                    format!("no table or calendar is named `{name}`"),
                )
                .with_label("unknown table");
                let candidates = self
                    .symbols
                    .tables
                    .keys()
                    .chain(self.symbols.calendars.keys())
                    .copied();
                diag = match crate::suggest::closest(name, candidates) {
                    Some(near) => {
                        self.suggested.insert(near);
                        diag.with_help(format!("did you mean `{near}`?"))
                    }
                    None => diag.with_help(format!(
                        "declare it: `table {name} = file \"lookups/{name}.csv\" key COLUMN`"
                    )),
                };
                self.diagnostics.push(diag);
                None
            }
        }
    }

    fn call(&mut self, source: &'a Source, call: &'a ast::Call, span: Span) -> Option<Term> {
        let name = call.name.node.as_str();
        let Some(function) = term::function(name) else {
            let mut diag = Diagnostic::error(
                E_FUNCTION,
                source,
                call.name.span,
                format!("unknown function `{name}`"),
            )
            .with_label("no function has this name");
            diag = match crate::suggest::closest(name, term::FUNCTIONS.iter().map(|f| f.name)) {
                Some(near) => diag.with_help(format!("did you mean `{near}`?")),
                None if self.symbols.tables.contains_key(name) => diag.with_help(format!(
                    "`{name}` is a table: read it by key with brackets, `{name}[KEY]`"
                )),
                None => diag.with_help(format!(
                    "the functions are {}",
                    term::FUNCTIONS
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            self.diagnostics.push(diag);
            return None;
        };
        let arity_ok = match name {
            "geoip" | "lower" | "upper" => call.args.len() == 1,
            "mmdb" | "hour" | "minute" | "weekday" | "date" => call.args.len() == 2,
            _ => !call.args.is_empty(),
        };
        if !arity_ok {
            self.diagnostics.push(
                Diagnostic::error(
                    E_FUNCTION,
                    source,
                    span,
                    format!("`{name}` takes different arguments"),
                )
                .with_label(format!(
                    "{} argument{}",
                    call.args.len(),
                    if call.args.len() == 1 { "" } else { "s" }
                ))
                .with_help(format!("call it as `{}`: {}", function.usage, function.doc)),
            );
            return None;
        }
        let rest = segments_path(&call.rest);
        let derived = match name {
            "geoip" => {
                self.geoip_warning(source, call.name.span, None);
                self.member_warning(
                    source,
                    span,
                    "geoip(...)",
                    &call.rest,
                    ctrules_context::geoip::SUMMARY_FIELDS,
                );
                Derived::GeoIp {
                    geoip: Shared(self.env.geoip.clone()),
                    ip: self.value(source, &call.args[0])?,
                }
            }
            "mmdb" => {
                let ast::Value::Literal(Literal::Str(database)) = &call.args[0].node else {
                    self.diagnostics.push(
                        Diagnostic::error(E_FUNCTION, source, call.args[0].span, "the database type is written as a string")
                            .with_label("not a string")
                            .with_help("name the database by its type, as in its metadata: `mmdb(\"GeoIP2-City\", sourceIPAddress)`"),
                    );
                    return None;
                };
                self.geoip_warning(source, call.args[0].span, Some(&database.value));
                Derived::Mmdb {
                    geoip: Shared(self.env.geoip.clone()),
                    database: database.value.as_str().into(),
                    ip: self.value(source, &call.args[1])?,
                }
            }
            "hour" | "minute" | "weekday" | "date" => {
                let part = match name {
                    "hour" => ClockPart::Hour,
                    "minute" => ClockPart::Minute,
                    "weekday" => ClockPart::Weekday,
                    _ => ClockPart::Date,
                };
                let time = self.value(source, &call.args[0])?;
                let zone = match &call.args[1].node {
                    ast::Value::Literal(Literal::Str(zone)) => {
                        match ctrules_context::time::parse_zone(&zone.value) {
                            Ok(tz) => ZoneArg::Fixed(tz),
                            Err(e) => {
                                self.diagnostics.push(crate::declarations::zone_error(
                                    source,
                                    call.args[1].span,
                                    &e,
                                ));
                                return None;
                            }
                        }
                    }
                    ast::Value::Literal(other) => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                E_FUNCTION,
                                source,
                                call.args[1].span,
                                format!("a time zone is a string, found a {}", other.kind()),
                            )
                            .with_label("not a zone")
                            .with_help("write an IANA name: \"America/New_York\""),
                        );
                        return None;
                    }
                    ast::Value::Term(_) => ZoneArg::Dynamic(self.value(source, &call.args[1])?),
                };
                Derived::Clock { part, time, zone }
            }
            "lower" => Derived::Lower(self.value(source, &call.args[0])?),
            "upper" => Derived::Upper(self.value(source, &call.args[0])?),
            _ => {
                let mut parts = Vec::with_capacity(call.args.len());
                for arg in &call.args {
                    parts.push(self.value(source, arg)?);
                }
                if name == "concat" {
                    Derived::Concat(parts)
                } else {
                    Derived::Coalesce(parts)
                }
            }
        };
        Some(Term::Derived(Box::new(derived), rest))
    }

    /// GeoIP used with no database, or a database type none of them has.
    fn geoip_warning(&mut self, source: &Source, span: Span, database: Option<&str>) {
        if !self.env.geoip_configured {
            // Once for the rule set: every later use says the same.
            if std::mem::replace(&mut self.warned_no_geoip, true) {
                return;
            }
            self.diagnostics.push(
                Diagnostic::warning(W_NO_GEOIP, source, span, "no GeoIP database is configured")
                    .with_label("always without a value")
                    .with_help("pass a MaxMind database: `ctrules run --geoip GeoLite2-Country.mmdb ...` (and the same to `ctrules check`)"),
            );
            return;
        }
        let Some(database) = database else { return };
        let types: Vec<&str> = self
            .env
            .geoip
            .databases()
            .iter()
            .map(|d| d.database_type.as_str())
            .collect();
        if !types.contains(&database) {
            self.diagnostics.push(
                Diagnostic::warning(
                    W_NO_GEOIP,
                    source,
                    span,
                    format!("no configured GeoIP database has type `{database}`"),
                )
                .with_label("always without a value")
                .with_help(format!(
                    "the databases given have types: {}",
                    types.join(", ")
                )),
            );
        }
    }

    /// A field that a derived value never has: `actor.nmae`, `geoip(ip).country`.
    fn member_warning(
        &mut self,
        source: &Source,
        span: Span,
        what: &str,
        rest: &[ast::Segment],
        fields: &[(&str, &str)],
    ) {
        let Some(ast::Segment::Field(first)) = rest.first() else {
            return;
        };
        if fields.iter().any(|(f, _)| f == first) {
            return;
        }
        let help = match crate::suggest::closest(first, fields.iter().map(|(f, _)| *f)) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "{what} has: {}",
                fields
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_UNKNOWN_MEMBER,
                source,
                span,
                format!("{what} has no field `{first}`"),
            )
            .with_label("never has a value")
            .with_help(help),
        );
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
    let steps: Vec<Step<'_>> = path
        .segments
        .iter()
        .map(|s| match s {
            ast::Segment::Field(f) => Step::Key(f.as_str()),
            ast::Segment::Each | ast::Segment::Index(_) => Step::Element,
        })
        .collect();
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

/// The derived value naming who acted: `actor.name`.
pub const ACTOR: &str = "actor";

/// What `holidays[eventTime]` gives.
const CALENDAR_ENTRY_FIELDS: &[(&str, &str)] = &[
    (
        "name",
        "the entry's name, from the `name` or `reason` column",
    ),
    ("entry", "the entry as written: \"2026-12-25\""),
];

/// The declared name as stored in the symbols (borrowed for the rule set's lifetime).
fn name_of<'a>(symbols: &Symbols<'a>, name: &str) -> &'a str {
    symbols
        .tables
        .get_key_value(name)
        .map(|(k, _)| *k)
        .or_else(|| symbols.schedules.get_key_value(name).map(|(k, _)| *k))
        .or_else(|| symbols.calendars.get_key_value(name).map(|(k, _)| *k))
        .unwrap_or("")
}

/// The core field path for an AST path.
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

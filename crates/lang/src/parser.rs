//! The parser: pest does the syntax (grammar/ctrules.pest), this module builds
//! the spanned AST and turns pest's errors into diagnostics a person can act on.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::source::{Source, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/ctrules.pest"]
struct PestParser;

/// Syntax error.
pub const E_SYNTAX: &str = "E101";
/// A string escape that is not one of \" \\ \n \t \r \u{...}.
pub const E_ESCAPE: &str = "E102";
/// A number or array index that does not fit.
pub const E_NUMBER: &str = "E103";
/// Parentheses, brackets and `not`s nested deeper than [`MAX_NESTING`].
pub const E_NESTING: &str = "E104";

/// How deep parentheses, brackets and `not`s may nest. pest, the tree
/// builder, the formatter and the compiler all recurse once per level, so
/// the limit keeps them far from the end of a 2 MiB thread stack in a debug
/// build; no hand-written rule comes close.
pub const MAX_NESTING: usize = 64;

/// Parses one rules file. Stops at the first syntax error (there is no sound
/// way to resynchronise a declarative file), but reports every bad escape or
/// number in a file that is otherwise well formed.
pub fn parse(source: &Source) -> Result<RulesFile, Vec<Diagnostic>> {
    if let Some(deep) = nesting_error(source) {
        return Err(vec![deep]);
    }
    let mut pairs = match PestParser::parse(Rule::file, source.text()) {
        Ok(pairs) => pairs,
        Err(err) => return Err(vec![syntax_error(source, &err)]),
    };
    let mut builder = Builder {
        source,
        errors: Vec::new(),
    };
    let file = pairs
        .next()
        .expect("the file rule always produces one pair");
    let mut items = Vec::new();
    for pair in file.into_inner() {
        match pair.as_rule() {
            Rule::list_def => items.push(Item::List(builder.list_def(pair))),
            Rule::macro_def => items.push(Item::Macro(builder.macro_def(pair))),
            Rule::table_def => items.push(Item::Table(builder.table_def(pair))),
            Rule::schedule_def => items.push(Item::Schedule(builder.schedule_def(pair))),
            Rule::calendar_def => items.push(Item::Calendar(builder.calendar_def(pair))),
            Rule::rule_block | Rule::rule_inline => items.push(Item::Rule(builder.rule(pair))),
            Rule::EOI => {}
            other => unreachable!("unexpected item {other:?}"),
        }
    }
    if builder.errors.is_empty() {
        Ok(RulesFile { items })
    } else {
        Err(builder.errors)
    }
}

/// Parses a single condition, as in `ctrules` command-line filters and tests.
pub fn parse_condition(source: &Source) -> Result<Spanned<Expr>, Vec<Diagnostic>> {
    parse_one(source, Rule::condition_input, Rule::condition, |b, p| {
        b.condition(p)
    })
}

/// Parses a single value (a literal or a term), as `ctrules query` takes
/// in `--select`: its errors say what a value may be, at their place in
/// the text given.
pub fn parse_value(source: &Source) -> Result<Spanned<Value>, Vec<Diagnostic>> {
    parse_one(source, Rule::value_input, Rule::value, |b, p| b.value(p))
}

/// Parses the whole of `source` as one `part`, through the grammar's
/// `input` rule that wraps it (`SOI ~ part ~ EOI`).
fn parse_one<'s, T>(
    source: &'s Source,
    input: Rule,
    part: Rule,
    build: impl FnOnce(&mut Builder<'s>, Pair<'_, Rule>) -> T,
) -> Result<T, Vec<Diagnostic>> {
    if let Some(deep) = nesting_error(source) {
        return Err(vec![deep]);
    }
    let pairs = match PestParser::parse(input, source.text()) {
        Ok(pairs) => pairs,
        Err(err) => return Err(vec![syntax_error(source, &err)]),
    };
    // The input rule matched, so it holds its part.
    let Some(pair) = pairs
        .flat_map(|p| p.into_inner())
        .find(|p| p.as_rule() == part)
    else {
        return Err(Vec::new());
    };
    let mut builder = Builder {
        source,
        errors: Vec::new(),
    };
    let built = build(&mut builder, pair);
    if builder.errors.is_empty() {
        Ok(built)
    } else {
        Err(builder.errors)
    }
}

/// E104 at the first token that nests deeper than [`MAX_NESTING`].
fn nesting_error(source: &Source) -> Option<Diagnostic> {
    let at = too_deep(source.text())?;
    Some(
        Diagnostic::error(
            E_NESTING,
            source,
            at,
            format!("nested more than {MAX_NESTING} levels deep"),
        )
        .with_label("one level too many")
        .with_help(
            "split the condition into macros, or remove redundant parentheses and double `not`s",
        ),
    )
}

/// Where the text first nests deeper than [`MAX_NESTING`], judged on the
/// raw text because parsing itself recurses once per level. Each open `(`
/// or `[` is a level, and so is each `not` until the `and`, `or`, closing
/// bracket or keyword that ends its operand. Strings and comments are
/// skipped. It may count a level too many (a field named `not`), never too
/// few.
pub(crate) fn too_deep(text: &str) -> Option<Span> {
    let bytes = text.as_bytes();
    // The `not`s pending at each open bracket, outermost first.
    let mut nots: Vec<usize> = vec![0];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        i += 1;
        match b {
            b'"' => {
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' => {
                nots.push(0);
                depth += 1;
            }
            b')' | b']' if nots.len() > 1 => {
                depth -= 1 + nots.pop().unwrap_or(0);
            }
            b'{' | b'}' => {
                // A rule block's braces: no condition spans them.
                depth -= nots.iter().sum::<usize>();
                nots.iter_mut().for_each(|n| *n = 0);
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let pending = nots.last_mut().expect("the outermost level stays");
                match &text[start..i] {
                    "not" => {
                        *pending += 1;
                        depth += 1;
                    }
                    // These end the operand of every `not` before them at this level.
                    "and" | "or" | "when" | "set" | "overwrite" | "tag" | "drop" | "rule"
                    | "macro" | "list" | "table" | "schedule" | "calendar" => {
                        depth -= *pending;
                        *pending = 0;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return Some(Span::new(start, i.min(bytes.len())));
        }
    }
    None
}

struct Builder<'s> {
    source: &'s Source,
    errors: Vec<Diagnostic>,
}

/// The span of a pair without the whitespace and comments that pest's
/// implicit skipping leaves at the end of rules ending in a repetition.
/// `any` or `all`, where it stands.
fn quantifier_of(part: &Pair<'_, Rule>) -> Spanned<Quantifier> {
    let q = if part.as_str() == "any" {
        Quantifier::Any
    } else {
        Quantifier::All
    };
    Spanned::new(q, span(part))
}

fn span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.start() + tight_len(s.as_str()))
}

fn tight_len(text: &str) -> usize {
    let mut end = text.len();
    loop {
        end = text[..end].trim_end().len();
        let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&text[line_start..end]) {
            Some(c) => end = line_start + c,
            None => return end,
        }
    }
}

/// Where a `#` comment starts in a line, outside any string.
fn comment_start(line: &str) -> Option<usize> {
    comments(line).next().map(|c| c.start)
}

/// The `#` comments of a text, in order: each from its `#` to the end of its
/// line (the line break excluded). A `#` inside a string (`"a#b"`, escapes
/// such as `\"` included) is text, not a comment.
pub(crate) fn comments(text: &str) -> impl Iterator<Item = Span> + '_ {
    let mut pos = 0;
    let mut in_string = false;
    let mut escaped = false;
    std::iter::from_fn(move || {
        while let Some(c) = text[pos..].chars().next() {
            let at = pos;
            pos += c.len_utf8();
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '#' if !in_string => {
                    pos = text[at..].find('\n').map_or(text.len(), |n| at + n);
                    return Some(Span::new(at, pos));
                }
                _ => {}
            }
        }
        None
    })
}

impl Builder<'_> {
    fn list_def(&mut self, pair: Pair<'_, Rule>) -> ListDef {
        let whole = span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_list);
        let name = spanned_str(inner.next().expect("list name"));
        let body = self.list_body(inner.next().expect("list body"));
        ListDef {
            name,
            body,
            span: whole,
        }
    }

    fn list_body(&mut self, pair: Pair<'_, Rule>) -> Spanned<ListBody> {
        let sp = span(&pair);
        match pair.as_rule() {
            Rule::list_lit => Spanned::new(ListBody::Items(self.list_lit(pair).node), sp),
            _ => Spanned::new(ListBody::File(self.file_source(pair)), sp),
        }
    }

    fn file_source(&mut self, pair: Pair<'_, Rule>) -> FileSource {
        let mut source = FileSource {
            path: Spanned::new(String::new(), span(&pair)),
            key: None,
            column: None,
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string => {
                    let sp = span(&part);
                    source.path = Spanned::new(self.string(part).value, sp);
                }
                Rule::key_column => source.key = Some(self.column(part)),
                Rule::value_column => source.column = Some(self.column(part)),
                _ => {}
            }
        }
        source
    }

    /// `key COLUMN` or `column COLUMN`: the column name, quoted or bare.
    fn column(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let column = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::column)
            .expect("a column");
        let sp = span(&column);
        let inner = column.into_inner().next().expect("column name");
        let name = match inner.as_rule() {
            Rule::string => self.string(inner).value,
            _ => inner.as_str().to_string(),
        };
        Spanned::new(name, sp)
    }

    /// `zone "America/New_York"`: the zone name.
    fn zone(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let string = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::string)
            .expect("a zone string");
        let sp = span(&string);
        Spanned::new(self.string(string).value, sp)
    }

    fn table_def(&mut self, pair: Pair<'_, Rule>) -> TableDef {
        let whole = span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_table);
        let name = spanned_str(inner.next().expect("table name"));
        let source = self.file_source(inner.next().expect("table file"));
        TableDef {
            name,
            source,
            span: whole,
        }
    }

    fn schedule_def(&mut self, pair: Pair<'_, Rule>) -> ScheduleDef {
        let whole = span(&pair);
        let mut inner = pair
            .into_inner()
            .filter(|p| p.as_rule() != Rule::kw_schedule);
        let name = spanned_str(inner.next().expect("schedule name"));
        let spec = inner.next().expect("schedule spec");
        let spec_span = span(&spec);
        let spec = Spanned::new(self.string(spec), spec_span);
        let zone = self.zone(inner.next().expect("schedule zone"));
        ScheduleDef {
            name,
            spec,
            zone,
            span: whole,
        }
    }

    fn calendar_def(&mut self, pair: Pair<'_, Rule>) -> CalendarDef {
        let whole = span(&pair);
        let mut inner = pair
            .into_inner()
            .filter(|p| p.as_rule() != Rule::kw_calendar);
        let name = spanned_str(inner.next().expect("calendar name"));
        let body = self.list_body(inner.next().expect("calendar entries"));
        let zone = self.zone(inner.next().expect("calendar zone"));
        CalendarDef {
            name,
            body,
            zone,
            span: whole,
        }
    }

    fn macro_def(&mut self, pair: Pair<'_, Rule>) -> MacroDef {
        let whole = span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_macro);
        let name = spanned_str(inner.next().expect("macro name"));
        let condition = self.condition(inner.next().expect("macro condition"));
        MacroDef {
            name,
            condition,
            span: whole,
        }
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Rule_ {
        let whole = span(&pair);
        let mut rule = Rule_ {
            id: None,
            description: None,
            severity: None,
            tags: None,
            allows: Vec::new(),
            techniques: Vec::new(),
            references: Vec::new(),
            title: None,
            dedup: None,
            dedup_window: None,
            condition: Spanned::new(Expr::And(Vec::new()), whole),
            actions: Vec::new(),
            span: whole,
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::rule_id => rule.id = Some(spanned_str(part)),
                Rule::description => {
                    let s = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::string)
                        .expect("string");
                    let sp = span(&s);
                    rule.description = Some(Spanned::new(self.string(s).value, sp));
                }
                Rule::severity => {
                    let p = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::priority)
                        .expect("priority");
                    let prio = Priority::parse(p.as_str()).expect("grammar admits only priorities");
                    rule.severity = Some(Spanned::new(prio, span(&p)));
                }
                Rule::tags => {
                    let l = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::list_lit)
                        .expect("list");
                    rule.tags = Some(self.list_lit(l));
                }
                Rule::allow => {
                    let mut code = None;
                    let mut reason = None;
                    for p in part.into_inner() {
                        match p.as_rule() {
                            Rule::lint_code => code = Some(spanned_str(p)),
                            Rule::string => {
                                let sp = span(&p);
                                reason = Some(Spanned::new(self.string(p).value, sp));
                            }
                            _ => {}
                        }
                    }
                    let code = code.expect("grammar: a code");
                    let end = reason.as_ref().map_or(code.span.end, |r| r.span.end);
                    rule.allows.push(Allow {
                        span: Span::new(code.span.start, end),
                        code,
                        reason,
                    });
                }
                Rule::technique | Rule::reference => {
                    let which = part.as_rule();
                    let s = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::string)
                        .expect("string");
                    let sp = span(&s);
                    let text = Spanned::new(self.string(s).value, sp);
                    if which == Rule::technique {
                        rule.techniques.push(text);
                    } else {
                        rule.references.push(text);
                    }
                }
                Rule::title | Rule::dedup => {
                    let which = part.as_rule();
                    let s = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::string)
                        .expect("string");
                    let sp = span(&s);
                    let text = Some(Spanned::new(self.string(s).value, sp));
                    if which == Rule::title {
                        rule.title = text;
                    } else {
                        rule.dedup = text;
                    }
                }
                Rule::dedup_window => {
                    let d = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::duration)
                        .expect("duration");
                    let sp = span(&d);
                    let text = d.as_str();
                    let (n, unit) = text.split_at(text.len() - 1);
                    let unit: u64 = match unit {
                        "s" => 1,
                        "m" => 60,
                        "h" => 3600,
                        "d" => 86_400,
                        _ => 7 * 86_400,
                    };
                    match n.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
                        Some(seconds) => rule.dedup_window = Some(Spanned::new(seconds, sp)),
                        None => self.errors.push(
                            Diagnostic::error(
                                E_NUMBER,
                                self.source,
                                sp,
                                format!("`{text}` is too long a window"),
                            )
                            .with_label("too large"),
                        ),
                    }
                }
                Rule::condition => rule.condition = self.condition(part),
                Rule::set | Rule::overwrite | Rule::tag | Rule::drop => {
                    let action = self.action(part);
                    rule.actions.push(action);
                }
                Rule::kw_rule | Rule::kw_when | Rule::block_close => {}
                other => unreachable!("unexpected rule part {other:?}"),
            }
        }
        rule
    }

    fn condition(&mut self, pair: Pair<'_, Rule>) -> Spanned<Expr> {
        let sp = span(&pair);
        match pair.as_rule() {
            Rule::condition => self.condition(pair.into_inner().next().expect("or_expr")),
            Rule::or_expr | Rule::and_expr => {
                let is_or = pair.as_rule() == Rule::or_expr;
                let mut parts: Vec<Spanned<Expr>> = pair
                    .into_inner()
                    .filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and))
                    .map(|p| self.condition(p))
                    .collect();
                if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else if is_or {
                    Spanned::new(Expr::Or(parts), sp)
                } else {
                    Spanned::new(Expr::And(parts), sp)
                }
            }
            Rule::not_expr => {
                let mut inner = pair.into_inner();
                let first = inner.next().expect("not_expr content");
                if first.as_rule() == Rule::negate {
                    let operand = self.condition(inner.next().expect("negated condition"));
                    Spanned::new(Expr::Not(Box::new(operand)), sp)
                } else {
                    self.condition(first)
                }
            }
            Rule::macro_ref => Spanned::new(Expr::MacroRef(pair.as_str().to_string()), sp),
            Rule::test => Spanned::new(Expr::Test(self.test(pair)), sp),
            Rule::for_each => Spanned::new(Expr::ForEach(Box::new(self.for_each(pair))), sp),
            other => unreachable!("unexpected condition {other:?}"),
        }
    }

    /// `any NAME in TERM (CONDITION)`. Apart from `condition`, whose stack
    /// frame each level of nesting costs.
    #[inline(never)]
    fn for_each(&mut self, pair: Pair<'_, Rule>) -> ForEach {
        let sp = span(&pair);
        let mut quantifier = None;
        let mut name = None;
        let mut over = None;
        let mut body = None;
        let (mut open, mut close) = (sp, sp);
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::quantifier => quantifier = Some(quantifier_of(&part)),
                Rule::bound => name = Some(spanned_str(part)),
                Rule::term => over = Some(self.term(part)),
                Rule::each_open => open = span(&part),
                Rule::each_close => close = span(&part),
                Rule::condition => body = Some(self.condition(part)),
                _ => {}
            }
        }
        ForEach {
            quantifier: quantifier.expect("grammar: a quantifier"),
            name: name.expect("grammar: a name"),
            over: over.expect("grammar: a term"),
            body: body.expect("grammar: a condition"),
            open,
            close,
        }
    }

    fn test(&mut self, pair: Pair<'_, Rule>) -> Test {
        let mut quantifier = None;
        let mut subject = None;
        let mut kind = TestKind::Exists;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::quantifier => quantifier = Some(quantifier_of(&part)),
                Rule::term => subject = Some(self.term(part)),
                Rule::presence => {
                    kind = if part.as_str() == "exists" {
                        TestKind::Exists
                    } else {
                        TestKind::Missing
                    };
                }
                Rule::comparison => kind = self.comparison(part),
                other => unreachable!("unexpected test part {other:?}"),
            }
        }
        Test {
            quantifier,
            subject: subject.expect("a test has a subject"),
            kind,
        }
    }

    fn comparison(&mut self, pair: Pair<'_, Rule>) -> TestKind {
        let mut inner = pair.into_inner();
        let operator = inner.next().expect("operator");
        let op_span = span(&operator);
        let mut negated = false;
        let mut op = Op::Eq;
        for part in operator.into_inner() {
            match part.as_rule() {
                Rule::negate => negated = true,
                Rule::symbol_op => {
                    op = match part.as_str() {
                        "==" => Op::Eq,
                        "!=" => Op::Ne,
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        _ => Op::Ge,
                    }
                }
                Rule::word_op => {
                    op = match part.as_str() {
                        "in" => Op::In,
                        "like" => Op::Like,
                        "matches" => Op::Matches,
                        "within" => Op::Within,
                        "startswith" => Op::StartsWith,
                        "endswith" => Op::EndsWith,
                        _ => Op::Contains,
                    }
                }
                other => unreachable!("unexpected operator part {other:?}"),
            }
        }
        let operand = inner.next().expect("operand");
        let rhs = self.operand(operand);
        TestKind::Compare {
            op: Spanned::new(op, op_span),
            negated,
            rhs,
        }
    }

    fn operand(&mut self, pair: Pair<'_, Rule>) -> Spanned<Operand> {
        let sp = span(&pair);
        let inner = pair.into_inner().next().expect("operand content");
        let node = match inner.as_rule() {
            Rule::list_lit => Operand::List(self.list_lit(inner).node),
            Rule::term => Operand::Term(self.term(inner).node),
            _ => Operand::Literal(self.literal(inner).node),
        };
        Spanned::new(node, sp)
    }

    fn action(&mut self, pair: Pair<'_, Rule>) -> Spanned<Action> {
        let sp = span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner().filter(|p| {
            !matches!(
                p.as_rule(),
                Rule::kw_set | Rule::kw_overwrite | Rule::kw_tag | Rule::kw_drop
            )
        });
        let node = match rule {
            Rule::set | Rule::overwrite => {
                let target = self.path(inner.next().expect("target"));
                let value = self.value(inner.next().expect("value"));
                if rule == Rule::set {
                    Action::Set { target, value }
                } else {
                    Action::Overwrite { target, value }
                }
            }
            Rule::tag => Action::Tag(
                inner
                    .map(|p| {
                        let sp = span(&p);
                        Spanned::new(self.string(p).value, sp)
                    })
                    .collect(),
            ),
            _ => Action::Drop,
        };
        Spanned::new(node, sp)
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Spanned<Value> {
        let sp = span(&pair);
        let inner = pair.into_inner().next().expect("value content");
        let node = match inner.as_rule() {
            Rule::term => Value::Term(self.term(inner).node),
            _ => Value::Literal(self.literal(inner).node),
        };
        Spanned::new(node, sp)
    }

    fn term(&mut self, pair: Pair<'_, Rule>) -> Spanned<Term> {
        let sp = span(&pair);
        let inner = pair.into_inner().next().expect("term content");
        let node = match inner.as_rule() {
            Rule::path => Term::Path(self.path(inner).node),
            Rule::call => {
                let mut parts = inner.into_inner();
                let name = spanned_str(parts.next().expect("function name"));
                let args = parts
                    .next()
                    .expect("arguments")
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::value)
                    .map(|p| self.value(p))
                    .collect();
                let rest = self.segments(parts);
                Term::Call(Call { name, args, rest })
            }
            _ => {
                let mut parts = inner.into_inner();
                let table = spanned_str(parts.next().expect("table name"));
                let key = parts
                    .next()
                    .expect("key")
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::value)
                    .expect("a key value");
                let key = Box::new(self.value(key));
                let rest = self.segments(parts);
                Term::Lookup(Lookup { table, key, rest })
            }
        };
        Spanned::new(node, sp)
    }

    fn path(&mut self, pair: Pair<'_, Rule>) -> Spanned<Path> {
        let sp = span(&pair);
        let segments = self.segments(pair.into_inner());
        Spanned::new(Path { segments }, sp)
    }

    fn segments<'i>(&mut self, parts: impl Iterator<Item = Pair<'i, Rule>>) -> Vec<Segment> {
        let mut segments = Vec::new();
        for part in parts {
            match part.as_rule() {
                Rule::field | Rule::field_any => {
                    segments.push(Segment::Field(part.as_str().to_string()))
                }
                Rule::quoted => {
                    let inner = part.into_inner().next().expect("quoted content");
                    let text = self.unescape(inner.as_str(), span(&inner).start);
                    segments.push(Segment::Field(text));
                }
                Rule::each => segments.push(Segment::Each),
                Rule::deep => segments.push(Segment::Deep),
                Rule::index => {
                    let digits = part.as_str().trim_matches(['[', ']']);
                    match digits.parse::<usize>() {
                        Ok(n) => segments.push(Segment::Index(n)),
                        Err(_) => {
                            self.errors.push(
                                Diagnostic::error(
                                    E_NUMBER,
                                    self.source,
                                    span(&part),
                                    "array index is too large",
                                )
                                .with_label("this index")
                                .with_help("indexes count from 0 and must fit in 64 bits"),
                            );
                            segments.push(Segment::Index(usize::MAX));
                        }
                    }
                }
                other => unreachable!("unexpected path part {other:?}"),
            }
        }
        segments
    }

    fn list_lit(&mut self, pair: Pair<'_, Rule>) -> Spanned<ListLit> {
        let sp = span(&pair);
        let mut list = ListLit {
            ignore_case: false,
            items: Vec::new(),
        };
        for part in pair.into_inner() {
            if part.as_rule() == Rule::list_open {
                list.ignore_case = part.into_inner().any(|f| f.as_rule() == Rule::list_flags);
            } else if matches!(part.as_rule(), Rule::comma | Rule::list_close) {
                continue;
            } else {
                list.items.push(self.literal(part));
            }
        }
        Spanned::new(list, sp)
    }

    fn literal(&mut self, pair: Pair<'_, Rule>) -> Spanned<Literal> {
        let sp = span(&pair);
        let node = match pair.as_rule() {
            Rule::string => Literal::Str(self.string(pair)),
            Rule::number => match serde_json::from_str::<serde_json::Number>(pair.as_str()) {
                Ok(n) => Literal::Number(n),
                Err(_) if has_leading_zero(pair.as_str()) => {
                    self.errors.push(
                        Diagnostic::error(E_NUMBER, self.source, sp, "a number cannot start with 0")
                            .with_label("leading zero")
                            .with_help(format!("drop the leading zeros, or quote it if it is text such as an account id: \"{}\"", pair.as_str())),
                    );
                    Literal::Null
                }
                Err(_) => {
                    self.errors.push(
                        Diagnostic::error(E_NUMBER, self.source, sp, "number is out of range")
                            .with_label("this number")
                            .with_help("numbers must fit in a 64-bit float"),
                    );
                    Literal::Null
                }
            },
            Rule::boolean => Literal::Bool(pair.as_str() == "true"),
            Rule::null => Literal::Null,
            Rule::priority => Literal::Priority(Priority::parse(pair.as_str()).expect("grammar")),
            other => unreachable!("unexpected literal {other:?}"),
        };
        Spanned::new(node, sp)
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> StrLit {
        let mut ignore_case = false;
        let mut raw = false;
        let mut value = String::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::str_flags => {
                    ignore_case = part.as_str().contains('i');
                    raw = part.as_str().contains('r');
                }
                Rule::str_inner => {
                    value = if raw {
                        part.as_str().to_string()
                    } else {
                        self.unescape(part.as_str(), span(&part).start)
                    };
                }
                other => unreachable!("unexpected string part {other:?}"),
            }
        }
        StrLit {
            value,
            ignore_case,
            raw,
        }
    }

    /// Resolves escapes; `offset` is where `text` starts in the source, for errors.
    fn unescape(&mut self, text: &str, offset: usize) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, esc)) = chars.next() else { break };
            match esc {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let rest = &text[i + 2..];
                    let parsed = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .filter(|(hex, _)| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
                        .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)))
                        .and_then(|(len, v)| char::from_u32(v).map(|c| (len, c)));
                    match parsed {
                        Some((len, c)) => {
                            out.push(c);
                            for _ in 0..len + 2 {
                                chars.next();
                            }
                        }
                        None => self.errors.push(
                            Diagnostic::error(
                                E_ESCAPE,
                                self.source,
                                Span::new(offset + i, offset + i + 2),
                                "invalid unicode escape",
                            )
                            .with_label("expected \\u{HEX}")
                            .with_help("write a code point in hex between braces, e.g. \\u{e9} for é"),
                        ),
                    }
                }
                other => self.errors.push(
                    Diagnostic::error(
                        E_ESCAPE,
                        self.source,
                        Span::new(offset + i, offset + i + 1 + other.len_utf8()),
                        format!("unknown escape `\\{other}`"),
                    )
                    .with_label("not an escape")
                    .with_help(
                        "escapes are \\\" \\\\ \\n \\t \\r and \\u{HEX}; for regular expressions use a raw string: r\"\\d+\"",
                    ),
                ),
            }
        }
        out
    }
}

/// `007`, `-01.5`: JSON (and so ctrules) writes no leading zeros.
fn has_leading_zero(text: &str) -> bool {
    let digits = text.trim_start_matches('-').as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// `Rule` is taken by pest's generated enum; the AST's rule is this alias.
type Rule_ = crate::ast::Rule;

fn spanned_str(pair: Pair<'_, Rule>) -> Spanned<String> {
    Spanned::new(pair.as_str().to_string(), span(&pair))
}

/// Turns pest's error into a diagnostic: what was expected in words a rule
/// author uses, and a hint for the usual slips (`=` for `==`, `&&`, quotes).
fn syntax_error(source: &Source, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let text = source.text();
    let rest = &text[pos.min(text.len())..];
    let found = describe_found(rest);
    let mut expected: Vec<&'static str> = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe_rule(*r)).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    // After a field name, pest also lists what could follow a complete
    // condition (a macro name is one): the operator is what the author missed.
    if expected.iter().any(|e| e.starts_with("an operator")) {
        expected.retain(|e| e.starts_with("an operator") || e.starts_with("`exists`"));
    }
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_alternatives(&expected))
    };
    let end = pos + rest.chars().next().map_or(0, |c| c.len_utf8());
    let mut diag =
        Diagnostic::error(E_SYNTAX, source, Span::new(pos, end), message).with_label("here");
    if let Some(help) = hint(rest, &expected) {
        diag = diag.with_help(help);
    }
    diag
}

fn describe_found(rest: &str) -> String {
    if rest.is_empty() {
        return "end of file".to_string();
    }
    let token: String = if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    } else {
        rest.chars().take(1).collect()
    };
    match token.as_str() {
        "\n" | "\r" => "end of line".to_string(),
        t => format!("`{t}`"),
    }
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::list_def => "`list`",
        Rule::macro_def => "`macro`",
        Rule::rule_block => "`rule`",
        Rule::rule_inline => "`when`",
        Rule::block_close => "`}`",
        Rule::kw_list => "`list`",
        Rule::kw_macro => "`macro`",
        Rule::kw_rule => "`rule`",
        Rule::kw_when => "`when`",
        Rule::rule_id => "a rule id",
        Rule::name | Rule::macro_ref => "a name",
        Rule::condition | Rule::or_expr | Rule::and_expr | Rule::not_expr | Rule::test => {
            "a condition"
        }
        Rule::negate | Rule::kw_not => "`not`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::quantifier | Rule::kw_any | Rule::kw_all => "`any` or `all`",
        Rule::for_each => "a condition",
        Rule::bound => "a name",
        Rule::each_open => "`(`",
        Rule::each_close => "`)`",
        Rule::path | Rule::field | Rule::field_any | Rule::quoted | Rule::term | Rule::lookup => {
            "a field name"
        }
        Rule::call | Rule::func_name => "a function",
        Rule::arguments => "`(`",
        Rule::key => "`[`",
        Rule::table_def | Rule::kw_table => "`table`",
        Rule::schedule_def | Rule::kw_schedule => "`schedule`",
        Rule::calendar_def | Rule::kw_calendar => "`calendar`",
        Rule::file_source | Rule::kw_file => "`file \"PATH\"`",
        Rule::key_column | Rule::kw_key => "`key`",
        Rule::value_column | Rule::kw_column => "`column`",
        Rule::zone | Rule::kw_zone => "`zone \"Area/City\"`",
        Rule::column => "a column name",
        Rule::each | Rule::index => "`[]` or `[N]`",
        Rule::deep => "`**`",
        Rule::presence | Rule::kw_exists | Rule::kw_missing => "`exists` or `missing`",
        Rule::comparison | Rule::operator | Rule::symbol_op | Rule::word_op => {
            "an operator (`==`, `!=`, `in`, `like`, ...)"
        }
        Rule::kw_in
        | Rule::kw_like
        | Rule::kw_matches
        | Rule::kw_within
        | Rule::kw_startswith
        | Rule::kw_endswith
        | Rule::kw_contains => "an operator (`==`, `!=`, `in`, `like`, ...)",
        Rule::operand | Rule::value => "a value",
        Rule::set
        | Rule::overwrite
        | Rule::tag
        | Rule::drop
        | Rule::kw_set
        | Rule::kw_overwrite
        | Rule::kw_tag
        | Rule::kw_drop => "an action (`set`, `overwrite`, `tag`, `drop`)",
        Rule::description | Rule::kw_description => "`description`",
        Rule::severity | Rule::kw_severity => "`severity`",
        Rule::tags | Rule::kw_tags => "`tags`",
        Rule::allow | Rule::kw_allow => "`allow`",
        Rule::technique | Rule::kw_technique => "`technique`",
        Rule::title | Rule::kw_title => "`title`",
        Rule::dedup | Rule::kw_dedup => "`dedup`",
        Rule::dedup_window | Rule::kw_dedup_window => "`dedup_window`",
        Rule::duration => "a duration such as 30m, 1h or 7d",
        Rule::reference | Rule::kw_reference => "`reference`",
        Rule::lint_code => "a warning code such as W308",
        Rule::string | Rule::str_inner | Rule::str_flags => "a string",
        Rule::number => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::null => "`null`",
        Rule::priority => "a priority (INFO, LOW, MEDIUM, HIGH, CRITICAL)",
        Rule::list_lit | Rule::list_open | Rule::list_flags => "a list `[...]`",
        Rule::comma => "`,`",
        Rule::list_close => "`]`",
        _ => return None,
    })
}

fn join_alternatives(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn hint(rest: &str, expected: &[&'static str]) -> Option<String> {
    let operator_expected = expected.iter().any(|e| e.starts_with("an operator"));
    if rest.starts_with('=') && !rest.starts_with("==") && operator_expected {
        return Some("to compare, write `==`; `=` only assigns, after `set`".into());
    }
    if rest.starts_with("&&") {
        return Some("write `and` to join conditions".into());
    }
    if rest.starts_with("||") {
        return Some("write `or` to join alternatives".into());
    }
    if rest.starts_with('!') && !rest.starts_with("!=") {
        return Some("write `not` to negate a condition".into());
    }
    if rest.starts_with('\'') {
        return Some("strings are written in double quotes: \"text\"".into());
    }
    if rest.starts_with('"') && expected.contains(&"a condition") {
        return Some("a condition starts with a field name: `eventName == \"CreateUser\"`".into());
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    match word.as_str() {
        "AND" | "OR" | "NOT" => Some(format!(
            "keywords are lower case: `{}`",
            word.to_lowercase()
        )),
        "then" | "do" => {
            Some("actions follow the condition directly: `when ... set xpriority = HIGH`".into())
        }
        "info" | "high" | "low" | "medium" | "critical" => Some(format!(
            "priorities are written in capitals: {}",
            word.to_uppercase()
        )),
        _ if let Some(keyword) = closest_keyword(rest, expected) => {
            if keyword.eq_ignore_ascii_case(&word) && keyword.starts_with(char::is_uppercase) {
                Some(format!("priorities are written in capitals: {keyword}"))
            } else if keyword.eq_ignore_ascii_case(&word) {
                Some(format!("keywords are lower case: `{keyword}`"))
            } else {
                Some(format!("did you mean `{keyword}`?"))
            }
        }
        _ if rest.starts_with(|c: char| c.is_alphabetic())
            && expected.iter().any(|e| e.starts_with("an operator")) =>
        {
            Some(
                "a condition compares a field: `eventName == \"CreateUser\"`, `errorCode exists`"
                    .into(),
            )
        }
        _ => None,
    }
}

/// The keyword closest to the word at `rest`, among those that could have
/// come there: a misspelt keyword (`wen`, `sett`, `startwith`) is a likely
/// slip. Nothing when the word is not near one.
fn closest_keyword(rest: &str, expected: &[&'static str]) -> Option<&'static str> {
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut candidates: Vec<&'static str> = Vec::new();
    if expected.is_empty() {
        // pest names nothing at the start of an item: any item could start there.
        candidates.extend(ITEM_KEYWORDS);
    }
    for e in expected {
        if e.starts_with("an operator") {
            candidates.extend(WORD_OPERATORS);
            candidates.push("not");
        } else if e.starts_with("a priority") {
            candidates.extend(["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]);
        }
        // The words in backquotes: "`and`", "`any` or `all`", "an action (`set`, ...)".
        for quoted in e.split('`').skip(1).step_by(2) {
            let keyword = quoted
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default();
            if !keyword.is_empty() && quoted.starts_with(keyword) {
                candidates.push(keyword);
            }
        }
    }
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        // Optimal string alignment: a swapped pair (`mcaro`) is one edit.
        .map(|c| (strsim::osa_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// The keywords an item starts with.
const ITEM_KEYWORDS: [&str; 7] = [
    "when", "rule", "list", "macro", "table", "schedule", "calendar",
];

/// The operators written as words.
const WORD_OPERATORS: [&str; 7] = [
    "in",
    "like",
    "matches",
    "within",
    "startswith",
    "endswith",
    "contains",
];

//! The canonical layout of `.rules` files: what `ctrules fmt` writes.
//!
//! The layout is a function of the syntax tree, the comments and where the
//! author left blank lines, never of how the rest was spaced, so that two
//! people who write the same rules get the same text, and a diff shows only
//! what changed in meaning. It follows how `rules.d` was written by hand:
//!
//! ```text
//! # Comments stay where they were: above a line, or at its end.
//! list not_people = ["AWSService", "Unknown", "Missing"]
//! macro console_login = eventName == "ConsoleLogin"
//! when eventSource == "iam.amazonaws.com" set xpriority = HIGH
//!
//! rule after_hours {
//!   description "A call by a person outside working hours"
//!   severity MEDIUM
//!   tags ["after-hours"]
//!   when actor.type not in not_people
//!    and eventTime not within working_hours
//!   set xafter_hours = true
//! }
//! ```
//!
//! - **Items** start at column 0. Declarations and one-line rules stay on one
//!   line when they fit in [`MAX_WIDTH`] columns and hold no comment: a
//!   file of short rules reads as a table.
//! - **Block rules** put each metadata line, `when` and each action on a line
//!   of its own, indented by 2, with metadata in the order written.
//! - **The condition of a rule on several lines** puts each operand of its
//!   top-level `and` (or `or`) on a line of its own, with the keyword
//!   right-aligned under `when` (` and`, `  or`): the conditions read as a
//!   column. A one-line rule that is too long is laid out the same way, with
//!   its actions at column 0 below, like a block without its braces.
//! - **A macro that is too long** puts its condition below the name, one
//!   operand a line, indented by 4 (`macro m =` / `    a` / `    or b`).
//! - **Lists and parenthesized conditions that are too long** (or hold a
//!   comment) are wrapped one member a line, indented by 4 from the
//!   enclosing line, with a trailing comma after every list member and the
//!   closing bracket on a line of its own: adding a member is a one-line diff.
//! - **Spacing**: one space around operators and `=`, after commas and
//!   keywords; none inside brackets and parentheses. `not in` is written
//!   with one space.
//! - **Parentheses** around a group inside a chain (`a and (b or c)`,
//!   `(a and b) or c`, `(a or b) or c`) and around a chain after `not` are
//!   kept: the tree has them. Others are dropped: `(a)`, `((a or b))`, a whole
//!   condition in parentheses, `not (x exists)`.
//! - **Strings, numbers, paths and rule ids are written exactly as in the
//!   source** (escapes, `r"..."`, `i"..."`, `1.5e3`, `"x-y"` keys): a
//!   formatter that re-escaped strings could change a regular expression.
//! - **Comments** are kept, in order, with the line they were on or above:
//!   an own-line comment goes above the line of the next token, a comment
//!   after code stays at the end of that token's line (two spaces before
//!   `#`). A comment inside what now fits on one line (between the arguments
//!   of a call, say) moves to the end of that line, or above it, but never
//!   to another item. Its text is kept, only trailing spaces are dropped.
//! - **Blank lines**: at most one, where the author left one. An item that
//!   takes several lines always has a blank line before and after it. No
//!   blank line directly inside `{`, `(` or `[`, or before its closing
//!   bracket.
//! - A metadata line written twice in one block (`severity LOW` ...
//!   `severity HIGH`) keeps only the last, which is the one that counts;
//!   `allow`, `technique` and `reference` lines are all kept, since each counts.
//!
//! Formatting never changes what the rules do: the formatted file parses to
//! the same tree (spans aside), and formatting it again changes nothing. One
//! thing can move: the automatic id of a one-line rule is its file and line
//! (`iam:3`), so a rule that moves to another line gets another id.
//!
//! How: the tree is laid out into lines of tokens; a token taken from the
//! source keeps its place there (its "anchor"). Comments, which the parser
//! drops, are found in the text and placed by their position among the
//! anchors. (`and` and `or` are not anchors: a comment after `a and` belongs
//! to the line of `a`, whether the `and` ends that line or starts the
//! next.) A group (a chain of conditions, a list) is broken over several
//! lines when it does not fit, or when a comment lies between its first and
//! last anchors; a comment that then lands inside a line is moved to the
//! nearest line break inside that group, so formatting again finds it there
//! and makes the same choices.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::parser::comments;
use crate::source::{Source, Span};

/// Lines are wrapped, where the layout allows, to stay within this many columns.
pub const MAX_WIDTH: usize = 100;
/// Indent of the body of a block rule.
const BLOCK_INDENT: usize = 2;
/// Indent of wrapped list members, parenthesized conditions and macro conditions.
const WRAP_INDENT: usize = 4;

/// Parses a rules file and returns it in the canonical layout, or the
/// parser's diagnostics.
pub fn format(source: &Source) -> Result<String, Vec<Diagnostic>> {
    let file = crate::parse(source)?;
    Ok(format_file(source.text(), &file))
}

/// The canonical layout of `file`, parsed from `text`.
pub fn format_file(text: &str, file: &RulesFile) -> String {
    let formatter = Formatter {
        text,
        comments: comments(text).collect(),
    };
    let mut printer = Printer::default();
    for item in &file.items {
        let first = printer.lines.len();
        printer.newline(0);
        formatter.item(&mut printer, item);
        printer.items.push((first, printer.lines.len()));
    }
    formatter.render(&printer)
}

/// The tree of a file with every span left out: two files with the same
/// shape say the same thing, wherever their parts stand. `ctrules fmt`
/// checks that the file it writes has the shape of the file it read.
pub fn tree_shape(file: &RulesFile) -> String {
    const SPAN: &str = "Span { start: ";
    let debug = format!("{file:?}");
    let mut shape = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find(SPAN) {
        shape.push_str(&rest[..at]);
        rest = &rest[at + SPAN.len()..];
        rest = rest.find('}').map_or("", |end| &rest[end + 1..]);
    }
    shape.push_str(rest);
    shape
}

/// A token to print, with its place in the source when it was taken from
/// there; or a space.
#[derive(Debug, Clone)]
enum Piece {
    Tok(String, Option<Span>),
    Space,
}

fn width(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Tok(text, _) => text.chars().count(),
            Piece::Space => 1,
        })
        .sum()
}

fn tok(text: &str) -> Piece {
    Piece::Tok(text.to_string(), None)
}

#[derive(Debug, Default)]
struct Line {
    indent: usize,
    text: String,
    width: usize,
    /// Source offsets of the first and last anchors on the line.
    start: Option<usize>,
    end: Option<usize>,
    /// Ends with `{`, `(` or `[`: no blank line may follow.
    opens: bool,
    /// Starts with `}`, `)` or `]`: no blank line may precede it.
    closes: bool,
    /// Indent of the comments above this line.
    comment_indent: usize,
}

/// A token that came from the source, and the line it was printed on.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    span: Span,
    line: usize,
}

/// A chain, list or rule that was broken over several lines.
#[derive(Debug)]
struct Group {
    /// Its anchors: indexes into `Printer::anchors`.
    first_anchor: usize,
    end_anchor: usize,
    first_line: usize,
    last_line: usize,
}

/// Where a group starts.
#[derive(Clone, Copy)]
struct Mark {
    anchor: usize,
    line: usize,
}

#[derive(Default)]
struct Printer {
    lines: Vec<Line>,
    anchors: Vec<Anchor>,
    groups: Vec<Group>,
    /// The lines of each item: first, end (exclusive).
    items: Vec<(usize, usize)>,
}

impl Printer {
    fn newline(&mut self, indent: usize) {
        self.lines.push(Line {
            indent,
            comment_indent: indent,
            ..Line::default()
        });
    }

    fn line(&mut self) -> &mut Line {
        self.lines.last_mut().expect("a line is open")
    }

    fn indent(&self) -> usize {
        self.lines.last().map_or(0, |l| l.indent)
    }

    fn col(&self) -> usize {
        self.lines.last().map_or(0, |l| l.indent + l.width)
    }

    fn fits(&self, pieces: &[Piece], suffix: usize) -> bool {
        self.col() + width(pieces) + suffix <= MAX_WIDTH
    }

    fn emit(&mut self, pieces: impl IntoIterator<Item = Piece>) {
        let line_index = self.lines.len() - 1;
        for piece in pieces {
            let line = self.lines.last_mut().expect("a line is open");
            match piece {
                Piece::Space => {
                    line.text.push(' ');
                    line.width += 1;
                }
                Piece::Tok(text, at) => {
                    line.width += text.chars().count();
                    line.text.push_str(&text);
                    if let Some(span) = at {
                        line.start.get_or_insert(span.start);
                        line.end = Some(span.end);
                        self.anchors.push(Anchor {
                            span,
                            line: line_index,
                        });
                    }
                }
            }
        }
    }

    /// The current line ends with an opening bracket.
    fn opens(&mut self) {
        self.line().opens = true;
    }

    /// The current line starts with a closing bracket; comments above it
    /// belong to what it closes, at `inner` indent.
    fn closes(&mut self, inner: usize) {
        let line = self.line();
        line.closes = true;
        line.comment_indent = inner;
    }

    fn mark(&self) -> Mark {
        Mark {
            anchor: self.anchors.len(),
            line: self.lines.len() - 1,
        }
    }

    /// Records a group begun at `mark`, if it took more than one line.
    fn close_group(&mut self, mark: Mark) {
        let last_line = self.lines.len() - 1;
        if last_line > mark.line && self.anchors.len() > mark.anchor {
            self.groups.push(Group {
                first_anchor: mark.anchor,
                end_anchor: self.anchors.len(),
                first_line: mark.line,
                last_line,
            });
        }
    }

    /// The smallest broken group holding both anchors `a` and `b`.
    fn innermost_group(&self, a: usize, b: usize) -> Option<&Group> {
        self.groups
            .iter()
            .filter(|g| g.first_anchor <= a && b < g.end_anchor)
            .min_by_key(|g| g.end_anchor - g.first_anchor)
    }
}

/// Where a condition stands: what its parentheses depend on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    And,
    Or,
    Not,
}

/// The keyword and context of a chain's operands.
fn chain_of(e: &Expr) -> (&'static str, Ctx) {
    match e {
        Expr::Or(_) => ("or", Ctx::Or),
        _ => ("and", Ctx::And),
    }
}

struct Formatter<'a> {
    text: &'a str,
    /// Every comment of the text, in order.
    comments: Vec<Span>,
}

impl Formatter<'_> {
    // ---- Reading the source -------------------------------------------------

    /// A token written exactly as in the source.
    fn src(&self, span: Span) -> Piece {
        Piece::Tok(self.text[span.start..span.end].to_string(), Some(span))
    }

    /// A fixed token (keyword or punctuation), anchored at `at` when the
    /// source holds exactly that token there.
    fn fixed(&self, text: &str, at: Option<Span>) -> Piece {
        let at = at.filter(|s| self.text.get(s.start..s.end) == Some(text));
        Piece::Tok(text.to_string(), at)
    }

    /// `word` at the start of `span` (an item or action keyword).
    fn keyword_at(&self, word: &str, span: Span) -> Piece {
        self.fixed(word, Some(Span::new(span.start, span.start + word.len())))
    }

    /// The keyword before `pos`, past any opening parentheses (the `when`
    /// of `when (a or b)`).
    fn keyword_before(&self, word: &str, mut pos: usize) -> Piece {
        let at = loop {
            match self.prev_token(pos) {
                Some(t) if &self.text[t.start..t.end] == "(" => pos = t.start,
                other => break other,
            }
        };
        self.fixed(word, at)
    }

    fn comment_at(&self, offset: usize) -> Option<Span> {
        let i = self.comments.partition_point(|c| c.start <= offset);
        i.checked_sub(1)
            .map(|i| self.comments[i])
            .filter(|c| offset < c.end)
    }

    /// The token that ends at `pos`, past whitespace and comments.
    fn prev_token(&self, mut pos: usize) -> Option<Span> {
        loop {
            pos = self.text[..pos].trim_end_matches(is_space).len();
            match self.comment_at(pos.checked_sub(1)?) {
                Some(c) => pos = c.start,
                None => break,
            }
        }
        let before = &self.text[..pos];
        let start = if before.ends_with(is_word_char) {
            before.trim_end_matches(is_word_char).len()
        } else {
            pos - before.chars().next_back()?.len_utf8()
        };
        Some(Span::new(start, pos))
    }

    /// The token that starts at or after `pos`, past whitespace and comments.
    fn next_token(&self, mut pos: usize) -> Option<Span> {
        loop {
            pos = self.text.len() - self.text[pos..].trim_start_matches(is_space).len();
            if self.text[pos..].starts_with('#') {
                pos = self.text[pos..]
                    .find('\n')
                    .map_or(self.text.len(), |n| pos + n);
            } else {
                break;
            }
        }
        let after = &self.text[pos..];
        let len = if after.starts_with(is_word_char) {
            after.len() - after.trim_start_matches(is_word_char).len()
        } else {
            after.chars().next()?.len_utf8()
        };
        Some(Span::new(pos, pos + len))
    }

    /// The closing `bracket` after `pos`, past commas (a trailing comma).
    fn closing(&self, mut pos: usize, bracket: &str) -> Option<Span> {
        loop {
            let t = self.next_token(pos)?;
            match &self.text[t.start..t.end] {
                "," => pos = t.end,
                s if s == bracket => return Some(t),
                _ => return None,
            }
        }
    }

    /// The parentheses written right around `span`, if any.
    fn parens_around(&self, span: Span) -> Option<(Span, Span)> {
        let open = self.prev_token(span.start)?;
        let close = self.next_token(span.end)?;
        (&self.text[open.start..open.end] == "(" && &self.text[close.start..close.end] == ")")
            .then_some((open, close))
    }

    /// True when a comment lies between the first and last anchors of
    /// `pieces`: they cannot be printed on one line.
    fn inner_comment(&self, pieces: &[Piece]) -> bool {
        let mut anchors = pieces.iter().filter_map(|p| match p {
            Piece::Tok(_, at) => *at,
            Piece::Space => None,
        });
        let Some(first) = anchors.next() else {
            return false;
        };
        let last = anchors.next_back().unwrap_or(first);
        let i = self.comments.partition_point(|c| c.start < first.end);
        self.comments.get(i).is_some_and(|c| c.start < last.start)
    }

    // ---- Items ----------------------------------------------------------------

    fn item(&self, p: &mut Printer, item: &Item) {
        match item {
            Item::List(d) => {
                p.emit(self.head("list", d.span, &d.name));
                self.list_body(p, &d.body, 0);
            }
            Item::Macro(d) => self.macro_def(p, d),
            Item::Table(d) => {
                p.emit(self.head("table", d.span, &d.name));
                p.emit(self.file_source(&d.source));
            }
            Item::Schedule(d) => {
                p.emit(self.head("schedule", d.span, &d.name));
                p.emit([self.src(d.spec.span), Piece::Space]);
                p.emit(self.zone(&d.zone));
            }
            Item::Calendar(d) => {
                let zone = self.zone(&d.zone);
                p.emit(self.head("calendar", d.span, &d.name));
                self.list_body(p, &d.body, 1 + width(&zone));
                p.emit([Piece::Space]);
                p.emit(zone);
            }
            Item::Rule(r) => match &r.id {
                Some(id) => self.block_rule(p, r, id),
                None => self.inline_rule(p, r),
            },
        }
    }

    /// `KEYWORD NAME = `
    fn head(&self, keyword: &str, span: Span, name: &Spanned<String>) -> Vec<Piece> {
        vec![
            self.keyword_at(keyword, span),
            Piece::Space,
            self.src(name.span),
            Piece::Space,
            tok("="),
            Piece::Space,
        ]
    }

    fn list_body(&self, p: &mut Printer, body: &Spanned<ListBody>, suffix: usize) {
        match &body.node {
            ListBody::Items(list) => self.list(p, list, body.span, 0, suffix),
            ListBody::File(source) => p.emit(self.file_source(source)),
        }
    }

    /// `file "PATH" [key COLUMN] [column COLUMN]`
    fn file_source(&self, source: &FileSource) -> Vec<Piece> {
        let mut out = vec![
            self.keyword_before("file", source.path.span.start),
            Piece::Space,
            self.src(source.path.span),
        ];
        for (word, column) in [("key", &source.key), ("column", &source.column)] {
            if let Some(column) = column {
                out.extend([
                    Piece::Space,
                    self.keyword_before(word, column.span.start),
                    Piece::Space,
                    self.src(column.span),
                ]);
            }
        }
        out
    }

    fn zone(&self, zone: &Spanned<String>) -> Vec<Piece> {
        vec![
            self.keyword_before("zone", zone.span.start),
            Piece::Space,
            self.src(zone.span),
        ]
    }

    fn macro_def(&self, p: &mut Printer, def: &MacroDef) {
        let mut head = self.head("macro", def.span, &def.name);
        let mut flat = head.clone();
        flat.extend(self.cond_pieces(&def.condition, Ctx::Top));
        if p.fits(&flat, 0) && !self.inner_comment(&flat) {
            return p.emit(flat);
        }
        match &def.condition.node {
            Expr::And(parts) | Expr::Or(parts) => {
                head.pop(); // the space after `=`: the condition starts below
                let mark = p.mark();
                p.emit(head);
                self.chain(p, &def.condition.node, parts, WRAP_INDENT, WRAP_INDENT);
                p.close_group(mark);
            }
            _ => {
                p.emit(head);
                self.cond(p, &def.condition, Ctx::Top, 0, 0);
            }
        }
    }

    fn block_rule(&self, p: &mut Printer, rule: &Rule, id: &Spanned<String>) {
        let mark = p.mark();
        p.emit([
            self.keyword_at("rule", rule.span),
            Piece::Space,
            self.src(id.span),
            Piece::Space,
            self.fixed("{", self.next_token(id.span.end)),
        ]);
        p.opens();
        // Metadata in the order written: only the last of each kind is in
        // the tree, and only it counts.
        let mut meta: Vec<(Span, &str)> = Vec::new();
        meta.extend(rule.description.as_ref().map(|d| (d.span, "description")));
        meta.extend(rule.severity.as_ref().map(|s| (s.span, "severity")));
        meta.extend(rule.tags.as_ref().map(|t| (t.span, "tags")));
        meta.extend(rule.allows.iter().map(|a| (a.span, "allow")));
        meta.extend(rule.techniques.iter().map(|t| (t.span, "technique")));
        meta.extend(rule.references.iter().map(|r| (r.span, "reference")));
        meta.extend(rule.title.as_ref().map(|t| (t.span, "title")));
        meta.extend(rule.dedup.as_ref().map(|d| (d.span, "dedup")));
        meta.extend(rule.dedup_window.as_ref().map(|w| (w.span, "dedup_window")));
        meta.sort_by_key(|(span, _)| span.start);
        for (span, word) in meta {
            p.newline(BLOCK_INDENT);
            p.emit([self.keyword_before(word, span.start), Piece::Space]);
            match (&rule.tags, rule.allows.iter().find(|a| a.span == span)) {
                (Some(tags), _) if word == "tags" => {
                    self.list(p, &tags.node, span, BLOCK_INDENT, 0)
                }
                (_, Some(allow)) if word == "allow" => {
                    p.emit([self.src(allow.code.span)]);
                    if let Some(reason) = &allow.reason {
                        p.emit([Piece::Space, self.src(reason.span)]);
                    }
                }
                _ => p.emit([self.src(span)]),
            }
        }
        p.newline(BLOCK_INDENT);
        p.emit([
            self.keyword_before("when", rule.condition.span.start),
            Piece::Space,
        ]);
        self.river(p, &rule.condition, BLOCK_INDENT);
        for action in &rule.actions {
            p.newline(BLOCK_INDENT);
            p.emit(self.action(action));
        }
        p.newline(0);
        p.closes(BLOCK_INDENT);
        let close = Span::new(rule.span.end.saturating_sub(1), rule.span.end);
        p.emit([self.fixed("}", Some(close))]);
        p.close_group(mark);
    }

    fn inline_rule(&self, p: &mut Printer, rule: &Rule) {
        let when = [self.keyword_at("when", rule.span), Piece::Space];
        let mut flat = when.to_vec();
        flat.extend(self.cond_pieces(&rule.condition, Ctx::Top));
        for action in &rule.actions {
            flat.push(Piece::Space);
            flat.extend(self.action(action));
        }
        if p.fits(&flat, 0) && !self.inner_comment(&flat) {
            return p.emit(flat);
        }
        let mark = p.mark();
        p.emit(when);
        self.river(p, &rule.condition, 0);
        for action in &rule.actions {
            p.newline(0);
            p.emit(self.action(action));
        }
        p.close_group(mark);
    }

    /// The condition of a rule laid out on several lines, after `when `:
    /// the operands of a top-level chain one a line, each keyword
    /// right-aligned under `when` (at `indent`).
    fn river(&self, p: &mut Printer, cond: &Spanned<Expr>, indent: usize) {
        let (Expr::And(parts) | Expr::Or(parts)) = &cond.node else {
            return self.cond(p, cond, Ctx::Top, indent, 0);
        };
        let (op, ctx) = chain_of(&cond.node);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                p.newline(indent + "when".len() - op.len());
                p.emit([tok(op), Piece::Space]);
            }
            self.cond(p, part, ctx, indent, 0);
        }
    }

    fn action(&self, action: &Spanned<Action>) -> Vec<Piece> {
        match &action.node {
            Action::Set { target, value } | Action::Overwrite { target, value } => {
                let word = match action.node {
                    Action::Set { .. } => "set",
                    _ => "overwrite",
                };
                let mut out = vec![
                    self.keyword_at(word, action.span),
                    Piece::Space,
                    self.src(target.span),
                    Piece::Space,
                    tok("="),
                    Piece::Space,
                ];
                out.extend(self.value(&value.node, value.span));
                out
            }
            Action::Tag(tags) => {
                let mut out = vec![self.keyword_at("tag", action.span)];
                for (i, t) in tags.iter().enumerate() {
                    if i > 0 {
                        out.push(tok(","));
                    }
                    out.extend([Piece::Space, self.src(t.span)]);
                }
                out
            }
            Action::Drop => vec![self.fixed("drop", Some(action.span))],
        }
    }

    // ---- Conditions -------------------------------------------------------------

    /// Whether `e`, standing in `ctx`, is written in parentheses: where the
    /// tree needs them, and around an `and` inside an `or` if the author
    /// wrote them there.
    fn parenthesized(&self, e: &Spanned<Expr>, ctx: Ctx) -> bool {
        match (&e.node, ctx) {
            (Expr::Or(_), Ctx::And | Ctx::Or | Ctx::Not) => true,
            (Expr::And(_), Ctx::And | Ctx::Not) => true,
            (Expr::And(_), Ctx::Or) => self.parens_around(e.span).is_some(),
            _ => false,
        }
    }

    /// `e` on one line.
    fn cond_pieces(&self, e: &Spanned<Expr>, ctx: Ctx) -> Vec<Piece> {
        let mut out = Vec::new();
        let parens = self.parenthesized(e, ctx);
        let at = self.parens_around(e.span);
        if parens {
            out.push(self.fixed("(", at.map(|a| a.0)));
        }
        match &e.node {
            Expr::Test(t) => {
                let (mut head, list) = self.test(t);
                if let Some((list, span)) = list {
                    head.extend(self.list_pieces(list, span));
                }
                out.extend(head);
            }
            Expr::MacroRef(_) => out.push(self.src(e.span)),
            Expr::ForEach(each) => {
                out.extend(self.for_each_head(each));
                out.extend(self.cond_pieces(&each.body, Ctx::Top));
                out.push(self.fixed(")", Some(each.close)));
            }
            Expr::Not(inner) => {
                out.extend([self.keyword_at("not", e.span), Piece::Space]);
                out.extend(self.cond_pieces(inner, Ctx::Not));
            }
            Expr::And(parts) | Expr::Or(parts) => {
                let (op, ctx) = chain_of(&e.node);
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.extend([Piece::Space, tok(op), Piece::Space]);
                    }
                    out.extend(self.cond_pieces(part, ctx));
                }
            }
        }
        if parens {
            out.push(self.fixed(")", at.map(|a| a.1)));
        }
        out
    }

    /// Prints `e` at the current position: on one line if it fits (with
    /// `suffix` more columns after it) and holds no comment, else broken
    /// with wrapped lines indented from `base`.
    fn cond(&self, p: &mut Printer, e: &Spanned<Expr>, ctx: Ctx, base: usize, suffix: usize) {
        let flat = self.cond_pieces(e, ctx);
        if p.fits(&flat, suffix) && !self.inner_comment(&flat) {
            return p.emit(flat);
        }
        match &e.node {
            Expr::And(parts) | Expr::Or(parts) => {
                // Broken, a chain is always in parentheses: they are added
                // around an `and` inside an `or`, where they change nothing.
                let at = self.parens_around(e.span);
                let mark = p.mark();
                p.emit([self.fixed("(", at.map(|a| a.0))]);
                p.opens();
                let indent = p.indent();
                let inner = base + WRAP_INDENT;
                self.chain(p, &e.node, parts, inner, inner);
                p.newline(indent);
                p.closes(inner);
                p.emit([self.fixed(")", at.map(|a| a.1))]);
                p.close_group(mark);
            }
            Expr::Not(inner) => {
                p.emit([self.keyword_at("not", e.span), Piece::Space]);
                self.cond(p, inner, Ctx::Not, base, suffix);
            }
            Expr::Test(t) => {
                let (head, list) = self.test(t);
                p.emit(head);
                if let Some((list, span)) = list {
                    self.list(p, list, span, base, suffix);
                }
            }
            Expr::MacroRef(_) => p.emit(flat),
            Expr::ForEach(each) => self.for_each_broken(p, each, base),
        }
    }

    /// `any NAME in TERM (` / the body, one level in / `)`. Apart from
    /// `cond`, whose stack frame each level of nesting costs.
    #[inline(never)]
    fn for_each_broken(&self, p: &mut Printer, each: &ForEach, base: usize) {
        let mark = p.mark();
        p.emit(self.for_each_head(each));
        p.opens();
        let indent = p.indent();
        let inner = base + WRAP_INDENT;
        match &each.body.node {
            Expr::And(parts) | Expr::Or(parts) => {
                self.chain(p, &each.body.node, parts, inner, inner)
            }
            _ => {
                p.newline(inner);
                self.cond(p, &each.body, Ctx::Top, inner, 0);
            }
        }
        p.newline(indent);
        p.closes(inner);
        p.emit([self.fixed(")", Some(each.close))]);
        p.close_group(mark);
    }

    /// `any NAME in TERM (`
    fn for_each_head(&self, each: &ForEach) -> Vec<Piece> {
        let mut out = vec![
            self.src(each.quantifier.span),
            Piece::Space,
            self.src(each.name.span),
            Piece::Space,
            self.fixed("in", self.next_token(each.name.span.end)),
            Piece::Space,
        ];
        out.extend(self.term(&each.over.node, each.over.span));
        out.extend([Piece::Space, self.fixed("(", Some(each.open))]);
        out
    }

    /// The operands of a chain, each on a new line at `indent`, the keyword
    /// first: `a` / `or b` / `or c`.
    fn chain(
        &self,
        p: &mut Printer,
        e: &Expr,
        parts: &[Spanned<Expr>],
        indent: usize,
        base: usize,
    ) {
        let (op, ctx) = chain_of(e);
        for (i, part) in parts.iter().enumerate() {
            p.newline(indent);
            if i > 0 {
                p.emit([tok(op), Piece::Space]);
            }
            self.cond(p, part, ctx, base, 0);
        }
    }

    /// A test on one line, but for a list operand, returned apart so that
    /// it can be wrapped.
    fn test<'t>(&self, t: &'t Test) -> (Vec<Piece>, Option<(&'t ListLit, Span)>) {
        let mut out = Vec::new();
        if let Some(q) = &t.quantifier {
            out.extend([self.src(q.span), Piece::Space]);
        }
        out.extend(self.term(&t.subject.node, t.subject.span));
        out.push(Piece::Space);
        match &t.kind {
            TestKind::Exists | TestKind::Missing => {
                let word = match t.kind {
                    TestKind::Exists => "exists",
                    _ => "missing",
                };
                out.push(self.fixed(word, self.next_token(t.subject.span.end)));
            }
            TestKind::Compare { op, negated, rhs } => {
                let word = op.node.as_str();
                let span = op.span;
                if *negated {
                    out.extend([
                        self.keyword_at("not", span),
                        Piece::Space,
                        self.fixed(word, Some(Span::new(span.end - word.len(), span.end))),
                    ]);
                } else {
                    out.push(self.fixed(word, Some(span)));
                }
                out.push(Piece::Space);
                match &rhs.node {
                    Operand::List(list) => return (out, Some((list, rhs.span))),
                    Operand::Literal(_) => out.push(self.src(rhs.span)),
                    Operand::Term(term) => out.extend(self.term(term, rhs.span)),
                }
            }
        }
        (out, None)
    }

    // ---- Lists, terms and values --------------------------------------------

    /// The brackets of a list written at `span`: `[` or `i[`, and `]`.
    fn brackets(&self, list: &ListLit, span: Span) -> (Piece, Piece) {
        let open = if list.ignore_case { "i[" } else { "[" };
        (
            self.fixed(open, Some(Span::new(span.start, span.start + open.len()))),
            self.fixed("]", Some(Span::new(span.end.saturating_sub(1), span.end))),
        )
    }

    fn list_pieces(&self, list: &ListLit, span: Span) -> Vec<Piece> {
        let (open, close) = self.brackets(list, span);
        let mut out = vec![open];
        for (i, item) in list.items.iter().enumerate() {
            if i > 0 {
                out.extend([tok(","), Piece::Space]);
            }
            out.push(self.src(item.span));
        }
        out.push(close);
        out
    }

    /// A list at the current position: on one line if it fits and holds no
    /// comment, else one member a line, indented from `base`.
    fn list(&self, p: &mut Printer, list: &ListLit, span: Span, base: usize, suffix: usize) {
        let flat = self.list_pieces(list, span);
        if p.fits(&flat, suffix) && !self.inner_comment(&flat) {
            return p.emit(flat);
        }
        let (open, close) = self.brackets(list, span);
        let mark = p.mark();
        p.emit([open]);
        p.opens();
        let indent = p.indent();
        let inner = base + WRAP_INDENT;
        for item in &list.items {
            p.newline(inner);
            p.emit([self.src(item.span), tok(",")]);
        }
        p.newline(indent);
        p.closes(inner);
        p.emit([close]);
        p.close_group(mark);
    }

    fn value(&self, value: &Value, span: Span) -> Vec<Piece> {
        match value {
            Value::Literal(_) => vec![self.src(span)],
            Value::Term(term) => self.term(term, span),
        }
    }

    /// A term: a path as written, or a call or lookup with its arguments
    /// spaced canonically and the path after it as written.
    fn term(&self, term: &Term, span: Span) -> Vec<Piece> {
        let (mut out, close) = match term {
            Term::Path(_) => return vec![self.src(span)],
            Term::Call(call) => {
                let open = Span::new(call.name.span.end, call.name.span.end + 1);
                let mut out = vec![self.src(call.name.span), self.fixed("(", Some(open))];
                let mut after = open.end;
                for (i, arg) in call.args.iter().enumerate() {
                    if i > 0 {
                        out.extend([tok(","), Piece::Space]);
                    }
                    out.extend(self.value(&arg.node, arg.span));
                    after = arg.span.end;
                }
                let close = self.closing(after, ")");
                out.push(self.fixed(")", close));
                (out, close)
            }
            Term::Lookup(lookup) => {
                let open = Span::new(lookup.table.span.end, lookup.table.span.end + 1);
                let mut out = vec![self.src(lookup.table.span), self.fixed("[", Some(open))];
                out.extend(self.value(&lookup.key.node, lookup.key.span));
                let close = self.closing(lookup.key.span.end, "]");
                out.push(self.fixed("]", close));
                (out, close)
            }
        };
        match close {
            // The path after the call or lookup is one token: as written.
            Some(close) if close.end < span.end => {
                out.push(self.src(Span::new(close.end, span.end)))
            }
            Some(_) => {}
            // Not found (cannot happen in a parsed file): the term as written.
            None => return vec![self.src(span)],
        }
        out
    }

    // ---- Comments and blank lines -------------------------------------------

    /// The lines with the comments put back and blank lines where they belong.
    fn render(&self, p: &Printer) -> String {
        let lines = &p.lines;
        // Each comment goes in a gap: gap g is above line g (gap n is the end
        // of the file). The first comment of gap g may end line g-1 instead.
        let mut gaps: Vec<Vec<(Span, bool)>> = vec![Vec::new(); lines.len() + 1];
        let mut last_gap = 0;
        for &c in &self.comments {
            let line_start = self.text[..c.start].rfind('\n').map_or(0, |i| i + 1);
            let after_code = !self.text[line_start..c.start].trim().is_empty();
            let next = p.anchors.partition_point(|a| a.span.start < c.start);
            let (gap, may_trail) = match (next.checked_sub(1), p.anchors.get(next)) {
                (None, Some(next)) => (next.line, false),
                (None, None) => (0, false),
                (Some(prev), None) => (p.anchors[prev].line + 1, after_code),
                (Some(prev), Some(next_anchor)) => {
                    let prev_line = p.anchors[prev].line;
                    if prev_line != next_anchor.line {
                        if after_code {
                            (prev_line + 1, true)
                        } else {
                            (next_anchor.line, false)
                        }
                    } else {
                        // Inside a line: to the nearest line break inside
                        // every group broken around it.
                        match p.innermost_group(prev, next) {
                            Some(g) if g.last_line == prev_line && g.first_line < prev_line => {
                                (prev_line, false)
                            }
                            _ => (prev_line + 1, after_code),
                        }
                    }
                }
            };
            let gap = gap.max(last_gap);
            last_gap = gap;
            gaps[gap].push((c, may_trail));
        }

        let mut force_blank = vec![false; lines.len() + 1];
        for pair in p.items.windows(2) {
            let ((a_first, a_end), (b_first, b_end)) = (pair[0], pair[1]);
            if a_end - a_first > 1 || b_end - b_first > 1 {
                force_blank[b_first] = true;
            }
        }

        let mut out = String::new();
        let mut reached = 0; // source offset of the end of what is printed
        let mut after_opener = true; // the start of the file counts as one
        for (g, gap) in gaps.iter().enumerate() {
            let trailing = g > 0 && gap.first().is_some_and(|&(_, may_trail)| may_trail);
            let own_lines = &gap[usize::from(trailing)..];
            let comment_indent = lines.get(g).map_or(0, |l| l.comment_indent);
            let mut first = true;
            for &(c, _) in own_lines {
                let blank = (first && force_blank[g]) || self.blank_between(reached, c.start);
                if blank && !after_opener {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(comment_indent));
                out.push_str(self.comment_text(c));
                out.push('\n');
                reached = reached.max(c.end);
                after_opener = false;
                first = false;
            }
            let Some(line) = lines.get(g) else { break };
            let blank = (first && force_blank[g])
                || line.start.is_some_and(|s| self.blank_between(reached, s));
            if blank && !after_opener && !line.closes {
                out.push('\n');
            }
            out.push_str(&" ".repeat(line.indent));
            out.push_str(&line.text);
            reached = reached.max(line.end.unwrap_or(reached));
            if let Some(&(c, true)) = gaps[g + 1].first() {
                out.push_str("  ");
                out.push_str(self.comment_text(c));
                reached = reached.max(c.end);
            }
            out.push('\n');
            after_opener = line.opens;
        }
        out
    }

    fn comment_text(&self, c: Span) -> &str {
        self.text[c.start..c.end].trim_end()
    }

    /// Whether the source has a blank line between offsets `from` and `to`.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        if from >= to {
            return false;
        }
        let mut between_breaks = self.text[from..to].split('\n').skip(1).collect::<Vec<_>>();
        between_breaks.pop();
        between_breaks.iter().any(|l| l.trim().is_empty())
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

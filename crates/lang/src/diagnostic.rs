//! Diagnostics: one type for every error and warning that the parser and the
//! compiler raise, rendered by miette for people and as JSON or GitHub
//! annotations for machines.
//!
//! Codes are stable: tools and docs refer to them. `docs/diagnostics.md` has one
//! entry per code. Parse errors are E1xx, name errors E2xx, type and value
//! errors E3xx, action errors E4xx; warnings are W-codes.

use crate::source::{Source, Span};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A secondary label: another place that explains the primary one.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub source: Source,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub source: Source,
    pub span: Span,
    /// Text of the label at the primary span.
    pub label: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        source: &Source,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            source: source.clone(),
            span,
            label: String::new(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(
        code: &'static str,
        source: &Source,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, source, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_secondary(
        mut self,
        source: &Source,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        self.labels.push(Label {
            source: source.clone(),
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// 1-based line and column of the primary span.
    pub fn line_col(&self) -> (usize, usize) {
        self.source.line_col(self.span.start)
    }

    /// Renders for a person: a miette report with the source snippet.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        let report = MietteView::new(self);
        if handler.render_report(&mut out, &report).is_err() {
            out = self.to_string();
        }
        out
    }

    /// One line in the GitHub Actions workflow-command format.
    pub fn render_github(&self) -> String {
        let (line, col) = self.line_col();
        let (end_line, end_col) = self.source.line_col(self.span.end);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = format!("{}: {}", self.code, self.message);
        if let Some(help) = &self.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        format!(
            "::{kind} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
            github_escape_property(self.source.name()),
            github_escape_property(self.code),
            github_escape_data(&message)
        )
    }

    /// A stable JSON object (documented in docs/cli.md).
    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = self.line_col();
        let (end_line, end_column) = self.source.line_col(self.span.end);
        serde_json::json!({
            "code": self.code,
            "severity": self.severity.as_str(),
            "message": self.message,
            "file": self.source.name(),
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "label": self.label,
            "help": self.help,
            "notes": self.notes,
        })
    }
}

fn github_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn github_escape_property(s: &str) -> String {
    github_escape_data(s)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[CODE]: message`, the compact one-line form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        write!(
            f,
            "{}:{line}:{col}: {}[{}]: {}",
            self.source.name(),
            self.severity.as_str(),
            self.code,
            self.message
        )
    }
}

/// Adapts a [`Diagnostic`] to miette's traits for rendering.
struct MietteView<'a> {
    diag: &'a Diagnostic,
    excerpt: Excerpt,
}

impl<'a> MietteView<'a> {
    fn new(diag: &'a Diagnostic) -> Self {
        let mut spans = vec![diag.span];
        spans.extend(
            diag.labels
                .iter()
                .filter(|l| l.source == diag.source)
                .map(|l| l.span),
        );
        MietteView {
            diag,
            excerpt: Excerpt::new(&diag.source, &spans),
        }
    }
}

/// Lines of a line longer than this many characters are shown clipped.
const MAX_SHOWN_CHARS: usize = 240;
/// Characters shown of a clipped line before and after the place it is shown for.
const CLIP_BEFORE: usize = 60;
const CLIP_AFTER: usize = 100;
/// Stands for the clipped part of a line.
const CLIPPED: &str = "…";

/// What miette is given of a source: only the lines around the labels (one
/// line of context), each long line cut to a window around its label. Its
/// offsets are its own; `to_shown` maps the source's into them. Reading a
/// whole file (or copying it) for every diagnostic made thousands of them
/// quadratic, and miette panics on columns past 65,535.
struct Excerpt {
    name: String,
    text: String,
    lines: Vec<ShownLine>,
}

struct ShownLine {
    /// 0-based line number in the source.
    number: usize,
    /// Where it is in the excerpt: start, and end with its line break.
    start: usize,
    end: usize,
    /// The part of the source line shown, as source offsets (line break
    /// excluded, unless the line is whole), and the source line's start.
    from: usize,
    to: usize,
    line_start: usize,
    /// Bytes of `CLIPPED` before the shown part in the excerpt.
    marker: usize,
    /// Lines of one run share a run number; a snippet never spans two.
    run: usize,
    /// When the line is clipped: its length, and the first and last
    /// characters shown (1-based), for the note that says so.
    clipped: Option<(usize, usize, usize)>,
}

impl Excerpt {
    fn new(source: &Source, spans: &[Span]) -> Excerpt {
        let last_line = source.line_count() - 1;
        // Line ranges to show, with one line of context, merged where they touch.
        let mut ranges: Vec<(usize, usize)> = spans
            .iter()
            .map(|s| {
                let first = source.line_index(s.start);
                let last = source.line_index(s.end.max(s.start)).max(first);
                (first.saturating_sub(1), (last + 1).min(last_line))
            })
            .collect();
        ranges.sort_unstable();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (first, last) in ranges {
            match runs.last_mut() {
                Some(run) if first <= run.1 + 1 => run.1 = run.1.max(last),
                _ => runs.push((first, last)),
            }
        }
        let mut excerpt = Excerpt {
            name: source.name().to_string(),
            text: String::new(),
            lines: Vec::new(),
        };
        for (run, &(first, last)) in runs.iter().enumerate() {
            for number in first..=last {
                excerpt.push_line(source, spans, number, run);
            }
        }
        excerpt
    }

    fn push_line(&mut self, source: &Source, spans: &[Span], number: usize, run: usize) {
        let full = source.text();
        let (line_start, content_end, end) = source.line_bounds(number);
        let content = &full[line_start..content_end];
        let start = self.text.len();
        let chars = content.chars().count();
        if chars <= MAX_SHOWN_CHARS {
            self.text.push_str(&full[line_start..end]);
            self.lines.push(ShownLine {
                number,
                start,
                end: self.text.len(),
                from: line_start,
                to: end,
                line_start,
                marker: 0,
                run,
                clipped: None,
            });
            return;
        }
        // The place to show: where a label starts on this line, else where
        // one ends, else the line's start.
        let on_line = |at: usize| (line_start..=content_end).contains(&at);
        let focus = spans
            .iter()
            .map(|s| s.start)
            .find(|&at| on_line(at))
            .or_else(|| spans.iter().map(|s| s.end).find(|&at| on_line(at)))
            .unwrap_or(line_start);
        let before = full[line_start..focus].chars().count();
        let skip = before.saturating_sub(CLIP_BEFORE);
        let keep = CLIP_BEFORE.min(before) + CLIP_AFTER;
        let offset_of = |nth: usize| {
            content
                .char_indices()
                .nth(nth)
                .map_or(content_end, |(i, _)| line_start + i)
        };
        let from = offset_of(skip);
        let to = offset_of(skip + keep);
        let marker = if from > line_start { CLIPPED.len() } else { 0 };
        if marker > 0 {
            self.text.push_str(CLIPPED);
        }
        self.text.push_str(&full[from..to]);
        if to < content_end {
            self.text.push_str(CLIPPED);
        }
        self.text.push_str(&full[content_end..end]);
        self.lines.push(ShownLine {
            number,
            start,
            end: self.text.len(),
            from,
            to,
            line_start,
            marker,
            run,
            clipped: Some((chars, skip + 1, (skip + keep).min(chars))),
        });
    }

    /// The excerpt offset of a source offset (clamped into what is shown).
    fn to_shown(&self, at: usize) -> usize {
        let i = self.lines.partition_point(|l| l.line_start <= at);
        let Some(line) = self.lines.get(i.saturating_sub(1)) else {
            return 0;
        };
        let at = at.clamp(line.from, line.to);
        (line.start + line.marker + (at - line.from)).min(line.end)
    }

    fn span(&self, span: Span) -> (usize, usize) {
        let start = self.to_shown(span.start);
        let end = self.to_shown(span.end.max(span.start)).max(start);
        (start, end - start)
    }

    /// The excerpt line holding an excerpt offset.
    fn line_at(&self, at: usize) -> usize {
        self.lines
            .partition_point(|l| l.start <= at)
            .saturating_sub(1)
    }

    /// "line 3 is 70012 characters long; ..." for each clipped line.
    fn notes(&self) -> Vec<String> {
        let note = |l: &ShownLine| {
            l.clipped.map(|(chars, first, last)| {
                format!(
                    "line {} is {chars} characters long: shown clipped to characters {first}-{last}",
                    l.number + 1,
                )
            })
        };
        self.lines.iter().filter_map(note).collect()
    }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let (start, len) = (span.offset(), span.len());
        if start + len > self.text.len() || self.lines.is_empty() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let first = self.line_at(start);
        let last = self.line_at((start + len).saturating_sub(1).max(start));
        let run = self.lines[first].run;
        if self.lines[last].run != run {
            // Lines between two runs are not in the excerpt: two snippets.
            return Err(miette::MietteError::OutOfBounds);
        }
        let run_first = self.lines[..=first]
            .iter()
            .rposition(|l| l.run != run)
            .map_or(0, |i| i + 1);
        let run_last = self.lines[last..]
            .iter()
            .position(|l| l.run != run)
            .map_or(self.lines.len(), |i| last + i)
            - 1;
        let top = first.saturating_sub(context_lines_before).max(run_first);
        let bottom = (last + context_lines_after).min(run_last);
        let line = &self.lines[first];
        // As miette reads a `str`: without context before, from the span
        // itself, with its column (in bytes, in the source line).
        let (data_start, number, column) = if context_lines_before == 0 {
            let in_shown = start.saturating_sub(line.start + line.marker);
            (start, line.number, line.from - line.line_start + in_shown)
        } else {
            (self.lines[top].start, self.lines[top].number, 0)
        };
        let data_end = if context_lines_after == 0 {
            start + len
        } else {
            self.lines[bottom].end
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[data_start..data_end],
            (data_start, data_end - data_start).into(),
            number,
            column,
            bottom - top + 1,
        )))
    }
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(h) = &self.diag.help {
            parts.push(h.clone());
        }
        for n in &self.diag.notes {
            parts.push(format!("note: {n}"));
        }
        for n in self.excerpt.notes() {
            parts.push(format!("note: {n}"));
        }
        for l in self
            .diag
            .labels
            .iter()
            .filter(|l| l.source != self.diag.source)
        {
            let (line, col) = l.source.line_col(l.span.start);
            parts.push(format!(
                "note: {} ({}:{line}:{col})",
                l.message,
                l.source.name()
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(Box::new(parts.join("\n")))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette::LabeledSpan::new_primary_with_span(
            (!self.diag.label.is_empty()).then(|| self.diag.label.clone()),
            self.excerpt.span(self.diag.span),
        );
        // miette renders one source per report: secondary labels in other
        // files become notes instead (see `render`).
        let same_file = self
            .diag
            .labels
            .iter()
            .filter(|l| l.source == self.diag.source)
            .map(|l| {
                let (start, len) = self.excerpt.span(l.span);
                miette::LabeledSpan::new(Some(l.message.clone()), start, len)
            });
        Some(Box::new(
            std::iter::once(primary)
                .chain(same_file)
                .collect::<Vec<_>>()
                .into_iter(),
        ))
    }
}

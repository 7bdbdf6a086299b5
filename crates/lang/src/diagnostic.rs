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
    source: miette::NamedSource<String>,
}

impl<'a> MietteView<'a> {
    fn new(diag: &'a Diagnostic) -> Self {
        let source = miette::NamedSource::new(diag.source.name(), diag.source.text().to_string());
        MietteView { diag, source }
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
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette::LabeledSpan::new_primary_with_span(
            (!self.diag.label.is_empty()).then(|| self.diag.label.clone()),
            (self.diag.span.start, self.diag.span.len()),
        );
        // miette renders one source per report: secondary labels in other
        // files become notes instead (see `render`).
        let same_file = self
            .diag
            .labels
            .iter()
            .filter(|l| l.source == self.diag.source)
            .map(|l| miette::LabeledSpan::new(Some(l.message.clone()), l.span.start, l.span.len()));
        Some(Box::new(
            std::iter::once(primary)
                .chain(same_file)
                .collect::<Vec<_>>()
                .into_iter(),
        ))
    }
}

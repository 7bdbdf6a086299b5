//! Source text of rules files and places within it.

use std::sync::Arc;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Span {
        Span::new(s.start(), s.end())
    }
}

/// One rules file: the name it is reported under and its text. Cheap to clone.
#[derive(Debug, Clone, Eq)]
pub struct Source {
    inner: Arc<SourceInner>,
}

impl PartialEq for Source {
    /// Clones of one source are equal without comparing their text, which
    /// diagnostics do for every label.
    fn eq(&self, other: &Source) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner == other.inner
    }
}

#[derive(Debug, PartialEq, Eq)]
struct SourceInner {
    name: String,
    text: String,
    /// Byte offset of the start of every line, for line/column look-ups.
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            inner: Arc::new(SourceInner {
                name: name.into(),
                text,
                line_starts,
            }),
        }
    }

    /// The name diagnostics use: the path as given, relative to the rules directory.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.inner.text.len());
        let line = match self.inner.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.inner.line_starts[line];
        let col = self.inner.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The 0-based index of the line holding a byte offset.
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.inner.text.len());
        match self.inner.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// How many lines the text has (an empty last line after a final line
    /// break counts).
    pub fn line_count(&self) -> usize {
        self.inner.line_starts.len()
    }

    /// Byte offsets of a 0-based line: its start, the end of its text, and
    /// the end of its line break.
    pub fn line_bounds(&self, index: usize) -> (usize, usize, usize) {
        let starts = &self.inner.line_starts;
        let text = &self.inner.text;
        let start = starts.get(index).copied().unwrap_or(text.len());
        let end = starts.get(index + 1).copied().unwrap_or(text.len());
        let content_end = start + text[start..end].trim_end_matches(['\n', '\r']).len();
        (start, content_end, end)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = &self.inner.line_starts;
        let Some(&start) = starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = starts.get(line).copied().unwrap_or(self.inner.text.len());
        self.inner.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

//! `ctrules fmt`: rewrite rules files in the canonical layout
//! (`ctrules_lang::format` describes it; docs/language.md#canonical-style).
//!
//! Files are rewritten only when their text changes, through a temporary
//! file beside them renamed into place, so an editor or `ctrules run` never
//! reads half a file. A read-only file is reported and left alone (a rename
//! would replace it regardless of its permission), and a file with other
//! hard links is written in place, so that every link sees the change. `--check` changes nothing and shows a diff of each file
//! that would change. A file that does not parse is reported as `check`
//! reports it and left alone; the other files are still formatted.

use crate::{exit, FmtArgs};
use ctrules_compiler::loader::rule_files;
use ctrules_lang::format::{format_file as layout, tree_shape};
use ctrules_lang::{parse, Source};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

/// Lines of unchanged text shown around each change in a diff.
const CONTEXT: usize = 2;

pub fn fmt(args: &FmtArgs) -> i32 {
    let stdin_given = args.paths.iter().any(|p| p.as_os_str() == "-");
    // Standard output carries the formatted text of `-`; then file names go
    // to standard error.
    let mut report: Box<dyn Write> = if stdin_given {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut tally = Tally {
        check: args.check,
        ..Tally::default()
    };
    for path in &args.paths {
        if path.as_os_str() == "-" {
            tally.note(format_stdin(args.check));
            continue;
        }
        let files = match rule_files(path) {
            Ok(files) => files,
            Err(e) => {
                errln!("error: {e}");
                tally.note(Outcome::Failed);
                continue;
            }
        };
        for file in files {
            tally.note(format_path(&file, args.check, &mut report));
        }
    }
    let _ = report.flush();
    // Alone, `-` is an editor's filter: only the text, and errors.
    if !(stdin_given && args.paths.len() == 1) {
        errln!("{}", tally.summary());
    }
    tally.exit_code()
}

enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

#[derive(Default)]
struct Tally {
    /// `--check`: a file that would change is a finding.
    check: bool,
    unchanged: usize,
    changed: usize,
    failed: usize,
}

impl Tally {
    fn note(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Changed => self.changed += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    fn summary(&self) -> String {
        let changed = if self.check {
            "would be reformatted"
        } else {
            "reformatted"
        };
        let mut line = format!(
            "fmt: {} files {changed}, {} already formatted",
            self.changed, self.unchanged
        );
        if self.failed > 0 {
            line.push_str(&format!(", {} not formatted (errors above)", self.failed));
        }
        line
    }

    fn exit_code(&self) -> i32 {
        if self.failed > 0 {
            exit::USAGE
        } else if self.changed > 0 && self.check {
            exit::FINDINGS
        } else {
            exit::OK
        }
    }
}

/// The canonical text of `source`; `None` when there is none, once the
/// reason is printed.
fn formatted(source: &Source) -> Option<String> {
    let tree = match parse(source) {
        Ok(tree) => tree,
        Err(diags) => {
            let color = std::io::stderr().is_terminal();
            err!("{}", crate::check::render_human(&diags, color));
            return None;
        }
    };
    let text = layout(source.text(), &tree);
    // A safety net: what is written must say what was read.
    let same = parse(&Source::new(source.name(), text.as_str()))
        .is_ok_and(|after| tree_shape(&after) == tree_shape(&tree));
    if !same {
        errln!(
            "error: {}: the formatted text would not mean the same as the file; \
             left as it is (a bug in ctrules fmt: please report it)",
            source.name()
        );
        return None;
    }
    Some(text)
}

fn format_path(path: &Path, check: bool, report: &mut dyn Write) -> Outcome {
    let text = match ctrules_compiler::loader::read_text(path) {
        Ok(text) => text,
        Err(e) => {
            errln!("error: {e}");
            return Outcome::Failed;
        }
    };
    let source = Source::new(path.display().to_string(), text.as_str());
    let Some(canonical) = formatted(&source) else {
        return Outcome::Failed;
    };
    if canonical == text {
        return Outcome::Unchanged;
    }
    if check {
        let _ = write!(report, "{}", diff(source.name(), &text, &canonical));
        return Outcome::Changed;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            errln!(
                "error: {}: read-only; not reformatted (make it writable to format it)",
                path.display()
            );
            return Outcome::Failed;
        }
        Ok(_) => {}
        Err(e) => {
            errln!("error: {}: cannot read: {e}", path.display());
            return Outcome::Failed;
        }
    }
    match write_in_place(path, &canonical) {
        Ok(()) => {
            let _ = writeln!(report, "reformatted {}", path.display());
            Outcome::Changed
        }
        Err(e) => {
            errln!("error: {}: cannot write: {e}", path.display());
            Outcome::Failed
        }
    }
}

/// `-`: standard input, formatted to standard output (or, with `--check`,
/// a diff when it is not formatted).
fn format_stdin(check: bool) -> Outcome {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        errln!("error: cannot read standard input: {e}");
        return Outcome::Failed;
    }
    let source = Source::new("<stdin>", text.as_str());
    let Some(canonical) = formatted(&source) else {
        return Outcome::Failed;
    };
    let mut stdout = std::io::stdout();
    let written = if check {
        if canonical == text {
            return Outcome::Unchanged;
        }
        write!(stdout, "{}", diff("<stdin>", &text, &canonical))
    } else {
        stdout.write_all(canonical.as_bytes())
    };
    if let Err(e) = written.and_then(|()| stdout.flush()) {
        errln!("error: cannot write to standard output: {e}");
        return Outcome::Failed;
    }
    if canonical == text {
        Outcome::Unchanged
    } else {
        Outcome::Changed
    }
}

/// Replaces the file (the target of a link) through a temporary file beside
/// it, keeping its permissions; a file with other hard links is rewritten in
/// place instead, since a rename would leave them holding the old text.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&target)?;
    if hard_links(&meta) > 1 {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&target)?;
        file.write_all(text.as_bytes())?;
        return file.sync_all();
    }
    // The runner's temporaries: created exclusively, removed if anything
    // fails, renamed into place only when complete.
    let (temp, mut file) = ctrules_runner::inflight::Temp::create(&target)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::set_permissions(temp.path(), meta.permissions())?;
    drop(file);
    temp.commit(&target)
}

#[cfg(unix)]
fn hard_links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn hard_links(_: &std::fs::Metadata) -> u64 {
    1
}

/// A unified diff of two texts, by line, with [`CONTEXT`] lines around each
/// change.
pub fn diff(name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = line_edits(&a, &b);
    // Lines of each text before each edit: where a hunk starts.
    let mut before = Vec::with_capacity(ops.len());
    let (mut i, mut j) = (0, 0);
    for op in &ops {
        before.push((i, j));
        match op {
            Edit::Same(_) => (i, j) = (i + 1, j + 1),
            Edit::Delete(_) => i += 1,
            Edit::Insert(_) => j += 1,
        }
    }
    let mut out = format!("--- {name}\n+++ {name} (formatted)\n");
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&k| !matches!(ops[k], Edit::Same(_)))
        .collect();
    let mut k = 0;
    while k < changed.len() {
        // A hunk: changes no more than 2 * CONTEXT unchanged lines apart.
        let mut last = k;
        while last + 1 < changed.len() && changed[last + 1] - changed[last] <= 2 * CONTEXT + 1 {
            last += 1;
        }
        let from = changed[k].saturating_sub(CONTEXT);
        let to = (changed[last] + CONTEXT + 1).min(ops.len());
        let (mut a_len, mut b_len) = (0, 0);
        let mut body = String::new();
        for op in &ops[from..to] {
            let (mark, line) = match *op {
                Edit::Same(i) => {
                    a_len += 1;
                    b_len += 1;
                    (' ', a[i])
                }
                Edit::Delete(i) => {
                    a_len += 1;
                    ('-', a[i])
                }
                Edit::Insert(j) => {
                    b_len += 1;
                    ('+', b[j])
                }
            };
            body.push(mark);
            body.push_str(line);
            if !line.ends_with('\n') {
                body.push_str("\n\\ No newline at end of file\n");
            }
        }
        let (a_at, b_at) = before[from];
        let start = |at: usize, len: usize| if len == 0 { at } else { at + 1 };
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n{body}",
            start(a_at, a_len),
            start(b_at, b_len)
        ));
        k = last + 1;
    }
    out
}

#[derive(Clone, Copy)]
enum Edit {
    /// Line i of the old text, kept.
    Same(usize),
    Delete(usize),
    Insert(usize),
}

/// The shortest edit from `a` to `b`: a longest common subsequence of the
/// lines between the common start and end. Rules files are small; past a
/// few thousand changed lines the whole middle is shown replaced.
fn line_edits(a: &[&str], b: &[&str]) -> Vec<Edit> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (n, m) = (a.len() - prefix - suffix, b.len() - prefix - suffix);
    let mut ops: Vec<Edit> = (0..prefix).map(Edit::Same).collect();
    if n.saturating_mul(m) <= 4_000_000 {
        // lcs[i][j]: the longest common subsequence of a[i..] and b[j..] (of the middle).
        let at = |i: usize, j: usize| i * (m + 1) + j;
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if a[prefix + i] == b[prefix + j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a[prefix + i] == b[prefix + j] {
                ops.push(Edit::Same(prefix + i));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
                ops.push(Edit::Delete(prefix + i));
                i += 1;
            } else {
                ops.push(Edit::Insert(prefix + j));
                j += 1;
            }
        }
    } else {
        ops.extend((0..n).map(|i| Edit::Delete(prefix + i)));
        ops.extend((0..m).map(|j| Edit::Insert(prefix + j)));
    }
    ops.extend((0..suffix).map(|k| Edit::Same(prefix + n + k)));
    ops
}

//! Reading rules from disk: the first phase, before parsing.
//!
//! A path is a `.rules` file or a directory searched recursively for them.
//! Files load in a defined order: the paths in the order given, and within a
//! directory, by relative path compared byte by byte (`10-x.rules` before
//! `9-y.rules`; number them `01-`, `02-`, ... to order them). Rule order
//! matters only where rules set the same field (docs/language.md).
//!
//! Within a directory, a symbolic link (to a file or a directory) must
//! resolve inside that directory, as table paths must: a link elsewhere
//! (`env.rules -> /proc/self/environ`) is refused, so that no rules
//! directory makes `ctrules` read, and print in its diagnostics, any file
//! of the machine. Links that stay inside, such as the `..data` links of a
//! Kubernetes ConfigMap, are followed. A file named as an argument is the
//! caller's choice and is read wherever it leads.

use ctrules_lang::Source;
use std::fmt;
use std::path::{Path, PathBuf};

/// The extension of rules files.
pub const RULES_EXTENSION: &str = "rules";

#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for LoadError {}

/// Every `.rules` file under `paths`, in load order, with its text.
pub fn read_rules(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    let mut sources = Vec::new();
    for path in paths {
        for file in rule_files(path)? {
            let text = read_text(&file)?;
            sources.push(Source::new(file.display().to_string(), text));
        }
    }
    Ok(sources)
}

/// The text of a rules file; if it is not UTF-8, an error that says where
/// the first invalid byte is.
pub fn read_text(file: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(file).map_err(|e| LoadError {
        path: file.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        LoadError {
            path: file.to_path_buf(),
            message: format!(
                "not UTF-8: invalid byte 0x{:02X} at line {line}, column {column} (byte offset {at}); rules files must be UTF-8",
                bytes[at]
            ),
        }
    })
}

/// The `.rules` files a path names, in load order.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let root = std::fs::canonicalize(path).map_err(|e| LoadError {
        path: path.to_path_buf(),
        message: format!("cannot read directory: {e}"),
    })?;
    let mut files = Vec::new();
    collect(path, &root, path, &mut files, &mut Vec::new())?;
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(files)
}

/// `visiting` holds the canonical directories on the way down: a symlink
/// back to one of them is a loop, not more rules. Everything must resolve
/// inside `root`, the canonical form of `given`.
fn collect(
    dir: &Path,
    root: &Path,
    given: &Path,
    files: &mut Vec<PathBuf>,
    visiting: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| LoadError {
        path: dir.to_path_buf(),
        message: format!("cannot read directory: {e}"),
    })?;
    if visiting.contains(&canonical) {
        return Ok(());
    }
    visiting.push(canonical);
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        path: dir.to_path_buf(),
        message: format!("cannot read directory: {e}"),
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| LoadError {
            path: dir.to_path_buf(),
            message: format!("cannot read directory: {e}"),
        })?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().map_err(|e| LoadError {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let is_rules = path.extension().is_some_and(|e| e == RULES_EXTENSION);
        if file_type.is_symlink() && (is_rules || path.is_dir()) {
            confined(&path, root, given)?;
        }
        if file_type.is_dir() || (file_type.is_symlink() && path.is_dir()) {
            collect(&path, root, given, files, visiting)?;
        } else if is_rules {
            files.push(path);
        }
    }
    visiting.pop();
    Ok(())
}

/// Refuses a symbolic link that resolves outside the rules directory.
fn confined(link: &Path, root: &Path, given: &Path) -> Result<(), LoadError> {
    let real = std::fs::canonicalize(link).map_err(|e| LoadError {
        path: link.to_path_buf(),
        message: format!("cannot follow the symbolic link: {e}"),
    })?;
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(LoadError {
            path: link.to_path_buf(),
            message: format!(
                "is a symbolic link to `{}`, outside the rules directory `{}`; refused",
                real.display(),
                given.display()
            ),
        })
    }
}

//! Finding the log files of a run and naming their outputs.

use std::path::{Path, PathBuf};

/// Where an input comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    File(PathBuf),
    Stdin,
}

/// One input to process, with the relative path its output takes.
#[derive(Debug, Clone)]
pub struct Input {
    pub origin: Origin,
    /// Path relative to the input root, `/`-separated; names the file in reports.
    pub relative: String,
}

impl Input {
    /// Bytes to read, when known (0 for standard input or an unreadable file).
    pub fn size(&self) -> u64 {
        match &self.origin {
            Origin::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            Origin::Stdin => 0,
        }
    }

    /// The output's relative path: the input's, with `.gz` added when missing.
    pub fn output_relative(&self) -> String {
        if self.relative.ends_with(".gz") {
            self.relative.clone()
        } else {
            format!("{}.gz", self.relative)
        }
    }

    /// The name to show in reports: the path as the user would find it.
    pub fn display(&self) -> String {
        match &self.origin {
            Origin::File(p) => p.display().to_string(),
            Origin::Stdin => "<stdin>".to_string(),
        }
    }
}

/// Extensions of log files; anything else in a directory is skipped (and listed).
const LOG_EXTENSIONS: &[&str] = &[
    ".json",
    ".json.gz",
    ".ndjson",
    ".ndjson.gz",
    ".jsonl",
    ".jsonl.gz",
];

pub fn is_log_name(name: &str) -> bool {
    LOG_EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// The inputs under `src`, sorted by relative path, and the files passed over.
pub fn discover(src: &str) -> std::io::Result<(Vec<Input>, Vec<String>)> {
    if src == "-" {
        return Ok((
            vec![Input {
                origin: Origin::Stdin,
                relative: "stdin.ndjson".into(),
            }],
            Vec::new(),
        ));
    }
    let root = Path::new(src);
    let meta = std::fs::metadata(root)?;
    if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into());
        return Ok((
            vec![Input {
                origin: Origin::File(root.to_path_buf()),
                relative: name,
            }],
            Vec::new(),
        ));
    }
    let mut inputs = Vec::new();
    let mut passed_over = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
    {
        let entry = entry.map_err(std::io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if is_log_name(&relative) {
            inputs.push(Input {
                origin: Origin::File(entry.path().to_path_buf()),
                relative,
            });
        } else {
            passed_over.push(entry.path().display().to_string());
        }
    }
    Ok((inputs, passed_over))
}

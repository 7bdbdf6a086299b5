//! Sources: finding the inputs of a run and naming their outputs.
//!
//! A local source is one file, a directory walked recursively (following
//! links), something that is not a regular file (a FIFO, `/dev/stdin`, a
//! shell's `<(...)`: read once as a stream), or standard input. Walking a
//! tree never stops at a bad entry: a dangling link, a link loop or an
//! unreadable directory is named as a failed input and the walk goes on.

use crate::report::{JobError, Stage};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where an input's bytes come from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A regular file.
    File(PathBuf),
    /// Not a regular file (a FIFO, a character device, a pipe from the
    /// shell): read once, from start to end.
    Stream(PathBuf),
    Stdin,
}

/// A file's identity on disk, to tell when two paths are the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// The identity of what `path` names (following links), if it exists.
    pub fn of_path(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId::of(&m))
    }
}

/// One input to process, with the relative path its output takes.
#[derive(Debug, Clone)]
pub struct Input {
    pub origin: Origin,
    /// Path relative to the input root; names the output. Kept as the
    /// operating system gave it (not necessarily UTF-8).
    pub relative: PathBuf,
    /// Bytes as found (0 for a stream), read once when the input is found.
    pub size: u64,
}

impl Input {
    /// The output's relative path: the input's, ending in `.gz` (or `.zst`,
    /// as `codec` says) (see [`crate::sink::output_name`]).
    pub fn output_relative(&self, codec: ctrules_core::Codec) -> PathBuf {
        crate::sink::output_name(self.relative.as_os_str(), codec)
    }

    /// The name to show in reports: the path as the user would find it.
    pub fn display(&self) -> String {
        match &self.origin {
            Origin::File(p) | Origin::Stream(p) => display_path(p),
            Origin::Stdin => "<stdin>".to_string(),
        }
    }
}

/// A path for people, on one line and unambiguous: UTF-8 as it is, except
/// `\\` for a backslash, `\n`, `\t`, `\r`, `\xNN` for other ASCII control
/// characters and for bytes that are not UTF-8, `\u{NNNN}` for other control
/// characters. Two different names never
/// look the same, and a name never breaks a report's line.
pub fn display_path(path: &Path) -> String {
    let mut s = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if c.is_ascii_control() => s.push_str(&format!("\\x{:02X}", c as u32)),
                c if c.is_control() => s.push_str(&format!("\\u{{{:04X}}}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s
}

/// Extensions of log files; anything else in a directory is skipped (and listed).
const LOG_EXTENSIONS: &[&str] = &[
    ".json",
    ".json.gz",
    ".ndjson",
    ".ndjson.gz",
    ".jsonl",
    ".jsonl.gz",
    ".json.zst",
    ".ndjson.zst",
    ".jsonl.zst",
];

pub fn is_log_name(name: &[u8]) -> bool {
    LOG_EXTENSIONS.iter().any(|e| name.ends_with(e.as_bytes()))
}

/// Why a file in a tree is not read.
pub const NOT_A_LOG_NAME: &str =
    "not a log file name (.json, .ndjson or .jsonl, with .gz, .zst or neither)";

/// What a source holds.
#[derive(Debug, Default)]
pub struct Found {
    /// The inputs, sorted by relative path.
    pub inputs: Vec<Input>,
    /// Entries not read on purpose, with the reason.
    pub passed_over: Vec<(String, String)>,
    /// Entries that could not be listed or followed.
    pub broken: Vec<(String, JobError)>,
}

/// The inputs under `root` (a path), leaving out what `exclude` names: the
/// output directory and the files the run itself writes (the summary), so
/// that a run never reads its own output.
pub fn discover_path(root: &Path, exclude: &[FileId]) -> std::io::Result<Found> {
    let meta = std::fs::metadata(root)?;
    let mut found = Found::default();
    if !meta.is_dir() {
        let relative = PathBuf::from(root.file_name().unwrap_or(root.as_os_str()));
        let origin = if meta.is_file() {
            Origin::File(root.to_path_buf())
        } else {
            Origin::Stream(root.to_path_buf())
        };
        let size = if meta.is_file() { meta.len() } else { 0 };
        found.inputs.push(Input {
            origin,
            relative,
            size,
        });
        return Ok(found);
    }
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name();
    let keep = |e: &walkdir::DirEntry| {
        if e.depth() == 0 {
            return true;
        }
        if e.file_name().as_bytes().starts_with(b".") {
            return false;
        }
        // Only a directory can be the output directory: a file that has
        // taken over a deleted directory's inode number is an input.
        exclude.is_empty()
            || !e.file_type().is_dir()
            || !e
                .metadata()
                .is_ok_and(|m| exclude.contains(&FileId::of(&m)))
    };
    for entry in walker.into_iter().filter_entry(keep) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(root);
                let cause = walk_error_cause(&e, path);
                found.broken.push((
                    display_path(path),
                    JobError::new(Stage::Discover, false, cause),
                ));
                continue;
            }
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        let display = display_path(entry.path());
        if !kind.is_file() {
            let what = if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else if kind.is_block_device() || kind.is_char_device() {
                "a device"
            } else {
                "not a file"
            };
            found
                .passed_over
                .push((display, format!("not a regular file ({what})")));
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_path_buf();
        if is_log_name(relative.as_os_str().as_bytes()) {
            // One stat, here: the size orders the work and sums the progress.
            let size = entry.metadata().map_or(0, |m| m.len());
            found.inputs.push(Input {
                origin: Origin::File(entry.path().to_path_buf()),
                relative,
                size,
            });
        } else {
            found
                .passed_over
                .push((display, NOT_A_LOG_NAME.to_string()));
        }
    }
    Ok(found)
}

fn walk_error_cause(e: &walkdir::Error, path: &Path) -> String {
    if let Some(ancestor) = e.loop_ancestor() {
        return format!(
            "a symbolic link loop (back to {}); not followed",
            display_path(ancestor)
        );
    }
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e.io_error() {
        Some(io) if is_link && io.kind() == std::io::ErrorKind::NotFound => {
            "a symbolic link to nothing (its target does not exist)".to_string()
        }
        Some(io) if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) => {
            format!("cannot read the directory: {io}")
        }
        Some(io) => format!("cannot read: {io}"),
        None => e.to_string(),
    }
}

/// The single input of `--input -`.
pub fn stdin() -> Found {
    Found {
        inputs: vec![Input {
            origin: Origin::Stdin,
            relative: PathBuf::from("stdin.ndjson"),
            size: 0,
        }],
        ..Found::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn names_are_shown_on_one_line_and_never_alike() {
        let show = |b: &[u8]| display_path(Path::new(OsStr::from_bytes(b)));
        assert_eq!(show(b"logs/a b.json"), "logs/a b.json");
        assert_eq!(show(b"a\nb.json"), "a\\nb.json");
        assert_eq!(show(b"a\xffb"), "a\\xFFb");
        assert_eq!(show(b"a\\xFFb"), "a\\\\xFFb");
        assert_ne!(show(b"a\xffb"), show(b"a\\xFFb"));
        assert_eq!(show(b"t\x01\t\r"), "t\\x01\\t\\r");
        assert_eq!(show("caf\u{e9}".as_bytes()), "caf\u{e9}");
    }
}

//! Outputs in a local directory: complete or absent, never partial.

use crate::inflight::Temp;
use crate::report::{JobError, Stage};
use crate::source::{display_path, FileId, Input};
use ctrules_core::{Codec, EnrichedWriter};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `create_dir_all`, and each directory it makes synced into its parent, so
/// that an output renamed into a new directory survives a power cut.
fn create_dirs_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)?.sync_all()
}

/// An output directory.
#[derive(Debug)]
pub struct DirSink {
    pub root: PathBuf,
    pub codec: Codec,
    pub compression_level: u32,
    /// Directories written to so far, each cleaned of stale temporaries
    /// the first time (see [`crate::inflight::remove_stale`]).
    seen: Mutex<HashSet<PathBuf>>,
    /// Stale temporaries removed so far.
    removed: AtomicUsize,
}

/// An output being written, not yet in place.
pub struct DirWriter {
    target: PathBuf,
    temp: Temp,
    writer: EnrichedWriter<BufWriter<File>>,
}

fn write_error(stage: Stage, what: &str, target: &Path, e: &io::Error) -> JobError {
    JobError::new(stage, true, format!("{what} {}: {e}", display_path(target)))
}

impl DirSink {
    pub fn new(root: PathBuf, codec: Codec, compression_level: u32) -> DirSink {
        DirSink {
            root,
            codec,
            compression_level,
            seen: Mutex::new(HashSet::new()),
            removed: AtomicUsize::new(0),
        }
    }

    /// Stale temporaries of killed runs removed so far.
    pub fn stale_removed(&self) -> usize {
        self.removed.load(Ordering::Relaxed)
    }

    /// Where `input`'s output goes.
    pub fn target(&self, input: &Input) -> PathBuf {
        self.root.join(input.output_relative(self.codec))
    }

    /// Starts writing the output at `relative` to a temporary beside its target.
    pub fn open(&self, relative: &Path) -> Result<DirWriter, JobError> {
        // Only plain names below the root: an input's name (an S3 key with
        // `..` or a leading `/`) must never place an output elsewhere.
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(JobError::new(
                Stage::Write,
                false,
                format!(
                    "its output name {} would leave the output directory",
                    display_path(relative)
                ),
            ));
        }
        let target = self.root.join(relative);
        if let Some(parent) = target.parent() {
            create_dirs_durably(parent).map_err(|e| {
                write_error(Stage::Write, "cannot create the directory of", &target, &e)
            })?;
            let first = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(parent.to_path_buf());
            if first {
                let n = crate::inflight::remove_stale(parent);
                self.removed.fetch_add(n, Ordering::Relaxed);
            }
        }
        let (temp, file) = Temp::create(&target)
            .map_err(|e| write_error(Stage::Write, "cannot create a temporary for", &target, &e))?;
        let writer = EnrichedWriter::with_codec(
            BufWriter::with_capacity(256 * 1024, file),
            self.codec,
            self.compression_level,
        )
        .map_err(|e| write_error(Stage::Write, "cannot start compressing", &target, &e))?;
        Ok(DirWriter {
            target,
            temp,
            writer,
        })
    }

    /// The inputs whose output would replace an input file (the same file,
    /// or a hard link to it), with that target. A run refuses to start when
    /// there is any.
    pub fn targets_replacing_inputs<'i>(&self, inputs: &'i [Input]) -> Vec<(&'i Input, PathBuf)> {
        let by_id: HashMap<FileId, &Input> = inputs
            .iter()
            .filter_map(|i| match &i.origin {
                crate::source::Origin::File(p) => Some((FileId::of_path(p)?, i)),
                _ => None,
            })
            .collect();
        // The input named is the one that would be replaced, which may
        // not be the one whose output it is (links).
        inputs
            .iter()
            .filter_map(|i| {
                let target = self.target(i);
                let replaced = by_id.get(&FileId::of_path(&target)?)?;
                Some((*replaced, target))
            })
            .collect()
    }
}

impl DirWriter {
    pub fn records(&mut self) -> &mut EnrichedWriter<BufWriter<File>> {
        &mut self.writer
    }

    /// Finishes the gzip stream, flushes it to disk and renames it into place.
    pub fn commit(self) -> Result<(), JobError> {
        let target = self.target;
        let file = self
            .writer
            .finish()
            .and_then(|mut w| {
                w.flush()?;
                w.into_inner().map_err(|e| e.into_error())
            })
            .and_then(|f| f.sync_all().map(|()| f))
            .map_err(|e| write_error(Stage::Write, "cannot write", &target, &e))?;
        drop(file);
        self.temp
            .commit(&target)
            .map_err(|e| write_error(Stage::Commit, "cannot rename into place", &target, &e))?;
        // The rename is durable only once its directory is: before an input
        // is marked done, its output must survive a power cut.
        let dir = target.parent().unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| write_error(Stage::Commit, "cannot sync the directory of", &target, &e))
    }
}

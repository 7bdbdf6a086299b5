//! What a run is asked to do, resolved once from the command line.

use std::fmt;
use std::path::PathBuf;

/// Where inputs come from or outputs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `-`: standard input or standard output.
    Stdio,
    /// A local file or directory.
    Path(PathBuf),
}

impl Location {
    /// Reads `-`, `s3://...` (refused until S3 exists) or a local path.
    pub fn parse(text: &str) -> Result<Location, String> {
        if text == "-" {
            Ok(Location::Stdio)
        } else if text.starts_with("s3://") {
            Err(format!(
                "{text}: S3 locations are not supported yet; copy with `aws s3 cp` and use a local path"
            ))
        } else if text.is_empty() {
            Err("an empty path".into())
        } else {
            Ok(Location::Path(PathBuf::from(text)))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Stdio => f.write_str("-"),
            Location::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Most files processed at once. Each job is a thread with its own read
/// and write buffers (about 1 MB) and, for standard output, up to
/// [`crate::sink::stdout::SPILL_AFTER`] of output in memory; past a few
/// hundred, threads only add memory and contention.
pub const MAX_JOBS: usize = 256;

/// One batch: where from, where to, and how.
#[derive(Debug, Clone)]
pub struct Plan {
    pub input: Location,
    pub output: Location,
    /// Files processed at once, 1 to [`MAX_JOBS`].
    pub jobs: usize,
    /// gzip level of output files, 0 to 9.
    pub compression_level: u32,
    /// Files the run writes besides its outputs (the summary): refused
    /// inside the input, where they would replace an input or be read as one.
    pub also_writes: Vec<PathBuf>,
}

impl Plan {
    /// The default number of jobs: one per core.
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

//! What a run is asked to do, resolved once from the command line.

use crate::s3::layout::Filters;
use crate::s3::{S3Options, S3Url};
use std::fmt;
use std::path::PathBuf;

/// Where inputs come from or outputs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `-`: standard input or standard output.
    Stdio,
    /// A local file or directory.
    Path(PathBuf),
    /// `s3://bucket/prefix`.
    S3(S3Url),
    /// An SQS queue of S3 notifications (`ctrules watch` only):
    /// `sqs://NAME`, or the queue's URL.
    Queue(QueueName),
}

/// An SQS queue, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueName {
    /// `sqs://NAME`: its URL is asked for (GetQueueUrl).
    Name(String),
    /// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or any endpoint's).
    Url(String),
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueName::Name(n) => write!(f, "sqs://{n}"),
            QueueName::Url(u) => f.write_str(u),
        }
    }
}

impl Location {
    /// Reads `-`, `s3://bucket/prefix` or a local path.
    pub fn parse(text: &str) -> Result<Location, String> {
        if text == "-" {
            Ok(Location::Stdio)
        } else if text.starts_with("s3://") {
            S3Url::parse(text).map(Location::S3)
        } else if let Some(name) = text.strip_prefix("sqs://") {
            // Queue names: 1 to 80 letters, digits, `-` and `_` (`.fifo` at the end).
            let plain = name.strip_suffix(".fifo").unwrap_or(name);
            if plain.is_empty()
                || name.len() > 80
                || !plain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "{text:?} is not a queue: sqs://NAME takes a queue name (letters, digits, '-' and '_')"
                ));
            }
            Ok(Location::Queue(QueueName::Name(name.to_string())))
        } else if text.starts_with("https://sqs.")
            || text.starts_with("http://") && text.contains("/queue")
        {
            Ok(Location::Queue(QueueName::Url(text.to_string())))
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
            Location::S3(u) => write!(f, "{u}"),
            Location::Queue(q) => write!(f, "{q}"),
        }
    }
}

/// Most files processed at once. Each job is a thread with its own read
/// and write buffers (about 1 MB) and, for standard output, up to
/// [`crate::sink::spill::SPILL_AFTER`] of output in memory; past a few
/// hundred, threads only add memory and contention.
pub const MAX_JOBS: usize = 256;

/// One batch: where from, where to, and how.
#[derive(Debug, Clone)]
pub struct Plan {
    pub input: Location,
    pub output: Location,
    /// Files processed at once, 1 to [`MAX_JOBS`].
    pub jobs: usize,
    /// How output files are compressed (`--compression`): gzip, or zstd.
    pub compression: ctrules_core::Codec,
    /// The level for `compression`, 0 to 9 (for zstd, 0 is zstd's default, 3).
    pub compression_level: u32,
    /// Files the run writes besides its outputs (the summary): refused
    /// inside the input, where they would replace an input or be read as one.
    pub also_writes: Vec<PathBuf>,
    /// Places `also_writes` must never land in (the rules directory).
    pub never_replace: Vec<PathBuf>,
    /// How to reach S3, when a side is `s3://`.
    pub s3: S3Options,
    /// Which part of a CloudTrail layout to read (S3 inputs).
    pub filters: Filters,
    /// What is done already, and where to record what gets done.
    pub state: State,
    /// Process everything again, whatever the state says (and record it).
    pub reprocess: bool,
    /// Where alerts go (`--alerts`), and the window that groups them.
    pub alerts: Option<crate::alerts::AlertsTo>,
    pub alert_window: std::time::Duration,
    pub alert_format: crate::alerts::AlertFormat,
    /// The fields ctrules adds by itself to each record (`--add-fields`).
    pub added: Added,
}

/// Which of the fields ctrules adds by itself are written: `xrules` (the
/// ids of the rules that matched), `xtags` (the tags rules added), and
/// `xrulesversion` (the version of the rule set that evaluated the
/// record: off by default). The fields rules `set` are the user's own and
/// always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub rules: bool,
    pub tags: bool,
    pub version: bool,
}

pub use ctrules_core::enrichment::VERSION_FIELD;

impl Default for Added {
    fn default() -> Added {
        Added {
            rules: true,
            tags: true,
            version: false,
        }
    }
}

/// Where a run keeps what it has done (`--state`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum State {
    /// Nothing kept: every input is processed.
    #[default]
    None,
    /// A state file (`--state PATH`).
    File(PathBuf),
    /// The metadata of the S3 output objects (`--state output`).
    Output,
}

impl Plan {
    /// The default number of jobs: one per core.
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

//! What a run has already done, so a rerun does only what is new.
//!
//! An input is done once its output is completely written (renamed into
//! place and its directory synced, or PUT): only then is it marked. A rerun
//! skips an input whose identity, version (an S3 ETag, or `size:mtime` of a
//! local file) and rules version all match a mark, for the same output; a
//! changed input, changed rules or another output are processed again.
//!
//! Two kinds answer [`Checkpoint`]:
//! - [`StateCheckpoint`], `--state PATH`: the redb store of [`crate::state`],
//!   marks batched by its [`Checkpointer`]. An input done but not yet marked
//!   when the process dies is processed again, and gives the same output.
//! - [`OutputState`], `--state output`: the S3 output objects themselves,
//!   whose metadata names their source's ETag and the rules version, so
//!   runs from several machines share what is done with no file of their own.

use crate::report::{JobError, Stage};
use crate::s3::put::{S3Sink, META_RULES_VERSION, META_SOURCE, META_SOURCE_ETAG};
use crate::state::{Checkpointer, Done, StateError, StateStore};
use std::path::Path;
use std::sync::Arc;

/// One input, as a checkpoint knows it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The input's identity: `s3://bucket/key`, or the canonical input
    /// root and the relative path, byte for byte.
    pub input: &'a [u8],
    /// Its output, relative to the output root.
    pub output: &'a Path,
    /// The input's version: an S3 ETag, a local file's `size:mtime_ns`.
    pub version: &'a str,
    pub rules_version: &'a str,
}

/// Why a checkpoint could not answer or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError {
    pub message: String,
    /// False when the store itself is unusable (corrupt, not a state file).
    pub retryable: bool,
}

impl CheckpointError {
    pub fn job_error(&self) -> JobError {
        JobError::new(
            Stage::Checkpoint,
            self.retryable,
            format!("checkpoint: {}", self.message),
        )
    }
}

impl From<StateError> for CheckpointError {
    fn from(e: StateError) -> CheckpointError {
        CheckpointError {
            retryable: matches!(e, StateError::Io { .. } | StateError::Locked { .. }),
            message: e.to_string(),
        }
    }
}

/// A store of done inputs, as the pipeline sees it. Its calls may block
/// (a disk, a HEAD request): call them from worker threads, never from an
/// async task.
pub trait Checkpoint: Send + Sync {
    /// Whether `entry` was done (same version, same rules).
    fn is_done(&self, entry: &Entry<'_>) -> Result<bool, CheckpointError>;
    /// Records `entry` as done; call it only once its output is durable.
    fn mark_done(&self, entry: &Entry<'_>) -> Result<(), CheckpointError>;
    /// Makes every mark durable (at the end of a run).
    fn flush(&self) -> Result<(), CheckpointError>;
}

/// The checkpoint of `--state PATH`.
pub struct StateCheckpoint {
    store: Arc<StateStore>,
    marks: Checkpointer,
    /// The output root: the same input sent to another output is not done.
    output: Vec<u8>,
    /// `--reprocess`: nothing counts as done, everything is marked anew.
    reprocess: bool,
    /// An input done with other rules is done (see [`AnyRules`]).
    any_rules: AnyRules,
}

/// Whether an input done with other rules than today's is done. A batch
/// says no (changed rules are a reason to run again); a watch says yes: a
/// rules change applies to what arrives from then on, and a restart after
/// one must neither redo the whole input nor give a redelivered object a
/// second, different output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnyRules(pub bool);

impl StateCheckpoint {
    /// Opens (or creates) the state file at `path`, for outputs under
    /// `output` (a canonical directory, or `s3://bucket/prefix`).
    pub fn open(
        path: &Path,
        output: &[u8],
        reprocess: bool,
        any_rules: AnyRules,
    ) -> Result<StateCheckpoint, StateError> {
        let store = Arc::new(StateStore::open(path)?);
        let marks = Checkpointer::new(store.clone(), Checkpointer::EVERY, Checkpointer::INTERVAL);
        Ok(StateCheckpoint {
            store,
            marks,
            output: output.to_vec(),
            reprocess,
            any_rules,
        })
    }

    /// The key of an input: its output (the output root and the output's
    /// name under it), a NUL, the input's identity. The same input sent to
    /// another output, or named under another input prefix, is not done.
    fn key(&self, entry: &Entry<'_>) -> Vec<u8> {
        let output = entry.output.as_os_str().as_encoded_bytes();
        let mut key = Vec::with_capacity(self.output.len() + output.len() + 2 + entry.input.len());
        key.extend_from_slice(&self.output);
        key.push(b'/');
        key.extend_from_slice(output);
        key.push(0);
        key.extend_from_slice(entry.input);
        key
    }
}

impl Checkpoint for StateCheckpoint {
    fn is_done(&self, entry: &Entry<'_>) -> Result<bool, CheckpointError> {
        if self.reprocess {
            return Ok(false);
        }
        let rules = (!self.any_rules.0).then_some(entry.rules_version);
        Ok(self
            .store
            .is_done_with(self.key(entry), entry.version, rules)?)
    }

    fn mark_done(&self, entry: &Entry<'_>) -> Result<(), CheckpointError> {
        Ok(self.marks.mark(Done::new(
            self.key(entry),
            entry.version,
            entry.rules_version,
        ))?)
    }

    fn flush(&self) -> Result<(), CheckpointError> {
        self.marks.finish().map(|_| ()).map_err(Into::into)
    }
}

/// The checkpoint of `--state output`: an input is done when its output
/// object says, in its metadata, that it was made from the same ETag with
/// the same rules. Marking is the PUT itself.
pub struct OutputState {
    pub sink: S3Sink,
    pub runtime: tokio::runtime::Handle,
    pub any_rules: AnyRules,
}

impl Checkpoint for OutputState {
    fn is_done(&self, entry: &Entry<'_>) -> Result<bool, CheckpointError> {
        let key = self.sink.key(entry.output).map_err(|e| CheckpointError {
            message: e.message,
            retryable: false,
        })?;
        let head = self.runtime.block_on(
            self.sink
                .client
                .head_object()
                .bucket(&self.sink.url.bucket)
                .key(&key)
                .send(),
        );
        match head {
            Ok(head) => {
                let said = |k: &str| head.metadata().and_then(|m| m.get(k)).map(String::as_str);
                let source = crate::s3::put::header_text(&String::from_utf8_lossy(entry.input));
                Ok(said(META_SOURCE) == Some(source.as_str())
                    && said(META_SOURCE_ETAG) == Some(entry.version)
                    && (self.any_rules.0 || said(META_RULES_VERSION) == Some(entry.rules_version)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => {
                let error = crate::s3::fault::job_error(
                    Stage::Checkpoint,
                    "HeadObject",
                    &format!("s3://{}/{key}", self.sink.url.bucket),
                    &e,
                );
                Err(CheckpointError {
                    message: error.message,
                    retryable: error.retryable,
                })
            }
        }
    }

    fn mark_done(&self, _: &Entry<'_>) -> Result<(), CheckpointError> {
        Ok(())
    }

    fn flush(&self) -> Result<(), CheckpointError> {
        Ok(())
    }
}

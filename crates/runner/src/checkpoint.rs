//! What a run has already done, so a rerun does only what is new.
//!
//! An input is done once its output is completely written (renamed into
//! place and the directory synced, or PUT): only then is it marked. A rerun
//! skips an input whose identity, version (an S3 ETag, or `size:mtime` of a
//! local file) and rules version all match a mark; a changed input or
//! changed rules are processed again. Marks are batched: an input done but
//! not yet marked when the process dies is processed again, and gives the
//! same output.
//!
//! [`Checkpoint`] is what the pipeline asks; [`StateCheckpoint`] answers it
//! from the store of `--state PATH` ([`crate::state`]).

use crate::state::{Checkpointer, Done, StateError, StateStore};
use std::sync::Arc;

/// A store of done inputs, as the pipeline sees it.
pub trait Checkpoint: Send + Sync {
    /// Whether `key` at `version` was done with `rules_version`.
    fn is_done(&self, key: &[u8], version: &str, rules_version: &str) -> Result<bool, String>;
    /// Records `key` at `version` as done with `rules_version`; call it only
    /// once the output is complete.
    fn mark_done(&self, key: &[u8], version: &str, rules_version: &str) -> Result<(), String>;
    /// Makes every mark durable (at the end of a run).
    fn flush(&self) -> Result<(), String>;
}

/// The checkpoint of `--state PATH`.
pub struct StateCheckpoint {
    store: Arc<StateStore>,
    marks: Checkpointer,
    /// `--reprocess`: nothing counts as done, everything is marked anew.
    reprocess: bool,
}

impl StateCheckpoint {
    /// Opens (or creates) the state file at `path`.
    pub fn open(path: &std::path::Path, reprocess: bool) -> Result<StateCheckpoint, StateError> {
        let store = Arc::new(StateStore::open(path)?);
        let marks = Checkpointer::new(store.clone(), Checkpointer::EVERY, Checkpointer::INTERVAL);
        Ok(StateCheckpoint {
            store,
            marks,
            reprocess,
        })
    }

    /// Inputs recorded as done.
    pub fn len(&self) -> Result<u64, StateError> {
        self.store.len()
    }

    pub fn is_empty(&self) -> Result<bool, StateError> {
        self.store.is_empty()
    }
}

impl Checkpoint for StateCheckpoint {
    fn is_done(&self, key: &[u8], version: &str, rules_version: &str) -> Result<bool, String> {
        if self.reprocess {
            return Ok(false);
        }
        self.store
            .is_done(key, version, rules_version)
            .map_err(|e| e.to_string())
    }

    fn mark_done(&self, key: &[u8], version: &str, rules_version: &str) -> Result<(), String> {
        self.marks
            .mark(Done::new(key, version, rules_version))
            .map_err(|e| e.to_string())
    }

    fn flush(&self) -> Result<(), String> {
        self.marks.finish().map(|_| ()).map_err(|e| e.to_string())
    }
}

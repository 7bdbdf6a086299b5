//! What a run has already done, so a rerun does only what is new.
//!
//! An input is done once its output is completely written (renamed into
//! place, or PUT): only then is it marked. A rerun skips an input whose
//! identity, version (an S3 ETag, or `size:mtime` of a local file) and
//! rules version all match a mark; a changed input or changed rules are
//! processed again. Marks may be batched: an input done but not yet marked
//! when the process dies is processed again, and gives the same output.

/// A store of done inputs.
pub trait Checkpoint: Send + Sync {
    /// Whether `key` at `version` was done with `rules_version`.
    fn is_done(&self, key: &str, version: &str, rules_version: &str) -> Result<bool, String>;
    /// Records `key` at `version` as done with `rules_version`; call it only
    /// once the output is complete.
    fn mark_done(&self, key: &str, version: &str, rules_version: &str) -> Result<(), String>;
    /// Makes every mark durable (at the end of a run).
    fn flush(&self) -> Result<(), String>;
}

//! What happened to each input, and the end-of-run summary: counts, matches
//! per rule, and every input that was skipped or failed, with its cause.
//! The summary is rendered for people and serialized for `--summary-json`
//! (docs/cli.md describes the fields).

use ctrules_compiler::RuleSet;
use ctrules_core::RecordError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The step of the pipeline where an input failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Finding it: a dangling link, a link loop, an unreadable directory.
    Discover,
    /// Opening it.
    Open,
    /// Reading its records: bad gzip, bad JSON, not a log file.
    Read,
    /// Writing its output.
    Write,
    /// Putting the finished output in place.
    Commit,
    /// Asking or telling the checkpoint (`--state`).
    Checkpoint,
}

/// Why one input failed: the stage, whether trying again could help, and
/// the cause as the failing layer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub stage: Stage,
    /// True for I/O troubles that may pass (a full disk, a busy file);
    /// false when the input itself is bad and a retry would fail the same way.
    pub retryable: bool,
    pub message: String,
}

impl JobError {
    pub fn new(stage: Stage, retryable: bool, message: impl Into<String>) -> JobError {
        JobError {
            stage,
            retryable,
            message: message.into(),
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Done,
    /// Not a log (a digest, another file name, not a regular file); nothing written.
    Skipped(String),
    Failed(JobError),
    /// Done by an earlier run, per the checkpoint: counted, not listed.
    AlreadyDone,
}

/// What happened to one input.
#[derive(Debug)]
pub struct FileReport {
    /// The input as the user would find it (path, escaped for display).
    pub input: String,
    pub status: Status,
    /// Bytes of the input as stored (gzipped or not), when known.
    pub bytes_in: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub dropped: u64,
    /// Records that could not be used, and the first of them with their causes.
    pub rejected: u64,
    pub record_errors: Vec<RecordError>,
    /// Digest documents passed over among the records.
    pub digests: u64,
    /// Records each rule matched, by rule id (only rules that matched):
    /// by id, not by position, so that reports of inputs evaluated by
    /// different rule sets (a reload) add up.
    pub matches: Vec<(Arc<str>, u64)>,
    /// The version of the one rule set that evaluated it (empty when none
    /// did: it failed or was passed over before its records were read).
    pub rules_version: String,
}

impl FileReport {
    /// A report with nothing done yet.
    pub fn new(input: String) -> FileReport {
        FileReport {
            input,
            status: Status::Done,
            bytes_in: 0,
            records_in: 0,
            records_out: 0,
            dropped: 0,
            rejected: 0,
            record_errors: Vec::new(),
            digests: 0,
            matches: Vec::new(),
            rules_version: String::new(),
        }
    }

    /// A report of an input that failed before any record was read.
    pub fn failed(input: String, error: JobError) -> FileReport {
        let mut report = FileReport::new(input);
        report.status = Status::Failed(error);
        report
    }

    /// A report of an input an earlier run did.
    pub fn already_done(input: String) -> FileReport {
        let mut report = FileReport::new(input);
        report.status = Status::AlreadyDone;
        report
    }

    /// A report of an input passed over on purpose.
    pub fn skipped(input: String, why: impl Into<String>) -> FileReport {
        let mut report = FileReport::new(input);
        report.status = Status::Skipped(why.into());
        report
    }
}

/// Skipped inputs named in the summary; past this they are only counted.
pub const MAX_SKIPPED_LISTED: usize = 1000;
/// Failed inputs named in the summary (each is also printed as it fails);
/// past this they are only counted, so memory stays bounded.
pub const MAX_FAILED_LISTED: usize = 10_000;
/// Rejected-record entries in the summary, over all files.
pub const MAX_REJECTED_LISTED: usize = 10_000;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// The command it summarises, for its first line: `run` or `watch`.
    #[serde(skip)]
    pub command: &'static str,
    /// The rules version at the start.
    pub rules_version: String,
    pub rules: usize,
    pub files_processed: u64,
    pub files_skipped: u64,
    pub files_failed: u64,
    /// Inputs an earlier run did (per `--state`), passed over.
    pub files_already_done: u64,
    pub events_in: u64,
    pub events_out: u64,
    pub events_dropped: u64,
    pub events_rejected: u64,
    /// CloudTrail digest documents passed over inside files that also hold
    /// records (a file of digests only is counted in `files_skipped`).
    pub digests_passed_over: u64,
    /// Inputs processed by each rules version: one entry for a batch; a
    /// watch that reloaded names each version it ran.
    pub rules_versions: BTreeMap<String, u64>,
    /// Rule id and how many events it matched, in load order.
    pub matches: Vec<RuleMatches>,
    /// Where each rule's entry is in `matches`.
    #[serde(skip)]
    match_index: HashMap<String, usize>,
    pub skipped: Vec<FileProblem>,
    pub failed: Vec<FileProblem>,
    /// Records that could not be used, in files that were otherwise processed.
    pub rejected: Vec<FileProblem>,
    /// Set when the checkpoint could not record the last marks: those
    /// inputs are done, and will be done again by the next run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_error: Option<String>,
    /// Alerts written (`--alerts`), after grouping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<u64>,
    /// Set when the alerts could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts_error: Option<String>,
    /// Set when the run stopped before every input was handled (standard
    /// output failed): the inputs not reached are in no other list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub elapsed_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct RuleMatches {
    pub rule: String,
    pub events: u64,
}

#[derive(Debug, Serialize)]
pub struct FileProblem {
    pub file: String,
    pub cause: String,
    /// For failures: where in the pipeline, and whether a retry may help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl FileProblem {
    fn new(file: &str, cause: String) -> FileProblem {
        FileProblem {
            file: file.to_string(),
            cause,
            stage: None,
            retryable: None,
        }
    }
}

impl Summary {
    pub fn new(rules: &RuleSet) -> Summary {
        Summary {
            rules_version: rules.version().to_string(),
            rules: rules.len(),
            match_index: rules
                .rules()
                .iter()
                .enumerate()
                .map(|(i, r)| (r.info.id.to_string(), i))
                .collect(),
            matches: rules
                .rules()
                .iter()
                .map(|r| RuleMatches {
                    rule: r.info.id.to_string(),
                    events: 0,
                })
                .collect(),
            ..Summary::default()
        }
    }

    pub fn add(&mut self, report: &FileReport) {
        match &report.status {
            Status::Done => {
                self.files_processed += 1;
                if !report.rules_version.is_empty() {
                    *self
                        .rules_versions
                        .entry(report.rules_version.clone())
                        .or_default() += 1;
                }
            }
            Status::AlreadyDone => {
                self.files_already_done += 1;
                return;
            }
            Status::Skipped(why) => {
                self.files_skipped += 1;
                // A backfill passes over a digest per hour per account and
                // region: name the first ones, count the rest.
                if self.skipped.len() < MAX_SKIPPED_LISTED {
                    self.skipped
                        .push(FileProblem::new(&report.input, why.clone()));
                }
            }
            Status::Failed(error) => {
                self.files_failed += 1;
                if self.failed.len() >= MAX_FAILED_LISTED {
                    return;
                }
                self.failed.push(FileProblem {
                    stage: Some(error.stage),
                    retryable: Some(error.retryable),
                    ..FileProblem::new(&report.input, error.message.clone())
                });
                return;
            }
        }
        self.events_in += report.records_in;
        self.events_out += report.records_out;
        self.events_dropped += report.dropped;
        self.events_rejected += report.rejected;
        if report.status == Status::Done {
            self.digests_passed_over += report.digests;
        }
        for (rule, n) in &report.matches {
            match self.match_index.get(rule.as_ref()) {
                Some(&i) => self.matches[i].events += n,
                None => {
                    // A rule the summary's rule set does not have (a reload).
                    self.match_index
                        .insert(rule.to_string(), self.matches.len());
                    self.matches.push(RuleMatches {
                        rule: rule.to_string(),
                        events: *n,
                    });
                }
            }
        }
        if self.rejected.len() >= MAX_REJECTED_LISTED {
            return;
        }
        for e in &report.record_errors {
            self.rejected
                .push(FileProblem::new(&report.input, e.to_string()));
        }
        if report.rejected > report.record_errors.len() as u64 {
            let more = report.rejected - report.record_errors.len() as u64;
            self.rejected.push(FileProblem::new(
                &report.input,
                format!("and {more} more records"),
            ));
        }
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        self.skipped.sort_by(|a, b| a.file.cmp(&b.file));
        let unlisted = self.files_skipped.saturating_sub(self.skipped.len() as u64);
        if unlisted > 0 {
            self.skipped.push(FileProblem::new(
                "...",
                format!("and {unlisted} more skipped inputs, not listed"),
            ));
        }
        let unlisted = self.files_failed.saturating_sub(self.failed.len() as u64);
        if unlisted > 0 {
            self.failed.push(FileProblem::new(
                "...",
                format!(
                    "and {unlisted} more failed inputs, not listed (each was printed as it failed)"
                ),
            ));
        }
        self.failed.sort_by(|a, b| a.file.cmp(&b.file));
    }

    /// True when something could not be processed.
    pub fn is_partial(&self) -> bool {
        self.files_failed > 0
            || self.events_rejected > 0
            || self.stopped.is_some()
            || self.checkpoint_error.is_some()
            || self.alerts_error.is_some()
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ctrules {}: {} rules (version {})",
            if self.command.is_empty() {
                "run"
            } else {
                self.command
            },
            self.rules,
            self.rules_version
        );
        if self.rules_versions.len() > 1 {
            // A watch that reloaded: which rules handled how many files.
            let versions: Vec<String> = self
                .rules_versions
                .iter()
                .map(|(v, n)| format!("{v} ({n} files)"))
                .collect();
            let _ = writeln!(s, "rules versions used: {}", versions.join(", "));
        }
        let _ = write!(
            s,
            "files:  {} processed, {} skipped, {} failed",
            self.files_processed, self.files_skipped, self.files_failed
        );
        if self.files_already_done > 0 {
            let _ = write!(s, ", {} done before (--state)", self.files_already_done);
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "events: {} in, {} out, {} dropped by rules, {} rejected",
            self.events_in, self.events_out, self.events_dropped, self.events_rejected
        );
        if let Some(n) = self.alerts {
            let _ = writeln!(s, "alerts: {n}");
        }
        if let Some(e) = &self.alerts_error {
            let _ = writeln!(s, "error: {e}");
        }
        if self.digests_passed_over > 0 {
            let _ = writeln!(
                s,
                "digests: {} passed over among the records",
                self.digests_passed_over
            );
        }
        if !self.matches.is_empty() {
            let _ = writeln!(s, "matches per rule:");
            let width = self.matches.iter().map(|m| m.rule.len()).max().unwrap_or(0);
            for m in &self.matches {
                let _ = writeln!(s, "  {:width$}  {}", m.rule, m.events);
            }
        }
        for (title, list) in [
            ("skipped", &self.skipped),
            ("failed", &self.failed),
            ("rejected records", &self.rejected),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "{title}:");
                for p in list {
                    let _ = writeln!(s, "  {}: {}", p.file, p.cause);
                }
            }
        }
        if let Some(why) = &self.checkpoint_error {
            let _ = writeln!(s, "checkpoint: the last marks were not recorded: {why}");
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(s, "stopped early: {why}");
        }
        let secs = self.elapsed_seconds;
        let rate = if secs > 0.0 {
            self.events_in as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(s, "elapsed {secs:.3}s ({rate:.0} events/s)");
        s
    }
}

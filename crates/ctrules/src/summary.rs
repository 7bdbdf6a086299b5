//! The end-of-run summary: counts, matches per rule, and every file that was
//! skipped or failed, with its cause. Printed for people, optionally written
//! as JSON for machines (docs/cli.md describes the fields).

use crate::process::{FileReport, Status};
use ctrules_compiler::RuleSet;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub rules_version: String,
    pub rules: usize,
    pub files_processed: u64,
    pub files_skipped: u64,
    pub files_failed: u64,
    pub events_in: u64,
    pub events_out: u64,
    pub events_dropped: u64,
    pub events_rejected: u64,
    /// Rule id and how many events it matched, in load order.
    pub matches: Vec<RuleMatches>,
    pub skipped: Vec<FileProblem>,
    pub failed: Vec<FileProblem>,
    /// Records that could not be used, in files that were otherwise processed.
    pub rejected: Vec<FileProblem>,
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
}

impl Summary {
    pub fn new(rules: &RuleSet) -> Summary {
        Summary {
            rules_version: rules.version().to_string(),
            rules: rules.len(),
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
            Status::Done => self.files_processed += 1,
            Status::Skipped(why) => {
                self.files_skipped += 1;
                self.skipped.push(FileProblem {
                    file: report.input.clone(),
                    cause: why.clone(),
                });
            }
            Status::Failed(why) => {
                self.files_failed += 1;
                self.failed.push(FileProblem {
                    file: report.input.clone(),
                    cause: why.clone(),
                });
                return;
            }
        }
        self.events_in += report.records_in;
        self.events_out += report.records_out;
        self.events_dropped += report.dropped;
        self.events_rejected += report.rejected;
        for (m, n) in self.matches.iter_mut().zip(&report.matches) {
            m.events += n;
        }
        for e in &report.record_errors {
            self.rejected.push(FileProblem {
                file: report.input.clone(),
                cause: e.to_string(),
            });
        }
        if report.rejected > report.record_errors.len() as u64 {
            let more = report.rejected - report.record_errors.len() as u64;
            self.rejected.push(FileProblem {
                file: report.input.clone(),
                cause: format!("and {more} more records"),
            });
        }
    }

    pub fn passed_over(&mut self, file: String) {
        self.files_skipped += 1;
        self.skipped.push(FileProblem {
            file,
            cause: "not a log file name (.json, .ndjson or .jsonl, gzipped or not)".into(),
        });
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        self.skipped.sort_by(|a, b| a.file.cmp(&b.file));
        self.failed.sort_by(|a, b| a.file.cmp(&b.file));
    }

    /// True when something could not be processed.
    pub fn is_partial(&self) -> bool {
        self.files_failed > 0 || self.events_rejected > 0
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ctrules run: {} rules (version {})",
            self.rules, self.rules_version
        );
        let _ = writeln!(
            s,
            "files:  {} processed, {} skipped, {} failed",
            self.files_processed, self.files_skipped, self.files_failed
        );
        let _ = writeln!(
            s,
            "events: {} in, {} out, {} dropped by rules, {} rejected",
            self.events_in, self.events_out, self.events_dropped, self.events_rejected
        );
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

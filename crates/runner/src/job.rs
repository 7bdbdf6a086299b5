//! One input through the pipeline, whatever its source and sink:
//! checkpoint, open, read and evaluate, write, commit, mark.
//!
//! An input is handled by one worker from start to end and evaluated by one
//! rule set. Its output is committed only when the whole input was read, and
//! the input is marked done only once its output is durable; a failure at
//! any stage leaves no output and names the stage.

use crate::alerts::{Alerts, PerInputAlerts};
use crate::checkpoint::{Checkpoint, Entry};
use crate::plan::Added;
use crate::report::{FileReport, JobError, Stage, Status};
use crate::s3::put::Provenance;
use crate::sink::spill::Spill;
use crate::sink::Output;
use ctrules_compiler::{Evaluation, RuleSet};
use ctrules_core::reader::{read_log_with, ReadError, ReadErrorKind, ReadOptions, Record};
use ctrules_core::writer::write_enriched;
use ctrules_core::{EnrichedWriter, Enrichment};
use std::io::{self, Read};
use std::path::PathBuf;

/// Opens an input when its turn comes.
pub type Open = Box<dyn FnOnce() -> Result<Box<dyn Read>, JobError> + Send>;

/// One input to process.
pub struct Job {
    /// The input as people know it: a path, `s3://bucket/key`.
    pub name: String,
    /// Its identity in the checkpoint (see [`Entry::input`]).
    pub id: Vec<u8>,
    /// Its version: an S3 ETag, a local file's `size:mtime_ns`; empty for a
    /// stream, which no checkpoint can recognise again.
    pub version: String,
    /// Bytes as stored, when known.
    pub size: u64,
    /// Its output's name, relative to the output root (`.gz` and all).
    pub output: PathBuf,
}

/// What every job of a run shares.
pub struct Context<'a> {
    pub rules: &'a RuleSet,
    pub output: &'a Output,
    pub checkpoint: Option<&'a dyn Checkpoint>,
    /// The runtime S3 calls run on (for an S3 output).
    pub runtime: Option<&'a tokio::runtime::Handle>,
    /// Where matches of rules with a severity are noted (`--alerts`): for
    /// the whole run, or written per input by a watch.
    pub alerts: Option<AlertMode<'a>>,
    /// Which of `xrules` and `xtags` are written.
    pub added: Added,
}

/// How a job's alerts are gathered.
#[derive(Clone, Copy)]
pub enum AlertMode<'a> {
    /// Into the run's sightings, grouped and written at its end (`run`).
    Run(&'a Alerts),
    /// Grouped within the input and written once its output is committed,
    /// before it is marked done (`watch`: an input is done with its alerts).
    PerInput(&'a PerInputAlerts),
}

/// Runs `job` to the end, opening it with `open` when its turn comes (not
/// at all when the checkpoint says it is done). For standard output, the
/// gathered records come back with the report (nothing when it failed).
pub fn run_job(job: Job, open: Open, cx: &Context<'_>) -> (FileReport, Spill) {
    let entry = Entry {
        input: &job.id,
        output: &job.output,
        version: &job.version,
        rules_version: cx.rules.version(),
    };
    let checkpoint = cx.checkpoint.filter(|_| !job.version.is_empty());
    if let Some(cp) = checkpoint {
        match cp.is_done(&entry) {
            Ok(true) => {
                let mut report = FileReport::already_done(job.name);
                report.bytes_in = job.size;
                return (report, Spill::new());
            }
            Ok(false) => {}
            Err(e) => return (FileReport::failed(job.name, e.job_error()), Spill::new()),
        }
    }
    let mut report = FileReport::new(job.name.clone());
    report.bytes_in = job.size;
    report.rules_version = cx.rules.version().to_string();
    let mut spill = Spill::new();
    // Each input's sightings are gathered apart, and count only when the
    // input is done: a file that fails half-way raises no alert (its rerun
    // will). A watch writes them with the input; a run keeps them for its end.
    let mode = cx.alerts;
    let rules = cx.rules;
    let own = mode.map(|_| Alerts::default());
    let local_cx;
    let cx = match &own {
        Some(alerts) => {
            local_cx = Context {
                alerts: Some(AlertMode::Run(alerts)),
                ..*cx
            };
            &local_cx
        }
        None => cx,
    };
    let mut outcome = open().and_then(|reader| write(reader, &job, cx, &mut report, &mut spill));
    if let (Ok(None), Some(alerts)) = (&outcome, own) {
        match mode {
            Some(AlertMode::PerInput(to)) => {
                if let Err(e) = to.write(&job, rules, &alerts) {
                    outcome = Err(e);
                }
            }
            Some(AlertMode::Run(all)) => all.absorb(alerts),
            None => {}
        }
    }
    match outcome {
        Ok(None) => {
            if let Some(cp) = checkpoint {
                if let Err(e) = cp.mark_done(&entry) {
                    report.status = Status::Failed(e.job_error());
                }
            }
        }
        Ok(Some(skip)) => report.status = Status::Skipped(skip),
        Err(e) => {
            report.status = Status::Failed(e);
            spill = Spill::new();
        }
    }
    (report, spill)
}

/// Evaluates `reader` into the run's output and commits it. Returns the
/// reason a file that is not a log was skipped (nothing written).
fn write(
    reader: Box<dyn Read>,
    job: &Job,
    cx: &Context<'_>,
    report: &mut FileReport,
    spill: &mut Spill,
) -> Result<Option<String>, JobError> {
    match cx.output {
        Output::Dir(dir) => {
            let mut out = dir.open(&job.output)?;
            let skip = evaluate_into(reader, cx, report, |record, enr| {
                out.records().write(record, enr)
            })?;
            match skip {
                None => out.commit().map(|()| None),
                Some(skip) => Ok(Some(skip)), // the temporary goes with `out`
            }
        }
        Output::Stdout => evaluate_into(reader, cx, report, |record, enr| {
            write_enriched(record, enr, spill.buffer())?;
            spill.settle()
        }),
        Output::S3(s3) => {
            let key = s3.key(&job.output)?;
            let mut out =
                EnrichedWriter::with_codec(Spill::new(), s3.codec, s3.compression_level())
                    .map_err(|e| {
                        JobError::new(Stage::Write, true, format!("cannot start compressing: {e}"))
                    })?;
            let skip = evaluate_into(reader, cx, report, |record, enr| out.write(record, enr))?;
            if skip.is_some() {
                return Ok(skip);
            }
            let gathered = out.finish().map_err(|e| {
                JobError::new(Stage::Write, true, format!("cannot gather the output: {e}"))
            })?;
            let provenance = Provenance {
                source: job.name.clone(),
                source_version: job.version.clone(),
                rules_version: cx.rules.version().to_string(),
            };
            let runtime = cx
                .runtime
                .ok_or_else(|| JobError::new(Stage::Write, false, "no S3 client"))?;
            runtime.block_on(s3.put(&key, gathered, &provenance))?;
            Ok(None)
        }
    }
}

/// A reader's failure as a job failure: the sink's own errors are write
/// failures (worth a retry); the others are the input's.
fn read_failure(e: ReadError) -> JobError {
    match e.kind {
        ReadErrorKind::Output => JobError::new(Stage::Write, true, e.to_string()),
        ReadErrorKind::Io => JobError::new(Stage::Read, true, e.to_string()),
        _ => JobError::new(Stage::Read, false, e.to_string()),
    }
}

/// Streams the records of `reader` through the rules into `write`, noting
/// alerts on the way. Returns the skip reason for a file that is not a log
/// (nothing written).
pub fn evaluate_into(
    reader: Box<dyn Read + '_>,
    cx: &Context<'_>,
    report: &mut FileReport,
    mut write: impl FnMut(&Record<'_>, &Enrichment) -> io::Result<()>,
) -> Result<Option<String>, JobError> {
    let rules = cx.rules;
    let input = report.input.clone();
    // `--add-fields version`: the field and its value, made once per input.
    let version = cx.added.version.then(|| {
        let field: std::sync::Arc<str> = std::sync::Arc::from(crate::plan::VERSION_FIELD);
        (
            field,
            serde_json::Value::String(rules.version().to_string()),
        )
    });
    let mut eval = Evaluation::default();
    let mut records_out = 0u64;
    let mut dropped = 0u64;
    let mut matches = vec![0u64; rules.len()];
    let options = ReadOptions {
        fields: Some(rules.record_fields()),
        ..ReadOptions::default()
    };
    let outcome = read_log_with(reader, &options, &mut |record: Record<'_>| {
        rules.evaluate(record.value, &mut eval);
        if !cx.added.rules {
            eval.enrichment.rules.clear();
        }
        if !cx.added.tags {
            eval.enrichment.tags.clear();
        }
        if let Some(version) = &version {
            let fields = &mut eval.enrichment.fields;
            if !fields.iter().any(|(name, _)| *name == version.0) {
                fields.push(version.clone());
            }
        }
        if let Some(AlertMode::Run(alerts)) = cx.alerts {
            if !eval.matched.is_empty() {
                alerts.sighted(rules, &eval.matched, record.raw, record.value, &input);
            }
        }
        if eval.enrichment.drop {
            dropped += 1;
        } else {
            // A record the writer rejects (it cannot be written faithfully)
            // is counted by the reader as rejected, and matched nothing.
            write(&record, &eval.enrichment)?;
            records_out += 1;
        }
        for &i in &eval.matched {
            matches[i] += 1;
        }
        Ok(())
    })
    .map_err(read_failure)?;
    report.matches = rules
        .rules()
        .iter()
        .zip(matches)
        .filter(|(_, n)| *n > 0)
        .map(|(rule, n)| (rule.info.id.clone(), n))
        .collect();
    report.records_in = outcome.records + outcome.rejected;
    report.records_out = records_out;
    report.dropped = dropped;
    report.rejected = outcome.rejected;
    report.record_errors = outcome.record_errors;
    report.digests = outcome.digests;
    Ok(outcome.skipped)
}

//! One input through the pipeline: open, read and evaluate, write, commit.
//!
//! An input is handled by one worker from start to end and evaluated by one
//! rule set. Its output is committed only when the whole input was read;
//! a failure at any stage leaves no output and names the stage.

use crate::report::{FileReport, JobError, Stage, Status};
use crate::sink::dir::DirSink;
use crate::sink::spill::Spill;
use crate::source::{Input, Origin};
use ctrules_compiler::{Evaluation, RuleSet};
use ctrules_core::reader::{read_log_with, ReadError, ReadErrorKind, ReadOptions, Record};
use ctrules_core::writer::write_enriched;
use ctrules_core::{EnrichedWriter, Enrichment};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Where one input's records go.
pub enum Sink<'a> {
    Dir(&'a DirSink),
    /// Plain NDJSON gathered for standard output, which the caller writes
    /// in order.
    Stdout,
    /// gzipped NDJSON (at this level) gathered for an S3 PUT.
    Gzip(u32),
}

/// Runs one input through `rules` into `sink`. For [`Sink::Stdout`] and
/// [`Sink::Gzip`], the gathered output comes back with the report (empty
/// when it failed).
pub fn process(input: &Input, rules: &RuleSet, sink: &Sink<'_>) -> (FileReport, Spill) {
    match open(input) {
        Ok(reader) => process_reader(
            reader,
            input.display(),
            &input.output_relative(),
            rules,
            sink,
        ),
        Err(e) => (
            FileReport::failed(input.display(), rules.len(), e),
            Spill::new(),
        ),
    }
}

/// [`process`] for an input already opened: `name` names it in reports,
/// `output` is its output's path relative to the sink.
pub fn process_reader(
    reader: Box<dyn Read + '_>,
    name: String,
    output: &Path,
    rules: &RuleSet,
    sink: &Sink<'_>,
) -> (FileReport, Spill) {
    let mut report = FileReport::new(name, rules.len());
    let mut spill = Spill::new();
    let result = match sink {
        Sink::Dir(dir) => dir.open(output).and_then(|mut out| {
            evaluate_into(reader, rules, &mut report, |record, enr| {
                out.records().write(record, enr)
            })?
            .map_or_else(|| out.commit().map(|()| None), |skip| Ok(Some(skip)))
        }),
        Sink::Stdout => evaluate_into(reader, rules, &mut report, |record, enr| {
            write_enriched(record, enr, spill.buffer())?;
            spill.settle()
        }),
        Sink::Gzip(level) => {
            let mut out = EnrichedWriter::new(Spill::new(), *level);
            evaluate_into(reader, rules, &mut report, |record, enr| {
                out.write(record, enr)
            })
            .and_then(|skip| {
                spill = out.finish().map_err(|e| {
                    JobError::new(Stage::Write, true, format!("cannot gather the output: {e}"))
                })?;
                Ok(skip)
            })
        }
    };
    match result {
        Ok(None) => {}
        Ok(Some(skip)) => report.status = Status::Skipped(skip),
        Err(e) => {
            report.status = Status::Failed(e);
            spill = Spill::new();
        }
    }
    (report, spill)
}

fn open(input: &Input) -> Result<Box<dyn Read + '_>, JobError> {
    match &input.origin {
        Origin::File(path) | Origin::Stream(path) => match File::open(path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) => Err(JobError::new(
                Stage::Open,
                e.kind() != io::ErrorKind::NotFound && e.kind() != io::ErrorKind::PermissionDenied,
                format!("cannot open: {e}"),
            )),
        },
        Origin::Stdin => Ok(Box::new(io::stdin().lock())),
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

/// Streams the records of `reader` through the rules into `write`.
/// Returns the skip reason for a file that is not a log (nothing written).
pub fn evaluate_into(
    reader: Box<dyn Read + '_>,
    rules: &RuleSet,
    report: &mut FileReport,
    mut write: impl FnMut(&Record<'_>, &Enrichment) -> io::Result<()>,
) -> Result<Option<String>, JobError> {
    let mut eval = Evaluation::default();
    let mut records_out = 0u64;
    let mut dropped = 0u64;
    let matches = &mut report.matches;
    let options = ReadOptions {
        fields: Some(rules.record_fields()),
        ..ReadOptions::default()
    };
    let outcome = read_log_with(reader, &options, &mut |record: Record<'_>| {
        rules.evaluate(record.value, &mut eval);
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
    report.records_in = outcome.records + outcome.rejected;
    report.records_out = records_out;
    report.dropped = dropped;
    report.rejected = outcome.rejected;
    report.record_errors = outcome.record_errors;
    report.digests = outcome.digests;
    Ok(outcome.skipped)
}

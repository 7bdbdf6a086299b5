//! Processing one log file: read, evaluate, write, atomically.

use crate::inputs::{Input, Origin};
use ctrules_compiler::{Evaluation, RuleSet};
use ctrules_core::reader::{
    read_log_with, ReadError, ReadErrorKind, ReadOptions, Record, RecordError,
};
use ctrules_core::writer::write_enriched;
use ctrules_core::EnrichedWriter;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Where outputs go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A directory: gzipped NDJSON at the input's relative path.
    Dir(PathBuf),
    /// Plain NDJSON gathered in memory, for standard output.
    Memory,
}

#[derive(Debug)]
pub enum Status {
    Done,
    /// Not a log file (a digest); nothing written.
    Skipped(String),
    Failed(String),
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileReport {
    pub input: String,
    pub status: Status,
    pub records_in: u64,
    pub records_out: u64,
    pub dropped: u64,
    /// Records that could not be used, and the first of them with their causes.
    pub rejected: u64,
    pub record_errors: Vec<RecordError>,
    /// Matches per rule, indexed like `RuleSet::rules`.
    pub matches: Vec<u64>,
    /// The output, for [`Destination::Memory`].
    pub memory: Vec<u8>,
}

impl FileReport {
    /// A report with nothing done yet, for a run of `rules` rules.
    pub fn new(input: String, rules: usize) -> FileReport {
        FileReport {
            input,
            status: Status::Done,
            records_in: 0,
            records_out: 0,
            dropped: 0,
            rejected: 0,
            record_errors: Vec::new(),
            matches: vec![0; rules],
            memory: Vec::new(),
        }
    }
}

pub struct Options<'a> {
    pub rules: &'a RuleSet,
    pub destination: &'a Destination,
    pub compression_level: u32,
}

pub fn process(input: &Input, opts: &Options<'_>) -> FileReport {
    let mut report = FileReport::new(input.display(), opts.rules.len());
    let reader: Box<dyn Read> = match &input.origin {
        Origin::File(path) => match File::open(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                report.status = Status::Failed(format!("cannot open: {e}"));
                return report;
            }
        },
        Origin::Stdin => Box::new(io::stdin().lock()),
    };
    let result = match opts.destination {
        Destination::Memory => {
            let mut out = Vec::new();
            let r = evaluate_into(reader, opts.rules, &mut report, |record, enr| {
                write_enriched(record, enr, &mut out)
            });
            report.memory = out;
            r
        }
        Destination::Dir(dir) => write_file(
            reader,
            &dir.join(input.output_relative()),
            opts,
            &mut report,
        ),
    };
    match result {
        Ok(None) => {}
        Ok(Some(skip)) => report.status = Status::Skipped(skip),
        Err(e) => {
            report.status = Status::Failed(e.to_string());
            report.memory.clear();
        }
    }
    report
}

/// Writes to a temporary file beside the target and renames it into place,
/// so a reader of the output never sees half a file.
fn write_file(
    reader: Box<dyn Read>,
    target: &Path,
    opts: &Options<'_>,
    report: &mut FileReport,
) -> Result<Option<String>, ReadError> {
    let io_fail = |what: &str, e: io::Error| ReadError {
        kind: ReadErrorKind::Output,
        message: format!("{what} {}: {e}", target.display()),
        line: None,
        column: None,
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| io_fail("cannot create the directory of", e))?;
    }
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = target.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let file = File::create(&temp).map_err(|e| io_fail("cannot create", e))?;
    let mut writer = EnrichedWriter::new(
        BufWriter::with_capacity(256 * 1024, file),
        opts.compression_level,
    );
    let result = evaluate_into(reader, opts.rules, report, |record, enr| {
        writer.write(record, enr)
    });
    let finished = match result {
        Ok(None) => writer
            .finish()
            .and_then(|mut w| {
                w.flush()?;
                Ok(w)
            })
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&temp, target))
            .map(|()| None)
            .map_err(|e| io_fail("cannot write", e)),
        other => other,
    };
    if !matches!(finished, Ok(None)) {
        let _ = std::fs::remove_file(&temp);
    }
    finished
}

/// Streams the records of `reader` through the rules into `write`.
/// Returns the skip reason for a file that is not a log (nothing written).
fn evaluate_into(
    reader: Box<dyn Read>,
    rules: &RuleSet,
    report: &mut FileReport,
    mut write: impl FnMut(&Record<'_>, &ctrules_core::Enrichment) -> io::Result<()>,
) -> Result<Option<String>, ReadError> {
    let mut eval = Evaluation::default();
    let mut records_out = 0u64;
    let mut dropped = 0u64;
    let matches = &mut report.matches;
    let options = ReadOptions {
        fields: Some(rules.record_fields()),
    };
    let outcome = read_log_with(reader, &options, &mut |record: Record<'_>| {
        rules.evaluate(record.value, &mut eval);
        for &i in &eval.matched {
            matches[i] += 1;
        }
        if eval.enrichment.drop {
            dropped += 1;
            return Ok(());
        }
        // Counted once written: a record the writer rejects is counted by the reader.
        write(&record, &eval.enrichment)?;
        records_out += 1;
        Ok(())
    })?;
    report.records_in = outcome.records + outcome.rejected;
    report.records_out = records_out;
    report.dropped = dropped;
    report.rejected = outcome.rejected;
    report.record_errors = outcome.record_errors;
    Ok(outcome.skipped)
}

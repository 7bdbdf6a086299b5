//! `ctrules query`: a condition in the rule language over a trail, with
//! chosen terms computed for each match.
//!
//! **Compiling.** A query is compiled as one rule of the rule language,
//! `when WHERE set xq0 = TERM0 set xq1 = TERM1 ...`, together with the
//! team's rules files for their declarations (lists, macros, tables,
//! schedules), whose own rules are blanked out (their text replaced by
//! spaces, so every other place stays where it was). So a query gets the
//! parser, the checks, the "did you mean" and the evaluators of rules
//! files, and reads only the fields it needs. Diagnostics about the query
//! are moved back onto the text the user typed: the condition and each
//! selected term are sources of their own.
//!
//! **Scanning.** Inputs are read in name order (keys for S3), a window of
//! them at a time in parallel, and handed on in that order, so a query's
//! answer does not depend on the number of cores, and `--limit` without
//! `--sort` stops reading as soon as it has enough.

use crate::plan::Location;
use crate::report::{JobError, Stage};
use crate::run::RunError;
use crate::s3::layout::{key_facts, Filters};
use crate::s3::list::{list, Listed};
use crate::s3::{S3Options, S3Url};
use crate::source::{self, display_path, Origin};
use ctrules_compiler::{compile_with, Evaluation, RuleSet};
use ctrules_core::reader::{read_log_with, ReadOptions, Record};
use ctrules_lang::ast::Item;
use ctrules_lang::{Diagnostic, Source, Span};
use serde_json::Value;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

/// The name of the `i`th selected term's field in the query's rule.
fn column_field(i: usize) -> String {
    format!("xq{i}")
}

/// A compiled query.
pub struct Query {
    rules: RuleSet,
    /// The field of each selected term, in order.
    columns: Vec<Arc<str>>,
    /// Warnings about the query itself (the condition and the terms).
    pub warnings: Vec<Diagnostic>,
}

/// Why a query cannot run.
pub enum QueryError {
    /// The rules directory or a GeoIP database cannot be read.
    Unreadable(String),
    /// Errors (and the warnings beside them) in the query or the rules.
    Invalid(Vec<Diagnostic>),
}

/// One term to compute per match: what the user typed, and where (the flag
/// and the place in its list, `--select 2`), which names it in diagnostics.
pub struct TermText {
    pub place: String,
    pub text: String,
}

/// Compiles `condition` (everything when `None`) and `terms` against the
/// declarations of the rules under `rules` with `geoip`.
pub fn compile_query(
    rules: &[PathBuf],
    geoip: &[PathBuf],
    condition: Option<&str>,
    terms: &[TermText],
) -> Result<Query, QueryError> {
    let (mut sources, options) = if rules.is_empty() {
        let options = crate::rules::options(&[], geoip).map_err(QueryError::Unreadable)?;
        (Vec::new(), options)
    } else {
        crate::rules::read(rules, geoip).map_err(QueryError::Unreadable)?
    };
    for source in &mut sources {
        *source = declarations_only(source)?;
    }
    // The query's rule, and where each piece the user typed sits in it.
    let condition_source = Source::new("query", condition.unwrap_or(""));
    // A syntax error is found on the condition alone first, so that it
    // says what a condition may hold, not what a rules file may.
    let mut syntax = Vec::new();
    if condition.is_some() {
        syntax.extend(
            ctrules_lang::parse_condition(&condition_source)
                .err()
                .unwrap_or_default(),
        );
    }
    let term_sources: Vec<Source> = terms
        .iter()
        .map(|t| Source::new(t.place.as_str(), t.text.as_str()))
        .collect();
    for source in &term_sources {
        syntax.extend(ctrules_lang::parse_value(source).err().unwrap_or_default());
    }
    if !syntax.is_empty() {
        return Err(QueryError::Invalid(syntax));
    }
    let mut text = String::from("when ");
    let mut pieces: Vec<(usize, Source)> = Vec::new();
    match condition {
        Some(c) => {
            pieces.push((text.len(), condition_source.clone()));
            text.push_str(c);
        }
        // Everything: a test every record passes.
        None => text.push_str("eventVersion exists or eventVersion missing"),
    }
    text.push('\n');
    for (i, source) in term_sources.iter().enumerate() {
        text.push_str(&format!("set {} = ", column_field(i)));
        pieces.push((text.len(), source.clone()));
        text.push_str(source.text());
        text.push('\n');
    }
    let query_source = Source::new("query", text);
    sources.push(query_source.clone());
    let compilation = compile_with(&sources, &options);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for d in compilation.diagnostics {
        if d.source == query_source {
            let d = move_onto(d, &pieces, &condition_source);
            if d.is_error() {
                errors.push(d);
            } else {
                warnings.push(d);
            }
        } else if d.is_error() {
            errors.push(d);
        }
        // Warnings about the team's declarations are `check`'s business.
    }
    match compilation.rules {
        Some(rules) if errors.is_empty() => Ok(Query {
            rules,
            columns: (0..terms.len())
                .map(|i| Arc::from(column_field(i).as_str()))
                .collect(),
            warnings,
        }),
        _ => {
            errors.extend(warnings);
            Err(QueryError::Invalid(errors))
        }
    }
}

/// `source` with the text of its rules replaced by spaces (newlines kept):
/// what a query needs of a rules file is its declarations.
fn declarations_only(source: &Source) -> Result<Source, QueryError> {
    let file = ctrules_lang::parse(source).map_err(QueryError::Invalid)?;
    let mut text = source.text().as_bytes().to_vec();
    let len = text.len();
    for item in &file.items {
        if let Item::Rule(rule) = item {
            for b in &mut text[rule.span.start.min(len)..rule.span.end.min(len)] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
    }
    // Whole characters became spaces (a rule starts and ends on a
    // character boundary): still UTF-8.
    let text = String::from_utf8(text).unwrap_or_default();
    Ok(Source::new(source.name(), text))
}

/// A diagnostic about the query's rule, moved onto the piece of text the
/// user typed that it is about (the condition, or a term).
fn move_onto(mut d: Diagnostic, pieces: &[(usize, Source)], condition: &Source) -> Diagnostic {
    let onto = |span: Span| -> (Source, Span) {
        for (start, piece) in pieces.iter().rev() {
            let end = start + piece.text().len();
            if span.start >= *start && span.start <= end {
                let s = span.start - start;
                let e = span.end.clamp(span.start, end) - start;
                return (piece.clone(), Span::new(s, e));
            }
        }
        let at = condition.text().len();
        (condition.clone(), Span::new(at, at))
    };
    let (source, span) = onto(d.span);
    d.source = source;
    d.span = span;
    for label in &mut d.labels {
        if label.source.name() == "query" {
            let (source, span) = onto(label.span);
            label.source = source;
            label.span = span;
        }
    }
    d
}

/// One matching record: its text as read, and the selected terms' values
/// (`null` where a term has no value).
pub struct Hit {
    pub raw: Vec<u8>,
    pub values: Vec<Value>,
}

/// What was read.
#[derive(Debug, Default)]
pub struct Scanned {
    pub files: u64,
    pub events: u64,
    pub hits: u64,
    /// Inputs that could not be read, and why.
    pub failed: Vec<(String, JobError)>,
    /// Records that could not be used, counted, and the first of them
    /// named with their file, place and cause.
    pub rejected: u64,
    pub record_errors: Vec<(String, ctrules_core::RecordError)>,
}

/// Rejected records named in full; past this, only counted.
const MAX_RECORD_ERRORS: usize = 100;

impl Query {
    /// The matches of one input (evaluated with this query's rules).
    /// The matches of one input; with `cap`, reading stops once there are
    /// that many (`--limit` without `--sort`: no more is needed, nor held).
    fn scan_one(
        &self,
        reader: Box<dyn Read + '_>,
        cap: Option<u64>,
    ) -> Result<(Vec<Hit>, ScanCounts), JobError> {
        let mut eval = Evaluation::default();
        let mut hits = Vec::new();
        let mut seen = 0u64;
        let mut capped = false;
        let options = ReadOptions {
            fields: Some(self.rules.record_fields()),
            ..ReadOptions::default()
        };
        let outcome = read_log_with(reader, &options, &mut |record: Record<'_>| {
            seen += 1;
            self.rules.evaluate(record.value, &mut eval);
            if !eval.matched.is_empty() {
                let fields = &eval.enrichment.fields;
                let values = self
                    .columns
                    .iter()
                    .map(|c| {
                        fields
                            .iter()
                            .find(|(name, _)| name == c)
                            .map_or(Value::Null, |(_, v)| v.clone())
                    })
                    .collect();
                hits.push(Hit {
                    raw: record.raw.to_vec(),
                    values,
                });
                if cap.is_some_and(|c| hits.len() as u64 >= c) {
                    capped = true;
                    return Err(std::io::Error::other("enough matches"));
                }
            }
            Ok(())
        });
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) if capped => {
                let counts = ScanCounts {
                    events: seen,
                    rejected: 0,
                    errors: Vec::new(),
                };
                return Ok((hits, counts));
            }
            Err(e) => return Err(JobError::new(Stage::Read, false, e.to_string())),
        };
        Ok((
            hits,
            ScanCounts {
                events: outcome.records + outcome.rejected,
                rejected: outcome.rejected,
                errors: outcome.record_errors,
            },
        ))
    }
}

/// What reading one input counted.
struct ScanCounts {
    events: u64,
    rejected: u64,
    errors: Vec<ctrules_core::RecordError>,
}

/// Where a query reads from.
pub struct ScanPlan {
    pub input: Location,
    /// Which part of a CloudTrail layout to read: S3 prefixes, and the
    /// paths of a local copy (`aws s3 sync`) alike.
    pub filters: Filters,
    pub s3: S3Options,
    /// Inputs read at once.
    pub jobs: usize,
    /// Matches worth reading in one input (`--limit` without `--sort`).
    pub cap_per_input: Option<u64>,
}

/// One input to read: its name, and how to open it.
type Opener = Box<dyn Fn() -> Result<Box<dyn Read>, JobError> + Send + Sync>;

/// Reads every input of `plan`, in order, handing each input's matches to
/// `each` (name, hits) until it says stop.
pub fn scan(
    plan: &ScanPlan,
    query: &Query,
    mut each: impl FnMut(&str, Vec<Hit>) -> ControlFlow<()>,
    mut found: impl FnMut(u64, u64),
) -> Result<Scanned, RunError> {
    let runtime;
    let inputs: Vec<(String, u64, Opener)> = match &plan.input {
        Location::Queue(_) => {
            return Err(RunError::Usage(
                "a query reads a file, a directory, `-` or s3://, not a queue".into(),
            ))
        }
        Location::S3(url) => {
            runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| RunError::Setup(format!("cannot start the S3 client: {e}")))?;
            let client = runtime.block_on(crate::s3::client(&plan.s3));
            s3_inputs(&runtime, client, url, &plan.filters)?
        }
        Location::Stdio => vec![(
            "-".to_string(),
            0,
            Box::new(|| Ok(Box::new(std::io::stdin()) as Box<dyn Read>)) as Opener,
        )],
        Location::Path(root) => {
            let found = source::discover_path(root, &[])
                .map_err(|e| RunError::Usage(format!("input {}: {e}", display_path(root))))?;
            found
                .inputs
                .into_iter()
                // A path in CloudTrail's layout (a copy made with `aws s3
                // sync`) is filtered as its key would be; any other file
                // says nothing of its account or day, and is read.
                .filter(|input| {
                    let relative = input.relative.to_string_lossy();
                    key_facts(&relative).is_none_or(|facts| plan.filters.keeps(Some(&facts)))
                })
                .filter_map(|input| {
                    let (Origin::File(path) | Origin::Stream(path)) = input.origin else {
                        return None;
                    };
                    let name = display_path(&path);
                    let opener: Opener = Box::new(move || {
                        std::fs::File::open(&path)
                            .map(|f| Box::new(f) as Box<dyn Read>)
                            .map_err(|e| {
                                JobError::new(Stage::Open, true, format!("cannot open: {e}"))
                            })
                    });
                    Some((name, input.size, opener))
                })
                .collect()
        }
    };
    found(inputs.len() as u64, inputs.iter().map(|i| i.1).sum());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs.clamp(1, crate::plan::MAX_JOBS))
        .build()
        .map_err(|e| RunError::Setup(format!("cannot start workers: {e}")))?;
    let mut scanned = Scanned::default();
    let window = plan.jobs.max(1) * 2;
    for chunk in inputs.chunks(window) {
        let results: Vec<_> = pool.install(|| {
            use rayon::prelude::*;
            chunk
                .par_iter()
                .map(|(_, _, open)| open().and_then(|r| query.scan_one(r, plan.cap_per_input)))
                .collect()
        });
        for ((name, _, _), result) in chunk.iter().zip(results) {
            scanned.files += 1;
            match result {
                Ok((hits, counts)) => {
                    scanned.events += counts.events;
                    scanned.rejected += counts.rejected;
                    for e in counts.errors {
                        if scanned.record_errors.len() < MAX_RECORD_ERRORS {
                            scanned.record_errors.push((name.clone(), e));
                        }
                    }
                    scanned.hits += hits.len() as u64;
                    if each(name, hits).is_break() {
                        return Ok(scanned);
                    }
                }
                Err(e) => scanned.failed.push((name.clone(), e)),
            }
        }
    }
    Ok(scanned)
}

/// The objects under `url` that `filters` keep, in key order, each with a
/// blocking opener on `runtime`.
fn s3_inputs(
    runtime: &tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    url: &S3Url,
    filters: &Filters,
) -> Result<Vec<(String, u64, Opener)>, RunError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let listing = {
        let (client, url, filters) = (client.clone(), url.clone(), filters.clone());
        runtime.spawn(async move { list(&client, &url, &filters, None, tx).await })
    };
    let mut objects = Vec::new();
    while let Some(listed) = rx.blocking_recv() {
        if let Listed::Object(object) = listed {
            objects.push(object);
        }
    }
    match runtime.block_on(listing) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RunError::Usage(e.message)),
        Err(e) => return Err(RunError::Setup(format!("the listing stopped: {e}"))),
    }
    let handle = runtime.handle().clone();
    Ok(objects
        .into_iter()
        .map(|object| {
            let name = crate::state::s3_key(&url.bucket, &object.key);
            let (client, handle, bucket, key, shown) = (
                client.clone(),
                handle.clone(),
                url.bucket.clone(),
                object.key,
                name.clone(),
            );
            let opener: Opener = Box::new(move || {
                let got = handle.block_on(client.get_object().bucket(&bucket).key(&key).send());
                let body = got
                    .map_err(|e| crate::s3::fault::job_error(Stage::Open, "GetObject", &shown, &e))?
                    .body;
                let reader = tokio_util::io::SyncIoBridge::new_with_handle(
                    body.into_async_read(),
                    handle.clone(),
                );
                Ok(Box::new(reader) as Box<dyn Read>)
            });
            (name, object.size, opener)
        })
        .collect())
}

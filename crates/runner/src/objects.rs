//! A batch over S3 objects: listed page by page, many in flight at once,
//! each through the same job pipeline as a local file.
//!
//! The listing feeds a bounded channel; at most `concurrency` objects are
//! in flight (downloading, evaluating, uploading), so memory is bounded by
//! the concurrency, not by the number or the size of the objects. Each
//! object is streamed from its GET through the reader on a blocking thread
//! (CPU work off the async workers), gathered in a spill, and written in
//! one PUT (or renamed into place, or copied to standard output in listing
//! order). Only then is it marked done in the checkpoint.

use crate::checkpoint::Checkpoint;
use crate::job::{process_reader, Sink};
use crate::report::{FileReport, JobError, Stage, Status, Summary};
use crate::run::Event;
use crate::s3::fault::job_error;
use crate::s3::layout::Filters;
use crate::s3::list::{list, Listed, ObjectRef};
use crate::s3::put::{Provenance, S3Sink, META_RULES_VERSION, META_SOURCE_ETAG};
use crate::s3::S3Url;
use crate::sink::dir::DirSink;
use crate::sink::spill::Spill;
use ctrules_compiler::RuleSet;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where the outputs of a run over objects go.
pub enum ObjectOutput {
    S3(S3Sink),
    Dir(DirSink),
    Stdout,
}

/// Everything a run over objects needs, shared by its tasks.
pub struct ObjectRun {
    pub client: aws_sdk_s3::Client,
    pub source: S3Url,
    pub filters: Filters,
    pub output: ObjectOutput,
    pub rules: Arc<RuleSet>,
    pub concurrency: usize,
    pub compression_level: u32,
    pub checkpoint: Option<Arc<dyn Checkpoint>>,
    /// Skip an object whose output already says (in its metadata) that it
    /// was made from this ETag with these rules: the output is the state.
    pub output_is_state: bool,
}

/// One object's outcome, with its output for standard output.
struct Done {
    index: u64,
    report: FileReport,
    spill: Spill,
}

/// What happened to one object besides its report.
enum Outcome {
    Report(FileReport),
    /// Done in an earlier run, per the checkpoint or the output.
    AlreadyDone,
}

impl ObjectRun {
    /// The object's id in the checkpoint and in reports.
    fn id(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.source.bucket)
    }

    /// The object's path relative to the input prefix (its file name when
    /// the input names one object).
    fn relative(&self, key: &str) -> String {
        if self.source.is_object() {
            key.rsplit('/').next().unwrap_or(key).to_string()
        } else {
            key.strip_prefix(&self.source.prefix)
                .unwrap_or(key)
                .to_string()
        }
    }

    async fn already_done(&self, object: &ObjectRef) -> Result<bool, JobError> {
        let rules_version = self.rules.version().to_string();
        if let Some(cp) = &self.checkpoint {
            let (cp, id, etag, rv) = (
                cp.clone(),
                self.id(&object.key).into_bytes(),
                object.etag.clone(),
                rules_version.clone(),
            );
            let done = tokio::task::spawn_blocking(move || cp.is_done(&id, &etag, &rv))
                .await
                .map_err(|e| JobError::new(Stage::Open, true, format!("checkpoint: {e}")))?
                .map_err(|e| JobError::new(Stage::Open, true, format!("checkpoint: {e}")))?;
            if done {
                return Ok(true);
            }
        }
        if let (true, ObjectOutput::S3(sink)) = (self.output_is_state, &self.output) {
            let key = sink.key(&self.relative(&object.key));
            match sink
                .client
                .head_object()
                .bucket(&sink.url.bucket)
                .key(&key)
                .send()
                .await
            {
                Ok(head) => {
                    let meta = head.metadata();
                    let said = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
                    return Ok(said(META_SOURCE_ETAG) == Some(object.etag.as_str())
                        && said(META_RULES_VERSION) == Some(rules_version.as_str()));
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
                Err(e) => {
                    return Err(job_error(
                        Stage::Open,
                        "HeadObject",
                        &format!("s3://{}/{key}", sink.url.bucket),
                        &e,
                    ))
                }
            }
        }
        Ok(false)
    }

    /// One object through the pipeline.
    async fn object(self: Arc<Self>, object: ObjectRef) -> (Outcome, Spill) {
        let name = self.id(&object.key);
        let failed = |e: JobError| {
            (
                Outcome::Report(FileReport::failed(name.clone(), self.rules.len(), e)),
                Spill::new(),
            )
        };
        match self.already_done(&object).await {
            Ok(true) => return (Outcome::AlreadyDone, Spill::new()),
            Ok(false) => {}
            Err(e) => return failed(e),
        }
        let got = self
            .client
            .get_object()
            .bucket(&self.source.bucket)
            .key(&object.key)
            .send()
            .await;
        let body = match got {
            Ok(got) => got.body,
            Err(e) => return failed(job_error(Stage::Open, "GetObject", &name, &e)),
        };
        let relative = self.relative(&object.key);
        let run = self.clone();
        let (report_name, rel) = (name.clone(), relative.clone());
        let evaluated = tokio::task::spawn_blocking(move || {
            let reader = tokio_util::io::SyncIoBridge::new(body.into_async_read());
            let sink = match &run.output {
                ObjectOutput::S3(_) => Sink::Gzip(run.compression_level),
                ObjectOutput::Dir(dir) => Sink::Dir(dir),
                ObjectOutput::Stdout => Sink::Stdout,
            };
            let output = crate::source::Input {
                origin: crate::source::Origin::Stdin,
                relative: PathBuf::from(&rel),
            }
            .output_relative();
            process_reader(Box::new(reader), report_name, &output, &run.rules, &sink)
        })
        .await;
        let (mut report, spill) = match evaluated {
            Ok((mut report, spill)) => {
                report.bytes_in = object.size;
                (report, spill)
            }
            Err(e) => {
                return failed(JobError::new(
                    Stage::Read,
                    false,
                    format!("the worker stopped: {e}"),
                ))
            }
        };
        let spill = match (&report.status, &self.output) {
            (Status::Done, ObjectOutput::S3(sink)) => {
                let provenance = Provenance {
                    source: name.clone(),
                    source_version: object.etag.clone(),
                    rules_version: self.rules.version().to_string(),
                };
                if let Err(e) = sink.put(&sink.key(&relative), spill, &provenance).await {
                    report.status = Status::Failed(e);
                }
                Spill::new()
            }
            _ => spill,
        };
        // Standard output keeps no checkpoint: what went to a pipe is gone.
        if report.status == Status::Done && !matches!(self.output, ObjectOutput::Stdout) {
            if let Err(e) = self.mark(&object) {
                report.status = Status::Failed(e);
            }
        }
        (Outcome::Report(report), spill)
    }

    fn mark(&self, object: &ObjectRef) -> Result<(), JobError> {
        match &self.checkpoint {
            Some(cp) => cp
                .mark_done(
                    self.id(&object.key).as_bytes(),
                    &object.etag,
                    self.rules.version(),
                )
                .map_err(|e| JobError::new(Stage::Commit, true, format!("checkpoint: {e}"))),
            None => Ok(()),
        }
    }
}

/// Runs every object of `run` and gathers the summary. Objects that fail
/// are named in it; a failed listing stops the listing (what was listed
/// before still runs) and is named too.
pub async fn run_objects(
    run: Arc<ObjectRun>,
    summary: &mut Summary,
    events: &(dyn Fn(Event<'_>) + Sync),
    stdout: &mut dyn Write,
) -> Option<std::io::Error> {
    let (tx, mut rx) = mpsc::channel::<Listed>(1024);
    let lister = {
        let run = run.clone();
        let exclude = match &run.output {
            ObjectOutput::S3(sink) => Some(sink.url.clone()),
            _ => None,
        };
        tokio::spawn(async move {
            list(&run.client, &run.source, &run.filters, exclude.as_ref(), tx).await
        })
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut index = 0u64;
    // Objects started and not yet finished (written out, for standard
    // output): at most `concurrency`, which bounds memory.
    let mut unfinished = 0usize;
    let mut next_out = 0u64;
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut stdout_error = None;
    let mut listing_open = true;
    let ordered = matches!(run.output, ObjectOutput::Stdout);
    let concurrency = run.concurrency.max(1);

    let mut finish =
        |done: Done, summary: &mut Summary, stdout_error: &mut Option<std::io::Error>| {
            events(Event::Finished(&done.report));
            if ordered && done.report.status == Status::Done && stdout_error.is_none() {
                if let Err(e) = done.spill.copy_to(stdout).and_then(|()| stdout.flush()) {
                    summary.stopped = Some(format!("cannot write to standard output: {e}"));
                    *stdout_error = Some(e);
                    return;
                }
            }
            summary.add(&done.report);
        };

    loop {
        let can_start = listing_open && stdout_error.is_none() && unfinished < concurrency;
        tokio::select! {
            listed = rx.recv(), if can_start => {
                let Some(listed) = listed else {
                    listing_open = false;
                    events(Event::FoundAll);
                    continue;
                };
                if let Listed::Object(object) = &listed {
                    events(Event::Found { inputs: 1, bytes: object.size });
                }
                let i = index;
                index += 1;
                unfinished += 1;
                let (run, done_tx) = (run.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let (outcome, spill) = match listed {
                        Listed::Object(object) => run.clone().object(object).await,
                        Listed::Skipped(key, why) => (
                            Outcome::Report(FileReport::skipped(
                                format!("s3://{}/{key}", run.source.bucket),
                                run.rules.len(),
                                why,
                            )),
                            Spill::new(),
                        ),
                    };
                    let report = match outcome {
                        Outcome::Report(report) => report,
                        Outcome::AlreadyDone => FileReport::already_done(run.rules.len()),
                    };
                    let _ = done_tx.send(Done { index: i, report, spill });
                });
            }
            done = done_rx.recv(), if unfinished > 0 => {
                let Some(done) = done else { break };
                if ordered {
                    waiting.insert(done.index, done);
                    while let Some(done) = waiting.remove(&next_out) {
                        next_out += 1;
                        unfinished -= 1;
                        finish(done, summary, &mut stdout_error);
                    }
                } else {
                    unfinished -= 1;
                    finish(done, summary, &mut stdout_error);
                }
            }
            else => break,
        }
    }
    // A listing still going (standard output failed) ends at its next send.
    drop(rx);
    match lister.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let report = FileReport::failed(run.source.to_string(), run.rules.len(), e);
            events(Event::Finished(&report));
            summary.add(&report);
        }
        Err(e) => {
            let error = JobError::new(Stage::Discover, true, format!("the listing stopped: {e}"));
            let report = FileReport::failed(run.source.to_string(), run.rules.len(), error);
            events(Event::Finished(&report));
            summary.add(&report);
        }
    }
    if let Some(cp) = &run.checkpoint {
        if let Err(e) = cp.flush() {
            let error = JobError::new(Stage::Commit, true, format!("checkpoint: {e}"));
            summary.add(&FileReport::failed(
                "--state".into(),
                run.rules.len(),
                error,
            ));
        }
    }
    stdout_error
}

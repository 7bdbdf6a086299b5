//! A batch over S3 objects: listed page by page, many in flight at once,
//! each through the same job pipeline as a local file ([`crate::job`]).
//!
//! The listing feeds a bounded channel; at most `concurrency` objects are
//! in flight, each a job on a blocking thread (its GET streamed through the
//! reader, its output gathered and PUT, or renamed into place), so memory is
//! bounded by the concurrency, not by the number or the size of the
//! objects. For standard output, finished objects wait for their turn in
//! listing order, and count against the concurrency until written.

use crate::checkpoint::Checkpoint;
use crate::job::{run_job, Context, Job, Open};
use crate::report::{FileReport, JobError, Stage, Status, Summary};
use crate::run::Event;
use crate::s3::fault::job_error;
use crate::s3::layout::Filters;
use crate::s3::list::{list, Listed, ObjectRef};
use crate::s3::S3Url;
use crate::sink::spill::Spill;
use crate::sink::{output_name, Output, OutputNames};
use ctrules_compiler::RuleSet;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Everything a run over objects needs, shared by its jobs.
pub struct ObjectRun {
    pub client: aws_sdk_s3::Client,
    pub source: S3Url,
    pub filters: Filters,
    pub output: Output,
    pub rules: Arc<RuleSet>,
    pub concurrency: usize,
    pub checkpoint: Option<Arc<dyn Checkpoint>>,
    pub runtime: tokio::runtime::Handle,
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
    pub added: crate::plan::Added,
}

impl ObjectRun {
    /// The object's name in reports: escaped, since a key is anyone's text
    /// and must not forge or break a line of the log.
    fn name(&self, key: &str) -> String {
        crate::source::display_path(std::path::Path::new(&self.id(key)))
    }

    /// The object's identity in the checkpoint, byte for byte.
    fn id(&self, key: &str) -> String {
        crate::state::s3_key(&self.source.bucket, key)
    }

    /// The object's path relative to the input prefix (its file name when
    /// the input names one object), refused when it is not a plain relative
    /// path: a key with an empty, `.` or `..` segment must not place an
    /// output anywhere but under the output root.
    fn relative(&self, key: &str) -> Result<PathBuf, JobError> {
        let named = self.source.is_object() || self.source.prefix.strip_suffix('/') == Some(key);
        let relative = if named {
            key.rsplit('/').next().unwrap_or(key)
        } else {
            key.strip_prefix(&self.source.prefix).unwrap_or(key)
        };
        plain_relative(relative, "below the input prefix")
    }

    /// The job of one listed object.
    fn job(self: &Arc<Self>, object: ObjectRef) -> Result<(Job, Open), JobError> {
        let output = output_name(self.relative(&object.key)?.as_os_str(), self.output.codec());
        let run = self.clone();
        let key = object.key.clone();
        let open: Open = Box::new(move || {
            let name = run.name(&key);
            let got = run.runtime.block_on(
                run.client
                    .get_object()
                    .bucket(&run.source.bucket)
                    .key(&key)
                    .send(),
            );
            let body = got
                .map_err(|e| job_error(Stage::Open, "GetObject", &name, &e))?
                .body;
            let reader = tokio_util::io::SyncIoBridge::new_with_handle(
                body.into_async_read(),
                run.runtime.clone(),
            );
            Ok(Box::new(reader) as Box<dyn Read>)
        });
        let name = self.name(&object.key);
        let job = Job {
            id: self.id(&object.key).into_bytes(),
            name,
            version: object.etag,
            size: object.size,
            output,
        };
        Ok((job, open))
    }
}

/// `relative` (a key, or the part of one below a prefix, `where`) as a
/// relative output path, refused when it is not a plain one: an empty,
/// `.` or `..` segment must not place an output anywhere but under the
/// output root.
pub(crate) fn plain_relative(relative: &str, place: &str) -> Result<PathBuf, JobError> {
    let plain = !relative.is_empty()
        && relative
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if plain {
        Ok(PathBuf::from(relative))
    } else {
        Err(JobError::new(
            Stage::Discover,
            false,
            format!("the key {relative:?} ({place}) has an empty, '.' or '..' part, so it has no safe output name"),
        ))
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
            Output::S3(sink) => Some(sink.url.clone()),
            _ => None,
        };
        tokio::spawn(async move {
            list(&run.client, &run.source, &run.filters, exclude.as_ref(), tx).await
        })
    };
    let mut jobs: JoinSet<(FileReport, Spill)> = JoinSet::new();
    // Which listed object each task is: its place and its name.
    let mut tasks: HashMap<tokio::task::Id, (u64, String)> = HashMap::new();
    let mut names = OutputNames::default();
    let mut index = 0u64;
    // Objects started and not yet finished (written out, for standard
    // output): at most `concurrency`, which bounds memory.
    let mut unfinished = 0usize;
    let mut next_out = 0u64;
    let mut waiting: BTreeMap<u64, (FileReport, Spill)> = BTreeMap::new();
    let mut stdout_error = None;
    let mut listing_open = true;
    let ordered = matches!(run.output, Output::Stdout);
    let concurrency = run.concurrency.max(1);

    let mut finish = |report: FileReport,
                      spill: Spill,
                      summary: &mut Summary,
                      stdout_error: &mut Option<std::io::Error>| {
        if ordered && stdout_error.is_some() {
            return; // not written, so not counted: the summary says where it stopped
        }
        events(Event::Finished(&report));
        if ordered && report.status == Status::Done {
            if let Err(e) = spill.copy_to(stdout).and_then(|()| stdout.flush()) {
                summary.stopped = Some(format!("cannot write to standard output: {e}"));
                *stdout_error = Some(e);
                return;
            }
        }
        summary.add(&report);
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
                let i = index;
                index += 1;
                unfinished += 1;
                let ready = match listed {
                    Listed::Object(object) => {
                        events(Event::Found { inputs: 1, bytes: object.size });
                        let name = run.name(&object.key);
                        let taken = names.claim(object.key.as_bytes(), &name).map(|first| {
                            JobError::new(
                                Stage::Write,
                                false,
                                format!("its output would overwrite the output of {first}"),
                            )
                        });
                        match taken.map_or(Ok(()), Err).and_then(|()| run.job(object)) {
                            Ok((job, open)) => {
                                let shared = run.clone();
                                let handle = jobs.spawn_blocking(move || {
                                    let cx = Context {
                                        rules: &shared.rules,
                                        output: &shared.output,
                                        checkpoint: shared.checkpoint.as_deref(),
                                        runtime: Some(&shared.runtime),
                                        alerts: shared.alerts.as_deref().map(crate::job::AlertMode::Run),
                                        added: shared.added,
                                    };
                                    run_job(job, open, &cx)
                                });
                                tasks.insert(handle.id(), (i, name));
                                None
                            }
                            Err(e) => Some(FileReport::failed(name, e)),
                        }
                    }
                    Listed::Skipped(key, why) => {
                        Some(FileReport::skipped(run.name(&key), why))
                    }
                };
                if let Some(report) = ready {
                    waiting.insert(i, (report, Spill::new()));
                }
            }
            joined = jobs.join_next_with_id(), if !jobs.is_empty() => {
                let Some(joined) = joined else { continue };
                let (id, done) = match joined {
                    Ok((id, done)) => (id, done),
                    Err(e) => {
                        // A job that panicked is one failed input, not a hung run.
                        let id = e.id();
                        let name = tasks.get(&id).map(|(_, n)| n.clone()).unwrap_or_default();
                        let error = JobError::new(Stage::Read, false, format!("the job stopped: {e}"));
                        (id, (FileReport::failed(name, error), Spill::new()))
                    }
                };
                if let Some((i, _)) = tasks.remove(&id) {
                    waiting.insert(i, done);
                }
            }
            else => break,
        }
        // Hand on what is finished: in order for standard output, else as it comes.
        if ordered {
            while let Some((report, spill)) = waiting.remove(&next_out) {
                next_out += 1;
                unfinished -= 1;
                finish(report, spill, summary, &mut stdout_error);
            }
        } else {
            for (_, (report, spill)) in std::mem::take(&mut waiting) {
                unfinished -= 1;
                finish(report, spill, summary, &mut stdout_error);
            }
        }
        if !listing_open && jobs.is_empty() && waiting.is_empty() {
            break;
        }
    }
    // A listing still going (standard output failed) ends at its next send.
    drop(rx);
    jobs.shutdown().await;
    match lister.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let report = FileReport::failed(run.source.to_string(), e);
            events(Event::Finished(&report));
            summary.add(&report);
        }
        Err(e) => {
            let error = JobError::new(Stage::Discover, true, format!("the listing stopped: {e}"));
            let report = FileReport::failed(run.source.to_string(), error);
            events(Event::Finished(&report));
            summary.add(&report);
        }
    }
    stdout_error
}

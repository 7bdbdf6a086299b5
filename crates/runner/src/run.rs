//! A batch: every input of a source through the pipeline, on a pool of
//! workers, into one sink, and the summary of it all.
//!
//! [`run`] resolves the plan into an [`Output`] and a checkpoint, refuses
//! what would harm an input, then hands the inputs to one of two
//! schedulers: local files on a rayon pool, biggest first (`local`), or S3
//! objects as they are listed (`objects`). Both run each input
//! through [`crate::job::run_job`].

use crate::alerts::{Alerts, AlertsTo};
use crate::checkpoint::{AnyRules, Checkpoint, OutputState, StateCheckpoint};
use crate::job::{run_job, AlertMode, Context, Job, Open};
use crate::objects::{run_objects, ObjectRun};
use crate::plan::{Location, Plan, State, MAX_JOBS};
use crate::report::{FileReport, JobError, Stage, Summary};
use crate::s3::put::S3Sink;
use crate::sink::dir::DirSink;
use crate::sink::spill::Spill;
use crate::sink::{Output, OutputNames};
use crate::source::{self, display_path, FileId, Found, Input, Origin};
use crate::state::LocalKeys;
use ctrules_compiler::RuleSet;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a run could not start: nothing was read or written.
#[derive(Debug)]
pub enum RunError {
    /// The input or output cannot be used as given (missing, the same
    /// place, an output that would replace an input, a state file that
    /// cannot be used).
    Usage(String),
    /// The workers could not be started.
    Setup(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Usage(m) | RunError::Setup(m) => f.write_str(m),
        }
    }
}

/// What the caller hears while a run goes on.
pub enum Event<'a> {
    /// Inputs found, with their size in bytes (as stored: gzipped or not).
    Found { inputs: u64, bytes: u64 },
    /// Every input is found: totals are final from here on.
    FoundAll,
    /// An input is finished (processed, skipped, failed, or done before).
    Finished(&'a FileReport),
    /// Temporaries left by runs that were killed were removed.
    StaleRemoved(usize),
}

/// The end of a run.
pub struct Outcome {
    pub summary: Summary,
    /// Writing to standard output failed, and the run stopped there.
    pub stdout_error: Option<io::Error>,
}

/// Writes a line to standard error, never failing: a closed or broken
/// standard error must not stop the work (or panic, as `eprintln!` does).
pub fn say(line: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
}

/// Runs `plan` with `rules`. `events` is called from the workers.
pub fn run(
    plan: &Plan,
    rules: Arc<RuleSet>,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    if matches!(plan.input, Location::Queue(_)) {
        return Err(RunError::Usage(
            "an SQS queue is read by `ctrules watch`, which runs until stopped; `run` reads a file, a directory, `-` or s3://".into(),
        ));
    }
    if plan.output == Location::Stdio && !stdout_is_open() {
        return Err(RunError::Usage(
            "standard output is closed; nothing was processed".into(),
        ));
    }
    refuse_two_streams(plan)?;
    let alerts = plan.alerts.as_ref().map(|_| Arc::new(Alerts::default()));
    let (runtime, client) = aws(plan)?;
    let output = open_output(plan, client.as_ref())?;
    let checkpoint = open_checkpoint(plan, &output, runtime.as_ref(), AnyRules(false))?;
    if let Some(cp) = &checkpoint {
        crate::inflight::flush_on_signals(cp);
    }
    let mut summary = Summary::new(&rules);
    let mut out = io::stdout().lock();
    let stdout_error = match (&plan.input, runtime.as_ref(), client.clone()) {
        (Location::S3(source), Some(rt), Some(client)) => {
            if let Location::S3(out_url) = &plan.output {
                if out_url.bucket == source.bucket && source.prefix.starts_with(&out_url.prefix) {
                    return Err(RunError::Usage(format!(
                        "the input {source} is inside the output {out_url}: outputs would replace inputs; choose an output prefix outside the input"
                    )));
                }
            }
            if let Some(AlertsTo::S3(to)) = &plan.alerts {
                if to.bucket == source.bucket && to.prefix.starts_with(&source.prefix) {
                    return Err(RunError::Usage(format!(
                        "--alerts {to} is inside the input {source}: the alerts would be read back as logs; choose a prefix outside the input"
                    )));
                }
            }
            refuse_side_files(plan, &[])?;
            let objects = Arc::new(ObjectRun {
                client,
                source: source.clone(),
                filters: plan.filters.clone(),
                output,
                rules: rules.clone(),
                concurrency: plan.s3.concurrency.max(1),
                checkpoint: checkpoint.clone(),
                runtime: rt.handle().clone(),
                alerts: alerts.clone(),
                added: plan.added,
            });
            let error = rt.block_on(run_objects(objects.clone(), &mut summary, events, &mut out));
            stale_removed(&objects.output, events);
            error
        }
        _ => {
            let handle = runtime.as_ref().map(|rt| rt.handle().clone());
            let error = local(
                plan,
                &rules,
                &output,
                checkpoint.as_deref(),
                handle.as_ref(),
                alerts.as_deref(),
                &mut summary,
                events,
                &mut out,
            )?;
            stale_removed(&output, events);
            error
        }
    };
    if let Some(cp) = &checkpoint {
        if let Err(e) = cp.flush() {
            summary.checkpoint_error = Some(e.message);
        }
    }
    if let (Some(to), Some(alerts)) = (&plan.alerts, &alerts) {
        let grouped = alerts.grouped(&rules, plan.alert_window);
        summary.alerts = Some(grouped.len() as u64);
        let name = crate::alerts::file_name(std::time::SystemTime::now(), rules.version());
        let s3 = client.as_ref().zip(runtime.as_ref().map(|rt| rt.handle()));
        let body = crate::alerts::ndjson_as(&grouped, plan.alert_format);
        let written = crate::alerts::write_to(
            to,
            Path::new(&name),
            &body,
            s3,
            crate::alerts::File::Replace,
        );
        if let Err(e) = written {
            summary.alerts_error = Some(e.message);
        }
    }
    summary.finish(started.elapsed());
    Ok(Outcome {
        summary,
        stdout_error,
    })
}

/// `--output -` and `--alerts -` both on standard output: refused.
pub(crate) fn refuse_two_streams(plan: &Plan) -> Result<(), RunError> {
    if plan.output == Location::Stdio && plan.alerts == Some(AlertsTo::Stdout) {
        return Err(RunError::Usage(
            "--output - and --alerts -: both would go to standard output; write the alerts to a file, a directory or s3://".into(),
        ));
    }
    Ok(())
}

/// The runtime AWS calls run on and the S3 client, when some side of
/// `plan` is on AWS (an S3 input, output or alerts destination, a queue).
pub(crate) fn aws(
    plan: &Plan,
) -> Result<(Option<tokio::runtime::Runtime>, Option<aws_sdk_s3::Client>), RunError> {
    let needed = matches!(plan.input, Location::S3(_) | Location::Queue(_))
        || matches!(plan.output, Location::S3(_))
        || matches!(plan.alerts, Some(AlertsTo::S3(_)));
    if !needed {
        return Ok((None, None));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Each object in flight is a job on a blocking thread.
        .max_blocking_threads(plan.s3.concurrency.max(1) + 8)
        .enable_all()
        .build()
        .map_err(|e| RunError::Setup(format!("cannot start the AWS client: {e}")))?;
    let client = runtime.block_on(crate::s3::client(&plan.s3));
    Ok((Some(runtime), Some(client)))
}

pub(crate) fn stale_removed(output: &Output, events: &(dyn Fn(Event<'_>) + Sync)) {
    if let Output::Dir(dir) = output {
        if dir.stale_removed() > 0 {
            events(Event::StaleRemoved(dir.stale_removed()));
        }
    }
}

/// The output of `plan`, its directory created (refused when it is the
/// input directory itself).
pub(crate) fn open_output(
    plan: &Plan,
    client: Option<&aws_sdk_s3::Client>,
) -> Result<Output, RunError> {
    Ok(match &plan.output {
        Location::Stdio => Output::Stdout,
        Location::Queue(q) => {
            return Err(RunError::Usage(format!(
                "--output {q}: outputs go to a directory, `-` or s3://, not to a queue"
            )))
        }
        Location::S3(url) => {
            let client = client.ok_or_else(|| RunError::Setup("no S3 client".into()))?;
            Output::S3(
                S3Sink::new(
                    client.clone(),
                    url.clone(),
                    &plan.s3,
                    plan.compression,
                    plan.compression_level,
                )
                .map_err(RunError::Usage)?,
            )
        }
        Location::Path(dir) => {
            if let Location::Path(input) = &plan.input {
                refuse_same_place(input, dir)?;
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| RunError::Usage(format!("output {}: {e}", display_path(dir))))?;
            Output::Dir(DirSink::new(
                dir.clone(),
                plan.compression,
                plan.compression_level,
            ))
        }
    })
}

/// The checkpoint `plan.state` asks for.
pub(crate) fn open_checkpoint(
    plan: &Plan,
    output: &Output,
    runtime: Option<&tokio::runtime::Runtime>,
    any_rules: AnyRules,
) -> Result<Option<Arc<dyn Checkpoint>>, RunError> {
    match (&plan.state, output) {
        (State::None, _) => Ok(None),
        (_, Output::Stdout) => Err(RunError::Usage(
            "--state with --output -: standard output keeps no checkpoint (what went to a pipe is gone)".into(),
        )),
        (State::File(path), output) => {
            let root = output.identity().unwrap_or_default();
            StateCheckpoint::open(path, &root, plan.reprocess, any_rules)
                .map(|cp| Some(Arc::new(cp) as Arc<dyn Checkpoint>))
                .map_err(|e| RunError::Usage(format!("--state: {e}")))
        }
        (State::Output, Output::S3(sink)) => match (&plan.input, runtime) {
            (Location::S3(_) | Location::Queue(_), Some(rt)) if !plan.reprocess => {
                Ok(Some(Arc::new(OutputState {
                    sink: sink.clone(),
                    runtime: rt.handle().clone(),
                    any_rules,
                })))
            }
            (Location::S3(_) | Location::Queue(_), _) => Ok(None),
            _ => Err(RunError::Usage(
                "--state output compares S3 ETags: it needs an s3:// input as well as an s3:// output".into(),
            )),
        },
        (State::Output, _) => Err(RunError::Usage(
            "--state output reads what is done from S3 output objects: --output must be s3://".into(),
        )),
    }
}

/// A batch over local files (or standard input) on a pool of `jobs`
/// workers, biggest files first.
#[allow(clippy::too_many_arguments)]
fn local(
    plan: &Plan,
    rules: &Arc<RuleSet>,
    output: &Output,
    checkpoint: Option<&dyn Checkpoint>,
    runtime: Option<&tokio::runtime::Handle>,
    alerts: Option<&Alerts>,
    summary: &mut Summary,
    events: &(dyn Fn(Event<'_>) + Sync),
    out: &mut dyn Write,
) -> Result<Option<io::Error>, RunError> {
    let found = discover(plan, output)?;
    let jobs = plan.jobs.clamp(1, MAX_JOBS);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| RunError::Setup(format!("cannot start workers: {e}")))?;
    for (file, why) in &found.passed_over {
        let report = FileReport::skipped(file.clone(), why.clone());
        events(Event::Finished(&report));
        summary.add(&report);
    }
    for (file, error) in &found.broken {
        let report = FileReport::failed(file.clone(), error.clone());
        events(Event::Finished(&report));
        summary.add(&report);
    }
    let inputs = &found.inputs;
    events(Event::Found {
        inputs: inputs.len() as u64,
        bytes: inputs.iter().map(|i| i.size).sum(),
    });
    events(Event::FoundAll);
    // Standard output has no files to collide.
    let collisions: HashMap<usize, String> = match output {
        Output::Stdout => HashMap::new(),
        _ => {
            let mut names = OutputNames::default();
            let relative = |i: &Input| i.relative.as_os_str().as_encoded_bytes().to_vec();
            (0..inputs.len())
                .filter_map(|i| {
                    Some((i, names.claim(&relative(&inputs[i]), &inputs[i].display())?))
                })
                .collect()
        }
    };
    let keys = match &plan.input {
        Location::Path(root) if root.is_dir() => LocalKeys::new(root).ok(),
        Location::Path(file) => LocalKeys::new(
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .ok(),
        _ => None,
    };
    let cx = Context {
        rules,
        output,
        checkpoint,
        runtime,
        alerts: alerts.map(AlertMode::Run),
        added: plan.added,
    };
    let work = |i: usize| -> (FileReport, Spill) {
        let input = &inputs[i];
        let (report, spill) = match collisions.get(&i) {
            Some(first) => {
                let error = JobError::new(
                    Stage::Write,
                    false,
                    format!(
                        "its output {} would overwrite the output of {first}",
                        display_path(&input.output_relative(output.codec()))
                    ),
                );
                (FileReport::failed(input.display(), error), Spill::new())
            }
            None => {
                let (job, open) = local_job(input, keys.as_ref(), output.codec());
                run_job(job, open, &cx)
            }
        };
        events(Event::Finished(&report));
        (report, spill)
    };

    let mut stdout_error = None;
    let all: Vec<usize> = (0..inputs.len()).collect();
    match output {
        Output::Stdout => {
            // In input order: a window of inputs in parallel, then written
            // in order. A window of 2 x jobs keeps every worker busy while
            // bounding what waits in spills.
            'windows: for window in all.chunks(jobs * 2) {
                for (report, spill) in largest_first(&pool, inputs, window, work) {
                    if let Err(e) = spill.copy_to(out).and_then(|()| out.flush()) {
                        summary.stopped = Some(format!("cannot write to standard output: {e}"));
                        stdout_error = Some(e);
                        break 'windows;
                    }
                    summary.add(&report);
                }
            }
        }
        _ => {
            for (report, _) in largest_first(&pool, inputs, &all, work) {
                summary.add(&report);
            }
        }
    }
    Ok(stdout_error)
}

/// The job of a local input: its identity in the checkpoint (the canonical
/// input root and its relative path), its version (`size:mtime`), and how
/// to open it; its output is named for `codec`.
pub(crate) fn local_job(
    input: &Input,
    keys: Option<&LocalKeys>,
    codec: ctrules_core::Codec,
) -> (Job, Open) {
    let (version, size) = match &input.origin {
        Origin::File(path) => std::fs::metadata(path)
            .map(|m| (crate::state::local_version(&m), m.len()))
            .unwrap_or_default(),
        // A stream cannot be recognised again: no version, no checkpoint.
        Origin::Stream(_) | Origin::Stdin => (String::new(), 0),
    };
    let origin = input.origin.clone();
    let job = Job {
        name: input.display(),
        id: keys
            .map(|k| k.key(input.relative.as_os_str()))
            .unwrap_or_default(),
        version,
        size,
        output: input.output_relative(codec),
    };
    let open: Open = Box::new(move || match origin {
        Origin::File(path) | Origin::Stream(path) => std::fs::File::open(&path)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| {
                JobError::new(
                    Stage::Open,
                    e.kind() != io::ErrorKind::NotFound
                        && e.kind() != io::ErrorKind::PermissionDenied,
                    format!("cannot open: {e}"),
                )
            }),
        Origin::Stdin => Ok(Box::new(io::stdin().lock()) as Box<dyn Read>),
    });
    (job, open)
}

/// The inputs of a local plan, leaving out the output directory, after
/// refusing any plan that would replace an input.
fn discover(plan: &Plan, output: &Output) -> Result<Found, RunError> {
    let found = match &plan.input {
        Location::Stdio => source::stdin(),
        Location::Path(root) => {
            std::fs::metadata(root)
                .map_err(|e| RunError::Usage(format!("input {}: {e}", display_path(root))))?;
            let exclude: Vec<FileId> = match output {
                Output::Dir(dir) => FileId::of_path(&dir.root).into_iter().collect(),
                _ => Vec::new(),
            };
            source::discover_path(root, &exclude)
                .map_err(|e| RunError::Usage(format!("input {}: {e}", display_path(root))))?
        }
        Location::S3(_) | Location::Queue(_) => {
            unreachable!("S3 inputs are listed by the objects pipeline, queues read by watch")
        }
    };
    refuse_side_files(plan, &found.inputs)?;
    if let Output::Dir(dir) = output {
        let replacing = dir.targets_replacing_inputs(&found.inputs);
        if let Some((input, target)) = replacing.first() {
            return Err(RunError::Usage(format!(
                "output {} would replace the input {}{}; choose an output directory outside the input",
                display_path(target),
                input.display(),
                match replacing.len() {
                    1 => String::new(),
                    n => format!(" (and {} more inputs)", n - 1),
                }
            )));
        }
    }
    Ok(found)
}

/// Refuses an output directory that is the input directory itself.
fn refuse_same_place(input: &Path, output: &Path) -> Result<(), RunError> {
    if FileId::of_path(input).is_some() && FileId::of_path(input) == FileId::of_path(output) {
        return Err(RunError::Usage(format!(
            "output {} is the input directory: its enriched copies would replace the original logs or be read back as input; choose another directory",
            display_path(output)
        )));
    }
    Ok(())
}

/// Where `path` leads once written: links followed for the part that
/// exists (the nearest existing ancestor), the rest appended as written.
fn resolve_written(path: &Path) -> Option<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(path) {
        return Some(c);
    }
    let absolute = std::path::absolute(path).ok()?;
    let mut rest = Vec::new();
    let mut at = absolute.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(at) {
            return Some(rest.iter().rev().fold(c, |p, name| p.join(name)));
        }
        rest.push(at.file_name()?.to_os_string());
        at = at.parent()?;
    }
}

/// Refuses a file the run writes besides its outputs (the summary) that
/// would replace something it must not: an input, a file of the input or
/// output tree (it would be read back, or clobber an output), or what the
/// caller names in `plan.never_replace` (the rules). Links are followed:
/// what counts is the file that would be written.
pub(crate) fn refuse_side_files(plan: &Plan, inputs: &[Input]) -> Result<(), RunError> {
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    let trees: Vec<(PathBuf, &str)> = [(&plan.input, "the input"), (&plan.output, "the output")]
        .into_iter()
        .filter_map(|(l, what)| match l {
            Location::Path(p) => canonical(p).map(|c| (c, what)),
            _ => None,
        })
        .chain(
            plan.never_replace
                .iter()
                .filter_map(|p| canonical(p).map(|c| (c, "the rules or a GeoIP database"))),
        )
        .collect();
    let input_ids: HashSet<FileId> = inputs
        .iter()
        .filter_map(|i| match &i.origin {
            Origin::File(p) => FileId::of_path(p),
            _ => None,
        })
        .collect();
    let mut written: Vec<PathBuf> = Vec::new();
    for path in &plan.also_writes {
        let refuse = |why: String| {
            Err(RunError::Usage(format!(
                "{} {why}; write it elsewhere",
                display_path(path)
            )))
        };
        if FileId::of_path(path).is_some_and(|id| input_ids.contains(&id)) {
            return refuse("is an input: it would be replaced".into());
        }
        let Some(resolved) = resolve_written(path) else {
            continue; // it cannot be written anyway, and says so then
        };
        if written.contains(&resolved) {
            return refuse(
                "is named twice (--summary-json, --state, --alerts): one would replace the other"
                    .into(),
            );
        }
        written.push(resolved.clone());
        for (tree, what) in &trees {
            if resolved.starts_with(tree) {
                return refuse(format!(
                    "is inside {what} ({}): it would replace a file there or be read back",
                    display_path(tree)
                ));
            }
        }
    }
    Ok(())
}

/// Set (by the binary, before `main`) when standard output was closed at
/// start: Rust's runtime then reopens it on /dev/null, and every write would
/// "succeed" into nothing, so only a look before the runtime's can tell.
pub static STDOUT_CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

pub(crate) fn stdout_is_open() -> bool {
    // SAFETY: F_GETFD reads descriptor flags; no memory is touched.
    !STDOUT_CLOSED_AT_START.load(Ordering::Relaxed)
        && unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } != -1
}

/// Runs `work` on the inputs `which` on the pool's threads, biggest file
/// first, and gives the results back in the order of `which`. Taking the
/// biggest first keeps one large file from starting last and leaving the
/// other cores idle.
fn largest_first<T: Send>(
    pool: &rayon::ThreadPool,
    inputs: &[Input],
    which: &[usize],
    work: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let mut order: Vec<usize> = (0..which.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(inputs[which[k]].size));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<T>>> = which.iter().map(|_| Mutex::new(None)).collect();
    pool.scope(|scope| {
        for _ in 0..pool.current_num_threads().min(which.len()) {
            scope.spawn(|_| loop {
                let taken = next.fetch_add(1, Ordering::Relaxed);
                let Some(&k) = order.get(taken) else { break };
                let result = work(which[k]);
                *results[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

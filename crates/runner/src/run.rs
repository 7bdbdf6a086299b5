//! A batch: every input of a source through the pipeline, on a pool of
//! workers, into one sink, and the summary of it all.

use crate::checkpoint::Checkpoint;
use crate::job::{process, Sink};
use crate::objects::{run_objects, ObjectOutput, ObjectRun};
use crate::plan::{Location, Plan, MAX_JOBS};
use crate::report::{FileReport, JobError, Stage, Status, Summary};
use crate::s3::put::{Provenance, S3Sink};
use crate::sink::dir::{output_collisions, DirSink};
use crate::sink::spill::Spill;
use crate::source::{self, display_path, FileId, Found, Input, Origin};
use ctrules_compiler::RuleSet;
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Why a run could not start: nothing was read or written.
#[derive(Debug)]
pub enum RunError {
    /// The input or output cannot be used as given (missing, the same
    /// place, an output that would replace an input).
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

/// Runs `plan` with `rules`, skipping what `checkpoint` says is done and
/// marking what gets done. `events` is called from the workers.
pub fn run(
    plan: &Plan,
    rules: Arc<RuleSet>,
    checkpoint: Option<Arc<dyn Checkpoint>>,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    if plan.output == Location::Stdio && !stdout_is_open() {
        return Err(RunError::Usage(
            "standard output is closed; nothing was processed".into(),
        ));
    }
    let s3_side = matches!(plan.input, Location::S3(_)) || matches!(plan.output, Location::S3(_));
    let runtime = if s3_side {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| RunError::Setup(format!("cannot start the S3 client: {e}")))?,
        )
    } else {
        None
    };
    let client = runtime
        .as_ref()
        .map(|rt| rt.block_on(crate::s3::client(&plan.s3)));
    let mut summary = Summary::new(&rules);
    let mut out = io::stdout().lock();
    let stdout_error = match &plan.input {
        Location::S3(source) => {
            let (rt, client) = (
                runtime.as_ref().expect("S3 runtime"),
                client.expect("S3 client"),
            );
            let output = match &plan.output {
                Location::S3(url) => ObjectOutput::S3(
                    S3Sink::new(
                        client.clone(),
                        url.clone(),
                        &plan.s3,
                        plan.compression_level,
                    )
                    .map_err(RunError::Usage)?,
                ),
                Location::Path(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        RunError::Usage(format!("output {}: {e}", display_path(dir)))
                    })?;
                    ObjectOutput::Dir(DirSink {
                        root: dir.clone(),
                        compression_level: plan.compression_level,
                    })
                }
                Location::Stdio => ObjectOutput::Stdout,
            };
            if let (Location::S3(out_url), true) = (&plan.output, source.is_object()) {
                if out_url.holds(&source.bucket, &source.prefix) {
                    return Err(RunError::Usage(format!(
                        "{source} is inside the output {out_url}; choose an output prefix outside the input"
                    )));
                }
            }
            if let Location::S3(out_url) = &plan.output {
                if out_url.bucket == source.bucket && source.prefix.starts_with(&out_url.prefix) {
                    return Err(RunError::Usage(format!(
                        "the input {source} is inside the output {out_url}: outputs would replace inputs; choose an output prefix outside the input"
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
                compression_level: plan.compression_level,
                checkpoint,
                output_is_state: plan.output_is_state,
            });
            rt.block_on(run_objects(objects, &mut summary, events, &mut out))
        }
        _ => local(
            plan,
            &rules,
            checkpoint,
            runtime.as_ref().zip(client),
            &mut summary,
            events,
            &mut out,
        )?,
    };
    summary.finish(started.elapsed());
    Ok(Outcome {
        summary,
        stdout_error,
    })
}

/// Where a local batch writes.
enum LocalSink {
    Dir(DirSink),
    Stdout,
    S3(S3Sink, tokio::runtime::Handle),
}

/// A batch over local files (or standard input) on a pool of `jobs`
/// workers, biggest files first.
fn local(
    plan: &Plan,
    rules: &Arc<RuleSet>,
    checkpoint: Option<Arc<dyn Checkpoint>>,
    s3: Option<(&tokio::runtime::Runtime, aws_sdk_s3::Client)>,
    summary: &mut Summary,
    events: &(dyn Fn(Event<'_>) + Sync),
    out: &mut dyn Write,
) -> Result<Option<io::Error>, RunError> {
    let (found, dir) = resolve(plan)?;
    let sink = match (&plan.output, dir, s3) {
        (Location::S3(url), _, Some((rt, client))) => LocalSink::S3(
            S3Sink::new(client, url.clone(), &plan.s3, plan.compression_level)
                .map_err(RunError::Usage)?,
            rt.handle().clone(),
        ),
        (_, Some(dir), _) => LocalSink::Dir(dir),
        _ => LocalSink::Stdout,
    };
    let jobs = plan.jobs.clamp(1, MAX_JOBS);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| RunError::Setup(format!("cannot start workers: {e}")))?;
    for (file, why) in &found.passed_over {
        let report = FileReport::skipped(file.clone(), rules.len(), why.clone());
        events(Event::Finished(&report));
        summary.add(&report);
    }
    for (file, error) in &found.broken {
        let report = FileReport::failed(file.clone(), rules.len(), error.clone());
        events(Event::Finished(&report));
        summary.add(&report);
    }
    let inputs = &found.inputs;
    events(Event::Found {
        inputs: inputs.len() as u64,
        bytes: inputs.iter().map(Input::size).sum(),
    });
    events(Event::FoundAll);
    let collisions = output_collisions(inputs);
    let checkpoint = checkpoint.as_deref();
    let work = |i: usize| -> (FileReport, Spill) {
        let input = &inputs[i];
        let (report, spill) = match collisions.get(&i) {
            Some(first) => {
                let error = JobError::new(
                    Stage::Write,
                    false,
                    format!(
                        "its output {} would overwrite the output of {first}",
                        display_path(&input.output_relative())
                    ),
                );
                (
                    FileReport::failed(input.display(), rules.len(), error),
                    Spill::new(),
                )
            }
            None => one_local(input, rules, &sink, checkpoint),
        };
        events(Event::Finished(&report));
        (report, spill)
    };

    let mut stdout_error = None;
    let all: Vec<usize> = (0..inputs.len()).collect();
    match &sink {
        LocalSink::Dir(dir) => {
            let removed = dir.remove_stale_temporaries(inputs);
            if removed > 0 {
                events(Event::StaleRemoved(removed));
            }
            for (report, _) in largest_first(&pool, inputs, &all, work) {
                summary.add(&report);
            }
        }
        LocalSink::S3(..) => {
            for (report, _) in largest_first(&pool, inputs, &all, work) {
                summary.add(&report);
            }
        }
        LocalSink::Stdout => {
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
    }
    if let Some(cp) = checkpoint {
        if let Err(e) = cp.flush() {
            let error = JobError::new(Stage::Commit, true, format!("checkpoint: {e}"));
            summary.add(&FileReport::failed("--state".into(), rules.len(), error));
        }
    }
    Ok(stdout_error)
}

/// The identity and version of a local input for the checkpoint: its
/// canonical path, byte for byte, and `size:mtime` in nanoseconds.
fn local_identity(input: &Input) -> Option<(Vec<u8>, String)> {
    use std::os::unix::ffi::OsStringExt;
    let Origin::File(path) = &input.origin else {
        return None; // a stream has no identity to come back to
    };
    let meta = std::fs::metadata(path).ok()?;
    let canonical = std::fs::canonicalize(path).ok()?;
    Some((
        canonical.into_os_string().into_vec(),
        crate::state::local_version(&meta),
    ))
}

/// One local input: skipped when the checkpoint says it is done, else
/// processed into `sink` and marked.
fn one_local(
    input: &Input,
    rules: &Arc<RuleSet>,
    sink: &LocalSink,
    checkpoint: Option<&dyn Checkpoint>,
) -> (FileReport, Spill) {
    let identity = checkpoint.and_then(|_| local_identity(input));
    if let (Some(cp), Some((key, version))) = (checkpoint, &identity) {
        match cp.is_done(key, version, rules.version()) {
            Ok(true) => return (FileReport::already_done(rules.len()), Spill::new()),
            Ok(false) => {}
            Err(e) => {
                let error = JobError::new(Stage::Open, true, format!("checkpoint: {e}"));
                return (
                    FileReport::failed(input.display(), rules.len(), error),
                    Spill::new(),
                );
            }
        }
    }
    let (mut report, spill) = match sink {
        LocalSink::Dir(dir) => process(input, rules, &Sink::Dir(dir)),
        LocalSink::Stdout => process(input, rules, &Sink::Stdout),
        LocalSink::S3(s3, handle) => {
            let Some(relative) = input.output_relative().to_str().map(str::to_string) else {
                let error = JobError::new(
                    Stage::Write,
                    false,
                    "its name is not UTF-8, and an S3 key must be",
                );
                return (
                    FileReport::failed(input.display(), rules.len(), error),
                    Spill::new(),
                );
            };
            let (mut report, spill) = process(input, rules, &Sink::Gzip(s3.compression_level()));
            if report.status == Status::Done {
                let provenance = Provenance {
                    source: input.display(),
                    source_version: identity
                        .as_ref()
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                    rules_version: rules.version().to_string(),
                };
                if let Err(e) = handle.block_on(s3.put(&s3.key(&relative), spill, &provenance)) {
                    report.status = Status::Failed(e);
                }
            }
            (report, Spill::new())
        }
    };
    if let (Status::Done, Some(cp), Some((key, version)), false) = (
        &report.status,
        checkpoint,
        &identity,
        matches!(sink, LocalSink::Stdout),
    ) {
        if let Err(e) = cp.mark_done(key, version, rules.version()) {
            report.status = Status::Failed(JobError::new(
                Stage::Commit,
                true,
                format!("checkpoint: {e}"),
            ));
        }
    }
    (report, spill)
}

/// The inputs and the output directory (None: standard output), after
/// refusing any plan that would read the output or replace an input.
fn resolve(plan: &Plan) -> Result<(Found, Option<DirSink>), RunError> {
    let input_root = match &plan.input {
        Location::Stdio => None,
        Location::Path(p) => {
            std::fs::metadata(p)
                .map_err(|e| RunError::Usage(format!("input {}: {e}", display_path(p))))?;
            Some(p.as_path())
        }
        Location::S3(_) => unreachable!("S3 inputs are listed by the objects pipeline"),
    };
    let sink = match &plan.output {
        Location::Stdio | Location::S3(_) => None,
        Location::Path(dir) => {
            if let Some(root) = input_root {
                refuse_same_place(root, dir)?;
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| RunError::Usage(format!("output {}: {e}", display_path(dir))))?;
            Some(DirSink {
                root: dir.clone(),
                compression_level: plan.compression_level,
            })
        }
    };
    let found = match input_root {
        None => source::stdin(),
        Some(root) => {
            let exclude: Vec<FileId> = sink
                .iter()
                .filter_map(|s| FileId::of_path(&s.root))
                .collect();
            source::discover_path(root, &exclude)
                .map_err(|e| RunError::Usage(format!("input {}: {e}", display_path(root))))?
        }
    };
    refuse_side_files(plan, &found.inputs)?;
    if let Some(dir) = &sink {
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
    Ok((found, sink))
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
fn refuse_side_files(plan: &Plan, inputs: &[Input]) -> Result<(), RunError> {
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
                .filter_map(|p| canonical(p).map(|c| (c, "the rules"))),
        )
        .collect();
    let input_ids: HashSet<FileId> = inputs
        .iter()
        .filter_map(|i| match &i.origin {
            Origin::File(p) => FileId::of_path(p),
            _ => None,
        })
        .collect();
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

fn stdout_is_open() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    // Rust's runtime reopens a closed standard output on /dev/null before
    // main (read-write, where a shell's `>/dev/null` is write-only), so
    // every write would "succeed" into nothing: that pairing means closed.
    // SAFETY: F_GETFL reads the descriptor's flags; no memory is touched.
    let flags = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFL) };
    if flags == -1 {
        return false;
    }
    if flags & libc::O_ACCMODE != libc::O_RDWR {
        return true;
    }
    let is_null =
        |m: &std::fs::Metadata| m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3);
    let stdout = std::fs::metadata("/dev/stdout").or_else(|_| std::fs::metadata("/proc/self/fd/1"));
    !stdout.is_ok_and(|m| is_null(&m))
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
    // One stat per file: sort_by_key would ask for each size many times.
    order.sort_by_cached_key(|&k| std::cmp::Reverse(inputs[which[k]].size()));
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

//! A watched local directory: every log file that appears (or changes) under
//! it is processed once, by the same job as in a batch.
//!
//! Finding files: the directory is listed when the watch starts, when
//! notify reports a change under it (a listing 100 ms after the last
//! event), and every `rescan` as a safety net for file systems that miss
//! events. A listing is the same walk as `run`'s (hidden entries and the
//! output directory left out), so what a watch reads is what a batch would.
//!
//! A file is read once it has not been modified for the settle time, so a
//! writer that writes in place is not read half-way (writers that write a
//! hidden or other-named temporary and rename it, as CloudTrail delivery
//! tools do, are safe at once). A file is handled once per version
//! (`size:mtime`): written again, it is processed again. With `--state`,
//! what was done survives a restart, whatever rules did it.

use super::{Shared, WatchEvent, WatchPlan};
use crate::job::run_job;
use crate::report::{FileReport, JobError, Stage, Status, Summary};
use crate::run::{local_job, RunError};
use crate::sink::spill::Spill;
use crate::sink::Output;
use crate::source::{discover_path, display_path, FileId, Input, Origin};
use crate::state::{local_version, LocalKeys};
use notify::Watcher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Wait after a file event before listing, so a burst is one listing.
const AFTER_EVENT: Duration = Duration::from_millis(100);

enum Message {
    /// Something changed under the directory.
    Changed,
    /// A worker finished an input.
    Done(Box<Finished>),
}

struct Finished {
    relative: PathBuf,
    version: String,
    report: FileReport,
    spill: Spill,
    took: Duration,
}

/// A file ready to be processed, and the version it was seen at.
struct Ready {
    input: Input,
    version: String,
}

/// Watches `root` until a stop is requested; returns how many inputs were
/// still in flight when the grace period ran out.
pub(crate) fn watch_dir(
    root: &Path,
    plan: &WatchPlan,
    shared: &Arc<Shared>,
    summary: &mut Summary,
) -> Result<usize, RunError> {
    // The output directory, found again at each listing: deleted and made
    // again while the watch runs, it has another identity.
    let exclude = || -> Vec<FileId> {
        match &shared.output {
            Output::Dir(dir) => FileId::of_path(&dir.root).into_iter().collect(),
            _ => Vec::new(),
        }
    };
    let keys = Arc::new(LocalKeys::new(root).ok());
    let (tx, rx) = mpsc::channel::<Message>();

    // Without a watcher (no inotify instances left) the rescan alone still
    // finds every file, later.
    let events = tx.clone();
    let arm = move || {
        let tx = events.clone();
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if !matches!(&event, Ok(e) if matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(Message::Changed);
            }
        })
        .ok()
        .and_then(|mut w| {
            w.watch(root, notify::RecursiveMode::Recursive).ok()?;
            Some(w)
        })
    };
    // Held for its events; replaced when the directory comes back.
    let mut _watcher = arm();

    // Workers take inputs from a channel; at most `jobs` are handed out at
    // once, so nothing waits in it and a stop leaves no queue behind.
    let jobs = plan.plan.jobs.clamp(1, crate::plan::MAX_JOBS);
    let (work, inbox) = mpsc::channel::<Ready>();
    let inbox = Arc::new(Mutex::new(inbox));
    for n in 0..jobs {
        let (inbox, tx, shared, keys) = (inbox.clone(), tx.clone(), shared.clone(), keys.clone());
        std::thread::Builder::new()
            .name(format!("watch-{n}"))
            .spawn(move || loop {
                let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(ready) = next else { return };
                let started = Instant::now();
                // One snapshot of the rules for the whole input.
                let rules = shared.rules.current();
                let cx = shared.context(&rules);
                let (job, open) = local_job(&ready.input, (*keys).as_ref(), shared.output.codec());
                let (report, spill) = run_job(job, open, &cx);
                let done = Message::Done(Box::new(Finished {
                    relative: ready.input.relative,
                    version: ready.version,
                    report,
                    spill,
                    took: started.elapsed(),
                }));
                if tx.send(done).is_err() {
                    return;
                }
            })
            .map_err(|e| RunError::Setup(format!("cannot start workers: {e}")))?;
    }
    drop(tx);

    let mut work = Some(work);
    let mut scan = Scan::default();
    let mut in_flight: HashSet<PathBuf> = HashSet::new();
    let mut next_listing = Instant::now();
    let mut next_rescan = Instant::now() + plan.rescan;
    let mut deadline: Option<Instant> = None;
    let mut stdout = std::io::stdout();
    loop {
        let now = Instant::now();
        if shared.stop.requested() && deadline.is_none() {
            deadline = Some(now + plan.grace);
            work = None; // the workers end once their input is done
            (shared.events)(WatchEvent::Stopping {
                in_flight: in_flight.len(),
                grace: plan.grace,
            });
        }
        if let Some(deadline) = deadline {
            if in_flight.is_empty() {
                return Ok(0);
            }
            if now >= deadline {
                return Ok(in_flight.len());
            }
        } else {
            if now >= next_rescan {
                scan.retry_failed();
                next_listing = now;
                next_rescan = now + plan.rescan;
            }
            if now >= next_listing {
                next_listing = next_rescan;
                if let Some(when) = scan.list(root, &exclude(), plan.settle, shared, summary) {
                    next_listing = next_listing.min(when);
                }
                // The directory came back (deleted and made again): the
                // old watch went with it.
                if scan.found_again() {
                    _watcher = arm();
                }
            }
            if let Some(work) = &work {
                while in_flight.len() < jobs {
                    let Some(ready) = scan.take(&in_flight) else {
                        break;
                    };
                    if let Some(report) = scan.claim_output(&ready, shared.output.codec()) {
                        shared.finished(&report, Duration::ZERO);
                        summary.add(&report);
                        continue;
                    }
                    in_flight.insert(ready.input.relative.clone());
                    if work.send(ready).is_err() {
                        return Err(RunError::Setup("the workers stopped".into()));
                    }
                }
            }
        }
        let wait = next_listing
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        match rx.recv_timeout(wait) {
            Ok(Message::Changed) => {
                next_listing = next_listing.min(Instant::now() + AFTER_EVENT);
            }
            Ok(Message::Done(finished)) => {
                let Finished {
                    relative,
                    version,
                    report,
                    spill,
                    took,
                } = *finished;
                in_flight.remove(&relative);
                if matches!(shared.output, Output::Stdout) && report.status == Status::Done {
                    if let Err(e) = spill.copy_to(&mut stdout).and_then(|()| stdout.flush()) {
                        summary.stopped = Some(format!("cannot write to standard output: {e}"));
                        shared.stop.request();
                    }
                }
                shared.finished(&report, took);
                summary.add(&report);
                scan.handled(relative, version, &report.status);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(in_flight.len()),
        }
    }
}

/// What the listings have found, and what became of it.
#[derive(Default)]
struct Scan {
    /// The version each file was last handled at.
    handled: HashMap<PathBuf, String>,
    /// Files that failed in a way that may pass: tried again at the next rescan.
    failed: Vec<PathBuf>,
    /// Files ready, in name order (CloudTrail names sort by time).
    ready: BTreeMap<PathBuf, Ready>,
    /// Files passed over or broken, told once.
    told: HashSet<String>,
    /// The directory could not be listed (told once until it can again),
    /// and it can again: its watch must be set anew.
    root_lost: bool,
    root_back: bool,
    /// Files still settling: the version first seen, and when.
    seen: HashMap<PathBuf, (String, Instant)>,
    /// The input each output name belongs to: `a.json` and `a.json.gz`
    /// would both write `a.json.gz`, and only the first to come may.
    owners: HashMap<PathBuf, PathBuf>,
}

impl Scan {
    /// Lists `root`: new and changed files that have settled become ready;
    /// returns when the first one still settling will have settled.
    fn list(
        &mut self,
        root: &Path,
        exclude: &[FileId],
        settle: Duration,
        shared: &Shared,
        summary: &mut Summary,
    ) -> Option<Instant> {
        let found = match discover_path(root, exclude) {
            Ok(found) => found,
            Err(e) => {
                let error = JobError::new(Stage::Discover, true, format!("cannot list: {e}"));
                let report = FileReport::failed(display_path(root), error);
                if !self.root_lost {
                    self.root_lost = true;
                    shared.finished(&report, Duration::ZERO);
                    summary.add(&report);
                }
                // No watch can tell when it is back: look again soon.
                return Some(Instant::now() + Duration::from_secs(1));
            }
        };
        if self.root_lost {
            self.root_lost = false;
            self.root_back = true;
        }
        for (file, why) in found.passed_over {
            if self.told.insert(file.clone()) {
                let report = FileReport::skipped(file, why);
                shared.finished(&report, Duration::ZERO);
                summary.add(&report);
            }
        }
        for (file, error) in found.broken {
            if self.told.insert(file.clone()) {
                let report = FileReport::failed(file, error);
                shared.finished(&report, Duration::ZERO);
                summary.add(&report);
            }
        }
        let now = SystemTime::now();
        let mut settling: Option<Instant> = None;
        for input in found.inputs {
            let Origin::File(path) = &input.origin else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(path) else {
                continue; // gone since the walk
            };
            let version = local_version(&meta);
            if self.handled.get(&input.relative) == Some(&version) {
                continue;
            }
            // Settled: not modified for `settle`, by its time stamp or,
            // when that says nothing (a time stamp in the future: clock
            // skew, `cp -p`, `tar`), by what the listings have seen.
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or(Duration::ZERO);
            let first_seen = match self.seen.get(&input.relative) {
                Some((v, at)) if *v == version => *at,
                _ => {
                    let at = Instant::now();
                    self.seen
                        .insert(input.relative.clone(), (version.clone(), at));
                    at
                }
            };
            let unchanged_for = age.max(first_seen.elapsed());
            if unchanged_for < settle {
                let when = Instant::now() + (settle - unchanged_for) + Duration::from_millis(10);
                settling = Some(settling.map_or(when, |s| s.min(when)));
                continue;
            }
            self.seen.remove(&input.relative);
            let relative = input.relative.clone();
            self.ready.insert(relative, Ready { input, version });
        }
        settling
    }

    /// Whether the directory can be listed again after it could not.
    fn found_again(&mut self) -> bool {
        std::mem::take(&mut self.root_back)
    }

    /// The next ready file that is not in flight. A file listed again while
    /// it was in flight is ready a second time: dropped here once it turns
    /// out to be handled at that version, or it would be done twice.
    fn take(&mut self, in_flight: &HashSet<PathBuf>) -> Option<Ready> {
        loop {
            let key = self.ready.keys().find(|k| !in_flight.contains(*k))?.clone();
            let ready = self.ready.remove(&key)?;
            if self.handled.get(&key) != Some(&ready.version) {
                return Some(ready);
            }
        }
    }

    /// Takes the output name of `ready` for it; when another input has it,
    /// the failure to report (the input is not tried again until it changes).
    fn claim_output(&mut self, ready: &Ready, codec: ctrules_core::Codec) -> Option<FileReport> {
        let output = ready.input.output_relative(codec);
        let owner = self
            .owners
            .entry(output.clone())
            .or_insert_with(|| ready.input.relative.clone());
        if *owner == ready.input.relative {
            return None;
        }
        let error = JobError::new(
            Stage::Write,
            false,
            format!(
                "its output {} would overwrite the output of {}",
                display_path(&output),
                display_path(owner)
            ),
        );
        self.handled
            .insert(ready.input.relative.clone(), ready.version.clone());
        Some(FileReport::failed(ready.input.display(), error))
    }

    fn handled(&mut self, relative: PathBuf, version: String, status: &Status) {
        if matches!(status, Status::Failed(e) if e.retryable) {
            self.failed.push(relative.clone());
        }
        self.handled.insert(relative, version);
    }

    fn retry_failed(&mut self) {
        for relative in self.failed.drain(..) {
            self.handled.remove(&relative);
        }
    }
}

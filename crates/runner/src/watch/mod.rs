//! `ctrules watch`: the pipeline of `run`, kept running. Inputs arrive from
//! a watched directory ([`dir`]) or an SQS queue of S3 notifications
//! ([`crate::sqs::queue`]); each goes through the same job as in a batch
//! ([`crate::job::run_job`]), with a snapshot of the rules that reload
//! underneath ([`crate::reload`]), into the same sinks and checkpoints.
//!
//! What a watch adds to a batch:
//! - **Rules that change while it runs**: each input takes the rule set in
//!   use when it starts and keeps it to the end; the report of each input
//!   names its rules version.
//! - **A checkpoint that ignores the rules version** ([`AnyRules`]): a rules
//!   change applies to what arrives from then on, so a restart after one
//!   neither redoes the whole input nor gives an object a second output.
//! - **A gentle stop**: SIGINT or SIGTERM stops taking new work and gives
//!   what is in flight the grace period to finish; what does not finish is
//!   handed back (its temporary removed, its message made visible again),
//!   and the watch exits 0. A second signal stops at once. SIGHUP reloads.
//! - **Status**: a periodic line on standard error and, with `--metrics`,
//!   Prometheus text ([`stats`]).

pub mod dir;
pub mod stats;

use crate::checkpoint::{AnyRules, Checkpoint};
use crate::plan::{Location, Plan};
use crate::reload::{watch_rules, Reload, ReloadingRules, Wake};
use crate::report::{FileReport, Summary};
use crate::run::{
    aws, open_checkpoint, open_output, refuse_side_files, refuse_two_streams, stdout_is_open,
    RunError,
};
use crate::sink::Output;
use stats::Stats;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A watch: a batch plan and what a long run needs besides.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// Input: a directory, or an SQS queue ([`Location::Queue`]).
    pub plan: Plan,
    /// A local file is read once it has not changed for this long.
    pub settle: Duration,
    /// The whole directory is listed again this often, besides the
    /// events, for file systems that miss some.
    pub rescan: Duration,
    /// How long in-flight inputs get to finish after SIGINT or SIGTERM.
    pub grace: Duration,
    /// A status line this often (none when `None`).
    pub status_every: Option<Duration>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// SQS: the visibility timeout to keep messages in flight with; the
    /// queue's own when `None`.
    pub visibility_timeout: Option<Duration>,
    /// SQS: the long-poll wait of each receive, 0 to 20 s.
    pub receive_wait: Duration,
}

impl WatchPlan {
    /// A plan with the defaults of the command line.
    pub fn new(plan: Plan) -> WatchPlan {
        WatchPlan {
            plan,
            settle: Duration::from_secs(2),
            rescan: Duration::from_secs(30),
            grace: Duration::from_secs(30),
            status_every: Some(Duration::from_secs(60)),
            metrics: None,
            visibility_timeout: None,
            receive_wait: Duration::from_secs(20),
        }
    }
}

/// What the caller hears while a watch goes on (from any thread).
pub enum WatchEvent<'a> {
    /// Watching has begun.
    Started {
        input: &'a str,
        rules_version: &'a str,
        metrics: Option<SocketAddr>,
    },
    /// An input is finished; its report names the rules version.
    Finished(&'a FileReport),
    /// The rules were reloaded, or a change was rejected.
    Reloaded(&'a Reload),
    /// Something worth a line: a message acknowledged or left on the queue.
    Note(&'a str),
    /// The periodic status line.
    Status(&'a str),
    /// A signal asked to stop; `in_flight` inputs get `grace` to finish.
    Stopping { in_flight: usize, grace: Duration },
    /// Temporaries left by runs that were killed were removed.
    StaleRemoved(usize),
}

/// The caller's ear: shared by every thread of the watch.
pub type Events = Arc<dyn Fn(WatchEvent<'_>) + Send + Sync>;

/// The end of a watch.
pub struct WatchOutcome {
    pub summary: Summary,
    /// Inputs still in flight when the grace period ran out, handed back.
    pub handed_back: usize,
}

/// Whether a stop was asked for.
#[derive(Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
}

impl Stop {
    /// A stop that SIGINT and SIGTERM request from now on: set up before
    /// the rules compile, so that a signal then stops the watch as soon as
    /// it starts rather than killing the process.
    pub fn on_signals() -> std::io::Result<Arc<Stop>> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let stop = Stop::default();
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, stop.requested.clone())?;
        }
        Ok(Arc::new(stop))
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }
}

/// What every source of a watch shares.
pub struct Shared {
    pub rules: Arc<ReloadingRules>,
    pub output: Output,
    pub checkpoint: Option<Arc<dyn Checkpoint>>,
    pub runtime: Option<tokio::runtime::Handle>,
    pub stats: Arc<Stats>,
    pub events: Events,
    pub stop: Arc<Stop>,
    /// `--account`, `--region`, `--from`, `--to`: which notified objects to read.
    pub filters: crate::s3::layout::Filters,
    /// Which of `xrules` and `xtags` are written.
    pub added: crate::plan::Added,
    /// Where each input's alerts go (`--alerts`).
    pub alerts: Option<crate::alerts::PerInputAlerts>,
}

impl Shared {
    /// The context of one input's job, evaluated by `rules` (the snapshot
    /// the input holds from start to end).
    pub fn context<'a>(&'a self, rules: &'a ctrules_compiler::RuleSet) -> crate::job::Context<'a> {
        crate::job::Context {
            rules,
            output: &self.output,
            checkpoint: self.checkpoint.as_deref(),
            runtime: self.runtime.as_ref(),
            alerts: self.alerts.as_ref().map(crate::job::AlertMode::PerInput),
            added: self.added,
        }
    }

    /// Counts and tells a finished input.
    pub fn finished(&self, report: &FileReport, took: Duration) {
        self.stats.finished(report, took);
        (self.events)(WatchEvent::Finished(report));
    }
}

/// Runs the watch until a signal stops it (or `stop` is requested).
pub fn watch(
    plan: &WatchPlan,
    rules: Arc<ReloadingRules>,
    events: Events,
    stop: Arc<Stop>,
) -> Result<WatchOutcome, RunError> {
    let started = Instant::now();
    let batch = &plan.plan;
    refuse_sources(batch)?;
    let (runtime, client) = aws(batch)?;
    let output = open_output(batch, client.as_ref())?;
    refuse_side_files(batch, &[])?;
    let checkpoint = open_checkpoint(batch, &output, runtime.as_ref(), AnyRules(true))?;
    if let Some(cp) = &checkpoint {
        crate::inflight::flush_on_signals(cp);
    }
    let stats = Stats::new(&rules.version());
    let metrics = match plan.metrics {
        Some(addr) => Some(stats::serve_metrics(addr, stats.clone()).map_err(RunError::Usage)?),
        None => None,
    };
    let (wake, woken) = mpsc::channel();
    signals(wake.clone(), stop.clone(), &events)
        .map_err(|e| RunError::Setup(format!("cannot watch for signals: {e}")))?;
    let reload_stop = start_reload(&rules, (wake, woken), &stats, &events)?;
    let status_stop = plan.status_every.map(|every| {
        let queue = matches!(batch.input, Location::Queue(_));
        start_status(every, queue, &stats, &events)
    });

    let initial = rules.current();
    let mut summary = Summary::new(&initial);
    summary.command = "watch";
    let shared = Arc::new(Shared {
        rules,
        output,
        checkpoint: checkpoint.clone(),
        runtime: runtime.as_ref().map(|rt| rt.handle().clone()),
        stats,
        events: events.clone(),
        stop,
        filters: batch.filters.clone(),
        added: batch.added,
        alerts: batch.alerts.clone().map(|to| {
            let s3 = match (&to, &client, runtime.as_ref()) {
                (crate::alerts::AlertsTo::S3(_), Some(c), Some(rt)) => {
                    Some((c.clone(), rt.handle().clone()))
                }
                _ => None,
            };
            crate::alerts::PerInputAlerts::new(to, batch.alert_window, batch.alert_format, s3)
        }),
    });
    let input = batch.input.to_string();
    events(WatchEvent::Started {
        input: &input,
        rules_version: initial.version(),
        metrics,
    });
    drop(initial);
    let handed_back = match &batch.input {
        Location::Path(root) => dir::watch_dir(root, plan, &shared, &mut summary)?,
        Location::Queue(queue) => {
            let (Some(rt), Some(s3)) = (runtime.as_ref(), client) else {
                return Err(RunError::Setup("no AWS client".into()));
            };
            rt.block_on(crate::sqs::queue::watch_queue(
                queue,
                plan,
                s3,
                shared.clone(),
                &mut summary,
            ))?
        }
        Location::Stdio | Location::S3(_) => unreachable!("refused above"),
    };
    reload_stop.store(true, Ordering::Relaxed);
    if let Some(stop) = status_stop {
        stop.store(true, Ordering::Relaxed);
    }
    if let Some(cp) = &checkpoint {
        if let Err(e) = cp.flush() {
            summary.checkpoint_error = Some(e.message);
        }
    }
    crate::run::stale_removed(&shared.output, &|event| {
        if let crate::run::Event::StaleRemoved(n) = event {
            events(WatchEvent::StaleRemoved(n));
        }
    });
    summary.finish(started.elapsed());
    if let Some(runtime) = runtime {
        // Jobs handed back may still hold blocking threads: do not wait.
        runtime.shutdown_background();
    }
    Ok(WatchOutcome {
        summary,
        handed_back,
    })
}

/// What a watch cannot read or write, refused before anything starts.
fn refuse_sources(batch: &Plan) -> Result<(), RunError> {
    match &batch.input {
        Location::Path(dir) if dir.is_dir() => {}
        Location::Path(p) => {
            return Err(RunError::Usage(format!(
                "--input {}: watch takes a directory (or sqs://QUEUE); a single file is `ctrules run`",
                p.display()
            )))
        }
        Location::Queue(_) => {}
        Location::Stdio | Location::S3(_) => {
            return Err(RunError::Usage(format!(
                "--input {}: watch reads a directory or an SQS queue of S3 notifications (sqs://QUEUE); a batch over {} is `ctrules run`",
                batch.input, batch.input
            )))
        }
    }
    if let (Location::Queue(q), Location::Stdio) = (&batch.input, &batch.output) {
        return Err(RunError::Usage(format!(
            "--input {q} with --output -: a message is deleted once its outputs are durable, and standard output is not; write to a directory or s3://"
        )));
    }
    if batch.output == Location::Stdio && !stdout_is_open() {
        return Err(RunError::Usage(
            "standard output is closed; nothing was processed".into(),
        ));
    }
    refuse_two_streams(batch)
}

/// Starts the thread that keeps the rules current; returns its stop flag.
fn start_reload(
    rules: &Arc<ReloadingRules>,
    wake: (mpsc::Sender<Wake>, mpsc::Receiver<Wake>),
    stats: &Arc<Stats>,
    events: &Events,
) -> Result<Arc<AtomicBool>, RunError> {
    let reload_stop = Arc::new(AtomicBool::new(false));
    let (events, stats) = (events.clone(), stats.clone());
    watch_rules(rules.clone(), wake, reload_stop.clone(), move |outcome| {
        match outcome {
            Reload::Swapped { to, .. } => {
                stats.reloads_ok.fetch_add(1, Ordering::Relaxed);
                stats.set_rules_version(to);
            }
            Reload::Rejected { .. } | Reload::Unreadable { .. } => {
                stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
            }
            Reload::Unchanged => {}
        }
        events(WatchEvent::Reloaded(outcome));
    })
    .map_err(|e| RunError::Setup(format!("cannot watch the rules: {e}")))?;
    Ok(reload_stop)
}

/// Starts the thread of the status line, every `every`; returns its stop flag.
fn start_status(
    every: Duration,
    queue: bool,
    stats: &Arc<Stats>,
    events: &Events,
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let (stats, events, flag) = (stats.clone(), events.clone(), stop.clone());
    let _ = std::thread::Builder::new()
        .name("status".into())
        .spawn(move || {
            let mut next = Instant::now() + every;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100).min(every));
                if Instant::now() >= next {
                    events(WatchEvent::Status(&stats.status_line(queue)));
                    next += every;
                }
            }
        });
    stop
}

/// SIGINT and SIGTERM ask the watch to stop (a second one stops at once,
/// as `run` does); SIGHUP reloads the rules.
fn signals(reload: mpsc::Sender<Wake>, stop: Arc<Stop>, events: &Events) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let events = events.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            // Counted here: `stop` may be requested already (a signal
            // while the rules compiled, through `Stop::on_signals`).
            let mut stops = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    events(WatchEvent::Note("SIGHUP: reloading the rules"));
                    let _ = reload.send(Wake::Force);
                } else if stops > 0 {
                    crate::inflight::abandon(signal);
                } else {
                    stops += 1;
                    stop.request();
                }
            }
        })?;
    Ok(())
}

//! `ctrules run`: the flags resolved into a [`Plan`], the rules loaded, and
//! the batch handed to the runner library; this module only reports.

use crate::{exit, RunArgs};
use ctrules_runner::alerts::AlertsTo;
use ctrules_runner::inflight;
use ctrules_runner::plan::State;
use ctrules_runner::run::{Event, Outcome, RunError};
use ctrules_runner::s3::layout::Filters;
use ctrules_runner::s3::S3Options;
use ctrules_runner::{FileReport, Location, Plan, Status, Summary};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub fn run(args: &RunArgs) -> i32 {
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    if let Err(e) = inflight::remove_on_signals() {
        errln!("error: cannot watch for signals: {e}");
        return exit::USAGE;
    }
    let rules = match crate::rules::load(&args.rules, &args.geoip, &args.disable, args.quiet) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    let quiet = args.quiet;
    let progress = Progress::new(!quiet && std::io::stderr().is_terminal());
    let events = |event: Event<'_>| {
        let tell = |line: String| progress.suspend(|| errln!("{line}"));
        match event {
            Event::Found { inputs, bytes } => progress.found(inputs, bytes),
            Event::FoundAll => progress.found_all(),
            Event::Finished(report) => {
                progress.finished(report);
                match &report.status {
                    Status::Failed(why) => tell(format!("error: {}: {why}", report.input)),
                    Status::Skipped(why) if !quiet => {
                        tell(format!("skipped: {}: {why}", report.input))
                    }
                    _ => {}
                }
                for e in &report.record_errors {
                    tell(format!("error: {}: {e}", report.input));
                }
            }
            Event::StaleRemoved(n) if !quiet => tell(format!(
                "removed {n} temporary files left by an earlier run that was killed"
            )),
            Event::StaleRemoved(_) => {}
        }
    };
    let outcome = ctrules_runner::run(&plan, Arc::new(rules), &events);
    progress.clear();
    let Outcome {
        mut summary,
        stdout_error,
    } = match outcome {
        Ok(outcome) => outcome,
        Err(RunError::Usage(e) | RunError::Setup(e)) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    // The reader of standard output went away (`| head`): what it wanted,
    // it has. The run ends quietly, its summary file still written.
    let reader_left = stdout_error
        .as_ref()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    if reader_left {
        summary.stopped = Some("standard output was closed by its reader".into());
    } else {
        if let Some(e) = &stdout_error {
            errln!("error: cannot write to standard output: {e}");
        }
        err!("{}", summary.render());
    }
    if let Some(path) = &args.summary_json {
        if let Err(e) = write_summary(path, &summary) {
            errln!("error: cannot write summary {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    if reader_left {
        exit::OK
    } else if stdout_error.is_some() {
        exit::USAGE
    } else if summary.is_partial() {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// `--summary-json`: `-` is standard output; a file is replaced atomically;
/// a device or FIFO is written into.
pub fn write_summary(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)? + "\n";
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(json.as_bytes())?;
        return out.flush();
    }
    inflight::write_named_file(path, json.as_bytes())
}

/// The progress line on a terminal: inputs done of those found (and the
/// time left once every input is found), events, bytes and rate.
struct Progress {
    bar: Option<ProgressBar>,
    found_bytes: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    fn new(show: bool) -> Progress {
        let bar = show.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} inputs (listing) {msg}  {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            found_bytes: AtomicU64::new(0),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn found(&self, inputs: u64, bytes: u64) {
        self.found_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(inputs);
        }
    }

    fn found_all(&self) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} inputs {msg}  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        }
    }

    fn finished(&self, report: &FileReport) {
        let events =
            self.events.fetch_add(report.records_in, Ordering::Relaxed) + report.records_in;
        let bytes = self.bytes.fetch_add(report.bytes_in, Ordering::Relaxed) + report.bytes_in;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "· {events} events · {} of {}",
                HumanBytes(bytes),
                HumanBytes(self.found_bytes.load(Ordering::Relaxed))
            ));
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn plan(args: &RunArgs) -> Result<Plan, String> {
    let state = match &args.state {
        None => State::None,
        Some(p) if p.as_os_str() == "output" => State::Output,
        Some(p) => State::File(p.clone()),
    };
    Ok(Plan {
        input: Location::parse(&args.input).map_err(|e| format!("--input {e}"))?,
        output: Location::parse(&args.output).map_err(|e| format!("--output {e}"))?,
        jobs: args
            .jobs
            .map_or_else(Plan::default_jobs, usize::from)
            .max(1),
        compression: args.compression.into(),
        compression_level: args
            .compression_level
            .unwrap_or_else(|| ctrules_core::Codec::from(args.compression).default_level()),
        also_writes: args
            .summary_json
            .iter()
            .filter(|p| p.as_os_str() != "-")
            .chain(args.state.iter().filter(|p| p.as_os_str() != "output"))
            .cloned()
            // An alerts file (or directory) inside the input would be read
            // back: its name is a log file's.
            .chain(
                args.alerts
                    .iter()
                    .filter(|a| *a != "-" && !a.starts_with("s3://"))
                    .map(PathBuf::from),
            )
            .collect(),
        never_replace: args
            .rules
            .iter()
            .cloned()
            .chain(args.geoip.iter().cloned())
            .collect(),
        s3: S3Options {
            endpoint_url: args.s3.read.endpoint_url.clone(),
            region: args.s3.read.s3_region.clone(),
            profile: args.s3.read.profile.clone(),
            sse: args.s3.sse.clone(),
            sse_kms_key_id: args.s3.sse_kms_key_id.clone(),
            concurrency: usize::from(args.s3.concurrency),
        },
        filters: Filters::new(
            &args.s3.read.account,
            &args.s3.read.region,
            args.s3.read.from,
            args.s3.read.to,
        )?,
        state,
        reprocess: args.reprocess,
        alerts: args
            .alerts
            .as_deref()
            .map(AlertsTo::parse)
            .transpose()
            .map_err(|e| format!("--alerts {e}"))?,
        alert_window: args
            .alert_window
            .to_std()
            .unwrap_or(ctrules_runner::alerts::DEFAULT_WINDOW),
        alert_format: match args.alert_format {
            crate::AlertShape::Ctrules => ctrules_runner::alerts::AlertFormat::Ctrules,
            crate::AlertShape::Ocsf => ctrules_runner::alerts::AlertFormat::Ocsf,
        },
        added: args.add_fields,
    })
}

//! `ctrules watch`: the flags of `run` and a few of its own resolved into a
//! [`WatchPlan`], the rules loaded to reload, and the watch handed to the
//! runner library; this module only reports, one line per event.

use crate::{exit, WatchArgs};
use ctrules_runner::reload::{Reload, ReloadingRules, StartError};
use ctrules_runner::watch::{Stop, WatchEvent, WatchOutcome, WatchPlan};
use ctrules_runner::{RunError, Status};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

pub fn watch(args: &WatchArgs) -> i32 {
    let run = &args.run;
    let flags = &args.watch;
    let plan = match crate::run::plan(run) {
        Ok(plan) => plan,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    let stop = match Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => {
            errln!("error: cannot watch for signals: {e}");
            return exit::USAGE;
        }
    };
    let color = std::io::stderr().is_terminal();
    let rules = match ReloadingRules::load(&run.rules, &run.geoip, &run.disable) {
        Ok((rules, loaded)) => {
            for d in &loaded.compilation.diagnostics {
                if !run.quiet {
                    err!("{}", d.render(color));
                }
            }
            Arc::new(rules)
        }
        Err(StartError::Unreadable(e)) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
        Err(StartError::Rejected(loaded)) => {
            for d in &loaded.compilation.diagnostics {
                if d.is_error() || !run.quiet {
                    err!("{}", d.render(color));
                }
            }
            errln!(
                "error: the rules in {} have errors; nothing was processed",
                crate::rules::shown(&run.rules)
            );
            return exit::FINDINGS;
        }
    };
    let secs = Duration::from_secs_f64;
    let plan = WatchPlan {
        settle: secs(flags.settle),
        rescan: secs(flags.rescan.max(0.1)),
        grace: secs(flags.grace),
        status_every: (flags.status_interval > 0.0).then(|| secs(flags.status_interval)),
        metrics: flags.metrics,
        visibility_timeout: flags
            .visibility_timeout
            .map(|s| Duration::from_secs(s.into())),
        receive_wait: Duration::from_secs(flags.receive_wait.into()),
        ..WatchPlan::new(plan)
    };
    let quiet = run.quiet;
    let events = Arc::new(move |event: WatchEvent<'_>| {
        match event {
        WatchEvent::Started {
            input,
            rules_version,
            metrics,
        } => {
            if !quiet {
                errln!("watching {input} with rules {rules_version}");
            }
            if let Some(addr) = metrics {
                errln!("metrics: http://{addr}/metrics");
            }
        }
        WatchEvent::Finished(report) => {
            match &report.status {
                Status::Done if !quiet => errln!(
                    "done: {}: {} events, rules {}",
                    report.input,
                    report.records_in,
                    report.rules_version
                ),
                Status::Failed(why) => errln!("error: {}: {why}", report.input),
                Status::Skipped(why) if !quiet => errln!("skipped: {}: {why}", report.input),
                _ => {}
            }
            for e in &report.record_errors {
                errln!("error: {}: {e}", report.input);
            }
        }
        WatchEvent::Reloaded(outcome) => match outcome {
            Reload::Swapped { from, to, rules } => {
                errln!("rules reloaded: {from} -> {to} ({rules} rules), for the inputs that start from now")
            }
            Reload::Unchanged => errln!("rules reloaded: unchanged"),
            Reload::Rejected {
                kept, diagnostics, ..
            } => {
                for d in diagnostics {
                    if d.is_error() || !quiet {
                        err!("{}", d.render(color));
                    }
                }
                errln!("error: rules not reloaded: the change has errors; still running rules {kept}");
            }
            Reload::Unreadable { kept, message } => {
                errln!("error: rules not reloaded: {message}; still running rules {kept}")
            }
        },
        WatchEvent::Note(line) => errln!("{line}"),
        WatchEvent::Status(line) => errln!("{line}"),
        WatchEvent::Stopping { in_flight, grace } => errln!(
            "stopping: {in_flight} inputs in flight get up to {}s to finish (a second signal stops at once)",
            grace.as_secs_f64()
        ),
        WatchEvent::StaleRemoved(n) if !quiet => {
            errln!("removed {n} temporary files left by an earlier run that was killed")
        }
        WatchEvent::StaleRemoved(_) => {}
    }
    });
    let outcome = ctrules_runner::watch::watch(&plan, rules, events, stop);
    let WatchOutcome {
        summary,
        handed_back,
    } = match outcome {
        Ok(outcome) => outcome,
        Err(RunError::Usage(e) | RunError::Setup(e)) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    if handed_back > 0 {
        let removed = ctrules_runner::inflight::remove_all_in_flight();
        errln!(
            "stopped: {handed_back} inputs did not finish within the grace period and were handed back ({removed} unfinished outputs removed)"
        );
    }
    err!("{}", summary.render());
    if let Some(path) = &run.summary_json {
        if let Err(e) = crate::run::write_summary(path, &summary) {
            errln!("error: cannot write summary {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    // A watch ends when it is asked to: that is success, whatever the
    // inputs did (each failure was reported as it happened).
    exit::OK
}

//! `ctrules run`: the flags resolved into a [`Plan`], the rules loaded, and
//! the batch handed to the runner library; this module only reports.

use crate::{exit, RunArgs};
use ctrules_runner::inflight;
use ctrules_runner::run::{say, Event, Outcome, RunError};
use ctrules_runner::s3::layout::Filters;
use ctrules_runner::s3::S3Options;
use ctrules_runner::{Location, Plan, Status};
use std::sync::Arc;

pub fn run(args: &RunArgs) -> i32 {
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(e) => {
            say(&format!("error: {e}"));
            return exit::USAGE;
        }
    };
    let rules = match crate::rules::load(&args.rules, &args.geoip, args.quiet) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    if let Err(e) = inflight::remove_on_signals() {
        say(&format!("error: cannot watch for signals: {e}"));
        return exit::USAGE;
    }
    let quiet = args.quiet;
    let events = |event: Event<'_>| match event {
        Event::Finished(report) => {
            match &report.status {
                Status::Failed(why) => say(&format!("error: {}: {why}", report.input)),
                Status::Skipped(why) if !quiet => say(&format!("skipped: {}: {why}", report.input)),
                _ => {}
            }
            for e in &report.record_errors {
                say(&format!("error: {}: {e}", report.input));
            }
        }
        Event::StaleRemoved(n) if !quiet => say(&format!(
            "removed {n} temporary files left by an earlier run that was killed"
        )),
        Event::StaleRemoved(_) => {}
    };
    let Outcome {
        summary,
        stdout_error,
    } = match ctrules_runner::run(&plan, Arc::new(rules), None, &events) {
        Ok(outcome) => outcome,
        Err(RunError::Usage(e) | RunError::Setup(e)) => {
            say(&format!("error: {e}"));
            return exit::USAGE;
        }
    };
    if let Some(e) = &stdout_error {
        // The reader went away (`| head`): what it wanted, it has.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return exit::OK;
        }
        say(&format!("error: cannot write to standard output: {e}"));
    }
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_all(&mut err, summary.render().as_bytes());
    drop(err);
    if let Some(path) = &args.summary_json {
        let json = match serde_json::to_string_pretty(&summary) {
            Ok(json) => json + "\n",
            Err(e) => {
                say(&format!(
                    "error: cannot write summary {}: {e}",
                    path.display()
                ));
                return exit::USAGE;
            }
        };
        if let Err(e) = inflight::write_atomically(path, json.as_bytes()) {
            say(&format!(
                "error: cannot write summary {}: {e}",
                path.display()
            ));
            return exit::USAGE;
        }
    }
    if stdout_error.is_some() {
        exit::USAGE
    } else if summary.is_partial() {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

fn plan(args: &RunArgs) -> Result<Plan, String> {
    Ok(Plan {
        input: Location::parse(&args.input).map_err(|e| format!("--input {e}"))?,
        output: Location::parse(&args.output).map_err(|e| format!("--output {e}"))?,
        jobs: args
            .jobs
            .map_or_else(Plan::default_jobs, usize::from)
            .max(1),
        compression_level: args.compression_level,
        also_writes: args.summary_json.iter().cloned().collect(),
        s3: S3Options {
            endpoint_url: args.s3.endpoint_url.clone(),
            region: args.s3.s3_region.clone(),
            profile: args.s3.profile.clone(),
            sse: args.s3.sse.clone(),
            sse_kms_key_id: args.s3.sse_kms_key_id.clone(),
            concurrency: usize::from(args.s3.concurrency),
        },
        filters: Filters {
            accounts: args.s3.account.clone(),
            regions: args.s3.region.clone(),
            from: args.s3.from,
            to: args.s3.to,
        },
        output_is_state: false,
    })
}

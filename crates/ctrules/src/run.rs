//! `ctrules run`: one batch over local files or standard input.
//!
//! Files are processed in parallel, each by one worker from start to end, so
//! memory is bounded by the number of files in flight (`--jobs`), whatever
//! the size of the tree. Each output appears atomically.

use crate::inputs::{discover, Input};
use crate::process::{process, Destination, FileReport, Options, Status};
use crate::summary::Summary;
use crate::{exit, RunArgs};
use ctrules_compiler::RuleSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub fn run(args: &RunArgs) -> i32 {
    let started = Instant::now();
    let rules = match crate::rules::load(&args.rules, &args.geoip, args.quiet) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    let (inputs, passed_over) = match discover(&args.input) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: input {}: {e}", args.input);
            return exit::USAGE;
        }
    };
    let destination = if args.output == "-" {
        Destination::Memory
    } else {
        let dir = PathBuf::from(&args.output);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("error: output {}: {e}", dir.display());
            return exit::USAGE;
        }
        Destination::Dir(dir)
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start workers: {e}");
            return exit::USAGE;
        }
    };
    let opts = Options {
        rules: &rules,
        destination: &destination,
        compression_level: args.compression_level,
    };
    let mut summary = Summary::new(&rules);
    for file in passed_over {
        summary.passed_over(file);
    }
    let collisions = output_collisions(&inputs);

    let mut stdout = std::io::stdout().lock();
    // Outputs for standard output must come in input order: process a window
    // of files in parallel, then write the window in order.
    let window = if matches!(destination, Destination::Memory) {
        jobs * 2
    } else {
        inputs.len().max(1)
    };
    for chunk in inputs.chunks(window) {
        let reports = largest_first(&pool, chunk, |input| {
            match collisions.iter().find(|(dup, _)| std::ptr::eq(*dup, input)) {
                Some((_, first)) => collision_report(input, first, &rules),
                None => {
                    let report = process(input, &opts);
                    report_problems(&report, args.quiet);
                    report
                }
            }
        });
        for report in reports {
            if !report.memory.is_empty() {
                if let Err(e) = stdout.write_all(&report.memory) {
                    eprintln!("error: cannot write to standard output: {e}");
                    return exit::USAGE;
                }
            }
            summary.add(&report);
        }
    }
    let _ = stdout.flush();
    summary.finish(started.elapsed());
    eprint!("{}", summary.render());
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("error: cannot write summary {}: {e}", path.display());
            return exit::USAGE;
        }
    }
    if summary.is_partial() {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// Prints a file's failure or rejected records as soon as they are known.
fn report_problems(report: &FileReport, quiet: bool) {
    match &report.status {
        Status::Failed(why) => eprintln!("error: {}: {why}", report.input),
        Status::Skipped(why) if !quiet => eprintln!("skipped: {}: {why}", report.input),
        _ => {}
    }
    for e in &report.record_errors {
        eprintln!("error: {}: {e}", report.input);
    }
}

/// Inputs whose output path another input already takes (`a.json` and `a.json.gz`).
fn output_collisions(inputs: &[Input]) -> Vec<(&Input, String)> {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut dups = Vec::new();
    for input in inputs {
        let out = input.output_relative();
        if let Some(first) = seen.get(&out) {
            dups.push((input, first.clone()));
        } else {
            seen.insert(out, input.display());
        }
    }
    dups
}

fn collision_report(input: &Input, first: &str, rules: &RuleSet) -> FileReport {
    let mut report = FileReport::new(input.display(), rules.len());
    report.status = Status::Failed(format!(
        "its output {} would overwrite the output of {first}",
        input.output_relative()
    ));
    report_problems(&report, false);
    report
}

/// Runs `work` on every input on the pool's threads, biggest file first,
/// and gives the results back in input order. Taking the biggest first keeps
/// one large file from starting last and leaving the other cores idle.
fn largest_first<T: Send>(
    pool: &rayon::ThreadPool,
    inputs: &[Input],
    work: impl Fn(&Input) -> T + Sync,
) -> Vec<T> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    // One stat per file: sort_by_key would ask for each size many times.
    order.sort_by_cached_key(|&i| std::cmp::Reverse(inputs[i].size()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<T>>> =
        inputs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    pool.scope(|scope| {
        for _ in 0..pool.current_num_threads().min(inputs.len()) {
            scope.spawn(|_| loop {
                let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = order.get(taken) else { break };
                let result = work(&inputs[i]);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every input is taken by a worker")
        })
        .collect()
}

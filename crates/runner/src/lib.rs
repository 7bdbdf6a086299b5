//! The ctrules job pipeline, for `run` (and, later, `watch`).
//!
//! A run takes inputs from a **source**, and for each input, on a worker:
//!
//! 1. opens it ([`source`]: a local tree, one file, a stream, standard input);
//! 2. reads its records and evaluates each against the compiled rules
//!    ([`job`], over `ctrules_core::reader` and `ctrules_compiler::RuleSet`);
//! 3. writes the enriched records into a **sink** ([`sink`]: a temporary file
//!    beside the target, or a spill buffer for standard output);
//! 4. commits the output (rename into place, or copy to standard output in
//!    input order), only once the whole input was read.
//!
//! [`report`] gathers what happened to each input into the run summary, with
//! failures typed by [`Stage`](report::Stage). [`plan`] is what the command
//! line resolves its flags into; [`run`] drives the whole batch. [`state`]
//! is the checkpoint store of `--state`: which inputs are done, so that a
//! rerun skips them.
//!
//! Guarantees (docs/cli.md, "What a run never does"): an input is never
//! replaced, the output tree is never read back as input, an output is
//! complete or absent, and temporary files do not outlive the run that made
//! them (see [`inflight`]).

pub mod alerts;
pub mod checkpoint;
pub mod inflight;
pub mod job;
pub mod objects;
pub mod plan;
pub mod query;
pub mod reload;
pub mod report;
pub mod rules;
pub mod run;
pub mod s3;
pub mod sink;
pub mod source;
pub mod sqs;
pub mod state;
pub mod watch;

pub use plan::{Location, Plan};
pub use report::{FileReport, JobError, Stage, Status, Summary};
pub use run::{run, Event, RunError};

//! `ctrules`: enrich and screen AWS CloudTrail logs with your own rules.
//!
//! - `ctrules check [PATH...]` lints rules files (see [`check`]).
//! - `ctrules run --rules DIR --input SRC --output DST` enriches a batch (see [`run`]).
//! - `ctrules test [PATH...]` runs the tests beside the rules (see [`test`]).
//! - `ctrules fmt [--check] [PATH...]` rewrites rules files in the canonical layout (see [`fmt`]).
//!
//! Exit codes are documented in docs/cli.md and defined in [`exit`].

/// `println!` and friends, without the panic: a reader that went away
/// (`| head`) or a closed stream must never crash a command. What cannot be
/// written is dropped; the exit code still says how the command went.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod check;
mod exit;
mod fmt;
mod query;
mod rules;
mod run;
mod test;
mod watch;

use clap::{Parser, Subcommand, ValueEnum};

/// Records are parsed into many small allocations and freed at once;
/// mimalloc's thread-local free lists make that about a tenth cheaper
/// than the system allocator (docs/benchmark.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns off transparent huge pages for the process: mimalloc asks for
/// them, each first touch of one zeroes 2 MiB, and ctrules touches memory
/// thinly (the parser's queues, a thousand regexes). Checking 1,000 rules
/// took up to three times as long with them (docs/benchmark.md). What
/// mimalloc's `allow_thp` option does, which is read before `main`.
fn without_huge_pages() {
    // SAFETY: prctl with integer arguments only; a failure (an old kernel)
    // leaves huge pages on, which is only slower.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
use std::path::PathBuf;
use std::process::ExitCode;

/// Notes, before Rust's runtime starts, whether standard output is closed
/// (`>&-`): the runtime reopens a closed one on /dev/null, after which a
/// closed output and `>/dev/null` look the same.
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = {
    extern "C" fn note() {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } == -1 {
            ctrules_runner::run::STDOUT_CLOSED_AT_START
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    note
};

#[derive(Parser)]
#[command(
    name = "ctrules",
    version,
    about = "Enrich and screen AWS CloudTrail logs with your own rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rules files; exit 0 only when there is no error.
    Check(CheckArgs),
    /// Enrich a batch of CloudTrail log files.
    Run(Box<RunArgs>),
    /// Enrich continuously: a watched directory or an SQS queue of S3
    /// notifications, with rules that reload when they change.
    Watch(Box<WatchArgs>),
    /// Find the records a condition matches: as records, columns or counts.
    Query(Box<QueryArgs>),
    /// Run the tests written beside the rules (`*.test.json`).
    Test(TestArgs),
    /// Rewrite rules files in the canonical layout; `--check` only reports.
    Fmt(FmtArgs),
}

#[derive(clap::Args)]
pub struct FmtArgs {
    /// Rules files or directories (searched recursively for *.rules); `-`
    /// formats standard input to standard output.
    #[arg(default_value = "rules.d")]
    pub paths: Vec<PathBuf>,
    /// Change nothing: show a diff of each file that is not formatted, and
    /// exit 1 if there is any.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args)]
pub struct TestArgs {
    /// Rules directories or files; test files (`*.test.json`) are found under them.
    #[arg(default_value = "rules.d")]
    pub paths: Vec<PathBuf>,
    /// A MaxMind database for tests that give no GeoIP answers (repeatable).
    #[arg(long, value_name = "FILE")]
    pub geoip: Vec<PathBuf>,
    /// Fail when a rule lacks a test it matches or a test it does not match.
    #[arg(long)]
    pub deny_untested: bool,
    /// Print only failures and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Rules files or directories (searched recursively for *.rules).
    #[arg(default_value = "rules.d")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (exit 1 when there is any).
    #[arg(long)]
    pub deny_warnings: bool,
    /// A MaxMind database the rules will run with (repeatable); without
    /// one, rules that use `geoip(...)` get a warning.
    #[arg(long, value_name = "FILE")]
    pub geoip: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rendered reports with source snippets.
    Human,
    /// One JSON document (docs/cli.md describes it).
    Json,
    /// GitHub Actions annotations (`::error file=...`).
    Github,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// A condition in the rule language (`eventName like "Create*"`);
    /// without one, every record.
    #[arg(value_name = "WHERE")]
    pub condition: Option<String>,
    /// A log file, a directory walked recursively, `-` for standard input,
    /// or `s3://bucket/prefix`.
    #[arg(long)]
    pub input: String,
    /// Rules whose lists, macros, tables, schedules and calendars the
    /// query may use (their rules are not run); repeatable.
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// A MaxMind database for `geoip(...)` (repeatable).
    #[arg(long, value_name = "FILE")]
    pub geoip: Vec<PathBuf>,
    /// Terms to show as columns, comma-separated
    /// (`eventTime,actor.name,geoip(sourceIPAddress).country_code`).
    #[arg(long, value_name = "TERMS")]
    pub select: Option<String>,
    /// Count the matches per group of these terms, most first.
    #[arg(long, value_name = "TERMS")]
    pub count_by: Option<String>,
    /// With --count-by: only the N largest groups.
    #[arg(long, value_name = "N", requires = "count_by")]
    pub top: Option<usize>,
    /// Output: a table (the default on a terminal), CSV, or NDJSON (the
    /// default otherwise).
    #[arg(long, value_enum)]
    pub format: Option<query::QueryFormat>,
    /// Sort the matches by a term; `-TERM` for the largest first. With
    /// --limit only that many are kept in memory.
    #[arg(long, value_name = "TERM", allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// At most N matches (without --sort: stop reading once there are N).
    #[arg(long, value_name = "N", conflicts_with = "count_by")]
    pub limit: Option<u64>,
    /// Only events of the last DURATION (`30m`, `24h`, `7d`): also lists
    /// only those days' S3 prefixes.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<chrono::TimeDelta>,
    /// Files read at once (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Print only the results (no warnings, no progress, no closing line).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub s3: S3ReadArgs,
}

/// `--compression`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

impl From<CompressionArg> for ctrules_core::Codec {
    fn from(c: CompressionArg) -> ctrules_core::Codec {
        match c {
            CompressionArg::Gzip => ctrules_core::Codec::Gzip,
            CompressionArg::Zstd => ctrules_core::Codec::Zstd,
        }
    }
}

/// `--alert-format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertShape {
    Ctrules,
    Ocsf,
}

fn parse_added(text: &str) -> Result<ctrules_runner::plan::Added, String> {
    let mut added = ctrules_runner::plan::Added {
        rules: false,
        tags: false,
        version: false,
    };
    if text == "none" {
        return Ok(added);
    }
    for part in text.split(',') {
        match part.trim() {
            "rules" => added.rules = true,
            "tags" => added.tags = true,
            "version" => added.version = true,
            other => {
                return Err(format!(
                    "{other:?}: the fields ctrules adds are `rules`, `tags` and `version` (comma-separated), or `none`"
                ))
            }
        }
    }
    Ok(added)
}

fn parse_duration(text: &str) -> Result<chrono::TimeDelta, String> {
    let bad = || format!("{text:?} is not a duration such as 30m, 24h or 7d");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(seconds)
        .and_then(chrono::TimeDelta::try_seconds)
        .filter(|d| *d > chrono::TimeDelta::zero() && d.num_days() <= 3650)
        .ok_or_else(bad)
}

#[derive(clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub watch: WatchFlags,
}

/// What a long run needs besides a batch's flags (docs/deployment.md).
#[derive(clap::Args)]
pub struct WatchFlags {
    /// A local file is read once it has not changed for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = seconds)]
    pub settle: f64,
    /// List the whole input directory again this often, besides the file
    /// events (a safety net for file systems that miss events).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = seconds)]
    pub rescan: f64,
    /// After SIGINT or SIGTERM, how long inputs in flight get to finish
    /// before they are handed back.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = seconds)]
    pub grace: f64,
    /// Print a status line this often (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds)]
    pub status_interval: f64,
    /// Serve Prometheus metrics at this address (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// SQS: keep messages in flight invisible for this long, extended by a
    /// heartbeat while they are worked on (default: the queue's own).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=43200))]
    pub visibility_timeout: Option<u32>,
    /// SQS: how long each receive waits for messages (long polling), 0 to 20.
    #[arg(long, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub receive_wait: u32,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 86400"
        )),
    }
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Directory (or file) of rules; repeatable, to run several sets
    /// together (the enrichment scenarios and a detection pack).
    #[arg(long, default_value = "rules.d")]
    pub rules: Vec<PathBuf>,
    /// Leave out the rule with this id (repeatable): turns off a shipped
    /// rule without editing its file.
    #[arg(long, value_name = "ID")]
    pub disable: Vec<String>,
    /// A log file, a directory walked recursively, `-` for standard input,
    /// or `s3://bucket/prefix`; for `watch`, a directory or an SQS queue of
    /// S3 notifications (`sqs://NAME` or the queue's URL).
    #[arg(long)]
    pub input: String,
    /// A directory to write to (same relative paths, gzipped), `-` for
    /// plain NDJSON on standard output (not for a queue), or
    /// `s3://bucket/prefix`.
    #[arg(long)]
    pub output: String,
    /// A MaxMind database (Country, City, ASN, Anonymous-IP or any other
    /// .mmdb) for `geoip(...)` in rules; repeatable, earlier files win.
    #[arg(long, value_name = "FILE")]
    pub geoip: Vec<PathBuf>,
    /// Files processed at once (default: one per core; at most 256, since
    /// each job is a thread with its own buffers and more only add memory).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=256))]
    pub jobs: Option<u16>,
    /// How output files are compressed: gzip (`.gz`, what CloudTrail
    /// writes) or zstd (`.zst`: smaller and faster, for readers that take
    /// it, such as Athena and Spark). Standard output stays plain NDJSON.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Compression level, 0 to 9: gzip 0 (none) to 9 (smallest), default
    /// 6; zstd 1 (fastest) to 9, default 3 (0 is zstd's default, 3).
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: Option<u32>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Print only errors and the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Remember what is done, and skip it next time: a state file (created
    /// when missing), or `output` to read it from the metadata of S3 output
    /// objects (docs/operations.md).
    #[arg(long, value_name = "PATH|output")]
    pub state: Option<PathBuf>,
    /// Process every input again, whatever the state says (and record it).
    #[arg(long, requires = "state")]
    pub reprocess: bool,
    /// Write an alert for each match of a rule with a severity, grouped by
    /// its dedup key: to a file, a directory (a new file per run), `-` or
    /// `s3://bucket/prefix` (docs/detections.md describes the format).
    #[arg(long, value_name = "DST")]
    pub alerts: Option<String>,
    /// Matches of one rule with one dedup key within this time of the
    /// first are one alert, with a count (`30m`, `1h`, `1d`).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub alert_window: chrono::TimeDelta,
    /// The shape of each alert: ctrules's own fields, or an OCSF 1.1
    /// Detection Finding (class 2004) for a security lake.
    #[arg(long, value_enum, default_value_t = AlertShape::Ctrules)]
    pub alert_format: AlertShape,
    /// Which fields ctrules adds by itself to each record: `rules`
    /// (`xrules`, the ids of the rules that matched), `tags` (`xtags`),
    /// `version` (`xrulesversion`, the rules version that evaluated it), as
    /// a comma-separated list, or `none`. Fields rules `set` are always written.
    #[arg(long, value_name = "FIELDS", default_value = "rules,tags", value_parser = parse_added)]
    pub add_fields: ctrules_runner::plan::Added,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Reading and writing S3 (docs/operations.md).
#[derive(clap::Args)]
pub struct S3Args {
    #[command(flatten)]
    pub read: S3ReadArgs,
    /// Server-side encryption of output objects: AES256 or aws:kms.
    #[arg(long, value_name = "ALGORITHM")]
    pub sse: Option<String>,
    /// The KMS key for `--sse aws:kms` (default: the bucket's AWS-managed key).
    #[arg(long, value_name = "KEY")]
    pub sse_kms_key_id: Option<String>,
    /// S3 objects in flight at once (downloading, evaluating, uploading), 1 to
    /// 256: each costs about 10 MB of buffers while in flight.
    #[arg(long, default_value_t = ctrules_runner::s3::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// Which part of a trail to read, and how to reach S3.
#[derive(clap::Args)]
pub struct S3ReadArgs {
    /// Only these accounts of an S3 trail (12 digits; repeatable or comma-separated).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub account: Vec<String>,
    /// Only these regions of an S3 trail (repeatable or comma-separated).
    #[arg(long, value_name = "REGION", value_delimiter = ',')]
    pub region: Vec<String>,
    /// Only days from this one on (YYYY-MM-DD, the day in the object's key).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<chrono::NaiveDate>,
    /// Only days up to this one, included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<chrono::NaiveDate>,
    /// An S3-compatible endpoint (path-style addressing), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The AWS region of the buckets (default: from the environment or profile).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// The AWS profile to take credentials from.
    #[arg(long)]
    pub profile: Option<String>,
}

fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    // Exactly YYYY-MM-DD: chrono alone would also take `2024-8-1`.
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(format!("{text:?} is not a date YYYY-MM-DD"));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("{text:?} is not a date YYYY-MM-DD: {e}"))
}

fn main() -> ExitCode {
    without_huge_pages();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::check(&args),
        Command::Run(args) => run::run(&args),
        Command::Watch(args) => watch::watch(&args),
        Command::Query(args) => query::query(&args),
        Command::Test(args) => test::test(&args),
        Command::Fmt(args) => fmt::fmt(&args),
    };
    ExitCode::from(code as u8)
}

//! `ctrules query [WHERE] --input SRC`: the records of a trail that a
//! condition in the rule language matches, as records, as chosen columns,
//! or counted by group. Compiling and reading are the runner's
//! (`ctrules_runner::query`); this module resolves the flags and shapes
//! what comes out: a table on a terminal, NDJSON when piped, or what
//! `--format` asks for.

use crate::{exit, QueryArgs};
use ctrules_runner::plan::Location;
use ctrules_runner::query::{compile_query, scan, Hit, QueryError, ScanPlan, TermText};
use ctrules_runner::s3::layout::Filters;
use ctrules_runner::s3::S3Options;
use ctrules_runner::RunError;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;

/// How rows come out.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    /// Aligned columns (a bar chart beside counts).
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line (whole records when nothing is selected).
    Ndjson,
}

/// The columns a table shows when nothing is selected.
const DEFAULT_COLUMNS: [&str; 5] = [
    "eventTime",
    "actor.name",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
];

pub fn query(args: &QueryArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            errln!("error: {message}");
            exit::USAGE
        }
    }
}

fn run(args: &QueryArgs) -> Result<i32, String> {
    if ctrules_runner::run::STDOUT_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) {
        return Err("standard output is closed; nothing was read".into());
    }
    let terminal = std::io::stdout().is_terminal();
    let format = args.format.unwrap_or(if terminal {
        QueryFormat::Table
    } else {
        QueryFormat::Ndjson
    });
    let mut select = split_terms(args.select.as_deref().unwrap_or(""))?;
    let count_by = split_terms(args.count_by.as_deref().unwrap_or(""))?;
    if !count_by.is_empty() && (!select.is_empty() || args.sort.is_some()) {
        return Err("--count-by counts groups: it takes no --select or --sort".into());
    }
    if select.is_empty() && count_by.is_empty() && format != QueryFormat::Ndjson {
        select = DEFAULT_COLUMNS.iter().map(|s| s.to_string()).collect();
    }
    let (sort, descending) = match args.sort.as_deref() {
        Some(s) => match s.strip_prefix('-') {
            Some(rest) => (Some(rest.trim().to_string()), true),
            None => (Some(s.trim().to_string()), false),
        },
        None => (None, false),
    };
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let cutoff = args.since.map(|d| now - d);

    // Every term computed per match: the selection or the groups, then the
    // sort key and the time `--since` compares; each named by its flag.
    let (listed, flag) = if count_by.is_empty() {
        (&select, "--select")
    } else {
        (&count_by, "--count-by")
    };
    let mut terms: Vec<TermText> = listed
        .iter()
        .enumerate()
        .map(|(i, text)| TermText {
            place: format!("{flag} {}", i + 1),
            text: text.clone(),
        })
        .collect();
    let sort_at = sort.as_ref().map(|s| {
        terms.push(TermText {
            place: "--sort".into(),
            text: s.clone(),
        });
        terms.len() - 1
    });
    let time_at = cutoff.map(|_| {
        terms.push(TermText {
            place: "--since".into(),
            text: "eventTime".into(),
        });
        terms.len() - 1
    });
    let query = match compile_query(&args.rules, &args.geoip, args.condition.as_deref(), &terms) {
        Ok(query) => query,
        Err(QueryError::Unreadable(e)) => return Err(e),
        Err(QueryError::Invalid(diagnostics)) => {
            let color = std::io::stderr().is_terminal();
            for d in &diagnostics {
                err!("{}", d.render(color));
            }
            errln!("error: the query (or the rules it uses) has errors; nothing was read");
            return Ok(exit::USAGE);
        }
    };
    if !args.quiet {
        let color = std::io::stderr().is_terminal();
        for d in &query.warnings {
            err!("{}", d.render(color));
        }
    }

    let input = Location::parse(&args.input).map_err(|e| format!("--input {e}"))?;
    if args.limit == Some(0) {
        return Ok(exit::OK);
    }
    let mut from = args.s3.from;
    if let Some(cutoff) = cutoff {
        // A question about the last day lists the last day's prefixes only.
        from = Some(from.map_or(cutoff.date_naive(), |f| f.max(cutoff.date_naive())));
    }
    let plan = ScanPlan {
        input,
        filters: Filters::new(&args.s3.account, &args.s3.region, from, args.s3.to)?,
        s3: S3Options {
            endpoint_url: args.s3.endpoint_url.clone(),
            region: args.s3.s3_region.clone(),
            profile: args.s3.profile.clone(),
            ..S3Options::default()
        },
        jobs: args
            .jobs
            .map_or_else(ctrules_runner::Plan::default_jobs, usize::from),
        cap_per_input: args
            .limit
            .filter(|_| sort.is_none() && count_by.is_empty() && cutoff.is_none()),
    };
    // A time, not text: `2024-08-01T12:00:00+05:00` is compared as the
    // instant it names, and what is not a time is not within the period.
    let keep = |hit: &Hit| match (time_at, cutoff) {
        (Some(i), Some(cutoff)) => hit.values[i]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t >= cutoff),
        _ => true,
    };

    let progress = (std::io::stderr().is_terminal() && !args.quiet).then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} files  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut matched = 0u64;
    let mut write_error: Option<std::io::Error> = None;
    let shown: Vec<String> = if count_by.is_empty() {
        select.clone()
    } else {
        count_by.clone()
    };

    let mut groups: HashMap<Vec<String>, (Vec<Value>, u64)> = HashMap::new();
    let mut sorted = Sorted::new(args.limit, descending);
    let mut rows: Vec<Vec<Value>> = Vec::new(); // a table waits for its widths
    let streaming = count_by.is_empty() && sort.is_none() && format != QueryFormat::Table;
    if streaming && format == QueryFormat::Csv {
        write_error = write_csv_row(&mut out, &shown).err();
    }
    let scanned = scan(
        &plan,
        &query,
        |_, hits| {
            if let Some(bar) = &progress {
                bar.inc(1);
            }
            for hit in hits.into_iter().filter(&keep) {
                if args.limit.is_some_and(|l| matched >= l) && sort.is_none() && count_by.is_empty()
                {
                    return ControlFlow::Break(());
                }
                matched += 1;
                if !count_by.is_empty() {
                    // By the JSON text: `1` and `"1"`, `null` and `""`
                    // are different groups.
                    let key: Vec<String> = hit.values[..count_by.len()]
                        .iter()
                        .map(Value::to_string)
                        .collect();
                    let entry = groups
                        .entry(key)
                        .or_insert_with(|| (hit.values[..count_by.len()].to_vec(), 0));
                    entry.1 += 1;
                } else if let Some(at) = sort_at {
                    sorted.push(hit.values[at].clone(), hit, select.is_empty());
                } else if streaming {
                    if let Err(e) = emit(&mut out, format, &shown, &hit, select.is_empty()) {
                        write_error = Some(e);
                        return ControlFlow::Break(());
                    }
                } else {
                    rows.push(hit.values[..shown.len()].to_vec());
                }
            }
            if args.limit.is_some_and(|l| matched >= l) && sort.is_none() && count_by.is_empty() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
        |files, _| {
            if let Some(bar) = &progress {
                bar.set_length(files);
            }
        },
    );
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let scanned = match scanned {
        Ok(s) => s,
        Err(RunError::Usage(e) | RunError::Setup(e)) => return Err(e),
    };

    // What waited for the end: groups, a sort, a table.
    let result = (|| -> std::io::Result<()> {
        if let Some(e) = write_error.take() {
            return Err(e);
        }
        if !count_by.is_empty() {
            let mut counted: Vec<(Vec<Value>, u64)> = groups.into_values().collect();
            counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| compare_rows(&a.0, &b.0)));
            if let Some(top) = args.top {
                counted.truncate(top);
            }
            return write_counts(&mut out, format, &shown, &counted);
        }
        if sort.is_some() {
            let hits = sorted.into_sorted();
            if format == QueryFormat::Table {
                let rows: Vec<Vec<Value>> = hits
                    .iter()
                    .map(|h| h.values[..shown.len()].to_vec())
                    .collect();
                return write_table(&mut out, &shown, &rows);
            }
            if format == QueryFormat::Csv {
                write_csv_row(&mut out, &shown)?;
            }
            for hit in &hits {
                emit(&mut out, format, &shown, hit, select.is_empty())?;
            }
            return Ok(());
        }
        if format == QueryFormat::Table {
            return write_table(&mut out, &shown, &rows);
        }
        Ok(())
    })()
    .and_then(|()| out.flush());
    drop(out);
    for (name, e) in &scanned.failed {
        errln!("error: {name}: {e}");
    }
    for (name, e) in &scanned.record_errors {
        errln!("error: {name}: {e}");
    }
    if scanned.rejected > scanned.record_errors.len() as u64 {
        errln!(
            "error: and {} more records that could not be read",
            scanned.rejected - scanned.record_errors.len() as u64
        );
    }
    if !args.quiet {
        let failed = match scanned.failed.len() {
            0 => String::new(),
            n => format!(" ({n} could not be read)"),
        };
        errln!(
            "scanned {} files{failed}, {} events: {} matched ({:.1} s)",
            scanned.files,
            scanned.events,
            matched,
            started.elapsed().as_secs_f64()
        );
    }
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(e) => Err(format!("cannot write to standard output: {e}")),
        Ok(()) if !scanned.failed.is_empty() || scanned.rejected > 0 => Ok(exit::PARTIAL),
        Ok(()) => Ok(exit::OK),
    }
}

/// Splits a comma-separated list of terms, leaving commas inside strings,
/// parentheses and brackets alone (`concat("a,b", x), eventName`).
fn split_terms(text: &str) -> Result<Vec<String>, String> {
    let mut terms = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' | '[' if !in_string => depth += 1,
            ')' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    let terms: Vec<String> = terms.into_iter().map(|t| t.trim().to_string()).collect();
    if terms.len() == 1 && terms[0].is_empty() {
        return Ok(Vec::new());
    }
    if terms.iter().any(String::is_empty) {
        return Err(format!("{text:?}: an empty term in the list"));
    }
    Ok(terms)
}

/// A value as a cell: strings as they are, nothing as empty, the rest as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Values in order: strings by text, numbers by value, nothing last.
/// Values in order: numbers (by value; whole numbers exactly), then
/// strings (by text), then booleans, then arrays and objects (by their
/// JSON text), and nothing last. One total order, whatever the mix.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) | Value::Object(_) => 3,
            Value::Null => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x.cmp(&y),
                (_, _, Some(x), Some(y)) => x.cmp(&y),
                _ => x
                    .as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&y.as_f64().unwrap_or(0.0)),
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn compare_rows(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The matches in sort order, keeping only the first `limit` in memory.
struct Sorted {
    limit: Option<u64>,
    descending: bool,
    heap: BinaryHeap<Ranked>,
    seq: u64,
}

/// A hit and its sort key; the heap's top is the one to drop first.
struct Ranked {
    key: Value,
    seq: u64,
    descending: bool,
    hit: Hit,
}

impl Ranked {
    /// Order of output: by key (reversed when descending, but records
    /// without one last either way), then as read.
    fn output_order(&self, other: &Ranked) -> Ordering {
        let by_key = match (&self.key, &other.key) {
            (Value::Null, _) | (_, Value::Null) => compare_values(&self.key, &other.key),
            _ if self.descending => compare_values(&self.key, &other.key).reverse(),
            _ => compare_values(&self.key, &other.key),
        };
        by_key.then(self.seq.cmp(&other.seq))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.output_order(other).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    // A max-heap of output order: the top is the last to come out.
    fn cmp(&self, other: &Ranked) -> Ordering {
        self.output_order(other)
    }
}

impl Sorted {
    fn new(limit: Option<u64>, descending: bool) -> Sorted {
        Sorted {
            limit,
            descending,
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    fn push(&mut self, key: Value, mut hit: Hit, keep_raw: bool) {
        if !keep_raw {
            hit.raw = Vec::new(); // only the columns are shown
        }
        self.seq += 1;
        self.heap.push(Ranked {
            key,
            seq: self.seq,
            descending: self.descending,
            hit,
        });
        if self.limit.is_some_and(|l| self.heap.len() as u64 > l) {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.hit)
            .collect()
    }
}

/// One match, streamed: the record itself, or its columns.
fn emit(
    out: &mut impl Write,
    format: QueryFormat,
    columns: &[String],
    hit: &Hit,
    whole_record: bool,
) -> std::io::Result<()> {
    match format {
        QueryFormat::Ndjson if whole_record => {
            let mut line = Vec::with_capacity(hit.raw.len() + 1);
            ctrules_core::json::compact_into(&hit.raw, &mut line);
            line.push(b'\n');
            out.write_all(&line)
        }
        QueryFormat::Ndjson => {
            let object: serde_json::Map<String, Value> = columns
                .iter()
                .cloned()
                .zip(hit.values.iter().cloned())
                .collect();
            writeln!(out, "{}", Value::Object(object))
        }
        QueryFormat::Csv => write_csv_row(
            out,
            &hit.values[..columns.len()]
                .iter()
                .map(cell)
                .collect::<Vec<_>>(),
        ),
        QueryFormat::Table => Ok(()), // tables are written whole
    }
}

fn write_csv_row(out: &mut impl Write, cells: &[String]) -> std::io::Result<()> {
    let line: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    writeln!(out, "{}", line.join(","))
}

/// Cells of a table on one line: no control characters.
fn table_cell(value: &Value) -> String {
    cell(value)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn write_table(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Value>],
) -> std::io::Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(table_cell).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[String]| -> std::io::Result<()> {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            // By hand: `{:<w$}` refuses widths past 65,535.
            .map(|(c, w)| {
                let pad = w.saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(out, columns)?;
    line(
        out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    )?;
    for row in &cells {
        line(out, row)?;
    }
    Ok(())
}

/// The widest bar beside a count, in characters.
const BAR_WIDTH: u64 = 40;

fn write_counts(
    out: &mut impl Write,
    format: QueryFormat,
    columns: &[String],
    counted: &[(Vec<Value>, u64)],
) -> std::io::Result<()> {
    match format {
        QueryFormat::Csv => {
            let mut header = columns.to_vec();
            header.push("count".into());
            write_csv_row(out, &header)?;
            for (values, n) in counted {
                let mut row: Vec<String> = values.iter().map(cell).collect();
                row.push(n.to_string());
                write_csv_row(out, &row)?;
            }
            Ok(())
        }
        QueryFormat::Ndjson => {
            for (values, n) in counted {
                let mut object: serde_json::Map<String, Value> = columns
                    .iter()
                    .cloned()
                    .zip(values.iter().cloned())
                    .collect();
                object.insert("count".into(), Value::from(*n));
                writeln!(out, "{}", Value::Object(object))?;
            }
            Ok(())
        }
        QueryFormat::Table => {
            let most = counted.first().map_or(1, |c| c.1.max(1));
            let mut header = columns.to_vec();
            header.push("count".into());
            let rows: Vec<Vec<Value>> = counted
                .iter()
                .map(|(values, n)| {
                    let bar = "█".repeat(((n * BAR_WIDTH).div_ceil(most)) as usize);
                    let mut row = values.clone();
                    row.push(Value::String(format!("{n:>8}  {bar}")));
                    row
                })
                .collect();
            write_table(out, &header, &rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_lists_split_only_at_the_top_level() {
        assert_eq!(
            split_terms(r#"eventTime, concat("a,b", x),users[actor.user].team"#).unwrap(),
            ["eventTime", r#"concat("a,b", x)"#, "users[actor.user].team"]
        );
        assert!(split_terms("").unwrap().is_empty());
        assert!(split_terms("a,,b").is_err());
    }

    #[test]
    fn a_bounded_sort_keeps_the_first_in_order() {
        let hit = |n: i64| Hit {
            raw: Vec::new(),
            values: vec![Value::from(n)],
        };
        let mut sorted = Sorted::new(Some(3), false);
        for n in [5, 1, 4, 2, 3, 0] {
            sorted.push(Value::from(n), hit(n), false);
        }
        let got: Vec<i64> = sorted
            .into_sorted()
            .iter()
            .map(|h| h.values[0].as_i64().unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2]);
        let mut sorted = Sorted::new(Some(2), true);
        for n in [5, 1, 4] {
            sorted.push(Value::from(n), hit(n), false);
        }
        let got: Vec<i64> = sorted
            .into_sorted()
            .iter()
            .map(|h| h.values[0].as_i64().unwrap())
            .collect();
        assert_eq!(got, [5, 4]);
    }
}

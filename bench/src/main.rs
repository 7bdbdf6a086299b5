//! Baselines for the benchmark (bench/run.py, docs/benchmark.md).
//!
//! ```text
//! ctrules-bench limit --input DIR --output DIR [--jobs N] [--compression-level L]
//! ctrules-bench naive --input DIR --output DIR [--jobs N] [--compression-level L]
//! ```
//!
//! Both read every `.json` / `.json.gz` file under `--input` (sorted walk,
//! like `ctrules run`) and write one gzipped output per input at the same
//! relative path under `--output`, with the same file handling as
//! `ctrules run` (temporary file, fsync, rename, fsync of the directory;
//! each directory created is synced into its parent), one file per worker on a
//! rayon pool of `--jobs` threads, and the same compression code: flate2
//! with the zlib-rs backend, `Compression::new(level)`, a 256 KiB buffered
//! reader before and after the gzip decoder, a 256 KiB `BufWriter` under the
//! encoder, and writes into the encoder in chunks of at least 128 KiB.
//!
//! - `limit`: gunzip and gzip the same bytes, nothing else. No JSON is
//!   looked at: this is what any enrichment costs at the very least.
//! - `naive`: gunzip the whole file into memory, parse it into one
//!   `serde_json::Value`, serialize each element of `Records` as one line,
//!   gzip. The straightforward program, written with care (whole-buffer
//!   parse, buffered writes), not a straw man.
//!
//! A JSON report goes to standard output.

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use rayon::prelude::*;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The same sizes as ctrules (core/src/reader.rs BUFFER, writer.rs CHUNK,
/// ctrules/src/process.rs BufWriter).
const READ_BUFFER: usize = 256 * 1024;
const CHUNK: usize = 128 * 1024;
const WRITE_BUFFER: usize = 256 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Limit,
    Naive,
}

struct Args {
    mode: Mode,
    input: PathBuf,
    output: PathBuf,
    jobs: usize,
    level: u32,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ctrules-bench limit|naive --input DIR --output DIR [--jobs N] [--compression-level 0-9]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next()?.as_str() {
        "limit" => Mode::Limit,
        "naive" => Mode::Naive,
        _ => return None,
    };
    let mut args = Args {
        mode,
        input: PathBuf::new(),
        output: PathBuf::new(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        level: 6,
    };
    while let Some(flag) = it.next() {
        let value = it.next()?;
        match flag.as_str() {
            "--input" => args.input = PathBuf::from(value),
            "--output" => args.output = PathBuf::from(value),
            "--jobs" => args.jobs = value.parse::<usize>().ok()?.max(1),
            "--compression-level" => args.level = value.parse::<u32>().ok().filter(|l| *l <= 9)?,
            _ => return None,
        }
    }
    if args.input.as_os_str().is_empty() || args.output.as_os_str().is_empty() {
        return None;
    }
    Some(args)
}

/// Log files under `root`, in the order `ctrules run` walks them.
fn discover(root: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(io::Error::other)?;
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_file() || name.starts_with('.') {
            continue;
        }
        if name.ends_with(".json") || name.ends_with(".json.gz") {
            let relative = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .to_path_buf();
            found.push((entry.path().to_path_buf(), relative));
        }
    }
    Ok(found)
}

/// Counts the bytes that go through a reader.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct Totals {
    bytes_in: AtomicU64,
    bytes_raw: AtomicU64,
    bytes_out: AtomicU64,
    records: AtomicU64,
}

fn process(mode: Mode, input: &Path, target: &Path, level: u32, totals: &Totals) -> io::Result<()> {
    let mut raw = BufReader::with_capacity(READ_BUFFER, File::open(input)?);
    let gzipped = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut counted = Counted {
        inner: raw,
        count: 0,
    };
    let mut text: Box<dyn BufRead + '_> = if gzipped {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(&mut counted),
        ))
    } else {
        Box::new(BufReader::with_capacity(READ_BUFFER, &mut counted))
    };

    if let Some(parent) = target.parent() {
        create_dirs_durably(parent)?;
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let file = File::create(&temp)?;
    let mut encoder = GzEncoder::new(
        BufWriter::with_capacity(WRITE_BUFFER, file),
        Compression::new(level),
    );

    let mut raw_bytes = 0u64;
    let mut records = 0u64;
    match mode {
        Mode::Limit => loop {
            // The decoder's buffer is handed to the encoder as it is: no copy,
            // no look at the bytes.
            let buf = text.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len();
            encoder.write_all(buf)?;
            raw_bytes += n as u64;
            text.consume(n);
        },
        Mode::Naive => {
            let mut whole = Vec::new();
            text.read_to_end(&mut whole)?;
            raw_bytes = whole.len() as u64;
            let doc: serde_json::Value = serde_json::from_slice(&whole)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            drop(whole);
            let empty = Vec::new();
            let list = doc
                .get("Records")
                .and_then(|r| r.as_array())
                .unwrap_or(&empty);
            let mut out = Vec::with_capacity(CHUNK + 64 * 1024);
            for record in list {
                serde_json::to_writer(&mut out, record)?;
                out.push(b'\n');
                records += 1;
                if out.len() >= CHUNK {
                    encoder.write_all(&out)?;
                    out.clear();
                }
            }
            encoder.write_all(&out)?;
        }
    }
    drop(text);
    let mut inner = encoder.finish()?;
    inner.flush()?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let written = file.metadata()?.len();
    drop(file);
    std::fs::rename(&temp, target)?;
    // Durable as ctrules makes it: the rename survives a power cut once its
    // directory is synced.
    File::open(target.parent().unwrap_or(Path::new(".")))?.sync_all()?;

    totals.bytes_in.fetch_add(counted.count, Ordering::Relaxed);
    totals.bytes_raw.fetch_add(raw_bytes, Ordering::Relaxed);
    totals.bytes_out.fetch_add(written, Ordering::Relaxed);
    totals.records.fetch_add(records, Ordering::Relaxed);
    Ok(())
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    let started = Instant::now();
    let files = match discover(&args.input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: input {}: {e}", args.input.display());
            return ExitCode::from(2);
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build()
        .expect("thread pool");
    let totals = Totals::default();
    let failures: Vec<String> = pool.install(|| {
        files
            .par_iter()
            .filter_map(|(path, relative)| {
                let mut target = args.output.join(relative);
                if !relative.to_string_lossy().ends_with(".gz") {
                    let mut name = target.file_name().unwrap_or_default().to_os_string();
                    name.push(".gz");
                    target.set_file_name(name);
                }
                process(args.mode, path, &target, args.level, &totals)
                    .err()
                    .map(|e| format!("{}: {e}", path.display()))
            })
            .collect()
    });
    for f in &failures {
        eprintln!("error: {f}");
    }
    let mode = match args.mode {
        Mode::Limit => "limit",
        Mode::Naive => "naive",
    };
    println!(
        "{{\"mode\":\"{mode}\",\"jobs\":{},\"level\":{},\"files\":{},\"failed\":{},\"records\":{},\"bytes_in\":{},\"bytes_raw\":{},\"bytes_out\":{},\"seconds\":{:.6}}}",
        args.jobs,
        args.level,
        files.len(),
        failures.len(),
        if args.mode == Mode::Naive {
            totals.records.load(Ordering::Relaxed).to_string()
        } else {
            "null".to_string()
        },
        totals.bytes_in.load(Ordering::Relaxed),
        totals.bytes_raw.load(Ordering::Relaxed),
        totals.bytes_out.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// Creates `dir` and its missing parents, syncing each parent after a
/// creation, as `ctrules run` does for its output tree.
fn create_dirs_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)?.sync_all()
}

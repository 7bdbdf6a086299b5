//! How the checkpoint store of `run --state` does at a million inputs.
//!
//! ```sh
//! cargo run --release -p ctrules-runner --example state_bench [-- N [DIR]]
//! ```
//!
//! Fills a store with N (default 1,000,000) done keys shaped like real
//! CloudTrail object keys, through a `Checkpointer` fed by two threads (its
//! default batches), then times: opening it (with the integrity check that
//! `StateStore::open` runs, and a plain redb open for comparison); checking
//! N keys, half of them present, in listing order and in random order;
//! opening it after a process was killed while it had it open (the crash
//! recovery). Reports the file size and the peak memory. The store is made
//! in DIR (default: the temporary directory) and removed at the end.

use ctrules_runner::state::{s3_key, Checkpointer, Done, StateStore};
use std::sync::Arc;
use std::time::Instant;

const RULES: &str = "0123456789ab";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn object_key(seed: &mut u64, i: usize) -> String {
    // 96 files a day (one per 15 minutes), in one account and region.
    let day = 1 + (i / 96) % 28;
    let month = 1 + (i / (96 * 28)) % 12;
    let year = 2020 + i / (96 * 28 * 12);
    let (h, m) = ((i % 96) / 4, (i % 4) * 15);
    let random: String = (0..16)
        .map(|_| ALNUM[(xorshift(seed) % ALNUM.len() as u64) as usize] as char)
        .collect();
    s3_key(
        "trail",
        &format!(
            "AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/{year}/{month:02}/{day:02}/\
             111122223333_CloudTrail_us-east-1_{year}{month:02}{day:02}T{h:02}{m:02}Z_{random}.json.gz"
        ),
    )
}

fn etag(seed: &mut u64) -> String {
    format!("\"{:016x}{:016x}\"", xorshift(seed), xorshift(seed))
}

/// The peak so far, above `baseline`.
fn phase_memory(after: &str, baseline: f64) {
    println!(
        "  peak memory after {after}: {:.0} MB above the keys",
        memory_mb("VmHWM:") - baseline
    );
}

/// VmHWM or VmRSS of this process, in MB.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--crash") {
        // Open, record one batch, and die without closing.
        let store = StateStore::open(&args[2]).unwrap();
        store
            .mark_done(&[Done::new("s3://trail/crash", "\"e\"", RULES)])
            .unwrap();
        std::process::abort();
    }
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().expect("N"));
    let dir = match args.get(2) {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let path = dir.path().join("state");

    let mut seed = 0x243f6a8885a308d3u64;
    // n keys done, and n / 2 more that are not: a check asks for every
    // other done key and all of the new ones.
    let entries: Vec<(String, String)> = (0..n + n / 2)
        .map(|i| (object_key(&mut seed, i), etag(&mut seed)))
        .collect();
    let key_bytes: usize = entries.iter().map(|(k, _)| k.len()).sum();
    println!(
        "{n} keys, {} bytes on average; e.g. {}",
        key_bytes / entries.len(),
        entries[0].0
    );

    // The keys themselves take memory: count what the store adds to it.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let baseline = memory_mb("VmRSS:");

    // Fill: the first n keys.
    let t = Instant::now();
    {
        let store = Arc::new(StateStore::open(&path).unwrap());
        let checkpointer = Checkpointer::new(
            Arc::clone(&store),
            Checkpointer::EVERY,
            Checkpointer::INTERVAL,
        );
        std::thread::scope(|s| {
            for part in 0..2 {
                let checkpointer = &checkpointer;
                let entries = &entries;
                s.spawn(move || {
                    for (k, v) in entries[..n].iter().skip(part).step_by(2) {
                        checkpointer
                            .mark(Done::new(k.as_bytes(), v.clone(), RULES))
                            .unwrap();
                    }
                });
            }
        });
        let committed = checkpointer.finish().unwrap();
        assert_eq!(committed as usize, n);
    }
    let fill = t.elapsed();
    let size = std::fs::metadata(&path).unwrap().len();
    phase_memory("fill", baseline);
    println!(
        "fill {} marks through a Checkpointer (2 threads, batches of {}): {:.2} s, {:.0} marks/s",
        n,
        Checkpointer::EVERY,
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    println!(
        "file size: {:.1} MB ({} bytes per entry)",
        size as f64 / 1e6,
        size / n as u64
    );

    // Open: ours (integrity check), then redb's plain open.
    let t = Instant::now();
    let store = StateStore::open(&path).unwrap();
    println!(
        "open (StateStore::open, integrity check): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(store.len().unwrap() as usize, n);
    phase_memory("open", baseline);
    drop(store);
    let t = Instant::now();
    let db = redb::Database::create(&path).unwrap();
    println!(
        "open (plain redb, no check): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    drop(db);

    // Check n keys, half present, in listing order, then in random order.
    let store = StateStore::open(&path).unwrap();
    let mut order: Vec<usize> = (0..n).step_by(2).chain(n..n + n / 2).collect();
    order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
    for (label, order) in [
        ("listing (sorted) order", order.clone()),
        ("random order", {
            let mut o = order.clone();
            for i in (1..o.len()).rev() {
                o.swap(i, (xorshift(&mut seed) % (i as u64 + 1)) as usize);
            }
            o
        }),
    ] {
        let t = Instant::now();
        let mut done = 0usize;
        for &i in &order {
            let (k, v) = &entries[i];
            done += store.is_done(k, v, RULES).unwrap() as usize;
        }
        let took = t.elapsed();
        assert_eq!(done, n.div_ceil(2));
        phase_memory(label, baseline);
        println!(
            "check {} keys ({done} done), {label}: {:.2} s, {:.2} us per key",
            order.len(),
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / order.len() as f64
        );
    }
    let t = Instant::now();
    let summary = store.summary().unwrap();
    println!(
        "summary ({} entries): {:.3} s",
        summary.entries,
        t.elapsed().as_secs_f64()
    );
    drop(store);

    // A process dies with it open; the next open recovers.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--crash")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let t = Instant::now();
    let store = StateStore::open(&path).unwrap();
    println!(
        "open after a process died with it open (recovery): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(store.len().unwrap() as usize, n + 1);
    println!(
        "peak memory above the {baseline:.0} MB of keys held by the bench itself: {:.0} MB",
        memory_mb("VmHWM:") - baseline
    );
}

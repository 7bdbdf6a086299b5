//! End-to-end tests of `ctrules watch`: a watched directory and an SQS
//! queue (on the local moto server), with rules edited, swapped and broken
//! while files stream in, restarts, and signals.
//!
//! Waits are on what the watch prints (a line per finished input, per
//! reload), with generous timeouts that only bound a hung test: nothing
//! here asserts a duration.

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use support::s3::MotoServer;
use support::*;

const PATIENCE: Duration = Duration::from_secs(120);

/// A `ctrules watch` running in the background, its standard error in a file.
struct Watch {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    fn start(args: &[&str], moto: Option<&MotoServer>) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr");
        let mut cmd = ctrules();
        cmd.arg("watch").args(args);
        if let Some(moto) = moto {
            moto.apply_env(&mut cmd);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let watch = Watch {
            child,
            log,
            _dir: dir,
        };
        watch.wait_for("the watch to start", |log| log.contains("watching "));
        watch
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `done` holds of the log; the log when it does.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "waited too long for {what}; the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `n` lines starting with `prefix` in all.
    fn wait_lines(&self, prefix: &str, n: usize) -> String {
        self.wait_for(&format!("{n} lines {prefix:?}"), |log| {
            log.lines().filter(|l| l.starts_with(prefix)).count() >= n
        })
    }

    fn signal(&self, signal: i32) {
        // SAFETY: sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` records tagged `tag`, with distinct event ids.
fn records(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "eventID": format!("{tag}-{i}"),
                "eventTime": "2024-08-01T12:00:00Z",
                "eventSource": "iam.amazonaws.com",
                "eventName": "CreateUser",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
            })
        })
        .collect()
}

/// Writes a log file the way delivery tools do: a hidden temporary, then
/// a rename, so the watch never sees it half-written.
fn deliver(dir: &Path, name: &str, recs: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let temp = dir.join(format!(".{name}.part"));
    std::fs::write(&temp, records_file(recs)).unwrap();
    std::fs::rename(&temp, dir.join(name)).unwrap();
}

/// An editor's save: a temporary beside the file, renamed over it.
fn save(path: &Path, text: &str) {
    let temp = path.with_extension("swp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn generation_rule(gen: &str) -> String {
    format!("when eventID exists set xgen = \"{gen}\"\n")
}

/// The records of every output file under `root`, by relative name.
fn outputs(root: &Path) -> BTreeMap<String, Vec<Value>> {
    files_under(root)
        .into_iter()
        .map(|p| {
            let text = gunzip(&std::fs::read(&p).unwrap());
            let recs = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let name = p.strip_prefix(root).unwrap().display().to_string();
            (name, recs)
        })
        .collect()
}

/// The rules version each `done:` line gives, by input file name.
fn versions_in_log(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("done: "))
        .filter_map(|l| {
            let (input, rest) = l.split_once(": ")?;
            let version = rest.rsplit_once("rules ")?.1;
            let name = Path::new(input).file_name()?.to_string_lossy().to_string();
            Some((name, version.to_string()))
        })
        .collect()
}

fn no_temporaries(root: &Path) {
    let left: Vec<_> = walk_all(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".ctrules."))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}

fn walk_all(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            all.push(path);
        }
    }
    all
}

#[test]
fn rules_edited_broken_and_swapped_during_a_stream_switch_between_files_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    // The rules directory is a link to a generation, as git-sync keeps it.
    let gen_a = dir.path().join("rules-a");
    std::fs::create_dir_all(&gen_a).unwrap();
    std::fs::write(gen_a.join("gen.rules"), generation_rule("1")).unwrap();
    let live = dir.path().join("rules");
    std::os::unix::fs::symlink(&gen_a, &live).unwrap();

    let mut watch = Watch::start(
        &[
            "--rules",
            live.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--settle",
            "0.1",
            "--status-interval",
            "0",
            "--jobs",
            "2",
        ],
        None,
    );
    let mut sent: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut stream = |from: usize, to: usize| {
        for i in from..to {
            let name = format!("111122223333_CloudTrail_us-east-1_20240801T12{i:02}Z_x.json.gz");
            let recs = records(&format!("f{i}"), 40);
            deliver(&input.join("day"), &name, &recs);
            sent.insert(name, recs);
            std::thread::sleep(Duration::from_millis(30));
        }
    };
    stream(0, 6);
    watch.wait_lines("done: ", 6);
    // An editor's atomic save in the linked directory.
    save(&gen_a.join("gen.rules"), &generation_rule("2"));
    watch.wait_lines("rules reloaded:", 1);
    stream(6, 12);
    // A change with an error: reported, and generation 2 stays.
    save(
        &gen_a.join("gen.rules"),
        "when eventID exists set xgen = \n",
    );
    watch.wait_lines("error: rules not reloaded", 1);
    stream(12, 18);
    watch.wait_lines("done: ", 18);
    // A new generation, swapped in by renaming a link over the old one.
    let gen_b = dir.path().join("rules-b");
    std::fs::create_dir_all(&gen_b).unwrap();
    std::fs::write(gen_b.join("gen.rules"), generation_rule("3")).unwrap();
    let next = dir.path().join("rules.next");
    std::os::unix::fs::symlink(&gen_b, &next).unwrap();
    std::fs::rename(&next, &live).unwrap();
    watch.wait_lines("rules reloaded:", 2);
    stream(18, 24);
    let log = watch.wait_lines("done: ", 24);
    let status = watch.stop();
    assert!(status.success(), "{status:?}\n{}", watch.log());

    // The broken change was shown as `check` shows it.
    assert!(log.contains("E10"), "{log}");
    // Every input is in its output, once, all records of a file enriched
    // by one rule set, and that set is the one the log names.
    let got = outputs(&output);
    assert_eq!(got.len(), sent.len(), "{:?}", got.keys());
    let versions = versions_in_log(&log);
    let mut gen_of_version: BTreeMap<String, String> = BTreeMap::new();
    let mut gens = Vec::new();
    for (name, recs) in &sent {
        let out = &got[&format!("day/{name}")];
        let ids: Vec<&Value> = out.iter().map(|r| &r["eventID"]).collect();
        let expected: Vec<&Value> = recs.iter().map(|r| &r["eventID"]).collect();
        assert_eq!(ids, expected, "{name}");
        let file_gens: BTreeSet<&str> = out.iter().map(|r| r["xgen"].as_str().unwrap()).collect();
        assert_eq!(file_gens.len(), 1, "{name} mixes rule sets: {file_gens:?}");
        let gen = file_gens.into_iter().next().unwrap().to_string();
        let version = &versions[name];
        let known = gen_of_version.entry(version.clone()).or_insert(gen.clone());
        assert_eq!(*known, gen, "{name}: rules {version} made two generations");
        gens.push(gen);
    }
    // Files sort by delivery time: the generations only move forward, and
    // the files after each change got it (the broken change none).
    let mut sorted = gens.clone();
    sorted.sort();
    assert_eq!(gens, sorted, "{gens:?}");
    for (i, gen) in gens.iter().enumerate() {
        let expected = match i {
            0..6 => "1",
            6..18 => "2",
            _ => "3",
        };
        assert_eq!(gen, expected, "file {i}: {gens:?}");
    }
    assert_eq!(gen_of_version.len(), 3, "{gen_of_version:?}");
    no_temporaries(&output);
}

#[test]
fn a_kubernetes_configmap_swap_and_sighup_reload_the_rules_and_metrics_tell() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    // A ConfigMap volume: files are links through `..data` to a hidden
    // timestamped directory, and an update swaps `..data`.
    let rules = dir.path().join("rules");
    let v1 = rules.join("..2024_08_01_12_00_00.1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join("gen.rules"), generation_rule("1")).unwrap();
    std::os::unix::fs::symlink("..2024_08_01_12_00_00.1", rules.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/gen.rules", rules.join("gen.rules")).unwrap();

    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--settle",
            "0.1",
            "--metrics",
            "127.0.0.1:0",
            "--status-interval",
            "0.2",
        ],
        None,
    );
    deliver(&input, "a.json.gz", &records("a", 3));
    watch.wait_lines("done: ", 1);
    watch.wait_for("a status line after the file", |log| {
        log.contains("status: 1 files processed, 0 failed, 3 events")
    });
    let v2 = rules.join("..2024_08_01_12_05_00.2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join("gen.rules"), generation_rule("2")).unwrap();
    std::os::unix::fs::symlink("..2024_08_01_12_05_00.2", rules.join("..data_tmp")).unwrap();
    std::fs::rename(rules.join("..data_tmp"), rules.join("..data")).unwrap();
    std::fs::remove_dir_all(&v1).unwrap();
    watch.wait_lines("rules reloaded:", 1);
    deliver(&input, "b.json.gz", &records("b", 3));
    watch.wait_lines("done: ", 2);
    // SIGHUP reloads even when nothing changed, and says so.
    watch.signal(libc::SIGHUP);
    let log = watch.wait_lines("rules reloaded: unchanged", 1);
    // The metrics say the same, in Prometheus text.
    let addr = log
        .lines()
        .find_map(|l| l.strip_prefix("metrics: http://")?.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"));
    let metrics = http_get(addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.0 200"), "{metrics}");
    for line in [
        "ctrules_files_processed_total 2\n",
        "ctrules_events_total 6\n",
        "ctrules_reloads_total{outcome=\"ok\"} 1\n",
        "ctrules_reloads_total{outcome=\"failed\"} 0\n",
        "ctrules_files_failed_total{stage=\"read\"} 0\n",
        "ctrules_file_seconds_count 2\n",
    ] {
        assert!(metrics.contains(line), "{line:?} not in\n{metrics}");
    }
    let version = versions_in_log(&log)["b.json.gz"].clone();
    assert!(
        metrics.contains(&format!("ctrules_rules_info{{version=\"{version}\"}} 1")),
        "{metrics}"
    );
    assert!(watch.stop().success());
    let got = outputs(&output);
    assert_eq!(got["a.json.gz"][0]["xgen"], "1");
    assert_eq!(got["b.json.gz"][0]["xgen"], "2");
}

#[test]
fn a_new_geoip_database_in_place_of_the_old_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("geo.rules"),
        "when sourceIPAddress exists set xcountry = geoip(sourceIPAddress).country_code\n",
    )
    .unwrap();
    let mmdb = repo().join("tests/fixtures/mmdb");
    let geo = dir.path().join("geo.mmdb");
    std::fs::copy(mmdb.join("GeoIP2-Country-Test.mmdb"), &geo).unwrap();
    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--geoip",
            geo.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--settle",
            "0.1",
        ],
        None,
    );
    // The next release, saved over the old file.
    std::fs::copy(
        mmdb.join("DBIP-Country-Flat-Test.mmdb"),
        geo.with_extension("new"),
    )
    .unwrap();
    std::fs::rename(geo.with_extension("new"), &geo).unwrap();
    let log = watch.wait_lines("rules reloaded:", 1);
    assert!(!log.contains("error:"), "{log}");
    assert!(watch.stop().success());
}

/// A plain HTTP/1.0 GET on loopback: the whole response, headers and all.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_file_listed_again_while_in_flight_is_processed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("gen.rules"), generation_rule("1")).unwrap();
    std::fs::create_dir_all(&input).unwrap();
    let summary = dir.path().join("summary.json");
    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--settle",
            "0",
            "--compression-level",
            "9",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        None,
    );
    deliver(&input, "big.json.gz", &records("big", 60_000));
    let deadline = Instant::now() + PATIENCE;
    while !walk_all(&output)
        .iter()
        .any(|p| p.to_string_lossy().contains(".ctrules."))
    {
        assert!(Instant::now() < deadline, "{}", watch.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Events while it is in flight: each lists the directory again.
    for i in 0..5 {
        deliver(
            &input,
            &format!("small{i}.json.gz"),
            &records(&format!("s{i}"), 2),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    watch.wait_lines("done: ", 6);
    // Time for a second pass over the big file, were there one.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(watch.stop().success());
    let log = watch.log();
    assert_eq!(log.matches("big.json.gz: ").count(), 1, "{log}");
    assert_eq!(summary_of(&summary)["files_processed"], 6, "{log}");
}

fn summary_of(path: &Path) -> Value {
    read_json(path)
}

#[test]
fn a_restart_with_state_resumes_without_loss_or_repeats_even_after_a_rules_change() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("gen.rules"), generation_rule("1")).unwrap();
    std::fs::create_dir_all(&input).unwrap();
    let state = dir.path().join("state.redb");
    let summary = dir.path().join("summary.json");
    let args = |summary: &Path| -> Vec<String> {
        [
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--settle",
            "0.1",
            "--summary-json",
            summary.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let first_args = args(&summary);
    let first_args: Vec<&str> = first_args.iter().map(String::as_str).collect();
    let mut watch = Watch::start(&first_args, None);
    for i in 0..8 {
        deliver(
            &input,
            &format!("f{i}.json.gz"),
            &records(&format!("f{i}"), 5),
        );
    }
    watch.wait_lines("done: ", 8);
    assert!(watch.stop().success(), "{}", watch.log());
    assert_eq!(summary_of(&summary)["files_processed"], 8);

    // While it is down: more files arrive, and the rules change.
    for i in 8..12 {
        deliver(
            &input,
            &format!("f{i}.json.gz"),
            &records(&format!("f{i}"), 5),
        );
    }
    std::fs::write(rules.join("gen.rules"), generation_rule("2")).unwrap();
    let second = dir.path().join("second.json");
    let second_args = args(&second);
    let second_args: Vec<&str> = second_args.iter().map(String::as_str).collect();
    let mut watch = Watch::start(&second_args, None);
    // In name order f8 and f9 come last, and a stop lets what is in
    // flight finish: once they are done, every file was handled.
    watch.wait_lines("done: ", 4);
    assert!(watch.stop().success(), "{}", watch.log());
    let s = summary_of(&second);
    assert_eq!(s["files_processed"], 4, "{s}");
    assert_eq!(s["files_already_done"], 8, "{s}");
    let got = outputs(&output);
    assert_eq!(got.len(), 12);
    for i in 0..12 {
        let gen = if i < 8 { "1" } else { "2" };
        assert_eq!(got[&format!("f{i}.json.gz")][0]["xgen"], gen, "f{i}");
    }
}

#[test]
fn sigterm_lets_a_file_in_flight_finish_or_hands_it_back_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("gen.rules"), generation_rule("1")).unwrap();
    std::fs::create_dir_all(&input).unwrap();
    // Big enough that a debug build is still at it when the signal comes.
    let big = records("big", 60_000);
    for (grace, finishes) in [("120", true), ("0", false)] {
        let out = output.join(grace);
        let mut watch = Watch::start(
            &[
                "--rules",
                rules.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
                "--settle",
                "0",
                "--grace",
                grace,
                "--compression-level",
                "9",
            ],
            None,
        );
        if !input.join("big.json.gz").exists() {
            deliver(&input, "big.json.gz", &big);
        }
        // Its temporary output appears: the file is in flight.
        let deadline = Instant::now() + PATIENCE;
        while !walk_all(&out)
            .iter()
            .any(|p| p.to_string_lossy().contains(".ctrules."))
        {
            assert!(Instant::now() < deadline, "{}", watch.log());
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = watch.stop();
        let log = watch.log();
        assert!(status.success(), "{status:?}\n{log}");
        assert!(log.contains("stopping: 1 inputs in flight"), "{log}");
        no_temporaries(&out);
        let got = outputs(&out);
        if finishes {
            assert_eq!(got["big.json.gz"].len(), big.len(), "{log}");
        } else {
            assert!(got.is_empty(), "{log}");
            assert!(log.contains("handed back"), "{log}");
        }
    }
}

// --- SQS

const TRAIL: &str = "trail";
const ENRICHED: &str = "enriched";

fn log_key(name: &str) -> String {
    format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/{name}")
}

/// Puts a log object of `recs` at `key` and returns its ETag... as S3
/// notifications give it: the test server's listing has it.
fn put_log(moto: &MotoServer, key: &str, recs: &[Value]) {
    moto.put_object(TRAIL, key, &records_file(recs));
}

/// Form encoding of a key, as S3 notifications carry it.
fn form_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn s3_event(bucket: &str, key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-08-01T12:05:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": form_encode(key), "sequencer": "0055AED6DCD90281E5"}}
    }]})
    .to_string()
}

fn sns(message: &str) -> String {
    json!({"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
           "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail", "Message": message,
           "Timestamp": "2024-08-01T12:05:00.000Z", "SignatureVersion": "1"})
    .to_string()
}

/// `count` log objects in the trail, `per` records each (ids `TAG{i}-{n}`),
/// each announced on `queue` by an S3 event notification; their keys.
fn notified_logs(
    moto: &MotoServer,
    queue: &str,
    count: usize,
    tag: &str,
    per: usize,
) -> Vec<String> {
    let keys: Vec<String> = (0..count)
        .map(|i| {
            log_key(&format!(
                "111122223333_CloudTrail_us-east-1_20240801T1200Z_{i:03}.json.gz"
            ))
        })
        .collect();
    for (i, key) in keys.iter().enumerate() {
        put_log(moto, key, &records(&format!("{tag}{i}"), per));
        moto.send_message(queue, &s3_event(TRAIL, key));
    }
    keys
}

fn watch_queue(moto: &MotoServer, queue: &str, summary: &Path, extra: &[&str]) -> Watch {
    let rules = repo().join("tests/fixtures/watch-rules");
    let endpoint = moto.endpoint();
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--input",
        queue,
        "--output",
        "s3://enriched/",
        "--state",
        "output",
        "--endpoint-url",
        &endpoint,
        "--receive-wait",
        "1",
        "--status-interval",
        "0",
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Watch::start(&args, Some(moto))
}

fn ids(body: &[u8]) -> Vec<String> {
    gunzip(body)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn wait_until(what: &str, watch: &Watch, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "waited too long for {what}; log:\n{}",
            watch.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_message_shape_is_read_keys_decoded_and_empty_notices_deleted() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue("shapes");
    let keys = [
        log_key("111122223333_CloudTrail_us-east-1_20240801T1200Z_a b+c é.json.gz"),
        log_key("111122223333_CloudTrail_us-east-1_20240801T1205Z_sns.json.gz"),
        log_key("111122223333_CloudTrail_us-east-1_20240801T1210Z_ct1.json.gz"),
        log_key("111122223333_CloudTrail_us-east-1_20240801T1215Z_ct2.json.gz"),
        log_key("111122223333_CloudTrail_us-east-1_20240801T1220Z_eb.json.gz"),
    ];
    for (i, key) in keys.iter().enumerate() {
        put_log(&moto, key, &records(&format!("k{i}"), 3));
    }
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240801T120000Z.json.gz";
    moto.put_object(TRAIL, digest, &gzip(b"{\"digestStartTime\":\"x\"}"));
    let cloudtrail = json!({"s3Bucket": TRAIL, "s3ObjectKey": [keys[2], keys[3]]}).to_string();
    let eventbridge = json!({"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "111122223333",
        "time": "2024-08-01T12:20:00Z", "region": "us-east-1", "resources": ["arn:aws:s3:::trail"],
        "detail": {"version": "0", "bucket": {"name": TRAIL},
                   "object": {"key": keys[4], "size": 100, "etag": "x", "sequencer": "00617F08299329D189"},
                   "reason": "PutObject"}})
    .to_string();
    let bodies = [
        s3_event(TRAIL, &keys[0]),
        sns(&s3_event(TRAIL, &keys[1])),
        sns(&cloudtrail),
        eventbridge,
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-08-01T12:00:00.000Z",
               "Bucket": TRAIL, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw"})
        .to_string(),
        sns("CloudTrail validation message."),
        "CloudTrail validation message.".to_string(),
        s3_event(TRAIL, digest),
    ];
    for body in &bodies {
        moto.send_message(&queue, body);
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut watch = watch_queue(&moto, "sqs://shapes", &summary, &[]);
    wait_until("every message deleted", &watch, || {
        moto.count_visible(&queue) + moto.count_in_flight(&queue) == 0
    });
    assert!(watch.stop().success());
    let log = watch.log();
    for (i, key) in keys.iter().enumerate() {
        let out = moto
            .get_object(ENRICHED, key)
            .unwrap_or_else(|| panic!("no output for {key}; log:\n{log}"));
        assert_eq!(
            ids(&out),
            ["0", "1", "2"].map(|n| format!("k{i}-{n}")),
            "{key}"
        );
    }
    assert!(
        log.contains("s3:TestEvent; nothing to do, deleted"),
        "{log}"
    );
    assert_eq!(
        log.matches("CloudTrail validation message").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("skipped: s3://trail/AWSLogs/111122223333/CloudTrail-Digest"),
        "{log}"
    );
    let s = read_json(&summary);
    assert_eq!(s["files_processed"], 5, "{s}");
    assert_eq!(s["files_failed"], 0, "{s}");
    assert_eq!(moto.list_keys(ENRICHED, "").len(), 5);
}

#[test]
fn a_message_whose_object_fails_is_kept_until_the_dead_letter_queue_takes_it() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let (queue, dlq) = moto.create_queue_with_dlq("failing", 1, 2);
    let bad = log_key("111122223333_CloudTrail_us-east-1_20240801T1200Z_bad.json.gz");
    moto.put_object(TRAIL, &bad, &gzip(b"{\"Records\":[{\"eventID\":"));
    let good = log_key("111122223333_CloudTrail_us-east-1_20240801T1205Z_good.json.gz");
    put_log(&moto, &good, &records("g", 2));
    moto.send_message(&queue, &s3_event(TRAIL, &bad));
    moto.send_message(&queue, &s3_event(TRAIL, &good));
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut watch = watch_queue(&moto, "sqs://failing", &summary, &[]);
    let log = watch.wait_for("a second receive of the failing message", |log| {
        log.contains("left on the queue (received 2 times)")
    });
    assert!(
        log.contains("left on the queue (received 1 times)"),
        "{log}"
    );
    assert!(log.contains(&format!("s3://trail/{bad}")), "{log}");
    wait_until("the dead-letter queue to take it", &watch, || {
        moto.count_visible(&dlq) == 1
    });
    assert!(watch.stop().success());
    let moved = moto.receive_messages(&dlq, 10);
    assert_eq!(moved.len(), 1);
    assert!(moved[0].body.contains("bad.json.gz"), "{}", moved[0].body);
    assert!(moto.get_object(ENRICHED, &bad).is_none());
    assert_eq!(
        ids(&moto.get_object(ENRICHED, &good).unwrap()),
        ["g-0", "g-1"]
    );
    assert_eq!(moto.count_visible(&queue) + moto.count_in_flight(&queue), 0);
}

#[test]
fn three_workers_on_one_queue_write_each_of_500_outputs_once() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue_with("many", json!({"VisibilityTimeout": "30"}));
    let keys = notified_logs(&moto, &queue, 500, "o", 2);
    let dir = tempfile::tempdir().unwrap();
    let summaries: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("s{i}.json")))
        .collect();
    let mut workers: Vec<Watch> = summaries
        .iter()
        .map(|s| watch_queue(&moto, "sqs://many", s, &["--concurrency", "8"]))
        .collect();
    wait_until("the queue to empty", &workers[0], || {
        moto.count_visible(&queue) + moto.count_in_flight(&queue) == 0
    });
    for w in &mut workers {
        assert!(w.stop().success(), "{}", w.log());
    }
    let processed: Vec<u64> = summaries
        .iter()
        .map(|s| read_json(s)["files_processed"].as_u64().unwrap())
        .collect();
    assert_eq!(processed.iter().sum::<u64>(), 500, "{processed:?}");
    let all_done: usize = workers
        .iter()
        .map(|w| w.log().matches("done: ").count())
        .sum();
    assert_eq!(all_done, 500);
    let written = moto.list_keys(ENRICHED, "");
    assert_eq!(written.len(), 500);
    for (i, key) in keys.iter().enumerate().step_by(50) {
        let out = moto.get_object(ENRICHED, key).unwrap();
        assert_eq!(ids(&out), [format!("o{i}-0"), format!("o{i}-1")]);
    }
}

#[test]
fn a_heartbeat_keeps_a_slow_object_from_a_second_worker() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue("slow");
    let key = log_key("111122223333_CloudTrail_us-east-1_20240801T1200Z_big.json.gz");
    let big = records("big", 60_000);
    put_log(&moto, &key, &big);
    let dir = tempfile::tempdir().unwrap();
    let summaries: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("s{i}.json")))
        .collect();
    // A visibility timeout well under the time the object takes.
    let mut workers: Vec<Watch> = summaries
        .iter()
        .map(|s| {
            watch_queue(
                &moto,
                "sqs://slow",
                s,
                &["--visibility-timeout", "1", "--compression-level", "9"],
            )
        })
        .collect();
    moto.send_message(&queue, &s3_event(TRAIL, &key));
    wait_until("the message to be deleted", &workers[0], || {
        moto.count_visible(&queue) + moto.count_in_flight(&queue) == 0
    });
    // Long enough for a redelivery, were there one.
    std::thread::sleep(Duration::from_secs(3));
    for w in &mut workers {
        assert!(w.stop().success(), "{}", w.log());
    }
    let processed: u64 = summaries
        .iter()
        .map(|s| {
            let s = read_json(s);
            s["files_processed"].as_u64().unwrap() + s["files_already_done"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(processed, 1, "{}\n{}", workers[0].log(), workers[1].log());
    assert_eq!(
        ids(&moto.get_object(ENRICHED, &key).unwrap()).len(),
        big.len()
    );
}

#[test]
fn a_worker_killed_mid_stream_loses_nothing_once_another_takes_over() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue_with("restart", json!({"VisibilityTimeout": "2"}));
    let keys = notified_logs(&moto, &queue, 60, "r", 2_000);
    let dir = tempfile::tempdir().unwrap();
    let first = watch_queue(
        &moto,
        "sqs://restart",
        &dir.path().join("a.json"),
        &["--concurrency", "4"],
    );
    let mut first = first;
    first.wait_lines("done: ", 5);
    first.signal(libc::SIGKILL);
    let _ = first.child.wait();
    let done_by_first = first.log().matches("done: ").count() as u64;
    let second_summary = dir.path().join("b.json");
    let mut second = watch_queue(
        &moto,
        "sqs://restart",
        &second_summary,
        &["--concurrency", "4"],
    );
    wait_until("the queue to empty", &second, || {
        moto.count_visible(&queue) + moto.count_in_flight(&queue) == 0
    });
    assert!(second.stop().success());
    for (i, key) in keys.iter().enumerate() {
        let out = moto
            .get_object(ENRICHED, key)
            .unwrap_or_else(|| panic!("{key} lost"));
        assert_eq!(ids(&out).len(), 2_000, "{key}");
        assert_eq!(ids(&out)[0], format!("r{i}-0"));
    }
    // Every object was handled by one of them; the second found done (or
    // did again, identically) the few the first wrote but did not delete.
    let s = read_json(&second_summary);
    let seen = s["files_processed"].as_u64().unwrap() + s["files_already_done"].as_u64().unwrap();
    assert!(done_by_first + seen >= 60, "{done_by_first} + {s}");
    assert!(
        seen < 60,
        "the first did {done_by_first}, yet the second saw all: {s}"
    );
}

#[test]
fn rules_edited_broken_and_swapped_while_a_queue_streams_switch_between_objects() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue("edits");
    let dir = tempfile::tempdir().unwrap();
    let gen_a = dir.path().join("rules-a");
    std::fs::create_dir_all(&gen_a).unwrap();
    std::fs::write(gen_a.join("gen.rules"), generation_rule("1")).unwrap();
    let live = dir.path().join("rules");
    std::os::unix::fs::symlink(&gen_a, &live).unwrap();
    let summary = dir.path().join("summary.json");
    let endpoint = moto.endpoint();
    let mut watch = Watch::start(
        &[
            "--rules",
            live.to_str().unwrap(),
            "--input",
            "sqs://edits",
            "--output",
            "s3://enriched/",
            "--endpoint-url",
            &endpoint,
            "--receive-wait",
            "1",
            "--status-interval",
            "0",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        Some(&moto),
    );
    let mut keys = Vec::new();
    let mut send = |from: usize, to: usize| {
        for i in from..to {
            let key = log_key(&format!(
                "111122223333_CloudTrail_us-east-1_20240801T12{i:02}Z_e.json.gz"
            ));
            put_log(&moto, &key, &records(&format!("e{i}"), 30));
            moto.send_message(&queue, &s3_event(TRAIL, &key));
            keys.push(key);
        }
    };
    send(0, 4);
    watch.wait_lines("done: ", 4);
    save(&gen_a.join("gen.rules"), &generation_rule("2"));
    watch.wait_lines("rules reloaded:", 1);
    send(4, 8);
    watch.wait_lines("done: ", 8);
    save(
        &gen_a.join("gen.rules"),
        "when eventID exists set xgen = \n",
    );
    watch.wait_lines("error: rules not reloaded", 1);
    send(8, 12);
    watch.wait_lines("done: ", 12);
    let gen_b = dir.path().join("rules-b");
    std::fs::create_dir_all(&gen_b).unwrap();
    std::fs::write(gen_b.join("gen.rules"), generation_rule("3")).unwrap();
    let next = dir.path().join("rules.next");
    std::os::unix::fs::symlink(&gen_b, &next).unwrap();
    std::fs::rename(&next, &live).unwrap();
    watch.wait_lines("rules reloaded:", 2);
    send(12, 16);
    let log = watch.wait_lines("done: ", 16);
    assert!(watch.stop().success(), "{log}");
    let versions = versions_in_log(&log);
    for (i, key) in keys.iter().enumerate() {
        let body = moto.get_object(ENRICHED, key).unwrap();
        let recs: Vec<Value> = gunzip(&body)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs.len(), 30, "{key}");
        let gens: BTreeSet<&str> = recs.iter().map(|r| r["xgen"].as_str().unwrap()).collect();
        let expected = match i {
            0..4 => "1",
            4..12 => "2",
            _ => "3",
        };
        assert_eq!(gens, BTreeSet::from([expected]), "{key}");
        let name = Path::new(key)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(versions.contains_key(&name), "{name} not in\n{log}");
    }
    let s = read_json(&summary);
    assert_eq!(s["files_processed"], 16, "{s}");
    assert_eq!(s["rules_versions"].as_object().unwrap().len(), 3, "{s}");
    assert_eq!(moto.count_visible(&queue) + moto.count_in_flight(&queue), 0);
}

const SEVERE: &str = "rule iam-change {\n  description \"IAM changes\"\n  severity MEDIUM\n  when eventSource == \"iam.amazonaws.com\"\n}\n";

#[test]
fn a_watch_writes_each_inputs_alerts_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("d.rules"), SEVERE).unwrap();
    let alerts = dir.path().join("alerts/");
    let appended = dir.path().join("all-alerts.ndjson");
    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--settle",
            "0.1",
            "--alerts",
            alerts.to_str().unwrap(),
        ],
        None,
    );
    let mut second = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.path().join("out2").to_str().unwrap(),
            "--settle",
            "0.1",
            "--alerts",
            appended.to_str().unwrap(),
        ],
        None,
    );
    deliver(&input.join("day"), "a.json.gz", &records("a", 3));
    deliver(&input.join("day"), "b.json.gz", &records("b", 2));
    watch.wait_lines("done: ", 2);
    second.wait_lines("done: ", 2);
    assert!(watch.stop().success());
    assert!(second.stop().success());
    // One alerts file per input, beside where its output goes.
    let a = std::fs::read_to_string(alerts.join("day/a.alerts.ndjson")).unwrap();
    let a: Vec<Value> = a
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["count"], 3);
    assert_eq!(a[0]["rule"], "iam-change");
    assert!(alerts.join("day/b.alerts.ndjson").exists());
    // Appended to one file: each input's alerts, whole lines.
    let all = std::fs::read_to_string(&appended).unwrap();
    let counts: BTreeSet<u64> = all
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(counts, BTreeSet::from([2, 3]));
}

#[test]
fn a_queue_worker_writes_each_objects_alerts_to_s3_before_deleting_its_message() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    moto.create_bucket("alerts");
    let queue = moto.create_queue("alerting");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("d.rules"), SEVERE).unwrap();
    let key = log_key("111122223333_CloudTrail_us-east-1_20240801T1200Z_al.json.gz");
    put_log(&moto, &key, &records("al", 4));
    moto.send_message(&queue, &s3_event(TRAIL, &key));
    let endpoint = moto.endpoint();
    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            "sqs://alerting",
            "--output",
            "s3://enriched/",
            "--alerts",
            "s3://alerts/detections/",
            "--endpoint-url",
            &endpoint,
            "--receive-wait",
            "1",
        ],
        Some(&moto),
    );
    wait_until("the message to be deleted", &watch, || {
        moto.count_visible(&queue) + moto.count_in_flight(&queue) == 0
    });
    assert!(watch.stop().success());
    let stem = key.strip_suffix(".json.gz").unwrap();
    let body = moto
        .get_object("alerts", &format!("detections/{stem}.alerts.ndjson"))
        .unwrap_or_else(|| panic!("no alerts; {:?}", moto.list_keys("alerts", "")));
    let alert: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(alert["count"], 4);
    assert_eq!(alert["input"], format!("s3://trail/{key}"));
}

fn local_watch(dir: &Path, input: &Path, output: &Path, extra: &[&str]) -> Watch {
    let rules = dir.join("rules");
    if !rules.exists() {
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("gen.rules"), generation_rule("1")).unwrap();
    }
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--settle",
        "0.2",
        "--jobs",
        "1",
    ];
    args.extend_from_slice(extra);
    Watch::start(&args, None)
}

#[test]
fn an_output_directory_deleted_and_made_again_inside_the_input_is_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let output = input.join("out");
    std::fs::create_dir_all(&input).unwrap();
    let mut watch = local_watch(dir.path(), &input, &output, &[]);
    deliver(&input, "a.json.gz", &records("a", 2));
    watch.wait_lines("done: ", 1);
    std::fs::remove_dir_all(&output).unwrap();
    deliver(&input, "b.json.gz", &records("b", 2));
    watch.wait_lines("done: ", 2);
    // Time for the output to be listed again, were it an input.
    deliver(&input, "c.json.gz", &records("c", 2));
    watch.wait_lines("done: ", 3);
    std::thread::sleep(Duration::from_millis(800));
    assert!(watch.stop().success());
    let log = watch.log();
    assert_eq!(log.matches("done: ").count(), 3, "{log}");
    assert!(!output.join("out").exists(), "{log}");
}

#[test]
fn a_file_with_the_inode_number_of_a_deleted_output_directory_is_still_read() {
    // The output outside the input: once it is gone, nothing in the input
    // may be taken for it, whatever its inode number.
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut watch = local_watch(dir.path(), &input, &output, &[]);
    std::fs::remove_dir_all(&output).ok();
    for i in 0..20 {
        deliver(
            &input,
            &format!("f{i:02}.json.gz"),
            &records(&format!("f{i}"), 1),
        );
    }
    watch.wait_lines("done: ", 20);
    assert!(watch.stop().success());
    assert_eq!(outputs(&output).len(), 20);
}

#[test]
fn two_inputs_with_one_output_name_are_not_both_written_in_a_watch() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut watch = local_watch(dir.path(), &input, &output, &[]);
    deliver(&input, "x.json.gz", &records("gz", 3));
    watch.wait_lines("done: ", 1);
    std::fs::write(
        input.join("x.json"),
        serde_json::to_vec(&json!({"Records": records("plain", 1)})).unwrap(),
    )
    .unwrap();
    watch.wait_for("the second to be refused", |l| {
        l.contains("would overwrite the output of")
    });
    // More listings (a new file), and the refusal is not told again.
    deliver(&input, "y.json.gz", &records("y", 1));
    watch.wait_lines("done: ", 2);
    let log = watch.log();
    assert!(watch.stop().success());
    assert!(
        log.contains("x.json: its output x.json.gz would overwrite the output of x.json.gz"),
        "{log}"
    );
    assert_eq!(log.matches("would overwrite").count(), 1, "{log}");
    assert_eq!(outputs(&output)["x.json.gz"].len(), 3, "{log}");
}

#[test]
fn a_file_stamped_in_the_future_is_read_once_it_stops_changing() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut watch = local_watch(dir.path(), &input, &output, &[]);
    let path = input.join("future.json.gz");
    std::fs::write(&path, records_file(&records("t", 2))).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    watch.wait_lines("done: ", 1);
    assert!(watch.stop().success());
    assert_eq!(outputs(&output)["future.json.gz"].len(), 2);
}

#[test]
fn emptying_the_rules_directory_keeps_the_rules_running() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let mut watch = local_watch(dir.path(), &input, &output, &[]);
    std::fs::remove_file(dir.path().join("rules/gen.rules")).unwrap();
    let log = watch.wait_lines("error: rules not reloaded", 1);
    assert!(log.contains("no rules are left"), "{log}");
    deliver(&input, "a.json.gz", &records("a", 2));
    watch.wait_lines("done: ", 1);
    assert!(watch.stop().success());
    assert_eq!(outputs(&output)["a.json.gz"][0]["xgen"], "1");
}

#[test]
fn an_s3_key_with_a_line_break_cannot_forge_a_line_of_the_log() {
    let moto = MotoServer::start();
    moto.create_bucket(TRAIL);
    moto.create_bucket(ENRICHED);
    let queue = moto.create_queue("forged");
    let key = log_key("x\ndone: s3://trail/FORGED: 999 events, rules x\n.json.gz");
    moto.send_message(&queue, &s3_event(TRAIL, &key));
    let dir = tempfile::tempdir().unwrap();
    let mut watch = watch_queue(&moto, "sqs://forged", &dir.path().join("s.json"), &[]);
    let log = watch.wait_for("the missing object to be reported", |l| {
        l.contains("left on the queue")
    });
    assert!(watch.stop().success());
    assert!(
        !log.lines()
            .any(|l| l.starts_with("done: s3://trail/FORGED")),
        "{log}"
    );
    assert!(log.contains("x\\ndone: s3://trail/FORGED"), "{log}");
}

#[test]
fn an_input_directory_deleted_and_made_again_is_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    // A rescan too far away to help: only the watch can find the new file.
    let mut watch = local_watch(dir.path(), &input, &output, &["--rescan", "600"]);
    deliver(&input, "a.json.gz", &records("a", 1));
    watch.wait_lines("done: ", 1);
    std::fs::remove_dir_all(&input).unwrap();
    watch.wait_lines("error: ", 1);
    std::fs::create_dir_all(&input).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    deliver(&input, "b.json.gz", &records("b", 1));
    watch.wait_lines("done: ", 2);
    // Gone again: told again.
    std::fs::remove_dir_all(&input).unwrap();
    watch.wait_lines("error: ", 2);
    assert!(watch.stop().success());
}

#[test]
fn sigterm_while_the_queue_endpoint_does_not_answer_stops_the_watch() {
    // An endpoint that takes connections and never answers: the SDK would
    // retry for minutes before it gave up finding the queue.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("gen.rules"), generation_rule("1")).unwrap();
    let mut watch = Watch::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            "sqs://silent",
            "--output",
            dir.path().join("out").to_str().unwrap(),
            "--endpoint-url",
            &endpoint,
        ],
        None,
    );
    std::thread::sleep(Duration::from_millis(500));
    let status = watch.stop();
    assert!(status.success(), "{status:?}\n{}", watch.log());
}

#[test]
fn sigterm_while_the_rules_compile_stops_the_watch_as_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    // Enough rules that compiling them takes a while in any build.
    let text: String = (0..40_000)
        .map(|i| format!("when eventName == \"CreateUser\" and userIdentity.userName == \"u{i}\" set xteam = \"t{i}\"\n"))
        .collect();
    std::fs::write(rules.join("many.rules"), text).unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let log = dir.path().join("stderr");
    let mut child = ctrules()
        .args([
            "watch",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args(["--output", dir.path().join("out").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}\n{text}");
    assert!(text.contains("ctrules watch:"), "the summary: {text}");
}

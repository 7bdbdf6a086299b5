//! Fault injection for `ctrules run`: inputs and outputs that overlap,
//! odd entries in an input tree, closed and broken standard streams,
//! signals and kill -9. Each test is the reproduction of a defect found by
//! trying to break the runner; records in and out are counted here,
//! independently of ctrules, and what is on disk afterwards is checked.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// `n` CloudTrail records, numbered from `first` (the number is in eventID).
fn records(first: usize, n: usize) -> Vec<Value> {
    (first..first + n)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "userName": format!("user{}", i % 7)},
                "eventTime": "2024-08-01T12:00:00Z",
                "eventSource": if i % 3 == 0 { "iam.amazonaws.com" } else { "s3.amazonaws.com" },
                "eventName": if i % 3 == 0 { "CreateUser" } else { "GetObject" },
                "awsRegion": "us-east-1",
                "sourceIPAddress": "203.0.113.7",
                "requestParameters": {"bucketName": "b", "key": format!("k{i}")},
                "eventID": format!("id-{i:06}"),
            })
        })
        .collect()
}

/// A gzipped CloudTrail log file of `records`.
fn log_file(records: &[Value]) -> Vec<u8> {
    records_file(records)
}

/// `files` log files of `per_file` records each under `root`, in the
/// AWSLogs layout; the records, in file order.
fn write_tree(root: &Path, files: usize, per_file: usize) -> Vec<Value> {
    let mut all = Vec::new();
    for f in 0..files {
        let dir = root.join(format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/{:02}",
            f % 28 + 1
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let recs = records(f * per_file, per_file);
        std::fs::write(
            dir.join(format!("111122223333_CloudTrail_us-east-1_{f:04}.json.gz")),
            log_file(&recs),
        )
        .unwrap();
        all.extend(recs);
    }
    all
}

/// Every file under `root` with its bytes, by relative path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    if !root.exists() {
        return BTreeMap::new();
    }
    files_under(root)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.strip_prefix(root).unwrap().to_path_buf(), bytes)
        })
        .collect()
}

/// The eventIDs of every record in the gzipped outputs under `root`.
fn output_ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = files_under(root)
        .iter()
        .filter(|p| p.as_os_str().as_bytes().ends_with(b".gz"))
        .flat_map(|p| {
            gunzip(&std::fs::read(p).unwrap())
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["eventID"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

fn ids_of(records: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r["eventID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// ctrules' temporary files under `root` (`.NAME.ctrules.PID.tmp`).
fn temporaries(root: &Path) -> Vec<PathBuf> {
    if !root.exists() {
        return Vec::new();
    }
    files_under(root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .collect()
}

fn iam_rules(dir: &Path) -> PathBuf {
    write_rules(
        dir,
        "iam.rules",
        "when eventSource == \"iam.amazonaws.com\" set xpriority = HIGH\n",
    )
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_output_equal_to_the_input_is_refused_and_the_logs_are_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 3, 5);
    let rules = write_rules(
        tmp.path(),
        "drop.rules",
        "rule gone {\n  when eventName exists\n  drop\n}\n",
    );
    let before = snapshot(&logs);
    std::os::unix::fs::symlink(&logs, tmp.path().join("alias")).unwrap();
    for output in [logs.clone(), logs.join("."), tmp.path().join("alias")] {
        let (out, _) = run(&rules, &logs, &output, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            stderr_of(&out).contains("is the input directory"),
            "{}",
            text(&out)
        );
        assert_eq!(snapshot(&logs), before, "an input changed");
    }
}

#[test]
fn an_output_that_would_replace_an_input_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // One input file, and the output directory it sits in.
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("trail.json.gz");
    std::fs::write(&file, log_file(&records(0, 4))).unwrap();
    let before = std::fs::read(&file).unwrap();
    let (out, _) = run(&iam_rules(tmp.path()), &file, &dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr_of(&out).contains("would replace the input"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // A target that is a hard link to an input.
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 3);
    let out_dir = tmp.path().join("out");
    let input = files_under(&logs)[0].clone();
    let target = out_dir.join(input.strip_prefix(&logs).unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::hard_link(&input, &target).unwrap();
    let before = snapshot(&logs);
    let (out, _) = run(&iam_rules(tmp.path()), &logs, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(snapshot(&logs), before);

    // An input that is a link to where another input's output goes: the
    // message names the input that would be replaced.
    let d = tmp.path().join("d4");
    let o = tmp.path().join("o4");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&o).unwrap();
    std::fs::write(
        d.join("a.json"),
        serde_json::to_vec(&json!({"Records": records(0, 1)})).unwrap(),
    )
    .unwrap();
    std::fs::write(o.join("a.json.gz"), log_file(&records(5, 1))).unwrap();
    std::os::unix::fs::symlink(o.join("a.json.gz"), d.join("ln.json.gz")).unwrap();
    let (out, _) = run(&iam_rules(tmp.path()), &d, &o, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr_of(&out).contains("would replace the input")
            && stderr_of(&out).contains("ln.json.gz"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_output_inside_the_input_is_never_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let recs = write_tree(&logs, 4, 2);
    let out_dir = logs.join("enriched");
    let summary_path = tmp.path().join("summary.json");
    for _ in 0..3 {
        let out = ctrules()
            .args(["run", "--rules"])
            .arg(iam_rules(tmp.path()))
            .arg("--input")
            .arg(&logs)
            .arg("--output")
            .arg(&out_dir)
            .arg("--summary-json")
            .arg(&summary_path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let summary = read_json(&summary_path);
        assert_eq!(summary["events_in"], recs.len(), "{summary}");
        assert_eq!(output_ids(&out_dir), ids_of(&recs));
        assert!(!out_dir.join("enriched").exists());
    }
}

#[test]
fn a_summary_that_would_replace_an_input_an_output_or_a_rule_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 2);
    let input = files_under(&logs)[0].clone();
    let before = snapshot(&logs);
    let rules = iam_rules(tmp.path());
    let rules_before = snapshot(&rules);
    // A link elsewhere to an input counts as the input.
    std::os::unix::fs::symlink(&input, tmp.path().join("link.json")).unwrap();
    let out_dir = tmp.path().join("out");
    let an_output = out_dir.join(input.strip_prefix(&logs).unwrap());
    for summary in [
        input.clone(),
        logs.join("summary.json"),
        tmp.path().join("link.json"),
        rules.join("iam.rules"),
        an_output.clone(),
    ] {
        let out = ctrules()
            .args(["run", "--rules"])
            .arg(&rules)
            .arg("--input")
            .arg(&logs)
            .arg("--output")
            .arg(&out_dir)
            .arg("--summary-json")
            .arg(&summary)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{summary:?}: {}", text(&out));
        assert!(
            stderr_of(&out).contains("write it elsewhere"),
            "{}",
            text(&out)
        );
        assert_eq!(snapshot(&logs), before);
        assert_eq!(snapshot(&rules), rules_before);
        assert!(!an_output.exists());
    }
}

#[test]
fn a_summary_into_a_fifo_a_link_a_full_device_or_standard_output() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 2);
    let rules = iam_rules(tmp.path());
    let run_with = |summary: &Path| {
        ctrules()
            .args(["run", "--rules"])
            .arg(&rules)
            .arg("--input")
            .arg(&logs)
            .arg("--output")
            .arg(tmp.path().join("out"))
            .arg("--summary-json")
            .arg(summary)
            .output()
            .unwrap()
    };
    // A FIFO is written into (a reader gets the summary), not replaced.
    let fifo = tmp.path().join("summary.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = run_with(&fifo);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let read: Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(read["events_in"], 4);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // A link to a file: the file is written, the link stays a link.
    let target = tmp.path().join("real.json");
    std::fs::write(&target, "old").unwrap();
    let link = tmp.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = run_with(&link);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .contains("events_in"));
    // A full device: the summary cannot be written, and the exit says so.
    let out = run_with(Path::new("/dev/full"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    // `-`: standard output.
    let out = run_with(Path::new("-"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["events_in"], 4);
}

#[test]
fn a_closed_standard_output_is_an_error_not_a_success() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 3);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec '{}' run --rules '{}' --input '{}' --output - >&-",
            bin().display(),
            iam_rules(tmp.path()).display(),
            logs.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // /dev/null opened read-write (as Python's subprocess.DEVNULL does, and
    // as Rust's runtime reopens a closed output) is not closed.
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    let to_null = ctrules()
        .args(["run", "--output", "-", "--input"])
        .arg(&logs)
        .arg("--rules")
        .arg(iam_rules(tmp.path()))
        .stdout(null)
        .output()
        .unwrap();
    assert_eq!(to_null.status.code(), Some(0), "{}", text(&to_null));
    assert!(
        stderr_of(&out).contains("standard output is closed"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_broken_standard_error_neither_panics_nor_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let recs = write_tree(&logs, 5, 3);
    // Bad files, so that errors are printed all through the run.
    for i in 0..20 {
        std::fs::write(logs.join(format!("bad{i:02}.json")), b"{\"Records\":[{]}").unwrap();
    }
    let out_dir = tmp.path().join("out");
    let mut child = ctrules()
        .args(["run", "--input"])
        .arg(&logs)
        .arg("--output")
        .arg(&out_dir)
        .arg("--rules")
        .arg(iam_rules(tmp.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader of standard error goes away
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "20 files failed: {status:?}");
    assert_eq!(output_ids(&out_dir), ids_of(&recs));
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 4, 2000); // far more than a pipe holds
    let summary_path = tmp.path().join("summary.json");
    let mut child = ctrules()
        .args(["run", "--output", "-", "--input"])
        .arg(&logs)
        .arg("--rules")
        .arg(iam_rules(tmp.path()))
        .arg("--summary-json")
        .arg(&summary_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"eventID\":\"id-000000\""), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!stderr_of(&out).contains("error"), "{}", text(&out));
    // The summary file still says what happened.
    let summary = read_json(&summary_path);
    assert_eq!(
        summary["stopped"],
        "standard output was closed by its reader"
    );
}

#[test]
fn non_regular_inputs_are_read_as_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(0, 6);
    let gz = log_file(&recs);
    // /dev/stdin fed by a pipe.
    let mut child = ctrules()
        .args(["run", "--input", "/dev/stdin", "--output", "-", "--rules"])
        .arg(iam_rules(tmp.path()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        recs.len()
    );

    // A FIFO given as --input, written by another process.
    let fifo = tmp.path().join("trail.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let (fifo, gz) = (fifo.clone(), gz.clone());
        std::thread::spawn(move || std::fs::write(fifo, gz).unwrap())
    };
    let out_dir = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(tmp.path()), &fifo, &out_dir, &[]);
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["events_in"], recs.len());
    assert_eq!(output_ids(&out_dir), ids_of(&recs));
}

#[test]
fn a_fifo_inside_a_tree_is_listed_as_skipped_not_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let recs = write_tree(&logs, 2, 3);
    assert!(Command::new("mkfifo")
        .arg(logs.join("pipe.json"))
        .status()
        .unwrap()
        .success());
    let (out, summary) = run(&iam_rules(tmp.path()), &logs, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["events_in"], recs.len());
    let skipped = summary["skipped"].to_string();
    assert!(
        skipped.contains("pipe.json") && skipped.contains("FIFO"),
        "{skipped}"
    );
}

#[test]
fn bad_entries_in_a_tree_are_named_and_the_rest_processed() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let recs = write_tree(&logs, 3, 4);
    std::os::unix::fs::symlink(tmp.path().join("missing.json"), logs.join("dangling.json"))
        .unwrap();
    std::fs::create_dir(logs.join("sub")).unwrap();
    std::os::unix::fs::symlink(&logs, logs.join("sub/loop")).unwrap();
    let (out, summary) = run(&iam_rules(tmp.path()), &logs, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(summary["events_in"], recs.len(), "{summary}");
    assert_eq!(output_ids(&tmp.path().join("out")), ids_of(&recs));
    let failed = summary["failed"].to_string();
    assert!(
        failed.contains("dangling.json") && failed.contains("does not exist"),
        "{failed}"
    );
    assert!(
        failed.contains("loop") && failed.contains("symbolic link loop"),
        "{failed}"
    );
}

/// Runs the binary as the unprivileged user `nobody`, for whom permissions
/// hold (they do not for root, who runs the tests here).
fn as_nobody() -> Command {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if uid.trim_ascii() != b"0" {
        return ctrules(); // permissions already hold
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin());
    c
}

#[test]
fn an_unreadable_directory_is_named_and_the_rest_processed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let open = |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777));
    open(tmp.path()).unwrap();
    let logs = tmp.path().join("logs");
    let recs = write_tree(&logs, 2, 3);
    for p in files_under(&logs) {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut dir = logs.clone();
    for c in [
        "AWSLogs",
        "111122223333",
        "CloudTrail",
        "us-east-1",
        "2024",
        "08",
    ] {
        dir.push(c);
        open(&dir).unwrap();
    }
    open(&logs).unwrap();
    let secret = logs.join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("x.json"), log_file(&records(100, 2))).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let rules = iam_rules(tmp.path());
    open(&rules).unwrap();
    std::fs::set_permissions(
        rules.join("iam.rules"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let summary_path = tmp.path().join("summary.json");
    let out = as_nobody()
        .args(["run", "--rules"])
        .arg(&rules)
        .arg("--input")
        .arg(&logs)
        .arg("--output")
        .arg(&out_dir)
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let summary = read_json(&summary_path);
    assert_eq!(summary["events_in"], recs.len());
    assert_eq!(output_ids(&out_dir), ids_of(&recs));
    let failed = summary["failed"].to_string();
    assert!(
        failed.contains("secret") && failed.contains("cannot read the directory"),
        "{failed}"
    );
}

#[test]
fn the_summary_file_is_replaced_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 2);
    let out_dir = tmp.path().join("out");
    let summary = out_dir.with_extension("summary.json");
    std::fs::write(&summary, "{}").unwrap();
    let inode = std::fs::metadata(&summary).unwrap().ino();
    let (out, value) = run(&iam_rules(tmp.path()), &logs, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(value["events_in"], 4);
    // A new file renamed into place, not the old one rewritten in place.
    assert_ne!(std::fs::metadata(&summary).unwrap().ino(), inode);
    assert!(temporaries(tmp.path()).is_empty());
}

#[test]
fn too_many_jobs_is_a_usage_error_saying_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 1, 1);
    let (out, _) = run(
        &iam_rules(tmp.path()),
        &logs,
        &tmp.path().join("out"),
        &["--jobs", "100000"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr_of(&out).contains("256"), "{}", text(&out));
}

#[test]
fn names_that_are_not_utf8_keep_their_bytes_and_do_not_collide() {
    use std::ffi::OsStr;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let a = records(0, 2);
    let b = records(10, 3);
    std::fs::write(logs.join(OsStr::from_bytes(b"a\xff.json")), log_file(&a)).unwrap();
    std::fs::write(logs.join(OsStr::from_bytes(b"a\xfe.json")), log_file(&b)).unwrap();
    let out_dir = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(tmp.path()), &logs, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 2, "{summary}");
    let count = |name: &[u8]| {
        gunzip(&std::fs::read(out_dir.join(OsStr::from_bytes(name))).unwrap())
            .lines()
            .count()
    };
    assert_eq!(count(b"a\xff.json.gz"), a.len());
    assert_eq!(count(b"a\xfe.json.gz"), b.len());
}

#[test]
fn standard_output_of_a_large_file_is_whole_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    // The first file's output is larger than what is kept in memory per
    // file (8 MB), so it goes through the spill file.
    let recs = write_tree(&logs, 3, 12_000);
    let out = ctrules()
        .args(["run", "--output", "-", "--input"])
        .arg(&logs)
        .arg("--rules")
        .arg(iam_rules(tmp.path()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.len() > 8 * 1024 * 1024);
    let ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ids_of(&recs), "every record once, in input order");
}

/// The clean output of `files` x `per_file` records, for comparison.
fn clean_run(tmp: &Path, logs: &Path, rules: &Path) -> (BTreeMap<PathBuf, Vec<u8>>, Duration) {
    let out_dir = tmp.join("clean");
    let started = Instant::now();
    let (out, _) = run(rules, logs, &out_dir, &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (snapshot(&out_dir), took)
}

fn start_run(rules: &Path, logs: &Path, out_dir: &Path) -> std::process::Child {
    ctrules()
        .args(["run", "-q", "--rules"])
        .arg(rules)
        .arg("--input")
        .arg(logs)
        .arg("--output")
        .arg(out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A small deterministic generator of delays (no clock, no OS entropy).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn sigterm_removes_the_temporaries_in_flight_and_keeps_finished_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 200, 40);
    let rules = iam_rules(tmp.path());
    let (clean, took) = clean_run(tmp.path(), &logs, &rules);
    let mut delays = Lcg(7);
    for round in 0..5 {
        let out_dir = tmp.path().join(format!("term{round}"));
        let mut child = start_run(&rules, &logs, &out_dir);
        std::thread::sleep(Duration::from_micros(delays.below(took.as_micros() as u64)));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        // 143: stopped by ctrules' handler; 0: it had finished; killed by
        // the signal itself: it came before the handler was installed, when
        // nothing had been written yet.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            matches!(status.code(), Some(143) | Some(0)) || status.signal() == Some(15),
            "round {round}: {status:?}"
        );
        assert!(temporaries(&out_dir).is_empty(), "round {round}");
        // What is there is finished, byte for byte as a clean run writes it.
        for (path, bytes) in snapshot(&out_dir) {
            assert_eq!(clean.get(&path), Some(&bytes), "round {round}: {path:?}");
        }
    }
}

#[test]
fn kill_9_at_any_moment_then_a_rerun_gives_the_clean_output() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 200, 40);
    let rules = iam_rules(tmp.path());
    let (clean, took) = clean_run(tmp.path(), &logs, &rules);
    let mut delays = Lcg(42);
    let mut left_behind = 0;
    for round in 0..20 {
        let out_dir = tmp.path().join(format!("kill{round}"));
        let mut child = start_run(&rules, &logs, &out_dir);
        std::thread::sleep(Duration::from_micros(delays.below(took.as_micros() as u64)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        left_behind += temporaries(&out_dir).len();
        let (out, summary) = run(&rules, &logs, &out_dir, &[]);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out));
        assert_eq!(summary["files_processed"], 200);
        std::fs::remove_file(out_dir.with_extension("summary.json")).unwrap();
        assert!(temporaries(&out_dir).is_empty(), "round {round}");
        assert_eq!(snapshot(&out_dir), clean, "round {round}");
    }
    // The kills did land mid-write: otherwise this test proves little.
    assert!(left_behind > 0, "no kill left a temporary behind");
}

#[test]
fn a_local_rerun_with_state_skips_what_is_done_and_redoes_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 6, 3);
    let rules = iam_rules(tmp.path());
    let state = tmp.path().join("state.redb");
    let out_dir = tmp.path().join("out");
    let with_state = ["--state", state.to_str().unwrap()];
    let (out, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 6);
    let first = snapshot(&out_dir);

    let (_, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(summary["files_processed"], 0, "{summary:#}");
    assert_eq!(summary["files_already_done"], 6);

    // A file rewritten (new size and time) is done again; the rest is not.
    let changed = files_under(&logs)[0].clone();
    std::fs::write(&changed, log_file(&records(500, 4))).unwrap();
    let (_, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    assert_eq!(summary["events_in"], 4);

    // New rules: a new rules version, so everything again.
    std::fs::write(
        rules.join("iam.rules"),
        "when eventSource == \"iam.amazonaws.com\" set xpriority = LOW\n",
    )
    .unwrap();
    let (_, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(summary["files_processed"], 6, "{summary:#}");
    assert_ne!(snapshot(&out_dir), first);
}

#[test]
fn a_state_path_that_is_not_a_state_file_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 1, 1);
    let not_state = tmp.path().join("notes.txt");
    std::fs::write(&not_state, "my notes").unwrap();
    let (out, _) = run(
        &iam_rules(tmp.path()),
        &logs,
        &tmp.path().join("out"),
        &["--state", not_state.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr_of(&out).contains("--state"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&not_state).unwrap(), "my notes");
}

#[test]
fn with_state_a_link_added_to_an_input_is_its_own_input() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 2, 2);
    let rules = iam_rules(tmp.path());
    let state = tmp.path().join("state.redb");
    let out_dir = tmp.path().join("out");
    let with_state = ["--state", state.to_str().unwrap()];
    let (_, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(summary["files_processed"], 2);
    // A link beside the logs, to one of them: a new input with its own output.
    let target = files_under(&logs)[0].clone();
    std::os::unix::fs::symlink(&target, logs.join("linked.json.gz")).unwrap();
    let (out, summary) = run(&rules, &logs, &out_dir, &with_state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    assert!(out_dir.join("linked.json.gz").exists());
    // The same state with another output: nothing there is done yet.
    let (_, summary) = run(&rules, &logs, &tmp.path().join("other"), &with_state);
    assert_eq!(summary["files_processed"], 3, "{summary:#}");
}

#[test]
fn check_test_and_fmt_never_panic_on_a_closed_pipe() {
    let rules = repo().join("rules.d");
    let commands: [&[&str]; 4] = [
        &["check", "--format", "json"],
        &["check"],
        &["test"],
        &["fmt", "--check"],
    ];
    for args in commands {
        for closed in ["stdout", "stderr"] {
            let mut cmd = ctrules();
            cmd.args(args).arg(&rules);
            let (out, err) = if closed == "stdout" {
                (Stdio::piped(), Stdio::piped())
            } else {
                (Stdio::null(), Stdio::piped())
            };
            let mut child = cmd.stdout(out).stderr(err).spawn().unwrap();
            // The reader goes away before anything is read.
            if closed == "stdout" {
                drop(child.stdout.take());
            } else {
                drop(child.stderr.take());
            }
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut stderr).unwrap();
            }
            let status = child.wait().unwrap();
            assert_ne!(
                status.code(),
                Some(101),
                "{args:?} with {closed} closed: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_summary_on_the_state_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 1, 1);
    let state = tmp.path().join("state.redb");
    let mut cmd = ctrules();
    cmd.args(["run", "--rules"])
        .arg(iam_rules(tmp.path()))
        .arg("--input")
        .arg(&logs)
        .arg("--output")
        .arg(tmp.path().join("out"))
        .arg("--state")
        .arg(&state);
    let (out, _) = output_and_summary(&mut cmd, &state);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr_of(&out).contains("named twice"), "{}", text(&out));
}

#[test]
fn sigterm_records_what_was_finished_in_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_tree(&logs, 200, 40);
    let rules = iam_rules(tmp.path());
    let (_, took) = clean_run(tmp.path(), &logs, &rules);
    let out_dir = tmp.path().join("out");
    let state = tmp.path().join("state.redb");
    let mut child = ctrules()
        .args(["run", "-q", "--jobs", "2", "--rules"])
        .arg(&rules)
        .arg("--input")
        .arg(&logs)
        .arg("--output")
        .arg(&out_dir)
        .arg("--state")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(took.mul_f64(0.6));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let written = snapshot(&out_dir).len() as u64;
    let (out, summary) = run(
        &rules,
        &logs,
        &out_dir,
        &["--state", state.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let done = summary["files_already_done"].as_u64().unwrap();
    // Every output finished before the signal is recorded, but for the
    // (at most 2) whose mark was on its way.
    if status.code() == Some(143) && written > 2 {
        assert!(done + 2 >= written, "{done} recorded of {written} written");
    }
    assert_eq!(done + summary["files_processed"].as_u64().unwrap(), 200);
}

#[test]
fn dates_must_be_written_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ctrules()
        .args([
            "run", "--input", "-", "--output", "-", "--from", "2024-8-1", "--rules",
        ])
        .arg(iam_rules(tmp.path()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr_of(&out).contains("YYYY-MM-DD"), "{}", text(&out));
}

/// `a.json.gz` and `a.json.zst` make one output whatever the codec; with
/// a file listed between them, the second was written over the first.
#[test]
fn a_gzip_and_a_zstd_file_of_one_name_are_not_both_written() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("a.json.gz"), log_file(&records(0, 2))).unwrap();
    std::fs::write(logs.join("a.json.m.json.gz"), log_file(&records(20, 1))).unwrap();
    let plain = serde_json::to_vec(&json!({"Records": records(10, 3)})).unwrap();
    std::fs::write(
        logs.join("a.json.zst"),
        zstd::encode_all(&plain[..], 3).unwrap(),
    )
    .unwrap();
    for codec in ["gzip", "zstd"] {
        let out_dir = tmp.path().join(format!("out-{codec}"));
        let (out, summary) = run(
            &iam_rules(tmp.path()),
            &logs,
            &out_dir,
            &["--compression", codec],
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert_eq!(summary["files_processed"], 2, "{summary:#}");
        let failed = summary["failed"].to_string();
        assert!(
            failed.contains("a.json.zst") && failed.contains("would overwrite the output of"),
            "{failed}"
        );
    }
}

#[test]
fn two_local_files_with_one_output_name_are_not_both_written() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("a.json"),
        serde_json::to_vec(&json!({"Records": records(0, 2)})).unwrap(),
    )
    .unwrap();
    std::fs::write(logs.join("a.json.gz"), log_file(&records(10, 3))).unwrap();
    let out_dir = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(tmp.path()), &logs, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    let failed = summary["failed"].to_string();
    assert!(
        failed.contains("a.json.gz") && failed.contains("would overwrite the output of"),
        "{failed}"
    );
    // The first in name order keeps the output.
    assert_eq!(output_ids(&out_dir), ids_of(&records(0, 2)));
    // To standard output there is nothing to collide: both are written.
    let to_stdout = ctrules()
        .args(["run", "--output", "-", "--rules"])
        .arg(iam_rules(tmp.path()))
        .arg("--input")
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(to_stdout.status.code(), Some(0), "{}", text(&to_stdout));
    assert_eq!(
        String::from_utf8_lossy(&to_stdout.stdout).lines().count(),
        5
    );
}

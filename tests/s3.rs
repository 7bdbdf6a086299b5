//! `ctrules run` against a real S3 server on loopback (moto, started by the
//! harness): an organisation trail to a `processed/` prefix in the same
//! bucket, each listing filter, pagination, one object named, a missing and
//! a corrupt object among good ones, and S3 on one side with local files on
//! the other. Records are counted here, independently of ctrules.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use support::s3::MotoServer;
use support::*;

const ORG: &str = "o-abcdefghij";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const DAYS: [&str; 3] = ["2024/08/01", "2024/08/02", "2024/09/01"];

/// A CloudTrail object's records: `n` of them, named by `tag`.
fn records(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "userName": "alice"},
                "eventTime": "2024-08-01T12:00:00Z",
                "eventSource": if i % 2 == 0 { "iam.amazonaws.com" } else { "s3.amazonaws.com" },
                "eventName": if i % 2 == 0 { "CreateUser" } else { "GetObject" },
                "awsRegion": "us-east-1",
                "eventID": format!("{tag}-{i}"),
            })
        })
        .collect()
}

fn log_object(recs: &[Value]) -> Vec<u8> {
    records_file(recs)
}

/// An organisation trail in `bucket`: every account, region and day, with
/// a digest beside each log, and the keys of the logs with their records.
fn org_trail(s3: &MotoServer, bucket: &str) -> BTreeMap<String, Vec<Value>> {
    s3.create_bucket(bucket);
    let mut logs = BTreeMap::new();
    for account in ACCOUNTS {
        for region in REGIONS {
            for day in DAYS {
                let stamp = day.replace('/', "");
                let key = format!(
                    "AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}T0000Z_abc.json.gz"
                );
                let recs = records(&key, 3);
                s3.put_object(bucket, &key, &log_object(&recs));
                logs.insert(key, recs);
                let digest = format!(
                    "AWSLogs/{ORG}/{account}/CloudTrail-Digest/{region}/{day}/{account}_CloudTrail-Digest_{region}_t_{region}_{stamp}T0000Z.json.gz"
                );
                s3.put_object(
                    bucket,
                    &digest,
                    &gzip(br#"{"digestStartTime":"x","digestEndTime":"y"}"#),
                );
            }
        }
    }
    logs
}

/// Runs `ctrules run` with the server's environment; the output and the
/// JSON summary.
fn run_s3(s3: &MotoServer, input: &str, output: &str, extra: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "iam.rules",
        "when eventSource == \"iam.amazonaws.com\" set xpriority = HIGH\n",
    );
    let summary = dir.path().join("summary.json");
    let mut cmd = ctrules();
    s3.apply_env(&mut cmd);
    cmd.args(["run", "--rules"])
        .arg(&rules)
        .args(["--input", input, "--output", output])
        .args(["--endpoint-url", &s3.endpoint()])
        .args(extra);
    output_and_summary(&mut cmd, &summary)
}

/// The eventIDs in an output object, after checking every line is a whole
/// enriched record.
fn ids_in(body: &[u8]) -> Vec<String> {
    gunzip(body)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                v["xpriority"] == "HIGH",
                v["eventSource"] == "iam.amazonaws.com",
                "{v}"
            );
            v["eventID"].as_str().unwrap().to_string()
        })
        .collect()
}

fn ids_of(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["eventID"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_organisation_trail_is_enriched_into_processed_in_the_same_bucket() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    for round in 0..2 {
        let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &[]);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out));
        assert_eq!(summary["files_processed"], logs.len(), "{summary:#}");
        assert_eq!(
            summary["files_skipped"],
            logs.len(),
            "one digest per log: {summary:#}"
        );
        assert_eq!(summary["events_in"], logs.len() * 3);
        // AWSLogs/X becomes processed/X, and nothing else is written.
        let written = s3.list_keys("trail", "processed/");
        let expected: Vec<String> = logs
            .keys()
            .map(|k| k.replacen("AWSLogs/", "processed/", 1))
            .collect();
        assert_eq!(written, expected, "round {round}");
        for (key, recs) in &logs {
            let body = s3
                .get_object("trail", &key.replacen("AWSLogs/", "processed/", 1))
                .unwrap();
            assert_eq!(ids_in(&body), ids_of(recs));
        }
    }
}

#[test]
fn an_output_prefix_inside_the_input_prefix_is_never_read_back() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    for _ in 0..2 {
        let (out, summary) = run_s3(&s3, "s3://trail/", "s3://trail/AWSLogs/enriched/", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(summary["files_processed"], logs.len(), "{summary:#}");
        assert!(s3
            .list_keys("trail", "AWSLogs/enriched/AWSLogs/enriched/")
            .is_empty());
    }
    let (out, _) = run_s3(&s3, "s3://trail/AWSLogs/x/", "s3://trail/AWSLogs/", &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an input inside its output: {}",
        text(&out)
    );
}

/// Whether a key belongs to what a filter keeps.
type KeyTest = dyn Fn(&str) -> bool;

#[test]
fn each_filter_lists_and_processes_only_its_part_of_the_trail() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    let cases: [(&[&str], &KeyTest); 5] = [
        (&["--account", "444455556666"], &|k| {
            k.contains("/444455556666/")
        }),
        (&["--region", "eu-west-1"], &|k| k.contains("/eu-west-1/")),
        (&["--from", "2024-08-02"], &|k| !k.contains("/2024/08/01/")),
        (&["--to", "2024-08-01"], &|k| k.contains("/2024/08/01/")),
        (
            &[
                "--account",
                "111122223333",
                "--region",
                "us-east-1",
                "--from",
                "2024-08-02",
                "--to",
                "2024-08-31",
            ],
            &|k| {
                k.contains("/111122223333/")
                    && k.contains("/us-east-1/")
                    && k.contains("/2024/08/02/")
            },
        ),
    ];
    // Outputs go to another bucket: a filtered run reads every trail of
    // its input, and the outputs of earlier cases would be trails too.
    s3.create_bucket("outputs");
    for (i, (flags, keeps)) in cases.iter().enumerate() {
        let out_prefix = format!("out{i}/");
        let (out, summary) = run_s3(
            &s3,
            "s3://trail/",
            &format!("s3://outputs/{out_prefix}"),
            flags,
        );
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {}", text(&out));
        let expected: Vec<String> = logs
            .keys()
            .filter(|k| keeps(k))
            .map(|k| format!("{out_prefix}{k}"))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(s3.list_keys("outputs", &out_prefix), expected, "{flags:?}");
        assert_eq!(summary["files_processed"], expected.len(), "{flags:?}");
    }
}

#[test]
fn listings_page_past_a_thousand_objects() {
    let s3 = MotoServer::start();
    s3.create_bucket("big");
    let prefix = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/";
    let n = 1_050;
    for i in 0..n {
        s3.put_object(
            "big",
            &format!("{prefix}{i:05}.json.gz"),
            &log_object(&records(&i.to_string(), 1)),
        );
    }
    let (out, summary) = run_s3(
        &s3,
        "s3://big/",
        "s3://big/processed/",
        &["--concurrency", "64"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], n);
    assert_eq!(summary["events_out"], n);
    assert_eq!(s3.list_keys("big", "processed/").len(), n);
}

#[test]
fn a_corrupt_and_a_missing_object_are_named_and_the_rest_processed() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    let corrupt = "AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_bad.json.gz";
    let mut gz = log_object(&records("bad", 5));
    gz.truncate(gz.len() / 2);
    s3.put_object("trail", corrupt, &gz);
    s3.put_object(
        "trail",
        "AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2024/08/01/empty.json.gz",
        b"",
    );
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len());
    let failed = summary["failed"].to_string();
    assert!(
        failed.contains("bad.json.gz") && failed.contains("gzip"),
        "{failed}"
    );
    assert!(
        summary["skipped"].to_string().contains("an empty object"),
        "{summary:#}"
    );
    assert!(s3
        .get_object("trail", &corrupt.replacen("AWSLogs/", "processed/", 1))
        .is_none());

    // One object asked for by name that is not there.
    let (out, summary) = run_s3(
        &s3,
        &format!("s3://trail/{}", corrupt.replace("bad", "gone")),
        "s3://trail/x/",
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        summary["failed"].to_string().contains("no such object"),
        "{summary:#}"
    );
}

#[test]
fn s3_in_local_out_and_local_in_s3_out() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", local.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len());
    for (key, recs) in &logs {
        let path = local.join(key.strip_prefix("AWSLogs/").unwrap());
        assert_eq!(
            ids_in(&std::fs::read(&path).unwrap()),
            ids_of(recs),
            "{}",
            path.display()
        );
    }

    // And back: the local copies up to another bucket.
    s3.create_bucket("copy");
    let (out, summary) = run_s3(&s3, local.to_str().unwrap(), "s3://copy/enriched/", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len());
    for (key, recs) in &logs {
        let body = s3
            .get_object("copy", &key.replacen("AWSLogs/", "enriched/", 1))
            .unwrap();
        assert_eq!(ids_in(&body), ids_of(recs));
    }
    assert!(Path::new(&local).exists());
}

#[test]
fn s3_to_standard_output_comes_in_key_order() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "-", &["--concurrency", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["events_out"], logs.len() * 3);
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
    let expected: Vec<String> = logs.values().flat_map(|r| ids_of(r)).collect();
    assert_eq!(ids, expected);
}

/// `count` small CloudTrail objects in one day of one account, in `bucket`.
fn flat_trail(s3: &MotoServer, bucket: &str, count: usize) -> BTreeMap<String, Vec<Value>> {
    s3.create_bucket(bucket);
    let mut logs = BTreeMap::new();
    for i in 0..count {
        let key = format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_{i:05}.json.gz");
        let recs = records(&key, 2);
        s3.put_object(bucket, &key, &log_object(&recs));
        logs.insert(key, recs);
    }
    logs
}

/// Every output object under `prefix`, with its body.
fn outputs(s3: &MotoServer, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    s3.list_keys(bucket, prefix)
        .into_iter()
        .map(|k| {
            let body = s3.get_object(bucket, &k).unwrap();
            (k, body)
        })
        .collect()
}

#[test]
fn a_rerun_with_state_does_only_what_is_new_or_changed() {
    let s3 = MotoServer::start();
    let logs = flat_trail(&s3, "trail", 20);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let state_arg = ["--state", state.to_str().unwrap()];
    let (out, summary) = run_s3(
        &s3,
        "s3://trail/AWSLogs/",
        "s3://trail/processed/",
        &state_arg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len());

    // Nothing new: nothing done.
    let (out, summary) = run_s3(
        &s3,
        "s3://trail/AWSLogs/",
        "s3://trail/processed/",
        &state_arg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 0, "{summary:#}");
    assert_eq!(summary["files_already_done"], logs.len());

    // One object changed and one new: those two.
    let changed = logs.keys().next().unwrap().clone();
    s3.put_object("trail", &changed, &log_object(&records("changed", 4)));
    let new = changed.replace("_00000.json.gz", "_99999.json.gz");
    s3.put_object("trail", &new, &log_object(&records("new", 1)));
    let (out, summary) = run_s3(
        &s3,
        "s3://trail/AWSLogs/",
        "s3://trail/processed/",
        &state_arg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 2, "{summary:#}");
    assert_eq!(summary["events_in"], 5);
    let body = s3
        .get_object("trail", &changed.replacen("AWSLogs/", "processed/", 1))
        .unwrap();
    assert_eq!(ids_in(&body), ids_of(&records("changed", 4)));

    // --reprocess: everything.
    let mut again = state_arg.to_vec();
    again.push("--reprocess");
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &again);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len() + 1);
}

#[test]
fn the_output_objects_can_be_the_state() {
    let s3 = MotoServer::start();
    let logs = flat_trail(&s3, "trail", 10);
    let args = ["--state", "output"];
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len());
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_already_done"], logs.len(), "{summary:#}");
    // An output removed is done again.
    let first = logs
        .keys()
        .next()
        .unwrap()
        .replacen("AWSLogs/", "processed/", 1);
    s3.delete_object("trail", &first);
    let (_, summary) = run_s3(&s3, "s3://trail/AWSLogs/", "s3://trail/processed/", &args);
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    assert!(s3.get_object("trail", &first).is_some());
}

#[test]
fn kill_9_in_the_middle_of_an_s3_backfill_then_a_rerun_gives_the_clean_output() {
    let s3 = MotoServer::start();
    let logs = flat_trail(&s3, "trail", 300);
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "iam.rules",
        "when eventSource == \"iam.amazonaws.com\" set xpriority = HIGH\n",
    );
    let command = |out_prefix: &str, state: &Path| {
        let mut cmd = ctrules();
        s3.apply_env(&mut cmd);
        cmd.args(["run", "-q", "--rules"])
            .arg(&rules)
            .args(["--input", "s3://trail/AWSLogs/", "--output", out_prefix])
            .args([
                "--endpoint-url",
                &s3.endpoint(),
                "--concurrency",
                "4",
                "--state",
            ])
            .arg(state);
        cmd
    };
    // A clean run, timed.
    let started = std::time::Instant::now();
    let clean_state = dir.path().join("clean.redb");
    let out = command("s3://trail/clean/", &clean_state).output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let clean: BTreeMap<String, Vec<u8>> = outputs(&s3, "trail", "clean/")
        .into_iter()
        .map(|(k, v)| (k.replacen("clean/", "", 1), v))
        .collect();
    assert_eq!(clean.len(), logs.len());

    // Killed part-way, then run to the end.
    let state = dir.path().join("state.redb");
    let summary = dir.path().join("summary.json");
    let mut child = command("s3://trail/run/", &state).spawn().unwrap();
    std::thread::sleep(took.mul_f64(0.6));
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = s3.list_keys("trail", "run/").len();
    assert!(
        partial > 0 && partial < logs.len(),
        "the kills landed mid-run: {partial} outputs"
    );
    let out = command("s3://trail/run/", &state)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    // What the killed runs had recorded is not done again.
    assert!(
        summary["files_already_done"].as_u64().unwrap() > 0,
        "{summary:#}"
    );
    assert_eq!(
        summary["files_processed"].as_u64().unwrap()
            + summary["files_already_done"].as_u64().unwrap(),
        logs.len() as u64
    );
    let after: BTreeMap<String, Vec<u8>> = outputs(&s3, "trail", "run/")
        .into_iter()
        .map(|(k, v)| (k.replacen("run/", "", 1), v))
        .collect();
    assert_eq!(after, clean, "the same keys, byte-identical bodies");
}

#[test]
fn keys_that_would_leave_the_output_directory_are_refused() {
    let s3 = MotoServer::start();
    s3.create_bucket("trail");
    let good = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/good.json.gz";
    s3.put_object("trail", good, &log_object(&records("good", 2)));
    // A hidden name is not read, as in a local tree.
    s3.put_object("trail", "AWSLogs/.manifest.json", b"{\"not\":\"a log\"}");
    for bad in [
        "AWSLogs//escape.json.gz",
        "AWSLogs/a/../../../escape.json.gz",
        "AWSLogs/./dot.json.gz",
    ] {
        s3.put_object("trail", bad, &log_object(&records("bad", 1)));
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("deep/out");
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", out_dir.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(summary["files_processed"], 1);
    assert_eq!(summary["files_failed"], 3, "{summary:#}");
    assert!(
        summary["failed"]
            .to_string()
            .contains("no safe output name"),
        "{summary:#}"
    );
    // Nothing but the good output, and nothing beside the output directory.
    assert_eq!(
        files_under(dir.path()).len(),
        1,
        "{:?}",
        files_under(dir.path())
    );
}

#[test]
fn two_keys_with_one_output_name_are_not_both_written() {
    let s3 = MotoServer::start();
    s3.create_bucket("trail");
    let plain = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/a.json";
    s3.put_object("trail", plain, &log_object(&records("plain", 2)));
    s3.put_object(
        "trail",
        &format!("{plain}.gz"),
        &log_object(&records("gz", 3)),
    );
    let dir = tempfile::tempdir().unwrap();
    for output in [
        dir.path().join("out").to_str().unwrap().to_string(),
        "s3://trail/processed/".to_string(),
    ] {
        let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", &output, &["--concurrency", "2"]);
        assert_eq!(out.status.code(), Some(3), "{output}: {}", text(&out));
        assert_eq!(summary["files_processed"], 1, "{summary:#}");
        assert!(
            summary["failed"]
                .to_string()
                .contains("would overwrite the output of"),
            "{summary:#}"
        );
    }
    let body = s3
        .get_object(
            "trail",
            "processed/111122223333/CloudTrail/us-east-1/2024/08/01/a.json.gz",
        )
        .unwrap();
    assert_eq!(ids_in(&body), ids_of(&records("plain", 2)));
}

#[test]
fn state_options_that_cannot_work_are_refused() {
    let s3 = MotoServer::start();
    flat_trail(&s3, "trail", 2);
    let dir = tempfile::tempdir().unwrap();
    let local_out = dir.path().join("out");
    let state = dir.path().join("s.redb");
    let cases: [(&str, &str, Vec<&str>); 3] = [
        // standard output keeps no checkpoint
        (
            "s3://trail/AWSLogs/",
            "-",
            vec!["--state", state.to_str().unwrap()],
        ),
        // the output objects as the state need S3 on both sides
        (
            "s3://trail/AWSLogs/",
            local_out.to_str().unwrap(),
            vec!["--state", "output"],
        ),
        (
            local_out.to_str().unwrap(),
            "s3://trail/x/",
            vec!["--state", "output"],
        ),
    ];
    std::fs::create_dir_all(&local_out).unwrap();
    for (input, output, flags) in cases {
        let (out, _) = run_s3(&s3, input, output, &flags);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{input} {output} {flags:?}: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--state"),
            "{}",
            text(&out)
        );
    }
    // --state output --reprocess: everything again, and no state file made.
    let mut cmd = ctrules();
    s3.apply_env(&mut cmd);
    let out = cmd
        .current_dir(dir.path())
        .args(["run", "-q", "--rules"])
        .arg(repo().join("tests/fixtures/rules/iam"))
        .args([
            "--input",
            "s3://trail/AWSLogs/",
            "--output",
            "s3://trail/p/",
            "--endpoint-url",
            &s3.endpoint(),
        ])
        .args(["--state", "output", "--reprocess"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!dir.path().join("output").exists());
}

#[test]
fn s3_to_a_reader_that_stops_early_counts_only_what_was_written() {
    use std::io::{BufRead, BufReader};
    let s3 = MotoServer::start();
    flat_trail(&s3, "trail", 60);
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let mut cmd = ctrules();
    s3.apply_env(&mut cmd);
    let mut child = cmd
        .args(["run", "--rules"])
        .arg(repo().join("tests/fixtures/rules/iam"))
        .args([
            "--input",
            "s3://trail/AWSLogs/",
            "--output",
            "-",
            "--concurrency",
            "8",
        ])
        .args(["--endpoint-url", &s3.endpoint(), "--summary-json"])
        .arg(&summary_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(
        summary["stopped"],
        "standard output was closed by its reader"
    );
    // A pipe holds at most 64 KB: far fewer than the 120 records were written.
    assert!(summary["events_out"].as_u64().unwrap() < 120, "{summary:#}");
}

#[test]
fn an_s3_run_into_a_local_directory_removes_stale_temporaries_there() {
    let s3 = MotoServer::start();
    flat_trail(&s3, "trail", 3);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let day = out_dir.join("111122223333/CloudTrail/us-east-1/2024/08/01");
    std::fs::create_dir_all(&day).unwrap();
    // A temporary of a ctrules that was killed: its PID no longer runs.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = day.join(format!(".x.json.gz.ctrules.{dead}.tmp"));
    std::fs::write(&stale, b"half").unwrap();
    let (out, summary) = run_s3(&s3, "s3://trail/AWSLogs/", out_dir.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 3);
    assert!(!stale.exists());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("removed 1 temporary"),
        "{}",
        text(&out)
    );
}

#[test]
fn filters_read_every_trail_of_the_input_and_a_narrower_prefix_is_its_own_output() {
    let s3 = MotoServer::start();
    s3.create_bucket("two");
    let day = "111122223333/CloudTrail/us-east-1/2024/08/01";
    let keys = [
        format!("AWSLogs/{day}/root.json.gz"),
        format!("mgmt/AWSLogs/{day}/mgmt.json.gz"),
        format!("deep/er/AWSLogs/o-abc123/{day}/deep.json.gz"),
    ];
    for (i, key) in keys.iter().enumerate() {
        s3.put_object("two", key, &log_object(&records(key, i + 2)));
    }
    let (out, summary) = run_s3(&s3, "s3://two/", "-", &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], 3, "{summary:#}");
    assert_eq!(summary["events_out"], 2 + 3 + 4);

    // With a state file: the same object under a narrower input prefix has
    // another output name, so it is not done yet.
    s3.create_bucket("outs");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.redb");
    let args = ["--state", state.to_str().unwrap()];
    let (_, summary) = run_s3(&s3, "s3://two/AWSLogs/", "s3://outs/p/", &args);
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    let (_, summary) = run_s3(&s3, "s3://two/AWSLogs/111122223333/", "s3://outs/p/", &args);
    assert_eq!(summary["files_processed"], 1, "{summary:#}");
    assert!(s3
        .get_object("outs", "p/CloudTrail/us-east-1/2024/08/01/root.json.gz")
        .is_some());
}

#[test]
fn an_object_named_by_key_is_read_whatever_its_name_and_nothing_found_is_said() {
    let s3 = MotoServer::start();
    s3.create_bucket("odd");
    let key = "pfx/AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/README.txt";
    s3.put_object("odd", key, &log_object(&records("readme", 3)));
    let (out, summary) = run_s3(&s3, &format!("s3://odd/{key}"), "-", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["events_out"], 3, "{summary:#}");
    // A prefix with nothing under it says so.
    let (out, summary) = run_s3(&s3, "s3://odd/typo-prefix/", "-", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        summary["skipped"]
            .to_string()
            .contains("nothing is stored under this prefix"),
        "{summary:#}"
    );
    // One object named, outside the filters: skipped, and said.
    let (_, summary) = run_s3(
        &s3,
        &format!("s3://odd/{key}"),
        "-",
        &["--from", "2024-08-02"],
    );
    assert_eq!(summary["files_processed"], 0);
    assert!(
        summary["skipped"].to_string().contains("outside"),
        "{summary:#}"
    );
}

#[test]
fn zstd_outputs_in_s3_are_named_zst_and_hold_every_record() {
    let s3 = MotoServer::start();
    let logs = org_trail(&s3, "trail");
    let (out, summary) = run_s3(
        &s3,
        "s3://trail/AWSLogs/",
        "s3://trail/zst/",
        &["--compression", "zstd"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["files_processed"], logs.len(), "{summary:#}");
    let expected: Vec<String> = logs
        .keys()
        .map(|k| {
            k.replacen("AWSLogs/", "zst/", 1)
                .replace(".json.gz", ".json.zst")
        })
        .collect();
    assert_eq!(s3.list_keys("trail", "zst/"), expected);
    for (key, recs) in &logs {
        let key = key
            .replacen("AWSLogs/", "zst/", 1)
            .replace(".json.gz", ".json.zst");
        let body = s3.get_object("trail", &key).unwrap();
        let plain = zstd::stream::decode_all(&body[..]).unwrap();
        assert_eq!(ids_in(&gzip(&plain)), ids_of(recs), "{key}");
    }
}

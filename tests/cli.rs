//! End-to-end tests of the `ctrules` binary over real files: the CloudTrail
//! corpus in tests/fixtures, generated trees in the `AWSLogs/` layout, and
//! malformed inputs. Every count is checked against an independent reading of
//! the input with serde_json.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

mod support;
use support::*;

/// The records of an input file, read independently of ctrules; `None` when
/// it is not a log file.
fn expected_records(path: &Path) -> Option<Vec<Value>> {
    let bytes = std::fs::read(path).ok()?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .ok()?;
        s
    } else {
        String::from_utf8(bytes).ok()?
    };
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return match v {
            Value::Object(ref m) if m.contains_key("Records") => m["Records"].as_array().cloned(),
            // `aws cloudtrail lookup-events` output
            Value::Object(ref m) if m.contains_key("Events") => {
                m["Events"].as_array().map(|events| {
                    events
                        .iter()
                        .map(|e| match e.get("CloudTrailEvent").and_then(Value::as_str) {
                            Some(text) => serde_json::from_str(text).unwrap(),
                            None => e.clone(),
                        })
                        .collect()
                })
            }
            Value::Array(items) => Some(items),
            Value::Object(ref m)
                if m.contains_key("eventVersion") || m.contains_key("eventName") =>
            {
                Some(vec![v])
            }
            _ => None,
        };
    }
    let lines: Result<Vec<Value>, _> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect();
    lines.ok().filter(|l| {
        l.iter()
            .all(|v| v.get("eventVersion").is_some() || v.get("eventName").is_some())
    })
}

fn output_lines(path: &Path) -> Vec<Value> {
    gunzip(&std::fs::read(path).unwrap())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn is_iam(record: &Value) -> bool {
    record.get("eventSource") == Some(&json!("iam.amazonaws.com"))
}

fn failed_files(summary: &Value) -> Vec<String> {
    summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect()
}

fn cause_of(summary: &Value, file_suffix: &str) -> String {
    summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .chain(summary["skipped"].as_array().unwrap())
        .find(|f| f["file"].as_str().unwrap().ends_with(file_suffix))
        .map(|f| f["cause"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{file_suffix} is not named in the summary: {summary:#}"))
}

/// The rules the pipeline tests run with: one IAM rule, so that the output
/// is known exactly from the input.
fn iam_rules() -> PathBuf {
    repo().join("tests/fixtures/rules/iam")
}

/// An output record split into its input record and the fields rules added
/// (those starting with `x` that the input did not have).
fn split_enrichment(out: &Value, input: &Value) -> (Value, serde_json::Map<String, Value>) {
    let mut record = out.as_object().unwrap().clone();
    let mut added = serde_json::Map::new();
    let keys: Vec<String> = record.keys().cloned().collect();
    for k in keys {
        if k.starts_with('x') && input.get(&k).is_none() {
            added.insert(k.clone(), record.remove(&k).unwrap());
        }
    }
    (Value::Object(record), added)
}

/// Checks that every output holds exactly its input's records, in order,
/// each unchanged but for the enrichment, and returns each input record
/// with the fields added to it.
fn outputs_match_inputs(
    input_root: &Path,
    output_root: &Path,
    summary: &Value,
) -> Vec<(Value, serde_json::Map<String, Value>)> {
    let failed = failed_files(summary);
    let mut pairs = Vec::new();
    for input in files_under(input_root) {
        let rel = input.strip_prefix(input_root).unwrap();
        let mut out_rel = rel.as_os_str().to_owned();
        if !rel.to_string_lossy().ends_with(".gz") {
            out_rel.push(".gz");
        }
        let out_path = output_root.join(out_rel);
        let name = input.display().to_string();
        match expected_records(&input) {
            Some(records) if !failed.contains(&name) => {
                let lines = output_lines(&out_path);
                assert_eq!(
                    lines.len(),
                    records.len(),
                    "{name}: one output line per input record"
                );
                for (inp, out) in records.into_iter().zip(&lines) {
                    let (stripped, added) = split_enrichment(out, &inp);
                    assert_eq!(
                        stripped, inp,
                        "{name}: record changed beyond the enrichment"
                    );
                    pairs.push((inp, added));
                }
            }
            _ => assert!(
                !out_path.exists(),
                "{name}: a file that is not a log must have no output"
            ),
        }
    }
    assert!(
        files_under(output_root).iter().all(|p| !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(".tmp")),
        "temporary files left behind"
    );
    pairs
}

/// Checks the IAM rule's effect: `xpriority = HIGH` on IAM events and only
/// on them. Returns the number of records seen.
fn assert_outputs_match_inputs(input_root: &Path, output_root: &Path, summary: &Value) -> usize {
    let pairs = outputs_match_inputs(input_root, output_root, summary);
    for (inp, added) in &pairs {
        let priority = added.get("xpriority");
        if is_iam(inp) {
            assert_eq!(
                priority,
                Some(&json!("HIGH")),
                "IAM event without xpriority: {inp}"
            );
        } else {
            assert_eq!(priority, None, "non-IAM event with xpriority: {inp}");
        }
    }
    pairs.len()
}

#[test]
fn shipped_rules_check_clean() {
    let out = ctrules()
        .arg("check")
        .arg(repo().join("rules.d"))
        .arg("--geoip")
        .arg(country_db())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 errors, 0 warnings"),
        "{}",
        text(&out)
    );
}

#[test]
fn run_over_the_corpus_enriches_every_record_and_names_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("tests/fixtures/corpus/cloudtrail");
    let output = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(), &input, &output, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "partial: one corpus file is malformed\n{}",
        text(&out)
    );

    let malformed = "cloudtrail2sightings/aws.execution.ec2-user-data.json";
    let cause = cause_of(&summary, malformed);
    assert!(
        cause.contains("invalid JSON") && cause.contains("line 112"),
        "{cause}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(malformed),
        "named on stderr too"
    );
    assert!(cause_of(&summary, "digest-file-structure__01.json").contains("digest"));

    let records = assert_outputs_match_inputs(&input, &output, &summary);
    assert_eq!(summary["events_in"].as_u64().unwrap() as usize, records);
    assert_eq!(summary["events_out"], summary["events_in"]);
    let iam = summary["matches"][0]["events"].as_u64().unwrap();
    assert!(iam > 10, "the corpus has IAM events: {summary:#}");
}

/// Writes a tree of gzipped CloudTrail files in the layout CloudTrail uses
/// in S3, plus broken files. Returns the number of good records.
fn generate_awslogs_tree(root: &Path) -> usize {
    generate_tree(root, &|i| {
        if i % 3 == 0 {
            "AWS Internal".to_string()
        } else {
            format!("81.2.69.{}", i % 250)
        }
    })
}

/// An `AWSLogs/` tree of 24 files whose record `i` of each file comes from
/// `address(i)`.
fn generate_tree(root: &Path, address: &dyn Fn(usize) -> String) -> usize {
    let services = [
        ("iam.amazonaws.com", "CreateUser"),
        ("s3.amazonaws.com", "GetObject"),
        ("ec2.amazonaws.com", "RunInstances"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("iam.amazonaws.com", "AttachUserPolicy"),
        ("kms.amazonaws.com", "Decrypt"),
    ];
    let identities = [
        json!({"type": "IAMUser", "userName": "alice", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:user/alice"}),
        json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/bob", "sessionContext": {"sessionIssuer": {"userName": "Admin"}}}),
        json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
        json!({"type": "Root", "accountId": "111122223333"}),
    ];
    let mut n = 0;
    let mut total = 0;
    for account in ["111122223333", "444455556666"] {
        for region in ["us-east-1", "eu-west-1"] {
            for day in 1..=3 {
                for file in 0..2 {
                    let count = 1 + (n * 7) % 40;
                    let records: Vec<Value> = (0..count)
                        .map(|i| {
                            let (source, name) = services[(n + i) % services.len()];
                            json!({
                                "eventVersion": "1.08",
                                "userIdentity": identities[(n + i) % identities.len()],
                                "eventTime": format!("2024-03-{day:02}T{:02}:{:02}:00Z", file * 5, i % 60),
                                "eventSource": source,
                                "eventName": name,
                                "awsRegion": region,
                                "sourceIPAddress": address(i),
                                "requestParameters": if i % 4 == 0 { Value::Null } else { json!({"userName": format!("u{i}"), "nested": {"list": [1, 2.5, "x\ny \"q\" é"]}}) },
                                "eventID": format!("{account}-{n}-{i}"),
                                "readOnly": i % 2 == 0,
                                "recipientAccountId": account,
                            })
                        })
                        .collect();
                    total += records.len();
                    let dir = root.join(format!(
                        "AWSLogs/{account}/CloudTrail/{region}/2024/03/{day:02}"
                    ));
                    std::fs::create_dir_all(&dir).unwrap();
                    let name = format!(
                        "{account}_CloudTrail_{region}_202403{day:02}T{:02}00Z_{n:016X}.json.gz",
                        file * 5
                    );
                    // Pretty-printed half the time: output must still be one line per record.
                    let body = if n % 2 == 0 {
                        serde_json::to_vec(&json!({"Records": records}))
                    } else {
                        serde_json::to_vec_pretty(&json!({"Records": records}))
                    };
                    std::fs::write(dir.join(name), gzip(&body.unwrap())).unwrap();
                    n += 1;
                }
            }
        }
    }
    let bad = root.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/04");
    std::fs::create_dir_all(&bad).unwrap();
    let good = gzip(br#"{"Records":[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser"}]}"#);
    std::fs::write(bad.join("truncated.json.gz"), &good[..good.len() - 12]).unwrap();
    std::fs::write(bad.join("empty.json.gz"), b"").unwrap();
    std::fs::write(bad.join("empty-gzip.json.gz"), gzip(b"")).unwrap();
    std::fs::write(
        bad.join("not-json.json.gz"),
        gzip(b"<html>Access Denied</html>"),
    )
    .unwrap();
    std::fs::write(
        bad.join("wrong-shape.json.gz"),
        gzip(br#"{"Records":{"eventName":"CreateUser"}}"#),
    )
    .unwrap();
    std::fs::write(bad.join("wrong-shape-object.json"), br#"{"hello":"world"}"#).unwrap();
    std::fs::write(
        bad.join("invalid-json.json.gz"),
        gzip(
            b"{\"Records\":[{\"eventName\":\"A\"},\n{\"eventName\":\"B\"} {\"eventName\":\"C\"}]}",
        ),
    )
    .unwrap();
    let digest = root.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/04");
    std::fs::create_dir_all(&digest).unwrap();
    std::fs::write(
        digest.join("111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240304T000000Z.json.gz"),
        gzip(br#"{"awsAccountId":"111122223333","digestStartTime":"2024-03-03T23:00:00Z","digestEndTime":"2024-03-04T00:00:00Z","digestS3Bucket":"b","digestS3Object":"o","logFiles":[]}"#),
    )
    .unwrap();
    total
}

#[test]
fn run_over_an_awslogs_tree_keeps_every_record_and_reports_each_bad_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let expected = generate_awslogs_tree(&input);
    let output = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(), &input, &output, &["--jobs", "2"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    let causes: BTreeMap<&str, &str> = [
        ("truncated.json.gz", "truncated or corrupt gzip"),
        ("/empty.json.gz", "empty file"),
        ("empty-gzip.json.gz", "empty file"),
        (
            "not-json.json.gz",
            "not JSON: the text starts with byte 0x3c",
        ),
        (
            "wrong-shape.json.gz",
            "expected an array of CloudTrail records",
        ),
        ("wrong-shape-object.json", "without CloudTrail fields"),
        ("invalid-json.json.gz", "line 2, column"),
        ("20240304T000000Z.json.gz", "digest"),
    ]
    .into();
    for (file, needle) in &causes {
        let cause = cause_of(&summary, file);
        assert!(cause.contains(needle), "{file}: {cause}");
    }
    assert_eq!(summary["files_failed"], 7, "{summary:#}");
    assert_eq!(summary["files_skipped"], 1, "{summary:#}");
    assert_eq!(summary["files_processed"], 24, "{summary:#}");

    let seen = assert_outputs_match_inputs(&input, &output, &summary);
    assert_eq!(seen, expected);
    assert_eq!(summary["events_in"].as_u64().unwrap() as usize, expected);
    assert_eq!(summary["events_out"].as_u64().unwrap() as usize, expected);
}

#[test]
fn a_broken_record_is_rejected_by_place_and_the_rest_of_its_file_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let good = |name: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"{name}"}}"#
        )
    };
    let body = format!(
        "{{\"Records\":[{},\n{},\n{{\"eventName\":\"B\",\"requestParameters\":{{\"a\":tru}}}},\n{}]}}",
        good("A1"),
        good("A2"),
        good("A3")
    );
    std::fs::write(input.join("one.json.gz"), gzip(body.as_bytes())).unwrap();
    let output = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(), &input, &output, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(summary["events_in"], 4, "{summary:#}");
    assert_eq!(summary["events_out"], 3, "{summary:#}");
    assert_eq!(summary["events_rejected"], 1, "{summary:#}");
    let rejected = summary["rejected"][0].to_string();
    assert!(rejected.contains("one.json.gz"), "{rejected}");
    assert!(rejected.contains("record 2"), "{rejected}");
    assert!(rejected.contains("line 3, column 46"), "{rejected}");
    let names: Vec<String> = output_lines(&output.join("one.json.gz"))
        .iter()
        .map(|record| record["eventName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["A1", "A2", "A3"]);
}

#[test]
fn output_is_byte_identical_whatever_the_parallelism() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate_awslogs_tree(&input);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&iam_rules(), &input, &a, &["--jobs", "1"]);
    run(&iam_rules(), &input, &b, &["--jobs", "2"]);
    let files_a = files_under(&a);
    assert!(files_a.len() >= 24);
    for fa in files_a {
        let fb = b.join(fa.strip_prefix(&a).unwrap());
        assert_eq!(
            std::fs::read(&fa).unwrap(),
            std::fs::read(&fb).unwrap(),
            "{}",
            fa.display()
        );
    }
}

#[test]
fn the_bundled_sample_logs_run_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("tests/fixtures/sample-logs");
    let (out, summary) = run(&iam_rules(), &input, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let records = assert_outputs_match_inputs(&input, &tmp.path().join("out"), &summary);
    assert!(records > 300);
}

#[test]
fn stdin_to_stdout_streams_plain_ndjson_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "r.rules",
        r#"
        rule console_login {
          when eventName == "ConsoleLogin" and additionalEventData.MFAUsed != "Yes"
          set xpriority = MEDIUM
          set xuser = userIdentity.userName
          tag "no-mfa"
        }
        when eventSource == "iam.amazonaws.com" set xpriority = HIGH
        "#,
    );
    let input = "{\"eventName\":\"ConsoleLogin\",\"userIdentity\":{\"userName\":\"ann\"},\"additionalEventData\":{\"MFAUsed\":\"No\"}}\n\
                 {\"eventName\":\"ConsoleLogin\",\"eventSource\":\"iam.amazonaws.com\",\"additionalEventData\":{\"MFAUsed\":\"Yes\"}}\n\
                 {\"eventName\":\"GetObject\", \"eventSource\": \"s3.amazonaws.com\"}\n";
    let out = with_stdin(
        ctrules()
            .args(["run", "--rules"])
            .arg(&rules)
            .args(["--input", "-", "--output", "-"]),
        input,
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"eventName":"ConsoleLogin","userIdentity":{"userName":"ann"},"additionalEventData":{"MFAUsed":"No"},"xpriority":"MEDIUM","xuser":"ann","xtags":["no-mfa"],"xrules":["console_login"]}"#,
            r#"{"eventName":"ConsoleLogin","eventSource":"iam.amazonaws.com","additionalEventData":{"MFAUsed":"Yes"},"xpriority":"HIGH","xrules":["r:8"]}"#,
            r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com"}"#,
        ]
    );
}

#[test]
fn dropped_events_are_counted_not_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "drop.rules",
        "rule quiet { when eventSource == \"kms.amazonaws.com\" drop }\n",
    );
    let input = tmp.path().join("in");
    generate_awslogs_tree(&input);
    let (out, summary) = run(&rules, &input, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(3));
    let dropped = summary["events_dropped"].as_u64().unwrap();
    assert!(dropped > 0);
    assert_eq!(summary["matches"][0]["events"].as_u64().unwrap(), dropped);
    assert_eq!(
        summary["events_in"].as_u64().unwrap() - dropped,
        summary["events_out"].as_u64().unwrap()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{dropped} dropped by rules")));
    for f in files_under(&tmp.path().join("out")) {
        if f.extension().is_some_and(|e| e == "gz") {
            assert!(output_lines(&f)
                .iter()
                .all(|r| r["eventSource"] != "kms.amazonaws.com"));
        }
    }
}

#[test]
fn rules_with_errors_stop_the_run_before_any_output() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "bad.rules",
        "when eventName = \"CreateUser\" set xpriority = HIGH\n",
    );
    let output = tmp.path().join("out");
    let (out, _) = run(
        &rules,
        &repo().join("tests/fixtures/sample-logs"),
        &output,
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("E101") && stderr.contains("bad.rules:1:16"),
        "{stderr}"
    );
    assert!(!output.exists() || files_under(&output).is_empty());
}

#[test]
fn missing_rules_directory_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = run(
        &tmp.path().join("no-rules"),
        &repo().join("tests/fixtures/sample-logs"),
        &tmp.path().join("out"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-rules"));
}

#[test]
fn lookup_events_output_is_read_pretty_or_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let event = |name: &str| json!({"CloudTrailEvent": json!({"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": name}).to_string()});
    let doc = json!({"Events": [event("CreateUser"), event("DeleteUser")], "NextToken": "x"});
    std::fs::write(
        input.join("pretty.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
    std::fs::write(
        input.join("compact.json"),
        serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    let (out, summary) = run(&iam_rules(), &input, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in ["pretty.json.gz", "compact.json.gz"] {
        let lines = output_lines(&tmp.path().join("out").join(name));
        assert_eq!(
            lines
                .iter()
                .map(|l| l["eventName"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["CreateUser", "DeleteUser"]
        );
        assert!(lines.iter().all(|l| l["xpriority"] == "HIGH"));
    }
    assert_eq!(summary["events_in"], 4);
}

#[test]
fn missing_input_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = run(
        &repo().join("rules.d"),
        &tmp.path().join("nope"),
        &tmp.path().join("out"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn check_reports_place_and_help_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "typo.rules",
        "macro is_iam = eventSource == \"iam.amazonaws.com\"\n\nwhen is_iamm set xpriority = HIGH\n",
    );
    let human = ctrules().arg("check").arg(&rules).output().unwrap();
    assert_eq!(human.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert!(
        stdout.contains("E203")
            && stdout.contains("did you mean `is_iam`?")
            && stdout.contains("typo.rules:3:6"),
        "{stdout}"
    );

    let json_out = ctrules()
        .arg("check")
        .arg(&rules)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(doc["errors"], 1);
    let d = &doc["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("E203"), Some(3), Some(6))
    );

    let gh = ctrules()
        .arg("check")
        .arg(&rules)
        .args(["--format", "github"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&gh.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        line.starts_with("::error file=")
            && line.contains(",line=3,col=6,")
            && line.contains("::E203: unknown macro"),
        "{line}"
    );
}

// ---- The shipped rules with their context ---------------------------------------

fn country_db() -> PathBuf {
    repo().join("tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb")
}

/// `ctrules run` with the shipped rules.d and MaxMind's test country database.
fn run_shipped_rules(input: &Path, output: &Path) -> (Output, Value) {
    let geoip = country_db();
    run(
        &repo().join("rules.d"),
        input,
        output,
        &["--geoip", geoip.to_str().unwrap()],
    )
}

/// The country of an address by MaxMind's own source data for the test
/// database (the most specific network holding it), read independently of
/// ctrules and of the .mmdb file.
fn country_by_source_data(address: &str) -> Option<String> {
    use std::net::IpAddr;
    let ip: IpAddr = address.parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let (bits, width) = as_bits(ip);
    let mut best: Option<&SourceNetwork> = None;
    for network in source_networks() {
        let (net_bits, net_width, len, _) = network;
        if *net_width != width {
            continue;
        }
        let shift = width - len;
        let inside = *len == 0 || (bits >> shift) == (net_bits >> shift);
        if inside && best.is_none_or(|b| len > &b.2) {
            best = Some(network);
        }
    }
    best.and_then(|b| b.3.clone())
}

fn as_bits(ip: std::net::IpAddr) -> (u128, u32) {
    match ip {
        std::net::IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
        std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// A network of the source data: address bits, width, prefix length, country.
type SourceNetwork = (u128, u32, u32, Option<String>);

/// The networks of the test database's source data, read once.
fn source_networks() -> &'static [SourceNetwork] {
    use std::net::IpAddr;
    static NETWORKS: std::sync::OnceLock<Vec<SourceNetwork>> = std::sync::OnceLock::new();
    NETWORKS.get_or_init(|| {
        let text = std::fs::read_to_string(
            repo().join("tests/fixtures/mmdb/source-data/GeoIP2-Country-Test.json"),
        )
        .unwrap();
        let entries: Vec<BTreeMap<String, Value>> = serde_json::from_str(&text).unwrap();
        let mut out = Vec::new();
        for (net, data) in entries.iter().flatten() {
            let (addr, len) = net.split_once('/').unwrap();
            let net_ip: IpAddr = addr.parse().unwrap();
            let mut len: u32 = len.parse().unwrap();
            // The source writes IPv4 networks in the IPv6 tree: `::81.2.69.160/123`.
            let net_ip = match net_ip {
                IpAddr::V6(v6) if u128::from(v6) >> 32 == 0 && len >= 96 => {
                    len -= 96;
                    IpAddr::V4(std::net::Ipv4Addr::from(u128::from(v6) as u32))
                }
                other => other,
            };
            let (bits, width) = as_bits(net_ip);
            let code = data["country"]["iso_code"].as_str().map(str::to_string);
            out.push((bits, width, len, code));
        }
        out
    })
}

#[test]
fn country_is_set_exactly_on_events_from_non_us_addresses() {
    // Addresses the test database knows (GB, SE, US, JP, BT, CN, and an
    // anycast network with no country), ones it does not, and values
    // CloudTrail writes that are not one address.
    let pool = [
        "81.2.69.160",
        "89.160.20.112",
        "216.160.83.56",
        "2001:218::1",
        "::ffff:81.2.69.142",
        "67.43.156.1",
        "175.16.199.7",
        "214.1.1.9",
        "149.101.100.3",
        "8.8.8.8",
        "10.0.0.1",
        "AWS Internal",
        "ec2.amazonaws.com",
        "81.2.69.142, 192.168.10.10",
        "253.252.51.07",
        "2001:220::1",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate_tree(&input, &|i| pool[i % pool.len()].to_string());
    let output = tmp.path().join("out");
    let (out, summary) = run_shipped_rules(&input, &output);
    // The tree has its malformed files too: partial, each named.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let pairs = outputs_match_inputs(&input, &output, &summary);
    assert!(pairs.len() > 300);
    let mut foreign = 0;
    let mut countries = std::collections::BTreeSet::new();
    for (inp, added) in &pairs {
        let address = inp["sourceIPAddress"].as_str().unwrap();
        let expected = country_by_source_data(address).filter(|c| c != "US");
        assert_eq!(
            added.get("xcountry_code").and_then(Value::as_str),
            expected.as_deref(),
            "xcountry_code of {address}"
        );
        if let Some(code) = expected {
            foreign += 1;
            countries.insert(code);
            assert_eq!(added["xpriority"], "HIGH", "{address}");
        } else if !is_iam(inp) {
            assert_ne!(added.get("xpriority"), Some(&json!("HIGH")), "{address}");
        }
    }
    assert!(foreign > 50, "{foreign} foreign events");
    let countries: Vec<&str> = countries.iter().map(String::as_str).collect();
    assert_eq!(countries, ["BT", "CN", "GB", "JP", "KR", "SE"]);
}

#[test]
fn the_bundled_sample_logs_run_with_the_shipped_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("tests/fixtures/sample-logs");
    let output = tmp.path().join("out");
    let (out, summary) = run_shipped_rules(&input, &output);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pairs = outputs_match_inputs(&input, &output, &summary);
    assert!(pairs.len() > 300);
    let users = std::fs::read_to_string(repo().join("rules.d/lookups/users.csv")).unwrap();
    let team_of: BTreeMap<&str, &str> = users
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            Some((*cells.first()?, *cells.get(1)?))
        })
        .collect();
    let mut on_vacation = 0;
    for (inp, added) in &pairs {
        if is_iam(inp) {
            assert_eq!(added["xpriority"], "HIGH", "{inp}");
        }
        let identity = &inp["userIdentity"];
        if identity["type"] == "IAMUser" {
            let name = identity["userName"].as_str().unwrap_or_default();
            if !name.is_empty() {
                assert_eq!(added["xactor"], name, "{inp}");
            }
            assert_eq!(
                added.get("xteam").and_then(Value::as_str),
                team_of.get(name).copied(),
                "{inp}"
            );
            // christophe is away from 2024-08-02 to 2024-08-09 (UTC days).
            let day = inp["eventTime"]
                .as_str()
                .unwrap()
                .get(..10)
                .unwrap_or_default();
            let away = name == "christophe" && ("2024-08-02".."2024-08-10").contains(&day);
            assert_eq!(
                added.get("xon_vacation") == Some(&json!(true)),
                away,
                "{inp}"
            );
            on_vacation += away as usize;
        }
    }
    assert!(on_vacation > 50);
}

// ---- ctrules test -------------------------------------------------------------------

#[test]
fn the_shipped_rules_pass_their_tests_and_each_is_tested_both_ways() {
    let out = ctrules()
        .args(["test", "--deny-untested"])
        .arg(repo().join("rules.d"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn a_failing_rule_test_shows_expected_against_actual() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "iam.rules",
        "rule iam { when eventSource == \"iam.amazonaws.com\" set xpriority = HIGH }\nrule untested { when eventName == \"Nothing\" tag \"x\" }\n",
    );
    std::fs::write(
        rules.join("iam.test.json"),
        r#"{"tests": [
            {"name": "right", "event": {"eventSource": "iam.amazonaws.com"}, "matches": ["iam"], "enrichment": {"xpriority": "HIGH"}},
            {"name": "wrong priority", "event": {"eventSource": "iam.amazonaws.com"}, "matches": ["iam"], "enrichment": {"xpriority": "LOW"}},
            {"name": "wrong verdict", "event": {"eventSource": "s3.amazonaws.com"}, "matches": ["iam"]},
            {"name": "misspelt id", "event": {"eventSource": "s3.amazonaws.com"}, "not_matches": ["iamm"]}
        ]}"#,
    )
    .unwrap();
    std::fs::write(
        rules.join("broken.test.json"),
        "{\"tests\": [{\"name\": 1}]}",
    )
    .unwrap();
    let out = ctrules().arg("test").arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok     ") && stdout.contains("\"right\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("  - xpriority: \"LOW\"\n  + xpriority: \"HIGH\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("rule `iam`: expected to match, but it did not"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no rule has id `iamm`; did you mean `iam`?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("broken.test.json: not a test file"),
        "{stdout}"
    );
    assert!(stdout.contains("line 1"), "{stdout}");
    assert!(stdout.contains("1 passed, 4 failed"), "{stdout}");
    assert!(stdout.contains("rule `untested`"), "{stdout}");

    // Passing tests but an untested rule: a failure only when asked.
    std::fs::remove_file(rules.join("broken.test.json")).unwrap();
    std::fs::write(
        rules.join("iam.test.json"),
        r#"{"tests": [{"name": "iam", "event": {"eventSource": "iam.amazonaws.com"}, "matches": ["iam"]},
                      {"name": "s3", "event": {"eventSource": "s3.amazonaws.com"}, "not_matches": ["iam"]}]}"#,
    )
    .unwrap();
    let out = ctrules().arg("test").arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: rule `untested`"));
    // `--quiet` prints only failures and the summary: no warnings.
    let out = ctrules().args(["test", "-q"]).arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 passed, 0 failed (1 test files, 2 rules)\n",
        "{}",
        text(&out)
    );
    let out = ctrules()
        .args(["test", "--deny-untested"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rule `untested`"));
    // An untested rule is a failure with `--deny-untested`, so `--quiet` shows it.
    let out = ctrules()
        .args(["test", "--quiet", "--deny-untested"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED rule `untested`"));
}

// ---- ctrules fmt --------------------------------------------------------------

fn fmt(args: &[&str], paths: &[&Path]) -> Output {
    ctrules()
        .arg("fmt")
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

#[test]
fn fmt_check_names_unformatted_files_then_fmt_rewrites_them() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(tmp.path(), "a.rules", "# a\nwhen a==1   set x=2\n");
    std::fs::write(rules.join("b.rules"), "when b == 1 set y = 2\n").unwrap();
    std::fs::create_dir(rules.join("sub")).unwrap();
    std::fs::write(rules.join("sub/c.rules"), "rule c { when c exists drop }").unwrap();
    std::fs::write(rules.join("notes.txt"), "when   not rules").unwrap();
    let before = |name: &str| std::fs::read_to_string(rules.join(name)).unwrap();
    let (a, b, c) = (before("a.rules"), before("b.rules"), before("sub/c.rules"));

    let out = fmt(&["--check"], &[&rules]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("--- ") && stdout.contains("a.rules"),
        "{stdout}"
    );
    assert!(stdout.contains("sub/c.rules"), "{stdout}");
    assert!(!stdout.contains("b.rules"), "{stdout}");
    assert!(
        stdout.contains("@@ -1,2 +1,2 @@\n # a\n-when a==1   set x=2\n+when a == 1 set x = 2\n"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 files would be reformatted, 1 already formatted"),
        "{}",
        text(&out)
    );
    // --check changes nothing.
    assert_eq!(
        (before("a.rules"), before("b.rules"), before("sub/c.rules")),
        (a, b.clone(), c)
    );

    let out = fmt(&[], &[&rules]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("reformatted") && stdout.contains("a.rules"),
        "{stdout}"
    );
    assert!(!stdout.contains("b.rules"), "{stdout}");
    assert_eq!(before("a.rules"), "# a\nwhen a == 1 set x = 2\n");
    assert_eq!(before("b.rules"), b);
    assert_eq!(
        before("sub/c.rules"),
        "rule c {\n  when c exists\n  drop\n}\n"
    );
    assert_eq!(before("notes.txt"), "when   not rules");
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&rules).unwrap().count(), 4);

    let out = fmt(&["--check"], &[&rules]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn fmt_reports_a_file_that_does_not_parse_and_formats_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(tmp.path(), "bad.rules", "when eventName = \"x\" drop\n");
    std::fs::write(rules.join("good.rules"), "when  eventName==\"x\" drop").unwrap();
    for check in [true, false] {
        let args: &[&str] = if check { &["--check"] } else { &[] };
        let out = fmt(args, &[&rules]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("E101") && stderr.contains("bad.rules:1:16"),
            "{stderr}"
        );
        assert!(stderr.contains("1 not formatted"), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("good.rules"));
    }
    assert_eq!(
        std::fs::read_to_string(rules.join("bad.rules")).unwrap(),
        "when eventName = \"x\" drop\n"
    );
    assert_eq!(
        std::fs::read_to_string(rules.join("good.rules")).unwrap(),
        "when eventName == \"x\" drop\n"
    );
}

#[test]
fn fmt_dash_formats_standard_input_to_standard_output() {
    let run =
        |args: &[&str], input: &str| with_stdin(ctrules().arg("fmt").args(args).arg("-"), input);
    let out = run(&[], "when a==1 drop # c");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "when a == 1 drop  # c\n"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out));

    let out = run(&["--check"], "when a==1 drop\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("-when a==1 drop\n+when a == 1 drop\n"));
    let out = run(&["--check"], "when a == 1 drop\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(&[], "when a = 1 drop\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("<stdin>:1:8"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_shipped_rules_are_formatted() {
    let out = fmt(
        &["--check"],
        &[
            &repo().join("rules.d"),
            &repo().join("tests/fixtures/rules"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Runs `rules` over the file `input` (its bytes given) to standard output,
/// with a JSON summary.
fn run_to_stdout(rules: &Path, dir: &Path, input: &[u8]) -> (Output, Value) {
    let path = dir.join("in.json");
    std::fs::write(&path, input).unwrap();
    let summary = dir.join("summary.json");
    let mut cmd = ctrules();
    cmd.args(["run", "--rules"])
        .arg(rules)
        .arg("--input")
        .arg(&path)
        .args(["--output", "-"]);
    output_and_summary(&mut cmd, &summary)
}

#[test]
fn a_rewritten_record_keeps_every_field_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "a.rules",
        "rule redact {\n when eventName exists\n overwrite userIdentity.accessKeyId = \"X\"\n}\n",
    );
    let input = r#"{"Records":[{"eventVersion":"1.08","eventName":"GetObject","eventSource":"s3.amazonaws.com","userIdentity":{"type":"IAMUser","accessKeyId":"AKIA"},"requestParameters":{"v":1e400,"z":-0,"n":12345678901234567890123456789,"s":"\ud800"}},
      {"eventName":"B","xrules":["earlier"], "responseElements": {"d": [[[1e400]]]}}]}"#;
    let (out, summary) = run_to_stdout(&rules, tmp.path(), input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["events_out"], 2, "{summary:#}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        concat!(
            r#"{"eventVersion":"1.08","eventName":"GetObject","eventSource":"s3.amazonaws.com","userIdentity":{"type":"IAMUser","accessKeyId":"X"},"requestParameters":{"v":1e400,"z":-0,"n":12345678901234567890123456789,"s":"\ud800"},"xrules":["redact"]}"#,
            "\n",
            r#"{"eventName":"B","xrules":["redact"],"responseElements":{"d":[[[1e400]]]}}"#,
            "\n"
        )
    );
}

#[test]
fn every_document_of_a_file_is_read_and_bad_records_named() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "a.rules",
        "when eventName exists tag \"seen\"\n",
    );
    let a = br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
    let digest = br#"{"awsAccountId":"1","digestStartTime":"x","digestEndTime":"y","logFiles":[]}"#;
    let bad = b"{\"Records\":[{\"eventName\":\"C\",\"requestParameters\":{\"k\":\"\xff\"}},{\"eventName\":\"D\"}]}";
    // Multi-member gzip of whole files, a digest among them, and a record
    // with invalid UTF-8 in a field no rule reads.
    let input = [gzip(a), gzip(digest), gzip(bad)].concat();
    let (out, summary) = run_to_stdout(&rules, tmp.path(), &input);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["eventName"].to_string())
        .collect();
    assert_eq!(names, ["\"A\"", "\"B\"", "\"D\""]);
    assert_eq!(summary["events_in"], 4, "{summary:#}");
    assert_eq!(summary["events_rejected"], 1, "{summary:#}");
    assert_eq!(summary["files_skipped"], 0, "{summary:#}");
    assert_eq!(summary["digests_passed_over"], 1, "{summary:#}");
    let rejected = summary["rejected"][0]["cause"].as_str().unwrap();
    assert!(
        rejected.contains("record 2: invalid UTF-8 at line 1, column 181"),
        "{rejected}"
    );

    // UTF-16 text is named.
    let utf16: Vec<u8> = std::str::from_utf8(a)
        .unwrap()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let (out, summary) = run_to_stdout(&rules, tmp.path(), &utf16);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        cause_of(&summary, "in.json").contains("UTF-16"),
        "{summary:#}"
    );
}

#[test]
fn test_event_files_and_test_files_stay_inside_the_rules_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("events")).unwrap();
    std::fs::write(
        rules.join("who.rules"),
        "rule who { when eventName exists set xwho = userIdentity.arn }\n",
    )
    .unwrap();
    // The secret is a valid event whose value would show in the diff.
    let secret = r#"{"eventName": "x", "userIdentity": {"arn": "hunter2-secret"}}"#;
    std::fs::write(dir.path().join("secret.json"), secret).unwrap();
    std::fs::write(
        rules.join("events/inside.json"),
        secret.replace("hunter2-secret", "inside-arn"),
    )
    .unwrap();
    let secret_path = dir.path().join("secret.json");
    let cases = [
        ("../secret.json", "outside the rules directory"),
        (secret_path.to_str().unwrap(), "absolute event path"),
        ("events/../../secret.json", "outside the rules directory"),
    ];
    for (event_file, refusal) in cases {
        let test = json!({"tests": [
            {"name": "inside", "event_file": "events/inside.json", "enrichment": {"xwho": "inside-arn"}},
            {"name": "outside", "event_file": event_file, "enrichment": {"xwho": "wrong"}}
        ]});
        std::fs::write(rules.join("who.test.json"), test.to_string()).unwrap();
        let out = ctrules().arg("test").arg(&rules).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
        assert!(
            stdout.contains("event_file") && stdout.contains(refusal),
            "{event_file}: {stdout}"
        );
        assert!(!stdout.contains("hunter2"), "{event_file}: {stdout}");
    }
    #[cfg(unix)]
    {
        // A test file linked from outside is refused, not run.
        std::fs::remove_file(rules.join("who.test.json")).unwrap();
        let linked = json!({"tests": [{"name": "x", "event_file": "secret.json", "enrichment": {"xwho": "wrong"}}]});
        std::fs::write(dir.path().join("outside.test.json"), linked.to_string()).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("outside.test.json"),
            rules.join("linked.test.json"),
        )
        .unwrap();
        let out = ctrules().arg("test").arg(&rules).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            stdout.contains("linked.test.json: a symbolic link"),
            "{stdout}"
        );
        assert!(!stdout.contains("hunter2"), "{stdout}");
    }
}

#[cfg(unix)]
#[test]
fn fmt_leaves_read_only_files_alone_and_keeps_hard_links() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let messy = "when eventName==\"x\"   tag \"t\"\n";
    let tidy = "when eventName == \"x\" tag \"t\"\n";
    let locked = rules.join("locked.rules");
    std::fs::write(&locked, messy).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o444)).unwrap();
    let linked = rules.join("linked.rules");
    std::fs::write(&linked, messy).unwrap();
    let other_link = dir.path().join("backup.rules");
    std::fs::hard_link(&linked, &other_link).unwrap();
    let out = ctrules().arg("fmt").arg(&rules).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains(&format!("{}: read-only", locked.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&locked).unwrap(), messy);
    assert_eq!(
        std::fs::metadata(&locked).unwrap().permissions().mode() & 0o777,
        0o444
    );
    // Both names of the linked file see the new text: one file still.
    assert_eq!(std::fs::read_to_string(&linked).unwrap(), tidy);
    assert_eq!(std::fs::read_to_string(&other_link).unwrap(), tidy);
    assert_eq!(
        std::fs::metadata(&linked).unwrap().ino(),
        std::fs::metadata(&other_link).unwrap().ino()
    );
}

#[test]
fn a_rules_file_that_is_not_utf8_is_named_with_its_place_and_json_still_prints() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let bad = rules.join("bad.rules");
    std::fs::write(
        &bad,
        b"when eventName == \"x\" tag \"t\"\nwhen eventName == \"\xff\" drop\n",
    )
    .unwrap();
    let out = ctrules()
        .args(["check", "--format", "json"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains(&bad.display().to_string()), "{error}");
    assert!(error.contains("line 2, column 20"), "{error}");
    assert!(error.contains("0xFF"), "{error}");
    assert_eq!(doc["errors"], 1);
    // fmt names the place too, and leaves the file alone.
    let out = ctrules().arg("fmt").arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2, column 20"));
}

/// `any NAME in`, `json(...)` and `.**` in rules that `ctrules test` runs,
/// with `check` clean on them.
#[test]
fn rule_tests_cover_elements_json_and_deep_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = write_rules(
        tmp.path(),
        "detect.rules",
        r#"rule kms_deletion {
  when eventSource == "kms.amazonaws.com"
   and any s in resources[] (s.type == "AWS::KMS::Key" and s.ARN startswith "arn:aws:kms:")
  tag "kms"
}

rule public_policy {
  when eventSource == "iam.amazonaws.com"
   and any st in json(requestParameters.policyDocument).Statement[] (
      st.Effect == "Allow"
      and st.Condition missing
      and st.Principal.** == "*"
   )
  tag "public"
}

rule versioning_off {
  when eventSource == "s3.amazonaws.com" and requestParameters.** == "Suspended"
  tag "versioning-off"
}
"#,
    );
    let policy = |principal: &str, condition: bool| {
        let mut st = serde_json::json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": serde_json::from_str::<Value>(principal).unwrap()});
        if condition {
            st["Condition"] = serde_json::json!({"Bool": {"aws:SecureTransport": "true"}});
        }
        serde_json::json!({"Statement": [st]}).to_string()
    };
    let tests = serde_json::json!({"tests": [
        {"name": "a key", "event": {"eventSource": "kms.amazonaws.com", "resources": [{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:1:key/k"}]}, "matches": ["kms_deletion"]},
        {"name": "a key type and a kms ARN on different elements", "event": {"eventSource": "kms.amazonaws.com", "resources": [{"type": "AWS::KMS::Key", "ARN": "x"}, {"type": "AWS::S3::Bucket", "ARN": "arn:aws:kms:r:1:key/k"}]}, "not_matches": ["kms_deletion"]},
        {"name": "AWS * in a list", "event": {"eventSource": "iam.amazonaws.com", "requestParameters": {"policyDocument": policy(r#"{"AWS": ["arn:aws:iam::1:root", "*"]}"#, false)}}, "matches": ["public_policy"]},
        {"name": "with a condition", "event": {"eventSource": "iam.amazonaws.com", "requestParameters": {"policyDocument": policy(r#""*""#, true)}}, "not_matches": ["public_policy"]},
        {"name": "not JSON", "event": {"eventSource": "iam.amazonaws.com", "requestParameters": {"policyDocument": "{oops"}}, "not_matches": ["public_policy"]},
        {"name": "suspended", "event": {"eventSource": "s3.amazonaws.com", "requestParameters": {"VersioningConfiguration": {"Status": "Suspended"}}}, "matches": ["versioning_off"]},
        {"name": "enabled", "event": {"eventSource": "s3.amazonaws.com", "requestParameters": {"VersioningConfiguration": {"Status": "Enabled"}}}, "not_matches": ["versioning_off"]}
    ]});
    std::fs::write(rules.join("detect.test.json"), tests.to_string()).unwrap();
    let out = ctrules()
        .args(["test", "--deny-untested"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 passed"),
        "{}",
        text(&out)
    );
    let out = ctrules()
        .args(["check", "--deny-warnings"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The text of each output file under `root`, by its path relative to
/// `root` without the compression suffix (`.gz` or `.zst`, which must be
/// `ext`), decompressed.
fn decompressed_outputs(root: &Path, ext: &str) -> BTreeMap<String, String> {
    files_under(root)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let stem = rel
                .strip_suffix(ext)
                .unwrap_or_else(|| panic!("{rel}: an output not ending {ext}"))
                .to_string();
            let bytes = std::fs::read(&p).unwrap();
            let text = match ext {
                ".gz" => gunzip(&bytes),
                _ => String::from_utf8(zstd::stream::decode_all(&bytes[..]).unwrap()).unwrap(),
            };
            (stem, text)
        })
        .collect()
}

#[test]
fn zstd_outputs_hold_the_lines_of_gzip_outputs_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let input = repo().join("tests/fixtures/sample-logs");
    let (gz, zst) = (tmp.path().join("gz"), tmp.path().join("zst"));
    let (out, _) = run(&iam_rules(), &input, &gz, &["--compression-level", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (out, summary) = run(&iam_rules(), &input, &zst, &["--compression", "zstd"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["failed"], json!([]), "{summary:#}");
    let gz_text = decompressed_outputs(&gz, ".gz");
    let zst_text = decompressed_outputs(&zst, ".zst");
    assert_eq!(gz_text.len(), 52);
    assert_eq!(
        zst_text, gz_text,
        "the same lines, whatever the compression"
    );

    // `ctrules query` finds the same records in either.
    for condition in ["xpriority == \"HIGH\"", "eventName like \"Create*\""] {
        let query = |root: &Path| {
            let out = ctrules()
                .args(["query", condition, "--input"])
                .arg(root)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
            let stdout = String::from_utf8(out.stdout).unwrap();
            let mut lines: Vec<String> = stdout.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        let found = query(&zst);
        assert!(!found.is_empty(), "{condition}");
        assert_eq!(found, query(&gz), "{condition}");
    }

    // A second run reads ctrules's own zstd output (`.json.zst` inputs):
    // as gzip, named `.json.gz`, the records once more.
    let again = tmp.path().join("again");
    let (out, summary) = run(&iam_rules(), &zst, &again, &["--compression-level", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(summary["failed"], json!([]), "{summary:#}");
    assert_eq!(decompressed_outputs(&again, ".gz"), gz_text);
}

#[test]
fn a_truncated_zstd_input_fails_by_name_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let log = |name: &str| {
        json!({"Records": [
            {"eventVersion": "1.08", "eventName": name, "eventSource": "iam.amazonaws.com"},
            {"eventVersion": "1.08", "eventName": "B", "eventSource": "s3.amazonaws.com"}
        ]})
        .to_string()
    };
    let zst = |t: String| zstd::stream::encode_all(t.as_bytes(), 1).unwrap();
    let whole = zst(log("CreateUser"));
    std::fs::write(input.join("bad.json.zst"), &whole[..whole.len() - 7]).unwrap();
    // Two frames, as `cat a.zst b.zst` makes.
    let two = [zst(log("A")), zst(log("C"))].concat();
    std::fs::write(input.join("good.json.zst"), two).unwrap();
    std::fs::write(input.join("plain.json.gz"), gzip(log("P").as_bytes())).unwrap();
    let output = tmp.path().join("out");
    let (out, summary) = run(&iam_rules(), &input, &output, &["--compression", "zstd"]);
    assert_eq!(out.status.code(), Some(3), "partial\n{}", text(&out));
    assert_eq!(failed_files(&summary).len(), 1, "{summary:#}");
    let cause = cause_of(&summary, "bad.json.zst");
    assert!(cause.contains("truncated or corrupt zstd data"), "{cause}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json.zst"));
    let outputs = decompressed_outputs(&output, ".zst");
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        ["good.json", "plain.json"]
    );
    assert_eq!(outputs["good.json"].lines().count(), 4);
    assert_eq!(outputs["plain.json"].lines().count(), 2);
}

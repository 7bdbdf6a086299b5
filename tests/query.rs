//! End-to-end tests of `ctrules query` over a generated multi-account
//! trail: each answer is computed again here, from the records the test
//! wrote, and compared.

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use support::*;

const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "777788889999"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const NAMES: [&str; 8] = [
    "CreateUser",
    "CreateLogStream",
    "CreateBucket",
    "DeleteBucket",
    "RunInstances",
    "StartInstances",
    "DescribeInstances",
    "AssumeRole",
];

/// A deterministic trail: 3 accounts x 2 regions x 4 files x 25 records,
/// every record different; returns the records in file-name order.
fn trail(root: &Path) -> Vec<Value> {
    let mut all = Vec::new();
    let mut n = 0u64;
    for account in ACCOUNTS {
        for region in REGIONS {
            for file in 0..4 {
                let mut recs = Vec::new();
                for _ in 0..25 {
                    n += 1;
                    let name = NAMES[(n * 7 % 8) as usize];
                    let identity = if n.is_multiple_of(3) {
                        json!({"type": "AssumedRole",
                               "arn": format!("arn:aws:sts::{account}:assumed-role/Deployer/session-{}", n % 2),
                               "accountId": account,
                               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Deployer",
                                   "arn": format!("arn:aws:iam::{account}:role/Deployer")}}})
                    } else {
                        let user = ["alice", "bob", "carol"][(n % 5 % 3) as usize];
                        json!({"type": "IAMUser", "userName": user, "accountId": account,
                               "arn": format!("arn:aws:iam::{account}:user/{user}")})
                    };
                    let instance = format!("i-{:04x}", n % 6);
                    recs.push(json!({
                        "eventVersion": "1.08",
                        "eventID": format!("ev-{n}"),
                        // Not in time order within a file, as CloudTrail's are not.
                        "eventTime": format!("2024-08-01T{:02}:{:02}:{:02}Z", (n * 13) % 24, n % 60, (n * 7) % 60),
                        "eventSource": if name.contains("Instances") { "ec2.amazonaws.com" } else { "iam.amazonaws.com" },
                        "eventName": name,
                        "awsRegion": region,
                        "sourceIPAddress": format!("198.51.100.{}", n % 9),
                        "userIdentity": identity,
                        "requestParameters": {"instancesSet": {"items": [{"instanceId": instance}]}},
                    }));
                }
                let dir = root.join(format!("AWSLogs/{account}/CloudTrail/{region}/2024/08/01"));
                std::fs::create_dir_all(&dir).unwrap();
                let name = format!(
                    "{account}_CloudTrail_{region}_20240801T{:02}00Z_f.json.gz",
                    file * 5
                );
                std::fs::write(dir.join(name), records_file(&recs)).unwrap();
                all.extend(recs);
            }
        }
    }
    all
}

fn query(root: &Path, args: &[&str]) -> Output {
    ctrules()
        .arg("query")
        .args(args)
        .args(["--input", root.to_str().unwrap()])
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids<'a>(recs: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    recs.into_iter()
        .map(|r| r["eventID"].as_str().unwrap().to_string())
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

#[test]
fn create_calls_except_create_log_stream_come_out_as_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let out = query(
        dir.path(),
        &[r#"eventName like "Create*" and eventName != "CreateLogStream""#],
    );
    let got = ndjson(&ok(&out));
    let expected: Vec<&Value> = all
        .iter()
        .filter(|r| s(&r["eventName"]).starts_with("Create") && r["eventName"] != "CreateLogStream")
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&got), ids(expected.iter().copied()));
    // Whole records, as they were.
    let first = all
        .iter()
        .find(|r| r["eventID"] == got[0]["eventID"])
        .unwrap();
    assert_eq!(&got[0], first);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "scanned 24 files, {} events: {} matched",
            all.len(),
            expected.len()
        )),
        "{stderr}"
    );
}

#[test]
fn who_started_an_instance() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let out = query(
        dir.path(),
        &[
            r#"eventName in ["RunInstances", "StartInstances"] and requestParameters.instancesSet.items[].instanceId == "i-0002""#,
            "--select",
            "userIdentity.arn,eventName",
            "--format",
            "ndjson",
        ],
    );
    let got: BTreeSet<(String, String)> = ndjson(&ok(&out))
        .iter()
        .map(|r| {
            (
                s(&r["userIdentity.arn"]).to_string(),
                s(&r["eventName"]).to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = all
        .iter()
        .filter(|r| {
            ["RunInstances", "StartInstances"].contains(&s(&r["eventName"]))
                && r["requestParameters"]["instancesSet"]["items"][0]["instanceId"] == "i-0002"
        })
        .map(|r| {
            (
                s(&r["userIdentity"]["arn"]).to_string(),
                s(&r["eventName"]).to_string(),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn what_a_role_session_did_in_a_window_sorted_by_time_with_a_bounded_limit() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let arn = "arn:aws:sts::444455556666:assumed-role/Deployer/session-1";
    let condition = format!(
        r#"userIdentity.arn == "{arn}" and eventTime >= "2024-08-01T06:00:00Z" and eventTime < "2024-08-01T20:00:00Z""#
    );
    let mut expected: Vec<(String, String)> = all
        .iter()
        .filter(|r| {
            r["userIdentity"]["arn"] == arn
                && s(&r["eventTime"]) >= "2024-08-01T06:00:00Z"
                && s(&r["eventTime"]) < "2024-08-01T20:00:00Z"
        })
        .map(|r| (s(&r["eventTime"]).to_string(), s(&r["eventID"]).to_string()))
        .collect();
    expected.sort();
    assert!(expected.len() > 5);
    let csv = ok(&query(
        dir.path(),
        &[
            &condition,
            "--select",
            "eventTime,eventID",
            "--sort",
            "eventTime",
            "--format",
            "csv",
        ],
    ));
    let rows: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let (t, id) = l.split_once(',').unwrap();
            (t.to_string(), id.to_string())
        })
        .collect();
    assert_eq!(csv.lines().next(), Some("eventTime,eventID"));
    // In time order; events of one second in the order they were read.
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "{rows:?}");
    let mut rows = rows;
    rows.sort();
    assert_eq!(rows, expected);
    // The latest three, largest first, with only three kept.
    let csv = ok(&query(
        dir.path(),
        &[
            &condition,
            "--select",
            "eventTime,eventID",
            "--sort=-eventTime",
            "--limit",
            "3",
            "--format",
            "csv",
        ],
    ));
    let got: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().0)
        .collect();
    let latest: Vec<&str> = expected
        .iter()
        .rev()
        .take(3)
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(got, latest);
}

#[test]
fn counts_per_group_agree_with_a_group_by_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &all {
        *expected
            .entry((
                s(&r["userIdentity"]["arn"]).to_string(),
                s(&r["eventName"]).to_string(),
            ))
            .or_default() += 1;
    }
    // Piped, no format: NDJSON, no chart.
    let out = ok(&query(
        dir.path(),
        &["--count-by", "userIdentity.arn,eventName"],
    ));
    assert!(!out.contains('█'), "{out}");
    let got: BTreeMap<(String, String), u64> = ndjson(&out)
        .iter()
        .map(|r| {
            (
                (
                    s(&r["userIdentity.arn"]).to_string(),
                    s(&r["eventName"]).to_string(),
                ),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let counts: Vec<u64> = ndjson(&out)
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most first: {counts:?}"
    );

    // CSV: the group's values, then the count.
    let csv = ok(&query(
        dir.path(),
        &["--count-by", "eventName", "--format", "csv", "--top", "3"],
    ));
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &all {
        *by_name.entry(s(&r["eventName"])).or_default() += 1;
    }
    let mut top: Vec<(u64, &str)> = by_name.iter().map(|(k, v)| (*v, *k)).collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("eventName,count"));
    let rows: Vec<String> = lines.map(String::from).collect();
    let want: Vec<String> = top
        .iter()
        .take(3)
        .map(|(n, k)| format!("{k},{n}"))
        .collect();
    assert_eq!(rows, want);

    // A table: aligned, with a bar beside each count, the longest for the most.
    let table = ok(&query(
        dir.path(),
        &["--count-by", "eventName", "--format", "table"],
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("eventName") && lines[0].ends_with("count"),
        "{table}"
    );
    assert!(lines[1].starts_with("---"), "{table}");
    let bars: Vec<usize> = lines[2..].iter().map(|l| l.matches('█').count()).collect();
    assert_eq!(bars[0], 40, "{table}");
    assert!(
        bars.windows(2).all(|w| w[0] >= w[1]) && bars.iter().all(|b| *b > 0),
        "{table}"
    );
    assert_eq!(lines.len(), 2 + by_name.len());
}

#[test]
fn a_selection_as_a_table_lines_up_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let table = ok(&query(
        dir.path(),
        &[
            r#"eventName == "DeleteBucket""#,
            "--select",
            "eventID,awsRegion,userIdentity.type",
            "--format",
            "table",
        ],
    ));
    let lines: Vec<&str> = table.lines().collect();
    let deletes = all
        .iter()
        .filter(|r| r["eventName"] == "DeleteBucket")
        .count();
    assert_eq!(lines.len(), 2 + deletes, "{table}");
    let at = lines[0].find("awsRegion").unwrap();
    for line in &lines[2..] {
        let region = &line[at..at + 9];
        assert!(REGIONS.contains(&region), "{line:?} in\n{table}");
    }
}

#[test]
fn a_limit_without_a_sort_stops_reading_early() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let out = query(dir.path(), &["--limit", "2", "--jobs", "1"]);
    assert_eq!(ndjson(&ok(&out)).len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let files: u64 = stderr
        .split("scanned ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        files <= 2,
        "read {files} of 24 files for 2 records: {stderr}"
    );
}

#[test]
fn a_bad_condition_is_shown_at_its_place_in_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let out = query(dir.path(), &[r#"eventName == "x" annd eventSource == "y""#]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E101"), "{stderr}");
    assert!(stderr.contains("query:1:18"), "{stderr}");
    assert!(stderr.contains("did you mean `and`?"), "{stderr}");
    assert!(out.stdout.is_empty());
    // An unknown function in a selected term, at its place in that term.
    let out = query(dir.path(), &["--select", "eventName,lowr(eventName)"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--select 2:1:1"), "{stderr}");
    assert!(stderr.contains("lower"), "{stderr}");
}

#[test]
fn the_teams_lists_and_macros_serve_a_query_and_their_rules_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path().join("logs").as_path());
    let rules = dir.path().join("rules");
    write_rules(
        &rules,
        "team.rules",
        "list admins = [\"alice\", \"carol\"]\nmacro by_admin = userIdentity.userName in admins\nwhen eventName exists set xnoise = \"rules do not run in a query\"\n",
    );
    let out = ctrules()
        .args(["query", "by_admin and eventName == \"CreateUser\""])
        .args(["--rules", rules.to_str().unwrap()])
        .args(["--input", dir.path().join("logs").to_str().unwrap()])
        .output()
        .unwrap();
    let got = ndjson(&ok(&out));
    let expected = all.iter().filter(|r| {
        ["alice", "carol"].contains(&s(&r["userIdentity"]["userName"]))
            && r["eventName"] == "CreateUser"
    });
    assert_eq!(ids(&got), ids(expected));
    assert!(got.iter().all(|r| r.get("xnoise").is_none()));
}

#[test]
fn a_query_over_s3_reads_only_the_accounts_and_days_asked_for() {
    let moto = support::s3::MotoServer::start();
    moto.create_bucket("trail");
    let mut expected = BTreeSet::new();
    for (a, account) in ACCOUNTS.iter().enumerate() {
        for day in 1..=3 {
            let recs: Vec<Value> = (0..4)
                .map(|i| {
                    json!({"eventVersion": "1.08", "eventID": format!("{a}-{day}-{i}"),
                                "eventTime": format!("2024-08-0{day}T10:00:00Z"),
                                "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"})
                })
                .collect();
            if a == 1 && day >= 2 {
                expected.extend(recs.iter().map(|r| s(&r["eventID"]).to_string()));
            }
            let key = format!(
                "AWSLogs/{account}/CloudTrail/us-east-1/2024/08/0{day}/{account}_CloudTrail_us-east-1_2024080{day}T1000Z_x.json.gz"
            );
            moto.put_object("trail", &key, &records_file(&recs));
        }
    }
    let mut cmd = ctrules();
    cmd.args([
        "query",
        "eventName == \"CreateUser\"",
        "--input",
        "s3://trail/",
    ])
    .args(["--account", ACCOUNTS[1], "--from", "2024-08-02"])
    .args(["--endpoint-url", &moto.endpoint()]);
    moto.apply_env(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(ids(&ndjson(&ok(&out))), expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("scanned 2 files, 8 events: 8 matched"),
        "{stderr}"
    );
}

#[test]
fn since_compares_instants_not_text() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let at = |hours_ago: i64, offset: &str| {
        let t = now - chrono::TimeDelta::hours(hours_ago);
        match offset {
            "Z" => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            _ => (t + chrono::TimeDelta::hours(5))
                .format("%Y-%m-%dT%H:%M:%S+05:00")
                .to_string(),
        }
    };
    let recs = [
        ("recent", at(0, "Z")),
        ("old-written-ahead", at(5, "+05:00")), // 5 hours ago, in another zone
        ("recent-ahead", at(0, "+05:00")),
        ("not-a-time", "zzz".to_string()),
    ]
    .map(
        |(id, t)| json!({"eventVersion": "1.08", "eventID": id, "eventTime": t, "eventName": "X"}),
    );
    std::fs::write(dir.path().join("a.json.gz"), records_file(&recs)).unwrap();
    let got = ndjson(&ok(&query(dir.path(), &["--since", "1h"])));
    assert_eq!(
        ids(&got),
        BTreeSet::from(["recent".to_string(), "recent-ahead".to_string()])
    );
}

#[test]
fn a_bad_term_is_named_by_its_flag_and_told_what_a_term_may_be() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let out = query(dir.path(), &["--select", "eventTime,concat(eventName"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--select 2:1:17"), "{stderr}");
    assert!(
        !stderr.contains("calendar"),
        "a term is not a rules file: {stderr}"
    );
    let out = query(dir.path(), &["--count-by", "eventName,actor.nmae"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--count-by 2:1:1"), "{stderr}");
    let out = query(dir.path(), &["--select", "eventName", "--sort", "eventTme"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[--sort:1:1]"), "{stderr}");
}

#[test]
fn a_descending_sort_puts_records_without_the_term_last() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<Value> = [Some("b"), None, Some("c"), None, Some("a")]
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let mut r =
                json!({"eventVersion": "1.08", "eventID": format!("r{i}"), "eventName": "X"});
            if let Some(code) = code {
                r["errorCode"] = json!(code);
            }
            r
        })
        .collect();
    std::fs::write(dir.path().join("a.json.gz"), records_file(&recs)).unwrap();
    for (sort, want) in [("-errorCode", "c,b,a,,"), ("errorCode", "a,b,c,,")] {
        let csv = ok(&query(
            dir.path(),
            &["--select", "errorCode", "--sort", sort, "--format", "csv"],
        ));
        let got: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(got.join(","), want, "{sort}");
    }
    let two = ok(&query(
        dir.path(),
        &[
            "--select",
            "errorCode",
            "--sort=-errorCode",
            "--limit",
            "2",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(two.lines().skip(1).collect::<Vec<_>>(), ["c", "b"]);
}

#[test]
fn a_single_file_is_named_once_and_a_local_copy_of_a_trail_takes_the_filters() {
    let dir = tempfile::tempdir().unwrap();
    let all = trail(dir.path());
    let bad = dir.path().join("bad.json.gz");
    std::fs::write(&bad, &records_file(&records_of(3))[..20]).unwrap();
    let out = query(&bad, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("error: {}: ", bad.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("bad.json.gz/bad.json.gz"), "{stderr}");
    assert!(stderr.contains("(1 could not be read)"), "{stderr}");
    std::fs::remove_file(&bad).unwrap();
    // An `aws s3 sync` copy: the layout is in the paths.
    let got = ndjson(&ok(&query(
        dir.path(),
        &["--account", ACCOUNTS[2], "--region", "eu-west-1"],
    )));
    let want = all
        .iter()
        .filter(|r| r["userIdentity"]["accountId"] == ACCOUNTS[2] && r["awsRegion"] == "eu-west-1");
    assert_eq!(ids(&got), ids(want));
    assert!(ok(&query(dir.path(), &["--limit", "0"])).is_empty());
}

fn records_of(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"eventVersion": "1.08", "eventID": format!("x{i}"), "eventName": "X"}))
        .collect()
}

#[test]
fn a_very_wide_value_in_a_table_does_not_stop_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = json!({"eventVersion": "1.08", "eventID": "w", "eventName": "X"});
    r["requestParameters"] = json!({"blob": "x".repeat(70_000)});
    std::fs::write(dir.path().join("a.json.gz"), records_file(&[r])).unwrap();
    let out = query(
        dir.path(),
        &[
            "--select",
            "eventID,requestParameters.blob",
            "--format",
            "table",
        ],
    );
    let table = ok(&out);
    assert!(table.lines().nth(2).unwrap().ends_with(&"x".repeat(70_000)));
}

#[test]
fn groups_are_told_apart_by_type_and_sorting_takes_any_mix() {
    let dir = tempfile::tempdir().unwrap();
    let values = [
        json!(1),
        json!("1"),
        json!(null),
        json!(""),
        json!(true),
        json!("true"),
        json!(2),
        json!(9007199254740993u64),
        json!(9007199254740992u64),
    ];
    let recs: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r =
                json!({"eventVersion": "1.08", "eventID": format!("v{i}"), "eventName": "X"});
            if !v.is_null() {
                r["errorCode"] = v.clone();
            }
            r
        })
        .collect();
    std::fs::write(dir.path().join("a.json.gz"), records_file(&recs)).unwrap();
    let groups = ndjson(&ok(&query(dir.path(), &["--count-by", "errorCode"])));
    assert_eq!(groups.len(), values.len(), "{groups:?}");
    // Numbers (exactly, even past 2^53), then strings, then booleans, then none.
    let csv = ok(&query(
        dir.path(),
        &[
            "--select",
            "eventID",
            "--sort",
            "errorCode",
            "--format",
            "csv",
        ],
    ));
    let order: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(
        order,
        ["v0", "v6", "v8", "v7", "v3", "v1", "v5", "v4", "v2"]
    );
}

#[test]
fn rejected_records_are_named_and_a_closed_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.ndjson"),
        "{\"eventVersion\":\"1.08\",\"eventID\":\"ok\",\"eventName\":\"X\"}\n{\"eventID\": oops}\n",
    )
    .unwrap();
    let out = query(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a.ndjson: line 2"), "{stderr}");
    assert_eq!(ndjson(&String::from_utf8_lossy(&out.stdout)).len(), 1);
    // Standard output closed (`>&-`): an error, not an empty answer.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec \"$0\" query --input '{}' >&-",
            dir.path().display()
        ))
        .arg(bin())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn a_limit_stops_reading_inside_a_large_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big.json.gz"),
        records_file(&records_of(20_000)),
    )
    .unwrap();
    let out = query(dir.path(), &["--limit", "3"]);
    assert_eq!(ndjson(&ok(&out)).len(), 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: u64 = stderr
        .split("files, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(events < 20_000, "read every record for 3 matches: {stderr}");
}

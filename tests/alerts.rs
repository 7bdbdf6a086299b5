//! End-to-end tests of `--alerts` (one alert per match of a rule with a
//! severity, grouped by dedup key within a window) and `--add-fields`.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::*;

const DETECTIONS: &str = r#"rule root-activity {
  description "The root user acted"
  severity HIGH
  when userIdentity.type == "Root"
}

rule iam-change {
  description "IAM changes"
  severity MEDIUM
  when eventSource == "iam.amazonaws.com"
  tag "iam"
}

when eventSource == "s3.amazonaws.com" set xpriority = LOW
"#;

fn record(id: &str, time: &str, who: &str, source: &str) -> Value {
    let identity = if who == "root" {
        json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"})
    } else {
        json!({"type": "IAMUser", "userName": who, "arn": format!("arn:aws:iam::111122223333:user/{who}"),
               "accountId": "111122223333"})
    };
    json!({"eventVersion": "1.08", "eventID": id, "eventTime": time, "eventSource": source,
           "eventName": "X", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
           "userIdentity": identity})
}

/// The detections in `dir/rules`, and `dir/in` holding one IAM change by
/// alice: the rules and the input.
fn one_iam_change(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let rules = write_rules(dir, "d.rules", DETECTIONS);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let change = record("a1", "2024-08-01T10:00:00Z", "alice", "iam.amazonaws.com");
    std::fs::write(input.join("a.json.gz"), records_file(&[change])).unwrap();
    (rules, input)
}

fn alerts_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_alerts(
    rules: &Path,
    input: &Path,
    out: &Path,
    alerts: &Path,
    extra: &[&str],
) -> std::process::Output {
    ctrules()
        .args([
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args([
            "--output",
            out.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
            "-q",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn matches_are_grouped_by_dedup_key_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let iam = "iam.amazonaws.com";
    // alice: two changes ten minutes apart, a third two hours later; bob: one.
    std::fs::write(
        input.join("a.json.gz"),
        records_file(&[
            record("a1", "2024-08-01T10:00:00Z", "alice", iam),
            record("b1", "2024-08-01T10:05:00Z", "bob", iam),
            record("s1", "2024-08-01T10:06:00Z", "alice", "s3.amazonaws.com"),
        ]),
    )
    .unwrap();
    std::fs::write(
        input.join("b.json.gz"),
        records_file(&[
            record("a3", "2024-08-01T12:00:00Z", "alice", iam),
            record("a2", "2024-08-01T10:10:00Z", "alice", iam),
            record("r1", "2024-08-01T11:00:00Z", "root", "ec2.amazonaws.com"),
        ]),
    )
    .unwrap();
    let alerts = dir.path().join("alerts.ndjson");
    let out = run_alerts(&rules, &input, &dir.path().join("out"), &alerts, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let got = alerts_of(&alerts);
    let shape: Vec<(String, u64, Vec<String>)> = got
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string()
                    + " "
                    + a["actor"]["name"].as_str().unwrap_or(""),
                a["count"].as_u64().unwrap(),
                a["eventIDs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    // In order of first sighting; the rule without a severity alerts nothing.
    assert_eq!(
        shape,
        [
            (
                "iam-change alice".to_string(),
                2,
                vec!["a1".to_string(), "a2".to_string()]
            ),
            ("iam-change bob".to_string(), 1, vec!["b1".to_string()]),
            ("root-activity root".to_string(), 1, vec!["r1".to_string()]),
            ("iam-change alice".to_string(), 1, vec!["a3".to_string()]),
        ]
    );
    let first = &got[0];
    assert_eq!(first["severity"], "MEDIUM");
    assert_eq!(first["firstSeen"], "2024-08-01T10:00:00Z");
    assert_eq!(first["lastSeen"], "2024-08-01T10:10:00Z");
    assert_eq!(first["account"], "111122223333");
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(first["eventID"], "a1");
    assert_eq!(first["event"]["eventSource"], "iam.amazonaws.com");
    assert!(
        first["title"]
            .as_str()
            .unwrap()
            .starts_with("IAM changes: X by alice"),
        "{first}"
    );
    assert_eq!(first["dedup"], got[3]["dedup"]);

    // A longer window takes alice's third change into the first alert.
    let wide = dir.path().join("wide.ndjson");
    let out = run_alerts(
        &rules,
        &input,
        &dir.path().join("out2"),
        &wide,
        &["--alert-window", "3h"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let got = alerts_of(&wide);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["count"], 3);
    assert_eq!(got[0]["lastSeen"], "2024-08-01T12:00:00Z");
}

#[test]
fn the_alert_stream_is_the_same_whatever_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let whos = ["alice", "bob", "carol", "root"];
    for f in 0..12 {
        let recs: Vec<Value> = (0..40)
            .map(|i| {
                let n = f * 40 + i;
                record(
                    &format!("e{n}"),
                    &format!("2024-08-01T{:02}:{:02}:00Z", (n * 7) % 24, n % 60),
                    whos[n % 4],
                    if n % 3 == 0 {
                        "s3.amazonaws.com"
                    } else {
                        "iam.amazonaws.com"
                    },
                )
            })
            .collect();
        std::fs::write(input.join(format!("f{f:02}.json.gz")), records_file(&recs)).unwrap();
    }
    let mut streams = Vec::new();
    for jobs in ["1", "2", "4"] {
        let alerts = dir.path().join(format!("alerts-{jobs}.ndjson"));
        let out = run_alerts(
            &rules,
            &input,
            &dir.path().join(format!("out{jobs}")),
            &alerts,
            &["--jobs", jobs],
        );
        assert!(out.status.success(), "{}", text(&out));
        streams.push(std::fs::read(&alerts).unwrap());
    }
    assert!(!streams[0].is_empty());
    assert_eq!(streams[0], streams[1]);
    assert_eq!(streams[0], streams[2]);
    // Every match of a rule with a severity is in exactly one alert.
    let total: u64 = String::from_utf8(streams[0].clone())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let expected =
        (0..480).filter(|n| n % 3 != 0).count() + (0..480).filter(|n| n % 4 == 3).count();
    assert_eq!(total as usize, expected);
}

#[test]
fn alerts_go_to_a_directory_and_standard_output_but_not_both_streams_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, input) = one_iam_change(dir.path());
    let folder = dir.path().join("alerts/");
    let out = run_alerts(&rules, &input, &dir.path().join("out"), &folder, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let files = files_under(&folder);
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("alerts-") && name.ends_with(".ndjson"),
        "{name}"
    );
    let out = ctrules()
        .args([
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args([
            "--output",
            dir.path().join("o2").to_str().unwrap(),
            "--alerts",
            "-",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["rule"], "iam-change");
    let out = ctrules()
        .args([
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args(["--output", "-", "--alerts", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // An alerts file inside the input would be read back as a log.
    let out = run_alerts(
        &rules,
        &input,
        &dir.path().join("o3"),
        &input.join("alerts.ndjson"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn the_fields_ctrules_adds_by_itself_are_the_users_choice() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.json.gz"),
        records_file(&[
            record("a1", "2024-08-01T10:00:00Z", "alice", "iam.amazonaws.com"),
            record("s1", "2024-08-01T10:00:00Z", "alice", "s3.amazonaws.com"),
        ]),
    )
    .unwrap();
    for (fields, rules_field, tags_field) in [
        ("rules,tags", true, true),
        ("rules", true, false),
        ("tags", false, true),
        ("none", false, false),
    ] {
        let out_dir = dir.path().join(format!("out-{fields}"));
        let out = ctrules()
            .args([
                "run",
                "--rules",
                rules.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ])
            .args([
                "--output",
                out_dir.to_str().unwrap(),
                "--add-fields",
                fields,
                "-q",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let text = gunzip(&std::fs::read(out_dir.join("a.json.gz")).unwrap());
        let recs: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            recs[0].get("xrules").is_some(),
            rules_field,
            "{fields}: {}",
            recs[0]
        );
        assert_eq!(
            recs[0].get("xtags").is_some(),
            tags_field,
            "{fields}: {}",
            recs[0]
        );
        // The user's own fields are always there.
        assert_eq!(recs[1]["xpriority"], "LOW", "{fields}");
    }
    let out = ctrules()
        .args([
            "run",
            "--input",
            "x",
            "--output",
            "y",
            "--add-fields",
            "rule",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn two_rules_directories_run_together_and_one_rule_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let pack = write_rules(&dir.path().join("pack"), "d.rules", DETECTIONS);
    let mine = write_rules(
        &dir.path().join("mine"),
        "enrich.rules",
        "when eventSource == \"iam.amazonaws.com\" set xteam = \"identity\"\n",
    );
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.json.gz"),
        records_file(&[
            record("a1", "2024-08-01T10:00:00Z", "alice", "iam.amazonaws.com"),
            record("r1", "2024-08-01T10:00:00Z", "root", "ec2.amazonaws.com"),
        ]),
    )
    .unwrap();
    let run = |extra: &[&str], out: &str| {
        let alerts = dir.path().join(format!("{out}.ndjson"));
        let output = ctrules()
            .args([
                "run",
                "--rules",
                pack.to_str().unwrap(),
                "--rules",
                mine.to_str().unwrap(),
            ])
            .args([
                "--input",
                input.to_str().unwrap(),
                "--output",
                dir.path().join(out).to_str().unwrap(),
            ])
            .args(["--alerts", alerts.to_str().unwrap(), "-q"])
            .args(extra)
            .output()
            .unwrap();
        (output, alerts)
    };
    let (out, alerts) = run(&[], "both");
    assert!(out.status.success(), "{}", text(&out));
    let records: Vec<Value> = gunzip(&std::fs::read(dir.path().join("both/a.json.gz")).unwrap())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["xteam"], "identity");
    let rules: Vec<String> = alerts_of(&alerts)
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    // At one time, in the rules' load order.
    assert_eq!(rules, ["root-activity", "iam-change"]);

    // Turned off from the command line: no alert, no xrules entry.
    let (out, alerts) = run(&["--disable", "root-activity"], "off");
    assert!(out.status.success(), "{}", text(&out));
    let rules: Vec<String> = alerts_of(&alerts)
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rules, ["iam-change"]);
    let text_out = gunzip(&std::fs::read(dir.path().join("off/a.json.gz")).unwrap());
    assert!(!text_out.contains("root-activity"), "{text_out}");

    // A misspelt id is an error, not a rule left running.
    let (out, _) = run(&["--disable", "root-activty"], "typo");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `root-activity`?"), "{stderr}");
}

#[test]
fn the_detection_pack_runs_beside_the_enrichment_rules_with_its_own_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    let run = |extra: &[&str], name: &str| {
        let alerts = dir.path().join(format!("{name}.ndjson"));
        let out = ctrules()
            .current_dir(&repo)
            .args([
                "run",
                "--rules",
                "rules.d",
                "--rules",
                "packs/aws-detections",
            ])
            .args(["--geoip", "tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb"])
            .args(["--input", "tests/fixtures/sample-logs"])
            .args(["--output", dir.path().join(name).to_str().unwrap()])
            .args(["--alerts", alerts.to_str().unwrap(), "-q"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        alerts_of(&alerts)
    };
    let all = run(&[], "all");
    let rules: std::collections::BTreeSet<String> = all
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.iter().any(|r| r.starts_with("panther-")), "{rules:?}");
    assert!(rules.iter().any(|r| r.starts_with("cis-")), "{rules:?}");
    let off = rules.iter().next().unwrap().clone();
    let fewer = run(&["--disable", &off], "fewer");
    assert!(fewer.iter().all(|a| a["rule"] != off.as_str()));
    assert!(fewer.len() < all.len());
}

#[test]
fn alerts_carry_the_rules_references_and_can_be_ocsf_detection_findings() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "d.rules",
        "rule root-activity {\n  description \"The root user acted\"\n  severity HIGH\n  technique \"T1078.004\"\n  reference \"https://example.com/root\"\n  when userIdentity.type == \"Root\"\n}\n",
    );
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.json.gz"),
        records_file(&[
            record("r1", "2024-08-01T10:00:00Z", "root", "ec2.amazonaws.com"),
            record("r2", "2024-08-01T10:20:00Z", "root", "ec2.amazonaws.com"),
        ]),
    )
    .unwrap();
    let plain = dir.path().join("plain.ndjson");
    let out = run_alerts(&rules, &input, &dir.path().join("o1"), &plain, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let alert = &alerts_of(&plain)[0];
    assert_eq!(alert["references"], json!(["https://example.com/root"]));
    assert_eq!(alert["techniques"], json!(["T1078.004"]));

    let ocsf = dir.path().join("ocsf.ndjson");
    let out = run_alerts(
        &rules,
        &input,
        &dir.path().join("o2"),
        &ocsf,
        &["--alert-format", "ocsf"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let finding = &alerts_of(&ocsf)[0];
    assert_eq!(finding["class_uid"], 2004);
    assert_eq!(finding["type_uid"], 200401);
    assert_eq!(finding["severity_id"], 4);
    assert_eq!(finding["count"], 2);
    assert_eq!(finding["finding_info"]["analytic"]["uid"], "root-activity");
    assert_eq!(
        finding["finding_info"]["attacks"][0]["sub_technique"]["uid"],
        "T1078.004"
    );
    assert_eq!(finding["finding_info"]["first_seen_time"], 1722506400000i64);
    assert_eq!(finding["finding_info"]["last_seen_time"], 1722507600000i64);
    assert_eq!(finding["cloud"]["account"]["uid"], "111122223333");
    assert_eq!(
        finding["actor"]["user"]["uid"],
        "arn:aws:iam::111122223333:root"
    );
    // ctrules's own alert, whole, beside the mapped fields.
    assert_eq!(&finding["unmapped"], alert);
}

#[test]
fn a_rules_dedup_template_groups_its_alerts_and_its_title_template_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        "d.rules",
        r#"rule iam-default {
  severity MEDIUM
  when eventSource == "iam.amazonaws.com"
}

rule iam-by-event {
  severity HIGH
  title "{eventName} by {actor.name} from {sourceIPAddress} ({{{userIdentity.type}}})"
  dedup "{eventName}"
  dedup_window 30m
  when eventSource == "iam.amazonaws.com"
}
"#,
    );
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let iam = "iam.amazonaws.com";
    // Two users' events ten minutes apart, a third forty minutes later:
    // the default key makes one alert per user in the run's hour; `dedup
    // "{eventName}"` one alert for both users, then another past its 30m.
    std::fs::write(
        input.join("a.json.gz"),
        records_file(&[
            record("a1", "2024-08-01T10:00:00Z", "alice", iam),
            record("b1", "2024-08-01T10:10:00Z", "bob", iam),
            record("a2", "2024-08-01T10:40:00Z", "alice", iam),
        ]),
    )
    .unwrap();
    let alerts = dir.path().join("alerts.ndjson");
    let out = run_alerts(&rules, &input, &dir.path().join("out"), &alerts, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let got = alerts_of(&alerts);
    let shape: Vec<(&str, &str, u64, &str)> = got
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap(),
                a["dedup"].as_str().unwrap(),
                a["count"].as_u64().unwrap(),
                a["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "iam-default",
                "iam-default|111122223333|arn:aws:iam::111122223333:user/alice",
                2,
                "iam-default: X by alice in 111122223333 us-east-1"
            ),
            (
                "iam-by-event",
                "iam-by-event|X",
                2,
                // From the first sighting; no sourceIPAddress: `-`; `{{`
                // and `}}` are braces.
                "X by alice from - ({IAMUser})"
            ),
            (
                "iam-default",
                "iam-default|111122223333|arn:aws:iam::111122223333:user/bob",
                1,
                "iam-default: X by bob in 111122223333 us-east-1"
            ),
            (
                "iam-by-event",
                "iam-by-event|X",
                1,
                "X by alice from - ({IAMUser})"
            ),
        ]
    );
    let ids = |a: &Value| a["eventIDs"].clone();
    assert_eq!(ids(&got[1]), json!(["a1", "b1"]));
    assert_eq!(ids(&got[3]), json!(["a2"]));
    // The same stream with two workers.
    let again = dir.path().join("again.ndjson");
    let out = run_alerts(
        &rules,
        &input,
        &dir.path().join("out2"),
        &again,
        &["--jobs", "2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(alerts_of(&again), got);
}

/// A log file whose records are given as raw JSON text (numbers beyond a
/// double's range, offsets in times), gzipped.
fn raw_file(records: &[String]) -> Vec<u8> {
    gzip(format!("{{\"Records\":[{}]}}", records.join(",")).as_bytes())
}

#[test]
fn a_match_always_raises_its_alert_and_a_failed_file_raises_none() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // A field no rule reads holds a number beyond a double's range: the
    // record is written (it matched), and its alert must be there too.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let odd = format!(
        r#"{{"eventVersion":"1.08","eventID":"big","eventTime":"2024-08-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"DeleteUser","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"}},"tlsDetails":{{"n":1e400,"deep":{deep}}}}}"#
    );
    std::fs::write(input.join("a.json.gz"), raw_file(&[odd])).unwrap();
    // A truncated file: it fails, has no output, and must raise no alert.
    let whole = records_file(
        &(0..300)
            .map(|i| {
                record(
                    &format!("t{i}"),
                    "2024-08-01T11:00:00Z",
                    "bob",
                    "iam.amazonaws.com",
                )
            })
            .collect::<Vec<_>>(),
    );
    std::fs::write(input.join("b.json.gz"), &whole[..whole.len() / 2]).unwrap();
    let alerts = dir.path().join("alerts.ndjson");
    let out = run_alerts(&rules, &input, &dir.path().join("out"), &alerts, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let got = alerts_of(&alerts);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["eventID"], "big");
    assert_eq!(got[0]["actor"]["name"], "alice");
}

#[test]
fn two_runs_in_one_second_write_two_alerts_files() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, input) = one_iam_change(dir.path());
    let folder = dir.path().join("alerts/");
    for out in ["o1", "o2"] {
        let run = run_alerts(&rules, &input, &dir.path().join(out), &folder, &[]);
        assert!(run.status.success(), "{}", text(&run));
    }
    assert_eq!(files_under(&folder).len(), 2);
}

#[test]
fn times_with_offsets_are_ordered_as_instants_and_ocsf_always_has_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let at = |id: &str, time: &str| {
        let mut r = record(id, time, "alice", "iam.amazonaws.com");
        if time.is_empty() {
            r.as_object_mut().unwrap().remove("eventTime");
        }
        serde_json::to_string(&r).unwrap()
    };
    // 10:30 UTC written with an offset, and 10:00 UTC: 10:00 comes first.
    std::fs::write(
        input.join("a.json.gz"),
        raw_file(&[
            at("later", "2024-08-01T15:30:00+05:00"),
            at("earlier", "2024-08-01T10:00:00Z"),
        ]),
    )
    .unwrap();
    std::fs::write(input.join("b.json.gz"), raw_file(&[at("untimed", "")])).unwrap();
    let alerts = dir.path().join("alerts.ndjson");
    let out = run_alerts(
        &rules,
        &input,
        &dir.path().join("out"),
        &alerts,
        &["--alert-format", "ocsf"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let got = alerts_of(&alerts);
    let timed = got.iter().find(|f| f["count"] == 2).unwrap();
    assert_eq!(timed["unmapped"]["eventID"], "earlier");
    assert_eq!(timed["unmapped"]["lastSeen"], "2024-08-01T15:30:00+05:00");
    for finding in &got {
        assert!(finding["time"].as_i64().is_some(), "{finding}");
        assert_ne!(finding["cloud"]["region"], "?");
    }
}

#[test]
fn the_rules_version_field_replaces_one_already_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut r = record("a1", "2024-08-01T10:00:00Z", "alice", "iam.amazonaws.com");
    r["xrulesversion"] = json!("an-older-one");
    std::fs::write(input.join("a.json.gz"), records_file(&[r])).unwrap();
    let out_dir = dir.path().join("out");
    let out = ctrules()
        .args([
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args([
            "--output",
            out_dir.to_str().unwrap(),
            "--add-fields",
            "version",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let line = gunzip(&std::fs::read(out_dir.join("a.json.gz")).unwrap());
    assert_eq!(line.matches("\"xrulesversion\"").count(), 1, "{line}");
    assert!(!line.contains("an-older-one"), "{line}");
}

#[test]
fn the_same_rules_directory_given_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path(), "d.rules", DETECTIONS);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let out = ctrules()
        .args([
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--rules",
            rules.join("d.rules").to_str().unwrap(),
        ])
        .args([
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.path().join("o").to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

//! The catalog knows the real events: every (eventSource, eventName) of the
//! CloudTrail events under tests/fixtures is in it, except the made-up
//! pairs of public detection tests, which it must not know.

use ctrules_core::catalog::catalog;
use ctrules_core::reader::{read_log, Record};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Pairs that no real CloudTrail log has: negative cases that
/// panther-analysis's rule tests made up (an S3 call under ec2, an IAM
/// call named `NotCreateUser`, the API's `DescribeTrails` as
/// `DescribeTrail`, IAM action names such as `s3:ListBucket` used as event
/// names). `ctrules check` flags a rule that names one of them.
const MADE_UP: &[(&str, &str)] = &[
    ("cloudtrail.amazonaws.com", "DeleteRule"),
    ("cloudtrail.amazonaws.com", "DescribeTrail"),
    ("cloudtrail.amazonaws.com", "EnableRegion"),
    ("ec2.amazonaws.com", "DeleteBucketEncryption"),
    ("ec2.amazonaws.com", "DeleteBucketPublicAccessBlock"),
    ("ec2.amazonaws.com", "DeleteBucketReplication"),
    ("ec2.amazonaws.com", "PutBucketLogging"),
    ("ec2.amazonaws.com", "PutBucketVersioning"),
    ("ec2.amazonaws.com", "RegisterManagedInstance"),
    ("iam.amazonaws.com", "DescribePolicy"),
    ("iam.amazonaws.com", "DetachUserGroup"),
    ("iam.amazonaws.com", "NotCreateUser"),
    ("iam.amazonaws.com", "PutPolicy"),
    ("s3.amazonaws.com", "CreateServiceLinkedRole"),
    ("s3.amazonaws.com", "ListAllMyBuckets"),
    ("s3.amazonaws.com", "ListBucket"),
    ("s3.amazonaws.com", "SetQueueAttributes"),
    ("signin.amazonaws.com", "AssumeRole"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.to_string_lossy().ends_with(".json")
            || path.to_string_lossy().ends_with(".ndjson")
            || path.to_string_lossy().ends_with(".json.gz")
        {
            out.push(path);
        }
    }
}

/// Every (eventSource, eventName) and eventType of the fixture events.
fn fixture_events() -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let mut paths = Vec::new();
    files(&fixtures(), &mut paths);
    let mut pairs = BTreeSet::new();
    let mut types = BTreeSet::new();
    for path in paths {
        let file = std::fs::File::open(&path).unwrap();
        // Malformed files are part of the corpus: what they hold is skipped.
        let _ = read_log(file, &mut |r: Record<'_>| {
            let text = |k: &str| r.value.member(k).and_then(|v| v.as_str()).map(String::from);
            if let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) {
                pairs.insert((source, name));
            }
            types.extend(text("eventType"));
            Ok(())
        });
    }
    (pairs, types)
}

#[test]
fn every_real_fixture_event_is_in_the_catalog() {
    let (pairs, _) = fixture_events();
    assert!(pairs.len() > 200, "found {} pairs", pairs.len());
    let c = catalog();
    let mut unknown = Vec::new();
    for (source, name) in &pairs {
        let made_up = MADE_UP.contains(&(source.as_str(), name.as_str()));
        let known = c
            .service(source, false)
            .is_some_and(|(_, s)| s.logs(name, false));
        if known == made_up {
            unknown.push(format!("{source} {name} (made up: {made_up})"));
        }
    }
    assert!(
        unknown.is_empty(),
        "catalog and fixtures disagree:\n{}",
        unknown.join("\n")
    );
    for pair in MADE_UP {
        assert!(
            pairs.contains(&(pair.0.to_string(), pair.1.to_string())),
            "{pair:?} is no longer in the fixtures: drop it from MADE_UP"
        );
    }
}

#[test]
fn every_fixture_event_type_is_known() {
    let (_, types) = fixture_events();
    let known = ctrules_core::schema::EVENT_TYPES;
    // The IAM User Guide's example writes `AwsConsoleSignin`; CloudTrail
    // writes `AwsConsoleSignIn`.
    let odd: Vec<&String> = types
        .iter()
        .filter(|t| !known.contains(&t.as_str()) && t.as_str() != "AwsConsoleSignin")
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    assert!(types.len() >= 6, "{types:?}");
}

//! The alert stream of `--alerts DST`: one alert per match of a rule that
//! has a severity, grouped by a dedup key within a window.
//!
//! While the inputs are read, each match of a rule with a severity is
//! noted as a [`Sighting`]: a summary of the record (who, where, what),
//! not the record itself, so memory grows by about a hundred bytes per
//! match. At the end, the sightings are sorted by rule, dedup key, event
//! time and event id, a total order that does not depend on which worker
//! read what, and grouped: a group starts at a sighting and takes every
//! later one of the same rule and key within the window. So the alerts are
//! the same whatever `--jobs` is, and a rerun over the same inputs gives the
//! same bytes.
//!
//! The default dedup key is the rule, the account and the actor (its ARN,
//! else its name): "the same rule fired for the same principal in the same
//! account" is one thing to look at, however many events it took. A rule
//! with a `dedup "..."` template keys its alerts by the rule and the
//! template rendered from each record instead; one with `dedup_window`
//! groups within that window instead of the run's. A `title "..."`
//! template is rendered from each record too, and an alert takes the title
//! of its first sighting.

use crate::report::{JobError, Stage};
use ctrules_compiler::RuleSet;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Event ids listed in one alert; past this, only counted.
pub const MAX_EVENT_IDS: usize = 20;

/// The default window within which sightings of one key are one alert.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertsTo {
    /// `-`: standard output, after the run.
    Stdout,
    /// A file, replaced atomically.
    File(PathBuf),
    /// A directory (existing, or named with a trailing `/`): a new file per
    /// run in it, named by the run's start and rules version.
    Dir(PathBuf),
    /// `s3://bucket/prefix`: a new object per run under it, named the same way.
    S3(crate::s3::S3Url),
}

impl AlertsTo {
    pub fn parse(text: &str) -> Result<AlertsTo, String> {
        if text == "-" {
            Ok(AlertsTo::Stdout)
        } else if text.starts_with("s3://") {
            crate::s3::S3Url::parse(text).map(AlertsTo::S3)
        } else if text.is_empty() {
            Err("an empty path".into())
        } else if text.ends_with('/') || std::path::Path::new(text).is_dir() {
            Ok(AlertsTo::Dir(PathBuf::from(text)))
        } else {
            Ok(AlertsTo::File(PathBuf::from(text)))
        }
    }
}

/// One match of a rule with a severity, as much of it as an alert shows.
#[derive(Debug, Clone)]
struct Sighting {
    rule: usize,
    key: String,
    /// The rule's `title` template rendered from the record, when it has one.
    title: Option<String>,
    time: String,
    /// Seconds since 1970, when the event time reads as one.
    at: Option<i64>,
    event_id: Option<String>,
    /// The actor and the summary as JSON text: a few hundred bytes each,
    /// where maps of values would take several times that per match.
    actor: Box<str>,
    summary: Box<str>,
    input: String,
}

/// The sightings of a run, gathered from every worker.
#[derive(Default)]
pub struct Alerts {
    sightings: Mutex<Vec<Sighting>>,
}

/// The record's fields an alert's summary keeps.
const SUMMARY_FIELDS: [&str; 8] = [
    "eventName",
    "eventSource",
    "awsRegion",
    "recipientAccountId",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
];

impl Alerts {
    /// Notes the matches in `matched` (indexes into `rules`) of the record
    /// `raw`, read from `input`, for the rules that have a severity.
    /// `projected` is the record as the reader parsed it for the rules:
    /// the fallback when the whole record does not parse as a `Value` (a
    /// number beyond a double's range, nesting deeper than serde_json takes,
    /// in a field no rule reads): a match never goes without its alert.
    pub fn sighted(
        &self,
        rules: &RuleSet,
        matched: &[usize],
        raw: &[u8],
        projected: &dyn ctrules_core::Members,
        input: &str,
    ) {
        let alerting: Vec<usize> = matched
            .iter()
            .copied()
            .filter(|&i| rules.rules()[i].info.severity.is_some())
            .collect();
        if alerting.is_empty() {
            return;
        }
        let record = serde_json::from_slice::<Value>(raw)
            .or_else(|_| {
                static ALERT_FIELDS: std::sync::OnceLock<ctrules_core::reader::FieldSet> =
                    std::sync::OnceLock::new();
                let fields = ALERT_FIELDS.get_or_init(|| {
                    ctrules_core::reader::FieldSet::new(SUMMARY_FIELDS.iter().chain(&[
                        "eventTime",
                        "eventID",
                        "userIdentity",
                        "requestParameters",
                        "responseElements",
                        "resources",
                        "additionalEventData",
                    ]))
                });
                ctrules_core::reader::parse_projected(raw, Some(fields))
            })
            .unwrap_or_else(|_| projected.whole().cloned().unwrap_or_default());
        let text = |k: &str| {
            record
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let actor = ctrules_context::actor::resolve(&record);
        let mut summary = Map::new();
        for field in SUMMARY_FIELDS {
            if let Some(v) = record.get(field) {
                summary.insert(field.to_string(), v.clone());
            }
        }
        let account = record
            .get("recipientAccountId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| actor.account.clone())
            .unwrap_or_default();
        let who = actor
            .arn
            .clone()
            .or_else(|| actor.name.clone())
            .unwrap_or_else(|| actor.kind.clone());
        let time = text("eventTime");
        let at = chrono::DateTime::parse_from_rfc3339(&time)
            .ok()
            .map(|t| t.timestamp());
        let mut sightings = self.sightings.lock().unwrap_or_else(|e| e.into_inner());
        for rule in alerting {
            let info = &rules.rules()[rule].info;
            let key = match &info.dedup {
                Some(template) => format!("{}|{}", info.id, template.render(&record, &actor)),
                None => format!("{}|{account}|{who}", info.id),
            };
            sightings.push(Sighting {
                rule,
                key,
                title: info.title.as_ref().map(|t| t.render(&record, &actor)),
                time: time.clone(),
                at,
                event_id: record
                    .get("eventID")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                actor: actor.to_value().to_string().into(),
                summary: Value::Object(summary.clone()).to_string().into(),
                input: input.to_string(),
            });
        }
    }

    /// Takes the sightings of `other` (one input's, once it is done).
    pub fn absorb(&self, other: Alerts) {
        let theirs = other
            .sightings
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        self.sightings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(theirs);
    }

    /// The alerts, grouped within `window` (or a rule's own `dedup_window`),
    /// in order of first sighting.
    pub fn grouped(&self, rules: &RuleSet, window: Duration) -> Vec<Value> {
        let mut sightings =
            std::mem::take(&mut *self.sightings.lock().unwrap_or_else(|e| e.into_inner()));
        // By the instant first (`+05:00` and `Z` times in one order), the
        // text after: times that do not read as one come last.
        sightings.sort_by(|a, b| {
            (
                a.rule,
                &a.key,
                a.at.is_none(),
                a.at,
                &a.time,
                &a.event_id,
                &a.input,
                &a.title,
            )
                .cmp(&(
                    b.rule,
                    &b.key,
                    b.at.is_none(),
                    b.at,
                    &b.time,
                    &b.event_id,
                    &b.input,
                    &b.title,
                ))
        });
        let window = |rule: usize| {
            rules.rules()[rule]
                .info
                .dedup_window
                .unwrap_or(window)
                .as_secs() as i64
        };
        let mut groups: Vec<Vec<Sighting>> = Vec::new();
        for s in sightings {
            let joins = groups.last().is_some_and(|g| {
                let first = &g[0];
                first.rule == s.rule
                    && first.key == s.key
                    && match (first.at, s.at) {
                        (Some(a), Some(b)) => b - a <= window(s.rule),
                        (None, None) => true,
                        _ => false,
                    }
            });
            match groups.last_mut() {
                Some(g) if joins => g.push(s),
                _ => groups.push(vec![s]),
            }
        }
        let mut alerts: Vec<(String, usize, String, Value)> = groups
            .into_iter()
            .map(|g| {
                let first = &g[0];
                let last = &g[g.len() - 1];
                let info = &rules.rules()[first.rule].info;
                let summary: Value = serde_json::from_str(&first.summary).unwrap_or_default();
                let first_actor: Value = serde_json::from_str(&first.actor).unwrap_or_default();
                let summary = &summary;
                let actor = first_actor["name"]
                    .as_str()
                    .or(first_actor["type"].as_str())
                    .unwrap_or("someone");
                let what = summary["eventName"].as_str().unwrap_or("an event");
                let account = summary["recipientAccountId"]
                    .as_str()
                    .or(first_actor["account"].as_str())
                    .unwrap_or("?");
                let region = summary["awsRegion"].as_str().unwrap_or("?");
                let headline = info.description.as_deref().unwrap_or(&info.id);
                let alert = json!({
                    "rule": info.id.as_ref(),
                    "severity": info.severity.map(|s| s.as_str()),
                    "title": match &first.title {
                        Some(title) => title.clone(),
                        None => format!("{headline}: {what} by {actor} in {account} {region}"),
                    },
                    "description": info.description,
                    "tags": info.tags,
                    "techniques": info.techniques,
                    "references": info.references,
                    "dedup": first.key,
                    "count": g.len(),
                    "firstSeen": first.time,
                    "lastSeen": last.time,
                    "account": account,
                    "region": region,
                    "actor": first_actor,
                    "eventTime": first.time,
                    "eventID": first.event_id,
                    "eventIDs": g.iter().filter_map(|s| s.event_id.as_deref()).take(MAX_EVENT_IDS).collect::<Vec<_>>(),
                    "event": summary,
                    "input": first.input,
                });
                (first.time.clone(), first.rule, first.key.clone(), alert)
            })
            .collect();
        alerts.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
        alerts.into_iter().map(|(_, _, _, a)| a).collect()
    }
}

/// How alerts are written (`--alert-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertFormat {
    /// ctrules's own fields (docs/cli.md, "Alerts").
    #[default]
    Ctrules,
    /// OCSF 1.1 Detection Finding (class 2004), as security lakes take it.
    Ocsf,
}

/// An alert as an OCSF Detection Finding: the same facts under OCSF's
/// names (class 2004, category Findings, activity Create), with ctrules's
/// own alert kept whole under `unmapped`.
pub fn ocsf(alert: &Value) -> Value {
    let severity = alert["severity"].as_str().unwrap_or("");
    let (severity_id, severity_name) = match severity {
        "INFO" => (1, "Informational"),
        "LOW" => (2, "Low"),
        "MEDIUM" => (3, "Medium"),
        "HIGH" => (4, "High"),
        "CRITICAL" => (5, "Critical"),
        _ => (0, "Unknown"),
    };
    let millis = |field: &str| {
        alert[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    // `T1078.004` is sub-technique 004 of technique T1078.
    let attacks: Vec<Value> = alert["techniques"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| match t.split_once('.') {
            Some((technique, _)) => {
                json!({"technique": {"uid": technique}, "sub_technique": {"uid": t}})
            }
            None => json!({"technique": {"uid": t}}),
        })
        .collect();
    // `time` is required: the first sighting's, else when the alert is made.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let known = |v: &Value| match v.as_str() {
        Some("?") | Some("") => Value::Null,
        _ => v.clone(),
    };
    let rule = alert["rule"].as_str().unwrap_or("");
    let uid = format!(
        "{rule}|{}|{}",
        alert["dedup"].as_str().unwrap_or(""),
        alert["firstSeen"].as_str().unwrap_or("")
    );
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": 1,
        "status": "New",
        "time": millis("firstSeen").unwrap_or_else(now),
        "count": alert["count"],
        "message": alert["title"],
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "ctrules", "vendor_name": "ctrules"},
            "uid": uid,
        },
        "finding_info": {
            "uid": uid,
            "title": alert["title"],
            "desc": alert["description"],
            "first_seen_time": millis("firstSeen"),
            "last_seen_time": millis("lastSeen"),
            "analytic": {"uid": rule, "name": rule, "type_id": 1, "type": "Rule"},
            "attacks": attacks,
            "src_url": alert["references"].get(0),
        },
        "cloud": {
            "provider": "AWS",
            "region": known(&alert["region"]),
            "account": {"uid": known(&alert["account"]), "type_id": 10, "type": "AWS Account"},
        },
        "actor": {"user": {
            "name": alert["actor"]["name"],
            "uid": alert["actor"]["arn"],
            "type": alert["actor"]["type"],
            "account": {"uid": alert["actor"]["account"], "type_id": 10, "type": "AWS Account"},
        }},
        "evidences": [{"data": alert["event"]}],
        "unmapped": alert,
    })
}

/// The alerts as NDJSON in `format`.
pub fn ndjson_as(alerts: &[Value], format: AlertFormat) -> Vec<u8> {
    match format {
        AlertFormat::Ctrules => ndjson(alerts),
        AlertFormat::Ocsf => ndjson(&alerts.iter().map(ocsf).collect::<Vec<_>>()),
    }
}

/// The alerts as NDJSON.
pub fn ndjson(alerts: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in alerts {
        out.extend_from_slice(a.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The name of a run's alerts file in a directory or under a prefix:
/// the time to the nanosecond, the rules version and the process, so two
/// runs (in one second, on one machine or several) never take one name.
pub fn file_name(started: std::time::SystemTime, rules_version: &str) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from(started);
    format!(
        "alerts-{}-{rules_version}-{}.ndjson",
        t.format("%Y%m%dT%H%M%S%.9fZ"),
        std::process::id()
    )
}

/// A failure to write alerts, as a job error (for the summary).
pub fn write_error(what: &str, e: impl std::fmt::Display) -> JobError {
    JobError::new(
        Stage::Write,
        true,
        format!("cannot write the alerts to {what}: {e}"),
    )
}

/// A watch's alerts: each input's, grouped within it and written once its
/// output is committed, before the input is marked done (or its message
/// deleted), so an input is never done without its alerts. To a directory
/// or an S3 prefix, one file per input at its output's name, so an input
/// processed again replaces its alerts rather than adding to them; to a
/// file or standard output, appended.
pub struct PerInputAlerts {
    pub to: AlertsTo,
    pub window: Duration,
    pub format: AlertFormat,
    /// The S3 client and the runtime its calls run on, for `s3://`.
    pub s3: Option<(aws_sdk_s3::Client, tokio::runtime::Handle)>,
    /// One input's lines at a time in an appended file.
    appending: Mutex<()>,
}

impl PerInputAlerts {
    pub fn new(
        to: AlertsTo,
        window: Duration,
        format: AlertFormat,
        s3: Option<(aws_sdk_s3::Client, tokio::runtime::Handle)>,
    ) -> PerInputAlerts {
        PerInputAlerts {
            to,
            window,
            format,
            s3,
            appending: Mutex::new(()),
        }
    }

    /// Writes the alerts `sighted` in the input of `job`.
    pub fn write(
        &self,
        job: &crate::job::Job,
        rules: &RuleSet,
        sighted: &Alerts,
    ) -> Result<(), JobError> {
        let alerts = sighted.grouped(rules, self.window);
        if alerts.is_empty() {
            return Ok(());
        }
        let s3 = self.s3.as_ref().map(|(c, h)| (c, h));
        let _one_at_a_time = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        write_to(
            &self.to,
            &alerts_name(&job.output),
            &ndjson_as(&alerts, self.format),
            s3,
            File::Append,
        )
    }
}

/// How a file destination is written: replaced (a run's alerts) or
/// appended to (each input's, in a watch).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum File {
    Replace,
    Append,
}

/// Writes `body` to `to`, under `name` in a directory or a prefix.
pub fn write_to(
    to: &AlertsTo,
    name: &std::path::Path,
    body: &[u8],
    s3: Option<(&aws_sdk_s3::Client, &tokio::runtime::Handle)>,
    file: File,
) -> Result<(), JobError> {
    use std::io::Write;
    let shown = crate::source::display_path;
    match to {
        AlertsTo::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(body)
                .and_then(|()| out.flush())
                .map_err(|e| write_error("standard output", e))
        }
        AlertsTo::File(path) if file == File::Replace => {
            crate::inflight::write_named_file(path, body).map_err(|e| write_error(&shown(path), e))
        }
        AlertsTo::File(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(body).and_then(|()| f.sync_data()))
            .map_err(|e| write_error(&shown(path), e)),
        AlertsTo::Dir(dir) => {
            let target = dir.join(name);
            target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| crate::inflight::write_atomically(&target, body))
                .map_err(|e| write_error(&shown(&target), e))
        }
        AlertsTo::S3(url) => {
            let Some((client, runtime)) = s3 else {
                return Err(write_error(&url.to_string(), "no S3 client"));
            };
            let key = format!("{}{}", url.prefix_dir(), name.to_string_lossy());
            runtime
                .block_on(
                    client
                        .put_object()
                        .bucket(&url.bucket)
                        .key(&key)
                        .content_type("application/x-ndjson")
                        .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
                        .send(),
                )
                .map(|_| ())
                .map_err(|e| {
                    crate::s3::fault::job_error(
                        Stage::Write,
                        "PutObject",
                        &format!("s3://{}/{key}", url.bucket),
                        &e,
                    )
                })
        }
    }
}

/// The alerts file of an input, beside where its output goes:
/// `a/x.json.gz` gives `a/x.alerts.ndjson`.
pub fn alerts_name(output: &std::path::Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = [
        ".json.gz",
        ".ndjson.gz",
        ".jsonl.gz",
        ".json.zst",
        ".ndjson.zst",
        ".jsonl.zst",
        ".json",
        ".ndjson",
        ".jsonl",
        ".gz",
        ".zst",
    ]
    .iter()
    .find_map(|ext| name.strip_suffix(ext))
    .unwrap_or(&name);
    output.with_file_name(format!("{stem}.alerts.ndjson"))
}

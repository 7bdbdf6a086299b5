//! The run pipeline in-process, without the binary: a plan over a local
//! tree, the summary it returns, the outputs it writes, and what a rerun
//! with a state file does.

use ctrules_runner::plan::State;
use ctrules_runner::run::Event;
use ctrules_runner::{Location, Plan, Status};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn rules(dir: &Path) -> Arc<ctrules_compiler::RuleSet> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("iam.rules"),
        "rule iam {\n  when eventSource == \"iam.amazonaws.com\"\n  set xpriority = HIGH\n}\n",
    )
    .unwrap();
    let loaded = ctrules_runner::rules::load(std::slice::from_ref(&rules), &[]).unwrap();
    assert!(loaded.files.iter().any(|f| f.ends_with("iam.rules")));
    Arc::new(loaded.compilation.rules.expect("the rules compile"))
}

fn plan(input: &Path, output: &Path, state: State) -> Plan {
    Plan {
        input: Location::Path(input.to_path_buf()),
        output: Location::Path(output.to_path_buf()),
        jobs: 2,
        compression: ctrules_core::Codec::Gzip,
        compression_level: 1,
        also_writes: Vec::new(),
        never_replace: Vec::new(),
        s3: Default::default(),
        filters: Default::default(),
        state,
        reprocess: false,
        alerts: None,
        alert_window: ctrules_runner::alerts::DEFAULT_WINDOW,
        alert_format: Default::default(),
        added: Default::default(),
    }
}

#[test]
fn a_tree_runs_in_process_and_a_rerun_with_state_does_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for f in 0..4 {
        let records: Vec<Value> = (0..3)
            .map(|i| json!({"eventVersion": "1.08", "eventSource": if i == 0 { "iam.amazonaws.com" } else { "s3.amazonaws.com" }, "eventName": "X", "eventID": format!("{f}-{i}")}))
            .collect();
        let body = serde_json::to_vec(&json!({ "Records": records })).unwrap();
        std::fs::write(logs.join(format!("{f}.json.gz")), gzip(&body)).unwrap();
    }
    std::fs::write(logs.join("notes.txt"), "not a log").unwrap();
    let rules = rules(tmp.path());
    let out = tmp.path().join("out");
    let finished = Mutex::new(Vec::new());
    let events = |e: Event<'_>| {
        if let Event::Finished(report) = e {
            finished
                .lock()
                .unwrap()
                .push((report.input.clone(), report.status.clone()));
        }
    };
    let state = State::File(tmp.path().join("state.redb"));
    let outcome =
        ctrules_runner::run(&plan(&logs, &out, state.clone()), rules.clone(), &events).unwrap();
    let summary = outcome.summary;
    assert_eq!(summary.files_processed, 4);
    assert_eq!(summary.files_skipped, 1);
    assert_eq!((summary.events_in, summary.events_out), (12, 12));
    assert_eq!(summary.matches.len(), 1);
    assert_eq!(
        (summary.matches[0].rule.as_str(), summary.matches[0].events),
        ("iam", 4)
    );
    assert_eq!(finished.lock().unwrap().len(), 5);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(out.join("0.json.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["xpriority"], "HIGH");
    assert_eq!(first["xrules"], json!(["iam"]));

    // Again, with the same state: everything is done.
    finished.lock().unwrap().clear();
    let again = ctrules_runner::run(&plan(&logs, &out, state), rules, &events).unwrap();
    assert_eq!(again.summary.files_processed, 0);
    assert_eq!(again.summary.files_already_done, 4);
    assert!(finished
        .lock()
        .unwrap()
        .iter()
        .any(|(_, status)| *status == Status::AlreadyDone));
}

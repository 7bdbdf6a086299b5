//! The checkpoint store of `run --state`: what it records, what it refuses,
//! and what a kill -9 leaves.

use ctrules_runner::state::{
    local_version, s3_key, Checkpointer, Done, LocalKeys, StateError, StateStore,
};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const RULES: &str = "0123456789ab";
/// Set in a child process of this binary: what the child does.
const CHILD: &str = "CTRULES_STATE_CHILD";

fn key(i: u64) -> String {
    s3_key(
        "trail",
        &format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/{i:08}.json.gz"),
    )
}

fn etag(i: u64) -> String {
    format!("\"{:032x}\"", i.wrapping_mul(0x9e3779b97f4a7c15))
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path().join("state")).unwrap();
    assert_eq!(store.len().unwrap(), 0);
    assert!(store.is_empty().unwrap());
    assert!(!store.is_done(key(1), &etag(1), RULES).unwrap());

    let done = Done::new(key(1), etag(1), RULES);
    store.mark_done(std::slice::from_ref(&done)).unwrap();
    assert!(store.is_done(key(1), &etag(1), RULES).unwrap());
    assert!(!store.is_done(key(2), &etag(2), RULES).unwrap());
    assert_eq!(store.get(key(1)).unwrap(), Some(done.record.clone()));
    assert_eq!(store.get(key(2)).unwrap(), None);
    assert_eq!(store.len().unwrap(), 1);

    store.mark_done(&[]).unwrap();
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn a_changed_object_or_changed_rules_are_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path().join("state")).unwrap();
    store
        .mark_done(&[Done::new(key(1), etag(1), RULES)])
        .unwrap();
    assert!(store.is_done(key(1), &etag(1), RULES).unwrap());
    assert!(!store.is_done(key(1), &etag(2), RULES).unwrap());
    assert!(!store.is_done(key(1), &etag(1), "ba9876543210").unwrap());
    // Versions are compared whole, not as prefixes.
    assert!(!store.is_done(key(1), &etag(1)[..10], RULES).unwrap());
    assert!(!store.is_done(key(1), &etag(1), &RULES[..6]).unwrap());

    // Done again with the new rules: the new record replaces the old one.
    store
        .mark_done(&[Done::new(key(1), etag(1), "ba9876543210")])
        .unwrap();
    assert!(store.is_done(key(1), &etag(1), "ba9876543210").unwrap());
    assert!(!store.is_done(key(1), &etag(1), RULES).unwrap());
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn local_keys_keep_every_byte_of_a_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), "{}").unwrap();
    let keys = LocalKeys::new(&dir.path().join(".").join("")).unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(
        keys.key(OsStr::new("x/a.json")),
        format!("{}/x/a.json", canonical.display()).into_bytes()
    );
    // Two names that a lossy conversion to UTF-8 would make one.
    let one = keys.key(OsStr::from_bytes(b"log-\xff.json"));
    let two = keys.key(OsStr::from_bytes(b"log-\xfe.json"));
    assert_ne!(one, two);

    let meta = std::fs::metadata(dir.path().join("a.json")).unwrap();
    let version = local_version(&meta);
    assert!(version.starts_with("2:"), "{version}");

    let store = StateStore::open(dir.path().join("state")).unwrap();
    store
        .mark_done(&[Done::new(one.clone(), version.clone(), RULES)])
        .unwrap();
    assert!(store.is_done(&one, &version, RULES).unwrap());
    assert!(!store.is_done(&two, &version, RULES).unwrap());
}

#[test]
fn marks_from_many_threads_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(StateStore::open(dir.path().join("state")).unwrap());
    let checkpointer = Checkpointer::new(Arc::clone(&store), 64, Duration::from_millis(5));
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let checkpointer = &checkpointer;
            let store = &store;
            s.spawn(move || {
                for i in 0..500 {
                    let n = t * 1000 + i;
                    checkpointer
                        .mark(Done::new(key(n), etag(n), RULES))
                        .unwrap();
                    // Look-ups run beside the commits.
                    if i % 50 == 0 {
                        store.is_done(key(n), &etag(n), RULES).unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(checkpointer.finish().unwrap(), 4000);
    assert_eq!(store.len().unwrap(), 4000);
    for t in 0..8u64 {
        for i in 0..500 {
            let n = t * 1000 + i;
            assert!(store.is_done(key(n), &etag(n), RULES).unwrap(), "{n}");
        }
    }
    // After finish, marks are refused, not lost silently.
    assert!(checkpointer
        .mark(Done::new(key(1), etag(1), RULES))
        .is_err());
    assert_eq!(checkpointer.finish().unwrap(), 0);
}

#[test]
fn a_dropped_checkpointer_commits_what_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(StateStore::open(dir.path().join("state")).unwrap());
    {
        // Neither the count nor the interval is reached.
        let checkpointer = Checkpointer::new(Arc::clone(&store), 1000, Duration::from_secs(3600));
        for n in 0..10 {
            checkpointer
                .mark(Done::new(key(n), etag(n), RULES))
                .unwrap();
        }
    }
    assert_eq!(store.len().unwrap(), 10);
}

#[test]
fn a_reopened_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    {
        let store = StateStore::open(&path).unwrap();
        let batch: Vec<Done> = (0..300)
            .map(|n| Done::new(key(n), etag(n), RULES))
            .collect();
        store.mark_done(&batch[..100]).unwrap();
        store.mark_done(&batch[100..]).unwrap();
    }
    let store = StateStore::open(&path).unwrap();
    assert_eq!(store.len().unwrap(), 300);
    for n in 0..300 {
        assert!(store.is_done(key(n), &etag(n), RULES).unwrap(), "{n}");
    }
    let summary = store.summary().unwrap();
    assert_eq!(summary.entries, 300);
    assert_eq!(summary.rules_versions.get(RULES), Some(&300));
    assert!(summary.first_done.unwrap() <= summary.last_done.unwrap());
    let mut seen = 0;
    store
        .for_each(|k, r| {
            assert!(k.starts_with(b"s3://trail/AWSLogs/"));
            assert_eq!(r.rules_version, RULES);
            seen += 1;
        })
        .unwrap();
    assert_eq!(seen, 300);
}

#[test]
fn a_second_open_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let first = StateStore::open(&path).unwrap();
    let err = StateStore::open(&path).unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is in use by another ctrules run"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert_eq!(err.path(), path);
    drop(first);
    StateStore::open(&path).unwrap();
}

#[test]
fn a_second_process_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let mut child = child("hold", &path);
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // The test harness's own lines come too.
            if line == "open" {
                let _ = tx.send(());
            }
        }
    });
    let opened = rx.recv_timeout(Duration::from_secs(120));
    if opened.is_err() {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("the child did not open the store");
    }
    let err = StateStore::open(&path).unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    match &err {
        StateError::Locked { holders, .. } if cfg!(target_os = "linux") => {
            assert_eq!(holders, &[child.id()], "{err}")
        }
        StateError::Locked { .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains(&format!("(pid {})", child.id())) || !cfg!(target_os = "linux")
    );
    // Its lock went with it.
    StateStore::open(&path).unwrap();
}

#[test]
fn other_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("log.json", b"{\"Records\":[]}\n"),
        ("short", b"re"),
        ("zeros", &[0; 8192]),
        ("gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = StateStore::open(&path).unwrap_err();
        assert!(
            matches!(err, StateError::NotAStateFile { .. }),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("is not a ctrules state file"), "{text}");
        assert!(text.contains(name), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");
    }
    // A directory.
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::NotAStateFile { .. }), "{err:?}");
    // An empty file becomes a store.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(StateStore::open(&empty).unwrap().len().unwrap(), 0);
}

#[test]
fn a_redb_file_of_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("numbers");
            txn.open_table(table).unwrap().insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = StateStore::open(&path).unwrap_err();
    assert!(matches!(err, StateError::NotAStateFile { .. }), "{err:?}");
    assert!(err.to_string().contains("numbers"), "{err}");
}

#[test]
fn a_damaged_store_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    {
        let store = StateStore::open(&good).unwrap();
        let batch: Vec<Done> = (0..2000)
            .map(|n| Done::new(key(n), etag(n), RULES))
            .collect();
        store.mark_done(&batch).unwrap();
    }
    let bytes = std::fs::read(&good).unwrap();
    let mut refused = 0;
    // Damage a run of bytes at offsets across the file, past the magic.
    for step in 1..40 {
        let at = 9 + (bytes.len() - 64) * step / 40;
        let mut damaged = bytes.clone();
        for b in &mut damaged[at..at + 32] {
            *b ^= 0x5a;
        }
        let path = dir.path().join(format!("damaged-{step}"));
        std::fs::write(&path, &damaged).unwrap();
        match StateStore::open(&path) {
            Ok(store) => {
                // The damage fell where nothing is kept: reads must still work.
                store.summary().unwrap();
            }
            Err(e @ (StateError::Corrupt { .. } | StateError::NotAStateFile { .. })) => {
                assert!(e.to_string().contains("damaged-"), "{e}");
                refused += 1;
            }
            Err(e) => panic!("at {at}: {e:?}"),
        }
    }
    eprintln!("{refused} of 39 damaged files refused");
    assert!(refused > 0);
}

/// The child's side of the tests below; a no-op in a normal test run.
#[test]
fn child_process() {
    let Ok(what) = std::env::var(CHILD) else {
        return;
    };
    let path = std::env::var("CTRULES_STATE_PATH").unwrap();
    let store = StateStore::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    // The harness has written "test child_process ... " without a newline.
    writeln!(out).unwrap();
    if what == "hold" {
        writeln!(out, "open").unwrap();
        out.flush().unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    // "mark": batches of consecutive keys, forever, announcing each before
    // and after its commit.
    let mut next = store.len().unwrap();
    let mut seed = next.wrapping_add(std::process::id() as u64);
    loop {
        seed = xorshift(seed);
        let size = 1 + seed % 200;
        let batch: Vec<Done> = (next..next + size)
            .map(|n| Done::new(key(n), etag(n), RULES))
            .collect();
        next += size;
        writeln!(out, "begin {next}").unwrap();
        out.flush().unwrap();
        store.mark_done(&batch).unwrap();
        writeln!(out, "done {next}").unwrap();
        out.flush().unwrap();
    }
}

fn child(what: &str, path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, what)
        .env("CTRULES_STATE_PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.max(1)
}

#[test]
fn a_kill_9_at_any_moment_leaves_only_committed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let mut seed = xorshift(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    let mut last_done = 0;
    for round in 0..8 {
        let mut child = child("mark", &path);
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut begun, mut done) = (0u64, 0u64);
            for line in BufReader::new(out).lines() {
                let line = line.unwrap();
                // The test harness's own lines are not "begin N" or "done N".
                let Some((what, n)) = line.split_once(' ') else {
                    continue;
                };
                match (what, n.parse::<u64>()) {
                    ("begin", Ok(n)) => begun = n,
                    ("done", Ok(n)) => done = n,
                    _ => {}
                }
            }
            (begun, done)
        });
        // Anywhere from before the open (and its recovery) to many commits in.
        seed = xorshift(seed);
        std::thread::sleep(Duration::from_millis(seed % 600));
        // SIGKILL.
        child.kill().unwrap();
        child.wait().unwrap();
        let (begun, done) = reader.join().unwrap();

        let store = StateStore::open(&path).unwrap();
        let n = store.len().unwrap();
        eprintln!("round {round}: committed {done}, in flight up to {begun}, stored {n}");
        // Everything reported done is there; nothing past the batch in flight.
        assert!(n >= done.max(last_done), "round {round}: {n} < {done}");
        assert!(n <= begun.max(last_done), "round {round}: {n} > {begun}");
        // And what is there is exactly the keys committed, intact.
        let mut expected = 0u64;
        store
            .for_each(|k, r| {
                assert_eq!(r.rules_version, RULES);
                let i: u64 = std::str::from_utf8(k).unwrap()[k.len() - 16..k.len() - 8]
                    .parse()
                    .unwrap();
                assert_eq!(r.version, etag(i), "round {round}: {i}");
                expected += 1;
            })
            .unwrap();
        assert_eq!(expected, n);
        for i in 0..n {
            assert!(
                store.is_done(key(i), &etag(i), RULES).unwrap(),
                "round {round}: {i}"
            );
        }
        last_done = n;
    }
    assert!(last_done > 0, "no child got to commit anything");
}

//! The checkpoint store of `ctrules run --state PATH`: which inputs are done.
//!
//! A backfill over a bucket of CloudTrail objects (or a local tree) records
//! each input once its output is completely written, so that a rerun
//! (tomorrow, after a crash, after a kill -9) skips what is done and picks up
//! what is new or changed. `--reprocess` ignores what the store says (the
//! caller does not ask [`StateStore::is_done`]) but still records.
//!
//! # What is stored
//!
//! One table. The key is the input's identity, as bytes (prefixed by the
//! output root and a NUL by [`crate::checkpoint::StateCheckpoint`], so one
//! state file serves several outputs): `s3://bucket/key`
//! for S3 ([`s3_key`]), or the canonical input root, `/`, and the path
//! relative to it for local files ([`LocalKeys`]). The value is a small
//! [`Record`]: the input's version (the S3 ETag, or `size:mtime_ns` for a
//! local file, [`local_version`]), the rules version (the 12-hex fingerprint
//! of the rule set) and when it was done (unix seconds). An input is done
//! only when all three of key, version and rules version match: a changed
//! object, or changed rules, get processed again.
//!
//! Keys are bytes rather than strings because local names need not be
//! UTF-8 (the runner keeps them as `OsString`s): a lossy conversion would map
//! two different names to one key, and the second would be skipped without
//! ever being read. An S3 key is always UTF-8 and passes as `&str`.
//!
//! # Why redb
//!
//! [redb](https://docs.rs/redb) is an embedded copy-on-write B-tree. A commit
//! writes only the pages it changed (about log n pages per entry, amortised
//! over a batch), then flips a checksummed header: a kill -9 at any moment
//! leaves the file at its last commit, never half of one, and recording an
//! input never rewrites the whole file (which a JSON or line file would need
//! at a million inputs, or would need a log plus compaction: what redb
//! already is). It locks the file (an open file description lock) for as
//! long as it is open, so a second run on the same state file is refused
//! rather than interleaved. After a kill -9, the next open notices the
//! unclean shutdown and rebuilds its allocator state by walking the tree
//! (checksums verified), which costs one read of the file.
//!
//! # Checks on open
//!
//! [`StateStore::open`] creates the file when it is missing or empty. A
//! non-empty file that does not begin with redb's magic bytes is refused
//! with [`StateError::NotAStateFile`] before redb sees it: `--state` given a
//! log file, or the rules, by mistake, must be neither overwritten nor read
//! as a database. A redb file written by another program (no `ctrules_meta`
//! table naming this format) is refused the same way. A redb file damaged
//! since it was written is reported as [`StateError::Corrupt`]: the open runs
//! redb's integrity check (every page checksum), so a damaged store is found
//! at the start rather than trusted, or panicking mid-run; the check reads
//! the whole file once: 0.2 s at half a million entries where a plain open
//! takes 3 ms (docs/benchmark.md, "Checkpoint store"), against hours of
//! backfill that a wrong answer would skip or repeat.
//!
//! # Batching: the [`Checkpointer`]
//!
//! Every commit is durable (an fsync or two). One per input would cost a
//! million fsyncs on a million small objects, so workers hand their marks to
//! a [`Checkpointer`], whose thread commits them in one transaction every
//! `every` entries or `interval`, and at [`Checkpointer::finish`]. A crash
//! loses at most the marks not yet committed: those inputs are processed
//! again, which is safe, because outputs are replaced atomically. The caller
//! marks an input only after its output is committed, so a mark is never
//! durable before its output is complete. (For power loss, as opposed to a
//! killed process, the rename of the output must itself be durable, a fsync
//! of its directory, before the mark is made.)

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Inputs done: identity -> encoded [`Record`].
const DONE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("done");
/// What this file is: `format` -> [`FORMAT`].
const META: TableDefinition<&str, &str> = TableDefinition::new("ctrules_meta");
const FORMAT: &str = "ctrules-state 1";
/// The first bytes of every redb file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
/// The first byte of an encoded [`Record`].
const RECORD_FORMAT: u8 = 1;
/// redb's page cache. Inputs are looked up in listing order (sorted), so
/// the pages a look-up needs are mostly the ones the previous one read.
const CACHE_BYTES: usize = 64 << 20;

/// Why the store cannot be used. Every variant names the state file.
#[derive(Debug)]
pub enum StateError {
    /// Another process (or another handle in this one) has it open.
    Locked {
        path: PathBuf,
        /// The processes holding it, when they can be found (Linux).
        holders: Vec<u32>,
    },
    /// It exists and is something else: not a redb file, or one written by
    /// another program.
    NotAStateFile { path: PathBuf, why: String },
    /// It is a state file, but damaged.
    Corrupt { path: PathBuf, detail: String },
    /// Reading or writing it failed.
    Io {
        path: PathBuf,
        doing: &'static str,
        source: io::Error,
    },
}

impl StateError {
    /// The state file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            StateError::Locked { path, .. }
            | StateError::NotAStateFile { path, .. }
            | StateError::Corrupt { path, .. }
            | StateError::Io { path, .. } => path,
        }
    }
}

impl Clone for StateError {
    fn clone(&self) -> StateError {
        match self {
            StateError::Locked { path, holders } => StateError::Locked {
                path: path.clone(),
                holders: holders.clone(),
            },
            StateError::NotAStateFile { path, why } => StateError::NotAStateFile {
                path: path.clone(),
                why: why.clone(),
            },
            StateError::Corrupt { path, detail } => StateError::Corrupt {
                path: path.clone(),
                detail: detail.clone(),
            },
            StateError::Io {
                path,
                doing,
                source,
            } => StateError::Io {
                path: path.clone(),
                doing,
                source: io::Error::new(source.kind(), source.to_string()),
            },
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Locked { path, holders } => {
                write!(
                    f,
                    "state file {} is in use by another ctrules run",
                    path.display()
                )?;
                match holders.as_slice() {
                    [] => {}
                    [one] if *one == std::process::id() => f.write_str(" (this process)")?,
                    [one] => write!(f, " (pid {one})")?,
                    more => {
                        let pids: Vec<String> = more.iter().map(u32::to_string).collect();
                        write!(f, " (pids {})", pids.join(", "))?
                    }
                }
                f.write_str("; wait for it to end, or give this run another --state file")
            }
            StateError::NotAStateFile { path, why } => write!(
                f,
                "{} is not a ctrules state file ({why}); it was left untouched: give --state a new file name",
                path.display()
            ),
            StateError::Corrupt { path, detail } => write!(
                f,
                "state file {} is damaged ({detail}); move it aside and rerun (with a new state file every input is processed again)",
                path.display()
            ),
            StateError::Io {
                path,
                doing,
                source,
            } => write!(f, "state file {}: cannot {doing}: {source}", path.display()),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One input done: its identity, its version and the rules version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub key: Vec<u8>,
    pub record: Record,
}

impl Done {
    /// An input done now.
    pub fn new(
        key: impl Into<Vec<u8>>,
        version: impl Into<String>,
        rules_version: impl Into<String>,
    ) -> Done {
        Done {
            key: key.into(),
            record: Record {
                version: version.into(),
                rules_version: rules_version.into(),
                done_at: now(),
            },
        }
    }
}

/// What the store holds for one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The input's version: the S3 ETag, or `size:mtime_ns` for a local file.
    pub version: String,
    /// The fingerprint of the rule set it was processed with.
    pub rules_version: String,
    /// When it was recorded, in unix seconds.
    pub done_at: u64,
}

impl Record {
    /// `[1] [done_at: u64 LE] [rules_version length: u32 LE] rules_version version`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 4 + self.rules_version.len() + self.version.len());
        out.push(RECORD_FORMAT);
        out.extend_from_slice(&self.done_at.to_le_bytes());
        out.extend_from_slice(&(self.rules_version.len() as u32).to_le_bytes());
        out.extend_from_slice(self.rules_version.as_bytes());
        out.extend_from_slice(self.version.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        let rest = bytes.strip_prefix(&[RECORD_FORMAT])?;
        let (at, rest) = rest.split_at_checked(8)?;
        let (len, rest) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (rules, version) = rest.split_at_checked(len)?;
        Some(Record {
            version: String::from_utf8(version.to_vec()).ok()?,
            rules_version: String::from_utf8(rules.to_vec()).ok()?,
            done_at: u64::from_le_bytes(at.try_into().ok()?),
        })
    }

    /// Whether this record says `version` was done with `rules_version`,
    /// without decoding the strings.
    /// `None` for the rules: done with any rules counts.
    fn matches(bytes: &[u8], version: &str, rules_version: Option<&str>) -> Option<bool> {
        let rest = bytes.strip_prefix(&[RECORD_FORMAT])?.get(8..)?;
        let (len, rest) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (rules, stored) = rest.split_at_checked(len)?;
        Some(rules_version.is_none_or(|r| rules == r.as_bytes()) && stored == version.as_bytes())
    }
}

/// What a `--state` summary shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateSummary {
    pub entries: u64,
    /// Entries per rules version.
    pub rules_versions: BTreeMap<String, u64>,
    /// The oldest and newest `done_at`.
    pub first_done: Option<u64>,
    pub last_done: Option<u64>,
}

/// The key of an S3 object: `s3://bucket/key`.
pub fn s3_key(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Keys of local inputs under one root: the canonical root, `/`, and the
/// path relative to it, byte for byte.
#[derive(Debug, Clone)]
pub struct LocalKeys {
    prefix: Vec<u8>,
}

impl LocalKeys {
    /// Resolves `root` (links, `..`) once.
    pub fn new(root: &Path) -> io::Result<LocalKeys> {
        let mut prefix = root.canonicalize()?.into_os_string().into_vec();
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        Ok(LocalKeys { prefix })
    }

    /// The key of the input at `relative` (relative to the root).
    pub fn key(&self, relative: &OsStr) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(relative.as_bytes());
        key
    }
}

/// The version of a local file: `size:mtime_ns`.
pub fn local_version(meta: &Metadata) -> String {
    let ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    format!("{}:{ns}", meta.len())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The checkpoint store: one state file, open and locked. `Send + Sync`:
/// look-ups run concurrently; commits are serialized by redb.
pub struct StateStore {
    db: redb::Database,
    path: PathBuf,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Makes a new, empty state file at `path` all at once: built under a
/// temporary name beside it and linked into place when complete, so that a
/// kill -9 while it is being made leaves no half-made file that every later
/// run would refuse. When another run makes it first, theirs is kept.
fn create_whole(path: &Path) -> Result<(), StateError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::inflight::remove_stale(dir);
    let temp = crate::inflight::temp_path(path);
    let _ = std::fs::remove_file(&temp);
    {
        let db = redb::Database::builder()
            .create(&temp)
            .map_err(|e| Fail::new(path, "create it").redb(e))?;
        let store = StateStore {
            db,
            path: temp.clone(),
        };
        store.claim()?;
    }
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // An empty file we were asked to fill, or another run's new store.
            if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(path);
                return create_whole(path);
            }
            Ok(())
        }
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            doing: "create it",
            source,
        }),
    }
}

impl StateStore {
    /// Opens the state file at `path`, creating it when missing or empty.
    pub fn open(path: impl AsRef<Path>) -> Result<StateStore, StateError> {
        let path = path.as_ref().to_path_buf();
        if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
            create_whole(&path)?;
        }
        check_magic(&path)?;
        let db = redb::Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| Fail::new(&path, "open it").redb(e))?;
        let store = StateStore { db, path };
        store.claim()?;
        Ok(store)
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the file holds ctrules state, or makes a new one so.
    fn claim(&self) -> Result<(), StateError> {
        let fail = Fail::new(&self.path, "read it");
        let txn = self.db.begin_write().map_err(|e| fail.redb(e))?;
        let tables: Vec<String> = txn
            .list_tables()
            .map_err(|e| fail.redb(e))?
            .map(|t| redb::TableHandle::name(&t).to_string())
            .collect();
        let not_ours = |why: String| StateError::NotAStateFile {
            path: self.path.clone(),
            why,
        };
        {
            let mut meta = txn.open_table(META).map_err(|e| fail.redb(e))?;
            let format = meta
                .get("format")
                .map_err(|e| fail.redb(e))?
                .map(|v| v.value().to_string());
            match format {
                Some(f) if f == FORMAT => {}
                Some(f) => return Err(not_ours(format!("its format is {f:?}, not {FORMAT:?}"))),
                None if tables.is_empty() => {
                    meta.insert("format", FORMAT).map_err(|e| fail.redb(e))?;
                }
                None => {
                    return Err(not_ours(format!(
                        "a database of another program, with tables {}",
                        tables.join(", ")
                    )))
                }
            }
        }
        txn.open_table(DONE).map_err(|e| fail.redb(e))?;
        txn.commit()
            .map_err(|e| Fail::new(&self.path, "write it").redb(e))
    }

    /// Whether `key` is done at `version` with `rules_version`.
    pub fn is_done(
        &self,
        key: impl AsRef<[u8]>,
        version: &str,
        rules_version: &str,
    ) -> Result<bool, StateError> {
        self.is_done_with(key, version, Some(rules_version))
    }

    /// Whether `key` is done at `version`, with `rules_version` or, when
    /// that is `None`, with any rules.
    pub fn is_done_with(
        &self,
        key: impl AsRef<[u8]>,
        version: &str,
        rules_version: Option<&str>,
    ) -> Result<bool, StateError> {
        let fail = Fail::new(&self.path, "read it");
        let txn = self.db.begin_read().map_err(|e| fail.redb(e))?;
        let table = txn.open_table(DONE).map_err(|e| fail.redb(e))?;
        let Some(value) = table.get(key.as_ref()).map_err(|e| fail.redb(e))? else {
            return Ok(false);
        };
        Record::matches(value.value(), version, rules_version)
            .ok_or_else(|| fail.bad_record(key.as_ref()))
    }

    /// What the store holds for `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Record>, StateError> {
        let fail = Fail::new(&self.path, "read it");
        let txn = self.db.begin_read().map_err(|e| fail.redb(e))?;
        let table = txn.open_table(DONE).map_err(|e| fail.redb(e))?;
        let Some(value) = table.get(key.as_ref()).map_err(|e| fail.redb(e))? else {
            return Ok(None);
        };
        Record::decode(value.value())
            .map(Some)
            .ok_or_else(|| fail.bad_record(key.as_ref()))
    }

    /// Records `entries` in one durable transaction: all of them, or (on an
    /// error or a crash) none.
    pub fn mark_done(&self, entries: &[Done]) -> Result<(), StateError> {
        if entries.is_empty() {
            return Ok(());
        }
        let fail = Fail::new(&self.path, "write it");
        let txn = self.db.begin_write().map_err(|e| fail.redb(e))?;
        {
            let mut table = txn.open_table(DONE).map_err(|e| fail.redb(e))?;
            for done in entries {
                table
                    .insert(done.key.as_slice(), done.record.encode().as_slice())
                    .map_err(|e| fail.redb(e))?;
            }
        }
        txn.commit().map_err(|e| fail.redb(e))
    }

    /// How many inputs are recorded.
    pub fn len(&self) -> Result<u64, StateError> {
        let fail = Fail::new(&self.path, "read it");
        let txn = self.db.begin_read().map_err(|e| fail.redb(e))?;
        let table = txn.open_table(DONE).map_err(|e| fail.redb(e))?;
        table.len().map_err(|e| fail.redb(e))
    }

    pub fn is_empty(&self) -> Result<bool, StateError> {
        Ok(self.len()? == 0)
    }

    /// Calls `f` with every entry, in key order, from one snapshot.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &Record)) -> Result<(), StateError> {
        let fail = Fail::new(&self.path, "read it");
        let txn = self.db.begin_read().map_err(|e| fail.redb(e))?;
        let table = txn.open_table(DONE).map_err(|e| fail.redb(e))?;
        for entry in table.iter().map_err(|e| fail.redb(e))? {
            let (key, value) = entry.map_err(|e| fail.redb(e))?;
            let record =
                Record::decode(value.value()).ok_or_else(|| fail.bad_record(key.value()))?;
            f(key.value(), &record);
        }
        Ok(())
    }

    /// Counts for a `--state` summary.
    pub fn summary(&self) -> Result<StateSummary, StateError> {
        let mut s = StateSummary::default();
        self.for_each(|_, r| {
            s.entries += 1;
            *s.rules_versions.entry(r.rules_version.clone()).or_default() += 1;
            s.first_done = Some(s.first_done.map_or(r.done_at, |t| t.min(r.done_at)));
            s.last_done = Some(s.last_done.map_or(r.done_at, |t| t.max(r.done_at)));
        })?;
        Ok(s)
    }
}

/// Refuses a non-empty file that is not a redb file, without writing to it.
fn check_magic(path: &Path) -> Result<(), StateError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                doing: "open it",
                source,
            })
        }
    };
    let io_err = |source| StateError::Io {
        path: path.to_path_buf(),
        doing: "read it",
        source,
    };
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(StateError::NotAStateFile {
            path: path.to_path_buf(),
            why: "not a regular file".into(),
        });
    }
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    file.by_ref()
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.is_empty() || head == REDB_MAGIC {
        return Ok(());
    }
    Err(StateError::NotAStateFile {
        path: path.to_path_buf(),
        why: "it does not begin as a state file does".into(),
    })
}

/// Maps redb's errors to [`StateError`]s naming the file.
struct Fail<'a> {
    path: &'a Path,
    doing: &'static str,
}

impl<'a> Fail<'a> {
    fn new(path: &'a Path, doing: &'static str) -> Fail<'a> {
        Fail { path, doing }
    }

    fn redb(&self, e: impl Into<redb::Error>) -> StateError {
        let path = self.path.to_path_buf();
        match e.into() {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                StateError::Locked {
                    holders: lock_holders(&path),
                    path,
                }
            }
            redb::Error::Corrupted(detail) => StateError::Corrupt { path, detail },
            redb::Error::Io(source) if source.kind() == io::ErrorKind::InvalidData => {
                StateError::NotAStateFile {
                    path,
                    why: source.to_string(),
                }
            }
            redb::Error::Io(source) => StateError::Io {
                path,
                doing: self.doing,
                source,
            },
            redb::Error::UpgradeRequired(v) => StateError::NotAStateFile {
                path,
                why: format!("a database in an older redb format ({v})"),
            },
            redb::Error::TableTypeMismatch { table, .. } => StateError::NotAStateFile {
                path,
                why: format!("its table {table} holds other types"),
            },
            other => StateError::Corrupt {
                path,
                detail: other.to_string(),
            },
        }
    }

    fn bad_record(&self, key: &[u8]) -> StateError {
        StateError::Corrupt {
            path: self.path.to_path_buf(),
            detail: format!(
                "the entry of {} cannot be read",
                String::from_utf8_lossy(key)
            ),
        }
    }
}

/// The processes with a lock on `path`, found through /proc (redb's open
/// file description locks do not carry a pid, so /proc/locks says -1).
#[cfg(target_os = "linux")]
fn lock_holders(path: &Path) -> Vec<u32> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let needle = format!(":{} ", meta.ino());
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fdinfo")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_to_string(fd.path()).is_ok_and(|info| {
                info.lines()
                    .any(|l| l.starts_with("ino:") && l[4..].trim() == meta.ino().to_string())
                    && info
                        .lines()
                        .any(|l| l.starts_with("lock:") && l.contains(&needle))
            })
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(not(target_os = "linux"))]
fn lock_holders(_: &Path) -> Vec<u32> {
    Vec::new()
}

/// Batches marks from many workers into few durable commits: every `every`
/// entries, every `interval` after the first pending one, and at
/// [`finish`](Checkpointer::finish). `Send + Sync`: share it by reference
/// (rayon) or in an `Arc` (tokio `spawn_blocking`).
pub struct Checkpointer {
    path: PathBuf,
    sender: Mutex<Option<SyncSender<Done>>>,
    thread: Mutex<Option<JoinHandle<Result<u64, StateError>>>>,
    failed: Arc<Mutex<Option<StateError>>>,
}

impl Checkpointer {
    /// Defaults for [`Checkpointer::new`]: a commit per 1,000 inputs or per
    /// second, whichever comes first.
    pub const EVERY: usize = 1000;
    pub const INTERVAL: Duration = Duration::from_millis(250);

    /// Starts the committing thread.
    pub fn new(store: Arc<StateStore>, every: usize, interval: Duration) -> Checkpointer {
        // Bounded: workers faster than the commits wait, rather than
        // queueing every mark in memory.
        let every = every.max(1);
        let (sender, receiver) = mpsc::sync_channel(every.saturating_mul(4));
        let failed = Arc::new(Mutex::new(None));
        let failed_in_thread = Arc::clone(&failed);
        let path = store.path().to_path_buf();
        let thread = std::thread::Builder::new()
            .name("ctrules-state".into())
            .spawn(move || commit_loop(&store, receiver, every, interval, &failed_in_thread))
            .expect("cannot start the state thread");
        Checkpointer {
            path,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            failed,
        }
    }

    /// Records one input as done, in a commit soon. Call it only once the
    /// input's output is committed. Waits while `4 × every` marks are
    /// queued. Fails when an earlier commit failed (nothing is recorded
    /// after that).
    pub fn mark(&self, done: Done) -> Result<(), StateError> {
        if let Some(e) = lock(&self.failed).as_ref() {
            return Err(e.clone());
        }
        let sender = lock(&self.sender);
        match sender.as_ref() {
            // A send fails only when the thread has ended, after a failure.
            Some(s) if s.send(done).is_ok() => Ok(()),
            _ => Err(lock(&self.failed)
                .clone()
                .unwrap_or_else(|| StateError::Io {
                    path: self.path.clone(),
                    doing: "record an input after the run finished",
                    source: io::Error::other("the checkpointer has finished"),
                })),
        }
    }

    /// Commits what is pending and stops the thread; how many entries it
    /// committed in all, or the first error.
    pub fn finish(&self) -> Result<u64, StateError> {
        drop(lock(&self.sender).take());
        match lock(&self.thread).take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(lock(&self.failed)
                    .clone()
                    .unwrap_or_else(|| StateError::Io {
                        path: self.path.clone(),
                        doing: "record inputs",
                        source: io::Error::other("the state thread panicked"),
                    }))
            }),
            None => match lock(&self.failed).clone() {
                Some(e) => Err(e),
                None => Ok(0),
            },
        }
    }
}

impl Drop for Checkpointer {
    /// Commits what is pending, as [`finish`](Checkpointer::finish) does,
    /// ignoring errors.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn commit_loop(
    store: &StateStore,
    receiver: Receiver<Done>,
    every: usize,
    interval: Duration,
    failed: &Mutex<Option<StateError>>,
) -> Result<u64, StateError> {
    let mut pending: Vec<Done> = Vec::new();
    let mut since: Option<Instant> = None;
    let mut committed = 0u64;
    let flush = |pending: &mut Vec<Done>, committed: &mut u64| -> Result<(), StateError> {
        let r = store.mark_done(pending);
        match &r {
            Err(e) => *lock(failed) = Some(e.clone()),
            Ok(()) => *committed += pending.len() as u64,
        }
        pending.clear();
        r
    };
    loop {
        let next = match since {
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => receiver.recv_timeout(interval.saturating_sub(t.elapsed())),
        };
        match next {
            Ok(done) => {
                since.get_or_insert_with(Instant::now);
                pending.push(done);
                // Take what is already queued without waiting.
                while pending.len() < every {
                    match receiver.try_recv() {
                        Ok(done) => pending.push(done),
                        Err(_) => break,
                    }
                }
                let due = since.is_some_and(|t| t.elapsed() >= interval);
                if pending.len() >= every || due {
                    flush(&mut pending, &mut committed)?;
                    since = None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                flush(&mut pending, &mut committed)?;
                since = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                flush(&mut pending, &mut committed)?;
                return Ok(committed);
            }
        }
    }
}

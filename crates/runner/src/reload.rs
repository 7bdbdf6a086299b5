//! Rules that reload while a watch runs: compiled whole, then swapped in one
//! step, never half.
//!
//! [`ReloadingRules`] holds the rule set in use. A job takes a snapshot
//! ([`ReloadingRules::current`]) when it starts and evaluates its whole
//! input with it, so every input is handled by exactly one complete rule
//! set, and a reload only changes what the *next* input gets.
//!
//! [`watch_rules`] keeps it current. What it watches is everything the rule
//! set was made from: the rules directory (recursively), the directory
//! holding it (so a directory replaced wholesale or a symlink swapped, as
//! git-sync does, is seen), and the directories of every lookup file and
//! GeoIP database (editors save by writing a temporary and renaming it over
//! the file, which only the directory sees). After a reload the watches are
//! set again, since a swapped symlink leaves the old ones on the old target.
//!
//! Events only say "look again". What decides is a [`Stamp`]: the path,
//! target, size, modification time and inode of every file the rule set
//! depends on and of every entry of the rules directory. A change is
//! compiled once the stamp has stood still for the settle time (several
//! files written a moment apart are compiled together), and a compilation
//! during which the stamp moved is thrown away and done again, so a rule
//! set is never built from files half-written. The stamp is also taken
//! every [`POLL`], a safety net for file systems that miss events (NFS, some
//! container mounts). A change that does not compile leaves the last good
//! rule set in place.

use crate::rules::{load_without, LoadedRules};
use arc_swap::ArcSwap;
use ctrules_compiler::RuleSet;
use ctrules_lang::{Diagnostic, Source};
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// How long the files must stand still before a change is compiled.
pub const SETTLE: Duration = Duration::from_millis(300);

/// How often the files are looked at when no event comes.
pub const POLL: Duration = Duration::from_secs(2);

/// The rule set in use, and how to make the next one.
pub struct ReloadingRules {
    paths: Vec<PathBuf>,
    geoip: Vec<PathBuf>,
    /// Rule ids turned off (`--disable`).
    disabled: Vec<String>,
    current: ArcSwap<RuleSet>,
    /// What the rule set in use (or the last rejected change) was made from.
    state: Mutex<Loaded>,
}

struct Loaded {
    files: Vec<PathBuf>,
    stamp: Stamp,
}

/// Why a watch cannot start with the rules given.
pub enum StartError {
    /// A path or a database that cannot be read.
    Unreadable(String),
    /// The rules have errors: the diagnostics are in the compilation.
    Rejected(Box<LoadedRules>),
}

/// What a reload did.
pub enum Reload {
    /// The files compile to the rule set already in use.
    Unchanged,
    /// A new rule set is in use from the next input on.
    Swapped {
        from: String,
        to: String,
        rules: usize,
    },
    /// The change has errors; the rule set in use stays.
    Rejected {
        kept: String,
        sources: Vec<Source>,
        diagnostics: Vec<Diagnostic>,
    },
    /// The files could not be read (a directory gone half-way through a
    /// swap, a database that cannot be opened); the rule set in use stays.
    Unreadable { kept: String, message: String },
}

impl ReloadingRules {
    /// Loads the rules under `paths` with `geoip`: the rule set in use
    /// from the start, with the files and diagnostics it came with (for
    /// the caller to print), or why there is nothing to run.
    pub fn load(
        paths: &[PathBuf],
        geoip: &[PathBuf],
        disabled: &[String],
    ) -> Result<(ReloadingRules, LoadedRules), StartError> {
        let mut loaded = load_without(paths, geoip, disabled).map_err(StartError::Unreadable)?;
        let Some(rules) = loaded.compilation.rules.take() else {
            return Err(StartError::Rejected(Box::new(loaded)));
        };
        let files = loaded.files.clone();
        let stamp = Stamp::take(paths, &files);
        let reloading = ReloadingRules {
            paths: paths.to_vec(),
            geoip: geoip.to_vec(),
            disabled: disabled.to_vec(),
            current: ArcSwap::from_pointee(rules),
            state: Mutex::new(Loaded { files, stamp }),
        };
        Ok((reloading, loaded))
    }

    /// The rule set for the next input: hold it for the whole input.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// The version of the rule set in use.
    pub fn version(&self) -> String {
        self.current.load().version().to_string()
    }

    /// Whether the files differ from what the rule set in use (or the last
    /// rejected change) was made from.
    fn changed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Stamp::take(&self.paths, &state.files) != state.stamp
    }

    /// The directories to watch: see the module docs.
    fn watched(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut dirs: BTreeSet<(PathBuf, bool)> = BTreeSet::new();
        for path in &self.paths {
            let recursive = path.is_dir();
            dirs.insert((path.clone(), recursive));
            if let Ok(real) = std::fs::canonicalize(path) {
                dirs.insert((real, recursive));
            }
            dirs.insert((parent(path), false));
        }
        for file in state.files.iter().chain(&self.geoip) {
            dirs.insert((parent(file), false));
            if let Ok(real) = std::fs::canonicalize(file) {
                dirs.insert((parent(&real), false));
            }
        }
        dirs.into_iter()
            .map(|(dir, recursive)| {
                let mode = if recursive {
                    RecursiveMode::Recursive
                } else {
                    RecursiveMode::NonRecursive
                };
                (dir, mode)
            })
            .collect()
    }

    /// Compiles the files as they are now and, when they compile to another
    /// rule set, swaps it in. Waits for the files to settle first, and
    /// compiles again when they moved during the compilation.
    pub fn reload(&self) -> Reload {
        let kept = self.version();
        let mut files = self.files_now();
        loop {
            let before = settled(&self.paths, &files);
            let loaded = match load_without(&self.paths, &self.geoip, &self.disabled) {
                Ok(loaded) => loaded,
                Err(message) => {
                    self.remember(files, before);
                    return Reload::Unreadable { kept, message };
                }
            };
            // Moved while compiling: what was compiled may be half of it.
            // Other lookup files than before: settle on those too.
            if Stamp::take(&self.paths, &files) != before || loaded.files != files {
                files = loaded.files;
                continue;
            }
            let LoadedRules {
                sources,
                compilation,
                files,
            } = loaded;
            self.remember(files, before);
            let Some(rules) = compilation.rules else {
                return Reload::Rejected {
                    kept,
                    sources,
                    diagnostics: compilation.diagnostics,
                };
            };
            if rules.version() == kept {
                return Reload::Unchanged;
            }
            // No rules at all where there were some: a directory emptied
            // (or half-way through a deploy). Running on would write every
            // input unenriched, and a watch never redoes them.
            if rules.is_empty() && !self.current.load().is_empty() {
                return Reload::Unreadable {
                    kept,
                    message: "no rules are left in the rules directories; a watch keeps the rules it has rather than run with none (restart it to run without rules)".into(),
                };
            }
            let to = rules.version().to_string();
            let count = rules.len();
            self.current.store(Arc::new(rules));
            return Reload::Swapped {
                from: kept,
                to,
                rules: count,
            };
        }
    }

    fn files_now(&self) -> Vec<PathBuf> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .files
            .clone()
    }

    fn remember(&self, files: Vec<PathBuf>, stamp: Stamp) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Loaded { files, stamp };
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The stamp of the files once it has stood still for [`SETTLE`].
fn settled(paths: &[PathBuf], files: &[PathBuf]) -> Stamp {
    let mut stamp = Stamp::take(paths, files);
    loop {
        std::thread::sleep(SETTLE);
        let now = Stamp::take(paths, files);
        if now == stamp {
            return now;
        }
        stamp = now;
    }
}

/// What the files a rule set depends on look like, cheaply: enough to tell
/// that one changed, was replaced, or appeared (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stamp(Vec<EntryStamp>);

/// One entry of a [`Stamp`]: its path, where it leads (links resolved), and
/// its size, modification time (seconds, nanoseconds) and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EntryStamp {
    path: PathBuf,
    target: Option<PathBuf>,
    meta: Option<(u64, i64, i64, u64)>,
}

impl Stamp {
    /// The stamp of the rules files, directories and links under `paths`
    /// (links followed, hidden entries included: a Kubernetes `..data` swap
    /// is a hidden link) and of each file of `files`.
    pub fn take(paths: &[PathBuf], files: &[PathBuf]) -> Stamp {
        let mut entries = Vec::new();
        let mut add = |path: &Path| {
            let target = std::fs::canonicalize(path).ok();
            let meta = std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
            entries.push(EntryStamp {
                path: path.to_path_buf(),
                target,
                meta,
            });
        };
        for path in paths {
            add(path);
            for entry in walkdir::WalkDir::new(path)
                .follow_links(true)
                .min_depth(1)
                .max_depth(8)
                .sort_by_file_name()
                .into_iter()
                .flatten()
            {
                // Rules files, and the directories and links that lead to
                // them; not other files, which may change all the time (an
                // editor's swap file) and would keep a change from settling.
                let is_rules = entry.path().extension().is_some_and(|e| e == "rules");
                if is_rules || entry.file_type().is_dir() || entry.path_is_symlink() {
                    add(entry.path());
                }
            }
        }
        for file in files {
            add(file);
        }
        Stamp(entries)
    }
}

/// Why the rules should be looked at again.
pub enum Wake {
    /// A file event, or the poll.
    Look,
    /// SIGHUP, or a caller: reload even if no file seems changed.
    Force,
}

/// Keeps `rules` current until `stop` is set: reloads on file events,
/// on the poll when the files changed, and whenever `wake` receives
/// [`Wake::Force`]. `report` hears every reload but the unchanged ones
/// that were not forced. Runs on its own thread.
pub fn watch_rules(
    rules: Arc<ReloadingRules>,
    wake: (mpsc::Sender<Wake>, mpsc::Receiver<Wake>),
    stop: Arc<AtomicBool>,
    report: impl Fn(&Reload) + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (sender, receiver) = wake;
    std::thread::Builder::new()
        .name("rules-reload".into())
        .spawn(move || {
            let events = sender.clone();
            let watcher =
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    // Reading the files (our own compilation) is no change.
                    let relevant = match &event {
                        Ok(e) => !matches!(e.kind, notify::EventKind::Access(_)),
                        Err(_) => true,
                    };
                    if relevant {
                        let _ = events.send(Wake::Look);
                    }
                });
            // Without a watcher (no inotify instances left), the poll alone
            // still finds every change, a little later.
            let mut watcher = watcher.ok();
            let mut watching: Vec<PathBuf> = Vec::new();
            let mut rewatch = |watcher: &mut Option<notify::RecommendedWatcher>| {
                let Some(w) = watcher.as_mut() else { return };
                for dir in watching.drain(..) {
                    let _ = w.unwatch(&dir);
                }
                for (dir, mode) in rules.watched() {
                    if w.watch(&dir, mode).is_ok() {
                        watching.push(dir);
                    }
                }
            };
            rewatch(&mut watcher);
            while !stop.load(Ordering::Relaxed) {
                let forced = match receiver.recv_timeout(POLL) {
                    Ok(Wake::Force) => true,
                    Ok(Wake::Look) | Err(mpsc::RecvTimeoutError::Timeout) => false,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if !forced && !rules.changed() {
                    continue;
                }
                let outcome = rules.reload();
                // Events that came while reloading are about what was just read.
                while receiver.try_recv().is_ok() {}
                if forced || !matches!(outcome, Reload::Unchanged) {
                    report(&outcome);
                }
                rewatch(&mut watcher);
            }
        })
}

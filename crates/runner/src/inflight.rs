//! Temporary files in flight, and their cleanup.
//!
//! Every output is written to `.NAME.ctrules.PID.tmp` beside its target and
//! renamed into place when complete, so a reader never sees half a file.
//! Three things keep those temporaries from outliving their run:
//! - a [`Temp`] removes its file when dropped uncommitted (a failed input);
//! - SIGINT, SIGTERM and SIGHUP remove every temporary in flight before the
//!   process exits ([`remove_on_signals`]);
//! - a kill -9 leaves them behind, so a run first removes, in each directory
//!   it writes to, the temporaries of processes that no longer exist
//!   ([`remove_stale`]). The PID in the name keeps a run from touching the
//!   temporaries of another run still going.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The temporaries of this process not yet renamed into place.
static IN_FLIGHT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn in_flight() -> MutexGuard<'static, Option<HashSet<PathBuf>>> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

const MARK: &[u8] = b".ctrules.";

/// The temporary that `target` is written to: `.NAME.ctrules.PID.tmp`.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".ctrules.{}.tmp", std::process::id()));
    target.with_file_name(name)
}

/// The PID in a temporary's name, if it is one of ours.
fn temp_owner(name: &[u8]) -> Option<i32> {
    let rest = name.strip_prefix(b".")?.strip_suffix(b".tmp")?;
    let at = rest.windows(MARK.len()).rposition(|w| w == MARK)?;
    std::str::from_utf8(&rest[at + MARK.len()..])
        .ok()?
        .parse()
        .ok()
}

fn is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // kill with signal 0 only asks whether the process exists.
    // SAFETY: no signal is sent; kill(2) has no memory effects.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A temporary file being written; removed when dropped uncommitted.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
    committed: bool,
}

impl Temp {
    /// Creates the temporary for `target`, registered for cleanup on signals.
    pub fn create(target: &Path) -> io::Result<(Temp, File)> {
        let path = temp_path(target);
        let mut registry = in_flight();
        // Registered before it exists: a signal between the two finds
        // nothing to remove, never a file it does not know.
        let ours = registry
            .get_or_insert_with(HashSet::new)
            .insert(path.clone());
        // Never shared: two writers of one target (a mistake upstream, or
        // a stale temporary of this PID's namesake) fail here, loudly,
        // rather than interleave in one file. The other writer's file and
        // its registration are left alone: no `Temp` exists for this one.
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => {
                if ours {
                    if let Some(set) = registry.as_mut() {
                        set.remove(&path);
                    }
                }
                return Err(e);
            }
        };
        drop(registry);
        Ok((
            Temp {
                path,
                committed: false,
            },
            file,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the finished temporary over `target`.
    pub fn commit(mut self, target: &Path) -> io::Result<()> {
        let mut registry = in_flight();
        std::fs::rename(&self.path, target)?;
        if let Some(set) = registry.as_mut() {
            set.remove(&self.path);
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let mut registry = in_flight();
        let _ = std::fs::remove_file(&self.path);
        if let Some(set) = registry.as_mut() {
            set.remove(&self.path);
        }
    }
}

/// Writes `bytes` to `target` atomically (temporary, fsync, rename).
pub fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let (temp, mut file) = Temp::create(target)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    temp.commit(target)
}

/// Writes a file the user named (the summary): a regular file (or a link
/// to one) is replaced atomically; anything else that exists (a device,
/// a FIFO, `/dev/stdout`) is written into as it is, never replaced.
pub fn write_named_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(meta) if !meta.is_file() => {
            let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.write_all(bytes)?;
            file.flush()
        }
        Ok(_) => write_atomically(&std::fs::canonicalize(path)?, bytes),
        Err(_) => write_atomically(path, bytes),
    }
}

/// The checkpoint of the run going on, to flush when a signal stops it.
/// Weak: it must not keep a finished run's store open (and locked).
type Flush = std::sync::Weak<dyn crate::checkpoint::Checkpoint>;
static ON_SIGNAL_FLUSH: Mutex<Option<Flush>> = Mutex::new(None);

/// Has the signal handler of [`remove_on_signals`] record the marks of
/// `checkpoint` (the current run's) before the process exits.
pub fn flush_on_signals(checkpoint: &std::sync::Arc<dyn crate::checkpoint::Checkpoint>) {
    *ON_SIGNAL_FLUSH.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(std::sync::Arc::downgrade(checkpoint));
}

/// On SIGINT, SIGTERM or SIGHUP: removes every temporary in flight, says
/// so on standard error, and exits with 128 + the signal's number.
pub fn remove_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                abandon(signal);
            }
        })?;
    Ok(())
}

/// Stops the process at once on `signal`: removes every temporary in
/// flight, records what finished in the checkpoint, says so, and exits with
/// 128 + the signal's number. The registry stays locked until the exit, so
/// no new temporary can appear.
pub fn abandon(signal: i32) -> ! {
    let registry = in_flight();
    let removed = remove_registered(&registry);
    let recorded = flush_current();
    crate::run::say(&format!(
        "interrupted (signal {signal}): stopped, {removed} unfinished outputs removed; finished outputs are in place{recorded}"
    ));
    std::process::exit(128 + signal);
}

/// Removes the temporaries of the jobs still in flight (a watch whose grace
/// period ran out, just before the process exits) and returns how many. A
/// job that starts a new temporary after this leaves it to the next run's
/// [`remove_stale`], as a kill -9 would.
pub fn remove_all_in_flight() -> usize {
    let mut registry = in_flight();
    let removed = remove_registered(&registry);
    if let Some(set) = registry.as_mut() {
        set.clear();
    }
    removed
}

fn remove_registered(registry: &Option<HashSet<PathBuf>>) -> usize {
    registry
        .iter()
        .flatten()
        .filter(|path| std::fs::remove_file(path).is_ok())
        .count()
}

/// Flushes the checkpoint of the run going on; what to add to the message.
fn flush_current() -> &'static str {
    // What finished is recorded, so the next run need not redo it.
    let current = ON_SIGNAL_FLUSH
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(std::sync::Weak::upgrade);
    match current {
        Some(cp) => match cp.flush() {
            Ok(()) => "; finished inputs recorded in the state",
            Err(_) => "; the state could not record the last inputs",
        },
        None => "",
    }
}

/// Removes from `dir` the temporaries left by ctrules processes that no
/// longer exist (a kill -9, a power cut), and those named with this
/// process's PID (an earlier process that had it) that this process is not
/// writing. Returns how many were removed.
pub fn remove_stale(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_owner(name.as_bytes()) else {
            continue;
        };
        let ours = pid as u32 == std::process::id();
        let stale = if ours {
            let path = entry.path();
            !in_flight().as_ref().is_some_and(|set| set.contains(&path))
        } else {
            !is_alive(pid)
        };
        if stale
            && entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_name_their_owner() {
        let t = temp_path(Path::new("/x/a.json.gz"));
        let name = t.file_name().unwrap().as_bytes();
        assert_eq!(temp_owner(name), Some(std::process::id() as i32));
        assert_eq!(temp_owner(b".a.json.gz.ctrules.12.tmp"), Some(12));
        assert_eq!(temp_owner(b".a.json.gz.12.tmp"), None);
        assert_eq!(temp_owner(b"a.json.gz.ctrules.12.tmp"), None);
        assert_eq!(temp_owner(b".a.ctrules.x.tmp"), None);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited and been reaped: its PID is dead.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".a.json.gz.ctrules.{dead}.tmp"));
        let live = dir.path().join(".b.json.gz.ctrules.1.tmp"); // init never dies
        let other = dir.path().join(".c.json.gz.99.tmp");
        for p in [&stale, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale(dir.path()), 1);
        assert!(!stale.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn a_second_writer_of_one_target_fails_and_leaves_the_first_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.gz");
        let (first, mut file) = Temp::create(&target).unwrap();
        assert!(Temp::create(&target).is_err());
        // The first writer's temporary is still there, and still in flight.
        assert!(first.path().exists());
        assert!(in_flight().as_ref().unwrap().contains(first.path()));
        use std::io::Write;
        file.write_all(b"whole").unwrap();
        drop(file);
        first.commit(&target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    }

    #[test]
    fn an_uncommitted_temporary_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.gz");
        let (temp, _file) = Temp::create(&target).unwrap();
        let path = temp.path().to_path_buf();
        assert!(path.exists());
        drop(temp);
        assert!(!path.exists() && !target.exists());
        write_atomically(&target, b"done").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"done");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

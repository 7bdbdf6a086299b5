//! Loading a rule set with its context: the rules files, the GeoIP
//! databases, and the directory table files must stay inside. Shared by
//! every command (`check`, `test`, `run`), so that all judge rules against
//! the same context, and the list of every file a rule set was made from,
//! which a reloading runner watches.

use ctrules_compiler::{compile_with, read_rules, Compilation, Options};
use ctrules_context::geoip::GeoIp;
use ctrules_lang::Source;
use std::path::PathBuf;
use std::sync::Arc;

/// A compiled rule set (or its errors) and what it was made from.
pub struct LoadedRules {
    /// The rules files, in load order.
    pub sources: Vec<Source>,
    /// The rules, when they compile, and every diagnostic.
    pub compilation: Compilation,
    /// Every file the rule set depends on: the rules files, the lookup
    /// files their declarations read, and the GeoIP databases.
    pub files: Vec<PathBuf>,
}

/// The compile options for rules read from `paths`, with `geoip` databases.
/// A single directory is the root table paths are confined to; otherwise
/// each rules file's own directory is.
pub fn options(paths: &[PathBuf], geoip: &[PathBuf]) -> Result<Options, String> {
    let rules_root = match paths {
        [one] if one.is_dir() => Some(one.clone()),
        _ => None,
    };
    let geoip = if geoip.is_empty() {
        None
    } else {
        Some(Arc::new(GeoIp::open(geoip).map_err(|e| e.to_string())?))
    };
    Ok(Options {
        rules_root,
        // Several directories: each confines the table paths of its files.
        rules_roots: if paths.len() > 1 {
            paths.iter().filter(|p| p.is_dir()).cloned().collect()
        } else {
            Vec::new()
        },
        geoip,
        ..Options::default()
    })
}

/// Reads the rules files and opens their context; on a usage or I/O
/// problem, the message.
pub fn read(paths: &[PathBuf], geoip: &[PathBuf]) -> Result<(Vec<Source>, Options), String> {
    let options = options(paths, geoip)?;
    let mut sources = read_rules(paths).map_err(|e| format!("rules {e}"))?;
    // One file reached twice (a directory given twice, or a file and the
    // directory that holds it) is one file, not every rule twice.
    let mut seen = std::collections::HashSet::new();
    sources.retain(|s| {
        seen.insert(std::fs::canonicalize(s.name()).unwrap_or_else(|_| PathBuf::from(s.name())))
    });
    Ok((sources, options))
}

/// [`load`], then the rules whose ids are in `disabled` (`--disable`)
/// left out of the rule set; an id no rule has is a usage error, with the
/// closest id as a suggestion (a typo must not leave a rule running).
pub fn load_without(
    paths: &[PathBuf],
    geoip: &[PathBuf],
    disabled: &[String],
) -> Result<LoadedRules, String> {
    let mut loaded = load(paths, geoip)?;
    if let Some(rules) = loaded.compilation.rules.take() {
        for id in disabled {
            if !rules.rules().iter().any(|r| r.info.id.as_ref() == id) {
                let ids = rules.rules().iter().map(|r| r.info.id.as_ref());
                let hint = ctrules_compiler::suggest::closest(id, ids)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(format!("--disable {id}: no rule has this id{hint}"));
            }
        }
        loaded.compilation.rules = Some(rules.without(disabled));
    }
    Ok(loaded)
}

/// Reads and compiles the rules under `paths` with `geoip`; on a usage or
/// I/O problem (a path or a database that cannot be read), the message.
pub fn load(paths: &[PathBuf], geoip: &[PathBuf]) -> Result<LoadedRules, String> {
    let (sources, options) = read(paths, geoip)?;
    let compilation = compile_with(&sources, &options);
    let files = sources
        .iter()
        .map(|s| PathBuf::from(s.name()))
        .chain(compilation.files_read.iter().cloned())
        .chain(geoip.iter().cloned())
        .collect();
    Ok(LoadedRules {
        sources,
        compilation,
        files,
    })
}

//! Loading rules with their context: the GeoIP databases and the directory
//! that table files must stay inside. Shared by `check` and `run`, so that
//! both judge rules against the same context.

use crate::exit;
use ctrules_compiler::{compile_with, read_rules, Compilation, Options, RuleSet};
use ctrules_context::geoip::GeoIp;
use ctrules_lang::Source;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        geoip,
        ..Options::default()
    })
}

/// Reads the rules files and opens their context; on a usage or I/O
/// problem, the message.
pub fn read(paths: &[PathBuf], geoip: &[PathBuf]) -> Result<(Vec<Source>, Options), String> {
    let options = options(paths, geoip)?;
    let sources = read_rules(paths).map_err(|e| format!("rules {e}"))?;
    Ok((sources, options))
}

/// Reads and compiles rules: the files read and the outcome; on a usage or
/// I/O problem, the message.
pub fn compile_paths(
    paths: &[PathBuf],
    geoip: &[PathBuf],
) -> Result<(Vec<Source>, Compilation), String> {
    let (sources, options) = read(paths, geoip)?;
    let compilation = compile_with(&sources, &options);
    Ok((sources, compilation))
}

/// Loads and compiles the rules for a run, printing diagnostics; on
/// failure, the exit code.
pub fn load(path: &Path, geoip: &[PathBuf], quiet: bool) -> Result<RuleSet, i32> {
    let (_, compilation) = compile_paths(&[path.to_path_buf()], geoip).map_err(|e| {
        errln!("error: {e}");
        exit::USAGE
    })?;
    let color = std::io::stderr().is_terminal();
    for d in &compilation.diagnostics {
        if d.is_error() || !quiet {
            err!("{}", d.render(color));
        }
    }
    compilation.rules.ok_or_else(|| {
        errln!(
            "error: the rules in {} have errors; nothing was processed",
            path.display()
        );
        exit::FINDINGS
    })
}

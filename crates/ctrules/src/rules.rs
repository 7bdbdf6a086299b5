//! Loading rules for a command (through `ctrules_runner::rules`, shared by
//! all of them) and printing their diagnostics.

use crate::exit;
use ctrules_compiler::{Compilation, RuleSet};
use ctrules_lang::Source;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub use ctrules_runner::rules::read;

/// Reads and compiles rules: the files read and the outcome; on a usage or
/// I/O problem, the message.
pub fn compile_paths(
    paths: &[PathBuf],
    geoip: &[PathBuf],
) -> Result<(Vec<Source>, Compilation), String> {
    let loaded = ctrules_runner::rules::load(paths, geoip)?;
    Ok((loaded.sources, loaded.compilation))
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

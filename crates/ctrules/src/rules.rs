//! Loading rules for a command (through `ctrules_runner::rules`, shared by
//! all of them) and printing their diagnostics.

use crate::exit;
use ctrules_compiler::{Compilation, RuleSet};
use ctrules_lang::Source;
use std::io::IsTerminal;
use std::path::PathBuf;

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

/// Loads and compiles the rules for a run (without the `disabled` ones),
/// printing diagnostics; on failure, the exit code.
pub fn load(
    paths: &[PathBuf],
    geoip: &[PathBuf],
    disabled: &[String],
    quiet: bool,
) -> Result<RuleSet, i32> {
    let loaded = ctrules_runner::rules::load_without(paths, geoip, disabled).map_err(|e| {
        errln!("error: {e}");
        exit::USAGE
    })?;
    let compilation = loaded.compilation;
    let color = std::io::stderr().is_terminal();
    for d in &compilation.diagnostics {
        if d.is_error() || !quiet {
            err!("{}", d.render(color));
        }
    }
    compilation.rules.ok_or_else(|| {
        errln!(
            "error: the rules in {} have errors; nothing was processed",
            shown(paths)
        );
        exit::FINDINGS
    })
}

/// Rules paths for a message: `rules.d` or `rules.d, packs/aws-detections`.
pub fn shown(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

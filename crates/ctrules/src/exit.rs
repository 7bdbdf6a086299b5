//! Exit codes, shared by every subcommand (docs/cli.md).

/// Everything worked.
pub const OK: i32 = 0;
/// `check`: errors in the rules (or warnings with --deny-warnings).
/// `run`: the rules do not compile, so nothing was processed.
/// `fmt --check`: a file is not in the canonical layout.
pub const FINDINGS: i32 = 1;
/// Bad usage or an I/O error before work could start (missing input, unwritable output).
/// `fmt`: also a file that does not parse, and so could not be formatted.
pub const USAGE: i32 = 2;
/// `run`: some input could not be processed (failed files or rejected records);
/// the rest was. The summary names each failure.
pub const PARTIAL: i32 = 3;

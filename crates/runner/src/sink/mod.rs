//! Sinks: where the enriched records of one input go.
//!
//! - [`dir`]: gzipped NDJSON at the input's relative path under a directory,
//!   written to a temporary and renamed into place when complete.
//! - [`stdout`]: plain NDJSON, gathered per input (in memory, spilling to an
//!   unnamed temporary file when large) and copied to standard output in
//!   input order once the input is complete.

pub mod dir;
pub mod stdout;

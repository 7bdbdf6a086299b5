//! Sinks: where the enriched records of one input go.
//!
//! - [`dir`]: gzipped NDJSON at the input's relative path under a directory,
//!   written to a temporary and renamed into place when complete.
//! - standard output: plain NDJSON, gathered per input in a [`spill`] and
//!   copied out in input order once the input is complete.
//! - S3 ([`crate::s3::put`]): gzipped NDJSON gathered in a [`spill`], then
//!   written in one PUT.

pub mod dir;
pub mod spill;

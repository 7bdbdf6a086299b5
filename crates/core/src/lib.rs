//! The domain of ctrules: CloudTrail records and log files.
//!
//! - [`reader`] reads a log file (gzip or not; `{"Records":[...]}`, a JSON
//!   array, NDJSON or one record) and streams its records as raw bytes plus a
//!   parsed value, reporting bad input by place and cause.
//! - [`path`] resolves field paths such as `resources[].type` in a record.
//! - [`enrichment`] is what rules decide for a record: fields to add, tags,
//!   matched rules, drop.
//! - [`writer`] appends that enrichment to the record's original bytes and
//!   writes gzipped NDJSON.
//! - [`schema`] knows which fields AWS writes, and what values they hold.
//! - [`catalog`] knows which eventNames each eventSource logs.
//!
//! This crate knows nothing of the rule language.

pub mod catalog;
pub mod enrichment;
pub mod json;
pub mod path;
pub mod reader;
pub mod schema;
pub mod writer;

pub use enrichment::Enrichment;
pub use path::{FieldPath, Members, PathSegment};
pub use reader::{
    read_log, read_log_with, FieldSet, Layout, ReadError, ReadOptions, ReadOutcome, Record,
    RecordError, RecordPosition,
};
pub use writer::{Codec, EnrichedWriter};

//! The ctrules rule language: syntax only.
//!
//! The grammar lives in `grammar/ctrules.pest` at the top of the repository.
//! This crate parses `.rules` text into a spanned AST ([`ast`]), and defines
//! the [`Diagnostic`] type that every phase reports through. It knows nothing of
//! events, files or AWS: names are resolved and types checked by
//! `ctrules-compiler`. [`format`] lays a parsed file out in the canonical
//! style of `ctrules fmt`.

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod parser;
pub mod source;

pub use diagnostic::{Diagnostic, Label, Severity};
pub use parser::{parse, parse_condition, parse_value};
pub use source::{Source, Span};

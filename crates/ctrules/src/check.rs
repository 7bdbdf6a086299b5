//! `ctrules check`: parse and compile rules, report every diagnostic.

use crate::{exit, CheckArgs, Format};
use ctrules_lang::{Diagnostic, Severity};
use std::io::IsTerminal;

pub fn check(args: &CheckArgs) -> i32 {
    let (sources, compilation) = match crate::rules::compile_paths(&args.paths, &args.geoip) {
        Ok(c) => c,
        Err(e) => {
            errln!("error: {e}");
            if args.format == Format::Json {
                // A reader of standard output always gets one document.
                let doc = serde_json::json!({
                    "files": 0,
                    "rules": null,
                    "errors": 1,
                    "warnings": 0,
                    "diagnostics": [],
                    "error": e,
                });
                outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            return exit::USAGE;
        }
    };
    let diags = &compilation.diagnostics;
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let rules = compilation.rules.as_ref().map(|r| r.len());
    match args.format {
        Format::Human => out!("{}", render_human(diags, std::io::stdout().is_terminal())),
        Format::Github => {
            for d in diags {
                outln!("{}", d.render_github());
            }
        }
        Format::Json => {
            let doc = serde_json::json!({
                "files": sources.len(),
                "rules": rules,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diags.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    if args.format != Format::Json {
        let rules = rules.map_or(String::new(), |n| format!(", {n} rules"));
        errln!(
            "checked {} files{rules}: {errors} errors, {warnings} warnings",
            sources.len()
        );
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// Every diagnostic rendered with its snippet, separated by blank lines.
pub fn render_human(diags: &[Diagnostic], color: bool) -> String {
    diags
        .iter()
        .map(|d| format!("{}\n", d.render(color)))
        .collect()
}

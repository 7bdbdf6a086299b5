//! The documentation against the binary: every `ctrules` command line in
//! a code block of README.md and docs/ names a real subcommand, and every
//! flag it passes is one that subcommand takes (`ctrules CMD --help`). A
//! flag renamed or removed in the code, or misspelt in the docs, fails here.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::*;

const COMMANDS: [&str; 7] = ["check", "test", "run", "watch", "query", "fmt", "help"];

/// The long flags `ctrules CMD --help` lists.
fn flags_of(command: &str) -> BTreeSet<String> {
    let args: &[&str] = if command == "help" {
        &["help"]
    } else {
        &[command, "--help"]
    };
    let out = ctrules().args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.split(['=', '<']).next().unwrap_or("").to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Command lines in the fenced code blocks of `text`: `\\`-continued
/// lines joined, from `ctrules` on.
fn command_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            current.clear();
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim();
        if let Some(start) = line.strip_suffix('\\') {
            current.push_str(start);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        // `cargo run -p ctrules -- run ...` is `ctrules run ...`.
        let current_line = current.replace("-p ctrules -- ", "| ctrules ");
        current = current_line;
        // A command: at the start of the line, or after a prompt, a pipe
        // or `&&`; not `ctrules` in a line of output or prose.
        let at = ["$ ctrules ", "| ctrules ", "&& ctrules "]
            .iter()
            .find_map(|p| current.find(p).map(|i| i + p.len() - "ctrules ".len()))
            .or_else(|| current.starts_with("ctrules ").then_some(0));
        if let Some(at) = at {
            lines.push(current[at..].to_string());
        }
        current.clear();
    }
    lines
}

#[test]
fn every_flag_in_the_docs_is_one_the_binary_takes() {
    let repo = repo();
    let mut files = vec![repo.join("README.md")];
    for entry in std::fs::read_dir(repo.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let known: BTreeMap<&str, BTreeSet<String>> =
        COMMANDS.iter().map(|c| (*c, flags_of(c))).collect();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in command_lines(&text) {
            let mut words = line.split_whitespace().skip(1);
            let Some(command) = words.next() else {
                continue;
            };
            // Wrapped text of a rendered diagnostic ("ctrules knows ..."),
            // `ctrules --version`: not a subcommand's line.
            let Some(flags) = known.get(command) else {
                continue;
            };
            // Up to a pipe or a shell separator: the rest is another command.
            for word in words.take_while(|w| !["|", "&&", ";", "||"].contains(w)) {
                let Some(flag) = word.strip_prefix("--") else {
                    continue;
                };
                let flag = flag.split('=').next().unwrap_or("");
                let flag = flag.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
                if flag.is_empty() {
                    continue;
                }
                checked += 1;
                if !flags.contains(flag) {
                    wrong.push(format!(
                        "{}: `{line}`: `ctrules {command}` has no --{flag}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} flags found: is the extraction broken?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

//! The ctrules compiler: from parsed rules to an indexed set of evaluators.
//!
//! Compilation runs in phases, like Falco's rule loader:
//! 1. **parse** every file ([`ctrules_lang::parse`]); any syntax error stops here,
//!    since the names a broken file defines are unknown;
//! 2. **collect** the definitions of the whole set: lists, macros, tables,
//!    schedules, calendars and rule ids, with duplicates reported;
//! 3. **load** what the declarations name: table files, time zones,
//!    schedules and calendars ([`declarations`]);
//! 4. **lower** each rule: names resolved, operands checked, regexes, CIDR
//!    blocks and sets built once ([`lower`], [`actions`]);
//! 5. **lint** every rule and macro for conditions that can never hold:
//!    contradictions, values of the wrong type, eventSources and eventNames
//!    AWS does not log ([`lints`]);
//! 6. **index** the rules by the eventName or eventSource they require ([`ruleset`]).
//!
//! Reading files from disk is [`loader`]'s job, before all of this.

pub mod actions;
pub mod codes;
pub mod condition;
pub mod declarations;
pub mod lints;
pub mod loader;
pub mod lower;
pub mod ruleset;
pub mod suggest;
pub mod template;
pub mod term;

pub use loader::{read_rules, LoadError};
pub use ruleset::{CompiledRule, Evaluation, RuleInfo, RuleSet};
pub use template::Template;
pub use term::Scope;

use actions::{check_priority_fields, lower_action};
use codes::*;
use ctrules_context::geoip::GeoIp;
use ctrules_lang::ast::{self, Item, Rule, RulesFile};
use ctrules_lang::{Diagnostic, Source, Span};
use lower::{Lowerer, Symbols};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What rules are compiled against, beyond their text.
#[derive(Clone, Default)]
pub struct Options {
    /// The directory given to `--rules`: table files must be inside it.
    /// None: each rules file's own directory.
    pub rules_root: Option<PathBuf>,
    /// Several rules directories given together (`--rules A --rules B`):
    /// table paths of a file stay inside the one that holds it.
    pub rules_roots: Vec<PathBuf>,
    /// The GeoIP databases; None when none is configured (`geoip(...)` warns).
    pub geoip: Option<Arc<ctrules_context::geoip::GeoIp>>,
    /// Rows that replace the file of a table, list or calendar, by its
    /// declared name: what a rule test supplies in place of real data.
    pub table_rows: HashMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// The outcome of compiling a rule set: the rules when there is no error,
/// and every diagnostic (errors and warnings) in file order.
pub struct Compilation {
    pub rules: Option<RuleSet>,
    pub diagnostics: Vec<Diagnostic>,
    /// The lookup files the declarations read (tables, lists, calendars),
    /// each once: covered by the rules version, and what a reloading runner
    /// must watch besides the rules files.
    pub files_read: Vec<PathBuf>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiles rules files, given in load order, into one rule set, with no
/// GeoIP database and table paths relative to each file.
pub fn compile(sources: &[Source]) -> Compilation {
    compile_with(sources, &Options::default())
}

/// Compiles rules files, given in load order, into one rule set.
pub fn compile_with(sources: &[Source], options: &Options) -> Compilation {
    let mut diagnostics = Vec::new();

    // Phase 1: parse.
    let mut files: Vec<(&Source, RulesFile)> = Vec::new();
    for source in sources {
        match ctrules_lang::parse(source) {
            Ok(file) => files.push((source, file)),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    if !diagnostics.is_empty() {
        return Compilation {
            rules: None,
            diagnostics,
            files_read: Vec::new(),
        };
    }

    // Phase 2: collect definitions.
    let mut symbols = Symbols::default();
    let mut rule_ids: HashMap<String, (&Source, Span)> = HashMap::new();
    let mut rules: Vec<(&Source, &Rule, String)> = Vec::new();
    for (source, file) in &files {
        for item in &file.items {
            // Names share one namespace: a second definition is reported, the first kept.
            if let Some(name) = item.declared_name() {
                if let Some(prev) = symbols.defined(&name.node) {
                    diagnostics.push(duplicate_name(source, name.span, &name.node, prev));
                    continue;
                }
            }
            match item {
                Item::List(def) => {
                    symbols.lists.insert(&def.name.node, (def, source));
                }
                Item::Macro(def) => {
                    symbols.macros.insert(&def.name.node, (def, source));
                }
                Item::Table(def) => {
                    symbols.tables.insert(&def.name.node, (def, source));
                }
                Item::Schedule(def) => {
                    symbols.schedules.insert(&def.name.node, (def, source));
                }
                Item::Calendar(def) => {
                    symbols.calendars.insert(&def.name.node, (def, source));
                }
                Item::Rule(rule) => {
                    let (id, span) = match &rule.id {
                        Some(id) => (id.node.clone(), id.span),
                        None => (
                            inline_rule_id(source, rule),
                            Span::new(rule.span.start, rule.span.start + 4),
                        ),
                    };
                    if let Some((prev_source, prev_span)) = rule_ids.get(&id) {
                        diagnostics.push(
                            Diagnostic::error(
                                E_DUPLICATE_RULE,
                                source,
                                span,
                                format!("rule id `{id}` is already used"),
                            )
                            .with_label("second rule with this id")
                            .with_secondary(prev_source, *prev_span, "first used here")
                            .with_help(
                                "rule ids name rules in reports and alerts: make each one unique",
                            ),
                        );
                    } else {
                        rule_ids.insert(id.clone(), (source, span));
                    }
                    rules.push((source, rule, id));
                }
            }
        }
    }

    // Phase 3: load what declarations name.
    let mut loader = declarations::Loader {
        rules_root: options.rules_root.as_deref(),
        rules_roots: &options.rules_roots,
        table_rows: &options.table_rows,
        diagnostics: &mut diagnostics,
        declared: declarations::Declared::default(),
        files_read: Vec::new(),
    };
    for (source, file) in &files {
        for item in &file.items {
            match item {
                Item::List(def) => loader.list(source, def),
                Item::Table(def) => loader.table(source, def),
                Item::Schedule(def) => loader.schedule(source, def),
                Item::Calendar(def) => loader.calendar(source, def),
                Item::Macro(_) | Item::Rule(_) => {}
            }
        }
    }
    let files_read = std::mem::take(&mut loader.files_read);
    let env = lower::Environment {
        declared: &loader.declared,
        geoip: options
            .geoip
            .clone()
            .unwrap_or_else(|| Arc::new(ctrules_context::geoip::GeoIp::empty())),
        geoip_configured: options.geoip.as_ref().is_some_and(|g| !g.is_empty()),
    };

    // Phase 4: lower.
    let mut compiled = Vec::with_capacity(rules.len());
    let mut assignments = Vec::new();
    let mut template_diagnostics = Vec::new();
    let mut lowerer = Lowerer::new(&symbols, &env, &mut diagnostics);
    for (source, rule, id) in &rules {
        let condition = lowerer.condition(source, &rule.condition);
        let mut actions = Vec::new();
        for action in &rule.actions {
            actions.extend(lower_action(&mut lowerer, source, action, &mut assignments));
        }
        let info = ruleset::RuleInfo {
            id: Arc::from(id.as_str()),
            description: rule.description.as_ref().map(|d| d.node.clone()),
            severity: rule.severity.as_ref().map(|s| s.node),
            tags: rule
                .tags
                .as_ref()
                .map(|t| t.node.items.iter().map(|i| literal_text(&i.node)).collect())
                .unwrap_or_default(),
            techniques: rule.techniques.iter().map(|t| t.node.clone()).collect(),
            references: rule.references.iter().map(|r| r.node.clone()).collect(),
            title: template(
                source,
                rule.title.as_ref(),
                "title",
                &mut template_diagnostics,
            ),
            dedup: template(
                source,
                rule.dedup.as_ref(),
                "dedup",
                &mut template_diagnostics,
            ),
            dedup_window: rule
                .dedup_window
                .as_ref()
                .and_then(|w| dedup_window(source, w, &mut template_diagnostics)),
            file: source.name().to_string(),
            line: source.line_col(rule.span.start).0,
        };
        compiled.push(CompiledRule {
            info,
            condition,
            actions,
        });
    }
    let fields_read = std::mem::take(&mut lowerer.fields_read);
    let used = std::mem::take(&mut lowerer.used);
    let used_macros = std::mem::take(&mut lowerer.used_macros);
    let suggested = std::mem::take(&mut lowerer.suggested);
    // Macros no rule reached are still checked, so their errors show.
    let mut unused_macros: Vec<_> = symbols
        .macros
        .iter()
        .filter(|(n, _)| !used_macros.contains(*n))
        .collect();
    unused_macros.sort_by_key(|(_, (def, source))| (source.name().to_string(), def.span.start));
    for (_, (def, source)) in &unused_macros {
        lowerer.condition(source, &def.condition);
    }
    drop(lowerer);
    diagnostics.append(&mut template_diagnostics);
    // A name offered as "did you mean" is already reported; "unused" would be noise.
    unused_macros.retain(|(name, _)| !suggested.contains(*name));
    check_priority_fields(&assignments, &mut diagnostics);
    for (name, (def, source)) in &unused_macros {
        diagnostics.push(unused(source, def.name.span, "macro", name));
    }
    let mut unused_names: Vec<(&str, &str, &Source, Span)> = Vec::new();
    fn collect_unused<'a, D>(
        kind: &'static str,
        table: &HashMap<&'a str, (&'a D, &'a Source)>,
        span: impl Fn(&D) -> Span,
        keep: impl Fn(&str) -> bool,
        out: &mut Vec<(&'static str, &'a str, &'a Source, Span)>,
    ) {
        for (name, (def, source)) in table {
            if keep(name) {
                out.push((kind, name, source, span(def)));
            }
        }
    }
    let is_unused = |name: &str| !used.contains(name) && !suggested.contains(name);
    collect_unused(
        "list",
        &symbols.lists,
        |d| d.name.span,
        is_unused,
        &mut unused_names,
    );
    collect_unused(
        "table",
        &symbols.tables,
        |d| d.name.span,
        is_unused,
        &mut unused_names,
    );
    collect_unused(
        "schedule",
        &symbols.schedules,
        |d| d.name.span,
        is_unused,
        &mut unused_names,
    );
    collect_unused(
        "calendar",
        &symbols.calendars,
        |d| d.name.span,
        is_unused,
        &mut unused_names,
    );
    for (kind, name, source, span) in unused_names {
        diagnostics.push(unused(source, span, kind, name));
    }

    // Phase 5: lint. Each macro once, on its own; in a rule, what a macro
    // requires is checked against the tests beside its use.
    let mut linter = lints::Linter::new(&symbols, env.declared, &mut diagnostics);
    for (source, rule, _) in &rules {
        linter.condition(source, &rule.condition);
    }
    let mut macros: Vec<_> = symbols.macros.values().collect();
    macros.sort_by_key(|(def, source)| (source.name().to_string(), def.span.start));
    for (def, source) in macros {
        linter.condition(source, &def.condition);
    }

    check_metadata(&rules, &mut diagnostics);
    apply_allows(&rules, &mut diagnostics);
    sort_diagnostics(&mut diagnostics, sources);
    dedup_diagnostics(&mut diagnostics);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let version = fingerprint(sources, &files_read, options.geoip.as_deref());
    let rules = (!has_errors).then(|| RuleSet::new(compiled, fields_read, version));
    Compilation {
        rules,
        diagnostics,
        files_read,
    }
}

/// Whether `id` has the shape of a MITRE ATT&CK technique id: `T` and four
/// digits, optionally `.` and three digits (a sub-technique).
pub fn is_technique_id(id: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match id.strip_prefix('T') {
        Some(rest) => match rest.split_once('.') {
            Some((main, sub)) => digits(main, 4) && digits(sub, 3),
            None => digits(rest, 4),
        },
        None => false,
    }
}

/// `technique "T1098.001"` must be an ATT&CK id (E208); `reference` must
/// say something.
fn check_metadata(rules: &[(&Source, &Rule, String)], diagnostics: &mut Vec<Diagnostic>) {
    for (source, rule, _) in rules {
        for t in &rule.techniques {
            let id = t.node.as_str();
            if is_technique_id(id) {
                continue;
            }
            let trimmed = id.trim().to_uppercase();
            let help = if is_technique_id(&trimmed) {
                format!("write it `\"{trimmed}\"`")
            } else if let Some((main, sub)) = trimmed.split_once('.').filter(|(m, s)| {
                is_technique_id(m)
                    && !s.is_empty()
                    && s.len() < 3
                    && s.bytes().all(|b| b.is_ascii_digit())
            }) {
                format!("a sub-technique has three digits: `\"{main}.{sub:0>3}\"`")
            } else {
                "a technique is `T` and four digits, with `.` and three more for a sub-technique: `\"T1098\"`, `\"T1098.001\"` (https://attack.mitre.org/techniques/)".to_string()
            };
            diagnostics.push(
                Diagnostic::error(
                    E_METADATA,
                    source,
                    t.span,
                    format!("`{id}` is not a MITRE ATT&CK technique id"),
                )
                .with_label("not T1234 or T1234.567")
                .with_help(help),
            );
        }
        for r in &rule.references {
            if r.node.trim().is_empty() {
                diagnostics.push(
                    Diagnostic::error(E_METADATA, source, r.span, "the reference is empty")
                        .with_label("no reference")
                        .with_help("name where the rule comes from: `reference \"https://...\"`"),
                );
            }
        }
    }
}

/// The template of a `title` or `dedup` line (`what`): E209 at its place
/// in the string when it does not parse, W303 for a path CloudTrail does not
/// write, as a condition gets.
fn template(
    source: &Source,
    written: Option<&ast::Spanned<String>>,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<template::Template> {
    let written = written?;
    let span = written.span;
    let named = if what == "dedup" { "dedup key" } else { what };
    if written.node.trim().is_empty() {
        diagnostics.push(
            Diagnostic::error(E_TEMPLATE, source, span, format!("the {named} is empty"))
                .with_label(format!("no {what}"))
                .with_help(format!(
                    "leave the `{what}` line out for the default, or write one: `{what} \"{{eventName}} by {{actor.name}}\"`"
                )),
        );
        return None;
    }
    let offsets = template::literal_offsets(&source.text()[span.start..span.end]);
    let last = offsets.len() - 1;
    let place = |at: &std::ops::Range<usize>| {
        Span::new(
            span.start + offsets[at.start.min(last)],
            span.start + offsets[at.end.min(last)],
        )
    };
    match template::Template::parse(&written.node) {
        Ok((parsed, placeholders)) => {
            for p in placeholders {
                diagnostics.extend(lower::unknown_field_warning(source, &p.path, place(&p.at)));
            }
            Some(parsed)
        }
        Err(errors) => {
            for e in errors {
                diagnostics.push(
                    Diagnostic::error(
                        E_TEMPLATE,
                        source,
                        place(&e.at),
                        format!("in the {named}: {}", e.message),
                    )
                    .with_label(e.label)
                    .with_help(e.help),
                );
            }
            None
        }
    }
}

/// The longest `dedup_window`, as `--alert-window` takes.
const MAX_DEDUP_WINDOW: u64 = 3650 * 86_400;

/// `dedup_window 30m`: more than zero and at most ten years (E208).
fn dedup_window(
    source: &Source,
    window: &ast::Spanned<u64>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<std::time::Duration> {
    if (1..=MAX_DEDUP_WINDOW).contains(&window.node) {
        return Some(std::time::Duration::from_secs(window.node));
    }
    diagnostics.push(
        Diagnostic::error(
            E_METADATA,
            source,
            window.span,
            "a dedup window is more than zero and at most 3650 days",
        )
        .with_label(if window.node == 0 { "zero" } else { "too long" })
        .with_help("write a window such as 30m, 1h or 7d"),
    );
    None
}

/// `allow CODE "REASON"` in a block rule: drops the rule's own warnings of
/// that code (those whose place is inside the rule), checks each `allow`
/// names a warning and gives a reason (E207), and reports one that
/// silences nothing (W202), so it goes when the warning it was for does.
fn apply_allows(rules: &[(&Source, &Rule, String)], diagnostics: &mut Vec<Diagnostic>) {
    let mut found = Vec::new();
    // Every allow, with its rule.
    let mut owners: Vec<(&Source, &Rule, &ast::Allow)> = Vec::new();
    for (source, rule, _) in rules {
        for allow in &rule.allows {
            let code = allow.code.node.as_str();
            if !ALLOWABLE.contains(&code) {
                let upper = code.to_uppercase();
                let mut diag = Diagnostic::error(
                    E_ALLOW,
                    source,
                    allow.code.span,
                    format!("`{code}` is not a warning a rule can allow"),
                )
                .with_label("not an allowable warning");
                diag = if ALLOWABLE.contains(&upper.as_str()) {
                    diag.with_help(format!("codes are written in capitals: `{upper}`"))
                } else if code.starts_with(['E', 'e']) {
                    diag.with_help("errors cannot be allowed: fix the rule")
                } else if [W_UNUSED, W_ALLOW_UNUSED].contains(&code) {
                    diag.with_help(format!(
                        "a rule can allow only the warnings its own text raises: {}",
                        ALLOWABLE.join(", ")
                    ))
                } else if let Some(near) = suggest::closest(code, ALLOWABLE.iter().copied()) {
                    diag.with_help(format!("did you mean `{near}`?"))
                } else {
                    diag.with_help(format!(
                        "a rule can allow only the warnings its own text raises: {}",
                        ALLOWABLE.join(", ")
                    ))
                };
                found.push(diag);
            }
            match &allow.reason {
                Some(reason) if !reason.node.trim().is_empty() => {}
                Some(reason) => found.push(
                    Diagnostic::error(E_ALLOW, source, reason.span, "the reason is empty")
                        .with_label("no reason")
                        .with_help(format!(
                            "say why `{code}` does not apply to this rule: `allow {code} \"...\"`"
                        )),
                ),
                None => found.push(
                    Diagnostic::error(
                        E_ALLOW,
                        source,
                        allow.span,
                        format!("`allow {code}` needs a reason"),
                    )
                    .with_label("no reason")
                    .with_help(format!(
                        "say why the warning does not apply, for whoever reads the rule next: `allow {code} \"...\"`"
                    )),
                ),
            }
            owners.push((source, rule, allow));
        }
    }
    let mut used = vec![false; owners.len()];
    diagnostics.retain(|d| {
        if d.is_error() {
            return true;
        }
        let mut keep = true;
        for (i, (source, rule, allow)) in owners.iter().enumerate() {
            if allow.code.node == d.code
                && d.source.name() == source.name()
                && rule.span.start <= d.span.start
                && d.span.end <= rule.span.end
            {
                used[i] = true;
                keep = false;
            }
        }
        keep
    });
    for ((source, _, allow), used) in owners.iter().zip(used) {
        if !used && ALLOWABLE.contains(&allow.code.node.as_str()) {
            let code = &allow.code.node;
            found.push(
                Diagnostic::warning(
                    W_ALLOW_UNUSED,
                    source,
                    allow.span,
                    format!("`allow {code}` silences nothing: this rule gets no {code}"),
                )
                .with_label("nothing to allow")
                .with_help("remove it; the warning it was for is gone"),
            );
        }
    }
    diagnostics.extend(found);
}

fn duplicate_name(
    source: &Source,
    span: Span,
    name: &str,
    (prev_source, prev_span): (&Source, Span),
) -> Diagnostic {
    Diagnostic::error(
        E_DUPLICATE_NAME,
        source,
        span,
        format!("`{name}` is already defined"),
    )
    .with_label("defined again here")
    .with_secondary(prev_source, prev_span, "first defined here")
    .with_help("lists, macros, tables, schedules and calendars share one namespace across all rules files: rename one of them")
}

fn unused(source: &Source, span: Span, kind: &str, name: &str) -> Diagnostic {
    Diagnostic::warning(
        W_UNUSED,
        source,
        span,
        format!("{kind} `{name}` is never used"),
    )
    .with_label(format!("unused {kind}"))
    .with_help("use it in a rule or remove it")
}

/// The id of a one-line rule: its file's name without extension, and its line.
fn inline_rule_id(source: &Source, rule: &Rule) -> String {
    let name = source.name();
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = file.strip_suffix(".rules").unwrap_or(file);
    format!("{stem}:{}", source.line_col(rule.span.start).0)
}

fn literal_text(lit: &ctrules_lang::ast::Literal) -> String {
    use ctrules_lang::ast::Literal;
    match lit {
        Literal::Str(s) => s.value.clone(),
        Literal::Number(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".to_string(),
        Literal::Priority(p) => p.as_str().to_string(),
    }
}

/// Orders diagnostics by file (in load order), then position.
fn sort_diagnostics(diagnostics: &mut [Diagnostic], sources: &[Source]) {
    let order: HashMap<&str, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name(), i))
        .collect();
    diagnostics.sort_by_key(|d| {
        (
            order.get(d.source.name()).copied().unwrap_or(usize::MAX),
            d.span.start,
            d.code,
        )
    });
}

/// Drops repeats: a bad item in a named list is found once per use of the list.
fn dedup_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.dedup_by(|a, b| {
        a.code == b.code && a.span == b.span && a.source == b.source && a.message == b.message
    });
}

/// FNV-1a over the files' names (without directories, which depend on how
/// the path was typed) and text: a stable short version id.
fn fingerprint(sources: &[Source], files_read: &[PathBuf], geoip: Option<&GeoIp>) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut add = |name: &[u8], text: &[u8]| {
        for &b in name.iter().chain(&[0]).chain(text).chain(&[0]) {
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    for s in sources {
        let name = s.name().rsplit(['/', '\\']).next().unwrap_or_default();
        add(name.as_bytes(), s.text().as_bytes());
    }
    // The lookup files too: editing users.csv changes what the rules do.
    // By name without directories, like the rules files, so the version
    // does not depend on where the rules directory is.
    for path in files_read {
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        add(name, &std::fs::read(path).unwrap_or_default());
    }
    // And the GeoIP databases, by what their metadata says they are: a new
    // release (another build time) changes what `geoip(...)` answers, so
    // a watch reloads it and a batch with --state does those inputs again.
    for db in geoip.map(GeoIp::databases).unwrap_or_default() {
        let facts = format!("{}/{}/{}", db.database_type, db.ip_version, db.build_epoch);
        add(b"geoip", facts.as_bytes());
    }
    format!("{hash:016x}")[..12].to_string()
}

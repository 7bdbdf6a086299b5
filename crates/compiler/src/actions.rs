//! Compiled actions and how their results merge into an [`Enrichment`].

use crate::codes::*;
use crate::lower::{field_path, Lowerer};
use crate::term::{Scope, Term};
use ctrules_core::enrichment::{RULES_FIELD, TAGS_FIELD};
use ctrules_core::schema::is_aws_field;
use ctrules_core::{Enrichment, FieldPath};
use ctrules_lang::ast::{Action, Literal, Priority, Spanned, Value as AstValue};
use ctrules_lang::{Diagnostic, Source, Span};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum CompiledAction {
    /// A priority: the field keeps the highest priority any matching rule gives.
    SetPriority {
        field: Arc<str>,
        priority: Priority,
    },
    /// Any other value: the last matching rule (in load order) wins.
    Set {
        field: Arc<str>,
        value: ValueSource,
    },
    Overwrite {
        path: FieldPath,
        value: ValueSource,
    },
    Tag(Arc<str>),
    Drop,
}

#[derive(Debug, Clone)]
pub enum ValueSource {
    Const(Value),
    /// Read from the event or derived from it: one value, or an array when
    /// the term reaches several (`[]`, several table rows).
    Term(Term),
}

impl ValueSource {
    fn resolve(&self, scope: &Scope<'_>) -> Option<Value> {
        match self {
            ValueSource::Const(v) => Some(v.clone()),
            ValueSource::Term(term) if term.fans_out() => {
                let mut all = Vec::new();
                term.visit(scope, &mut |v| {
                    all.push(v.clone());
                    true
                });
                (!all.is_empty()).then_some(Value::Array(all))
            }
            ValueSource::Term(term) => term.first(scope),
        }
    }
}

/// Where a field is assigned, to check that priority fields get only priorities.
pub struct Assignment<'a> {
    pub field: String,
    pub is_priority: bool,
    pub source: &'a Source,
    pub span: Span,
}

impl CompiledAction {
    /// Applies this action of a matching rule.
    pub fn apply(&self, scope: &Scope<'_>, out: &mut Enrichment) {
        match self {
            CompiledAction::SetPriority { field, priority } => {
                // A record enriched before keeps its priority if that is higher.
                let before = scope
                    .record
                    .member(field)
                    .and_then(Value::as_str)
                    .and_then(Priority::parse);
                if before.is_some_and(|b| b >= *priority) {
                    return;
                }
                let slot = out.field_mut(field);
                let current = slot.as_str().and_then(Priority::parse);
                if current.is_none_or(|c| c < *priority) {
                    *slot = Value::String(priority.as_str().to_string());
                }
            }
            CompiledAction::Set { field, value } => {
                if let Some(v) = value.resolve(scope) {
                    *out.field_mut(field) = v;
                }
            }
            CompiledAction::Overwrite { path, value } => {
                if let Some(v) = value.resolve(scope) {
                    out.overwrites.push((path.clone(), v));
                }
            }
            CompiledAction::Tag(tag) => out.add_tag(tag),
            CompiledAction::Drop => out.drop = true,
        }
    }
}

pub(crate) fn literal_value(lit: &Literal) -> Value {
    match lit {
        Literal::Str(s) => Value::String(s.value.clone()),
        Literal::Number(n) => Value::Number(n.clone()),
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Null => Value::Null,
        Literal::Priority(p) => Value::String(p.as_str().to_string()),
    }
}

fn value_source<'a>(
    lowerer: &mut Lowerer<'a, '_>,
    source: &'a Source,
    value: &'a Spanned<AstValue>,
) -> Option<ValueSource> {
    match &value.node {
        AstValue::Literal(lit) => Some(ValueSource::Const(literal_value(lit))),
        AstValue::Term(t) => lowerer.term(source, t, value.span).map(ValueSource::Term),
    }
}

/// Compiles one action, checking what it writes.
pub fn lower_action<'a>(
    lowerer: &mut Lowerer<'a, '_>,
    source: &'a Source,
    action: &'a Spanned<Action>,
    assignments: &mut Vec<Assignment<'a>>,
) -> Vec<CompiledAction> {
    let mut diagnostics = Vec::new();
    let actions = lower_one(lowerer, source, action, &mut diagnostics, assignments);
    lowerer.diagnostics.extend(diagnostics);
    actions
}

fn lower_one<'a>(
    lowerer: &mut Lowerer<'a, '_>,
    source: &'a Source,
    action: &'a Spanned<Action>,
    diagnostics: &mut Vec<Diagnostic>,
    assignments: &mut Vec<Assignment<'a>>,
) -> Vec<CompiledAction> {
    match &action.node {
        Action::Set { target, value } => {
            let name = target.node.root();
            if !target.node.is_single_field() {
                diagnostics.push(
                    Diagnostic::error(
                        E_NESTED_SET,
                        source,
                        target.span,
                        "`set` writes a top-level field",
                    )
                    .with_label("a nested path")
                    .with_help(if is_aws_field(name) {
                        format!(
                            "to change a field AWS wrote, say so: `overwrite {} = ...`",
                            target.node
                        )
                    } else {
                        format!(
                            "name the field with underscores instead: `set {} = ...`",
                            target.node.to_string().replace(['.', '[', ']'], "_")
                        )
                    }),
                );
                return Vec::new();
            }
            if is_aws_field(name) {
                diagnostics.push(
                    Diagnostic::error(E_AWS_FIELD, source, target.span, format!("`{name}` is a field AWS writes"))
                        .with_label("AWS-owned field")
                        .with_help(format!(
                            "to replace what AWS wrote, say so: `overwrite {name} = ...`; to add a field, give it an `x` name: `set x{} = ...`",
                            lower_first(name)
                        )),
                );
                return Vec::new();
            }
            if name == TAGS_FIELD || name == RULES_FIELD {
                diagnostics.push(
                    Diagnostic::error(
                        E_RESERVED_FIELD,
                        source,
                        target.span,
                        format!("`{name}` is written by ctrules itself"),
                    )
                    .with_label("reserved field")
                    .with_help(if name == TAGS_FIELD {
                        "add tags with `tag \"name\"`"
                    } else {
                        "ctrules lists the matching rules' ids there"
                    }),
                );
                return Vec::new();
            }
            if !name.starts_with('x') {
                diagnostics.push(
                    Diagnostic::warning(
                        W_FIELD_NAME,
                        source,
                        target.span,
                        format!("enrichment field `{name}` does not start with `x`"),
                    )
                    .with_label("field name")
                    .with_help(format!(
                        "name it `{}` so it never collides with a field AWS adds later",
                        x_name(name)
                    )),
                );
            }
            let field: Arc<str> = Arc::from(name);
            let is_priority = matches!(value.node, AstValue::Literal(Literal::Priority(_)));
            assignments.push(Assignment {
                field: name.to_string(),
                is_priority,
                source,
                span: value.span,
            });
            match &value.node {
                AstValue::Literal(Literal::Priority(p)) => vec![CompiledAction::SetPriority {
                    field,
                    priority: *p,
                }],
                other => {
                    if let AstValue::Term(ctrules_lang::ast::Term::Path(p)) = other {
                        if !lowerer.is_declared(p.root()) {
                            diagnostics
                                .extend(crate::lower::value_field_warning(source, p, value.span));
                        }
                    }
                    value_source(lowerer, source, value)
                        .map(|value| CompiledAction::Set { field, value })
                        .into_iter()
                        .collect()
                }
            }
        }
        Action::Overwrite { target, value } => {
            let name = target.node.root();
            if target
                .node
                .segments
                .contains(&ctrules_lang::ast::Segment::Deep)
            {
                diagnostics.push(
                    Diagnostic::error(
                        E_NESTED_SET,
                        source,
                        target.span,
                        "`overwrite` cannot write through `.**`",
                    )
                    .with_label("every value inside")
                    .with_help("name the fields to replace: `overwrite requestParameters.password = \"redacted\"`"),
                );
                return Vec::new();
            }
            if !is_aws_field(name) {
                diagnostics.push(
                    Diagnostic::warning(W_OVERWRITE_OWN, source, target.span, format!("`{name}` is not a field AWS writes"))
                        .with_label("not an AWS field")
                        .with_help(format!("`overwrite` is for replacing what AWS wrote; add a field with `set {name} = ...`")),
                );
            }
            value_source(lowerer, source, value)
                .map(|value| CompiledAction::Overwrite {
                    path: field_path(&target.node),
                    value,
                })
                .into_iter()
                .collect()
        }
        Action::Tag(tags) => tags
            .iter()
            .map(|t| CompiledAction::Tag(Arc::from(t.node.as_str())))
            .collect(),
        Action::Drop => vec![CompiledAction::Drop],
    }
}

/// A field given priorities must get only priorities: mixing would make the
/// merge order-dependent.
/// One look-up per assignment: the first priority given to each field,
/// found once.
pub fn check_priority_fields(assignments: &[Assignment<'_>], diagnostics: &mut Vec<Diagnostic>) {
    let mut first_priority: HashMap<&str, &Assignment<'_>> = HashMap::new();
    for p in assignments.iter().filter(|a| a.is_priority) {
        first_priority.entry(p.field.as_str()).or_insert(p);
    }
    for a in assignments.iter().filter(|a| !a.is_priority) {
        if let Some(p) = first_priority.get(a.field.as_str()) {
            diagnostics.push(
                Diagnostic::error(E_PRIORITY_MIX, a.source, a.span, format!("`{}` holds a priority elsewhere", a.field))
                    .with_label("not a priority")
                    .with_secondary(p.source, p.span, "given a priority here")
                    .with_help("use INFO, LOW, MEDIUM, HIGH or CRITICAL; a priority field keeps the highest value any rule gives"),
            );
        }
    }
}

/// The `x` name for a field: `team` -> `xteam`, `Xteam` -> `xteam`.
fn x_name(name: &str) -> String {
    match name.strip_prefix('X') {
        Some(rest) => format!("x{rest}"),
        None => format!("x{}", lower_first(name)),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

//! Templates of alert titles and dedup keys: `title "Root sign-in from
//! {sourceIPAddress} ({actor.name})"`, `dedup "{userIdentity.arn}"`.
//!
//! A template is text with placeholders in braces: `{PATH}`, a field path of
//! the record as a condition writes it (`userIdentity.arn`, `resources[0].ARN`,
//! `resources[].ARN`, `requestParameters."x-amz-acl"`), or `{actor.FIELD}`,
//! a field of [who acted](ctrules_context::actor). `{{` and `}}` are a brace.
//! Nothing else goes in braces: no function calls, lookups or literals.
//!
//! A placeholder renders as the value it reaches: a string as it is, a
//! number or boolean as JSON writes it, an object or an array as compact
//! JSON; several values (a path with `[]`) joined by `", "`. A field that
//! is missing or null renders as [`MISSING`], `-`, so that a title still
//! reads as a sentence and a dedup key still has its parts.
//!
//! The template type lives in the compiler, which parses and checks it and
//! stores it in [`RuleInfo`](crate::RuleInfo); the runner renders it.

use crate::lower::{field_path, ACTOR};
use ctrules_context::actor::{Actor, ACTOR_FIELDS};
use ctrules_core::FieldPath;
use ctrules_lang::ast;
use ctrules_lang::Source;
use serde_json::Value;
use std::fmt;
use std::ops::Range;

/// What a placeholder without a value renders as.
pub const MISSING: &str = "-";

/// A parsed template: literal text and placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

/// One part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// `{PATH}`: a field path of the record.
    Field(FieldPath),
    /// `{actor.FIELD}`: a field of the actor, by its name in [`ACTOR_FIELDS`].
    Actor(String),
}

/// A template that cannot be parsed: where in its text (byte offsets) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub at: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: String,
}

/// A `{PATH}` placeholder of the record, as written: for the checks a
/// field path gets (W303), at its place in the template's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Placeholder {
    pub at: Range<usize>,
    pub path: ast::Path,
}

impl Template {
    /// Parses a template; every error in it, in order, when it has any.
    pub fn parse(text: &str) -> Result<(Template, Vec<Placeholder>), Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut placeholders = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().is_some_and(|&(_, n)| n == '{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().is_some_and(|&(_, n)| n == '}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => errors.push(TemplateError {
                    at: i..i + 1,
                    message: "a `}` that closes no placeholder".into(),
                    label: "no `{` before it".into(),
                    help: "write `}}` for a brace in the text".into(),
                }),
                '{' => {
                    let Some(close) = text[i + 1..].find('}').map(|j| i + 1 + j) else {
                        errors.push(TemplateError {
                            at: i..text.len(),
                            message: "a placeholder that is not closed".into(),
                            label: "no `}` after it".into(),
                            help: "close it (`{eventName}`), or write `{{` for a brace in the text"
                                .into(),
                        });
                        break;
                    };
                    while rest.peek().is_some_and(|&(j, _)| j <= close) {
                        rest.next();
                    }
                    let at = i..close + 1;
                    match placeholder(&text[i + 1..close]) {
                        Ok(Placed::Field(path)) => {
                            flush(&mut literal, &mut parts);
                            parts.push(Part::Field(field_path(&path)));
                            placeholders.push(Placeholder { at, path });
                        }
                        Ok(Placed::Actor(name)) => {
                            flush(&mut literal, &mut parts);
                            parts.push(Part::Actor(name));
                        }
                        Err((message, label, help)) => errors.push(TemplateError {
                            at,
                            message,
                            label,
                            help,
                        }),
                    }
                }
                c => literal.push(c),
            }
        }
        flush(&mut literal, &mut parts);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((
            Template {
                text: text.to_string(),
                parts,
            },
            placeholders,
        ))
    }

    /// The template as written in the rule.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The template with each placeholder replaced by its value in `record`
    /// (or the `actor` who acted in it); [`MISSING`] for one without a value.
    pub fn render(&self, record: &Value, actor: &Actor) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(path) => {
                    let mut found = 0;
                    path.visit(record, &mut |v| {
                        if !v.is_null() {
                            if found > 0 {
                                out.push_str(", ");
                            }
                            push_value(&mut out, v);
                            found += 1;
                        }
                        true
                    });
                    if found == 0 {
                        out.push_str(MISSING);
                    }
                }
                Part::Actor(name) => match actor.field(name) {
                    Some(v) if !v.is_null() => push_value(&mut out, &v),
                    _ => out.push_str(MISSING),
                },
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn flush(literal: &mut String, parts: &mut Vec<Part>) {
    if !literal.is_empty() {
        parts.push(Part::Text(std::mem::take(literal)));
    }
}

fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

enum Placed {
    Field(ast::Path),
    Actor(String),
}

/// What is between the braces: a path of the record or a field of the
/// actor; else the message, label and help of the error.
fn placeholder(inside: &str) -> Result<Placed, (String, String, String)> {
    let shown = inside.trim();
    if shown.is_empty() {
        return Err((
            "an empty placeholder".into(),
            "no field named".into(),
            "name a field of the record (`{eventName}`) or of the actor (`{actor.name}`); `{{}}` is a pair of braces".into(),
        ));
    }
    let not_a_path = |what: &str| {
        (
            format!("`{shown}` is not a field path"),
            what.to_string(),
            "a placeholder is a field of the record (`{userIdentity.arn}`, `{resources[0].ARN}`) or of the actor (`{actor.name}`)".to_string(),
        )
    };
    let value = match ctrules_lang::parse_value(&Source::new("template", inside)) {
        Ok(v) => v.node,
        Err(_) => return Err(not_a_path("not a field path")),
    };
    let path = match value {
        ast::Value::Term(ast::Term::Path(p)) => p,
        ast::Value::Term(ast::Term::Call(_)) => return Err(not_a_path("a function call")),
        ast::Value::Term(ast::Term::Lookup(_)) => return Err(not_a_path("a table lookup")),
        ast::Value::Literal(_) => return Err(not_a_path("a literal")),
    };
    if path.root() != ACTOR {
        return Ok(Placed::Field(path));
    }
    let names = || ACTOR_FIELDS.iter().map(|(f, _)| *f);
    let all = || names().collect::<Vec<_>>().join(", ");
    match &path.segments[1..] {
        [ast::Segment::Field(name)] if names().any(|f| f == name.as_str()) => {
            Ok(Placed::Actor(name.to_string()))
        }
        [ast::Segment::Field(name)] => Err((
            format!("the actor has no field `{name}`"),
            "unknown actor field".into(),
            match crate::suggest::closest(name, names()) {
                Some(near) => format!("did you mean `actor.{near}`?"),
                None => format!("the actor has: {}", all()),
            },
        )),
        [] => Err((
            "`actor` is not a text".into(),
            "a field of the actor is".into(),
            format!("name one: `{{actor.name}}`; the actor has: {}", all()),
        )),
        _ => Err((
            format!("`{shown}` goes below a field of the actor"),
            "the actor's fields are single values".into(),
            format!("write `{{actor.FIELD}}`; the actor has: {}", all()),
        )),
    }
}

/// For each byte of the value of the string literal `literal` (as written,
/// with its flags and quotes), the offset in `literal` of the character it
/// comes from; and one more entry, the closing quote. Maps a place in a
/// template back to the rules file.
pub fn literal_offsets(literal: &str) -> Vec<usize> {
    let open = literal.find('"').unwrap_or(0);
    let raw = literal[..open].contains('r');
    let inner_end = literal.len().saturating_sub(1).max(open + 1);
    let mut offsets = Vec::with_capacity(literal.len());
    let mut chars = literal[open + 1..inner_end].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = open + 1 + i;
        let produced = if raw || c != '\\' {
            c.len_utf8()
        } else {
            match chars.next() {
                Some((_, 'u')) => {
                    let mut hex = String::new();
                    for (_, h) in chars.by_ref() {
                        if h == '}' {
                            break;
                        }
                        if h != '{' {
                            hex.push(h);
                        }
                    }
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .map_or(1, char::len_utf8)
                }
                Some((_, e)) => match e {
                    'n' | 't' | 'r' => 1,
                    other => other.len_utf8(),
                },
                None => 1,
            }
        };
        offsets.extend(std::iter::repeat_n(at, produced));
    }
    offsets.push(inner_end);
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, record: &Value) -> String {
        let (t, _) = Template::parse(template).unwrap();
        t.render(record, &ctrules_context::actor::resolve(record))
    }

    #[test]
    fn renders_fields_actor_braces_and_missing_values() {
        let record = json!({
            "eventName": "ConsoleLogin",
            "sourceIPAddress": "1.2.3.4",
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
            "resources": [{"ARN": "a"}, {"ARN": "b"}],
            "readOnly": false,
            "requestParameters": {"x-amz-acl": "public-read", "n": null},
        });
        assert_eq!(
            render(
                "Root {eventName} from {sourceIPAddress} ({actor.name}, {actor.type})",
                &record
            ),
            "Root ConsoleLogin from 1.2.3.4 (root, Root)"
        );
        assert_eq!(
            render("{{literal}} {{{eventName}}}", &record),
            "{literal} {ConsoleLogin}"
        );
        assert_eq!(
            render("{resources[].ARN} {resources[1].ARN}", &record),
            "a, b b"
        );
        assert_eq!(
            render("{readOnly} {requestParameters.\"x-amz-acl\"}", &record),
            "false public-read"
        );
        assert_eq!(
            render("{errorCode}|{requestParameters.n}|{actor.session}", &record),
            "-|-|-"
        );
    }

    #[test]
    fn errors_say_where() {
        let err = |t: &str| Template::parse(t).unwrap_err();
        assert_eq!(err("a {eventName")[0].at, 2..12);
        assert_eq!(err("a {} b")[0].message, "an empty placeholder");
        assert_eq!(err("a } b")[0].at, 2..3);
        let e = &err("x {actor.nmae}")[0];
        assert_eq!(
            (e.at.clone(), e.help.as_str()),
            (2..14, "did you mean `actor.name`?")
        );
        assert_eq!(err("{lower(eventName)}")[0].label, "a function call");
        assert_eq!(err("{\"x\"}")[0].label, "a literal");
        assert_eq!(err("{a b}")[0].label, "not a field path");
        assert_eq!(err("{a} {} {b")[..].len(), 2);
    }

    #[test]
    fn offsets_map_through_escapes() {
        // "a\"{b}" : the value is a"{b}, 6 bytes.
        let literal = r#""a\"{b}""#;
        let offsets = literal_offsets(literal);
        assert_eq!(offsets, [1, 2, 4, 5, 6, 7]);
        assert_eq!(literal_offsets(r#"r"{x}""#), [2, 3, 4, 5]);
        assert_eq!(literal_offsets(r#""\u{e9}""#), [1, 1, 7]);
    }
}

//! The syntax layer: turns policy text, HCL or JSON, into a flat list of `path` entries whose
//! bodies are plain JSON values. Both syntaxes meet here so that the rule parser in `rule.rs`
//! sees one shape and a policy means the same thing whichever way it was written.

use hcl::edit::Span;
use serde_json::{Map, Number, Value};

use crate::PolicyError;

/// Deepest bracket nesting accepted. Real policies nest three levels at most; the cap keeps a
/// hostile text from exhausting the stack of the recursive-descent parsers.
const MAX_NESTING: usize = 32;

/// One `path "..." { ... }` stanza before its keys are interpreted.
#[derive(Debug)]
pub(crate) struct RawPath {
    /// The path pattern as written.
    pub(crate) key: String,
    /// 1-based line of the stanza, when the syntax gives one.
    pub(crate) line: Option<usize>,
    /// The stanza's keys and values.
    pub(crate) body: Map<String, Value>,
}

/// Reads policy text: JSON when the trimmed text starts with `{`, HCL otherwise.
pub(crate) fn read(text: &str) -> Result<Vec<RawPath>, PolicyError> {
    check_nesting(text)?;
    if text.trim_start().starts_with('{') {
        read_json(text)
    } else {
        read_hcl(text)
    }
}

fn check_nesting(text: &str) -> Result<(), PolicyError> {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(PolicyError::invalid(None, "brackets nested too deeply"));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn read_json(text: &str) -> Result<Vec<RawPath>, PolicyError> {
    let root: Value = serde_json::from_str(text).map_err(|e| PolicyError::Syntax {
        line: Some(e.line()),
        column: Some(e.column()),
        message: e.to_string(),
    })?;
    let Value::Object(root) = root else {
        return Err(PolicyError::invalid(None, "policy must be a JSON object"));
    };
    let mut paths = Vec::new();
    for (key, value) in root {
        top_level_entry(&key, value, None, &mut paths)?;
    }
    Ok(paths)
}

fn read_hcl(text: &str) -> Result<Vec<RawPath>, PolicyError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| PolicyError::Syntax {
        line: Some(e.location().line()),
        column: Some(e.location().column()),
        message: e.message().to_owned(),
    })?;
    let mut paths = Vec::new();
    for structure in body.iter() {
        let line = structure.span().map(|span| line_of(text, span.start));
        match hcl::Structure::from(structure.clone()) {
            hcl::Structure::Attribute(attr) => {
                let value = expr_to_value(&attr.expr, line, attr.key.as_str())?;
                top_level_entry(attr.key.as_str(), value, line, &mut paths)?;
            }
            hcl::Structure::Block(block) => {
                let ident = block.identifier.as_str();
                if ident != "path" {
                    return Err(PolicyError::invalid(
                        line,
                        format!("invalid top-level key {ident:?}, expected \"path\""),
                    ));
                }
                let [label] = block.labels.as_slice() else {
                    return Err(PolicyError::invalid(
                        line,
                        "a path block needs exactly one label, the path",
                    ));
                };
                let key = label.as_str().to_owned();
                let body = body_to_map(&block.body, line, &key)?;
                paths.push(RawPath { key, line, body });
            }
        }
    }
    Ok(paths)
}

/// Handles one top-level key: `path` (an object of path → body) or `name` (ignored, as Vault
/// ignores it: the name comes from the API path).
fn top_level_entry(
    key: &str,
    value: Value,
    line: Option<usize>,
    paths: &mut Vec<RawPath>,
) -> Result<(), PolicyError> {
    match key {
        "name" if value.is_string() => Ok(()),
        "name" => Err(PolicyError::invalid(line, "\"name\" must be a string")),
        "path" => {
            // HCL 1's JSON form allows a list of objects wherever an object of blocks goes.
            let groups = match value {
                Value::Object(map) => vec![map],
                Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(map) => Ok(map),
                        _ => Err(PolicyError::invalid(line, "\"path\" must hold objects")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(PolicyError::invalid(line, "\"path\" must be an object")),
            };
            for group in groups {
                for (path, body) in group {
                    push_path_bodies(path, body, line, paths)?;
                }
            }
            Ok(())
        }
        other => Err(PolicyError::invalid(
            line,
            format!("invalid top-level key {other:?}, expected \"path\""),
        )),
    }
}

fn push_path_bodies(
    key: String,
    body: Value,
    line: Option<usize>,
    paths: &mut Vec<RawPath>,
) -> Result<(), PolicyError> {
    match body {
        Value::Object(body) => paths.push(RawPath { key, line, body }),
        Value::Array(items) => {
            for item in items {
                let Value::Object(body) = item else {
                    return Err(PolicyError::invalid(
                        line,
                        format!("path {key:?}: body must be an object"),
                    ));
                };
                paths.push(RawPath {
                    key: key.clone(),
                    line,
                    body,
                });
            }
        }
        _ => {
            return Err(PolicyError::invalid(
                line,
                format!("path {key:?}: body must be an object"),
            ));
        }
    }
    Ok(())
}

/// Converts a block body to an object. Unlabelled nested blocks become nested objects, which
/// accepts HCL 1's `allowed_parameters { ... }` spelling next to `allowed_parameters = { ... }`.
fn body_to_map(
    body: &hcl::Body,
    line: Option<usize>,
    path: &str,
) -> Result<Map<String, Value>, PolicyError> {
    let mut map = Map::new();
    for structure in body.iter() {
        let (key, value) = match structure {
            hcl::Structure::Attribute(attr) => (
                attr.key.as_str(),
                expr_to_value(&attr.expr, line, attr.key.as_str())?,
            ),
            hcl::Structure::Block(block) => {
                if !block.labels.is_empty() {
                    return Err(PolicyError::invalid(
                        line,
                        format!(
                            "path {path:?}: unexpected labelled block {:?}",
                            block.identifier.as_str()
                        ),
                    ));
                }
                (
                    block.identifier.as_str(),
                    Value::Object(body_to_map(&block.body, line, path)?),
                )
            }
        };
        if map.insert(key.to_owned(), value).is_some() {
            return Err(PolicyError::invalid(
                line,
                format!("path {path:?}: key {key:?} is set more than once"),
            ));
        }
    }
    Ok(map)
}

/// Converts a literal HCL expression to JSON. Policies are data: variables, function calls,
/// interpolation and operators are refused rather than evaluated.
fn expr_to_value(
    expr: &hcl::Expression,
    line: Option<usize>,
    key: &str,
) -> Result<Value, PolicyError> {
    use hcl::Expression as E;
    let not_literal = || PolicyError::invalid(line, format!("{key:?} must be a literal value"));
    Ok(match expr {
        E::Null => Value::Null,
        E::Bool(b) => Value::Bool(*b),
        E::Number(n) => {
            let number = if let Some(u) = n.as_u64() {
                Some(Number::from(u))
            } else if let Some(i) = n.as_i64() {
                Some(Number::from(i))
            } else {
                n.as_f64().and_then(Number::from_f64)
            };
            Value::Number(number.ok_or_else(not_literal)?)
        }
        E::String(s) => Value::String(s.clone()),
        E::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| expr_to_value(item, line, key))
                .collect::<Result<_, _>>()?,
        ),
        E::Object(object) => {
            let mut map = Map::new();
            for (k, v) in object {
                let name = match k {
                    hcl::ObjectKey::Identifier(ident) => ident.as_str().to_owned(),
                    hcl::ObjectKey::Expression(E::String(s)) => s.clone(),
                    _ => return Err(not_literal()),
                };
                map.insert(name, expr_to_value(v, line, key)?);
            }
            Value::Object(map)
        }
        E::Parenthesis(inner) => expr_to_value(inner, line, key)?,
        _ => return Err(not_literal()),
    })
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

//! Usernames for new database users, from the config's `username_template`.
//!
//! Vault's templates are Go templates; we implement the subset its documentation uses:
//! literal text plus `{{ term | func … }}` actions, where a term is `.DisplayName`,
//! `.RoleName`, `random N`, `unix_time`, `unix_time_millis` or a `"string"`, and the
//! functions are `truncate N`, `lowercase`, `uppercase` and `replace "old" "new"`. Anything
//! else is refused when the config is written, not when credentials are issued.
//!
//! Whatever the template says, the result keeps only `[A-Za-z0-9_.-]` (other characters
//! become `_`) and at most 63 bytes (PostgreSQL's identifier limit), so a display name or role
//! name can never smuggle quotes or whitespace into a role name.

use rand::Rng;
use rand::distr::Alphanumeric;
use time::OffsetDateTime;

/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1).
pub(crate) const MAX_USERNAME_LEN: usize = 63;

/// What a template can refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsernameInputs<'a> {
    pub display_name: &'a str,
    pub role_name: &'a str,
    pub now: OffsetDateTime,
}

/// A parsed username template.
#[derive(Debug, Clone)]
pub(crate) struct UsernameTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Action(Term, Vec<Func>),
}

#[derive(Debug, Clone)]
enum Term {
    DisplayName,
    RoleName,
    Random(usize),
    UnixTime,
    UnixTimeMillis,
    Literal(String),
}

#[derive(Debug, Clone)]
enum Func {
    Truncate(usize),
    Lowercase,
    Uppercase,
    Replace(String, String),
}

impl UsernameTemplate {
    /// The template, or the default (`v-<display 8>-<role 8>-<random 20>-<unix time>`) when
    /// `source` is empty.
    pub(crate) fn parse(source: &str) -> Result<Self, String> {
        if source.trim().is_empty() {
            return Ok(Self::default_template());
        }
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| "username_template has an unclosed {{".to_string())?;
            parts.push(parse_action(&after[..close])?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let template = Self { parts };
        // Refuse templates that can only produce an empty name.
        let sample = template.render(&UsernameInputs {
            display_name: "token",
            role_name: "role",
            now: OffsetDateTime::UNIX_EPOCH,
        });
        if sample.is_empty() {
            return Err("username_template produces an empty username".into());
        }
        Ok(template)
    }

    fn default_template() -> Self {
        let dash = || Part::Text("-".into());
        Self {
            parts: vec![
                Part::Text("v".into()),
                dash(),
                Part::Action(Term::DisplayName, vec![Func::Truncate(8)]),
                dash(),
                Part::Action(Term::RoleName, vec![Func::Truncate(8)]),
                dash(),
                Part::Action(Term::Random(20), vec![]),
                dash(),
                Part::Action(Term::UnixTime, vec![]),
            ],
        }
    }

    /// Renders a username: sanitized and at most [`MAX_USERNAME_LEN`] bytes.
    pub(crate) fn render(&self, inputs: &UsernameInputs<'_>) -> String {
        let mut raw = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => raw.push_str(text),
                Part::Action(term, funcs) => {
                    let mut value = term.evaluate(inputs);
                    for func in funcs {
                        value = func.apply(value);
                    }
                    raw.push_str(&value);
                }
            }
        }
        let mut name: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Every character is ASCII now, so byte truncation keeps whole characters.
        name.truncate(MAX_USERNAME_LEN);
        name
    }
}

impl Term {
    fn evaluate(&self, inputs: &UsernameInputs<'_>) -> String {
        match self {
            Term::DisplayName => inputs.display_name.to_string(),
            Term::RoleName => inputs.role_name.to_string(),
            Term::Random(len) => rand::rng()
                .sample_iter(&Alphanumeric)
                .take(*len)
                .map(char::from)
                .collect(),
            Term::UnixTime => inputs.now.unix_timestamp().to_string(),
            Term::UnixTimeMillis => (inputs.now.unix_timestamp_nanos() / 1_000_000).to_string(),
            Term::Literal(text) => text.clone(),
        }
    }
}

impl Func {
    fn apply(&self, value: String) -> String {
        match self {
            Func::Truncate(len) => value.chars().take(*len).collect(),
            Func::Lowercase => value.to_lowercase(),
            Func::Uppercase => value.to_uppercase(),
            Func::Replace(from, to) if !from.is_empty() => value.replace(from.as_str(), to),
            Func::Replace(..) => value,
        }
    }
}

fn parse_action(source: &str) -> Result<Part, String> {
    let mut stages = source.split('|').map(str::trim);
    let term_source = stages.next().unwrap_or_default();
    let term_words = words(term_source)?;
    let term = match term_words.as_slice() {
        [Word::Bare(w)] if w == ".DisplayName" => Term::DisplayName,
        [Word::Bare(w)] if w == ".RoleName" => Term::RoleName,
        [Word::Bare(w)] if w == "unix_time" => Term::UnixTime,
        [Word::Bare(w)] if w == "unix_time_millis" => Term::UnixTimeMillis,
        [Word::Bare(w), Word::Bare(n)] if w == "random" => Term::Random(number(n, 1, 100)?),
        [Word::Quoted(text)] => Term::Literal(text.clone()),
        _ => {
            return Err(format!(
                "username_template: unsupported expression {{{{{term_source}}}}}"
            ));
        }
    };
    let mut funcs = Vec::new();
    for stage in stages {
        let stage_words = words(stage)?;
        let func = match stage_words.as_slice() {
            [Word::Bare(f), Word::Bare(n)] if f == "truncate" => {
                Func::Truncate(number(n, 0, 1000)?)
            }
            [Word::Bare(f)] if f == "lowercase" => Func::Lowercase,
            [Word::Bare(f)] if f == "uppercase" => Func::Uppercase,
            [Word::Bare(f), Word::Quoted(from), Word::Quoted(to)] if f == "replace" => {
                Func::Replace(from.clone(), to.clone())
            }
            _ => return Err(format!("username_template: unsupported function {stage:?}")),
        };
        funcs.push(func);
    }
    Ok(Part::Action(term, funcs))
}

#[derive(Debug, PartialEq)]
enum Word {
    Bare(String),
    Quoted(String),
}

/// Splits on whitespace, keeping `"double quoted"` words (no escapes) together.
fn words(source: &str) -> Result<Vec<Word>, String> {
    let mut result = Vec::new();
    let mut rest = source.trim_start();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| "username_template has an unclosed string".to_string())?;
            result.push(Word::Quoted(quoted[..end].to_string()));
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            result.push(Word::Bare(rest[..end].to_string()));
            rest = rest[end..].trim_start();
        }
    }
    Ok(result)
}

fn number(text: &str, min: usize, max: usize) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("username_template: expected a number from {min} to {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn inputs<'a>(display_name: &'a str, role_name: &'a str) -> UsernameInputs<'a> {
        UsernameInputs {
            display_name,
            role_name,
            now: datetime!(2024-05-01 12:00:00 UTC),
        }
    }

    #[test]
    fn default_template_looks_like_vaults() {
        let template = UsernameTemplate::parse("").unwrap();
        let name = template.render(&inputs("kubernetes-default", "readonly-role"));
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts[0], "v");
        assert_eq!(parts[1], "kubernet");
        assert_eq!(parts[2], "readonly");
        assert_eq!(parts[3].len(), 20);
        assert_eq!(parts[4], "1714564800");
        assert_ne!(
            name,
            template.render(&inputs("kubernetes-default", "readonly-role"))
        );
    }

    #[test]
    fn hostile_inputs_are_sanitized_and_truncated() {
        let template = UsernameTemplate::parse("{{.DisplayName}}_{{.RoleName}}").unwrap();
        let name = template.render(&inputs("\"; DROP ROLE postgres; --", &"r".repeat(100)));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "{name}"
        );
        assert!(!name.contains('"') && !name.contains(' ') && !name.contains(';'));
        assert_eq!(name.len(), MAX_USERNAME_LEN);
    }

    #[test]
    fn supported_functions() {
        let template = UsernameTemplate::parse(
            r#"app-{{.RoleName | uppercase | truncate 3}}-{{ "X.y" | lowercase }}-{{.DisplayName | replace "-" "_"}}"#,
        )
        .unwrap();
        assert_eq!(template.render(&inputs("a-b", "reader")), "app-REA-x.y-a_b");
    }

    #[test]
    fn rejects_unsupported_templates() {
        for bad in [
            "{{printf \"%s\" .RoleName}}",
            "{{.Secret}}",
            "{{random 0}}",
            "{{.RoleName | sha256}}",
            "v-{{.RoleName",
            "{{\"\"}}",
        ] {
            assert!(UsernameTemplate::parse(bad).is_err(), "{bad} accepted");
        }
    }
}

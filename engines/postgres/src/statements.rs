//! Statement templates: splitting operator-written SQL into statements and filling the
//! `{{name}}`, `{{username}}`, `{{password}}` and `{{expiration}}` placeholders.
//!
//! Vault fills placeholders with plain string replacement, so a value containing a quote
//! changes the statement. Here a small lexer follows PostgreSQL's quoting rules and every
//! value is escaped for the context its placeholder sits in:
//!
//! - bare (`CREATE ROLE {{name}}`): a complete quoted identifier for identifier placeholders,
//!   a complete quoted literal for value placeholders;
//! - inside a quoted identifier (`"{{name}}"`): `"` doubled;
//! - inside a string literal (`'{{password}}'`, also `E'…'`): `'` doubled;
//! - inside a dollar-quoted body (`DO $$ … $$`): the body is lexed the same way, and a value
//!   may not contain the closing tag of any enclosing dollar quote;
//! - inside a comment: left alone (no value is ever copied into a comment).
//!
//! Backslashes and NUL are refused in every value: their meaning in a literal depends on
//! server settings (`standard_conforming_strings`), and nothing Lessor generates contains them.
//! Splitting happens only at `;` outside quotes, dollar quotes and comments, so a `DO` block
//! stays one statement.

/// The placeholders each kind of statement may use.
pub(crate) const CREATION: &[&str] = &["name", "username", "password", "expiration"];
pub(crate) const RENEWAL: &[&str] = &["name", "username", "expiration"];
pub(crate) const REVOCATION: &[&str] = &["name", "username"];
pub(crate) const ROOT_ROTATION: &[&str] = &["name", "username", "password"];

/// Placeholders whose value is an identifier (a role name) rather than a literal.
const IDENTIFIERS: &[&str] = &["name", "username", "schema", "database"];

/// Why a template cannot be rendered. Messages name placeholders and positions, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StatementError {
    #[error("statement has an unterminated {0}")]
    Unterminated(&'static str),
    #[error("unknown placeholder {{{{{0}}}}} (allowed here: {1})")]
    UnknownPlaceholder(String, String),
    #[error("the value for {{{{{0}}}}} contains a character that cannot be placed in SQL safely")]
    UnsafeValue(String),
}

/// Values to substitute, by placeholder name.
#[derive(Clone, Copy)]
pub(crate) struct Values<'a> {
    pairs: &'a [(&'a str, &'a str)],
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values include passwords: show the names only.
        let names: Vec<&str> = self.pairs.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Values").field("names", &names).finish()
    }
}

impl<'a> Values<'a> {
    pub(crate) fn new(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self { pairs }
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }

    fn names(&self) -> String {
        let names: Vec<String> = self
            .pairs
            .iter()
            .map(|(n, _)| format!("{{{{{n}}}}}"))
            .collect();
        names.join(", ")
    }
}

/// Renders every template into the statements to execute, in order, skipping empty ones.
pub(crate) fn render_all(
    templates: &[String],
    values: Values<'_>,
) -> Result<Vec<String>, StatementError> {
    let mut statements = Vec::new();
    for template in templates {
        statements.extend(render(template, values)?);
    }
    Ok(statements)
}

/// Checks that templates parse and use only `allowed` placeholders, with harmless values.
pub(crate) fn validate(templates: &[String], allowed: &[&str]) -> Result<(), StatementError> {
    let pairs: Vec<(&str, &str)> = allowed.iter().map(|name| (*name, "x")).collect();
    render_all(templates, Values::new(&pairs)).map(|_| ())
}

/// Renders one template (possibly several `;`-separated statements).
pub(crate) fn render(template: &str, values: Values<'_>) -> Result<Vec<String>, StatementError> {
    let mut lexer = Lexer {
        src: template,
        pos: 0,
        values,
        enclosing_tags: Vec::new(),
    };
    let mut statements = Vec::new();
    loop {
        let (text, more) = lexer.statement()?;
        let text = text.trim();
        if !text.is_empty() {
            statements.push(text.to_string());
        }
        if !more {
            return Ok(statements);
        }
    }
}

/// `name` as a PostgreSQL quoted identifier.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a PostgreSQL string literal (callers refuse backslashes first).
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Bare,
    Identifier,
    Literal,
}

struct Lexer<'s, 'v> {
    src: &'s str,
    pos: usize,
    values: Values<'v>,
    /// Closing tags (`$tag$`) of the dollar quotes we are inside, innermost last.
    enclosing_tags: Vec<String>,
}

impl Lexer<'_, '_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn previous_is_identifier_char(&self) -> bool {
        self.src[..self.pos]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
    }

    /// Copies one top-level statement; the flag says whether a `;` ended it.
    fn statement(&mut self) -> Result<(String, bool), StatementError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == ';' && self.enclosing_tags.is_empty() {
                self.pos += 1;
                return Ok((out, true));
            }
            self.token(&mut out)?;
        }
        Ok((out, false))
    }

    /// Copies (and substitutes within) the next token at bare level.
    fn token(&mut self, out: &mut String) -> Result<(), StatementError> {
        let rest = self.rest();
        if rest.starts_with("{{")
            && let Some(consumed) = self.placeholder(Context::Bare, out)?
        {
            self.pos += consumed;
            return Ok(());
        }
        if rest.starts_with("--") {
            let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
            out.push_str(&rest[..end]);
            self.pos += end;
            return Ok(());
        }
        if rest.starts_with("/*") {
            return self.block_comment(out);
        }
        let Some(c) = self.peek() else {
            return Ok(());
        };
        match c {
            '\'' => {
                let escape = matches!(self.src[..self.pos].chars().next_back(), Some('e' | 'E'))
                    && !self.src[..self.pos]
                        .chars()
                        .rev()
                        .nth(1)
                        .is_some_and(|p| p.is_alphanumeric() || p == '_');
                self.quoted('\'', escape, Context::Literal, out)
            }
            '"' => self.quoted('"', false, Context::Identifier, out),
            '$' if !self.previous_is_identifier_char() => self.dollar_quote(out),
            _ => {
                out.push(c);
                self.pos += c.len_utf8();
                Ok(())
            }
        }
    }

    /// Parses `{{ name }}` at the current position. `None` when the braces do not form a
    /// placeholder (copied as ordinary text then).
    fn placeholder(
        &self,
        context: Context,
        out: &mut String,
    ) -> Result<Option<usize>, StatementError> {
        let rest = self.rest();
        let Some(close) = rest[2..].find("}}") else {
            return Ok(None);
        };
        let name = rest[2..2 + close].trim();
        if name.is_empty()
            || name.len() > 32
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Ok(None);
        }
        let Some(value) = self.values.get(name) else {
            return Err(StatementError::UnknownPlaceholder(
                name.to_string(),
                self.values.names(),
            ));
        };
        if value.contains(['\\', '\0'])
            || self
                .enclosing_tags
                .iter()
                .any(|tag| value.contains(tag.as_str()))
        {
            return Err(StatementError::UnsafeValue(name.to_string()));
        }
        match context {
            Context::Bare if IDENTIFIERS.contains(&name) => out.push_str(&quote_identifier(value)),
            Context::Bare => out.push_str(&quote_literal(value)),
            Context::Identifier => out.push_str(&value.replace('"', "\"\"")),
            Context::Literal => out.push_str(&value.replace('\'', "''")),
        }
        Ok(Some(2 + close + 2))
    }

    /// A quoted identifier or string literal, with placeholders escaped for it.
    fn quoted(
        &mut self,
        quote: char,
        backslash_escapes: bool,
        context: Context,
        out: &mut String,
    ) -> Result<(), StatementError> {
        out.push(quote);
        self.pos += 1;
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return Err(StatementError::Unterminated(if quote == '"' {
                    "quoted identifier"
                } else {
                    "string literal"
                }));
            };
            if rest.starts_with("{{")
                && let Some(consumed) = self.placeholder(context, out)?
            {
                self.pos += consumed;
                continue;
            }
            if backslash_escapes && c == '\\' {
                let escaped: String = rest.chars().take(2).collect();
                out.push_str(&escaped);
                self.pos += escaped.len();
                continue;
            }
            out.push(c);
            self.pos += c.len_utf8();
            if c == quote {
                // A doubled quote is an escaped quote, not the end.
                if self.peek() == Some(quote) {
                    out.push(quote);
                    self.pos += 1;
                    continue;
                }
                return Ok(());
            }
        }
    }

    /// `/* … */`, which nests in PostgreSQL. Copied verbatim.
    fn block_comment(&mut self, out: &mut String) -> Result<(), StatementError> {
        let mut depth = 0usize;
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(StatementError::Unterminated("block comment"));
            }
            let step = if rest.starts_with("/*") {
                depth += 1;
                2
            } else if rest.starts_with("*/") {
                depth -= 1;
                2
            } else {
                rest.chars().next().map_or(1, char::len_utf8)
            };
            out.push_str(&rest[..step]);
            self.pos += step;
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// `$tag$ … $tag$`. PostgreSQL ends the body at the first closing tag whatever the body
    /// contains, so we find it first, then lex the body as SQL (as PL/pgSQL bodies are).
    fn dollar_quote(&mut self, out: &mut String) -> Result<(), StatementError> {
        let rest = self.rest();
        let tag_len = rest[1..]
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map(|(i, _)| i);
        let is_tag = match tag_len {
            Some(len) => {
                rest[1 + len..].starts_with('$')
                    && !rest[1..].starts_with(|c: char| c.is_ascii_digit())
            }
            None => false,
        };
        let Some(len) = tag_len.filter(|_| is_tag) else {
            // `$1` and friends: a parameter, copied as is.
            out.push('$');
            self.pos += 1;
            return Ok(());
        };
        let tag = rest[..len + 2].to_string();
        let body_start = self.pos + tag.len();
        let Some(body_len) = self.src[body_start..].find(tag.as_str()) else {
            return Err(StatementError::Unterminated("dollar-quoted string"));
        };
        let body = &self.src[body_start..body_start + body_len];
        out.push_str(&tag);
        let mut inner = Lexer {
            src: body,
            pos: 0,
            values: self.values,
            enclosing_tags: self.enclosing_tags.clone(),
        };
        inner.enclosing_tags.push(tag.clone());
        let mut rendered = String::new();
        let lexed = (|| {
            while inner.peek().is_some() {
                inner.token(&mut rendered)?;
            }
            Ok::<(), StatementError>(())
        })();
        match lexed {
            Ok(()) => out.push_str(&rendered),
            // Not SQL (e.g. a function in another language): fine as long as it has no
            // placeholders we would have to fill without knowing its quoting.
            Err(StatementError::Unterminated(_)) if !body.contains("{{") => out.push_str(body),
            Err(error) => return Err(error),
        }
        out.push_str(&tag);
        self.pos = body_start + body_len + tag.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests;

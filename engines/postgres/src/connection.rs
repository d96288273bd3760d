//! Turning a config's `connection_url` (URI or `key=value` form, with optional
//! `{{username}}`/`{{password}}` placeholders) into a `tokio_postgres::Config`, and showing
//! it back without its password.
//!
//! Placeholders are not spliced into the URL text (which would need URL- or
//! keyword-escaping); they are swapped for marker words, the text is parsed, and the markers
//! are then replaced by setting the user and password on the parsed config.

use std::str::FromStr;

use tokio_postgres::config::Host;

use crate::password::Secret;

const USER_MARK: &str = "lessorplaceholderuser";
const PASSWORD_MARK: &str = "lessorplaceholderpassword";
const REDACTED: &str = "xxxxx";

/// A parsed connection target.
#[derive(Debug)]
pub(crate) struct Target {
    pub config: tokio_postgres::Config,
    /// `config 'name' (host:port/db)`, safe for error messages.
    pub label: String,
    /// The URL carries a password of its own instead of `{{password}}`.
    pub literal_password: bool,
}

/// Parses `url` for config `name`, filling placeholders from the config's fields.
pub(crate) fn target(
    name: &str,
    url: &str,
    username: &str,
    password: &Secret,
) -> Result<Target, String> {
    let marked = url
        .replace("{{username}}", USER_MARK)
        .replace("{{password}}", PASSWORD_MARK);
    let mut config = tokio_postgres::Config::from_str(&marked).map_err(|error| {
        crate::pool::scrub(
            &format!("connection_url does not parse: {error}"),
            std::slice::from_ref(password),
        )
    })?;
    match config.get_user() {
        Some(USER_MARK) | None if username.is_empty() => {
            return Err(
                "connection_url needs a user: set `username` (and use {{username}}) or put \
                 one in the URL"
                    .into(),
            );
        }
        Some(USER_MARK) | None => {
            config.user(username);
        }
        Some(_) => {}
    }
    let mut literal_password = false;
    match config.get_password() {
        Some(mark) if mark == PASSWORD_MARK.as_bytes() => {
            config.password(password.expose());
        }
        None if !password.is_empty() => {
            config.password(password.expose());
        }
        None => {}
        Some(_) => literal_password = true,
    }
    let label = label(name, &config);
    Ok(Target {
        config,
        label,
        literal_password,
    })
}

fn label(name: &str, config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config
                .get_ports()
                .get(index)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(host) => format!("{host}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost".to_string()
    } else {
        hosts.join(",")
    };
    let dbname = config.get_dbname().unwrap_or("");
    format!("database config {name:?} ({hosts}/{dbname})")
}

/// `url` with any literal password replaced by `xxxxx` (placeholders are kept). When the
/// result would still parse to a real password, the whole URL is withheld.
pub(crate) fn redact(url: &str) -> String {
    let redacted = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        redact_uri(url)
    } else {
        redact_keyword_value(url)
    };
    let still_secret =
        tokio_postgres::Config::from_str(&redacted.replace("{{password}}", PASSWORD_MARK))
            .ok()
            .and_then(|config| config.get_password().map(<[u8]>::to_vec))
            .is_some_and(|password| {
                password != REDACTED.as_bytes() && password != PASSWORD_MARK.as_bytes()
            });
    if still_secret {
        "[redacted]".to_string()
    } else {
        redacted
    }
}

fn redact_uri(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, password)) if password != "{{password}}" => {
                format!("{user}:{REDACTED}@{hosts}")
            }
            _ => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some(("password", value)) if value != "{{password}}" => {
                        format!("password={REDACTED}")
                    }
                    _ => param.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Replaces the value of `password=` in the `key=value` form (quoted or bare).
fn redact_keyword_value(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find("password") {
        let (before, after) = rest.split_at(index);
        out.push_str(before);
        out.push_str("password");
        let after = &after["password".len()..];
        let is_keyword_start = before.is_empty() || before.ends_with(|c: char| c.is_whitespace());
        let trimmed = after.trim_start();
        if !is_keyword_start || !trimmed.starts_with('=') {
            rest = after;
            continue;
        }
        let value = trimmed[1..].trim_start();
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut end = None;
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = Some(i + 2);
                        break;
                    }
                    _ => {}
                }
            }
            end.unwrap_or(value.len())
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        let original = &value[..value_len];
        if original == "{{password}}" {
            out.push_str(&after[..after.len() - value.len() + value_len]);
        } else {
            out.push_str(&after[..after.len() - value.len()]);
            out.push_str(REDACTED);
        }
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Secret {
        Secret::new(text.into())
    }

    #[test]
    fn placeholders_are_filled_from_fields() {
        let target = target(
            "main",
            "postgres://{{username}}:{{password}}@db.example:6543/app?sslmode=disable",
            "vault admin",
            &secret("p@ss:w/rd"),
        )
        .unwrap();
        assert_eq!(target.config.get_user(), Some("vault admin"));
        assert_eq!(target.config.get_password(), Some("p@ss:w/rd".as_bytes()));
        assert_eq!(
            target.label,
            "database config \"main\" (db.example:6543/app)"
        );
        assert!(!target.literal_password);
    }

    #[test]
    fn keyword_value_form_and_literal_password() {
        let target = target(
            "kv",
            "host=127.0.0.1 port=5432 user=postgres password=literal dbname=x",
            "",
            &Secret::default(),
        )
        .unwrap();
        assert_eq!(target.config.get_user(), Some("postgres"));
        assert!(target.literal_password);
    }

    #[test]
    fn missing_user_is_refused() {
        let error = target("x", "postgres://{{username}}@h/db", "", &secret("pw")).unwrap_err();
        assert!(error.contains("username"));
    }

    #[test]
    fn redaction_hides_literal_passwords_only() {
        assert_eq!(
            redact("postgres://{{username}}:{{password}}@h:5432/db"),
            "postgres://{{username}}:{{password}}@h:5432/db"
        );
        assert_eq!(
            redact("postgresql://root:s3cret@h/db?sslmode=disable"),
            "postgresql://root:xxxxx@h/db?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://h/db?user=root&password=s3cret"),
            "postgres://h/db?user=root&password=xxxxx"
        );
        assert_eq!(
            redact("host=h user=root password='s3 cret' dbname=db"),
            "host=h user=root password=xxxxx dbname=db"
        );
        assert_eq!(
            redact("host=h password = {{password}} dbname=db"),
            "host=h password = {{password}} dbname=db"
        );
        for url in [
            "postgresql://root:s3cret@h/db",
            "host=h password=s3cret",
            "host=h password='s3cret'",
        ] {
            assert!(!redact(url).contains("s3cret"), "{url}");
        }
    }
}

use super::*;

const CREATE: &[(&str, &str)] = &[
    ("name", "v-app-1"),
    ("username", "v-app-1"),
    ("password", "Pw0rd"),
    ("expiration", "2024-05-01 12:00:00+0000"),
];

fn one(template: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    render(template, Values::new(pairs)).unwrap()
}

#[test]
fn vault_style_quoted_placeholders() {
    let statements = one(
        r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
           GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";"#,
        CREATE,
    );
    assert_eq!(
        statements,
        [
            r#"CREATE ROLE "v-app-1" WITH LOGIN PASSWORD 'Pw0rd' VALID UNTIL '2024-05-01 12:00:00+0000'"#,
            r#"GRANT SELECT ON ALL TABLES IN SCHEMA public TO "v-app-1""#,
        ]
    );
}

#[test]
fn bare_placeholders_become_complete_quoted_tokens() {
    let statements = one("CREATE ROLE {{name}} PASSWORD {{password}}", CREATE);
    assert_eq!(statements, [r#"CREATE ROLE "v-app-1" PASSWORD 'Pw0rd'"#]);
}

#[test]
fn hostile_values_stay_inside_their_quotes() {
    let evil = r#"x"; DROP ROLE postgres; --'"#;
    let pairs = [("name", evil), ("password", "a'b; DROP TABLE t; --")];
    let statements = one(
        r#"CREATE ROLE "{{name}}" PASSWORD '{{password}}'; ALTER ROLE {{name}} NOLOGIN"#,
        &pairs,
    );
    assert_eq!(
        statements,
        [
            r#"CREATE ROLE "x""; DROP ROLE postgres; --'" PASSWORD 'a''b; DROP TABLE t; --'"#,
            r#"ALTER ROLE "x""; DROP ROLE postgres; --'" NOLOGIN"#,
        ]
    );
}

#[test]
fn backslashes_and_nul_are_refused() {
    for value in ["a\\b", "a\0b"] {
        let pairs = [("password", value)];
        assert_eq!(
            render("SELECT '{{password}}'", Values::new(&pairs)),
            Err(StatementError::UnsafeValue("password".into()))
        );
    }
}

#[test]
fn semicolons_inside_quotes_comments_and_dollar_bodies_do_not_split() {
    let statements = one(
        "SELECT ';', \"a;b\"; -- c;d\nSELECT 1 /* x; /* nested; */ y */; \
         DO $body$ BEGIN CREATE ROLE \"{{name}}\"; EXCEPTION WHEN duplicate_object THEN NULL; END $body$;",
        CREATE,
    );
    assert_eq!(statements.len(), 3, "{statements:?}");
    assert_eq!(statements[0], "SELECT ';', \"a;b\"");
    assert!(statements[1].starts_with("-- c;d\nSELECT 1 /* x; /* nested; */ y */"));
    assert_eq!(
        statements[2],
        "DO $body$ BEGIN CREATE ROLE \"v-app-1\"; EXCEPTION WHEN duplicate_object THEN NULL; END $body$"
    );
}

#[test]
fn values_cannot_close_a_dollar_quote() {
    let pairs = [("name", "x$$; DROP ROLE postgres; --")];
    assert_eq!(
        render(
            "DO $$ BEGIN EXECUTE 'DROP ROLE {{name}}'; END $$",
            Values::new(&pairs)
        ),
        Err(StatementError::UnsafeValue("name".into()))
    );
    // A dollar sign alone is harmless inside a differently tagged body.
    let pairs = [("password", "SCRAM-SHA-256$4096:c2FsdA==$a:b")];
    let statements = one(
        "DO $$ BEGIN ALTER ROLE x PASSWORD '{{password}}'; END $$",
        &pairs,
    );
    assert_eq!(
        statements,
        ["DO $$ BEGIN ALTER ROLE x PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b'; END $$"]
    );
}

#[test]
fn comments_are_not_substituted_and_escape_strings_are_tracked() {
    let statements = one("SELECT E'it\\'s {{name}}' -- {{password}}\n", CREATE);
    assert_eq!(statements, ["SELECT E'it\\'s v-app-1' -- {{password}}"]);
}

#[test]
fn unknown_and_unavailable_placeholders_are_errors() {
    assert!(matches!(
        validate(&["DROP ROLE {{name}}; SELECT '{{password}}'".into()], REVOCATION),
        Err(StatementError::UnknownPlaceholder(name, _)) if name == "password"
    ));
    assert!(matches!(
        validate(&["SELECT {{nmae}}".into()], CREATION),
        Err(StatementError::UnknownPlaceholder(..))
    ));
    assert!(validate(&["SELECT {{ name }}".into()], CREATION).is_ok());
}

#[test]
fn unterminated_quotes_are_errors() {
    for bad in ["SELECT 'x", "SELECT \"x", "SELECT $$ x", "SELECT /* x"] {
        assert!(
            matches!(
                validate(&[bad.into()], CREATION),
                Err(StatementError::Unterminated(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn parameters_and_identifiers_with_dollars_are_not_quotes() {
    let statements = one("SELECT $1, a$b$c FROM t WHERE x = '{{name}}'", CREATE);
    assert_eq!(statements, ["SELECT $1, a$b$c FROM t WHERE x = 'v-app-1'"]);
}

#[test]
fn quoting_helpers() {
    assert_eq!(quote_identifier(r#"a"b"#), r#""a""b""#);
    assert_eq!(quote_literal("it's"), "'it''s'");
}

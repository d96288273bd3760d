//! Parsing of whole command lines, as a user types them (vault's single-dash flags included).

use clap::Parser;

use super::*;
use crate::argv;

fn parse(line: &str) -> Result<Cli, clap::Error> {
    let words =
        std::iter::once("lessor".to_string()).chain(line.split_whitespace().map(str::to_string));
    Cli::try_parse_from(argv::normalise(words))
}

#[test]
fn dev_server_flags_parse_with_single_dashes() {
    let cli = parse("server -dev -dev-storage=memory -dev-root-token-id root").unwrap();
    let Command::Server(args) = cli.command else {
        panic!("not a server command");
    };
    let args: lessor_broker::server::ServerArgs = args.into();
    assert!(args.dev);
    assert_eq!(args.dev_storage, lessor_broker::server::DevStorage::Memory);
    assert_eq!(args.dev_root_token_id.as_deref(), Some("root"));
    assert_eq!(args.config, None);
}

#[test]
fn global_flags_work_after_the_command() {
    let cli =
        parse("read -format=json -field=password -address http://10.1.1.1:8200 secret/x").unwrap();
    assert_eq!(cli.global.format, Some(Format::Json));
    assert_eq!(cli.global.field.as_deref(), Some("password"));
    assert_eq!(cli.global.address.as_deref(), Some("http://10.1.1.1:8200"));
    let Command::Read(args) = cli.command else {
        panic!("not a read command");
    };
    assert_eq!(args.path, "secret/x");
}

#[test]
fn operator_init_defaults_to_five_shares_threshold_three() {
    let cli = parse("operator init").unwrap();
    let Command::Operator(operator::OperatorCommand::Init(args)) = cli.command else {
        panic!("not operator init");
    };
    assert_eq!((args.key_shares, args.key_threshold), (5, 3));
    let cli = parse("operator init -key-shares=1 -key-threshold=1").unwrap();
    let Command::Operator(operator::OperatorCommand::Init(args)) = cli.command else {
        panic!("not operator init");
    };
    assert_eq!((args.key_shares, args.key_threshold), (1, 1));
}

#[test]
fn unseal_key_is_optional_so_it_can_be_prompted_for() {
    let cli = parse("operator unseal").unwrap();
    let Command::Operator(operator::OperatorCommand::Unseal(args)) = cli.command else {
        panic!("not operator unseal");
    };
    assert!(args.key.is_none());
    assert!(!args.reset);
    assert!(parse("operator unseal -reset").is_ok());
}

#[test]
fn write_takes_stdin_dash_and_short_force() {
    let cli = parse("write -f secret/x a=1 -").unwrap();
    let Command::Write(args) = cli.command else {
        panic!("not a write command");
    };
    assert!(args.force);
    assert_eq!(args.data, ["a=1", "-"]);
}

#[test]
fn usage_errors_are_exit_code_2() {
    let err = parse("operator init -key-shares=lots").unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(parse("no-such-command").unwrap_err().exit_code(), 2);
    assert_eq!(parse("-format=yaml status").unwrap_err().exit_code(), 2);
}

#[test]
fn token_revoke_self_conflicts_with_a_token() {
    assert!(parse("token revoke -self").is_ok());
    assert!(parse("token revoke -self abc").is_err());
}

#[test]
fn lease_revoke_force_requires_prefix() {
    assert!(parse("lease revoke -prefix -force database/creds/app").is_ok());
    assert!(parse("lease revoke -force database/creds/app/1").is_err());
}

#[test]
fn kv_metadata_get_and_secrets_enable_parse() {
    assert!(parse("kv metadata get -mount=secret app").is_ok());
    let cli = parse("secrets enable -path=db -max-lease-ttl=24h database").unwrap();
    let Command::Secrets(secrets::SecretsCommand::Enable(args)) = cli.command else {
        panic!("not secrets enable");
    };
    assert_eq!(args.path.as_deref(), Some("db"));
    assert_eq!(args.engine_type, "database");
}

#[test]
fn help_is_not_an_error() {
    let err = parse("-help").unwrap_err();
    assert_eq!(err.exit_code(), 0);
}

#[test]
fn outcomes_map_to_vault_exit_codes() {
    assert_eq!(Outcome::Success.exit_code(), 0);
    assert_eq!(Outcome::Negative.exit_code(), 2);
}

#[test]
fn command_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

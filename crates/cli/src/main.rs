#![doc = include_str!("../README.md")]

mod account;
mod demo;
mod keys;
mod node;
mod op;
mod output;
mod session;
mod terms;
mod tree;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Session keys for ERC-4337 smart accounts, enforced on-chain by the Keyscope `SessionKeyValidator`.
///
/// `keyscope demo` starts a local anvil, deploys the stack and runs the seed use cases end to end. The other
/// commands work on any node that has the stack (`keyscope deploy`).
#[derive(Debug, Parser)]
#[command(
    name = "keyscope",
    version,
    propagate_version = true,
    max_term_width = 110
)]
struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Less output: no progress bars, and `demo` prints only its verdict.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seed demo end to end: a local anvil (or --rpc-url), the stack, an account per use case, a game's
    /// session key minting items, a trading service's key buying under the user's price threshold, and the refusals
    /// (out of scope, over the threshold, after expiry). Exits 0 only if every step went as expected.
    Demo(demo::DemoArgs),
    /// Deploy what is missing of the Keyscope stack (EntryPoint v0.7 and v0.8, validators, account factories) at
    /// its deterministic addresses, and show where everything is; optionally also stake factory fronts
    /// (`--stake-factory`) and sponsor paymasters (`--sponsor`).
    Deploy(node::DeployArgs),
    /// Keys: create an owner's key (`key new`).
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Smart accounts (KeyscopeAccount with the owner's ECDSA validator and the SessionKeyValidator).
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Session keys: create, grant, show, revoke.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Permission Merkle trees.
    #[command(subcommand)]
    Tree(tree::TreeCommand),
    /// Session user operations.
    #[command(subcommand)]
    Op(op::OpCommand),
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Global {
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = Global {
        json: cli.json,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Demo(args) => demo::run(args, global).await,
        Command::Deploy(args) => node::deploy(args, global).await,
        Command::Key(command) => keys::run(command, global),
        Command::Account(command) => account::run(command, global).await,
        Command::Session(command) => session::run(command, global).await,
        Command::Tree(command) => tree::run(command, global),
        Command::Op(command) => op::run(command, global).await,
    }
}

/// Prints `message` as one line on stderr.
fn error_line(message: &str) {
    let line: String = message
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(std::io::stderr().lock(), "keyscope: error: {line}");
}

fn main() -> ExitCode {
    // No backtraces or multi-line panic reports for users: one line, exit code 101. A closed stdout (`| head`)
    // ends the program silently; the unwinding still stops a spawned anvil.
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        if !(text.contains("failed printing to stdout") && text.contains("Broken pipe")) {
            error_line(&format!("internal error: {text}"));
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            return match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        ExitCode::from(2)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                _ => {
                    let text = error.to_string();
                    // clap's first line is the error; the rest is usage and a hint.
                    let first = text.lines().next().unwrap_or_default();
                    let first = first.strip_prefix("error: ").unwrap_or(first);
                    error_line(&format!("{first} (see --help)"));
                    ExitCode::from(2)
                }
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error_line(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // the cause chain, with every HTTP request URL cut to its origin (URLs often carry API keys)
            error_line(&keyscope::error::redacted_error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every command and every argument has a help text.
    #[test]
    fn every_command_and_argument_is_documented() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.get_about().is_none() {
                missing.push(path.clone());
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let command = Cli::command();
        command.clone().debug_assert();
        let mut missing = vec![];
        walk(&command, "", &mut missing);
        assert!(missing.is_empty(), "undocumented: {missing:?}");
    }
}

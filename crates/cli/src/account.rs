//! `keyscope account`: creating accounts.

use alloy::primitives::{Address, U256};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use keyscope::Version;
use serde_json::json;

use crate::node::{parse_version, version_name, Node, NodeArgs};
use crate::output;
use crate::Global;

/// `keyscope account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create (or find) an owner's KeyscopeAccount through the stack's factory, with the owner's ECDSA validator
    /// and the SessionKeyValidator installed, and optionally fund it. Idempotent: the address depends on the owner,
    /// the salt and the EntryPoint version only.
    Create(CreateArgs),
}

/// `account create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The owner's address (the key that signs grants and revocations; `keyscope key new` makes one).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    owner: Address,
    /// Account number of this owner.
    #[arg(long, default_value_t = U256::ZERO, value_name = "N")]
    salt: U256,
    /// EntryPoint version of the account: v0.7 or v0.8.
    #[arg(long, default_value = "v0.7", value_parser = parse_version, value_name = "VERSION")]
    entry_point: Version,
    /// Send this much ETH to the account from the paying key (it pays its operations' gas): "0.1 ether",
    /// "20 gwei", or wei.
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT")]
    fund: Option<U256>,
    /// The node.
    #[command(flatten)]
    node: NodeArgs,
}

/// Parses an address flag as the permissions file does: a mixed-case address must carry a correct EIP-55
/// checksum (all lower or all upper case has none).
pub fn parse_address(text: &str) -> Result<Address, String> {
    keyscope::permissions::values::parse_address(text).map_err(|expected| match expected {
        Some(expected) => format!("wrong EIP-55 checksum (expected {expected})"),
        None => "not an address (0x and 40 hex digits)".to_owned(),
    })
}

/// Parses a native amount: `0.1 ether`, `20 gwei`, wei.
pub fn parse_amount(text: &str) -> Result<U256, String> {
    use keyscope::permissions::values::{parse_unsigned, RangeOrSyntax};
    parse_unsigned(text, 256).map_err(|e| match e {
        RangeOrSyntax::Range => "not a non-negative 256-bit amount".to_owned(),
        RangeOrSyntax::Syntax(reason) => reason,
    })
}

/// `keyscope account …`.
pub async fn run(command: AccountCommand, global: Global) -> Result<()> {
    let AccountCommand::Create(args) = command;
    let node = Node::connect(&args.node).await?;
    let client = node.client().await?;
    let account = client
        .create_account(args.owner, args.salt, args.entry_point)
        .await
        .context("creating the account")?;
    let funded = match args.fund {
        Some(amount) if !amount.is_zero() => Some(
            client
                .fund(account.address, amount)
                .await
                .context("funding the account")?,
        ),
        _ => None,
    };
    let balance = node.balance(account.address).await?;
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "owner": args.owner,
            "entry_point": version_name(account.version),
            "salt": args.salt.to_string(),
            "fund_tx": funded,
            "balance": balance.to_string(),
        }))
    } else {
        println!(
            "account {} (owner {}, EntryPoint {}), balance {}",
            account.address,
            args.owner,
            version_name(account.version),
            output::ether_text(balance)
        );
        Ok(())
    }
}

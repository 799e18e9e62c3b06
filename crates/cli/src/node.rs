//! Nodes: connecting to one (with the key that pays for transactions), spawning the pinned anvil, the stack, and
//! reading accounts.

use std::path::PathBuf;
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use keyscope::bindings::{KeyscopeAccount, SponsorPaymaster};
use keyscope::error::{redacted_error_chain, url_origin};
use keyscope::signer::SessionKey;
use keyscope::{Account, Client, Stack, Version};
use serde_json::json;

use crate::account::{parse_address, parse_amount};
use crate::output::{self, short};
use crate::Global;

/// anvil's first default key (the well-known test mnemonic's account 0), used only on chain 31337.
const ANVIL_FIRST_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// anvil's chain id.
const ANVIL_CHAIN_ID: u64 = 31337;
/// How long one JSON-RPC request may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the node is, for commands that only read.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// JSON-RPC URL of the node (http:// or https://).
    #[arg(
        long,
        env = "KEYSCOPE_RPC_URL",
        default_value = "http://127.0.0.1:8545"
    )]
    pub rpc_url: String,
}

/// Where the node is and who pays.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// JSON-RPC URL of the node (http:// or https://).
    #[arg(
        long,
        env = "KEYSCOPE_RPC_URL",
        default_value = "http://127.0.0.1:8545"
    )]
    pub rpc_url: String,
    /// Private key (hex) of a funded account that sends the transactions (handleOps as the bundler,
    /// deployments, funding) and pays their gas. Prefer the environment variable: command lines are visible to
    /// other users. Default on chain 31337 (anvil): anvil's first key.
    #[arg(
        long,
        env = "KEYSCOPE_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub private_key: Option<String>,
}

/// A connected node with a paying key.
pub struct Node {
    /// Signs with [`Node::sender`].
    pub provider: DynProvider,
    /// The funded address that sends every transaction.
    pub sender: Address,
    /// The chain id.
    pub chain_id: u64,
    /// The RPC URL.
    pub url: reqwest::Url,
}

/// Parses an RPC URL (http or https). Errors show at most the URL's origin: its path and query often carry an
/// API key.
pub fn parse_url(text: &str) -> Result<reqwest::Url> {
    let url: reqwest::Url = text
        .trim()
        .parse()
        .map_err(|e| anyhow!("invalid RPC URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => bail!(
            "RPC URL {}: unsupported scheme {other:?} (http:// or https://)",
            url_origin(url.as_str())
        ),
    }
}

/// An HTTP provider with a request timeout, signing with `key` when given.
pub fn provider(url: &reqwest::Url, key: Option<PrivateKeySigner>) -> Result<DynProvider> {
    let http = reqwest::Client::builder()
        .timeout(RPC_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    Ok(match key {
        Some(key) => ProviderBuilder::new()
            .wallet(key)
            .connect_reqwest(http, url.clone())
            .erased(),
        None => ProviderBuilder::new()
            .connect_reqwest(http, url.clone())
            .erased(),
    })
}

/// A signer for a hex private key (the error never shows the key).
pub fn signer_from_hex(text: &str) -> Result<PrivateKeySigner> {
    let key = SessionKey::from_hex(text).map_err(|_| {
        anyhow!("the private key is not a valid secp256k1 key (expected 64 hex digits)")
    })?;
    signer_of(&key)
}

/// The alloy signer of a key.
pub fn signer_of(key: &SessionKey) -> Result<PrivateKeySigner> {
    PrivateKeySigner::from_bytes(&(*key.secret_bytes()).into())
        .map_err(|_| anyhow!("invalid secp256k1 key"))
}

impl Node {
    /// Connects to `args.rpc_url` and checks it answers; the paying key is `args.private_key`, or anvil's first
    /// key on chain 31337.
    pub async fn connect(args: &NodeArgs) -> Result<Self> {
        let url = parse_url(&args.rpc_url)?;
        Self::connect_url(url, args.private_key.as_deref()).await
    }

    /// Connects to `args.rpc_url` to read only: no key (the sender is the zero address).
    pub async fn connect_read(args: &RpcArgs) -> Result<Self> {
        let url = parse_url(&args.rpc_url)?;
        Self::connect_with(url, None, false).await
    }

    /// [`Node::connect`] with a parsed URL.
    pub async fn connect_url(url: reqwest::Url, private_key: Option<&str>) -> Result<Self> {
        Self::connect_with(url, private_key, true).await
    }

    /// [`Node::connect_url`]; without a key off anvil, fails when `pays`, else connects read-only (the sender is
    /// then the zero address and sending transactions fails).
    pub async fn connect_with(
        url: reqwest::Url,
        private_key: Option<&str>,
        pays: bool,
    ) -> Result<Self> {
        let plain = provider(&url, None)?;
        let chain_id = plain.get_chain_id().await.map_err(|e| {
            anyhow!(
                "no node answers at {}: {}",
                url_origin(url.as_str()),
                redacted_error_chain(&e)
            )
        })?;
        let key = match private_key {
            Some(hex) => signer_from_hex(hex)?,
            None if chain_id == ANVIL_CHAIN_ID => signer_from_hex(ANVIL_FIRST_KEY)?,
            None if !pays => {
                return Ok(Self {
                    provider: plain,
                    sender: Address::ZERO,
                    chain_id,
                    url,
                })
            }
            None => bail!(
                "chain {chain_id} is not anvil: a funded key is needed (--private-key or KEYSCOPE_PRIVATE_KEY)"
            ),
        };
        let sender = key.address();
        Ok(Self {
            provider: provider(&url, Some(key))?,
            sender,
            chain_id,
            url,
        })
    }

    /// A client for the stack at its deterministic addresses; fails when it is not deployed.
    pub async fn client(&self) -> Result<Client> {
        let stack = Stack::predicted();
        if !stack
            .is_deployed(&self.provider)
            .await
            .context("cannot read the stack's code")?
        {
            bail!(
                "the Keyscope stack is not (fully) deployed on chain {} (run `keyscope deploy`)",
                self.chain_id
            );
        }
        Ok(Client::new(self.provider.clone(), stack, self.sender).await?)
    }

    /// The `KeyscopeAccount` at `address`, with the EntryPoint version it is bound to.
    pub async fn account(&self, client: &Client, address: Address) -> Result<Account> {
        if self.provider.get_code_at(address).await?.is_empty() {
            bail!(
                "no account at {address} on chain {} (no code)",
                self.chain_id
            );
        }
        let entry_point = KeyscopeAccount::new(address, &self.provider)
            .entryPoint()
            .call()
            .await
            .map_err(|e| anyhow!("{address} is not a Keyscope account: {}", short(&e)))?;
        let Some(version) = client.stack().version_of(entry_point) else {
            bail!(
                "account {address} uses EntryPoint {entry_point}, which is neither v0.7 nor v0.8"
            );
        };
        Ok(Account { address, version })
    }

    /// The balance of `address`.
    pub async fn balance(&self, address: Address) -> Result<U256> {
        Ok(self.provider.get_balance(address).await?)
    }
}

/// The anvil to spawn: `$ANVIL_BIN`, else the repository's pinned one (`node_modules`), else `anvil` on the
/// `PATH`.
pub fn anvil_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ANVIL_BIN") {
        return Some(PathBuf::from(path));
    }
    let pinned = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    ));
    pinned.exists().then_some(pinned)
}

/// Spawns anvil on a free loopback port.
pub fn spawn_anvil() -> Result<AnvilInstance> {
    let anvil = match anvil_path() {
        Some(path) => Anvil::at(path),
        None => Anvil::new(),
    };
    anvil.try_spawn().map_err(|e| {
            anyhow!(
                "cannot start anvil ({e}); run `source script/toolchain.sh` (pinned anvil in node_modules), set \
                 ANVIL_BIN, or pass --rpc-url"
            )
        })
}

/// `keyscope deploy`: the stack, and optionally the provider's own stakeable factory fronts and sponsor
/// paymasters.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Also deploy a `StakedAccountFactory` per EntryPoint (the stakeable front of the stack's factory, owned by
    /// the sender) and stake each with this amount (`1 ether`, `0.5 ether`, wei), so that an account's first
    /// operation through `initCode` passes ERC-7562 bundlers (STO-022). Use the fronts as the account factory.
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT")]
    stake_factory: Option<U256>,
    /// The fronts' unstake delay, in seconds (ERC-7562 bundlers require at least one day).
    #[arg(
        long,
        default_value_t = 86_400,
        value_name = "SECONDS",
        requires = "stake_factory"
    )]
    unstake_delay: u32,
    /// Also deploy a `SponsorPaymaster` per EntryPoint paying for what this address signs (owned by the sender).
    #[arg(long, value_parser = parse_address, value_name = "ADDRESS")]
    sponsor: Option<Address>,
    /// Deposit this amount into each sponsor paymaster (`1 ether`, `0.5 ether`, wei).
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT", requires = "sponsor")]
    sponsor_deposit: Option<U256>,
}

/// `keyscope deploy`.
pub async fn deploy(args: DeployArgs, global: Global) -> Result<()> {
    let node = Node::connect(&args.node).await?;
    let (stack, mut report) = Stack::deploy_or_detect(&node.provider, node.sender)
        .await
        .context("deploying the stack")?;
    let mut staked = vec![];
    if let Some(stake) = args.stake_factory {
        for version in Version::ALL {
            let front = stack
                .deploy_staked_account_factory(&node.provider, node.sender, version, node.sender)
                .await
                .with_context(|| {
                    format!("deploying the staked factory front of EntryPoint {version}")
                })?;
            Stack::stake_account_factory(
                &node.provider,
                node.sender,
                front.address,
                stake,
                args.unstake_delay,
            )
            .await
            .with_context(|| format!("staking {}", front.name))?;
            staked.push(json!({"version": version.label(), "factory": front.address, "stake": stake.to_string(), "unstake_delay": args.unstake_delay}));
            report.push(front);
        }
    }
    if let Some(sponsor) = args.sponsor {
        for version in Version::ALL {
            let paymaster = stack
                .deploy_sponsor_paymaster(
                    &node.provider,
                    node.sender,
                    version,
                    sponsor,
                    node.sender,
                )
                .await
                .with_context(|| {
                    format!("deploying the sponsor paymaster of EntryPoint {version}")
                })?;
            if let Some(deposit) = args.sponsor_deposit {
                let receipt = SponsorPaymaster::new(paymaster.address, &node.provider)
                    .deposit()
                    .value(deposit)
                    .send()
                    .await?
                    .get_receipt()
                    .await?;
                if !receipt.status() {
                    bail!("the deposit into {} reverted", paymaster.name);
                }
            }
            report.push(paymaster);
        }
    }
    if global.json {
        let contracts: Vec<_> = report
            .iter()
            .map(|d| json!({"name": d.name, "address": d.address, "existed": d.existed}))
            .collect();
        output::print_json(&json!({
            "chain_id": node.chain_id,
            "session_key_validator": stack.session_key_validator,
            "owner_validator": stack.owner_validator,
            "contracts": contracts,
            "staked_factories": staked,
        }))
    } else {
        println!("chain {}, sender {}", node.chain_id, node.sender);
        for contract in &report {
            let state = if contract.existed {
                "exists  "
            } else {
                "deployed"
            };
            println!("{state} {} {}", contract.address, contract.name);
        }
        for front in &staked {
            println!(
                "staked   {} with {} wei (unstake delay {} s)",
                front["factory"].as_str().unwrap_or_default(),
                front["stake"].as_str().unwrap_or_default(),
                args.unstake_delay
            );
        }
        Ok(())
    }
}

/// Parses `v0.7` / `v0.8` (the command line's `--entry-point`): [`Version`]'s `FromStr`.
pub fn parse_version(text: &str) -> Result<Version, keyscope::stack::ParseVersionError> {
    text.parse()
}

/// `v0.7` / `v0.8`: [`Version::label`].
pub fn version_name(version: Version) -> &'static str {
    version.label()
}

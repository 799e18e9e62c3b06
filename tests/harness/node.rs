//! The node: the pinned anvil, a funded provider, the deployed stack and a client, and chain time.

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use keyscope::{Client, Stack};

/// The repository root (the e2e crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pinned anvil: `$ANVIL_BIN`, else `node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`, else `anvil` on
/// the `PATH`.
pub fn anvil_path() -> PathBuf {
    std::env::var_os("ANVIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"))
}

/// A fresh anvil on a free port.
pub fn anvil() -> AnvilInstance {
    let path = anvil_path();
    let anvil = if path.exists() {
        Anvil::at(path)
    } else {
        Anvil::new()
    };
    anvil.spawn()
}

/// A fresh anvil on a free port whose chain id is `chain_id`.
pub fn anvil_on_chain(chain_id: u64) -> AnvilInstance {
    let path = anvil_path();
    let anvil = if path.exists() {
        Anvil::at(path)
    } else {
        Anvil::new()
    };
    anvil.chain_id(chain_id).spawn()
}

/// A provider that signs with anvil's first key (the "bundler" that pays for `handleOps`).
pub fn funded_provider(anvil: &AnvilInstance) -> (DynProvider, PrivateKeySigner) {
    let key: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(key.clone())
        .connect_http(anvil.endpoint_url())
        .erased();
    (provider, key)
}

/// Deploys (or detects) the stack and returns a client whose transactions are paid by anvil's first key.
pub async fn client(anvil: &AnvilInstance) -> Client {
    let (provider, key) = funded_provider(anvil);
    let (stack, _) = Stack::deploy_or_detect(&provider, key.address())
        .await
        .unwrap();
    Client::new(provider, stack, key.address()).await.unwrap()
}

/// The latest block's timestamp.
pub async fn now(provider: &DynProvider) -> u64 {
    provider
        .get_block_by_number(Default::default())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp
}

/// Moves chain time forward by `seconds` and mines a block.
pub async fn advance_time(provider: &DynProvider, seconds: u64) {
    let _: serde_json::Value = provider
        .raw_request("evm_increaseTime".into(), (seconds,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
}

//! The demo's scenario setup: the sessions' window and policies, the accounts, the leaked key's draining
//! operation, and the seller's transactions.

use alloy::primitives::U256;
use alloy::providers::Provider;
use anyhow::{anyhow, Context as _, Result};
use keyscope::bindings::SponsorPaymaster;
use keyscope::permissions::{
    CompiledSession, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionSpec, SessionSpec,
};
use keyscope::signer::{SessionKey, SessionSignature, SessionSigner, SignerKind, SignsSessions};
use keyscope::{Account, Client, PaymasterService, PreparedOp, Stack, Version};

use super::{
    DRAIN_FEE_PER_GAS, DRAIN_PRE_VERIFICATION_GAS, FEE_BUDGET, FEE_PER_OPERATION, SESSION_SECONDS,
    SPONSOR_DEPOSIT,
};
use crate::node::Node;

/// The accounts' session window: from one second before the current block (EntryPoint v0.8 validates strictly
/// after `validAfter`) for one hour.
pub(super) async fn window(node: &Node) -> Result<(u64, u64)> {
    let block = node
        .provider
        .get_block_by_number(Default::default())
        .await?
        .ok_or_else(|| anyhow!("the node has no latest block"))?;
    let valid_after = block.header.timestamp.saturating_sub(1);
    Ok((valid_after, valid_after + SESSION_SECONDS))
}

/// A one-permission session whose signer is `signer` (its address: a secp256k1 key's own, or the commitment to a
/// passkey's public key).
pub(super) fn session(
    signer: &SessionSigner,
    (valid_after, valid_until): (u64, u64),
    permission: PermissionSpec,
    paymaster: PaymasterSpec,
) -> Result<(SessionSpec, CompiledSession)> {
    let spec = SessionSpec {
        signer: signer.address()?,
        signer_key: Some(signer.key()).filter(|key| key.kind() != SignerKind::Secp256k1),
        valid_after,
        valid_until,
        // A bounded fee scope, whoever pays (the validator charges a sponsored operation's maximum cost too).
        paymaster,
        fees: FeeScopeSpec {
            per_operation: FeeBound::Wei(FEE_PER_OPERATION),
            budget: FeeBound::Wei(FEE_BUDGET),
        },
        salt: Default::default(),
        permissions: vec![permission],
        typed_data: Vec::new(),
    };
    let compiled = spec.compile()?;
    Ok((spec, compiled))
}

/// The game's sponsor: the stack's `SponsorPaymaster` for a fresh sponsor key, funded, and `keyscope-rpc` serving
/// the ERC-7677 methods for it on a free loopback port.
pub(super) struct Sponsor {
    /// The paymaster.
    pub paymaster: alloy::primitives::Address,
    /// The sponsor service (stopped when dropped).
    pub service: keyscope_rpc::Running,
}

impl Sponsor {
    /// Deploys and funds the paymaster (owned by the node's sender) and starts the service.
    pub async fn start(node: &Node, stack: &Stack, version: Version) -> Result<Self> {
        let key = SessionKey::generate();
        let paymaster = stack
            .deploy_sponsor_paymaster(
                &node.provider,
                node.sender,
                version,
                key.address(),
                node.sender,
            )
            .await
            .context("deploying the sponsor paymaster")?
            .address;
        let receipt = SponsorPaymaster::new(paymaster, &node.provider)
            .deposit()
            .value(U256::from(SPONSOR_DEPOSIT))
            .send()
            .await?
            .get_receipt()
            .await?;
        if !receipt.status() {
            return Err(anyhow!("the sponsor paymaster's deposit reverted"));
        }
        let mut sponsor = keyscope_rpc::SponsorOptions::new(key);
        sponsor.owner = Some(node.sender);
        sponsor.name = "Keyscope demo game".into();
        let config = keyscope_rpc::Config {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            rpc_url: node.url.to_string(),
            service: keyscope_rpc::ServiceOptions {
                sponsor: Some(sponsor),
                ..Default::default()
            },
            ..Default::default()
        };
        let service = keyscope_rpc::start(config)
            .await
            .context("starting the sponsor service")?;
        Ok(Self { paymaster, service })
    }

    /// An ERC-7677 client of the service.
    pub fn client(&self) -> Result<PaymasterService> {
        Ok(PaymasterService::new(self.service.url().parse()?)?)
    }
}

/// Creates `owner`'s account on `version` and funds it from the bundler.
pub(super) async fn new_account(
    client: &Client,
    owner: &SessionKey,
    version: Version,
    funds: u128,
) -> Result<Account> {
    let account = client
        .create_account(owner.address(), U256::ZERO, version)
        .await
        .context("creating the account")?;
    client
        .fund(account.address, U256::from(funds))
        .await
        .context("funding the account")?;
    Ok(account)
}

/// `op` with the gas fields a leaked key would use to drain the account through fees (a huge
/// `preVerificationGas` and `maxFeePerGas`), signed again by `key` (any signer kind: a passkey makes a new
/// assertion over the new userOpHash): what anyone holding the key can do with `keyscope-signer` alone, without the
/// SDK's fee check.
pub(super) fn leaked_key_resign(
    client: &Client,
    mut prepared: PreparedOp,
    key: &impl SignsSessions,
) -> Result<PreparedOp> {
    let signature = SessionSignature::decode(&prepared.op.signature)?;
    prepared.op.preVerificationGas = U256::from(DRAIN_PRE_VERIFICATION_GAS);
    prepared
        .op
        .set_gas_fees(DRAIN_FEE_PER_GAS, DRAIN_FEE_PER_GAS);
    prepared.user_op_hash = client
        .stack()
        .entry_point(prepared.version)
        .user_op_hash(&prepared.op, client.chain_id())?;
    prepared.op.signature = signature
        .sign(key, &prepared.user_op_hash)?
        .encode()?
        .into();
    Ok(prepared)
}

pub(super) fn check_tx(receipt: alloy::rpc::types::TransactionReceipt, what: &str) -> Result<()> {
    if receipt.status() {
        Ok(())
    } else {
        Err(anyhow!(
            "transaction {} ({what}) reverted",
            receipt.transaction_hash
        ))
    }
}

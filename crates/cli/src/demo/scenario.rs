//! The demo's scenario setup: the sessions' window and policies, the accounts, the leaked key's draining
//! operation, and the seller's transactions.

use alloy::primitives::U256;
use alloy::providers::Provider;
use anyhow::{anyhow, Context as _, Result};
use keyscope::permissions::{CompiledSession, FeeBound, FeeScopeSpec, PermissionSpec, SessionSpec};
use keyscope::signer::{SessionKey, SessionSignature};
use keyscope::{Account, Client, PreparedOp, Version};

use super::{
    DRAIN_FEE_PER_GAS, DRAIN_PRE_VERIFICATION_GAS, FEE_BUDGET, FEE_PER_OPERATION, SESSION_SECONDS,
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

/// A one-permission session for `key`.
pub(super) fn session(
    key: &SessionKey,
    (valid_after, valid_until): (u64, u64),
    permission: PermissionSpec,
) -> Result<(SessionSpec, CompiledSession)> {
    let spec = SessionSpec {
        signer: key.address(),
        valid_after,
        valid_until,
        // Self-paid only (the default), and a bounded fee scope.
        paymaster: Default::default(),
        fees: FeeScopeSpec {
            per_operation: FeeBound::Wei(FEE_PER_OPERATION),
            budget: FeeBound::Wei(FEE_BUDGET),
        },
        salt: Default::default(),
        permissions: vec![permission],
    };
    let compiled = spec.compile()?;
    Ok((spec, compiled))
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
/// `preVerificationGas` and `maxFeePerGas`), signed again by `key`: what anyone holding the key can do with
/// `keyscope-signer` alone, without the SDK's fee check.
pub(super) fn leaked_key_resign(
    client: &Client,
    mut prepared: PreparedOp,
    key: &SessionKey,
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

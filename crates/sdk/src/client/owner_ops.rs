//! Owner operations: user operations signed by the account's owner (grants, revocations, module installs), and the
//! session records and fee counters they leave on chain.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{aliases::U192, Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use keyscope_bindings::{KeyscopeAccount, SessionKeyValidator};
use keyscope_permissions::Session;
use keyscope_signer::{PackedUserOperation, SessionKey};

use super::calldata::binding_session;
use super::{
    execute_single, nonce_key, Account, Client, OpOutcome, PreparedOp, SessionStatus,
    MODULE_TYPE_VALIDATOR,
};
use crate::error::{Error, Result};
use crate::fees::{self, FeeUsage};

impl Client {
    /// An unsigned user operation of `account` running `call_data`, with the EntryPoint nonce of `key`, this
    /// client's gas settings and fees (estimated when not set); `signature` is empty. For operations signed
    /// elsewhere (an owner's wallet): hash it with
    /// [`Stack::entry_point`](crate::stack::Stack::entry_point)`(version).user_op_hash(&op, chain_id)`.
    pub async fn unsigned_op(
        &self,
        account: &Account,
        key: U192,
        call_data: Bytes,
    ) -> Result<PackedUserOperation> {
        // Every operation is signed over a hash that binds `self.chain_id`: never for another chain.
        self.ensure_chain().await?;
        let mut op = PackedUserOperation {
            sender: account.address,
            nonce: self.nonce(account, key).await?,
            callData: call_data,
            preVerificationGas: U256::from(self.gas.pre_verification_gas),
            ..Default::default()
        };
        op.set_gas_limits(self.gas.verification_gas_limit, self.gas.call_gas_limit);
        let (priority, max) = match (self.gas.max_priority_fee_per_gas, self.gas.max_fee_per_gas) {
            (Some(priority), Some(max)) => (priority, max),
            (priority, max) => {
                let estimate = self.provider.estimate_eip1559_fees().await?;
                (
                    priority.unwrap_or(estimate.max_priority_fee_per_gas),
                    max.unwrap_or(estimate.max_fee_per_gas),
                )
            }
        };
        op.set_gas_fees(priority, max);
        Ok(op)
    }

    /// An owner operation running `call_data` on the account, signed by `owner` over the raw userOpHash (nonce key
    /// = owner validator ‖ lane 0).
    pub async fn prepare_owner_op(
        &self,
        account: &Account,
        owner: &SessionKey,
        call_data: Bytes,
    ) -> Result<PreparedOp> {
        let key = nonce_key(self.stack.owner_validator, 0);
        let mut op = self.unsigned_op(account, key, call_data).await?;
        let user_op_hash = self
            .stack
            .entry_point(account.version)
            .user_op_hash(&op, self.chain_id)?;
        op.signature = owner.sign_hash_bytes(&user_op_hash)?.to_vec().into();
        Ok(PreparedOp {
            version: account.version,
            op,
            user_op_hash,
        })
    }

    /// Sends an owner operation that calls `target` from the account; fails with
    /// [`Error::OperationReverted`] when the call reverts.
    pub async fn owner_call(
        &self,
        account: &Account,
        owner: &SessionKey,
        target: Address,
        value: U256,
        data: &[u8],
    ) -> Result<OpOutcome> {
        self.send_owner_op_call(account, owner, execute_single(target, value, data))
            .await
    }

    /// Grants `session` (an owner operation calling `SessionKeyValidator.grantSession`).
    pub async fn grant_session(
        &self,
        account: &Account,
        owner: &SessionKey,
        session: &Session,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::grantSessionCall {
            session: binding_session(session)?,
        };
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Revokes one session (owner operation calling `revokeSession`).
    pub async fn revoke_session(
        &self,
        account: &Account,
        owner: &SessionKey,
        session_id: B256,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeSessionCall {
            sessionId: session_id,
        };
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Revokes every session of the account (owner operation calling `revokeAllSessions`: a new epoch).
    pub async fn revoke_all_sessions(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeAllSessionsCall {};
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Uninstalls the `SessionKeyValidator` from the account (an owner operation calling the account's
    /// `uninstallModule`): every session of the account stops validating, and its counters never come back — the
    /// validator starts a new epoch.
    pub async fn uninstall_session_validator(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = KeyscopeAccount::uninstallModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: self.stack.session_key_validator,
            deInitData: Bytes::new(),
        };
        self.send_owner_op_call(account, owner, call.abi_encode().into())
            .await
    }

    /// Installs the `SessionKeyValidator` on the account (an owner operation calling the account's
    /// `installModule`), granting no session; sessions granted before an uninstall stay void.
    pub async fn install_session_validator(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = KeyscopeAccount::installModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: self.stack.session_key_validator,
            initData: Bytes::new(),
        };
        self.send_owner_op_call(account, owner, call.abi_encode().into())
            .await
    }

    /// Sends an owner operation whose callData is `call_data` (a call of the account's own function); fails with
    /// [`Error::OperationReverted`] when it reverts.
    async fn send_owner_op_call(
        &self,
        account: &Account,
        owner: &SessionKey,
        call_data: Bytes,
    ) -> Result<OpOutcome> {
        let op = self.prepare_owner_op(account, owner, call_data).await?;
        let outcome = self.send(&op).await?;
        if outcome.success {
            Ok(outcome)
        } else {
            Err(Error::OperationReverted {
                user_op_hash: outcome.user_op_hash,
                tx_hash: outcome.tx_hash,
                revert: outcome.revert,
            })
        }
    }

    /// The session's state on the validator.
    pub async fn session_status(
        &self,
        account: &Account,
        session_id: B256,
    ) -> Result<SessionStatus> {
        let validator =
            SessionKeyValidator::new(self.stack.session_key_validator, self.provider.clone());
        let status: u8 = validator
            .sessionStatus(account.address, session_id)
            .call()
            .await?;
        Ok(SessionStatus::from_raw(status))
    }

    /// `feesChargedOf(account, sessionId)`: what the session's operations were charged so far in the account's
    /// current epoch, each at its maximum cost (0 for a session never used, or granted in an earlier epoch).
    pub async fn fees_charged(&self, account: &Account, session_id: B256) -> Result<U256> {
        let validator =
            SessionKeyValidator::new(self.stack.session_key_validator, self.provider.clone());
        Ok(validator
            .feesChargedOf(account.address, session_id)
            .call()
            .await?)
    }

    /// `session`'s fee scope and what it was charged so far on `account` ([`FeeUsage::left`] is what is left of
    /// its budget).
    pub async fn fee_usage(&self, account: &Account, session: &Session) -> Result<FeeUsage> {
        let charged = self
            .fees_charged(account, keyscope_permissions::session_id(session))
            .await?;
        Ok(FeeUsage::new(session, charged))
    }

    /// The lowest `maxFeePerGas` the chain takes now for an operation whose `maxPriorityFeePerGas` is
    /// `max_priority_fee_per_gas`: the latest block's base fee plus that (the priority fee alone on a chain
    /// without base fee).
    pub async fn min_fee_per_gas(&self, max_priority_fee_per_gas: u128) -> Result<u128> {
        let base_fee = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .and_then(|block| block.header.base_fee_per_gas)
            .unwrap_or_default();
        Ok(u128::from(base_fee).saturating_add(max_priority_fee_per_gas))
    }

    /// Keeps `op` within the fee scope `usage` allows: an operation whose maximum cost
    /// ([`fees::max_operation_cost`]) is over the per-operation bound or what is left of the budget gets a lower
    /// `maxFeePerGas`, the most that fits, when that is at least [`Client::min_fee_per_gas`]; otherwise `op` is
    /// left as it is and the answer is [`Error::FeeScopeExceeded`]. Nothing is read from the chain when `op`
    /// fits already (or the scope is unlimited). Sign `op` afterwards: the fee is part of its hash.
    pub async fn fit_fee_scope(
        &self,
        op: &mut PackedUserOperation,
        usage: &FeeUsage,
    ) -> Result<()> {
        if usage.exceeded_by(fees::max_operation_cost(op)).is_none() {
            return Ok(());
        }
        let floor = self.min_fee_per_gas(op.gas_fees().0).await?;
        fees::fit(op, usage, floor).map_err(Error::FeeScopeExceeded)
    }

    /// [`Client::fit_fee_scope`] that never refuses: an operation that cannot fit gets the lowest fee the chain
    /// takes now (for an estimate, whose own gas limits are checked again before signing). Node failures are
    /// errors.
    pub(crate) async fn lower_fee_towards_scope(
        &self,
        op: &mut PackedUserOperation,
        usage: &FeeUsage,
    ) -> Result<()> {
        match self.fit_fee_scope(op, usage).await {
            Err(Error::FeeScopeExceeded(exceeded)) => {
                let (priority, max_fee) = op.gas_fees();
                if exceeded.min_fee_per_gas < max_fee {
                    op.set_gas_fees(
                        priority.min(exceeded.min_fee_per_gas),
                        exceeded.min_fee_per_gas,
                    );
                }
                Ok(())
            }
            other => other,
        }
    }
}

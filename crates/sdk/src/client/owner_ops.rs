//! Owner operations: user operations signed by the account's owner (grants, revocations, module installs), and the
//! session records and fee counters they leave on chain.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{aliases::U192, Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::SessionKeyValidator;
use keyscope_permissions::Session;
use keyscope_signer::PackedUserOperation;

use super::calldata::binding_session;
use super::{Account, Client, Execution, OpOutcome, PreparedOp, SessionStatus, Submission};
use crate::account::OwnerSigner;
use crate::error::{Error, Result};
use crate::fees::{self, FeeUsage};
use crate::stack::Version;

/// An owner operation built for the owner to sign: its `signature` is empty, its gas estimated by the bundler when
/// the client submits through one.
#[derive(Debug)]
pub struct UnsignedOwnerOp {
    /// The EntryPoint version.
    pub version: Version,
    /// The operation (empty signature).
    pub op: PackedUserOperation,
    /// Its userOpHash: what the owner signs (see [`AccountKind::owner_op_signature`](crate::AccountKind)).
    pub user_op_hash: B256,
    /// How its gas limits were set.
    pub gas: GasSource,
}

/// Where an operation's gas limits come from.
#[derive(Debug)]
pub enum GasSource {
    /// The client's [`GasSettings`](super::GasSettings) (no bundler).
    Settings,
    /// The bundler's `eth_estimateUserOperationGas`.
    Estimated,
    /// The bundler could not estimate (the operation has the client's settings): why.
    EstimateFailed(Box<Error>),
}

/// The calls by which an owner grants sessions: ERC-7579 calls of the account ([`Self::calls`], e.g. for
/// ERC-5792 `wallet_sendCalls`) and the `userOp.callData` that runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantCalls {
    /// What the account calls: `grantSession` on the validator for each session, or, when the validator is not
    /// installed, one call of the account on itself installing it with the sessions as init data.
    pub calls: Vec<Execution>,
    /// The owner operation's `callData`.
    pub call_data: Bytes,
}

impl Client {
    /// An unsigned user operation of `account` running `call_data`, with the EntryPoint nonce of `key`, this
    /// client's gas settings and fees (estimated when not set); `signature` is empty.
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

    /// An owner operation of `account` running `call_data` (on the owner's nonce key of the client's
    /// [`AccountKind`](crate::AccountKind)), for the owner to sign elsewhere (a wallet): `init_code` creates the
    /// account in the same operation. Through a bundler its gas is estimated with a dummy owner signature; an
    /// estimate that fails leaves the client's settings and says why ([`GasSource::EstimateFailed`]).
    pub async fn unsigned_owner_op(
        &self,
        account: &Account,
        call_data: Bytes,
        init_code: Option<Bytes>,
    ) -> Result<UnsignedOwnerOp> {
        let mut op = self
            .unsigned_op(account, self.kind.owner_nonce_key(), call_data)
            .await?;
        if let Some(init_code) = init_code {
            op.initCode = init_code;
        }
        let gas = match &self.submission {
            Submission::HandleOps => GasSource::Settings,
            Submission::Bundler(bundler) => {
                // The owner's validator answers SIG_VALIDATION_FAILED to a dummy signature of the final length,
                // so the bundler runs validation and execution to estimate.
                op.signature = self.kind.dummy_owner_op_signature();
                let entry_point = self.stack.version(account.version).entry_point;
                let estimated = match bundler.estimate_user_operation_gas(&op, entry_point).await {
                    Ok(estimate) => estimate.apply(&mut op).map(|()| GasSource::Estimated),
                    Err(error) => Err(error),
                };
                op.signature = Bytes::new();
                estimated.unwrap_or_else(|error| GasSource::EstimateFailed(Box::new(error)))
            }
        };
        let user_op_hash = self
            .stack
            .entry_point(account.version)
            .user_op_hash(&op, self.chain_id)?;
        Ok(UnsignedOwnerOp {
            version: account.version,
            op,
            user_op_hash,
            gas,
        })
    }

    /// An owner operation running `call_data` on the account, signed by `owner` (any alloy signer) over the
    /// userOpHash as the client's [`AccountKind`](crate::AccountKind) wants it; its gas estimated by the bundler
    /// when the client submits through one (a failed estimate is an error here).
    pub async fn prepare_owner_op(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        call_data: Bytes,
    ) -> Result<PreparedOp> {
        let UnsignedOwnerOp {
            version,
            mut op,
            user_op_hash,
            gas,
        } = self.unsigned_owner_op(account, call_data, None).await?;
        if let GasSource::EstimateFailed(error) = gas {
            return Err(*error);
        }
        let signature = owner.sign_hash(&user_op_hash).await?;
        op.signature = self.kind.owner_op_signature(&signature);
        Ok(PreparedOp {
            version,
            op,
            user_op_hash,
        })
    }

    /// Sends an owner operation that calls `target` from the account; fails with
    /// [`Error::OperationReverted`] when the call reverts.
    pub async fn owner_call(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        target: Address,
        value: U256,
        data: &[u8],
    ) -> Result<OpOutcome> {
        let call = Execution {
            target,
            value,
            callData: Bytes::copy_from_slice(data),
        };
        let call_data = self.kind.execute(&[call]);
        self.send_owner_op_call(account, owner, call_data).await
    }

    /// Sends an owner operation calling the `SessionKeyValidator` with `call`.
    async fn validator_call(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        call: impl SolCall,
    ) -> Result<OpOutcome> {
        let validator = self.stack.session_key_validator;
        self.owner_call(account, owner, validator, U256::ZERO, &call.abi_encode())
            .await
    }

    /// Grants `session` (an owner operation calling `SessionKeyValidator.grantSession`).
    pub async fn grant_session(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        session: &Session,
    ) -> Result<OpOutcome> {
        let session = binding_session(session)?;
        self.validator_call(
            account,
            owner,
            SessionKeyValidator::grantSessionCall { session },
        )
        .await
    }

    /// Whether the `SessionKeyValidator` is installed on `account` (`isInitialized`).
    pub async fn session_validator_installed(&self, account: Address) -> Result<bool> {
        let validator =
            SessionKeyValidator::new(self.stack.session_key_validator, self.provider.clone());
        Ok(validator.isInitialized(account).call().await?)
    }

    /// The calls granting `sessions` on `account`: `grantSession` for each when `validator_installed`, otherwise
    /// one `installModule` of the `SessionKeyValidator` with the sessions as its init data (grant or install).
    pub fn grant_calls(
        &self,
        account: Address,
        sessions: &[Session],
        validator_installed: bool,
    ) -> GrantCalls {
        let validator = self.stack.session_key_validator;
        if validator_installed {
            let calls: Vec<Execution> = sessions
                .iter()
                .map(|session| {
                    let mut data = SessionKeyValidator::grantSessionCall::SELECTOR.to_vec();
                    data.extend_from_slice(&session.abi_encode());
                    Execution {
                        target: validator,
                        value: U256::ZERO,
                        callData: data.into(),
                    }
                })
                .collect();
            let call_data = self.kind.execute(&calls);
            GrantCalls { calls, call_data }
        } else {
            let call_data = self
                .kind
                .install_validator(validator, sessions.abi_encode().into());
            GrantCalls {
                calls: vec![Execution {
                    target: account,
                    value: U256::ZERO,
                    callData: call_data.clone(),
                }],
                call_data,
            }
        }
    }

    /// Grants `sessions` in one owner operation: installs the `SessionKeyValidator` with them when the account
    /// does not have it, grants them on it otherwise ([`Client::grant_calls`]).
    pub async fn grant_sessions(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        sessions: &[Session],
    ) -> Result<OpOutcome> {
        if sessions.is_empty() {
            return Err(Error::NoCalls);
        }
        let installed = self.session_validator_installed(account.address).await?;
        let grant = self.grant_calls(account.address, sessions, installed);
        self.send_owner_op_call(account, owner, grant.call_data)
            .await
    }

    /// Revokes one session (owner operation calling `revokeSession`).
    pub async fn revoke_session(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        session_id: B256,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeSessionCall {
            sessionId: session_id,
        };
        self.validator_call(account, owner, call).await
    }

    /// Revokes one permission of a session, the Merkle leaf `leaf` (owner operation calling `revokePermission`):
    /// the session's other permissions keep working, and operations already signed with that permission fail
    /// validation from the next bundle on. Works on a session not granted yet too: enabling it later does not
    /// bring the permission back.
    pub async fn revoke_permission(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        session_id: B256,
        leaf: B256,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokePermissionCall {
            sessionId: session_id,
            leaf,
        };
        self.validator_call(account, owner, call).await
    }

    /// Revokes every session of the account (owner operation calling `revokeAllSessions`: a new epoch).
    pub async fn revoke_all_sessions(
        &self,
        account: &Account,
        owner: &OwnerSigner,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeAllSessionsCall {};
        self.validator_call(account, owner, call).await
    }

    /// Uninstalls the `SessionKeyValidator` from the account (an owner operation calling the account's
    /// `uninstallModule`): every session of the account stops validating, and its counters never come back — the
    /// validator starts a new epoch.
    pub async fn uninstall_session_validator(
        &self,
        account: &Account,
        owner: &OwnerSigner,
    ) -> Result<OpOutcome> {
        let call_data = self
            .kind
            .uninstall_validator(self.stack.session_key_validator, Bytes::new());
        self.send_owner_op_call(account, owner, call_data).await
    }

    /// Installs the `SessionKeyValidator` on the account (an owner operation calling the account's
    /// `installModule`), granting no session; sessions granted before an uninstall stay void.
    pub async fn install_session_validator(
        &self,
        account: &Account,
        owner: &OwnerSigner,
    ) -> Result<OpOutcome> {
        let call_data = self
            .kind
            .install_validator(self.stack.session_key_validator, Bytes::new());
        self.send_owner_op_call(account, owner, call_data).await
    }

    /// Sends an owner operation whose callData is `call_data` (a call of the account's own function); fails with
    /// [`Error::OperationReverted`] when it reverts.
    async fn send_owner_op_call(
        &self,
        account: &Account,
        owner: &OwnerSigner,
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

//! Session operations: calls under a granted (or to-be-enabled) session, with their proofs, on the session's own
//! nonce lane, fitted into the session's fee scope, signed by the session key.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::U256;
use alloy::providers::Provider;
use keyscope_bindings::SessionKeyValidator;
use keyscope_permissions::CompiledSession;
use keyscope_signer::{enable_digest, CallProof, SessionKey, SessionSignature};

use super::{
    session_lane, Account, Client, Execution, OpOutcome, PreparedOp, SessionCall, Submission,
    UnsignedSessionOp,
};
use crate::account::OwnerSigner;
use crate::bundler::BundlerClient;
use crate::error::{Error, Result};
use crate::fees::FeeUsage;

impl Client {
    /// Builds and signs a session operation: `calls` run through `execute` (single or batch), each under its
    /// permission of `session`; nonce key of the `SessionKeyValidator` on the session's lane ([`session_lane`],
    /// laid out by the client's [`AccountKind`](crate::AccountKind)); signature in the validator's use mode
    /// (`keyscope-signer`'s wire encoder), signed by `key` over the raw userOpHash. Through a bundler
    /// ([`Submission::Bundler`]) its gas is estimated first, with a dummy signature of the final length.
    ///
    /// Before signing, the operation is kept within the session's fee scope ([`Client::fit_fee_scope`]: its
    /// `maxFeePerGas` lowered to fit when the chain allows): an operation that would cost more than the
    /// per-operation bound or what is left of the budget (`feesChargedOf`) is [`Error::FeeScopeExceeded`], and
    /// nothing is signed. Operations of one session prepared at the same time each see the same charges: the
    /// validator refuses the one that takes the session past its budget (`FeeBudgetExceeded`).
    pub async fn prepare_session_op(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, None)
            .await
    }

    /// Builds and signs a session operation in enable mode: the operation grants `session` and uses it at once,
    /// with no earlier owner transaction. `owner` signs the validator's EIP-712
    /// `EnableSession(account, epoch, session)` digest (the account's current epoch, read from the validator),
    /// which the validator checks through the account's ERC-1271 `isValidSignature` (wrapped as the client's
    /// [`AccountKind`](crate::AccountKind) wants it); `key` signs the userOpHash as in [`Client::prepare_session_op`], once the operation
    /// is within the session's fee scope (a session enabled by the operation starts with nothing charged, unless
    /// it is active already: replaying an enable signature never refills its budget).
    pub async fn prepare_enable_session_op(
        &self,
        account: &Account,
        owner: &OwnerSigner,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, Some(owner))
            .await
    }

    /// Use mode without `owner`, enable mode (signed by `owner`) with it.
    async fn prepare_session_op_in(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
        owner: Option<&OwnerSigner>,
    ) -> Result<PreparedOp> {
        let mut built = self
            .build_session_op(account, session, calls, owner)
            .await?;
        match &self.submission {
            Submission::HandleOps => self.fit_fee_scope(&mut built.op, &built.usage).await?,
            Submission::Bundler(bundler) => self.estimate_within_scope(bundler, &mut built).await?,
        }
        self.sign_session_op(built, key)
    }

    /// Sets a built session operation's gas limits from the bundler's estimate (dummy signature) and keeps it
    /// within the session's fee scope.
    async fn estimate_within_scope(
        &self,
        bundler: &BundlerClient,
        built: &mut UnsignedSessionOp,
    ) -> Result<()> {
        // The bundler simulates with the operation's fees and its own estimated limits, which are usually below
        // the client's defaults: with the fees lowered to fit the scope at the defaults, the validator's fee check
        // passes in the simulation and validation runs to its end.
        let (priority, max_fee) = built.op.gas_fees();
        self.lower_fee_towards_scope(&mut built.op, &built.usage)
            .await?;
        let entry_point = self.stack.version(built.version).entry_point;
        bundler
            .estimate_user_operation_gas(&built.op, entry_point)
            .await?
            .apply(&mut built.op)?;
        // Back to the fees asked for, lowered only as far as the estimated limits need.
        built.op.set_gas_fees(priority, max_fee);
        self.fit_fee_scope(&mut built.op, &built.usage).await
    }

    /// A session operation with a dummy signature of the final length (use mode without `owner`, enable mode
    /// signed by `owner` with it), its gas from the client's settings, and the session's fee usage; not yet
    /// within the fee scope.
    pub(crate) async fn build_session_op(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
        owner: Option<&OwnerSigner>,
    ) -> Result<UnsignedSessionOp> {
        if calls.is_empty() {
            return Err(Error::NoCalls);
        }
        let executions: Vec<Execution> = calls
            .iter()
            .map(|call| Execution {
                target: call.target,
                value: call.value,
                callData: call.data.clone(),
            })
            .collect();
        let call_data = self.kind.execute(&executions);
        let now = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        let proofs = calls
            .iter()
            .map(|call| CallProof::from_compiled(session, call.permission, now))
            .collect::<keyscope_signer::Result<Vec<_>>>()?;
        let nonce_key = self.kind.nonce_key(
            self.stack.session_key_validator,
            session_lane(session.session_id()),
        );
        let mut op = self.unsigned_op(account, nonce_key, call_data).await?;
        let unsigned = match owner {
            None => SessionSignature::use_session(session.session.clone(), proofs),
            Some(owner) => {
                let validator = self.stack.session_key_validator;
                let epoch = SessionKeyValidator::new(validator, self.provider.clone())
                    .epochOf(account.address)
                    .call()
                    .await?;
                let digest = enable_digest(
                    validator,
                    self.chain_id,
                    account.address,
                    epoch,
                    session.session_id(),
                );
                let hash = self
                    .kind
                    .erc1271_hash(account.address, self.chain_id, digest);
                let signature = owner.sign_hash(&hash).await?;
                let signature = self.kind.erc1271_signature(&signature);
                SessionSignature::enable_session(
                    session.session.clone(),
                    signature.to_vec(),
                    proofs,
                )
            }
        };
        // Same length as the final signature, although the hash does not cover it.
        op.signature = unsigned.to_dummy().encode()?.into();
        // The charges only count against a bounded budget (the validator keeps none otherwise).
        let usage = FeeUsage::new(&session.session, U256::ZERO);
        let usage = if usage.budget().is_some() {
            FeeUsage {
                charged: self.fees_charged(account, session.session_id()).await?,
                ..usage
            }
        } else {
            usage
        };
        Ok(UnsignedSessionOp {
            version: account.version,
            op,
            unsigned,
            usage,
        })
    }

    /// Signs a built session operation with `key` over its userOpHash (the owner's enable signature, which does
    /// not cover the gas fields, is kept).
    pub(crate) fn sign_session_op(
        &self,
        built: UnsignedSessionOp,
        key: &SessionKey,
    ) -> Result<PreparedOp> {
        let UnsignedSessionOp {
            version,
            mut op,
            unsigned,
            ..
        } = built;
        let user_op_hash = self
            .stack
            .entry_point(version)
            .user_op_hash(&op, self.chain_id)?;
        op.signature = unsigned.sign(key, &user_op_hash)?.encode()?.into();
        Ok(PreparedOp {
            version,
            op,
            user_op_hash,
        })
    }

    /// [`Client::prepare_session_op`] then [`Client::send`] (through a bundler, [`BundlerClient::check`] first).
    /// The outcome's `success` is false when the account's call reverted (with the revert in `revert`).
    pub async fn send_session_op(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<OpOutcome> {
        if let Submission::Bundler(bundler) = &self.submission {
            bundler.check(self, account.version).await?;
        }
        let op = self
            .prepare_session_op(account, key, session, calls)
            .await?;
        self.send(&op).await
    }
}

//! Session operations: calls under a granted (or to-be-enabled) session, with their proofs, on the session's own
//! nonce lane, fitted into the session's fee scope, signed by the session's signer (a secp256k1 session key or any
//! [`keyscope_signer::SessionSigner`]: P-256, WebAuthn, multisig).

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use keyscope_bindings::SessionKeyValidator;
use keyscope_permissions::CompiledSession;
use keyscope_signer::signers::{
    dummy_signature_for, DummyShape, KIND_MULTISIG, KIND_P256, KIND_WEBAUTHN,
};
use keyscope_signer::{
    dummy_ecdsa_signature, enable_digest, verify_session_signature, CallEntry, CallProof,
    PackedUserOperation, SessionSignature, SignerKey, SignerKind, SignsSessions,
};

use super::{
    session_lane, Account, Client, Execution, OpOutcome, PreparedOp, SessionCall, Submission,
    UnsignedSessionOp,
};
use crate::account::OwnerSigner;
use crate::bundler::BundlerClient;
use crate::error::{Error, Result};
use crate::fees::FeeUsage;
use crate::paymaster::DEFAULT_PAYMASTER_VERIFICATION_GAS;
use crate::stack::Version;

/// How a session operation refers to its session: use mode, or one of the enable modes.
#[derive(Clone, Copy)]
pub(crate) enum Enabling<'a> {
    /// Mode 0: the session is granted already.
    Use,
    /// Mode 1: the owner signs the enable digest of this chain now.
    Owner(&'a OwnerSigner),
    /// Mode 2: the owner's one signature for several chains, and this chain's proof.
    Multichain {
        chain_proof: &'a [B256],
        owner_signature: &'a [u8],
    },
}

/// A session operation prepared for a session key that signs elsewhere (another process, a browser, a phone):
/// its gas final and within the session's fee scope, its `signature` carrying a dummy session signature of the
/// signer's kind and final length (its gas was estimated with it). The session's signer signs
/// [`Self::user_op_hash`] raw (for a secp256k1 key 65-byte ECDSA `r ‖ s ‖ v`, no EIP-191 prefix; for the other kinds
/// their session signature, see [`keyscope_signer::signers`]); [`Self::assemble`] puts that signature into the wire
/// format. Built by [`Client::prepare_unsigned_session_op`] (a secp256k1 session key) or
/// [`Client::prepare_unsigned_session_op_for`] (any signer kind, from its public [`SignerKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedSessionOperation {
    /// The EntryPoint version.
    pub version: Version,
    /// The operation; its `signature` is the final one (same session, proofs and, in enable modes, owner's
    /// signature) but for the session key's signature, a dummy of the same length.
    pub op: PackedUserOperation,
    /// Its userOpHash: what the session key signs (the hash does not cover `signature`).
    pub user_op_hash: B256,
    /// The session signature without the session key's signature (mode, session, the calls' proofs).
    pub signature: SessionSignature,
    /// The session's fee scope and what it was charged when the operation was built.
    pub usage: FeeUsage,
}

impl UnsignedSessionOperation {
    /// The session's signer: the key that must sign [`Self::user_op_hash`].
    pub fn signer(&self) -> Address {
        self.signature.session.signer
    }

    /// The signed operation, with the session signer's `session_key_signature` over [`Self::user_op_hash`] in the
    /// wire-format `userOp.signature`. [`Error::SessionKeySignature`] (nothing assembled) unless the validator
    /// would accept it as the session's signer's ([`keyscope_signer::verify_session_signature`]), and it is of
    /// the kind of the dummy the operation's gas was estimated with and no longer than it (a longer signature
    /// costs more gas than estimated: prepare the operation with the signer's key and shape,
    /// [`Client::prepare_unsigned_session_op_for`]); a 65-byte ECDSA signature's `v` may be 27/28 or 0/1.
    pub fn assemble(self, session_key_signature: &[u8]) -> Result<PreparedOp> {
        let checked = checked_session_signature(
            &self.user_op_hash,
            self.signature.session.signer,
            session_key_signature,
        )?;
        let carried = SessionSignature::decode(&self.op.signature)?;
        check_estimated_shape(
            &self.user_op_hash,
            self.signature.session.signer,
            &carried.session_signature,
            &checked,
        )?;
        self.with_session_signature(checked)
    }

    /// Sets the session key's signature as given (no check).
    fn with_session_signature(self, session_signature: Vec<u8>) -> Result<PreparedOp> {
        let Self {
            version,
            mut op,
            user_op_hash,
            mut signature,
            ..
        } = self;
        signature.session_signature = session_signature;
        op.signature = signature.encode()?.into();
        Ok(PreparedOp {
            version,
            op,
            user_op_hash,
        })
    }
}

/// The final `userOp.signature` of a session operation from the signature it was prepared with (`prepared`: the
/// dummy of [`UnsignedSessionOperation::op`], or any wire-format session signature of it) and the session signer's
/// signature over its `user_op_hash`: what a service does with an operation prepared earlier, when it kept only
/// the operation. [`Error::SessionKeySignature`] unless the validator would accept the signature as the signer's
/// of the session in `prepared` ([`keyscope_signer::verify_session_signature`]), or when it is of another kind
/// than the session signature `prepared` carries, or longer (as [`UnsignedSessionOperation::assemble`]); a
/// `prepared` that is not a session signature is [`Error::Signer`].
pub fn assemble_session_signature(
    prepared: &[u8],
    user_op_hash: &B256,
    session_key_signature: &[u8],
) -> Result<Bytes> {
    let mut signature = SessionSignature::decode(prepared)?;
    let checked = checked_session_signature(
        user_op_hash,
        signature.session.signer,
        session_key_signature,
    )?;
    check_estimated_shape(
        user_op_hash,
        signature.session.signer,
        &signature.session_signature,
        &checked,
    )?;
    signature.session_signature = checked;
    Ok(signature.encode()?.into())
}

/// The kind of a session signature, as its length and first byte say (as the validator reads it).
fn signature_kind(signature: &[u8]) -> SignerKind {
    match (signature.len(), signature.first()) {
        (65, _) => SignerKind::Secp256k1,
        (_, Some(&KIND_P256)) => SignerKind::P256,
        (_, Some(&KIND_WEBAUTHN)) => SignerKind::WebAuthn,
        (_, Some(&KIND_MULTISIG)) => SignerKind::Multisig,
        _ => SignerKind::Unknown,
    }
}

/// [`Error::SessionKeySignature`] unless `signature` is of the kind of `estimated` (the dummy the operation's gas
/// was estimated with) and no longer than it.
fn check_estimated_shape(
    hash: &B256,
    signer: Address,
    estimated: &[u8],
    signature: &[u8],
) -> Result<()> {
    let (kind, expected) = (signature_kind(signature), signature_kind(estimated));
    let reason = if kind != expected {
        format!(
            "the operation was prepared, and its gas estimated, for a {expected} signature: prepare it with \
             the session's signer key (prepare_unsigned_session_op_for)"
        )
    } else if signature.len() > estimated.len() {
        format!(
            "{} bytes, longer than the {}-byte dummy the operation's gas was estimated with: prepare it with \
             the signer's shape (WebAuthn origin and rp id, multisig members)",
            signature.len(),
            estimated.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::SessionKeySignature {
        user_op_hash: *hash,
        signer,
        kind,
        recovered: None,
        reason,
    })
}

/// `signature` (a 65-byte ECDSA signature's `v` as 27/28), when the validator accepts it as `signer`'s session
/// signature over `hash` ([`verify_session_signature`]: the on-chain `SessionSigners.isValid`, for every signer
/// kind).
fn checked_session_signature(hash: &B256, signer: Address, signature: &[u8]) -> Result<Vec<u8>> {
    let mut signature = signature.to_vec();
    if signature.len() == 65 && signature[64] < 2 {
        signature[64] += 27;
    }
    let check = verify_session_signature(hash, signer, &signature);
    if check.is_valid() {
        return Ok(signature);
    }
    // A 65-byte ECDSA signature that recovers: by whom.
    let recovered = (signature.len() == 65)
        .then(|| keyscope_signer::recover(hash, &signature).ok())
        .flatten()
        .filter(|recovered| *recovered != signer);
    Err(Error::SessionKeySignature {
        user_op_hash: *hash,
        signer,
        kind: check.kind,
        recovered,
        reason: check
            .reason
            .unwrap_or_else(|| "not the session signer's signature".to_owned()),
    })
}

/// `signer`'s dummy session signature of `shape`, when `signer` is `session`'s signer.
fn public_dummy(
    session: &CompiledSession,
    signer: &SignerKey,
    shape: &DummyShape,
) -> Result<Vec<u8>> {
    let key = signer.address().map_err(keyscope_signer::Error::from)?;
    if key != session.session.signer {
        return Err(Error::SignerKeyMismatch {
            signer: session.session.signer,
            key,
        });
    }
    Ok(dummy_signature_for(signer, shape)?)
}

impl Client {
    /// Builds and signs a session operation: `calls` run through `execute` (single or batch), each under its
    /// permission of `session`; nonce key of the `SessionKeyValidator` on the session's lane ([`session_lane`],
    /// laid out by the client's [`AccountKind`](crate::AccountKind)); signature in the validator's use mode
    /// (`keyscope-signer`'s wire encoder), signed by `key` over the raw userOpHash: a secp256k1
    /// [`SessionKey`](keyscope_signer::SessionKey) or any [`SessionSigner`](keyscope_signer::SessionSigner)
    /// (P-256, WebAuthn, multisig) whose address is the session's `signer`. Through a bundler
    /// ([`Submission::Bundler`]) its gas is estimated first, with `key`'s own dummy signature (of its kind and
    /// final length, [`SignsSessions::dummy_session_signature`]).
    ///
    /// Before signing, the operation is kept within the session's fee scope ([`Client::fit_fee_scope`]: its
    /// `maxFeePerGas` lowered to fit when the chain allows): an operation that would cost more than the
    /// per-operation bound or what is left of the budget (`feesChargedOf`) is [`Error::FeeScopeExceeded`], and
    /// nothing is signed. Operations of one session prepared at the same time each see the same charges: the
    /// validator refuses the one that takes the session past its budget (`FeeBudgetExceeded`).
    pub async fn prepare_session_op(
        &self,
        account: &Account,
        key: &impl SignsSessions,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, Enabling::Use)
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
        key: &impl SignsSessions,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, Enabling::Owner(owner))
            .await
    }

    /// Builds and signs a session operation in multichain enable mode (mode 2): the operation grants `session`
    /// with the owner's one signature for several chains and uses it at once. `chain_proof` is the proof of this
    /// chain's entry (this chain, `account`, its current epoch, the session) in the tree whose digest the owner
    /// signed, and `owner_signature` that signature as the account's ERC-1271 takes it: both from
    /// [`SignedMultichainEnable`](crate::SignedMultichainEnable) (see
    /// [`Client::sign_multichain_enable`]; [`SignedMultichainEnable::chain_proof`](crate::SignedMultichainEnable::chain_proof)
    /// finds this chain's proof). Otherwise as [`Client::prepare_enable_session_op`]: a proof of another chain's
    /// entry, or an entry of another epoch, fails validation as a bad owner signature (AA24).
    pub async fn prepare_multichain_enable_op(
        &self,
        account: &Account,
        key: &impl SignsSessions,
        session: &CompiledSession,
        chain_proof: &[B256],
        owner_signature: &[u8],
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        let enabling = Enabling::Multichain {
            chain_proof,
            owner_signature,
        };
        self.prepare_session_op_in(account, key, session, calls, enabling)
            .await
    }

    /// [`Client::prepare_unsigned_multichain_enable_op`] for a session signer of any kind that signs elsewhere, as
    /// [`Client::prepare_unsigned_session_op_for`].
    #[allow(clippy::too_many_arguments)]
    pub async fn prepare_unsigned_multichain_enable_op_for(
        &self,
        account: &Account,
        session: &CompiledSession,
        chain_proof: &[B256],
        owner_signature: &[u8],
        calls: &[SessionCall],
        signer: &SignerKey,
        shape: &DummyShape,
    ) -> Result<UnsignedSessionOperation> {
        let dummy = public_dummy(session, signer, shape)?;
        let enabling = Enabling::Multichain {
            chain_proof,
            owner_signature,
        };
        self.unsigned_session_op_in(account, session, calls, enabling, &dummy)
            .await
    }

    /// [`Client::prepare_multichain_enable_op`] for a secp256k1 session key that signs elsewhere, as
    /// [`Client::prepare_unsigned_session_op`].
    pub async fn prepare_unsigned_multichain_enable_op(
        &self,
        account: &Account,
        session: &CompiledSession,
        chain_proof: &[B256],
        owner_signature: &[u8],
        calls: &[SessionCall],
    ) -> Result<UnsignedSessionOperation> {
        let enabling = Enabling::Multichain {
            chain_proof,
            owner_signature,
        };
        self.unsigned_session_op_in(account, session, calls, enabling, dummy_ecdsa_signature())
            .await
    }

    /// A session operation for a session key that signs elsewhere: built as [`Client::prepare_session_op`] builds
    /// it (its gas estimated through the bundler with [`Submission::Bundler`], and kept within the session's fee
    /// scope, or [`Error::FeeScopeExceeded`]), with nothing signed. The session key signs its `user_op_hash`;
    /// [`UnsignedSessionOperation::assemble`] makes the signed operation, which [`Client::send`] sends.
    ///
    /// For a secp256k1 session key: the gas is estimated with a 65-byte ECDSA dummy, and `assemble` takes only a
    /// 65-byte ECDSA signature. A P-256, WebAuthn or multisig signer: [`Client::prepare_unsigned_session_op_for`].
    pub async fn prepare_unsigned_session_op(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<UnsignedSessionOperation> {
        self.unsigned_session_op_in(
            account,
            session,
            calls,
            Enabling::Use,
            dummy_ecdsa_signature(),
        )
        .await
    }

    /// [`Client::prepare_unsigned_session_op`] for a session signer of any kind that signs elsewhere, described by
    /// its public side: `signer` (whose address must be the session's `signer`, else
    /// [`Error::SignerKeyMismatch`]; a session spec's `signer_key`) and `shape` (for WebAuthn the rp id and origin
    /// the authenticator uses, for a multisig the members who will sign; [`DummyShape::default`] for the defaults:
    /// [`keyscope_signer::signers::DEFAULT_ORIGIN`], every member). The gas is estimated with
    /// [`dummy_signature_for`]`(signer, shape)`, the dummy of the signer's kind and final length, and
    /// [`UnsignedSessionOperation::assemble`] takes a signature of that kind no longer than it.
    pub async fn prepare_unsigned_session_op_for(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
        signer: &SignerKey,
        shape: &DummyShape,
    ) -> Result<UnsignedSessionOperation> {
        let dummy = public_dummy(session, signer, shape)?;
        self.unsigned_session_op_in(account, session, calls, Enabling::Use, &dummy)
            .await
    }

    /// Use mode, enable mode (signed by the owner) or multichain enable mode, as `enabling` says.
    async fn prepare_session_op_in(
        &self,
        account: &Account,
        key: &impl SignsSessions,
        session: &CompiledSession,
        calls: &[SessionCall],
        enabling: Enabling<'_>,
    ) -> Result<PreparedOp> {
        let dummy = key.dummy_session_signature()?;
        let unsigned = self
            .unsigned_session_op_in(account, session, calls, enabling, &dummy)
            .await?;
        self.sign_session_op(unsigned, key)
    }

    /// Built ([`Client::build_session_op`]), its gas final (estimated through the bundler, or the client's
    /// settings) and within the session's fee scope, its userOpHash computed; not signed. `dummy` is the session
    /// signer's dummy signature (its kind and length), which the operation carries and is estimated with.
    async fn unsigned_session_op_in(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
        enabling: Enabling<'_>,
        dummy: &[u8],
    ) -> Result<UnsignedSessionOperation> {
        let mut built = self
            .build_session_op(account, session, calls, enabling, dummy)
            .await?;
        let entry_point = self.stack.version(built.version).entry_point;
        // Sponsored: the stub paymaster fields first, so that the estimate and the fee scope count the
        // paymaster's gas.
        let final_data_needed = match &self.paymaster {
            Some(paymaster) => {
                !paymaster
                    .apply_stub(
                        &mut built.op,
                        entry_point,
                        self.chain_id,
                        DEFAULT_PAYMASTER_VERIFICATION_GAS,
                    )
                    .await?
            }
            None => false,
        };
        match &self.submission {
            Submission::HandleOps => self.fit_fee_scope(&mut built.op, &built.usage).await?,
            Submission::Bundler(bundler) => self.estimate_within_scope(bundler, &mut built).await?,
        }
        // The paymaster signs what the session key will sign: every gas field is final now.
        if let (Some(paymaster), true) = (&self.paymaster, final_data_needed) {
            paymaster
                .apply_final(&mut built.op, entry_point, self.chain_id)
                .await?;
        }
        let UnsignedSessionOp {
            version,
            mut op,
            unsigned,
            usage,
        } = built;
        // The operation carries its signature as it will be sent but for the session key's own (a dummy of its
        // length): in enable modes, the owner's real signature, so a client that signs elsewhere and sends
        // `op` with only the session key's signature put in sends what the owner signed.
        let mut carried = unsigned.clone();
        carried.session_signature = dummy.to_vec();
        op.signature = carried.encode()?.into();
        let user_op_hash = self
            .stack
            .entry_point(version)
            .user_op_hash(&op, self.chain_id)?;
        Ok(UnsignedSessionOperation {
            version,
            op,
            user_op_hash,
            signature: unsigned,
            usage,
        })
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

    /// A session operation with a dummy signature of the final length (use mode, enable mode signed by the
    /// owner, or multichain enable mode, as `enabling` says; `dummy` the session signer's dummy signature), its
    /// gas from the client's settings, and the session's fee usage; not yet within the fee scope.
    pub(crate) async fn build_session_op(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
        enabling: Enabling<'_>,
        dummy: &[u8],
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
            .map(|call| {
                if call.is_own_revocation(self.stack.session_key_validator, session.session_id()) {
                    Ok(CallEntry::SelfRevocation)
                } else {
                    CallProof::from_compiled(session, call.permission, now).map(CallEntry::from)
                }
            })
            .collect::<keyscope_signer::Result<Vec<_>>>()?;
        let nonce_key = self.kind.nonce_key(
            self.stack.session_key_validator,
            session_lane(session.session_id()),
        );
        let mut op = self.unsigned_op(account, nonce_key, call_data).await?;
        let unsigned = match enabling {
            Enabling::Use => SessionSignature::use_session(session.session.clone(), proofs),
            Enabling::Multichain {
                chain_proof,
                owner_signature,
            } => SessionSignature::enable_multichain(
                session.session.clone(),
                chain_proof.to_vec(),
                owner_signature.to_vec(),
                proofs,
            ),
            Enabling::Owner(owner) => {
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
        let mut estimated = unsigned.to_dummy();
        estimated.session_signature = dummy.to_vec();
        op.signature = estimated.encode()?.into();
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

    /// Signs a prepared session operation with `key` (any signer kind) over its userOpHash (the owner's enable
    /// signature, which does not cover the gas fields, is kept). Any key signs: an operation signed by another
    /// key than the session's is the validator's to refuse.
    pub(crate) fn sign_session_op(
        &self,
        unsigned: UnsignedSessionOperation,
        key: &impl SignsSessions,
    ) -> Result<PreparedOp> {
        let signature = key.session_signature(&unsigned.user_op_hash)?;
        unsigned.with_session_signature(signature)
    }

    /// The session key's kill switch: `key` revokes its own `session` on `account` in a session operation whose
    /// one call is [`SessionCall::revoke_own_session`] (no permission needed; the owner is not involved). The
    /// validator revokes the session while validating the operation, so once it is included (whatever its call
    /// did) every later operation of the session fails validation, those already in a bundler's mempool and those
    /// in the same bundle too. The operation is charged to the session's fee scope like any other.
    pub async fn revoke_own_session(
        &self,
        account: &Account,
        key: &impl SignsSessions,
        session: &CompiledSession,
    ) -> Result<OpOutcome> {
        let call =
            SessionCall::revoke_own_session(self.stack.session_key_validator, session.session_id());
        self.send_session_op(account, key, session, &[call]).await
    }

    /// [`Client::prepare_session_op`] then [`Client::send`] (through a bundler, [`BundlerClient::check`] first).
    /// The outcome's `success` is false when the account's call reverted (with the revert in `revert`).
    pub async fn send_session_op(
        &self,
        account: &Account,
        key: &impl SignsSessions,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use alloy::primitives::{address, keccak256, Address, B256, U256};
    use keyscope_permissions::SessionSpec;
    use keyscope_signer::{
        CallProof, P256Key, PackedUserOperation, SessionKey, SessionSignature, SessionSigner,
        SignerKind,
    };

    use keyscope_signer::signers::{dummy_signature_for, DummyShape};
    use keyscope_signer::WebAuthnAuthenticator;

    use super::{assemble_session_signature, public_dummy, UnsignedSessionOperation};
    use crate::error::Error;
    use crate::fees::FeeUsage;
    use crate::stack::Version;

    const TOKEN: Address = address!("7070707070707070707070707070707070707070");

    /// An unsigned operation under a session of `key` (one transfer permission), with its dummy signature.
    fn unsigned(key: &SessionKey) -> UnsignedSessionOperation {
        let json = format!(
            r#"{{ "signer": "{}", "valid_after": 0, "valid_until": 2000000000,
                  "permissions": [{{ "target": "{TOKEN}", "function": "transfer(address to,uint256 amount)" }}] }}"#,
            key.address()
        );
        let session = SessionSpec::compile_json(&json).unwrap();
        let proofs = vec![CallProof::from_compiled(&session, 0, 1).unwrap().into()];
        let signature = SessionSignature::use_session(session.session.clone(), proofs);
        let op = PackedUserOperation {
            signature: signature.to_dummy().encode().unwrap().into(),
            ..Default::default()
        };
        UnsignedSessionOperation {
            version: Version::V07,
            op,
            user_op_hash: keccak256("an operation"),
            usage: FeeUsage::new(&session.session, U256::ZERO),
            signature,
        }
    }

    #[test]
    fn assembles_the_session_keys_signature() {
        let key = SessionKey::from_bytes(&[7u8; 32]).unwrap();
        let unsigned = unsigned(&key);
        assert_eq!(unsigned.signer(), key.address());
        let hash = unsigned.user_op_hash;
        let signature = key.sign_hash_bytes(&hash).unwrap();
        // Signed locally, as `prepare_session_op` does.
        let expected = unsigned.signature.clone().sign(&key, &hash).unwrap();
        let dummy = unsigned.op.signature.clone();

        let prepared = unsigned.clone().assemble(&signature).unwrap();
        assert_eq!(prepared.user_op_hash, hash);
        assert_eq!(prepared.op.signature.len(), dummy.len());
        assert_eq!(
            SessionSignature::decode(&prepared.op.signature).unwrap(),
            expected
        );
        // From the dummy alone (what a service keeps), the same bytes; v as 0/1 too.
        let mut low_v = signature;
        low_v[64] -= 27;
        for signature in [&signature[..], &low_v[..]] {
            assert_eq!(
                assemble_session_signature(&dummy, &hash, signature).unwrap(),
                prepared.op.signature
            );
        }
    }

    #[test]
    fn refuses_other_keys_and_malformed_signatures() {
        let key = SessionKey::from_bytes(&[7u8; 32]).unwrap();
        let other = SessionKey::from_bytes(&[8u8; 32]).unwrap();
        let unsigned = unsigned(&key);
        let hash = unsigned.user_op_hash;
        let dummy = unsigned.op.signature.clone();

        let by_other = other.sign_hash_bytes(&hash).unwrap();
        let over_other_hash = key.sign_hash_bytes(&B256::repeat_byte(1)).unwrap();
        for signature in [&by_other[..], &over_other_hash[..]] {
            match unsigned.clone().assemble(signature) {
                Err(Error::SessionKeySignature {
                    signer,
                    recovered: Some(recovered),
                    ..
                }) => {
                    assert_eq!(signer, key.address());
                    assert_ne!(recovered, key.address());
                }
                other => panic!("{other:?}"),
            }
        }
        let error = assemble_session_signature(&dummy, &hash, &by_other).unwrap_err();
        assert!(
            error.to_string().contains(&other.address().to_string()),
            "{error}"
        );
        for malformed in [&[0u8; 64][..], &[5u8; 65][..]] {
            match assemble_session_signature(&dummy, &hash, malformed) {
                Err(Error::SessionKeySignature {
                    recovered: None,
                    reason,
                    ..
                }) => assert!(!reason.is_empty()),
                other => panic!("{other:?}"),
            }
        }
        // Not a session signature at all.
        assert!(matches!(
            assemble_session_signature(&[1, 2, 3], &hash, &by_other),
            Err(Error::Signer(_))
        ));
    }

    /// [`unsigned`] for `signer`, carrying `dummy` (as `prepare_unsigned_session_op_for` builds it).
    fn unsigned_for(signer: &SessionSigner, dummy: &[u8]) -> UnsignedSessionOperation {
        let mut unsigned = unsigned(&SessionKey::from_bytes(&[7u8; 32]).unwrap());
        unsigned.signature.session.signer = signer.address().unwrap();
        let mut carried = unsigned.signature.clone();
        carried.session_signature = dummy.to_vec();
        unsigned.op.signature = carried.encode().unwrap().into();
        unsigned
    }

    #[test]
    fn assembles_and_refuses_other_signer_kinds() {
        let signer = SessionSigner::from(P256Key::from_bytes(&[9u8; 32]).unwrap());
        let other = SessionSigner::from(P256Key::from_bytes(&[10u8; 32]).unwrap());
        let dummy = dummy_signature_for(&signer.key(), &DummyShape::default()).unwrap();
        let unsigned = unsigned_for(&signer, &dummy);
        let hash = unsigned.user_op_hash;

        let signature = signer.sign(&hash).unwrap();
        let prepared = unsigned.clone().assemble(&signature).unwrap();
        assert_eq!(
            SessionSignature::decode(&prepared.op.signature)
                .unwrap()
                .session_signature,
            signature
        );
        for (refused, kind) in [
            (other.sign(&hash).unwrap(), SignerKind::P256),
            (signer.dummy_signature().unwrap(), SignerKind::P256),
            (
                signer.sign(&B256::repeat_byte(1)).unwrap(),
                SignerKind::P256,
            ),
            (vec![], SignerKind::Unknown),
        ] {
            match unsigned.clone().assemble(&refused) {
                Err(
                    error @ Error::SessionKeySignature {
                        kind: found,
                        recovered: None,
                        ..
                    },
                ) => {
                    assert_eq!(found, kind, "{error}");
                    assert!(error.to_string().contains(&kind.to_string()), "{error}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn refuses_signatures_longer_or_of_another_kind_than_estimated() {
        // Prepared with the secp256k1 dummy: a valid P-256 signature is refused (its gas was not estimated).
        let p256 = SessionSigner::from(P256Key::from_bytes(&[9u8; 32]).unwrap());
        let unsigned = unsigned_for(&p256, keyscope_signer::dummy_ecdsa_signature());
        let hash = unsigned.user_op_hash;
        let signature = p256.sign(&hash).unwrap();
        let dummy = unsigned.op.signature.clone();
        match unsigned.clone().assemble(&signature) {
            Err(Error::SessionKeySignature { kind, reason, .. }) => {
                assert_eq!(kind, SignerKind::P256);
                assert!(reason.contains("secp256k1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            assemble_session_signature(&dummy, &hash, &signature),
            Err(Error::SessionKeySignature { .. })
        ));

        // WebAuthn: estimated for the default origin, signed at a longer one: refused; at the default, taken.
        let key = P256Key::from_bytes(&[11u8; 32]).unwrap();
        let short = SessionSigner::from(WebAuthnAuthenticator::new(
            key.clone(),
            "keyscope.example",
            "https://keyscope.example",
        ));
        let long = SessionSigner::from(WebAuthnAuthenticator::new(
            key,
            "keyscope.example",
            "https://a-much-longer-origin-than-the-default.keyscope.example",
        ));
        let dummy = dummy_signature_for(&short.key(), &DummyShape::default()).unwrap();
        let unsigned = unsigned_for(&short, &dummy);
        let hash = unsigned.user_op_hash;
        match unsigned.clone().assemble(&long.sign(&hash).unwrap()) {
            Err(Error::SessionKeySignature { kind, reason, .. }) => {
                assert_eq!(kind, SignerKind::WebAuthn);
                assert!(reason.contains("longer"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        unsigned.assemble(&short.sign(&hash).unwrap()).unwrap();
        // Estimated for the longer origin: taken.
        let shape = DummyShape {
            origin: Some(long_origin(&long)),
            ..DummyShape::default()
        };
        let unsigned = unsigned_for(&long, &dummy_signature_for(&long.key(), &shape).unwrap());
        let hash = unsigned.user_op_hash;
        unsigned.assemble(&long.sign(&hash).unwrap()).unwrap();

        // Multisig (1 of 2): estimated for one member, the signature of both is longer; one member's is taken.
        let multisig = SessionSigner::multisig(
            1,
            vec![
                (1, SessionKey::from_bytes(&[12u8; 32]).unwrap().into()),
                (1, P256Key::from_bytes(&[13u8; 32]).unwrap().into()),
            ],
        )
        .unwrap();
        let p256_member = match &multisig {
            SessionSigner::Multisig { members, .. } => members
                .iter()
                .position(|(_, member)| member.kind() == SignerKind::P256)
                .unwrap(),
            _ => unreachable!(),
        };
        let shape = DummyShape {
            members: Some(vec![p256_member]),
            ..DummyShape::default()
        };
        let dummy = dummy_signature_for(&multisig.key(), &shape).unwrap();
        assert_eq!(
            dummy,
            multisig.dummy_signature_with(&[p256_member]).unwrap()
        );
        let unsigned = unsigned_for(&multisig, &dummy);
        let hash = unsigned.user_op_hash;
        match unsigned.clone().assemble(&multisig.sign(&hash).unwrap()) {
            Err(Error::SessionKeySignature { reason, .. }) => {
                assert!(reason.contains("longer"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        unsigned
            .assemble(&multisig.sign_with(&hash, &[p256_member]).unwrap())
            .unwrap();
    }

    fn long_origin(signer: &SessionSigner) -> String {
        match signer {
            SessionSigner::WebAuthn(authenticator) => authenticator.origin().to_owned(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_public_dummy_is_the_sessions_signers() {
        let signer = SessionSigner::from(P256Key::from_bytes(&[9u8; 32]).unwrap());
        let other = SessionSigner::from(P256Key::from_bytes(&[10u8; 32]).unwrap());
        let json = format!(
            r#"{{ "signer": "{}", "valid_after": 0, "valid_until": 2000000000,
                  "permissions": [{{ "target": "{TOKEN}", "function": "transfer(address to,uint256 amount)" }}] }}"#,
            signer.address().unwrap()
        );
        let session = SessionSpec::compile_json(&json).unwrap();
        assert_eq!(
            public_dummy(&session, &signer.key(), &DummyShape::default()).unwrap(),
            signer.dummy_signature().unwrap()
        );
        match public_dummy(&session, &other.key(), &DummyShape::default()) {
            Err(Error::SignerKeyMismatch { signer: found, key }) => {
                assert_eq!(found, signer.address().unwrap());
                assert_eq!(key, other.address().unwrap());
            }
            other => panic!("{other:?}"),
        }
        let members = DummyShape {
            members: Some(vec![0]),
            ..DummyShape::default()
        };
        assert!(matches!(
            public_dummy(&session, &signer.key(), &members),
            Err(Error::Signer(keyscope_signer::Error::NotMultisig))
        ));
    }
}

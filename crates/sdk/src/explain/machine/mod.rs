//! The validator, function by function: `SessionKeyValidator.validateUserOp` as the compiled contract runs it,
//! step for step and in the contract's order, so the first failure is the contract's, with the same custom error
//! and parameters (or the same empty revert). This is the file to diff against
//! `contracts/src/SessionKeyValidator.sol`:
//!
//! | Solidity (`SessionKeyValidator.sol`)          | Rust                                                      |
//! |------------------------------------------------|-----------------------------------------------------------|
//! | `validateUserOp`                               | [`Machine::run`] (entered by [`validate_user_op`])         |
//! | `_installedState` (`NotInstalled`)             | [`Machine::run`], from `SessionState::installed`          |
//! | `_take`, `_takeUint`, `_takeLengthPrefixed`    | `decode::take`, `decode::take_uint`, `decode::take_prefixed` |
//! | `_sessionIdOf`                                 | [`Machine::run`]: `keccak256(SESSION_TYPEHASH ‖ session)`  |
//! | `_enable` (modes 1 and 2)                      | [`Machine::run`]; the ERC-1271 answer: `SessionState::owner_signature_valid`, read by `chain` |
//! | `_multichainDigestOf` (mode 2)                 | [`Machine::run`] reads the chain proof into `StateKeys::chain_proof`; `chain` computes the leaf, root and digest |
//! | `_sessionView`, `_checkSessionFields`          | [`check_session_fields`]                                  |
//! | `_enableDigest`                                | `keyscope_signer::enable_digest` (used by `chain`)        |
//! | `_multichainLeaf`, `_multichainDigest`         | `chain::multichain_enable_digest` (used by `chain`)       |
//! | `_checkPaymaster`                              | [`check_paymaster`]                                       |
//! | `_chargeFee`                                   | [`Machine::charge_fee`]                                   |
//! | `_maxOperationFee`                             | [`OperationCost::of`]                                     |
//! | `_checkCalls`                                  | [`Machine::check_calls`]                                  |
//! | `_decodeExecute`, `_decodeSingle`              | `decode::decode_execute`, `decode::decode_single`         |
//! | `_batchLength`, `_decodeBatchElement`          | `decode::batch_length`, `decode::decode_batch_element`    |
//! | `_checkNthCall`                                | `Machine::check_call` (`call.rs`)                         |
//! | `_selfRevoke` (empty permission)               | `Machine::check_self_revocation`                          |
//! | `_provenPermission`, `_leafOf`, `_proofView`   | `Machine::check_call`, with `keyscope_permissions::verify` |
//! | `_permissionView`                              | `Machine::check_call`, then `decode::PermissionView`      |
//! | `_checkNotRevoked` (if `permissionsRevoked`)   | `Machine::check_not_revoked`, from `SessionState::permissions_revoked` and `SessionState::revoked`, read by `chain` |
//! | `_checkScope`                                  | `call::check_scope`                                       |
//! | `_checkRule`                                   | `call::check_rule`                                        |
//! | `_compare`                                     | `RuleOperator::evaluate` (keyscope-permissions)           |
//! | `_narrowWindow`                                | `call::narrow_window`                                     |
//! | `_count`                                       | `Machine::count`                                          |
//! | `_spend`                                       | `Machine::spend`                                          |
//! | `_addSpent`                                    | `Machine::add_spent`                                      |
//! | `_spendInPeriod` (`FLAG_PER_PERIOD`)           | `Machine::spend_in_period`, from `SessionState::period_spent`, read by `chain` (`periodSpentOf`) |
//! | `_signedBySessionKey`                          | the end of [`Machine::run`], with `keyscope_signer::verify_session_signature` (`SessionSignerVerifier`) |
//! | storage: `_sessions`, `_usage`, `_spent`, `_periodSpent`, `_store`, `_scope`, `_usageKey`, `_spendKey`, `_periodKey` | not mirrored: [`SessionState`](super::SessionState) holds what they read (`chain` reads it through the views; a `_periodKey` is a [`PeriodKey`](super::PeriodKey)); `Machine`'s `usage`, `spent` and `period_spent` are the writes within one operation |
//! | `SessionRecord.permissionsRevoked`, `Context.permissionsRevoked` | `SessionState::permissions_revoked` (`hasRevokedPermissions`: the record's flag in the current epoch, which the record enable mode writes keeps) |
//! | `isValidSignatureWithSender` (ERC-1271 for session keys: detection, `NotInstalled`, `SessionNotActive`, `PermissionIsRevoked`, the session signature) | `message::MessageMachine::run` (`message.rs`, entered by [`is_valid_signature`]) |
//! | `SessionTypedDataVerifier.check`                | `MessageMachine::check`                                  |
//! | `ERC7739Utils.decodeTypedDataSig`, `decodeContentsDescr` | `message::decode_typed_data_sig`, `message::decode_contents_descr` |
//! | `ERC7739Utils.typedDataSignStructHash`, `MessageHashUtils.toTypedDataHash` | `message::typed_data_sign_struct_hash`, `message::to_typed_data_hash` |
//! | `SessionTypedDataVerifier._checkScope` (`ForbiddenVerifyingContract`, `VerifyingContractNotAllowed`, `TooManyRules`) | `MessageMachine::check_scope`, with `_take`'s, `_leafOf`'s, `_permissionView`'s and `_checkRule`'s mirrors above (`callIndex` 0) |
//! | `SessionTypedDataVerifier._checkTypedDataPermission` | `message::check_typed_data_permission`            |
//! | `SessionTypedDataVerifier._checkWindow`         | `message::check_window`                                  |
//! | `SessionTypedDataVerifier._appDomain`           | `message::app_domain`                                    |
//! | `SessionTypedDataVerifier._accountDomainBytes` (`IERC5267(account).eip712Domain()`) | `MessageMachine::account_domain_bytes`, from `MessageInput::account_domain`, read by `chain` |
//!
//! Solidity's own calldata checks (offsets, lengths and value ranges of the `Permission` struct, which revert
//! without data) are in `decode`, where the contract touches a field; the typed-data verifier reads the permission
//! inside its own calldata, `check(account, hash, data)` (`decode::Calldata::of_typed_data_check`). Every custom error the contract can raise
//! is listed, with the function raising it, in an exhaustive match in this module's tests: a new validator error
//! fails to compile there (and in `describe`) until it is mirrored and described.

use std::collections::BTreeMap;

use alloy::primitives::{aliases::U48, keccak256, Address, Bytes, FixedBytes, B256, U256};
use keyscope_permissions::abi::SESSION_TYPEHASH;
use keyscope_permissions::{MODE_ENABLE, MODE_ENABLE_MULTICHAIN, MODE_USE};
use keyscope_signer::PackedUserOperation;

use super::decode::{
    address_of_word, batch_length, decode_batch_element, decode_execute, decode_single, low_bits,
    padded, take, take_prefixed, take_uint, to_u64, u, word_at, Calldata,
};
use super::{
    CallReport, ExplainInput, FeeCheck, OperationCost, PeriodKey, PeriodSpent, RuleDetail,
    SessionSignatureCheck, StateKeys, Step, Usage, Validation, ValidatorRevert, WindowSource,
};
use crate::client::SessionStatus;

mod call;
mod message;
#[cfg(test)]
mod message_tests;
#[cfg(test)]
mod period_tests;
#[cfg(test)]
mod tests;

pub(super) use message::{is_valid_signature, message_keys};

/// `abi.encode(Session)`: nine words (`_SESSION_LENGTH`).
pub(super) const SESSION_LENGTH: usize = 288;
/// Where the session's `maxOperationFee` word starts in `abi.encode(Session)` (word 6).
const SESSION_MAX_OPERATION_FEE: usize = 192;
/// Where the session's `feeBudget` word starts (word 7).
const SESSION_FEE_BUDGET: usize = 224;
/// `SessionTypes.UNLIMITED_FEE` (`type(uint128).max`), compared with whole words as the contract does.
pub(super) const UNLIMITED_FEE: U256 = U256::from_limbs([u64::MAX, u64::MAX, 0, 0]);
/// `_PAYMASTER_GAS_END`: the paymaster, then paymasterVerificationGasLimit and paymasterPostOpGasLimit.
const PAYMASTER_GAS_END: usize = 52;
/// The 0x20 offset word and the 12 head words of `abi.encode(Permission)`.
const PERMISSION_HEAD_LENGTH: usize = 0x20 + 12 * 0x20;

/// Runs `validateUserOp(input.op, input.user_op_hash)` called by `caller`: its answer, and the state slots it
/// read on the way.
pub(super) fn validate_user_op(
    input: &ExplainInput<'_>,
    caller: Address,
) -> (core::result::Result<Validation, ValidatorRevert>, StateKeys) {
    let calldata = Calldata::of(input);
    Machine::new(input, caller, &calldata).validate()
}

/// The running window of a validation.
struct Window {
    after: U256,
    until: U256,
    after_source: WindowSource,
    until_source: WindowSource,
}

struct Machine<'a> {
    input: &'a ExplainInput<'a>,
    op: &'a PackedUserOperation,
    caller: Address,
    calldata: &'a Calldata,
    /// Where `userOp.signature`'s bytes start in the calldata.
    signature_offset: usize,
    /// The signature's session (`_sessionIdOf(sessionData)`), once read.
    session_id: B256,
    usage: BTreeMap<B256, Usage>,
    spent: BTreeMap<Address, U256>,
    period_spent: BTreeMap<PeriodKey, PeriodSpent>,
    keys: StateKeys,
    calls: Vec<CallReport>,
    current: Option<CallReport>,
    rule: Option<RuleDetail>,
    root: Option<B256>,
    fee: Option<FeeCheck>,
}

impl<'a> Machine<'a> {
    fn new(input: &'a ExplainInput<'a>, caller: Address, calldata: &'a Calldata) -> Self {
        let op = input.op;
        // The signature is the last tail of the canonical encoding.
        let signature_offset = calldata
            .bytes
            .len()
            .saturating_sub(padded(op.signature.len()));
        Self {
            input,
            op,
            caller,
            calldata,
            signature_offset,
            session_id: B256::ZERO,
            usage: input.state.usage.clone(),
            spent: input.state.spent.clone(),
            period_spent: input.state.period_spent.clone(),
            keys: StateKeys::default(),
            calls: Vec::new(),
            current: None,
            rule: None,
            root: None,
            fee: None,
        }
    }

    fn validate(mut self) -> (core::result::Result<Validation, ValidatorRevert>, StateKeys) {
        let result = self.run().map_err(|mut revert| {
            revert.call = self.current.take().map(Box::new);
            revert.rule = self.rule.take().map(Box::new);
            revert.root = self.root;
            revert.fee = self.fee.map(Box::new);
            revert
        });
        (result, self.keys)
    }

    /// `validateUserOp`.
    fn run(&mut self) -> Step<Validation> {
        let op = self.op;
        let state = self.input.state;
        if op.sender != self.caller {
            fail!(SenderMismatch {
                sender: op.sender,
                caller: self.caller
            });
        }
        if !state.installed {
            fail!(NotInstalled {
                account: self.caller
            });
        }
        let signature: &'a [u8] = &op.signature;
        let mut cursor = take(signature, 1, SESSION_LENGTH)?;
        let session: &'a [u8] = &signature[1..cursor];
        let mode = signature[0];
        let mut preimage = SESSION_TYPEHASH.to_vec();
        preimage.extend_from_slice(session);
        let session_id = keccak256(&preimage);
        self.session_id = session_id;
        self.keys.session_id = Some(session_id);
        let mut owner_signature_valid = None;
        // The record's `permissionsRevoked` becomes `Context.permissionsRevoked`: in use mode the record of the
        // current epoch, in enable mode the record it writes, which keeps the flag of the current epoch
        // (`state.permissions_revoked` is that flag either way).
        if mode == MODE_ENABLE || mode == MODE_ENABLE_MULTICHAIN {
            if mode == MODE_ENABLE_MULTICHAIN {
                // `_multichainDigestOf`: the chain proof; the digest of the root it leads to from this chain's
                // leaf is what `chain` asks the account's ERC-1271 about.
                let (proof_length, next) = take_uint(signature, cursor, 1)?;
                let end = take(signature, next, proof_length * 0x20)?;
                self.keys.chain_proof = Some(
                    signature[next..end]
                        .chunks_exact(0x20)
                        .map(B256::from_slice)
                        .collect(),
                );
                cursor = end;
            }
            let (owner_signature, next) = take_prefixed(signature, cursor, 2)?;
            cursor = next;
            self.keys.owner_signature = Some(Bytes::copy_from_slice(&signature[owner_signature]));
            check_session_fields(session)?;
            if state.status == SessionStatus::Revoked {
                fail!(SessionIsRevoked {
                    sessionId: session_id
                });
            }
            owner_signature_valid = Some(state.owner_signature_valid);
        } else if mode == MODE_USE {
            if state.status != SessionStatus::Active {
                fail!(SessionNotActive {
                    sessionId: session_id
                });
            }
        } else {
            fail!(UnknownSignatureMode { mode: mode });
        }

        check_paymaster(session, &op.paymasterAndData)?;
        // The record read before the mode: a session not active in this epoch (enabled now) starts at zero.
        let charged = if state.status == SessionStatus::Active {
            low_bits(state.fees_charged, 128)
        } else {
            U256::ZERO
        };
        let fees = self.charge_fee(session, charged)?;

        let root = B256::from_slice(&session[96..128]);
        self.root = Some(root);
        let mut window = Window {
            after: low_bits(word_at(session, 32), 48),
            until: low_bits(word_at(session, 64), 48),
            after_source: WindowSource::Session,
            until_source: WindowSource::Session,
        };
        cursor = self.check_calls(root, &mut window, cursor)?;

        // the session signature is the rest
        let signer = address_of_word(word_at(session, 0));
        let check = SessionSignatureCheck {
            signer,
            check: keyscope_signer::verify_session_signature(
                &self.input.user_op_hash,
                signer,
                &signature[cursor..],
            ),
        };
        let failed = owner_signature_valid == Some(false) || !check.valid();
        let validation_data =
            U256::from(u8::from(failed)) | (window.until << 160) | (window.after << 208);
        Ok(Validation {
            validation_data,
            valid_after: to_u64(window.after),
            valid_until: to_u64(window.until),
            valid_after_source: window.after_source,
            valid_until_source: window.until_source,
            session_id,
            owner_signature_valid,
            session_signature: check,
            calls: std::mem::take(&mut self.calls),
            fees,
        })
    }

    /// `_chargeFee`: the operation's maximum cost against the session's bounds, charged to its budget.
    fn charge_fee(&mut self, session: &[u8], charged: U256) -> Step<FeeCheck> {
        let limit = word_at(session, SESSION_MAX_OPERATION_FEE);
        let budget = word_at(session, SESSION_FEE_BUDGET);
        let mut check = FeeCheck {
            max_operation_fee: limit,
            fee_budget: budget,
            cost: OperationCost::of(self.op),
            charged_before: charged,
            charged_after: charged,
        };
        self.fee = Some(check);
        if limit == UNLIMITED_FEE && budget == UNLIMITED_FEE {
            return Ok(check);
        }
        let fee = check.cost.fee;
        if limit != UNLIMITED_FEE && fee > limit {
            fail!(OperationFeeExceeded {
                fee: fee,
                limit: limit
            });
        }
        if budget == UNLIMITED_FEE {
            return Ok(check);
        }
        self.keys.fees_charged = true;
        let total = fee.saturating_add(charged);
        if total > budget {
            fail!(FeeBudgetExceeded {
                total: total,
                budget: budget
            });
        }
        // `record.feesCharged = uint128(total)`
        check.charged_after = low_bits(total, 128);
        self.fee = Some(check);
        Ok(check)
    }

    /// `_checkCalls`.
    fn check_calls(&mut self, root: B256, window: &mut Window, cursor: usize) -> Step<usize> {
        let op: &'a PackedUserOperation = self.op;
        let (batch, execution) = decode_execute(&op.callData)?;
        let calls = if batch { batch_length(execution)? } else { 1 };
        let signature: &'a [u8] = &op.signature;
        let (permissions, mut cursor) = take_uint(signature, cursor, 1)?;
        if permissions != calls {
            fail!(CallCountMismatch {
                calls: u(calls),
                permissions: u(permissions)
            });
        }
        let mut next_element = calls * 0x20;
        for index in 0..calls {
            let (target, value, data) = if batch {
                decode_batch_element(execution, index, &mut next_element)?
            } else {
                decode_single(execution)?
            };
            self.current = Some(CallReport {
                index,
                target,
                value,
                selector: data.get(..4).map(FixedBytes::<4>::from_slice),
                data_len: data.len(),
                leaf: None,
                permission: None,
                rate_limit_window: None,
                usage: None,
                periods: Vec::new(),
                self_revocation: false,
            });
            cursor = self.check_call(index, target, value, data, root, window, cursor)?;
            if let Some(call) = self.current.take() {
                self.calls.push(call);
            }
        }
        if batch && 0x40 + next_element != execution.len() {
            fail!(MalformedExecutionCalldata {
                offset: u(100 + 0x40 + next_element)
            });
        }
        Ok(cursor)
    }
}

/// `_checkSessionFields` (enable mode).
fn check_session_fields(session: &[u8]) -> Step<()> {
    let words: Vec<U256> = (0..9).map(|i| word_at(session, 32 * i)).collect();
    if words[0] >> 160 != U256::ZERO
        || words[1] >> 48 != U256::ZERO
        || words[2] >> 48 != U256::ZERO
        || words[5] >> 160 != U256::ZERO
        || words[6] >> 128 != U256::ZERO
        || words[7] >> 128 != U256::ZERO
    {
        fail!(MalformedSession {});
    }
    let signer = address_of_word(words[0]);
    let valid_after = U48::saturating_from(words[1]);
    let valid_until = U48::saturating_from(words[2]);
    let policy = words[4];
    let paymaster = address_of_word(words[5]);
    if signer.is_zero() {
        fail!(ZeroSessionSigner {});
    }
    if valid_until.is_zero() || valid_after > valid_until {
        fail!(InvalidSessionWindow {
            validAfter: valid_after,
            validUntil: valid_until
        });
    }
    let policy_byte = policy.to_be_bytes::<32>()[31];
    if policy > U256::from(3) {
        fail!(InvalidPaymasterPolicy {
            policy: policy_byte,
            paymaster: paymaster
        });
    }
    if (policy == U256::from(3)) == paymaster.is_zero() {
        fail!(InvalidPaymasterPolicy {
            policy: policy_byte,
            paymaster: paymaster
        });
    }
    Ok(())
}

/// `_checkPaymaster`.
fn check_paymaster(session: &[u8], paymaster_and_data: &[u8]) -> Step<()> {
    let policy = session[159];
    if policy == 0 {
        return Ok(());
    }
    let paymaster = if paymaster_and_data.len() >= 20 {
        Address::from_slice(&paymaster_and_data[..20])
    } else {
        Address::ZERO
    };
    let allowed = match policy {
        1 => paymaster_and_data.is_empty(),
        2 => !paymaster.is_zero(),
        _ => !paymaster.is_zero() && paymaster == Address::from_slice(&session[172..192]),
    };
    if !allowed {
        fail!(PaymasterNotAllowed {
            policy: policy,
            paymaster: paymaster
        });
    }
    Ok(())
}

impl OperationCost {
    /// The cost of `op`, step for step as `_maxOperationFee` computes it (in 256-bit words).
    pub fn of(op: &PackedUserOperation) -> Self {
        let gas_limits = U256::from_be_bytes(op.accountGasLimits.0);
        let verification = gas_limits >> 128;
        let call = low_bits(gas_limits, 128);
        let pre_verification = op.preVerificationGas;
        let paymaster = (op.paymasterAndData.len() >= PAYMASTER_GAS_END).then(|| {
            let word = word_at(&op.paymasterAndData, 20);
            (word >> 128, low_bits(word, 128))
        });
        let max_fee_per_gas = low_bits(U256::from_be_bytes(op.gasFees.0), 128);
        let gas = if pre_verification >> 128 != U256::ZERO {
            None
        } else {
            // each term is below 2^128: the sum is below 2^131
            let mut gas = verification + call + pre_verification;
            if let Some((verification, post_op)) = paymaster {
                gas += verification + post_op;
            }
            (gas >> 128 == U256::ZERO).then_some(gas)
        };
        let fee = match gas {
            // both below 2^128: the product fits
            Some(gas) => gas * max_fee_per_gas,
            None => U256::MAX,
        };
        let narrow = |value: U256| value.saturating_to::<u128>();
        Self {
            verification_gas_limit: narrow(verification),
            call_gas_limit: narrow(call),
            pre_verification_gas: pre_verification,
            paymaster_gas_limits: paymaster.map(|(v, p)| (narrow(v), narrow(p))),
            max_fee_per_gas: narrow(max_fee_per_gas),
            gas: gas.map(narrow),
            fee,
        }
    }
}

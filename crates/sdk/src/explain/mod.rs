//! `explain`: evaluates a session user operation off-chain, bit for bit as `SessionKeyValidator.validateUserOp`
//! and the EntryPoint would, and names the rule or limit that rejects it.
//!
//! - [`validate_user_op`] mirrors the validator alone: the `validationData` it returns, or the revert it raises
//!   (its custom error with the same parameters, or the empty revert of a Solidity calldata check).
//! - [`evaluate`] adds what the account and the EntryPoint make of it: routing by the nonce key, `AA23` (revert),
//!   `AA24` (signature), `AA22` (window: v0.7 accepts from `validAfter` on, v0.8 only strictly after it).
//! - [`Client::explain`](crate::Client::explain) reads the state the validator would read (epoch, session record
//!   with its fee counter and revoked-permission flag, usage and spending counters, the spending per period of
//!   allowances per period, the revoked flags of the operation's permissions, the owner's ERC-1271 answer in
//!   enable mode) at one block and runs [`evaluate`].
//!
//! Message signatures are mirrored too: [`is_valid_signature`] answers as the validator's ERC-1271 entry for session
//! keys, `isValidSignatureWithSender(_, hash, data)` called by the account, with the stateless
//! `SessionTypedDataVerifier.check` it calls, bit for bit: the magic value, `0xffffffff` (with the reason: an
//! envelope OpenZeppelin's `ERC7739Utils` decodes to nothing, a hash, app domain or contents that do not match, a
//! session signature that is not the signer's), the ERC-7739 detection answer `0x77390001`, or the revert (the
//! same custom error with the same parameters, or the empty revert of a Solidity calldata check) in the contracts'
//! order: the session's state, the ERC-7739 envelope, the typed-data permission and its proof, its flags and call
//! fields, the window at the block's timestamp, the app domain and its verifying contract, the contents and the
//! permission's rules over them, the account's ERC-5267 domain, the revoked flag, then the session signature over
//! the nested `TypedDataSign` digest. [`Client::explain_message_signature`](crate::Client::explain_message_signature)
//! reads its state (installation, session status, revoked flags, the account's `eip712Domain()`, the block's
//! timestamp) at one block and runs it.
//!
//! The fee scope is mirrored too: the operation's maximum cost ([`OperationCost`], the prefund EntryPoint v0.7 and
//! v0.8 require, saturated exactly as the validator saturates it), the per-operation bound and the budget
//! ([`FeeCheck`]), checked after the paymaster policy and before the calls, as the contract does; a refusal names
//! the bound that fails with the values in ETH and gwei.
//!
//! Every step follows the contract's order, so the first failure is the contract's. The permission is read the way
//! the compiled contract reads it: as a calldata struct inside the `validateUserOp` calldata, with Solidity's
//! offset, length and value-range checks (which revert without data) applied where the contract touches a field.
//!
//! Not modelled: gas (`AA13`, `AA26`, out of gas), nonces (`AA25`), prefund (`AA21`), `initCode` (`AA1x`), the
//! paymaster's own validation (`AA3x`) and the EntryPoint's checks of the operation's shape (`AA9x`; e.g. `AA94`:
//! the EntryPoint refuses a gas field above 2^120 − 1 before it calls the account, where [`validate_user_op`] still
//! says what the validator itself would answer).
//!
//! The module's rooms: `machine` mirrors the validator function by function (its documentation maps each
//! Solidity function to its Rust counterpart: the file to diff against the contract; `machine::message` does the
//! same for `isValidSignatureWithSender` and `SessionTypedDataVerifier`); `decode` reads calldata
//! and the signature's wire format the way the validator does; `describe` puts verdicts and errors into words;
//! `chain` reads the state through the bindings ([`Client::explain`](crate::Client::explain)); `types` holds the
//! public types.

use alloy::primitives::{Address, B256};
use keyscope_signer::PackedUserOperation;

use crate::stack::Version;

pub use types::{
    AccountDomain, CallReport, ExplainInput, Explanation, FeeCheck, MessageAnswer,
    MessageExplanation, MessageInput, MessageMismatch, MessageScope, MessageValidation,
    OperationCost, PeriodKey, PeriodSpending, PeriodSpent, Rejection, RevertKind, RuleDetail,
    SessionSignatureCheck, SessionState, StateKeys, Usage, Validation, ValidatorRevert, Verdict,
    WindowSource,
};

/// A step of the validator: its value, or the revert it raises.
type Step<T> = core::result::Result<T, ValidatorRevert>;

/// Reverts with the validator's custom error `$name` and its parameters, as the contract's `revert $name(...)`.
macro_rules! fail {
    ($name:ident { $($field:ident : $value:expr),* $(,)? }) => {
        return Err($crate::explain::ValidatorRevert {
            kind: $crate::explain::RevertKind::Error(Box::new(
                keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors::$name(
                    keyscope_bindings::session_key_validator::SessionKeyValidator::$name { $($field: $value),* },
                ),
            )),
            call: None,
            rule: None,
            root: None,
            fee: None,
            message: None,
        })
    };
}

mod chain;
mod decode;
mod describe;
mod machine;
mod types;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

/// `SessionKeyValidator.validateUserOp(input.op, input.user_op_hash)` called by `caller`: the `validationData` it
/// returns or the revert it raises, bit-exact.
pub fn validate_user_op(
    input: &ExplainInput<'_>,
    caller: Address,
) -> core::result::Result<Validation, ValidatorRevert> {
    machine::validate_user_op(input, caller).0
}

/// `SessionKeyValidator.isValidSignatureWithSender(_, input.hash, input.data)` called by `input.account` (as the
/// account forwards its ERC-1271 `isValidSignature(hash, validator ‖ data)`): its answer, or the revert it raises,
/// bit-exact. The account itself answers `0xffffffff` for a module that reverts; the revert says why.
pub fn is_valid_signature(
    input: &MessageInput<'_>,
) -> core::result::Result<MessageValidation, ValidatorRevert> {
    machine::is_valid_signature(input)
}

/// What the EntryPoint makes of the operation's validation: accepted with its window, or rejected with the
/// validator's error (`AA23`), a failed signature (`AA24`) or a window that excludes `input.now` (`AA22`).
pub fn evaluate(input: &ExplainInput<'_>) -> Verdict {
    let nonce = input.op.nonce.to_be_bytes::<32>();
    let module = Address::from_slice(&nonce[..20]);
    if module != input.validator {
        return Verdict::Rejected(Rejection::NotSessionValidator { module });
    }
    if !input.state.installed {
        return Verdict::Rejected(Rejection::ModuleNotInstalled);
    }
    match validate_user_op(input, input.op.sender) {
        Err(revert) => Verdict::Rejected(Rejection::Reverted(revert)),
        Ok(validation) if validation.signature_failed() => {
            Verdict::Rejected(Rejection::SignatureInvalid(validation))
        }
        Ok(validation) if !validation.in_window(input.version, input.now) => {
            Verdict::Rejected(Rejection::OutsideWindow {
                now: input.now,
                version: input.version,
                validation,
            })
        }
        Ok(validation) => Verdict::Accepted(validation),
    }
}

/// The state an evaluation of `op` reads: its session, the owner signature to check in enable mode, the leaves of
/// the permissions with usage or rate limits, the leaves whose revoked flag is read if the session has revoked
/// permissions, the assets with cumulative limits, and the period definitions of allowances per period.
///
/// Found by evaluating against an active session with zero counters and no revoked permission, which goes at least
/// as far through the operation as any real state, so it names every slot a real evaluation may read.
pub fn state_keys(op: &PackedUserOperation, validator: Address) -> StateKeys {
    let state = SessionState::active();
    let input = ExplainInput {
        op,
        user_op_hash: B256::ZERO,
        validator,
        version: Version::V07,
        now: 0,
        state: &state,
    };
    machine::validate_user_op(&input, op.sender).1
}

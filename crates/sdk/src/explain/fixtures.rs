//! What the unit tests of `explain` share: a compiled session, signed operations, and arbitrary validator state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{address, Address, Bytes, B256, U256};
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope_permissions::{CompiledSession, SessionSpec, DEFAULT_FEE_BUDGET};
use keyscope_signer::{
    CallEntry, CallProof, EntryPoint, PackedUserOperation, SessionKey, SessionSignature,
};
use proptest::prelude::*;

use super::{ExplainInput, SessionState, Usage, Verdict};
use crate::client::{execute_batch, execute_single, nonce_key, SessionStatus};
use crate::stack::Version;

pub(super) const VALIDATOR: Address = address!("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
pub(super) const ACCOUNT: Address = address!("acacacacacacacacacacacacacacacacacacacac");
pub(super) const TOKEN: Address = address!("7070707070707070707070707070707070707070");
pub(super) const START: u64 = 1_000_000;

pub(super) fn key() -> SessionKey {
    SessionKey::from_bytes(&[7u8; 32]).unwrap()
}

/// A session: transfer ≤ 100 of TOKEN (at most 3 uses, ERC-20 total 250), and native transfers to anyone;
/// the default fee scope (0.01 ether per operation, 0.1 ether in all).
pub(super) fn compiled() -> CompiledSession {
    compiled_with_fees(r#"{"per_operation": "0.01 ether", "budget": "0.1 ether"}"#)
}

/// [`compiled`] with the fee scope `fees` (JSON).
pub(super) fn compiled_with_fees(fees: &str) -> CompiledSession {
    let json = format!(
        r#"{{
            "signer": "{}",
            "valid_after": {START},
            "valid_until": {},
            "fees": {fees},
            "permissions": [
                {{
                    "target": "{TOKEN}",
                    "function": "transfer(address to,uint256 amount)",
                    "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}],
                    "max_uses": 3,
                    "erc20_total_limit": "250"
                }},
                {{ "target": "*", "native_transfer": true, "value_limit": "1000" }}
            ]
        }}"#,
        key().address(),
        START + 3600
    );
    SessionSpec::compile_json(&json).unwrap()
}

pub(super) fn transfer(amount: u64) -> Bytes {
    let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
    data.extend_from_slice(Address::repeat_byte(0x42).into_word().as_slice());
    data.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
    data.into()
}

/// A signed use-mode operation: `calls` (target, value, data) under the permissions `indices`.
pub(super) fn signed_op(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    indices: &[usize],
    signer: &SessionKey,
) -> (PackedUserOperation, B256) {
    signed_op_with(session, calls, indices, signer, |_| {})
}

/// [`signed_op`] with the operation's gas fields (or anything else hashed) set by `edit` before signing.
pub(super) fn signed_op_with(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    indices: &[usize],
    signer: &SessionKey,
    edit: impl Fn(&mut PackedUserOperation),
) -> (PackedUserOperation, B256) {
    let entries: Vec<Option<usize>> = indices.iter().copied().map(Some).collect();
    signed_entries_with(session, calls, &entries, false, signer, edit)
}

/// A signed operation of `calls` under `entries` (`None`: the session's own revocation, an empty permission), in
/// use mode or, with `enable`, in enable mode with an 85-byte owner signature (valid as the state says); `edit`
/// sets anything hashed before signing.
pub(super) fn signed_entries_with(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    entries: &[Option<usize>],
    enable: bool,
    signer: &SessionKey,
    edit: impl Fn(&mut PackedUserOperation),
) -> (PackedUserOperation, B256) {
    let call_data = match calls {
        [(target, value, data)] => execute_single(*target, *value, data),
        calls => execute_batch(calls),
    };
    let entries = entries
        .iter()
        .map(|entry| match entry {
            Some(i) => CallProof::from_compiled(session, *i, START).unwrap().into(),
            None => CallEntry::SelfRevocation,
        })
        .collect();
    let mut op = PackedUserOperation {
        sender: ACCOUNT,
        nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
        callData: call_data,
        ..Default::default()
    };
    edit(&mut op);
    let unsigned = if enable {
        SessionSignature::enable_session(session.session.clone(), vec![0x11; 85], entries)
    } else {
        SessionSignature::use_session(session.session.clone(), entries)
    };
    let hash = EntryPoint::CANONICAL_V07.user_op_hash(&op, 1).unwrap();
    op.signature = unsigned
        .sign(signer, &hash)
        .unwrap()
        .encode()
        .unwrap()
        .into();
    (op, hash)
}

pub(super) fn input<'a>(
    op: &'a PackedUserOperation,
    hash: B256,
    state: &'a SessionState,
    now: u64,
    version: Version,
) -> ExplainInput<'a> {
    ExplainInput {
        op,
        user_op_hash: hash,
        validator: VALIDATOR,
        version,
        now,
        state,
    }
}

pub(super) fn error_of(verdict: &Verdict) -> SessionKeyValidatorErrors {
    verdict
        .validator_error()
        .cloned()
        .unwrap_or_else(|| panic!("no validator error: {verdict}"))
}

/// An operation whose gas fields are `(verification, call, preVerification, maxFeePerGas)`.
pub(super) fn op_with_gas(
    session: &CompiledSession,
    gas: (u128, u128, u128, u128),
    paymaster: Option<(u128, u128)>,
) -> (PackedUserOperation, B256) {
    signed_op_with(
        session,
        &[(TOKEN, U256::ZERO, transfer(1))],
        &[0],
        &key(),
        |op| {
            op.set_gas_limits(gas.0, gas.1);
            op.preVerificationGas = U256::from(gas.2);
            op.set_gas_fees(7, gas.3);
            if let Some((verification, post_op)) = paymaster {
                op.paymasterAndData = keyscope_signer::userop::paymaster_and_data(
                    Address::repeat_byte(0x9a),
                    verification,
                    post_op,
                    &[1, 2, 3],
                );
            }
        },
    )
}

/// The default-fee session with paymaster policy `any`.
pub(super) fn compiled_with_paymaster_any() -> CompiledSession {
    let mut spec = SessionSpec::from_contract(
        &compiled().session,
        &compiled().permissions,
        &["transfer(address to,uint256 amount)"],
    )
    .unwrap();
    spec.paymaster = keyscope_permissions::PaymasterSpec::Any;
    spec.compile().unwrap()
}

pub(super) fn arbitrary_state() -> impl Strategy<Value = SessionState> {
    (
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 32]>(),
        prop_oneof![
            Just(U256::ZERO),
            Just(U256::from(DEFAULT_FEE_BUDGET)),
            Just(U256::from(DEFAULT_FEE_BUDGET + 1)),
            any::<u128>().prop_map(U256::from),
            any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        ],
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                installed,
                status,
                owner,
                uses,
                window,
                window_uses,
                spent,
                fees_charged,
                (permissions_revoked, first_revoked, second_revoked),
            )| {
                let session = compiled();
                let mut state = SessionState::active();
                state.installed = installed;
                state.status = SessionStatus::from_raw(status);
                state.owner_signature_valid = owner;
                state.usage.insert(
                    session.permissions[0].leaf(),
                    Usage {
                        uses,
                        window,
                        window_uses,
                    },
                );
                state.spent.insert(TOKEN, U256::from_be_bytes(spent));
                state.fees_charged = fees_charged;
                state.permissions_revoked = permissions_revoked;
                for (index, revoked) in [first_revoked, second_revoked].into_iter().enumerate() {
                    if revoked {
                        state.revoked.insert(session.permissions[index].leaf());
                    }
                }
                state
            },
        )
}

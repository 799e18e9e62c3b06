#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::sol_types::{SolCall, SolInterface};
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope_bindings::session_key_validator::SessionKeyValidator::{
    revokePermissionCall, revokeSessionCall,
};
use keyscope_permissions::abi::encode_permission;
use keyscope_permissions::{
    CompiledSession, Permission, PermissionTree, DEFAULT_FEE_BUDGET, DEFAULT_MAX_OPERATION_FEE,
    MODE_ENABLE,
};
use keyscope_signer::{PackedUserOperation, SessionKey};

use super::super::fixtures::*;
use super::super::{
    evaluate, state_keys, OperationCost, Rejection, RevertKind, SessionState, Usage,
    ValidatorRevert, Verdict,
};
use super::SESSION_LENGTH;
use crate::client::{execute_single, nonce_key, SessionStatus};
use crate::stack::Version;

/// The verdict on a transfer of `amount` under `session`'s permission 0, signed by [`key`], on an active session
/// 10 s after [`START`].
fn transfer_verdict(session: &CompiledSession, amount: u64, version: Version) -> Verdict {
    let (op, hash) = signed_op(
        session,
        &[(TOKEN, U256::ZERO, transfer(amount))],
        &[0],
        &key(),
    );
    let state = SessionState::active();
    evaluate(&input(&op, hash, &state, START + 10, version))
}

/// The verdict on EntryPoint v0.7 1 s after [`START`].
fn verdict_v07(op: &PackedUserOperation, hash: B256, state: &SessionState) -> Verdict {
    evaluate(&input(op, hash, state, START + 1, Version::V07))
}

#[test]
fn accepts_in_scope_and_encodes_the_window() {
    let session = compiled();
    let verdict = transfer_verdict(&session, 100, Version::V08);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.valid_after, START);
    assert_eq!(validation.valid_until, START + 3600);
    assert_eq!(
        validation.validation_data,
        (U256::from(START + 3600) << 160) | (U256::from(START) << 208)
    );
    assert_eq!(validation.calls.len(), 1);
    assert_eq!(
        validation.calls[0].leaf,
        Some(session.permissions[0].leaf())
    );
    assert_eq!(validation.calls[0].usage.map(|u| u.uses), Some(1));
    assert!(
        verdict.to_string().starts_with("accepted: valid from"),
        "{verdict}"
    );
}

#[test]
fn names_the_failing_rule_with_its_values() {
    let session = compiled();
    let verdict = transfer_verdict(&session, 101, Version::V07);
    assert_eq!(verdict.aa_code(), Some("AA23"));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::ArgumentRuleFailed(e)
            if e.callIndex.is_zero() && e.ruleIndex.is_zero() && e.argIndex == U256::from(1)
    ));
    let text = verdict.to_string();
    assert!(
        text.contains("rule 0: argument 1 fails: 101 is not ≤ 100 (lte)"),
        "{text}"
    );
    // The revert data is the custom error's ABI encoding.
    let revert = verdict.revert().unwrap();
    assert_eq!(
        SessionKeyValidatorErrors::abi_decode(&revert.revert_data()).unwrap(),
        error_of(&verdict)
    );
}

#[test]
fn signature_and_window_failures() {
    let session = compiled();
    let other = SessionKey::from_bytes(&[8u8; 32]).unwrap();
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &other);
    let state = SessionState::active();
    let verdict = evaluate(&input(&op, hash, &state, START + 10, Version::V07));
    assert_eq!(verdict.aa_code(), Some("AA24"), "{verdict}");
    assert!(verdict.to_string().contains(&other.address().to_string()));

    // validAfter itself: v0.7 accepts, v0.8 does not; after validUntil neither does.
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    assert!(evaluate(&input(&op, hash, &state, START, Version::V07)).is_accepted());
    let verdict = evaluate(&input(&op, hash, &state, START, Version::V08));
    assert_eq!(verdict.aa_code(), Some("AA22"));
    assert!(
        verdict.to_string().contains("strictly after validAfter"),
        "{verdict}"
    );
    let verdict = evaluate(&input(&op, hash, &state, START + 3601, Version::V07));
    assert!(verdict.to_string().contains("expired"), "{verdict}");
    assert!(evaluate(&input(&op, hash, &state, START + 3600, Version::V08)).is_accepted());
}

#[test]
fn counters_move_within_a_batch() {
    let session = compiled();
    let calls = vec![(TOKEN, U256::ZERO, transfer(100)); 3];
    let (op, hash) = signed_op(&session, &calls, &[0, 0, 0], &key());
    // 300 > 250 on the third call.
    let state = SessionState::active();
    let verdict = verdict_v07(&op, hash, &state);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::Erc20TotalExceeded(e)
            if e.callIndex == U256::from(2) && e.total == U256::from(300) && e.token == TOKEN
    ));
    // Two uses already: the second call of a batch is use 4 of 3.
    let mut state = SessionState::active();
    state.usage.insert(
        session.permissions[0].leaf(),
        Usage {
            uses: 2,
            ..Usage::default()
        },
    );
    let calls = vec![(TOKEN, U256::ZERO, transfer(1)); 2];
    let (op, hash) = signed_op(&session, &calls, &[0, 0], &key());
    let verdict = verdict_v07(&op, hash, &state);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::UsageLimitReached(e)
            if e.callIndex == U256::from(1) && e.uses == U256::from(4) && e.maxUses == U256::from(3)
    ));
    // What the evaluation reads.
    let keys = state_keys(&op, VALIDATOR);
    assert_eq!(keys.session_id, Some(session.session_id()));
    assert_eq!(keys.leaves, vec![session.permissions[0].leaf()]);
    assert_eq!(keys.assets, vec![TOKEN]);
    assert_eq!(keys.owner_signature, None);
}

#[test]
fn forbidden_targets_routing_and_session_state() {
    let session = compiled();
    let state = SessionState::active();
    for target in [ACCOUNT, VALIDATOR, Address::ZERO] {
        let (op, hash) = signed_op(
            &session,
            &[(target, U256::ZERO, Bytes::new())],
            &[1],
            &key(),
        );
        let verdict = verdict_v07(&op, hash, &state);
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::ForbiddenTarget(e) if e.target == target
        ));
    }
    let (mut op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    let mut revoked = SessionState::active();
    revoked.status = SessionStatus::Revoked;
    let verdict = verdict_v07(&op, hash, &revoked);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::SessionNotActive(_)
    ));
    revoked.installed = false;
    assert_eq!(
        verdict_v07(&op, hash, &revoked),
        Verdict::Rejected(Rejection::ModuleNotInstalled)
    );
    op.nonce = U256::from(nonce_key(ACCOUNT, 0)) << 64;
    assert_eq!(
        verdict_v07(&op, hash, &state),
        Verdict::Rejected(Rejection::NotSessionValidator { module: ACCOUNT })
    );
}

/// A permission leaf whose encoding is not canonical reverts where Solidity's calldata checks do.
#[test]
fn non_canonical_permission_reverts_without_data() {
    let mut session = compiled();
    let mut bytes = encode_permission(&session.permissions[0]);
    bytes[0x20 + 0x40 + 30] = 1; // flags word 0x100 | 0
    let mut leaves: Vec<B256> = session.permissions.iter().map(Permission::leaf).collect();
    leaves.push(keccak256(keccak256(&bytes)));
    let tree = PermissionTree::from_leaves(leaves).unwrap();
    session.session.permissionsRoot = tree.root();
    let proof = tree.proof(2).unwrap();

    let mut op = PackedUserOperation {
        sender: ACCOUNT,
        nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
        callData: execute_single(TOKEN, U256::ZERO, &transfer(1)),
        ..Default::default()
    };
    let mut signature = vec![0u8];
    signature.extend_from_slice(&session.session.encode());
    signature.push(1);
    signature.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    signature.extend_from_slice(&bytes);
    signature.push(proof.len() as u8);
    for node in &proof {
        signature.extend_from_slice(node.as_slice());
    }
    signature.extend_from_slice(&[0, 0, 0, 0, 65]);
    signature.extend_from_slice(&[0u8; 65]);
    op.signature = signature.into();
    let state = SessionState::active();
    let verdict = evaluate(&input(&op, B256::ZERO, &state, START + 1, Version::V07));
    let revert = verdict.revert().unwrap();
    assert_eq!(
        revert.kind,
        RevertKind::Empty {
            field: "flags".into()
        }
    );
    assert!(revert.revert_data().is_empty());
    assert!(
        verdict
            .to_string()
            .contains("`flags` is not validly ABI-encoded"),
        "{verdict}"
    );
}

#[test]
fn operation_cost_is_the_validators_arithmetic() {
    let op = |limits: (u128, u128), pre: U256, fees: (u128, u128), paymaster: &[u8]| {
        let mut op = PackedUserOperation::default();
        op.set_gas_limits(limits.0, limits.1);
        op.preVerificationGas = pre;
        op.set_gas_fees(fees.0, fees.1);
        op.paymasterAndData = Bytes::copy_from_slice(paymaster);
        OperationCost::of(&op)
    };
    // (verification + call + preVerification) x maxFeePerGas; the priority fee is not counted
    let cost = op((200_000, 150_000), U256::from(60_000), (u128::MAX, 30), &[]);
    assert_eq!(cost.gas, Some(410_000));
    assert_eq!(cost.fee, U256::from(410_000u64 * 30));
    assert_eq!(cost.paymaster_gas_limits, None);
    // the paymaster's two limits count from 52 bytes of paymasterAndData on
    let paymaster =
        keyscope_signer::userop::paymaster_and_data(Address::repeat_byte(1), 70_000, 30_000, &[]);
    assert_eq!(paymaster.len(), 52);
    let cost = op((1, 2), U256::from(3), (0, 10), &paymaster);
    assert_eq!(cost.paymaster_gas_limits, Some((70_000, 30_000)));
    assert_eq!(cost.fee, U256::from(100_006u64 * 10));
    let cost = op((1, 2), U256::from(3), (0, 10), &paymaster[..51]);
    assert_eq!(cost.paymaster_gas_limits, None);
    assert_eq!(cost.fee, U256::from(60));
    // the largest gas that fits 128 bits, times the largest maxFeePerGas: no overflow
    let max = u128::MAX;
    let cost = op((max - 2, 1), U256::from(1), (0, max), &[]);
    assert_eq!(cost.gas, Some(max));
    assert_eq!(cost.fee, U256::from(max) * U256::from(max));
    // saturated: preVerificationGas of 2^128 or more, or a sum of 2^128 or more (paymaster limits included)
    for cost in [
        op((0, 0), U256::from(1) << 128, (0, 0), &[]),
        op((0, 0), U256::MAX, (0, 1), &[]),
        op((max, 1), U256::ZERO, (0, 0), &[]),
        op((max, max), U256::from(max), (0, 1), &[]),
        op(
            (max - 1, 0),
            U256::ZERO,
            (0, 1),
            &keyscope_signer::userop::paymaster_and_data(Address::ZERO, 1, 1, &[]),
        ),
    ] {
        assert_eq!(cost.gas, None);
        assert_eq!(cost.fee, U256::MAX, "saturated even with maxFeePerGas 0");
    }
    assert!(op((0, 0), U256::MAX, (0, 1), &[])
        .to_string()
        .contains("preVerificationGas"));
    // a naive u128 product or u64 sum would overflow here; the words do not
    let cost = op(
        (1 << 100, 1 << 100),
        U256::from(1u128 << 100),
        (0, 1 << 27),
        &[],
    );
    assert_eq!(
        cost.fee,
        U256::from(3u8) * (U256::from(1) << 100) * (U256::from(1) << 27)
    );
}

#[test]
fn per_operation_fee_limit_at_and_over_the_bound() {
    // 0.01 ether per operation: 410,000 gas x 30 gwei = 0.0123 ether is over it
    let session = compiled();
    let state = SessionState::active();
    let (op, hash) = op_with_gas(&session, (200_000, 150_000, 60_000, 30_000_000_000), None);
    let verdict = verdict_v07(&op, hash, &state);
    assert_eq!(verdict.aa_code(), Some("AA23"));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::OperationFeeExceeded(e)
            if e.fee == U256::from(12_300_000_000_000_000u64)
                && e.limit == U256::from(DEFAULT_MAX_OPERATION_FEE)
    ));
    assert_eq!(
        verdict.to_string(),
        "rejected (AA23): the operation may cost up to 0.0123 ETH (410,000 gas x 30 gwei maxFeePerGas), \
         over the session's per-operation fee limit of 0.01 ETH"
    );
    // nothing after the fee check is read: no usage counter, no spending, no fee counter
    let keys = state_keys(&op, VALIDATOR);
    assert!(keys.leaves.is_empty() && keys.assets.is_empty() && !keys.fees_charged);

    // exactly at the bound: 1,000,000 gas x 10 gwei; one wei over: preVerificationGas + 1 at 1 wei a gas
    let (op, hash) = op_with_gas(&session, (500_000, 400_000, 100_000, 10_000_000_000), None);
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.fees.fee(), U256::from(DEFAULT_MAX_OPERATION_FEE));
    assert_eq!(
        validation.fees.charged_after,
        U256::from(DEFAULT_MAX_OPERATION_FEE)
    );
    assert_eq!(
        validation.fees.budget_left(),
        Some(U256::from(DEFAULT_FEE_BUDGET - DEFAULT_MAX_OPERATION_FEE))
    );
    assert!(
        verdict.to_string().contains(
            "fees: the operation may cost up to 0.01 ETH (1,000,000 gas x 10 gwei maxFeePerGas), \
             per-operation fee limit 0.01 ETH; 0.09 ETH of the 0.1 ETH fee budget left after it"
        ),
        "{verdict}"
    );
    let limit = DEFAULT_MAX_OPERATION_FEE;
    let (op, hash) = op_with_gas(&session, (0, 0, limit, 1), None);
    assert!(verdict_v07(&op, hash, &state).is_accepted());
    let (op, hash) = op_with_gas(&session, (0, 0, limit + 1, 1), None);
    let verdict = verdict_v07(&op, hash, &state);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::OperationFeeExceeded(e) if e.fee == U256::from(limit + 1)
    ));
    // the paymaster's gas limits count, whoever pays
    let (op, hash) = op_with_gas(&session, (0, 0, limit - 2, 1), Some((1, 1)));
    let session_any = compiled_with_paymaster_any();
    let (op_any, hash_any) = op_with_gas(&session_any, (0, 0, limit - 2, 1), Some((1, 2)));
    assert!(matches!(
        error_of(&verdict_v07(&op_any, hash_any, &state)),
        SessionKeyValidatorErrors::OperationFeeExceeded(e) if e.fee == U256::from(limit + 1)
    ));
    // (the default paymaster policy is "none": the paymaster check comes first)
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::PaymasterNotAllowed(_)
    ));
    let (op_any, hash_any) = op_with_gas(&session_any, (0, 0, limit - 2, 1), Some((1, 1)));
    assert!(verdict_v07(&op_any, hash_any, &state).is_accepted());
}

#[test]
fn fee_budget_counts_what_was_charged() {
    let session = compiled();
    let fee = 4_100_000u128 * 2_000_000_000; // 0.0082 ether
    let budget = U256::from(DEFAULT_FEE_BUDGET);
    let (op, hash) = op_with_gas(
        &session,
        (2_000_000, 2_000_000, 100_000, 2_000_000_000),
        None,
    );
    // exactly the budget after the operation
    let mut state = SessionState::active();
    state.fees_charged = budget - U256::from(fee);
    let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.fees.charged_before, budget - U256::from(fee));
    assert_eq!(validation.fees.charged_after, budget);
    assert_eq!(validation.fees.budget_left(), Some(U256::ZERO));
    assert!(
        verdict
            .to_string()
            .contains("0 ETH of the 0.1 ETH fee budget left"),
        "{verdict}"
    );
    assert!(state_keys(&op, VALIDATOR).fees_charged);
    // one wei more charged before: over
    state.fees_charged += U256::from(1);
    let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::FeeBudgetExceeded(e)
            if e.total == budget + U256::from(1) && e.budget == budget
    ));
    let text = verdict.to_string();
    assert_eq!(
        text,
        "rejected (AA23): the operation may cost up to 0.0082 ETH (4,100,000 gas x 2 gwei maxFeePerGas); \
         with the 0.091800000000000001 ETH already charged to the session that makes 0.100000000000000001 ETH, \
         over its fee budget of 0.1 ETH (0.008199999999999999 ETH left)"
    );
    // the revert data decodes back to the same error, described from its values alone
    let revert = verdict.revert().unwrap();
    let decoded = ValidatorRevert::from_revert_data(&revert.revert_data()).unwrap();
    assert_eq!(decoded.error(), revert.error());
    assert_eq!(
        decoded.to_string(),
        "the operation would bring the fees charged to the session to 0.100000000000000001 ETH, over its fee \
         budget of 0.1 ETH"
    );
    assert!(ValidatorRevert::from_revert_data(&[1, 2, 3]).is_none());
    // the record is a uint128: only the low 128 bits count, and a saturating sum never wraps around
    state.fees_charged = (U256::from(1) << 200) | U256::from(5);
    assert!(evaluate(&input(&op, hash, &state, START + 1, Version::V08)).is_accepted());
}

#[test]
fn a_session_enabled_by_the_operation_starts_with_nothing_charged() {
    let session = compiled();
    let (mut op, hash) = op_with_gas(
        &session,
        (2_000_000, 2_000_000, 100_000, 2_000_000_000),
        None,
    );
    // the same operation in enable mode (the owner's signature as the state says)
    let mut signature = op.signature.to_vec();
    signature[0] = MODE_ENABLE;
    let owner = [0x11u8; 85];
    let at = 1 + SESSION_LENGTH;
    let mut enabled = signature[..at].to_vec();
    enabled.extend_from_slice(&(owner.len() as u16).to_be_bytes());
    enabled.extend_from_slice(&owner);
    enabled.extend_from_slice(&signature[at..]);
    op.signature = enabled.into();
    let mut state = SessionState::active();
    state.fees_charged = U256::from(DEFAULT_FEE_BUDGET);
    // active: its counter stands (replaying the enable signature never refills the budget)
    let verdict = verdict_v07(&op, hash, &state);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::FeeBudgetExceeded(_)
    ));
    // not active in this epoch: it starts at zero
    state.status = SessionStatus::Unknown;
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.fees.charged_before, U256::ZERO);
    assert_eq!(validation.owner_signature_valid, Some(true));
}

#[test]
fn unlimited_bounds_are_not_checked() {
    let session = compiled_with_fees(r#"{"per_operation": "unlimited", "budget": "unlimited"}"#);
    let state = SessionState::active();
    let max = (1u128 << 120) - 1;
    let (op, hash) = op_with_gas(&session, (max, max, max, max), None);
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert!(!validation.fees.is_checked());
    assert_eq!(validation.fees.budget_left(), None);
    assert_eq!(
        validation.fees.charged_after,
        validation.fees.charged_before
    );
    assert!(
        verdict
            .to_string()
            .contains("no per-operation fee limit; no fee budget"),
        "{verdict}"
    );
    assert!(!state_keys(&op, VALIDATOR).fees_charged);
    // a per-operation bound only: checked, never charged
    let session = compiled_with_fees(r#"{"per_operation": "1 ether", "budget": "unlimited"}"#);
    let (op, hash) = op_with_gas(&session, (0, 0, 1_000_000, 1_000_000_000_000), None);
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert!(validation.fees.is_checked());
    assert_eq!(validation.fees.charged_after, U256::ZERO);
    assert!(!state_keys(&op, VALIDATOR).fees_charged);
    let (op, hash) = op_with_gas(&session, (0, 0, 1_000_001, 1_000_000_000_000), None);
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::OperationFeeExceeded(_)
    ));
    // a budget only: a saturated cost is over any budget
    let session = compiled_with_fees(
        r#"{"per_operation": "unlimited", "budget": "340282366920938463463374607431768211454"}"#,
    );
    let (mut op, hash) = op_with_gas(&session, (0, 0, 0, 1), None);
    op.preVerificationGas = U256::from(1) << 128;
    let verdict = verdict_v07(&op, hash, &state);
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::FeeBudgetExceeded(e) if e.total == U256::MAX
    ));
    assert!(verdict.to_string().contains("2^256 − 1 wei"), "{verdict}");
}

#[test]
fn enable_mode_refuses_dirty_fee_words() {
    let session = compiled();
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    for (byte, expect_malformed) in [
        (6 * 32, true),
        (6 * 32 + 15, true),
        (7 * 32, true),
        (7 * 32 + 15, true),
        // the low half is the value itself: a bound like any other
        (7 * 32 + 16, false),
    ] {
        let mut signature = vec![MODE_ENABLE];
        let mut encoded = session.session.encode().to_vec();
        encoded[byte] = 1;
        signature.extend_from_slice(&encoded);
        signature.extend_from_slice(&op.signature[1 + SESSION_LENGTH..]);
        // the owner signature: empty, prefixed by its length
        let at = 1 + SESSION_LENGTH;
        signature.splice(at..at, [0u8, 0u8]);
        let mut dirty = op.clone();
        dirty.signature = signature.into();
        let mut state = SessionState::active();
        state.status = SessionStatus::Unknown;
        let verdict = verdict_v07(&dirty, hash, &state);
        let malformed = matches!(
            verdict.validator_error(),
            Some(SessionKeyValidatorErrors::MalformedSession(_))
        );
        assert_eq!(malformed, expect_malformed, "byte {byte}: {verdict}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Revoked permissions and the session's own revocation
// ---------------------------------------------------------------------------------------------------------------

/// [`signed_entries_with`] with nothing edited.
fn signed_entries(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    entries: &[Option<usize>],
    enable: bool,
    signer: &SessionKey,
) -> (PackedUserOperation, B256) {
    signed_entries_with(session, calls, entries, enable, signer, |_| {})
}

/// `revokeSession(session_id)` on the validator, with no value.
fn revoke_own(session_id: B256) -> (Address, U256, Bytes) {
    let data = revokeSessionCall {
        sessionId: session_id,
    }
    .abi_encode();
    (VALIDATOR, U256::ZERO, data.into())
}

/// A session whose owner revoked `leaves`.
fn with_revoked(leaves: &[B256]) -> SessionState {
    let mut state = SessionState::active();
    state.permissions_revoked = true;
    state.revoked = leaves.iter().copied().collect();
    state
}

fn native(amount: u64) -> (Address, U256, Bytes) {
    (Address::repeat_byte(0x42), U256::from(amount), Bytes::new())
}

#[test]
fn a_revoked_permission_fails_whatever_the_call() {
    let session = compiled();
    let leaf = session.permissions[0].leaf();
    let sibling = session.permissions[1].leaf();
    let state = with_revoked(&[leaf]);
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    let verdict = verdict_v07(&op, hash, &state);
    assert_eq!(verdict.aa_code(), Some("AA23"));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::PermissionIsRevoked(e) if e.callIndex.is_zero() && e.leaf == leaf
    ));
    let text = verdict.to_string();
    assert!(
        text.contains("was revoked by the account's owner (revokePermission)")
            && text.contains(&leaf.to_string()),
        "{text}"
    );
    let report = verdict.revert().unwrap().call.as_deref().unwrap();
    assert_eq!(report.leaf, Some(leaf));
    assert!(!report.self_revocation);
    // checked before the scope and the counters: a call out of scope, or over its usage limit, names the
    // revocation
    let (op, hash) = signed_op(
        &session,
        &[(TOKEN, U256::ZERO, transfer(101))],
        &[0],
        &key(),
    );
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::PermissionIsRevoked(_)
    ));
    let mut used_up = state.clone();
    used_up.usage.insert(
        leaf,
        Usage {
            uses: 3,
            ..Usage::default()
        },
    );
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &used_up)),
        SessionKeyValidatorErrors::PermissionIsRevoked(_)
    ));
    // ... and after the proof: a permission not in the session is that, revoked or not
    let mut other = compiled_with_fees(r#"{"per_operation": "0.02 ether", "budget": "0.1 ether"}"#);
    other.session = session.session.clone();
    other.session.permissionsRoot = B256::repeat_byte(3);
    let (op, hash) = signed_op(&other, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::PermissionNotInSession(e) if e.leaf == leaf
    ));

    // a sibling permission of the same session still works
    let (op, hash) = signed_op(&session, &[native(5)], &[1], &key());
    assert!(verdict_v07(&op, hash, &state).is_accepted());
    // in a batch, the call using the revoked permission fails
    let (op, hash) = signed_op(
        &session,
        &[native(5), (TOKEN, U256::ZERO, transfer(1))],
        &[1, 0],
        &key(),
    );
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::PermissionIsRevoked(e) if e.callIndex == U256::from(1) && e.leaf == leaf
    ));
    // what the evaluation reads: every proven call's revoked flag, the usage of the limited one
    let keys = state_keys(&op, VALIDATOR);
    assert_eq!(keys.revocation_leaves, vec![sibling, leaf]);
    assert_eq!(keys.leaves, vec![leaf]);
}

#[test]
fn only_the_revoked_leaf_counts_and_only_when_the_session_says_so() {
    let session = compiled();
    let leaf = session.permissions[0].leaf();
    let sibling = session.permissions[1].leaf();
    let (op, hash) = signed_op(
        &session,
        &[(TOKEN, U256::ZERO, transfer(1)), native(5)],
        &[0, 1],
        &key(),
    );
    // a revoked sibling does not matter to an operation that does not use it
    let (single, single_hash) =
        signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    let verdict = verdict_v07(&single, single_hash, &with_revoked(&[sibling]));
    assert!(verdict.is_accepted(), "{verdict}");
    // the session's flag set, no leaf of the operation revoked
    assert!(verdict_v07(&op, hash, &with_revoked(&[])).is_accepted());
    assert!(verdict_v07(&op, hash, &with_revoked(&[B256::repeat_byte(9)])).is_accepted());
    // a leaf flag without the session's flag is never read (a flag of an earlier epoch reads as unset)
    let mut stale = with_revoked(&[leaf, sibling]);
    stale.permissions_revoked = false;
    assert!(!stale.is_revoked(&leaf));
    let verdict = verdict_v07(&op, hash, &stale);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.calls.len(), 2);
    assert!(validation.calls.iter().all(|c| !c.self_revocation));
    // both revoked: the first call names its own
    let verdict = verdict_v07(&op, hash, &with_revoked(&[sibling, leaf]));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::PermissionIsRevoked(e) if e.callIndex.is_zero() && e.leaf == leaf
    ));
}

#[test]
fn enable_mode_keeps_the_flag_of_the_current_epoch() {
    let session = compiled();
    let leaf = session.permissions[0].leaf();
    let calls = [(TOKEN, U256::ZERO, transfer(1))];
    let (op, hash) = signed_entries(&session, &calls, &[Some(0)], true, &key());
    // revoked before the session was granted (the record of this epoch is Unknown with the flag), or while it
    // is active: enabling keeps the revocation
    for status in [SessionStatus::Unknown, SessionStatus::Active] {
        let mut state = with_revoked(&[leaf]);
        state.status = status;
        let verdict = verdict_v07(&op, hash, &state);
        assert!(
            matches!(
                error_of(&verdict),
                SessionKeyValidatorErrors::PermissionIsRevoked(e) if e.leaf == leaf
            ),
            "{status:?}: {verdict}"
        );
        // the session's other permission is enabled and works
        let (op, hash) = signed_entries(&session, &[native(1)], &[Some(1)], true, &key());
        let verdict = verdict_v07(&op, hash, &state);
        assert!(verdict.is_accepted(), "{status:?}: {verdict}");
    }
    // a revocation of an earlier epoch: the flag reads as unset, the permission works
    let mut state = SessionState::active();
    state.status = SessionStatus::Unknown;
    state.revoked.insert(leaf);
    let verdict = verdict_v07(&op, hash, &state);
    assert!(verdict.is_accepted(), "{verdict}");
    assert_eq!(
        verdict.validation().unwrap().owner_signature_valid,
        Some(true)
    );
    // a session revoked in this epoch cannot be enabled, whatever its permissions
    let mut state = with_revoked(&[leaf]);
    state.status = SessionStatus::Revoked;
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::SessionIsRevoked(_)
    ));
}

#[test]
fn the_session_may_revoke_itself_without_a_permission() {
    let session = compiled();
    let id = session.session_id();
    let (op, hash) = signed_entries(&session, &[revoke_own(id)], &[None], false, &key());
    let state = SessionState::active();
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    let call = &validation.calls[0];
    assert!(call.self_revocation);
    assert_eq!(
        (call.target, call.leaf, call.usage, call.rate_limit_window),
        (VALIDATOR, None, None, None)
    );
    assert_eq!(
        call.selector.map(|s| s.0),
        Some(revokeSessionCall::SELECTOR)
    );
    // no permission narrows the window: the session's
    assert_eq!(
        (validation.valid_after, validation.valid_until),
        (START, START + 3600)
    );
    assert_eq!(
        (validation.valid_after_source, validation.valid_until_source),
        (
            super::super::WindowSource::Session,
            super::super::WindowSource::Session
        )
    );
    assert!(
        verdict
            .to_string()
            .contains("the session's own revocation (no permission)"),
        "{verdict}"
    );
    // nothing is read for it: no counter, no revoked flag
    let keys = state_keys(&op, VALIDATOR);
    assert!(keys.leaves.is_empty() && keys.revocation_leaves.is_empty() && keys.assets.is_empty());
    // whatever the owner revoked, and whichever state the counters are in
    assert!(verdict_v07(
        &op,
        hash,
        &with_revoked(
            &session
                .permissions
                .iter()
                .map(Permission::leaf)
                .collect::<Vec<_>>()
        )
    )
    .is_accepted());
    // the fee scope and the session key's signature still apply
    let other = SessionKey::from_bytes(&[8u8; 32]).unwrap();
    let (op, hash) = signed_entries(&session, &[revoke_own(id)], &[None], false, &other);
    assert_eq!(verdict_v07(&op, hash, &state).aa_code(), Some("AA24"));
    let mut charged = SessionState::active();
    charged.fees_charged = U256::from(DEFAULT_FEE_BUDGET);
    let (mut op, _) = signed_entries(&session, &[revoke_own(id)], &[None], false, &key());
    op.set_gas_limits(1, 0);
    op.set_gas_fees(1, 1);
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &charged)),
        SessionKeyValidatorErrors::FeeBudgetExceeded(_)
    ));
    // in enable mode too
    let mut unknown = SessionState::active();
    unknown.status = SessionStatus::Unknown;
    let (op, hash) = signed_entries(&session, &[revoke_own(id)], &[None], true, &key());
    assert!(verdict_v07(&op, hash, &unknown).is_accepted());
}

#[test]
fn a_wrong_self_revocation_is_refused() {
    let session = compiled();
    let id = session.session_id();
    let state = SessionState::active();
    let (_, _, good) = revoke_own(id);
    let mut long = good.to_vec();
    long.extend_from_slice(&[0u8; 32]);
    let other_selector = revokePermissionCall {
        sessionId: id,
        leaf: B256::ZERO,
    }
    .abi_encode();
    let mut wrong_selector = good.to_vec();
    wrong_selector[..4].copy_from_slice(&other_selector[..4]);
    let cases: Vec<(&str, (Address, U256, Bytes), &str)> = vec![
        (
            "another session",
            revoke_own(B256::repeat_byte(1)),
            "not of the session",
        ),
        (
            "with value",
            (VALIDATOR, U256::from(1), good.clone()),
            "sends 1 wei",
        ),
        (
            "another selector",
            (VALIDATOR, U256::ZERO, wrong_selector.into()),
            "not revokeSession(bytes32)",
        ),
        (
            "another target",
            (TOKEN, U256::ZERO, good.clone()),
            "either not on the validator",
        ),
        (
            "the account",
            (ACCOUNT, U256::ZERO, good.clone()),
            "either not on the validator",
        ),
        (
            "a trailing word",
            (VALIDATOR, U256::ZERO, long.into()),
            "68 bytes of calldata",
        ),
        (
            "a short argument",
            (VALIDATOR, U256::ZERO, good.slice(..35)),
            "35 bytes of calldata",
        ),
        (
            "no calldata",
            (VALIDATOR, U256::ZERO, Bytes::new()),
            "has no selector",
        ),
        (
            "an ERC-20 transfer",
            (TOKEN, U256::ZERO, transfer(1)),
            "calls 0xa9059cbb",
        ),
    ];
    for (label, call, reason) in cases {
        let target = call.0;
        let (op, hash) = signed_entries(&session, &[call], &[None], false, &key());
        let verdict = verdict_v07(&op, hash, &state);
        assert!(
            matches!(
                error_of(&verdict),
                SessionKeyValidatorErrors::InvalidSelfRevocation(e)
                    if e.callIndex.is_zero() && e.target == target
            ),
            "{label}: {verdict}"
        );
        let text = verdict.to_string();
        assert!(
            text.contains("own revocation") && text.contains(reason),
            "{label}: {text}"
        );
        // the revert data, described from its values alone
        let revert = verdict.revert().unwrap();
        let decoded = ValidatorRevert::from_revert_data(&revert.revert_data()).unwrap();
        assert_eq!(decoded.error(), revert.error());
        assert!(!decoded.to_string().is_empty());
    }
    // the revocation presented with a permission is an ordinary call to the validator: forbidden
    let (op, hash) = signed_entries(&session, &[revoke_own(id)], &[Some(1)], false, &key());
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::ForbiddenTarget(e) if e.target == VALIDATOR
    ));
}

#[test]
fn self_revocation_in_a_batch() {
    let session = compiled();
    let id = session.session_id();
    let state = SessionState::active();
    let calls = [(TOKEN, U256::ZERO, transfer(10)), revoke_own(id), native(5)];
    let (op, hash) = signed_entries(&session, &calls, &[Some(0), None, Some(1)], false, &key());
    let verdict = verdict_v07(&op, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    let flags: Vec<bool> = validation.calls.iter().map(|c| c.self_revocation).collect();
    assert_eq!(flags, vec![false, true, false]);
    assert_eq!(validation.calls[0].usage.map(|u| u.uses), Some(1));
    let keys = state_keys(&op, VALIDATOR);
    assert_eq!(
        keys.revocation_leaves,
        vec![session.permissions[0].leaf(), session.permissions[1].leaf()]
    );
    // with a revoked permission in the batch, that call fails; the revocation itself does not
    let verdict = verdict_v07(&op, hash, &with_revoked(&[session.permissions[1].leaf()]));
    assert!(matches!(
        error_of(&verdict),
        SessionKeyValidatorErrors::PermissionIsRevoked(e) if e.callIndex == U256::from(2)
    ));
    // the empty entry presented for another call of the batch
    let (op, hash) = signed_entries(&session, &calls, &[None, None, Some(1)], false, &key());
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::InvalidSelfRevocation(e) if e.callIndex.is_zero() && e.target == TOKEN
    ));
    // two revocations in one batch are two valid calls
    let (op, hash) = signed_entries(
        &session,
        &[revoke_own(id), revoke_own(id)],
        &[None, None],
        false,
        &key(),
    );
    assert!(verdict_v07(&op, hash, &state).is_accepted());
    // the entry count still has to match
    let (op, hash) = signed_entries(&session, &calls, &[Some(0), None], false, &key());
    assert!(matches!(
        error_of(&verdict_v07(&op, hash, &state)),
        SessionKeyValidatorErrors::CallCountMismatch(_)
    ));
}

/// The function of the mirror that raises `error`, for every custom error of the validator's interface (`None`:
/// neither `validateUserOp` nor `isValidSignatureWithSender` raises it). The match is exhaustive: a new validator error does not compile here until
/// it is mirrored.
fn raised_by(error: &SessionKeyValidatorErrors) -> Option<&'static str> {
    use SessionKeyValidatorErrors as E;
    Some(match error {
        E::SenderMismatch(_)
        | E::NotInstalled(_)
        | E::SessionIsRevoked(_)
        | E::SessionNotActive(_)
        | E::UnknownSignatureMode(_) => "Machine::run",
        E::SignatureTruncated(_) => "decode::take",
        E::ZeroSessionSigner(_)
        | E::InvalidSessionWindow(_)
        | E::MalformedSession(_)
        | E::InvalidPaymasterPolicy(_) => "check_session_fields",
        E::PaymasterNotAllowed(_) => "check_paymaster",
        E::OperationFeeExceeded(_) | E::FeeBudgetExceeded(_) => "Machine::charge_fee",
        E::CallCountMismatch(_) => "Machine::check_calls",
        E::UnsupportedAccountCall(_) | E::UnsupportedExecutionMode(_) => "decode::decode_execute",
        // also decode_execute, decode_single and decode_batch_element
        E::MalformedExecutionCalldata(_) => "Machine::check_calls",
        E::InvalidBatchSize(_) => "decode::batch_length",
        // also narrow_window (a rate limit or FLAG_PER_PERIOD with interval 0)
        E::PermissionNotInSession(_) | E::MalformedPermission(_) => "Machine::check_call",
        E::ForbiddenTarget(_)
        | E::TargetNotAllowed(_)
        | E::SelectorNotAllowed(_)
        | E::NativeTransferWithCalldata(_)
        | E::ValueLimitExceeded(_)
        | E::InvalidPermissionFlags(_)
        | E::TooManyRules(_) => "call::check_scope",
        E::InvalidRule(_) | E::ArgumentOutOfBounds(_) | E::ArgumentRuleFailed(_) => {
            "call::check_rule"
        }
        E::UsageLimitReached(_) | E::RateLimitReached(_) | E::RateLimitWindowPassed(_) => {
            "Machine::count"
        }
        E::PermissionIsRevoked(_) => "Machine::check_not_revoked",
        E::InvalidSelfRevocation(_) => "Machine::check_self_revocation",
        // also InvalidPermissionFlags (FLAG_PER_PERIOD without a total flag)
        E::NativeTotalExceeded(_) | E::Erc20TotalExceeded(_) | E::NotAnErc20Movement(_) => {
            "Machine::spend"
        }
        E::PeriodAllowanceExceeded(_) | E::SpendingPeriodPassed(_) => "Machine::spend_in_period",
        // isValidSignatureWithSender's typed-data verifier (which raises the shared errors above too, call 0)
        E::InvalidTypedDataPermission(_) => "message::check_typed_data_permission",
        E::SignatureOutsideWindow(_) => "message::check_window",
        E::UnsupportedAppDomain(_) => "message::app_domain",
        E::ForbiddenVerifyingContract(_) | E::VerifyingContractNotAllowed(_) => {
            "MessageMachine::check_scope"
        }
        E::AccountDomainNotBound(_) => "MessageMachine::account_domain_bytes",
        // `onInstall`, and OpenZeppelin's ShortStrings in the EIP-712 domain's constructor
        E::AlreadyInstalled(_) | E::InvalidShortString(_) | E::StringTooLong(_) => return None,
    })
}

/// Every mirror function that raises an error is in the module's Solidity-to-Rust table.
#[test]
fn the_table_names_every_function_raising_an_error() {
    let table = include_str!("mod.rs");
    let errors = SessionKeyValidatorErrors::SELECTORS
        .iter()
        .map(|selector| {
            // the error with zero parameters (a string: empty)
            let zeros = [selector.as_slice(), &[0u8; 32 * 5]].concat();
            let string = [
                selector.as_slice(),
                &U256::from(0x20).to_be_bytes::<32>(),
                &[0u8; 32],
            ]
            .concat();
            SessionKeyValidatorErrors::abi_decode(&zeros)
                .or_else(|_| SessionKeyValidatorErrors::abi_decode(&string))
                .unwrap()
        })
        .collect::<Vec<_>>();
    assert_eq!(errors.len(), 49);
    for error in &errors {
        if let Some(function) = raised_by(error) {
            assert!(
                table.contains(&format!("`{function}`")),
                "{function} is not in the table"
            );
        }
    }
}

#[test]
fn multichain_enable_mode_reads_the_chain_proof_then_checks_as_enable_mode() {
    let session = compiled();
    let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
    let proof = [B256::repeat_byte(0xaa), B256::repeat_byte(0xbb)];
    let owner = [0x11u8; 85];
    let at = 1 + SESSION_LENGTH;
    let multichain = |proof: &[B256], owner: &[u8]| {
        let mut signature = vec![keyscope_permissions::MODE_ENABLE_MULTICHAIN];
        signature.extend_from_slice(&op.signature[1..at]);
        signature.push(proof.len() as u8);
        for node in proof {
            signature.extend_from_slice(node.as_slice());
        }
        signature.extend_from_slice(&(owner.len() as u16).to_be_bytes());
        signature.extend_from_slice(owner);
        signature.extend_from_slice(&op.signature[at..]);
        let mut op = op.clone();
        op.signature = signature.into();
        op
    };
    let enabled = multichain(&proof, &owner);
    // the slots: the chain proof and the owner signature, for the ERC-1271 question `chain` asks
    let keys = state_keys(&enabled, VALIDATOR);
    assert_eq!(keys.chain_proof, Some(proof.to_vec()));
    assert_eq!(keys.owner_signature, Some(Bytes::copy_from_slice(&owner)));
    assert_eq!(state_keys(&op, VALIDATOR).chain_proof, None);
    let mut state = SessionState::active();
    state.status = SessionStatus::Unknown;
    let verdict = verdict_v07(&enabled, hash, &state);
    let Verdict::Accepted(validation) = &verdict else {
        panic!("{verdict}")
    };
    assert_eq!(validation.owner_signature_valid, Some(true));
    // an empty proof (a tree of one leaf) is fine too
    assert!(verdict_v07(&multichain(&[], &owner), hash, &state).is_accepted());
    // the owner signature refused (e.g. a proof of another chain's leaf): AA24
    state.owner_signature_valid = false;
    assert!(matches!(
        verdict_v07(&enabled, hash, &state),
        Verdict::Rejected(Rejection::SignatureInvalid(_))
    ));
    // revoked: SessionIsRevoked, as in mode 1
    state.owner_signature_valid = true;
    state.status = SessionStatus::Revoked;
    assert!(matches!(
        error_of(&verdict_v07(&enabled, hash, &state)),
        SessionKeyValidatorErrors::SessionIsRevoked(_)
    ));
    // a proof longer than what follows: SignatureTruncated at the proof, before anything else is read
    state.status = SessionStatus::Unknown;
    let mut truncated = enabled.clone();
    truncated.signature = truncated.signature[..at + 1 + 40].to_vec().into();
    let verdict = verdict_v07(&truncated, hash, &state);
    assert!(
        matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::SignatureTruncated(e)
                if e.offset == U256::from(at + 1) && e.needed == U256::from(64)
        ),
        "{verdict}"
    );
    assert_eq!(state_keys(&truncated, VALIDATOR).chain_proof, None);
    // no proof length at all
    truncated.signature = truncated.signature[..at].to_vec().into();
    assert!(matches!(
        error_of(&verdict_v07(&truncated, hash, &state)),
        SessionKeyValidatorErrors::SignatureTruncated(_)
    ));
}

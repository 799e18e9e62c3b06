//! Allowances per period (`FLAG_PER_PERIOD`): `_narrowWindow`, `_spend` and `_spendInPeriod` mirrored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{aliases::U48, Address, Bytes, FixedBytes, B256, U256};
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors as E;
use keyscope_permissions::{
    CompiledSession, Permission, PermissionTree, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD,
};
use keyscope_signer::{CallProof, EntryPoint, PackedUserOperation, SessionSignature};

use super::super::fixtures::*;
use super::super::{
    evaluate, state_keys, validate_user_op, PeriodKey, PeriodSpent, SessionState, Verdict,
    WindowSource,
};
use crate::client::{execute_batch, execute_single, nonce_key};
use crate::stack::Version;

const NATIVE: usize = 0;
const TRANSFER: usize = 1;
const APPROVE: usize = 2;
const SHIFTED: usize = 3;
const FLAG_ONLY: usize = 4;
const NO_INTERVAL: usize = 5;
const UNBOUNDED: usize = 6;
const RATE_AND_PERIOD: usize = 7;

const INTERVAL: u64 = 100;

fn periodic(target: Address, selector: [u8; 4], flags: u8) -> Permission {
    Permission {
        target,
        selector: FixedBytes(selector),
        flags: flags | FLAG_PER_PERIOD,
        valueLimit: U256::from(1000),
        validAfter: U48::from(START),
        rateLimitInterval: U48::from(INTERVAL),
        ..Default::default()
    }
}

/// Native value: 500 wei per 100-second period from START; TOKEN transfers and approvals sharing 300 per period
/// (the approvals' own allowance is 1000); transfers under periods that start 50 s later; and ill-formed ones.
fn session() -> CompiledSession {
    let transfer = [0xa9, 0x05, 0x9c, 0xbb];
    let approve = [0x09, 0x5e, 0xa7, 0xb3];
    let mut native = periodic(
        Address::ZERO,
        [0; 4],
        FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL,
    );
    native.nativeTotalLimit = U256::from(500);
    let mut token_transfer = periodic(TOKEN, transfer, FLAG_ERC20_TOTAL);
    token_transfer.erc20TotalLimit = U256::from(300);
    let mut token_approve = periodic(TOKEN, approve, FLAG_ERC20_TOTAL);
    token_approve.erc20TotalLimit = U256::from(1000);
    let mut shifted = token_transfer.clone();
    shifted.validAfter = U48::from(START + 50);
    let flag_only = periodic(TOKEN, transfer, 0);
    let mut no_interval = native.clone();
    no_interval.rateLimitInterval = U48::ZERO;
    let mut unbounded = native.clone();
    unbounded.nativeTotalLimit = U256::MAX;
    unbounded.valueLimit = U256::MAX;
    unbounded.rateLimitInterval = U48::from(INTERVAL * 2);
    let mut rate_and_period = token_transfer.clone();
    rate_and_period.rateLimitCount = 1;
    rate_and_period.erc20TotalLimit = U256::from(301);
    let permissions = vec![
        native,
        token_transfer,
        token_approve,
        shifted,
        flag_only,
        no_interval,
        unbounded,
        rate_and_period,
    ];
    let mut session = compiled();
    let tree = PermissionTree::from_permissions(&permissions).unwrap();
    session.session.permissionsRoot = tree.root();
    session.permissions = permissions;
    session.tree = tree;
    session
}

fn erc20(selector: [u8; 4], amount: u64) -> Bytes {
    let mut data = selector.to_vec();
    data.extend_from_slice(Address::repeat_byte(0x42).into_word().as_slice());
    data.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
    data.into()
}

fn native(amount: u64) -> (Address, U256, Bytes) {
    (Address::repeat_byte(0x42), U256::from(amount), Bytes::new())
}

fn token(amount: u64) -> (Address, U256, Bytes) {
    (TOKEN, U256::ZERO, erc20([0xa9, 0x05, 0x9c, 0xbb], amount))
}

fn approval(amount: u64) -> (Address, U256, Bytes) {
    (TOKEN, U256::ZERO, erc20([0x09, 0x5e, 0xa7, 0xb3], amount))
}

/// A signed use-mode operation of `calls` under `(permission, period)` entries.
fn signed(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    entries: &[(usize, u32)],
) -> (PackedUserOperation, B256) {
    let call_data = match calls {
        [(target, value, data)] => execute_single(*target, *value, data),
        calls => execute_batch(calls),
    };
    let entries = entries
        .iter()
        .map(|(index, period)| {
            CallProof {
                permission: session.permissions[*index].clone(),
                proof: session.tree.proof(*index).unwrap(),
                rate_limit_window: *period,
            }
            .into()
        })
        .collect();
    let mut op = PackedUserOperation {
        sender: ACCOUNT,
        nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
        callData: call_data,
        ..Default::default()
    };
    let hash = EntryPoint::CANONICAL_V07.user_op_hash(&op, 1).unwrap();
    op.signature = SessionSignature::use_session(session.session.clone(), entries)
        .sign(&key(), &hash)
        .unwrap()
        .encode()
        .unwrap()
        .into();
    (op, hash)
}

fn verdict(
    session: &CompiledSession,
    calls: &[(Address, U256, Bytes)],
    entries: &[(usize, u32)],
    state: &SessionState,
    now: u64,
) -> Verdict {
    let (op, hash) = signed(session, calls, entries);
    evaluate(&input(&op, hash, state, now, Version::V07))
}

fn key_of(asset: Address, start: u64) -> PeriodKey {
    PeriodKey {
        asset,
        interval: INTERVAL,
        start,
    }
}

fn with_spent(entries: &[(PeriodKey, u32, u64)]) -> SessionState {
    let mut state = SessionState::active();
    for (key, period, spent) in entries {
        state.period_spent.insert(
            *key,
            PeriodSpent {
                period: *period,
                spent: U256::from(*spent),
            },
        );
    }
    state
}

fn error_of(verdict: &Verdict) -> E {
    super::super::fixtures::error_of(verdict)
}

#[test]
fn the_window_narrows_to_the_named_period_and_the_report_says_what_is_left() {
    let session = session();
    let state = SessionState::active();
    let v = verdict(
        &session,
        &[native(120)],
        &[(NATIVE, 2)],
        &state,
        START + 250,
    );
    let Verdict::Accepted(validation) = &v else {
        panic!("{v}")
    };
    assert_eq!(validation.valid_after, START + 200);
    assert_eq!(validation.valid_until, START + 299);
    let source = WindowSource::Period { call: 0, period: 2 };
    assert_eq!(validation.valid_after_source, source);
    assert_eq!(validation.valid_until_source, source);
    let spending = validation.calls[0].periods[0];
    assert_eq!(spending.key, key_of(Address::ZERO, START));
    assert_eq!(spending.period, 2);
    assert_eq!(spending.spent_before, U256::ZERO);
    assert_eq!(spending.spent_after, U256::from(120));
    assert_eq!(spending.left(), U256::from(380));
    assert_eq!(spending.next_period_start(), u128::from(START + 300));
    let text = v.to_string();
    assert!(
        text.contains(&format!(
            "native value in period 2 (seconds {} to {}): 120 wei spent in it with this call, 380 wei of the 500 wei \
             allowance left; the next period starts at {}",
            START + 200,
            START + 299,
            START + 300
        )),
        "{text}"
    );
    assert!(text.contains("set by call 0's period 2"), "{text}");
    // Outside the period: the EntryPoint's window check.
    let v = verdict(
        &session,
        &[native(120)],
        &[(NATIVE, 2)],
        &state,
        START + 300,
    );
    assert_eq!(v.aa_code(), Some("AA22"), "{v}");
    // What the evaluation reads: the period definition.
    let (op, _) = signed(
        &session,
        &[native(1), token(1)],
        &[(NATIVE, 0), (TRANSFER, 0)],
    );
    let keys = state_keys(&op, VALIDATOR);
    assert_eq!(
        keys.periods,
        vec![key_of(Address::ZERO, START), key_of(TOKEN, START)]
    );
    assert!(keys.assets.is_empty());
    assert!(keys.leaves.is_empty());
}

#[test]
fn a_period_spends_up_to_its_allowance_and_a_later_one_starts_from_zero() {
    let session = session();
    let native_key = key_of(Address::ZERO, START);
    let state = with_spent(&[(native_key, 2, 400)]);
    let now = START + 250;
    // exactly the allowance
    let v = verdict(&session, &[native(100)], &[(NATIVE, 2)], &state, now);
    let validation = v.validation().unwrap_or_else(|| panic!("{v}"));
    assert!(v.is_accepted(), "{v}");
    assert_eq!(validation.calls[0].periods[0].left(), U256::ZERO);
    assert_eq!(validation.calls[0].periods[0].spent_before, U256::from(400));
    // one wei over
    let v = verdict(&session, &[native(101)], &[(NATIVE, 2)], &state, now);
    assert!(matches!(
        error_of(&v),
        E::PeriodAllowanceExceeded(e)
            if e.callIndex.is_zero() && e.asset == Address::ZERO && e.period == U256::from(2)
                && e.total == U256::from(501) && e.limit == U256::from(500)
    ));
    let text = v.to_string();
    assert!(
        text.contains("over its allowance of 500 wei per period (400 wei spent in it before, this call 101 wei)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("next period starts at {}", START + 300)),
        "{text}"
    );
    // the next period starts from zero
    let v = verdict(
        &session,
        &[native(500)],
        &[(NATIVE, 3)],
        &state,
        START + 350,
    );
    assert!(v.is_accepted(), "{v}");
    assert_eq!(
        v.validation().unwrap().calls[0].periods[0].spent_before,
        U256::ZERO
    );
    // an earlier period is refused (the window is the EntryPoint's business, the revert comes first)
    let v = verdict(&session, &[native(1)], &[(NATIVE, 1)], &state, START + 150);
    assert!(matches!(
        error_of(&v),
        E::SpendingPeriodPassed(e)
            if e.asset == Address::ZERO && e.period == U256::from(1) && e.latestPeriod == U256::from(2)
    ));
    assert!(v.to_string().contains("periods only move forward"), "{v}");
    // native and token spending are separate
    let v = verdict(
        &session,
        &[token(300)],
        &[(TRANSFER, 1)],
        &state,
        START + 150,
    );
    assert!(v.is_accepted(), "{v}");
}

#[test]
fn spending_accumulates_within_a_batch() {
    let session = session();
    let state = SessionState::active();
    let now = START + 250;
    let v = verdict(
        &session,
        &[native(300), native(200)],
        &[(NATIVE, 2), (NATIVE, 2)],
        &state,
        now,
    );
    let validation = v.validation().unwrap_or_else(|| panic!("{v}"));
    assert!(v.is_accepted(), "{v}");
    assert_eq!(validation.calls[1].periods[0].spent_before, U256::from(300));
    assert_eq!(validation.calls[1].periods[0].left(), U256::ZERO);
    let v = verdict(
        &session,
        &[native(300), native(201)],
        &[(NATIVE, 2), (NATIVE, 2)],
        &state,
        now,
    );
    assert!(matches!(
        error_of(&v),
        E::PeriodAllowanceExceeded(e) if e.callIndex == U256::from(1) && e.total == U256::from(501)
    ));
    // a later period in the batch starts from zero; an earlier one after it is refused
    let (op, hash) = signed(
        &session,
        &[native(500), native(500)],
        &[(NATIVE, 2), (NATIVE, 3)],
    );
    let validation = validate_user_op(&input(&op, hash, &state, now, Version::V07), ACCOUNT)
        .unwrap_or_else(|revert| panic!("{revert}"));
    // the two periods do not overlap: an empty window
    assert_eq!(validation.valid_after, START + 300);
    assert_eq!(validation.valid_until, START + 299);
    let v = verdict(
        &session,
        &[native(1), native(1)],
        &[(NATIVE, 3), (NATIVE, 2)],
        &state,
        now,
    );
    assert!(matches!(
        error_of(&v),
        E::SpendingPeriodPassed(e)
            if e.callIndex == U256::from(1) && e.period == U256::from(2) && e.latestPeriod == U256::from(3)
    ));
}

#[test]
fn permissions_with_the_same_period_definition_share_the_spending() {
    let session = session();
    let state = SessionState::active();
    let now = START + 250;
    // approvals (1000 per period) and transfers (300) count together; the limit is the calling permission's
    let v = verdict(
        &session,
        &[approval(250), token(50)],
        &[(APPROVE, 2), (TRANSFER, 2)],
        &state,
        now,
    );
    assert!(v.is_accepted(), "{v}");
    let v = verdict(
        &session,
        &[approval(250), token(51)],
        &[(APPROVE, 2), (TRANSFER, 2)],
        &state,
        now,
    );
    assert!(matches!(
        error_of(&v),
        E::PeriodAllowanceExceeded(e)
            if e.callIndex == U256::from(1) && e.asset == TOKEN && e.total == U256::from(301)
                && e.limit == U256::from(300)
    ));
    let v = verdict(
        &session,
        &[token(250), approval(750)],
        &[(TRANSFER, 2), (APPROVE, 2)],
        &state,
        now,
    );
    assert!(v.is_accepted(), "{v}");
    // periods that start elsewhere are another definition: their own spending
    let v = verdict(
        &session,
        &[token(300), token(300)],
        &[(TRANSFER, 2), (SHIFTED, 2)],
        &state,
        now,
    );
    assert!(v.is_accepted(), "{v}");
    // a rate limit counts in the same periods, and a permission with it shares the spending too
    let v = verdict(
        &session,
        &[token(300), token(1)],
        &[(TRANSFER, 2), (RATE_AND_PERIOD, 2)],
        &state,
        now,
    );
    let validation = v.validation().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(validation.calls[1].periods[0].spent_after, U256::from(301));
    assert_eq!(validation.calls[1].usage.unwrap().window, 2);
    // a lifetime total and a periodic allowance of the same asset do not mix
    let mut state = SessionState::active();
    state.spent.insert(TOKEN, U256::MAX);
    let v = verdict(&session, &[token(300)], &[(TRANSFER, 2)], &state, now);
    assert!(v.is_accepted(), "{v}");
}

#[test]
fn ill_formed_periodic_permissions() {
    let session = session();
    let state = SessionState::active();
    let now = START + 250;
    // FLAG_PER_PERIOD without a total flag: refused in `_spend`, after the window and the counters
    let v = verdict(&session, &[token(1)], &[(FLAG_ONLY, 2)], &state, now);
    assert!(matches!(
        error_of(&v),
        E::InvalidPermissionFlags(e) if e.flags == FLAG_PER_PERIOD
    ));
    assert!(
        v.to_string()
            .contains("FLAG_PER_PERIOD (allowances per period) without"),
        "{v}"
    );
    // a period of length 0
    let v = verdict(&session, &[native(1)], &[(NO_INTERVAL, 0)], &state, now);
    assert!(matches!(error_of(&v), E::MalformedPermission(_)));
    assert!(
        v.to_string()
            .contains("period length (rateLimitInterval) is 0"),
        "{v}"
    );
}

#[test]
fn spending_past_uint224_is_over_any_allowance() {
    let session = session();
    let max224 = (U256::from(1) << 224) - U256::from(1);
    let key = PeriodKey {
        asset: Address::ZERO,
        interval: INTERVAL * 2,
        start: START,
    };
    let mut state = SessionState::active();
    state.period_spent.insert(
        key,
        PeriodSpent {
            period: 1,
            spent: max224,
        },
    );
    let v = verdict(
        &session,
        &[native(0)],
        &[(UNBOUNDED, 1)],
        &state,
        START + 250,
    );
    assert!(v.is_accepted(), "{v}");
    let v = verdict(
        &session,
        &[native(1)],
        &[(UNBOUNDED, 1)],
        &state,
        START + 250,
    );
    assert!(matches!(
        error_of(&v),
        E::PeriodAllowanceExceeded(e) if e.total == max224 + U256::from(1) && e.limit == U256::MAX
    ));
    // saturating
    state.period_spent.insert(
        key,
        PeriodSpent {
            period: 1,
            spent: U256::MAX,
        },
    );
    let v = verdict(
        &session,
        &[native(1)],
        &[(UNBOUNDED, 1)],
        &state,
        START + 250,
    );
    assert!(matches!(
        error_of(&v),
        E::PeriodAllowanceExceeded(e) if e.total == U256::MAX
    ));
}

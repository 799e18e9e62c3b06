//! Revocation cases: one permission revoked by the owner (`revokePermission`), after the grant and before it (the
//! enable signature does not bring it back), used alone, next to sibling permissions and in batches; and the
//! session key's own revocation (`revokeSession(sessionId)` on the validator under an empty permission entry),
//! valid, in batches, in enable mode, and wrong in every way the validator checks.

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::sol_types::SolCall;
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::permissions::abi::encode_permission;
use keyscope::Account;

use crate::compare::{check, compare, expect_error, Stats};
use crate::generators::{permission, TestSession, ANY_SELECTOR, TOKEN};
use crate::operations::{build, Entry, Env, Mode, Plan};
use crate::setup::Setup;

/// The targets of the revocable sessions' permissions: one each, any function.
const TARGETS: [Address; 3] = [
    Address::new([0x61; 20]),
    Address::new([0x62; 20]),
    Address::new([0x63; 20]),
];

/// `SessionStatus.Revoked`.
const REVOKED: u8 = 2;

/// A session of three permissions, one per target of [`TARGETS`]; the first with a usage limit, so that its
/// counter is read too.
fn revocable(s: &Setup, salt: u64) -> TestSession {
    let encodings = TARGETS
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let mut p = permission(*target, ANY_SELECTOR, 0);
            if i == 0 {
                p.maxUses = 20;
            }
            encode_permission(&p)
        })
        .collect();
    let session = &s.main.session;
    TestSession::new(
        s.main.key.clone(),
        session.validAfter.to(),
        session.validUntil.to(),
        0,
        Address::ZERO,
        encodings,
        salt,
    )
}

fn leaf(session: &TestSession, index: usize) -> B256 {
    keccak256(keccak256(&session.encodings[index]))
}

fn call(index: usize) -> (Address, U256, Bytes, usize) {
    (
        TARGETS[index],
        U256::ZERO,
        Bytes::from(ANY_SELECTOR.to_vec()),
        index,
    )
}

fn single(label: &'static str, index: usize) -> Plan {
    let (target, value, data, permission) = call(index);
    Plan::single(label, target, value, data, permission)
}

fn batch(label: &'static str, indices: &[usize]) -> Plan {
    let calls: Vec<_> = indices.iter().map(|i| call(*i)).collect();
    Plan::batch(label, &calls)
}

/// `revokeSession(session_id)` calldata.
fn revoke_session_data(session_id: B256) -> Bytes {
    SessionKeyValidator::revokeSessionCall {
        sessionId: session_id,
    }
    .abi_encode()
    .into()
}

/// A batch of `calls`, each under its permission, or (`None`) presented as the session's own revocation.
fn mixed(label: &'static str, calls: &[(Address, U256, Bytes, Option<usize>)]) -> Plan {
    let plain: Vec<_> = calls
        .iter()
        .map(|(t, v, d, p)| (*t, *v, d.clone(), p.unwrap_or(0)))
        .collect();
    let mut plan = Plan::batch(label, &plain);
    for (entry, (_, _, _, p)) in plan.entries.iter_mut().zip(calls) {
        if p.is_none() {
            *entry = Entry::self_revocation();
        }
    }
    plan
}

/// One call presented as the session's own revocation.
fn self_revocation(label: &'static str, target: Address, value: U256, data: Bytes) -> Plan {
    let mut plan = Plan::single(label, target, value, data, 0);
    plan.entries[0] = Entry::self_revocation();
    plan
}

async fn status(env: &Env, account: &Account, session_id: B256) -> u8 {
    let validator = env.client.stack().session_key_validator;
    SessionKeyValidator::new(validator, env.client.provider().clone())
        .sessionStatus(account.address, session_id)
        .call()
        .await
        .unwrap()
}

async fn revoke_permission(env: &Env, account: &Account, session_id: B256, leaf: B256) {
    let outcome = env
        .client
        .revoke_permission(account, &env.owner, session_id, leaf)
        .await
        .unwrap();
    assert!(outcome.success, "revokePermission: {outcome:?}");
}

/// Builds and compares `plan`, which must be accepted, then sends it (a revocation of its own session: the
/// validator's fee counter is cleared by the revocation, so `check`'s fee assertion does not apply).
async fn send_self_revocation(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    session: &TestSession,
    plan: &Plan,
) {
    let op = build(env, account, session, plan).await;
    let verdict = compare(env, stats, account, &op, plan.label).await;
    assert!(verdict.is_accepted(), "{}: {verdict}", plan.label);
    let validation = verdict.validation().unwrap();
    assert!(validation.calls.iter().any(|c| c.self_revocation));
    let outcome = env.client.send(&op).await.unwrap();
    assert!(outcome.success, "{}: {outcome:?}", plan.label);
    stats.sent += 1;
    assert_eq!(status(env, account, session.id()).await, REVOKED);
}

pub(crate) async fn revocation_ops(env: &Env, stats: &mut Stats, s: &Setup) {
    permission_revocation(env, stats, s).await;
    revocation_before_the_grant(env, stats, s).await;
    self_revocations(env, stats, s).await;
}

/// The owner revokes permissions of an active session one by one.
async fn permission_revocation(env: &Env, stats: &mut Stats, s: &Setup) {
    let a = &s.account;
    let r = revocable(s, 20);
    env.client
        .grant_session(a, &env.owner, &r.session)
        .await
        .unwrap();
    // Nothing revoked yet: the session's flag is unset and no leaf is read.
    for index in 0..3 {
        let v = check(
            env,
            stats,
            a,
            &r,
            &single("before revokePermission", index),
            true,
        )
        .await;
        assert!(v.is_accepted(), "{v}");
    }

    revoke_permission(env, a, r.id(), leaf(&r, 0)).await;
    // The revoked permission fails, whatever the call: in scope, out of scope, signed by another key.
    let v = check(env, stats, a, &r, &single("revoked permission", 0), true).await;
    expect_error(&v, "PermissionIsRevoked");
    let mut out_of_scope = single("revoked permission, out of scope", 0);
    out_of_scope.call_data =
        keyscope::execute_single(TARGETS[1], U256::ZERO, &Bytes::from(ANY_SELECTOR.to_vec()));
    expect_error(
        &check(env, stats, a, &r, &out_of_scope, false).await,
        "PermissionIsRevoked",
    );
    let mut wrong_key = single("revoked permission, wrong key", 0);
    wrong_key.wrong_key = true;
    expect_error(
        &check(env, stats, a, &r, &wrong_key, false).await,
        "PermissionIsRevoked",
    );
    // ... after its proof: a bad proof is that
    let mut bad_proof = single("revoked permission, bad proof", 0);
    bad_proof.entries[0].bad_proof = true;
    expect_error(
        &check(env, stats, a, &r, &bad_proof, false).await,
        "PermissionNotInSession",
    );
    // Its siblings keep working, alone and in batches; a batch with the revoked one fails at its call.
    for index in 1..3 {
        let v = check(
            env,
            stats,
            a,
            &r,
            &single("sibling of a revoked permission", index),
            true,
        )
        .await;
        assert!(v.is_accepted(), "{v}");
    }
    let v = check(
        env,
        stats,
        a,
        &r,
        &batch("batch of siblings", &[1, 2, 1]),
        true,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    for indices in [&[1, 0][..], &[0, 1], &[2, 1, 0], &[1, 0, 0]] {
        let v = check(
            env,
            stats,
            a,
            &r,
            &batch("batch with a revoked permission", indices),
            true,
        )
        .await;
        expect_error(&v, "PermissionIsRevoked");
        let first = indices.iter().position(|i| *i == 0).unwrap();
        assert_eq!(v.revert().unwrap().call.as_ref().unwrap().index, first);
    }

    // A second one; and a leaf that is not in the session, which changes nothing.
    revoke_permission(env, a, r.id(), leaf(&r, 2)).await;
    revoke_permission(env, a, r.id(), B256::repeat_byte(0x5c)).await;
    let v = check(env, stats, a, &r, &batch("two revoked", &[1, 2]), false).await;
    expect_error(&v, "PermissionIsRevoked");
    assert_eq!(v.revert().unwrap().call.as_ref().unwrap().index, 1);
    let v = check(env, stats, a, &r, &single("the last one left", 1), true).await;
    assert!(v.is_accepted(), "{v}");
    // The flag of one session says nothing of another: a session of the same account, same targets, untouched.
    let v = check(
        env,
        stats,
        a,
        &s.none_policy,
        &Plan::single(
            "another session",
            TARGETS[0],
            U256::ZERO,
            Bytes::from(ANY_SELECTOR.to_vec()),
            0,
        ),
        false,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
}

/// A permission revoked before its session is granted stays revoked once the session is enabled.
async fn revocation_before_the_grant(env: &Env, stats: &mut Stats, s: &Setup) {
    let a = &s.account;
    let r = revocable(s, 21);
    revoke_permission(env, a, r.id(), leaf(&r, 0)).await;
    // Not granted: use mode refuses it.
    expect_error(
        &check(
            env,
            stats,
            a,
            &r,
            &single("revoked before the grant, use mode", 1),
            false,
        )
        .await,
        "SessionNotActive",
    );
    let enable = |label: &'static str, indices: &[usize]| {
        let mut plan = batch(label, indices);
        if indices.len() == 1 {
            plan = single(label, indices[0]);
        }
        plan.mode = Mode::Enable(true);
        plan
    };
    for indices in [&[0][..], &[1, 0]] {
        let v = check(
            env,
            stats,
            a,
            &r,
            &enable("enable with a permission revoked before", indices),
            true,
        )
        .await;
        expect_error(&v, "PermissionIsRevoked");
    }
    // The revoked permission does not stop the others: the session is enabled by a sibling ...
    let v = check(
        env,
        stats,
        a,
        &r,
        &enable("enable with a sibling", &[1, 2]),
        true,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    // ... and the revocation holds in use mode, and in enable mode replayed
    expect_error(
        &check(
            env,
            stats,
            a,
            &r,
            &single("revoked before the grant, now active", 0),
            false,
        )
        .await,
        "PermissionIsRevoked",
    );
    expect_error(
        &check(env, stats, a, &r, &enable("enable replayed", &[0]), false).await,
        "PermissionIsRevoked",
    );
    let v = check(env, stats, a, &r, &single("sibling after enable", 2), true).await;
    assert!(v.is_accepted(), "{v}");
}

/// The session key revokes its own session.
async fn self_revocations(env: &Env, stats: &mut Stats, s: &Setup) {
    let a = &s.account;
    let validator = env.client.stack().session_key_validator;
    let r = revocable(s, 22);
    env.client
        .grant_session(a, &env.owner, &r.session)
        .await
        .unwrap();
    let own = revoke_session_data(r.id());

    // Wrong in every way the validator checks, each alone: never sent.
    let other_selector = {
        let mut data = own.to_vec();
        data[..4].copy_from_slice(&SessionKeyValidator::revokeAllSessionsCall::SELECTOR);
        Bytes::from(data)
    };
    let trailing = {
        let mut data = own.to_vec();
        data.extend_from_slice(&[0u8; 32]);
        Bytes::from(data)
    };
    let wrong = [
        (
            "self-revocation of another session",
            validator,
            U256::ZERO,
            revoke_session_data(s.main.id()),
        ),
        (
            "self-revocation with value",
            validator,
            U256::from(1),
            own.clone(),
        ),
        (
            "self-revocation, another selector",
            validator,
            U256::ZERO,
            other_selector,
        ),
        (
            "self-revocation, another target",
            TOKEN,
            U256::ZERO,
            own.clone(),
        ),
        (
            "self-revocation, the account",
            a.address,
            U256::ZERO,
            own.clone(),
        ),
        (
            "self-revocation, a trailing word",
            validator,
            U256::ZERO,
            trailing,
        ),
        (
            "self-revocation, a short argument",
            validator,
            U256::ZERO,
            own.slice(..35),
        ),
        (
            "self-revocation, no calldata",
            validator,
            U256::ZERO,
            Bytes::new(),
        ),
        (
            "self-revocation, an ordinary call",
            TARGETS[0],
            U256::ZERO,
            Bytes::from(ANY_SELECTOR.to_vec()),
        ),
    ];
    for (label, target, value, data) in wrong {
        let v = check(
            env,
            stats,
            a,
            &r,
            &self_revocation(label, target, value, data),
            false,
        )
        .await;
        expect_error(&v, "InvalidSelfRevocation");
    }
    // The revocation presented with a permission: an ordinary call to the validator, which no session may make.
    let with_permission = Plan::single(
        "revokeSession under a permission",
        validator,
        U256::ZERO,
        own.clone(),
        0,
    );
    expect_error(
        &check(env, stats, a, &r, &with_permission, false).await,
        "ForbiddenTarget",
    );
    // In batches: with ordinary calls (and a revoked permission of the session), twice, or wrong at call 1.
    let (t0, v0, d0, _) = call(0);
    let (t1, v1, d1, _) = call(1);
    let valid = [
        vec![
            (t1, v1, d1.clone(), Some(1)),
            (validator, U256::ZERO, own.clone(), None),
        ],
        vec![
            (validator, U256::ZERO, own.clone(), None),
            (t0, v0, d0.clone(), Some(0)),
        ],
        vec![
            (validator, U256::ZERO, own.clone(), None),
            (validator, U256::ZERO, own.clone(), None),
        ],
    ];
    for calls in &valid {
        let v = check(
            env,
            stats,
            a,
            &r,
            &mixed("self-revocation in a batch", calls),
            false,
        )
        .await;
        assert!(v.is_accepted(), "{v}");
    }
    let v = check(
        env,
        stats,
        a,
        &r,
        &mixed(
            "self-revocation in a batch, wrong at call 1",
            &[
                (validator, U256::ZERO, own.clone(), None),
                (validator, U256::from(1), own.clone(), None),
            ],
        ),
        false,
    )
    .await;
    expect_error(&v, "InvalidSelfRevocation");
    revoke_permission(env, a, r.id(), leaf(&r, 0)).await;
    let v = check(
        env,
        stats,
        a,
        &r,
        &mixed(
            "self-revocation next to a revoked permission",
            &[
                (validator, U256::ZERO, own.clone(), None),
                (t0, v0, d0, Some(0)),
            ],
        ),
        false,
    )
    .await;
    expect_error(&v, "PermissionIsRevoked");
    let alone = self_revocation("self-revocation", validator, U256::ZERO, own.clone());
    let mut wrong_key = alone.clone();
    wrong_key.wrong_key = true;
    wrong_key.label = "self-revocation signed by another key";
    assert_eq!(
        check(env, stats, a, &r, &wrong_key, false).await.aa_code(),
        Some("AA24")
    );

    // Sent: the session is revoked, and nothing of it works any more, its own revocation included.
    send_self_revocation(env, stats, a, &r, &alone).await;
    expect_error(
        &check(env, stats, a, &r, &alone, false).await,
        "SessionNotActive",
    );
    expect_error(
        &check(
            env,
            stats,
            a,
            &r,
            &single("after self-revocation", 1),
            false,
        )
        .await,
        "SessionNotActive",
    );

    // Enable mode: a session enabled and revoked by one operation, next to an ordinary call; it cannot be enabled
    // again.
    let fresh = revocable(s, 23);
    let own = revoke_session_data(fresh.id());
    let mut plan = mixed(
        "enable and revoke",
        &[(t1, v1, d1, Some(1)), (validator, U256::ZERO, own, None)],
    );
    plan.mode = Mode::Enable(true);
    send_self_revocation(env, stats, a, &fresh, &plan).await;
    plan.label = "enable after self-revocation";
    expect_error(
        &check(env, stats, a, &fresh, &plan, false).await,
        "SessionIsRevoked",
    );
}

/// After `revokeAllSessions` (a new epoch), nothing revoked in the old epoch counts: the sessions granted or
/// enabled again have all their permissions, the self-revoked one included.
pub(crate) async fn new_epoch_ops(env: &Env, stats: &mut Stats, s: &Setup) {
    let a = &s.account;
    let r = revocable(s, 20);
    expect_error(
        &check(
            env,
            stats,
            a,
            &r,
            &single("revoked permission, old epoch", 1),
            false,
        )
        .await,
        "SessionNotActive",
    );
    env.client
        .grant_session(a, &env.owner, &r.session)
        .await
        .unwrap();
    for index in 0..3 {
        let plan = single("revoked in the old epoch, granted again", index);
        let v = check(env, stats, a, &r, &plan, false).await;
        assert!(v.is_accepted(), "{v}");
    }
    let v = check(
        env,
        stats,
        a,
        &r,
        &batch("all of them, new epoch", &[0, 1, 2]),
        false,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    for (salt, index) in [(21, 0), (22, 1)] {
        let mut plan = single("revoked in the old epoch, enabled again", index);
        plan.mode = Mode::Enable(true);
        let v = check(env, stats, a, &revocable(s, salt), &plan, false).await;
        assert!(v.is_accepted(), "{v}");
    }
}

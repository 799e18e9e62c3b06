//! Session signer kinds: sessions whose `signer` is a P-256 key, a WebAuthn credential (UP and UV, and UP only) or
//! a 2-of-3 weighted multisig (secp256k1 + P-256 + WebAuthn members), each with valid signatures (sent), signatures
//! by another signer of the same kind, dummies, flipped bytes, WebAuthn assertions without UP, a multisig below
//! its threshold, truncated and empty signatures: `explain`'s signature check against the chain's.

use alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::explain::{Rejection, Verdict};
use keyscope::permissions::abi::encode_permission;
use keyscope::permissions::FLAG_ANY_TARGET;
use keyscope::signer::signers::{FLAG_UP, FLAG_UV};
use keyscope::signer::{P256Key, SessionKey, SessionSigner, SignerKind, WebAuthnAuthenticator};

use crate::compare::{compare, fees_charged, Stats};
use crate::generators::{permission, Rng, TestSession, Times, ANY_SELECTOR};
use crate::operations::{build, Env, Plan};
use crate::setup::Setup;

/// How many byte-flipped signatures each signer gets.
const FLIPS: usize = 4;

/// A signer under test: the signer of its session, and another of the same kind (not the session's).
struct Case {
    name: &'static str,
    signer: SessionSigner,
    other: SessionSigner,
    kind: SignerKind,
    salt: u64,
}

fn p256(byte: u8) -> P256Key {
    P256Key::from_bytes(&[byte; 32]).unwrap()
}

fn webauthn(byte: u8, flags: u8) -> WebAuthnAuthenticator {
    WebAuthnAuthenticator::new(p256(byte), "keyscope.example", "https://keyscope.example")
        .with_flags(flags)
}

fn multisig(base: u8) -> SessionSigner {
    SessionSigner::multisig(
        2,
        vec![
            (1, SessionKey::from_bytes(&[base; 32]).unwrap().into()),
            (1, p256(base + 1).into()),
            (1, webauthn(base + 2, FLAG_UP | FLAG_UV).into()),
        ],
    )
    .unwrap()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "P-256",
            signer: p256(0x31).into(),
            other: p256(0x32).into(),
            kind: SignerKind::P256,
            salt: 40,
        },
        Case {
            name: "WebAuthn UP+UV",
            signer: webauthn(0x33, FLAG_UP | FLAG_UV).into(),
            other: webauthn(0x34, FLAG_UP | FLAG_UV).into(),
            kind: SignerKind::WebAuthn,
            salt: 41,
        },
        Case {
            name: "WebAuthn UP",
            signer: webauthn(0x35, FLAG_UP).into(),
            other: webauthn(0x36, FLAG_UP).into(),
            kind: SignerKind::WebAuthn,
            salt: 42,
        },
        Case {
            name: "2-of-3 multisig",
            signer: multisig(0x40),
            other: multisig(0x50),
            kind: SignerKind::Multisig,
            salt: 43,
        },
    ]
}

/// A label that lives as long as the test (labels are `&'static str`; a few dozen of them).
fn label(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// Builds the operation of `plan` as [`build`] does, with the session signature replaced by `sign(userOpHash)`,
/// compares it, and sends it when it is accepted and `send` is set (checking the fee counter as `check` does).
async fn check_signed(
    env: &Env,
    stats: &mut Stats,
    s: &Setup,
    session: &TestSession,
    plan: &Plan,
    sign: impl FnOnce(&B256) -> Vec<u8>,
    send: bool,
) -> Verdict {
    let mut op = build(env, &s.account, session, plan).await;
    // `build` signed with the session's secp256k1 key: the last 65 bytes, no length prefix.
    let prefix = op.op.signature.len() - 65;
    let mut signature = op.op.signature[..prefix].to_vec();
    signature.extend(sign(&op.user_op_hash));
    op.op.signature = Bytes::from(signature);
    let verdict = compare(env, stats, &s.account, &op, plan.label).await;
    if send && verdict.is_accepted() {
        let outcome = env.client.send(&op).await.unwrap();
        assert!(outcome.success, "{}: {outcome:?}", plan.label);
        stats.sent += 1;
        let validation = verdict.validation().unwrap();
        assert_eq!(
            fees_charged(env, &s.account, validation.session_id).await,
            validation.fees.charged_after,
            "{}: {verdict}",
            plan.label
        );
    }
    verdict
}

/// `explain` said AA24 (`sigFailed`, no revert), and its signature check found `kind`.
fn expect_signature_failed(verdict: &Verdict, kind: SignerKind, what: &str) {
    match verdict {
        Verdict::Rejected(Rejection::SignatureInvalid(validation)) => {
            assert!(validation.signature_failed(), "{what}: {verdict}");
            let check = &validation.session_signature.check;
            assert!(!check.valid, "{what}: {verdict}");
            assert!(check.reason.is_some(), "{what}: {verdict}");
            assert_eq!(check.kind, kind, "{what}: {verdict}");
        }
        other => panic!("{what}: expected AA24 (sigFailed), got {other}"),
    }
}

/// Every signer kind's sessions, granted on `s.account`, with valid, foreign, dummy, corrupted, truncated and empty
/// signatures. The byte flips' positions come from `rng` (seed `seed`, `KEYSCOPE_EXPLAIN_SEED`).
pub(crate) async fn signer_ops(
    env: &Env,
    stats: &mut Stats,
    s: &Setup,
    times: &Times,
    rng: &mut Rng,
    seed: u64,
) {
    let any = vec![encode_permission(&permission(
        Address::ZERO,
        ANY_SELECTOR,
        FLAG_ANY_TARGET,
    ))];
    let plan = |text: String| {
        Plan::single(
            label(text),
            Address::new([0x78; 20]),
            U256::ZERO,
            Bytes::from(ANY_SELECTOR.to_vec()),
            0,
        )
    };
    let version = s.account.version;
    let compared = stats.compared;
    for case in cases() {
        let name = case.name;
        // The session's secp256k1 key only fills what `build` signs (replaced below); `signer` is the case's.
        let mut session = TestSession::new(
            SessionKey::from_bytes(&[0x0c; 32]).unwrap(),
            times.start - 100,
            times.start + 1_000_000,
            0,
            Address::ZERO,
            any.clone(),
            case.salt,
        );
        session.session.signer = case.signer.address().unwrap();
        assert_ne!(session.session.signer, case.other.address().unwrap());
        env.client
            .grant_session(&s.account, &env.owner, &session.session)
            .await
            .unwrap();

        // Valid: accepted, and sent (twice: the WebAuthn counter and the nonce move).
        for round in 0..2 {
            let v = check_signed(
                env,
                stats,
                s,
                &session,
                &plan(format!("{name}: valid signature #{round}")),
                |hash| case.signer.sign(hash).unwrap(),
                true,
            )
            .await;
            assert!(v.is_accepted(), "{name} on {version:?}: {v}");
            let check = &v.validation().unwrap().session_signature.check;
            assert!(check.valid && check.kind == case.kind, "{name}: {check}");
        }

        // Another signer of the same kind.
        let v = check_signed(
            env,
            stats,
            s,
            &session,
            &plan(format!("{name}: another signer's signature")),
            |hash| case.other.sign(hash).unwrap(),
            false,
        )
        .await;
        expect_signature_failed(&v, case.kind, name);

        // The dummy for estimation: well-formed, refused without a revert.
        let v = check_signed(
            env,
            stats,
            s,
            &session,
            &plan(format!("{name}: dummy signature")),
            |_| case.signer.dummy_signature().unwrap(),
            false,
        )
        .await;
        expect_signature_failed(&v, case.kind, name);

        // Flipped bytes at positions from the seeded rng (some, e.g. ABI padding, may not matter: only agreement
        // is required).
        for _ in 0..FLIPS {
            let position_seed = rng.next();
            let bit = 1u8 << rng.below(8);
            let text = format!(
                "{name}: byte flipped (KEYSCOPE_EXPLAIN_SEED={seed}, position seed {position_seed:#x}, bit {bit:#04x})"
            );
            check_signed(
                env,
                stats,
                s,
                &session,
                &plan(text),
                |hash| {
                    let mut signature = case.signer.sign(hash).unwrap();
                    let at = (position_seed % signature.len() as u64) as usize;
                    signature[at] ^= bit;
                    signature
                },
                false,
            )
            .await;
        }

        // Truncated (64 bytes, 1 byte) and empty.
        for cut in [64usize, 1, 0] {
            let v = check_signed(
                env,
                stats,
                s,
                &session,
                &plan(format!("{name}: signature cut to {cut} bytes")),
                |hash| {
                    let mut signature = case.signer.sign(hash).unwrap();
                    signature.truncate(cut);
                    signature
                },
                false,
            )
            .await;
            assert_eq!(v.aa_code(), Some("AA24"), "{name}, {cut} bytes: {v}");
        }

        match &case.signer {
            // Without UP (UV only): refused.
            SessionSigner::WebAuthn(authenticator) => {
                let uv_only = authenticator.clone().with_flags(FLAG_UV);
                let v = check_signed(
                    env,
                    stats,
                    s,
                    &session,
                    &plan(format!("{name}: assertion with UV only")),
                    |hash| SessionSigner::from(uv_only).sign(hash).unwrap(),
                    false,
                )
                .await;
                expect_signature_failed(&v, SignerKind::WebAuthn, name);
            }
            // Below the threshold (one member of weight 1 of 2), and at it with each pair of members.
            SessionSigner::Multisig { members, .. } => {
                for index in 0..members.len() {
                    let v = check_signed(
                        env,
                        stats,
                        s,
                        &session,
                        &plan(format!("{name}: member {index} alone")),
                        |hash| case.signer.sign_with(hash, &[index]).unwrap(),
                        false,
                    )
                    .await;
                    expect_signature_failed(&v, SignerKind::Multisig, name);
                }
                for pair in [[0usize, 1], [1, 2], [2, 0]] {
                    let v = check_signed(
                        env,
                        stats,
                        s,
                        &session,
                        &plan(format!("{name}: members {pair:?}")),
                        |hash| case.signer.sign_with(hash, &pair).unwrap(),
                        false,
                    )
                    .await;
                    assert!(v.is_accepted(), "{name}, members {pair:?}: {v}");
                }
            }
            _ => {}
        }
    }
    // Per kind: 2 valid, another signer's, the dummy, the flips, 3 cuts; WebAuthn UV only; multisig 3 + 3.
    assert_eq!(
        stats.compared - compared,
        4 * (2 + 1 + 1 + FLIPS + 3) + 2 + 6,
        "on {version:?}"
    );
}

//! Every session signer kind through a real `EntryPoint.handleOps` on anvil, on EntryPoint v0.7 and v0.8: a session
//! whose `signer` is a secp256k1 key (the baseline), a P-256 key, a WebAuthn credential, or a 2-of-3 multisig
//! (secp256k1 + P-256 + WebAuthn members) is granted, and the SDK signs (`send_session_op` with a `SessionSigner`)
//! and sends a token transfer under it: mined, the `UserOperationEvent` a success, the tokens moved. The
//! `actualGasUsed` of each is printed. The SDK's assembly of a signature made elsewhere
//! (`prepare_unsigned_session_op_for` with the signer's public key, then `assemble`) takes a P-256 signature too, and refuses another P-256 key's
//! with the typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use keyscope::signer::signers::{DummyShape, FLAG_UP, FLAG_UV};
use keyscope::signer::{P256Key, SessionKey, SessionSigner, SignerKind, WebAuthnAuthenticator};
use keyscope::{Error, Version};
use keyscope_e2e::{
    anvil, balance, deploy_token, fixed_fees, funded_account, grant, mint_tokens, now, transfer,
    transfer_session, GWEI,
};

fn webauthn(key: P256Key) -> WebAuthnAuthenticator {
    WebAuthnAuthenticator::new(key, "keyscope.example", "https://keyscope.example")
        .with_flags(FLAG_UP | FLAG_UV)
}

/// The signers under test, by name.
fn signers() -> Vec<(&'static str, SessionSigner)> {
    let multisig = SessionSigner::multisig(
        2,
        vec![
            (1, SessionKey::generate().into()),
            (1, P256Key::generate().into()),
            (1, webauthn(P256Key::generate()).into()),
        ],
    )
    .unwrap();
    vec![
        ("secp256k1", SessionKey::generate().into()),
        ("P-256", P256Key::generate().into()),
        ("WebAuthn", webauthn(P256Key::generate()).into()),
        ("2-of-3 multisig", multisig),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_signer_kind_through_handle_ops() {
    let anvil = anvil();
    let client = keyscope_e2e::client(&anvil)
        .await
        .with_gas(fixed_fees(GWEI, 2 * GWEI));
    let token = deploy_token(&client).await;
    let mut gas = vec![];
    for (salt, version) in [(11u64, Version::V07), (12, Version::V08)] {
        let owner = SessionKey::generate();
        let account = funded_account(
            &client,
            owner.address(),
            version,
            salt,
            Some(10u128.pow(17)),
        )
        .await;
        mint_tokens(&client, token, account.address, 10_000).await;
        for (index, (name, signer)) in signers().into_iter().enumerate() {
            let recipient = Address::repeat_byte(0x60 + index as u8 + 0x10 * (salt as u8 - 11));
            let t = now(client.provider()).await;
            // A transfer session (at most 100 a call) whose signer is this signer's address.
            let mut session = transfer_session(&SessionKey::generate(), token, t);
            session.session.signer = signer.address().unwrap();
            grant(&client, &account, &owner, &session).await;

            for (round, amount) in [(0, 40u64), (1, 2)] {
                let before = balance(&client, token, recipient).await;
                let outcome = client
                    .send_session_op(
                        &account,
                        &signer,
                        &session,
                        &[transfer(token, recipient, amount)],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{name} on {version:?}: {e}"));
                assert!(outcome.success, "{name} on {version:?}: {outcome:?}");
                assert!(outcome.actual_gas_used > U256::ZERO);
                let receipt = client
                    .provider()
                    .get_transaction_receipt(outcome.tx_hash)
                    .await
                    .unwrap()
                    .expect("mined");
                assert!(
                    receipt.status(),
                    "{name} on {version:?}: handleOps reverted"
                );
                assert_eq!(
                    balance(&client, token, recipient).await,
                    before + U256::from(amount),
                    "{name} on {version:?}"
                );
                if round == 0 {
                    gas.push((version, name, outcome.actual_gas_used));
                }
            }

            // A multisig member alone (below the threshold) is refused: the EntryPoint's AA24, nothing moves.
            if let SessionSigner::Multisig { members, .. } = &signer {
                let (_, member) = &members[0];
                let before = balance(&client, token, recipient).await;
                let error = client
                    .send_session_op(&account, member, &session, &[transfer(token, recipient, 1)])
                    .await
                    .unwrap_err();
                assert!(
                    matches!(&error, Error::EntryPoint { code, .. } if code == "AA24"),
                    "{name}: {error}"
                );
                assert_eq!(balance(&client, token, recipient).await, before);
            }
        }

        // A P-256 signature made elsewhere: assembled after the SDK's check, refused when it is another key's.
        let key = P256Key::generate();
        let signer = SessionSigner::from(key);
        let t = now(client.provider()).await;
        let mut session = transfer_session(&SessionKey::generate(), token, t);
        session.session.signer = signer.address().unwrap();
        grant(&client, &account, &owner, &session).await;
        let recipient = Address::repeat_byte(0x90 + salt as u8);
        let unsigned = client
            .prepare_unsigned_session_op_for(
                &account,
                &session,
                &[transfer(token, recipient, 5)],
                &signer.key(),
                &DummyShape::default(),
            )
            .await
            .unwrap();
        assert_eq!(unsigned.signer(), signer.address().unwrap());
        let other = SessionSigner::from(P256Key::generate());
        match unsigned
            .clone()
            .assemble(&other.sign(&unsigned.user_op_hash).unwrap())
        {
            Err(Error::SessionKeySignature {
                kind,
                recovered,
                reason,
                ..
            }) => {
                assert_eq!(kind, SignerKind::P256);
                assert_eq!(recovered, None);
                assert!(reason.contains("commitment"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let signature = signer.sign(&unsigned.user_op_hash).unwrap();
        let prepared = unsigned.assemble(&signature).unwrap();
        let outcome = client.send(&prepared).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(balance(&client, token, recipient).await, U256::from(5));
    }

    for (version, name, used) in &gas {
        eprintln!("actualGasUsed {version:?} {name:>16}: {used}");
    }
    assert_eq!(gas.len(), 8);
    // Verifying more than one signature costs more than verifying one.
    for version in [Version::V07, Version::V08] {
        let of = |kind: &str| {
            gas.iter()
                .find(|(v, name, _)| *v == version && *name == kind)
                .unwrap()
                .2
        };
        assert!(of("2-of-3 multisig") > of("secp256k1"), "{gas:?}");
        assert!(of("2-of-3 multisig") > of("P-256"), "{gas:?}");
    }
}

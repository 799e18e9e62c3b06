//! The SDK's seams, end to end on anvil through the real EntryPoints: an owner that is any alloy signer (here a
//! `PrivateKeySigner`, not a `SessionKey`), an account kind supplied by the integrator (the client asks it for
//! every nonce key, `execute` encoding and owner signature), and grant-or-install of several sessions in one owner
//! operation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use alloy::primitives::{aliases::U192, Address, Bytes, Signature, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use keyscope::permissions::CompiledSession;
use keyscope::signer::SessionKey;
use keyscope::{nonce_key, AccountKind, Execution, KeyscopeAccountKind, SessionStatus, Version};
use keyscope_e2e::{anvil, balance, client, deploy_token, mint_tokens, now, transfer, SessionJson};

/// The reference account seen through an integrator's own kind: the owner's operations on nonce lane 7 instead of
/// 0 (any lane of the owner validator selects it), and a count of the `execute` encodings the client asked for.
#[derive(Debug)]
struct LaneSevenOwner {
    reference: KeyscopeAccountKind,
    executes: AtomicUsize,
}

impl AccountKind for LaneSevenOwner {
    fn nonce_key(&self, validator: Address, lane: u32) -> U192 {
        self.reference.nonce_key(validator, lane)
    }

    fn owner_nonce_key(&self) -> U192 {
        nonce_key(self.reference.owner_validator, 7)
    }

    fn owner_op_signature(&self, signature: &Signature) -> Bytes {
        self.reference.owner_op_signature(signature)
    }

    fn erc1271_hash(&self, account: Address, chain_id: u64, digest: B256) -> B256 {
        self.reference.erc1271_hash(account, chain_id, digest)
    }

    fn erc1271_signature(&self, signature: &Signature) -> Bytes {
        self.reference.erc1271_signature(signature)
    }

    fn execute(&self, calls: &[Execution]) -> Bytes {
        self.executes.fetch_add(1, Ordering::SeqCst);
        self.reference.execute(calls)
    }
}

fn session(key: &SessionKey, token: Address, now: u64, salt: u8) -> CompiledSession {
    SessionJson::new(key, now)
        .salt(salt)
        .transfer_of(token)
        .compile()
}

#[tokio::test]
async fn integrator_account_kind_and_alloy_signer_owner() {
    let anvil = anvil();
    let reference = client(&anvil).await;
    let kind = Arc::new(LaneSevenOwner {
        reference: KeyscopeAccountKind {
            owner_validator: reference.stack().owner_validator,
        },
        executes: AtomicUsize::new(0),
    });
    let client = reference.clone().with_account_kind(kind.clone());
    let owner = PrivateKeySigner::random();
    let token = deploy_token(&client).await;
    let t = now(client.provider()).await;
    let recipient = Address::repeat_byte(0x51);

    for (version, salt) in [(Version::V07, 1u64), (Version::V08, 2)] {
        // Created without the SessionKeyValidator: granting installs it, with both sessions, in one operation.
        let account = client
            .create_account_with(owner.address(), U256::from(salt), version, false)
            .await
            .unwrap();
        client
            .fund(account.address, U256::from(10u128.pow(18)))
            .await
            .unwrap();
        mint_tokens(&client, token, account.address, 100).await;
        assert!(!client
            .session_validator_installed(account.address)
            .await
            .unwrap());
        let (key_a, key_b) = (SessionKey::generate(), SessionKey::generate());
        let (a, b) = (session(&key_a, token, t, 1), session(&key_b, token, t, 2));
        let grant = client.grant_calls(
            account.address,
            &[a.session.clone(), b.session.clone()],
            false,
        );
        assert_eq!(grant.calls.len(), 1);
        assert_eq!(grant.calls[0].target, account.address);
        client
            .grant_sessions(&account, &owner, &[a.session.clone(), b.session.clone()])
            .await
            .unwrap();
        assert!(client
            .session_validator_installed(account.address)
            .await
            .unwrap());
        for id in [a.session_id(), b.session_id()] {
            assert_eq!(
                client.session_status(&account, id).await.unwrap(),
                SessionStatus::Active
            );
        }
        // The owner's operation went on the kind's lane 7; lane 0 was never used.
        let owner_validator = client.stack().owner_validator;
        let lane7 = nonce_key(owner_validator, 7);
        let lane0 = nonce_key(owner_validator, 0);
        assert_eq!(
            client.nonce(&account, lane7).await.unwrap(),
            (U256::from(lane7) << 64) + U256::from(1)
        );
        assert_eq!(
            client.nonce(&account, lane0).await.unwrap(),
            U256::from(lane0) << 64
        );

        // Installed now: a third session is granted on the validator (grantSession through the kind's execute).
        let key_c = SessionKey::generate();
        let c = session(&key_c, token, t, 3);
        let executes = kind.executes.load(Ordering::SeqCst);
        client
            .grant_sessions(&account, &owner, std::slice::from_ref(&c.session))
            .await
            .unwrap();
        assert!(kind.executes.load(Ordering::SeqCst) > executes);
        assert_eq!(
            client
                .session_status(&account, c.session_id())
                .await
                .unwrap(),
            SessionStatus::Active
        );

        // Each session key uses its session.
        let before = balance(&client, token, recipient).await;
        for (key, compiled) in [(&key_a, &a), (&key_b, &b), (&key_c, &c)] {
            let outcome = client
                .send_session_op(&account, key, compiled, &[transfer(token, recipient, 1)])
                .await
                .unwrap();
            assert!(outcome.success, "{outcome:?}");
        }
        assert_eq!(
            balance(&client, token, recipient).await,
            before + U256::from(3)
        );

        // Enable mode with the alloy signer as owner: its ERC-1271 signature is the kind's.
        let key_d = SessionKey::generate();
        let d = session(&key_d, token, t, 4);
        let op = client
            .prepare_enable_session_op(
                &account,
                &owner,
                &key_d,
                &d,
                &[transfer(token, recipient, 1)],
            )
            .await
            .unwrap();
        assert!(client.send(&op).await.unwrap().success);
        assert_eq!(
            client
                .session_status(&account, d.session_id())
                .await
                .unwrap(),
            SessionStatus::Active
        );

        // The wrong owner (another alloy signer) is refused by the account: AA24, nothing changes.
        let stranger = PrivateKeySigner::random();
        let error = client
            .revoke_session(&account, &stranger, a.session_id())
            .await
            .unwrap_err();
        assert_eq!(error.aa_code(), Some("AA24"), "{error}");
        assert_eq!(
            client
                .session_status(&account, a.session_id())
                .await
                .unwrap(),
            SessionStatus::Active
        );
    }
}

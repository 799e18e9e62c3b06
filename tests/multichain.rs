//! Multichain enable (signature mode 2) through the real EntryPoint's `handleOps`, on two anvils with different
//! chain ids: the owner signs ONCE for a session on the same account on both chains; the first session operation
//! on each chain enables the session with that chain's proof and the one signature, and later ones use it. A
//! third chain not in the tree is refused (AA24), and so is chain A's proof replayed on chain B.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, U256};
use keyscope::signer::{SessionKey, SessionSignature};
use keyscope::{Account, Client, Error, SessionStatus, Version};
use keyscope_e2e::{
    anvil_on_chain, balance, client, deploy_token, fixed_fees, funded_account, mint_tokens, now,
    transfer, transfer_session, GWEI,
};

const CHAIN_A: u64 = 71_001;
const CHAIN_B: u64 = 71_002;
const CHAIN_C: u64 = 71_003;

/// A chain with the stack, the owner's account and a token the account holds.
struct Chain {
    _anvil: AnvilInstance,
    client: Client,
    account: Account,
    token: Address,
}

async fn chain(chain_id: u64, owner: Address) -> Chain {
    let anvil = anvil_on_chain(chain_id);
    let client = client(&anvil).await.with_gas(fixed_fees(GWEI, 20 * GWEI));
    assert_eq!(client.chain_id(), chain_id);
    let account = funded_account(&client, owner, Version::V08, 7, None).await;
    let token = deploy_token(&client).await;
    mint_tokens(&client, token, account.address, 1_000).await;
    Chain {
        _anvil: anvil,
        client,
        account,
        token,
    }
}

fn refused_as_bad_signature(result: keyscope::Result<keyscope::OpOutcome>, what: &str) {
    let error: Error = match result {
        Ok(outcome) => panic!("{what}: accepted ({outcome:?})"),
        Err(error) => error,
    };
    assert_eq!(error.aa_code(), Some("AA24"), "{what}: {error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_owner_signature_enables_a_session_on_two_chains() {
    let owner = SessionKey::from_bytes(&[0x0a; 32]).unwrap();
    let key = SessionKey::from_bytes(&[0x0b; 32]).unwrap();
    let (a, b, c) = tokio::join!(
        chain(CHAIN_A, owner.address()),
        chain(CHAIN_B, owner.address()),
        chain(CHAIN_C, owner.address()),
    );
    // The same deployments everywhere: the same validator, account and token addresses, so one session.
    assert_eq!(
        a.client.stack().session_key_validator,
        b.client.stack().session_key_validator
    );
    assert_eq!(a.account.address, b.account.address);
    assert_eq!(a.account.address, c.account.address);
    assert_eq!(a.token, b.token);
    assert_eq!(a.token, c.token);
    let t = now(a.client.provider())
        .await
        .min(now(b.client.provider()).await);
    let session = transfer_session(&key, a.token, t);
    let session_id = session.session_id();

    // The owner signs once for (A, account) and (B, account), each at the account's epoch there.
    let entries = vec![
        a.client
            .multichain_entry(a.account.address, &session)
            .await
            .unwrap(),
        b.client
            .multichain_entry(b.account.address, &session)
            .await
            .unwrap(),
    ];
    let signed = a
        .client
        .sign_multichain_enable(&owner, entries)
        .await
        .unwrap();
    assert_eq!(signed.chains.len(), 2);
    let proof_a = signed
        .chain_proof(CHAIN_A, a.account.address, session_id)
        .unwrap()
        .to_vec();
    let proof_b = signed
        .chain_proof(CHAIN_B, b.account.address, session_id)
        .unwrap()
        .to_vec();
    assert_ne!(proof_a, proof_b);
    let recipient = Address::repeat_byte(0x77);
    let enable_op = |chain: &Chain, proof: Vec<alloy::primitives::B256>, amount: u64| {
        let client = chain.client.clone();
        let account = chain.account;
        let session = session.clone();
        let key = key.clone();
        let owner_signature = signed.owner_signature.clone();
        let call = transfer(chain.token, recipient, amount);
        async move {
            client
                .prepare_multichain_enable_op(
                    &account,
                    &key,
                    &session,
                    &proof,
                    &owner_signature,
                    &[call],
                )
                .await
                .unwrap()
        }
    };

    // Chain A's proof replayed on chain B: another root, a signature the owner never made (AA24).
    let replay = enable_op(&b, proof_a.clone(), 1).await;
    assert_eq!(
        SessionSignature::decode(&replay.op.signature).unwrap().mode,
        keyscope::signer::Mode::EnableMultichain {
            chain_proof: proof_a.clone(),
            owner_signature: signed.owner_signature.to_vec(),
        }
    );
    refused_as_bad_signature(b.client.send(&replay).await, "chain A's proof on chain B");
    // A third chain, not in the tree: neither proof leads to the signed root.
    for proof in [&proof_a, &proof_b] {
        let op = enable_op(&c, proof.clone(), 1).await;
        refused_as_bad_signature(c.client.send(&op).await, "a chain not in the tree");
    }
    // The explanation agrees with the chain on both refusals.
    let explained = b
        .client
        .explain(&replay.op, Version::V08, None)
        .await
        .unwrap();
    assert!(!explained.verdict.is_accepted(), "{}", explained.verdict);
    assert_eq!(
        explained
            .verdict
            .validation()
            .and_then(|v| v.owner_signature_valid),
        Some(false)
    );

    // The session enabled on A and on B by its first operation there, with the one signature.
    for (chain, proof, amount) in [(&a, &proof_a, 5u64), (&b, &proof_b, 6)] {
        assert_eq!(
            chain
                .client
                .session_status(&chain.account, session_id)
                .await
                .unwrap(),
            SessionStatus::Unknown
        );
        let op = enable_op(chain, proof.clone(), amount).await;
        let explained = chain
            .client
            .explain(&op.op, Version::V08, None)
            .await
            .unwrap();
        assert!(explained.verdict.is_accepted(), "{}", explained.verdict);
        let outcome = chain.client.send(&op).await.unwrap();
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(
            chain
                .client
                .session_status(&chain.account, session_id)
                .await
                .unwrap(),
            SessionStatus::Active
        );
        assert_eq!(
            balance(&chain.client, chain.token, recipient).await,
            U256::from(amount)
        );
        // Then used in use mode.
        let op = chain
            .client
            .prepare_session_op(
                &chain.account,
                &key,
                &session,
                &[transfer(chain.token, recipient, 1)],
            )
            .await
            .unwrap();
        assert!(chain.client.send(&op).await.unwrap().success);
        assert_eq!(
            balance(&chain.client, chain.token, recipient).await,
            U256::from(amount + 1)
        );
    }
    // Still nothing on the third chain.
    assert_eq!(
        c.client
            .session_status(&c.account, session_id)
            .await
            .unwrap(),
        SessionStatus::Unknown
    );
}

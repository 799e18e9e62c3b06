//! Multichain enable (signature mode 2): the owner signs once, EIP-712 `EnableSessions(chainsRoot)` in the
//! validator's chain-less domain, over a tree of (chain id, account, epoch, session id) entries; the first session
//! operation on each chain carries that chain's proof and the one signature
//! ([`Client::prepare_multichain_enable_op`]).
//!
//! It needs the validator at the same address on every chain (the stack's deterministic deployment gives that)
//! and an account whose ERC-1271 checks the digest as given (the reference account): an account kind that wraps
//! the digest in a chain-bound hash (Kernel) is refused with [`Error::MultichainChainBound`].

use alloy::primitives::{Address, Bytes, B256};
use keyscope_bindings::SessionKeyValidator;
use keyscope_permissions::CompiledSession;
use keyscope_signer::{MultichainEnable, MultichainEntry};
use serde::{Deserialize, Serialize};

use crate::account::{AccountKind, OwnerSigner};
use crate::client::Client;
use crate::error::{Error, Result};

/// One entry of a signed multichain enable, with its proof: what the operation on that chain carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultichainChainProof {
    /// The chain id.
    pub chain_id: u64,
    /// The account on that chain.
    pub account: Address,
    /// The account's epoch on that chain when the owner signed (the signature is void on that chain once the
    /// epoch moves).
    pub epoch: u64,
    /// The sorted-pair Merkle proof of the entry's leaf.
    pub proof: Vec<B256>,
}

/// The owner's one signature enabling a session on several chains, with every chain's proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMultichainEnable {
    /// The `SessionKeyValidator` (the same address on every chain).
    pub validator: Address,
    /// The session enabled.
    pub session_id: B256,
    /// The root of the entries' tree (`chainsRoot`).
    pub chains_root: B256,
    /// The EIP-712 digest of `EnableSessions(chainsRoot)` the owner signed.
    pub digest: B256,
    /// The owner's signature as the accounts' ERC-1271 `isValidSignature(digest, ·)` takes it.
    pub owner_signature: Bytes,
    /// The entries in the order given, each with its proof.
    pub chains: Vec<MultichainChainProof>,
}

impl SignedMultichainEnable {
    /// The entry of `account` on chain `chain_id`, if the owner signed one.
    pub fn entry(&self, chain_id: u64, account: Address) -> Option<&MultichainChainProof> {
        self.chains
            .iter()
            .find(|c| c.chain_id == chain_id && c.account == account)
    }

    /// The proof of `account` on chain `chain_id` for session `session_id`, or
    /// [`Error::MultichainEntryMissing`].
    pub fn chain_proof(
        &self,
        chain_id: u64,
        account: Address,
        session_id: B256,
    ) -> Result<&[B256]> {
        match self.entry(chain_id, account) {
            Some(entry) if self.session_id == session_id => Ok(&entry.proof),
            _ => Err(Error::MultichainEntryMissing {
                chain_id,
                account,
                session_id,
            }),
        }
    }
}

/// Signs a multichain enable of the `entries` (see [`MultichainEntry`]; each with the account's epoch on its
/// chain) for the validator at `validator`, once, with `owner`, as accounts of `kind` check it. All entries must
/// name the same session. [`Error::MultichainChainBound`] when `kind` wraps the digest differently per chain or
/// account (no single signature serves them all).
pub async fn sign_multichain_enable(
    owner: &OwnerSigner,
    kind: &dyn AccountKind,
    validator: Address,
    entries: Vec<MultichainEntry>,
) -> Result<SignedMultichainEnable> {
    let tree = MultichainEnable::new(entries)?;
    let session_id = tree.entries()[0].session_id;
    if let Some(other) = tree.entries().iter().find(|e| e.session_id != session_id) {
        return Err(Error::MultichainEntryMissing {
            chain_id: other.chain_id,
            account: other.account,
            session_id,
        });
    }
    let digest = tree.digest(validator);
    let mut hash = None;
    for entry in tree.entries() {
        let wrapped = kind.erc1271_hash(entry.account, entry.chain_id, digest);
        if wrapped != digest || hash.is_some_and(|h| h != wrapped) {
            return Err(Error::MultichainChainBound {
                chain_id: entry.chain_id,
                account: entry.account,
            });
        }
        hash = Some(wrapped);
    }
    let signature = owner.sign_hash(&digest).await?;
    let owner_signature = kind.erc1271_signature(&signature);
    let chains = tree
        .entries()
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            Ok(MultichainChainProof {
                chain_id: entry.chain_id,
                account: entry.account,
                epoch: entry.epoch,
                proof: tree.proof(index)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SignedMultichainEnable {
        validator,
        session_id,
        chains_root: tree.root(),
        digest,
        owner_signature,
        chains,
    })
}

impl Client {
    /// The multichain entry of `session` on `account` on this client's chain, at the account's current epoch
    /// (`epochOf`).
    pub async fn multichain_entry(
        &self,
        account: Address,
        session: &CompiledSession,
    ) -> Result<MultichainEntry> {
        let epoch = SessionKeyValidator::new(self.stack().session_key_validator, self.provider())
            .epochOf(account)
            .call()
            .await?;
        Ok(MultichainEntry::new(
            self.chain_id(),
            account,
            epoch,
            session.session_id(),
        ))
    }

    /// [`sign_multichain_enable`] with this client's validator and account kind: `owner` signs once for the
    /// `entries` (e.g. [`Client::multichain_entry`] of a client on each chain).
    pub async fn sign_multichain_enable(
        &self,
        owner: &OwnerSigner,
        entries: Vec<MultichainEntry>,
    ) -> Result<SignedMultichainEnable> {
        sign_multichain_enable(
            owner,
            self.account_kind(),
            self.stack().session_key_validator,
            entries,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloy::signers::local::PrivateKeySigner;
    use alloy::signers::SignerSync;

    use super::*;
    use crate::account::KeyscopeAccountKind;

    #[tokio::test]
    async fn one_signature_for_every_entry() {
        let owner = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
        let kind = KeyscopeAccountKind {
            owner_validator: Address::repeat_byte(0x42),
        };
        let validator = Address::repeat_byte(0x55);
        let session_id = B256::repeat_byte(0x33);
        let entries: Vec<_> = [(1u64, 0x01u8, 0u64), (10, 0x02, 3), (8453, 0x01, 0)]
            .iter()
            .map(|&(chain, account, epoch)| {
                MultichainEntry::new(chain, Address::repeat_byte(account), epoch, session_id)
            })
            .collect();
        let signed = sign_multichain_enable(&owner, &kind, validator, entries.clone())
            .await
            .unwrap();
        let tree = MultichainEnable::new(entries.clone()).unwrap();
        assert_eq!(signed.chains_root, tree.root());
        assert_eq!(
            signed.digest,
            keyscope_signer::multichain_digest(validator, tree.root())
        );
        let expected = owner.sign_hash_sync(&signed.digest).unwrap();
        assert_eq!(signed.owner_signature, kind.erc1271_signature(&expected));
        for entry in &entries {
            let proof = signed
                .chain_proof(entry.chain_id, entry.account, session_id)
                .unwrap();
            let root = keyscope_permissions::merkle::process_proof(entry.leaf(), proof);
            assert_eq!(root, signed.chains_root);
        }
        assert!(matches!(
            signed.chain_proof(137, entries[0].account, session_id),
            Err(Error::MultichainEntryMissing { .. })
        ));
        assert!(signed
            .chain_proof(1, entries[0].account, B256::ZERO)
            .is_err());
        // the JSON form round-trips
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedMultichainEnable>(&json).unwrap(),
            signed
        );
        // mixed sessions are refused
        let mut mixed = entries;
        mixed[1].session_id = B256::ZERO;
        assert!(sign_multichain_enable(&owner, &kind, validator, mixed)
            .await
            .is_err());
    }
}

//! Multichain enable (the validator's signature mode 2) for clients in any language:
//! `keyscope_prepareMultichainEnable` answers what the owner signs once for a session on several chains (the
//! EIP-712 digest and typed data, and every chain's proof); `keyscope_prepareSessionOperation` with
//! `multichainEnable` builds the first session operation on this chain, which grants the session with that one
//! signature and uses it at once. The service never holds the owner's key.

use keyscope::alloy::primitives::{Address, Bytes, Signature, B256, U256};
use keyscope::bindings::{KeyscopeAccount, SessionKeyValidator};
use keyscope::permissions::{merkle, CompiledSession};
use keyscope::signer::wire::{DOMAIN_NAME, DOMAIN_VERSION};
use keyscope::signer::{multichain_digest, MultichainEnable, MultichainEntry};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::Service;
use crate::error::{join_path, Error, Result};
use crate::json::{check_len, from_value, hex_quantity, no_unknown, Quantity};

/// Most (chain, account) entries one multichain enable may name.
pub(crate) const MAX_MULTICHAIN_ENTRIES: usize = 64;
/// Most nodes of a chain's proof (the wire format's `uint8` length).
const MAX_PROOF_NODES: usize = 255;
/// ERC-1271's magic value, `isValidSignature`'s answer for a valid signature.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// One entry of `keyscope_prepareMultichainEnable`'s `chains`: `{chainId, account, epoch?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryInput {
    chain_id: Quantity,
    account: Address,
    /// The account's `epochOf` on that chain; read from the node for this service's chain.
    #[serde(default)]
    epoch: Option<Quantity>,
}

/// One chain's proof, as `keyscope_prepareMultichainEnable` answers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChainProofInput {
    chain_id: Quantity,
    account: Address,
    epoch: Quantity,
    proof: Vec<B256>,
}

/// `keyscope_prepareSessionOperation`'s `multichainEnable`: the owner's signature and the chains' proofs (the
/// answer of `keyscope_prepareMultichainEnable` with `ownerSignature` added is accepted as it is: its other
/// members are checked against the proof when present).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnablingInput {
    owner_signature: Bytes,
    chains: Vec<ChainProofInput>,
    #[serde(default)]
    session_id: Option<B256>,
    #[serde(default)]
    chains_root: Option<B256>,
    #[serde(default)]
    digest: Option<B256>,
    #[serde(default)]
    validator: Option<Address>,
    #[serde(default)]
    typed_data: Option<Value>,
}

/// What a session operation in multichain enable mode carries: this chain's proof and the owner's signature as
/// the account's ERC-1271 takes it.
pub(crate) struct MultichainEnabling {
    pub chain_proof: Vec<B256>,
    pub owner_signature: Bytes,
}

/// Whether `given` is [`typed_data`]`(validator, chains_root)` up to how a client writes its values (an address in
/// any case, a hash's hex in any case).
fn same_typed_data(given: &Value, validator: Address, chains_root: B256) -> bool {
    let expected = typed_data(validator, chains_root);
    let address = |v: &Value| from_value::<Address>(v.clone(), "").ok();
    let hash = |v: &Value| from_value::<B256>(v.clone(), "").ok();
    given["types"] == expected["types"]
        && given["primaryType"] == expected["primaryType"]
        && given["domain"]["name"] == expected["domain"]["name"]
        && given["domain"]["version"] == expected["domain"]["version"]
        && given["domain"].as_object().map(Map::len) == Some(3)
        && address(&given["domain"]["verifyingContract"]) == Some(validator)
        && given["message"].as_object().map(Map::len) == Some(1)
        && hash(&given["message"]["chainsRoot"]) == Some(chains_root)
}

/// The EIP-712 typed data whose signing hash is the multichain digest of `chains_root` for `validator`
/// (`eth_signTypedData_v4` input).
fn typed_data(validator: Address, chains_root: B256) -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "version", "type": "string" },
                { "name": "verifyingContract", "type": "address" }
            ],
            "EnableSessions": [{ "name": "chainsRoot", "type": "bytes32" }]
        },
        "primaryType": "EnableSessions",
        "domain": { "name": DOMAIN_NAME, "version": DOMAIN_VERSION, "verifyingContract": validator },
        "message": { "chainsRoot": chains_root }
    })
}

impl Service {
    /// The current `epochOf(account)` on this chain.
    async fn epoch_of(&self, account: Address) -> Result<u64> {
        let validator = self.client().stack().session_key_validator;
        Ok(
            SessionKeyValidator::new(validator, self.client().provider())
                .epochOf(account)
                .call()
                .await
                .map_err(keyscope::Error::from)?,
        )
    }

    /// `keyscope_prepareMultichainEnable`: `{session, chains: [{chainId, account, epoch?}, …]}` → what the owner
    /// signs once to enable `session` (a session id this service stored for an account of this chain among
    /// `chains`, or a session record `{spec, …}`) on every entry: `digest` (raw, 65-byte ECDSA, no EIP-191
    /// prefix) or, the same signature, `typedData` through `eth_signTypedData_v4`; and each entry's `proof`.
    /// `epoch` is the account's `epochOf` on that chain (read from the node for this chain, required for others).
    /// Nothing is stored: the session is, once its first operation here is prepared with the owner's signature.
    pub(crate) async fn prepare_multichain_enable(
        &self,
        mut params: Map<String, Value>,
    ) -> Result<Value> {
        let session = params
            .remove("session")
            .ok_or_else(|| Error::invalid("session", "required"))?;
        let chains = params
            .remove("chains")
            .ok_or_else(|| Error::invalid("chains", "required"))?;
        no_unknown(&params)?;
        let Value::Array(chains) = chains else {
            return Err(Error::invalid(
                "chains",
                "expected an array of {chainId, account, epoch?}",
            ));
        };
        if chains.is_empty() {
            return Err(Error::invalid("chains", "at least one entry"));
        }
        check_len("chains", chains.len(), MAX_MULTICHAIN_ENTRIES, "entries")?;
        let inputs = chains
            .into_iter()
            .enumerate()
            .map(|(i, value)| from_value::<EntryInput>(value, &format!("chains[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let here = self.chain_id();
        let compiled = match session {
            Value::String(_) => {
                // A stored session: stored per account, so looked up for this chain's accounts among the entries.
                let id: B256 = from_value(session, "session")?;
                let locals = inputs
                    .iter()
                    .filter(|e| e.chain_id.0 == U256::from(here))
                    .map(|e| e.account);
                let mut found = None;
                for account in locals {
                    if let Some(stored) = self.remembered(account, &[id]).await?.remove(&id) {
                        found = Some(stored.compiled.clone());
                        break;
                    }
                }
                found.ok_or_else(|| {
                    Error::invalid(
                        "session",
                        format!(
                            "no session {id} is stored by this service for an account of chain {here} among chains: \
                             give the session record ({{spec, …}})"
                        ),
                    )
                })?
            }
            record => self.session_param(Address::ZERO, record).await?.1,
        };
        let session_id = compiled.session_id();
        let mut entries = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.into_iter().enumerate() {
            let field = format!("chains[{i}]");
            let chain_id = input.chain_id.to_u64(&join_path(&field, "chainId"))?;
            let given = match input.epoch {
                Some(epoch) => Some(epoch.to_u64(&join_path(&field, "epoch"))?),
                None => None,
            };
            let epoch = if chain_id == here {
                let current = self.epoch_of(input.account).await?;
                if let Some(given) = given.filter(|&given| given != current) {
                    return Err(Error::invalid(
                        join_path(&field, "epoch"),
                        format!(
                            "{given}: the account's epoch on this chain is {current} (omit it to use the current one)"
                        ),
                    ));
                }
                current
            } else {
                given.ok_or_else(|| {
                    Error::invalid(
                        join_path(&field, "epoch"),
                        format!(
                            "required: the account's epochOf on chain {chain_id} (this service reads only chain {here}'s)"
                        ),
                    )
                })?
            };
            entries.push(MultichainEntry::new(
                chain_id,
                input.account,
                epoch,
                session_id,
            ));
        }
        let tree = MultichainEnable::new(entries)
            .map_err(|error| Error::invalid("chains", error.to_string()))?;
        let validator = self.client().stack().session_key_validator;
        let digest = tree.digest(validator);
        let kind = self.client().account_kind();
        for (i, entry) in tree.entries().iter().enumerate() {
            if kind.erc1271_hash(entry.account, entry.chain_id, digest) != digest {
                return Err(Error::invalid(
                    format!("chains[{i}]"),
                    format!(
                        "{} wraps ERC-1271 digests in a per-chain hash, so no one signature serves several chains: \
                         grant the session on each chain (keyscope_createSessions)",
                        entry.account
                    ),
                ));
            }
        }
        let mut answer_chains = Vec::with_capacity(tree.entries().len());
        for (index, entry) in tree.entries().iter().enumerate() {
            let proof = tree
                .proof(index)
                .map_err(|error| Error::Internal(error.to_string()))?;
            answer_chains.push(json!({
                "chainId": hex_quantity(entry.chain_id),
                "account": entry.account,
                "epoch": hex_quantity(entry.epoch),
                "proof": proof,
            }));
        }
        Ok(json!({
            "validator": validator,
            "sessionId": session_id,
            "chainsRoot": tree.root(),
            "digest": digest,
            "typedData": typed_data(validator, tree.root()),
            "chains": answer_chains,
        }))
    }

    /// Reads `keyscope_prepareSessionOperation`'s `multichainEnable` for `session` on `account` of this chain:
    /// this chain's entry and proof (checked to lead to `chainsRoot` and `digest` when those are given), at the
    /// account's current epoch, and the owner's 65-byte signature of the digest wrapped as the account's ERC-1271
    /// takes it.
    pub(crate) async fn multichain_enabling(
        &self,
        value: Value,
        account: Address,
        session: &CompiledSession,
    ) -> Result<MultichainEnabling> {
        const FIELD: &str = "multichainEnable";
        let input: EnablingInput = from_value(value, FIELD)?;
        let session_id = session.session_id();
        if let Some(given) = input.session_id.filter(|&id| id != session_id) {
            return Err(Error::invalid(
                join_path(FIELD, "sessionId"),
                format!("{given} is not the operation's session ({session_id})"),
            ));
        }
        let validator = self.client().stack().session_key_validator;
        if let Some(given) = input.validator.filter(|&v| v != validator) {
            return Err(Error::invalid(
                join_path(FIELD, "validator"),
                format!("{given} is not this chain's SessionKeyValidator ({validator})"),
            ));
        }
        let here = self.chain_id();
        check_len(
            &join_path(FIELD, "chains"),
            input.chains.len(),
            MAX_MULTICHAIN_ENTRIES,
            "entries",
        )?;
        let mut found = None;
        for (i, chain) in input.chains.into_iter().enumerate() {
            let field = format!("{FIELD}.chains[{i}]");
            if chain.chain_id.to_u64(&join_path(&field, "chainId"))? == here
                && chain.account == account
            {
                found = Some((chain, field));
                break;
            }
        }
        let Some((chain, field)) = found else {
            return Err(Error::invalid(
                join_path(FIELD, "chains"),
                format!("no entry for {account} on chain {here}: the owner's signature does not enable it here"),
            ));
        };
        check_len(
            &join_path(&field, "proof"),
            chain.proof.len(),
            MAX_PROOF_NODES,
            "nodes",
        )?;
        let epoch = chain.epoch.to_u64(&join_path(&field, "epoch"))?;
        let current = self.epoch_of(account).await?;
        if epoch != current {
            return Err(Error::invalid(
                join_path(&field, "epoch"),
                format!(
                    "the owner signed for epoch {epoch}; {account}'s epoch on this chain is now {current} (all its \
                     sessions were revoked since): the signature is void here, the owner signs again"
                ),
            ));
        }
        let leaf = MultichainEntry::new(here, account, epoch, session_id).leaf();
        let root = merkle::process_proof(leaf, &chain.proof);
        if let Some(given) = input.chains_root.filter(|&r| r != root) {
            return Err(Error::invalid(
                join_path(&field, "proof"),
                format!("leads to {root}, not to chainsRoot {given}"),
            ));
        }
        let digest = multichain_digest(validator, root);
        if let Some(given) = input.digest.filter(|&d| d != digest) {
            return Err(Error::invalid(
                join_path(FIELD, "digest"),
                format!("{given} is not the digest of this entry's tree ({digest})"),
            ));
        }
        if let Some(given) = &input.typed_data {
            if !same_typed_data(given, validator, root) {
                return Err(Error::invalid(
                    join_path(FIELD, "typedData"),
                    "not the typed data of this entry's tree (another domain, type or chainsRoot): send \
                     keyscope_prepareMultichainEnable's answer unchanged",
                ));
            }
        }
        let signature = Signature::from_raw(&input.owner_signature).map_err(|error| {
            Error::invalid(
                join_path(FIELD, "ownerSignature"),
                format!(
                    "expected the owner's 65-byte ECDSA signature of the digest (raw, or eth_signTypedData_v4 of \
                     typedData): {error}"
                ),
            )
        })?;
        let owner_signature = self.client().account_kind().erc1271_signature(&signature);
        // The account's own ERC-1271 check, as the validator makes it: a signature of another digest or by another
        // key is named here rather than failing the operation later (AA24).
        let answer = KeyscopeAccount::new(account, self.client().provider())
            .isValidSignature(digest, owner_signature.clone())
            .from(validator)
            .call()
            .await;
        if !answer.is_ok_and(|magic| magic.0 == ERC1271_MAGIC) {
            return Err(Error::invalid(
                join_path(FIELD, "ownerSignature"),
                format!(
                    "{account}'s ERC-1271 check refuses it for digest {digest}: the owner signs that digest (raw, or \
                     typedData through eth_signTypedData_v4)"
                ),
            ));
        }
        Ok(MultichainEnabling {
            chain_proof: chain.proof,
            owner_signature,
        })
    }
}

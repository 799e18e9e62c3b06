//! Chain interaction: [`Client::explain`] reads, through the bindings, the state the validator would read for
//! an operation, at one block, and evaluates the operation against it; [`Client::explain_message_signature`] does
//! the same for a session key's message signature (`isValidSignatureWithSender`).

use std::collections::{BTreeMap, BTreeSet};

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{aliases::U48, Address, B256, U256};
use keyscope_bindings::session_key_validator::SessionKeyValidator;
use keyscope_bindings::KeyscopeAccount;
use keyscope_signer::PackedUserOperation;

use super::{
    evaluate, is_valid_signature, machine, state_keys, AccountDomain, ExplainInput, Explanation,
    MessageExplanation, MessageInput, PeriodSpent, SessionState, StateKeys, Usage,
};
use crate::client::{Client, SessionStatus};
use crate::error::Result;
use crate::stack::Version;

/// ERC-1271 magic value (`_ERC1271_MAGIC`).
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

impl Client {
    /// Explains what the EntryPoint of `version` would make of `op` at time `now` (default: the latest block's
    /// timestamp, which is what an `eth_call` simulation sees; an operation is included in a later block), without
    /// sending anything: reads the validator's state for the operation at the latest block (`isInitialized`,
    /// `epochOf`, `sessionStatus`, `usageOf` for each rate- or usage-limited permission, `spentOf` for each asset
    /// with a cumulative limit, `periodSpentOf` for each (asset, period length, start) of an allowance per period,
    /// `feesChargedOf` for a session with a fee budget, `hasRevokedPermissions` and, when
    /// the owner revoked some permission of the session, `permissionRevoked` for the leaf of each call, and, in
    /// enable mode, the account's ERC-1271 answer to the owner's signature) and runs [`evaluate`].
    pub async fn explain(
        &self,
        op: &PackedUserOperation,
        version: Version,
        now: Option<u64>,
    ) -> Result<Explanation> {
        let block = self.latest_header().await?;
        let number = block.number;
        let now = now.unwrap_or(block.timestamp);
        let user_op_hash = self
            .stack()
            .entry_point(version)
            .user_op_hash(op, self.chain_id())?;
        let validator = self.stack().session_key_validator;
        let keys = state_keys(op, validator);
        let state = self.read_session_state(op.sender, &keys, number).await?;
        let verdict = evaluate(&ExplainInput {
            op,
            user_op_hash,
            validator,
            version,
            now,
            state: &state,
        });
        Ok(Explanation {
            verdict,
            state,
            session_id: keys.session_id,
            user_op_hash,
            block: number,
            now,
        })
    }

    /// Explains what the `SessionKeyValidator` answers when `account` asks it about a session key's message
    /// signature, `isValidSignatureWithSender(_, hash, data)` (the account's ERC-1271 `isValidSignature(hash,
    /// validator ‖ data)` forwards it so), at the latest block: reads `isInitialized`, `epochOf`, and for the session
    /// `data` names `sessionStatus`, `hasRevokedPermissions` and, when the owner revoked some permission of it,
    /// `permissionRevoked` of the typed-data permission's leaf, the account's ERC-5267 `eip712Domain()` and the
    /// block's timestamp, then runs [`is_valid_signature`].
    pub async fn explain_message_signature(
        &self,
        account: Address,
        hash: B256,
        data: &[u8],
    ) -> Result<MessageExplanation> {
        let block = self.latest_header().await?;
        let number = block.number;
        let now = block.timestamp;
        let at = BlockId::Number(BlockNumberOrTag::Number(number));
        let (session_id, leaf) = machine::message_keys(data);
        let keys = StateKeys {
            session_id,
            revocation_leaves: leaf.into_iter().collect(),
            ..StateKeys::default()
        };
        let state = self.read_session_state(account, &keys, number).await?;
        let domain = KeyscopeAccount::new(account, self.provider().clone())
            .eip712Domain()
            .block(at)
            .call()
            .await;
        let account_domain = match domain {
            Ok(domain) => Some(AccountDomain {
                name: domain.name,
                version: domain.version,
                chain_id: domain.chainId,
                verifying_contract: domain.verifyingContract,
                salt: domain.salt,
            }),
            // The verifier's call fails: the account reverts (an error response of the node), has no code or
            // returns what does not decode. Anything else is the node's failure.
            Err(alloy::contract::Error::TransportError(error))
                if error.as_error_resp().is_none() =>
            {
                return Err(alloy::contract::Error::TransportError(error).into())
            }
            Err(_) => None,
        };
        let result = is_valid_signature(&MessageInput {
            account,
            validator: self.stack().session_key_validator,
            hash,
            data,
            now,
            chain_id: self.chain_id(),
            account_domain: account_domain.as_ref(),
            state: &state,
        });
        Ok(MessageExplanation {
            result,
            state,
            account_domain,
            block: number,
            now,
        })
    }

    /// The validator's state for `account` and the slots in `keys`, at block `number`.
    async fn read_session_state(
        &self,
        account: Address,
        keys: &StateKeys,
        number: u64,
    ) -> Result<SessionState> {
        let at = BlockId::Number(BlockNumberOrTag::Number(number));
        let validator_address = self.stack().session_key_validator;
        let validator = SessionKeyValidator::new(validator_address, self.provider().clone());
        let installed = validator.isInitialized(account).block(at).call().await?;
        let epoch = validator.epochOf(account).block(at).call().await?;
        let mut state = SessionState {
            installed,
            epoch,
            status: SessionStatus::Unknown,
            owner_signature_valid: false,
            usage: BTreeMap::new(),
            spent: BTreeMap::new(),
            period_spent: BTreeMap::new(),
            fees_charged: U256::ZERO,
            permissions_revoked: false,
            revoked: BTreeSet::new(),
        };
        let Some(session_id) = keys.session_id else {
            return Ok(state);
        };
        let status = validator
            .sessionStatus(account, session_id)
            .block(at)
            .call()
            .await?;
        state.status = SessionStatus::from_raw(status);
        if keys.fees_charged {
            state.fees_charged = validator
                .feesChargedOf(account, session_id)
                .block(at)
                .call()
                .await?;
        }
        state.permissions_revoked = validator
            .hasRevokedPermissions(account, session_id)
            .block(at)
            .call()
            .await?;
        if state.permissions_revoked {
            for leaf in &keys.revocation_leaves {
                let revoked = validator
                    .permissionRevoked(account, session_id, *leaf)
                    .block(at)
                    .call()
                    .await?;
                if revoked {
                    state.revoked.insert(*leaf);
                }
            }
        }
        for leaf in &keys.leaves {
            let usage = validator
                .usageOf(account, session_id, *leaf)
                .block(at)
                .call()
                .await?;
            state.usage.insert(
                *leaf,
                Usage {
                    uses: usage.uses,
                    window: usage.window,
                    window_uses: usage.windowUses,
                },
            );
        }
        for asset in &keys.assets {
            let spent = validator
                .spentOf(account, session_id, *asset)
                .block(at)
                .call()
                .await?;
            state.spent.insert(*asset, spent);
        }
        for key in &keys.periods {
            // the keys come from uint48 fields of the permission: they fit
            let spent = validator
                .periodSpentOf(
                    account,
                    session_id,
                    key.asset,
                    U48::saturating_from(key.interval),
                    U48::saturating_from(key.start),
                )
                .block(at)
                .call()
                .await?;
            state.period_spent.insert(
                *key,
                PeriodSpent {
                    period: spent.period,
                    spent: spent.spent,
                },
            );
        }
        if let Some(owner_signature) = &keys.owner_signature {
            let digest = match &keys.chain_proof {
                Some(proof) => multichain_enable_digest(
                    validator_address,
                    self.chain_id(),
                    account,
                    epoch,
                    session_id,
                    proof,
                ),
                None => keyscope_signer::enable_digest(
                    validator_address,
                    self.chain_id(),
                    account,
                    epoch,
                    session_id,
                ),
            };
            let answer = KeyscopeAccount::new(account, self.provider().clone())
                .isValidSignature(digest, owner_signature.clone())
                .from(validator_address)
                .block(at)
                .call()
                .await;
            state.owner_signature_valid = match answer {
                Ok(magic) => magic.0 == ERC1271_MAGIC,
                // The validator's try/catch turns a revert into "invalid".
                Err(error) if error.as_revert_data().is_some() => false,
                Err(error) => return Err(error.into()),
            };
        }
        Ok(state)
    }
}

/// `_multichainDigestOf`: the digest of `EnableSessions(chainsRoot)` in the validator's domain without chain id
/// (`_multichainDigest`), where `chainsRoot` is the root `proof` leads to from this chain's leaf
/// (`_multichainLeaf`). A proof of another chain's leaf leads to another root, whose digest the owner did not sign.
pub(super) fn multichain_enable_digest(
    validator: Address,
    chain_id: u64,
    account: Address,
    epoch: u64,
    session_id: B256,
    proof: &[B256],
) -> B256 {
    let leaf = keyscope_signer::multichain_leaf(chain_id, account, epoch, session_id);
    let root = keyscope_permissions::merkle::process_proof(leaf, proof);
    keyscope_signer::multichain_digest(validator, root)
}

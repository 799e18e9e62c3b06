//! Message signatures by a session key: EIP-712 typed data the session signs for the account (ERC-1271 through
//! ERC-7739's nested `TypedDataSign`), under one of its typed-data permissions ([`keyscope_signer::message`]).

use alloy::primitives::{Address, Bytes};
use keyscope_bindings::KeyscopeAccount;
use keyscope_permissions::CompiledSession;
use keyscope_signer::message::{AccountDomain, MessageSignature, TypedData, TypedDataMessage};
use keyscope_signer::SignsSessions;

use super::Client;
use crate::error::{Error, Result};

/// The account's ERC-1271 signature of `typed_data` by the session of `compiled`, for the account whose ERC-5267
/// domain is `account` and the `SessionKeyValidator` at `validator`: `validator ‖ ERC-7739 envelope`, what the app
/// passes to `isValidSignature(typedDataHash, signature)` on the account.
///
/// The permission is the session's typed-data leaf for the message ([`TypedDataMessage::find_permission`]): its
/// `target` the typed data's verifying contract and its rule 0 the contents' type hash, the first whose rules hold
/// on the message if several are; its Merkle proof comes from the compiled tree. [`Error::NoTypedDataPermission`]
/// when the session has none; the signer's and the encoding's errors as [`Error::Signer`]. Nothing is checked on
/// chain: the validator still checks the session's state, its window and the permission's rules.
pub fn sign_typed_data_for_session(
    validator: Address,
    account: &AccountDomain,
    compiled: &CompiledSession,
    typed_data: &TypedData,
    signer: &impl SignsSessions,
) -> Result<Bytes> {
    let message = TypedDataMessage::from_typed_data(typed_data)?;
    let index = message
        .find_permission(&compiled.permissions)
        .ok_or_else(|| Error::NoTypedDataPermission {
            session_id: compiled.session_id(),
            verifying_contract: message.app_domain.verifying_contract(),
            type_hash: message.contents_type_hash(),
        })?;
    let permission = compiled.permissions[index].clone();
    let proof = compiled.proof(index)?;
    let signature = MessageSignature::new(compiled.session.clone(), permission, proof, message)
        .sign(signer, account)?;
    Ok(signature.account_signature(validator)?.into())
}

impl Client {
    /// The account's ERC-5267 EIP-712 domain, read from its `eip712Domain()`: what ERC-7739's `TypedDataSign` binds
    /// a message signature to. For an account other than the reference `KeyscopeAccount`, pass it to
    /// [`sign_typed_data_for_session`]. The validator refuses an account whose domain is not its own on this chain
    /// (`verifyingContract` the account, `chainId` the chain's).
    pub async fn account_domain(&self, account: Address) -> Result<AccountDomain> {
        let domain = KeyscopeAccount::new(account, self.provider.clone())
            .eip712Domain()
            .call()
            .await?;
        Ok(AccountDomain {
            name: domain.name,
            version: domain.version,
            chain_id: domain.chainId,
            verifying_contract: domain.verifyingContract,
            salt: domain.salt,
        })
    }

    /// [`sign_typed_data_for_session`] for `account`, a reference `KeyscopeAccount` on the client's chain
    /// (ERC-5267 domain `("KeyscopeAccount", "1", chainId, account, 0)`), with the client's `SessionKeyValidator`.
    /// `signer` is the session's signer, of any kind (a secp256k1 [`keyscope_signer::SessionKey`] or any
    /// [`keyscope_signer::SessionSigner`]). No call to the node.
    pub fn sign_typed_data_for_session(
        &self,
        account: Address,
        compiled: &CompiledSession,
        typed_data: &TypedData,
        signer: &impl SignsSessions,
    ) -> Result<Bytes> {
        sign_typed_data_for_session(
            self.stack.session_key_validator,
            &AccountDomain::keyscope_account(self.chain_id, account),
            compiled,
            typed_data,
            signer,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use alloy::primitives::{address, keccak256};
    use keyscope_permissions::{ArgRule, Permission, PermissionTree, RuleOperator, Session};
    use keyscope_signer::{verify_session_signature, P256Key, SessionSigner};

    use super::*;

    const BOOK: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    const ACCOUNT: Address = address!("1111111111111111111111111111111111111111");
    const VALIDATOR: Address = address!("2222222222222222222222222222222222222222");

    fn typed_data(verifying_contract: Address) -> TypedData {
        serde_json::from_value(serde_json::json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "verifyingContract", "type": "address" }
                ],
                "Cancel": [{ "name": "nonce", "type": "uint256" }]
            },
            "primaryType": "Cancel",
            "domain": { "name": "Book", "verifyingContract": verifying_contract.to_string() },
            "message": { "nonce": "7" }
        }))
        .unwrap()
    }

    fn compiled(signer: Address) -> CompiledSession {
        let call = Permission {
            target: BOOK,
            selector: [1, 2, 3, 4].into(),
            ..Default::default()
        };
        let typed = Permission {
            target: BOOK,
            flags: keyscope_permissions::abi::FLAG_TYPED_DATA,
            rules: vec![ArgRule {
                operator: RuleOperator::Eq as u8,
                argIndex: 0,
                operands: vec![keccak256("Cancel(uint256 nonce)")],
            }],
            ..Default::default()
        };
        let permissions = vec![call, typed];
        let tree = PermissionTree::from_permissions(&permissions).unwrap();
        CompiledSession {
            session: Session {
                signer,
                permissionsRoot: tree.root(),
                ..Default::default()
            },
            permissions,
            tree,
            warnings: vec![],
        }
    }

    #[test]
    fn signs_with_the_sessions_typed_data_leaf() {
        let signer = SessionSigner::from(P256Key::generate());
        let compiled = compiled(signer.address().unwrap());
        let account = AccountDomain::keyscope_account(31337, ACCOUNT);
        let typed = typed_data(BOOK);
        let signature =
            sign_typed_data_for_session(VALIDATOR, &account, &compiled, &typed, &signer).unwrap();
        assert_eq!(&signature[..20], VALIDATOR.as_slice());
        let message = TypedDataMessage::from_typed_data(&typed).unwrap();
        let expected = MessageSignature::new(
            compiled.session.clone(),
            compiled.permissions[1].clone(),
            compiled.proof(1).unwrap(),
            message.clone(),
        );
        // the same bytes but for the session signature (P-256 signatures are randomised), which verifies
        let unsigned = expected.envelope().unwrap();
        let tail = 32 + 32 + message.contents_descr.len() + 2;
        let inner_end = unsigned.len() - tail;
        assert_eq!(signature[20..20 + inner_end], unsigned[..inner_end]);
        assert_eq!(signature[signature.len() - tail..], unsigned[inner_end..]);
        let session_signature = &signature[20 + inner_end..signature.len() - tail];
        let digest = message.nested_digest(&account).unwrap();
        assert!(
            verify_session_signature(&digest, signer.address().unwrap(), session_signature)
                .is_valid()
        );
    }

    #[test]
    fn no_leaf_for_another_contract_or_type() {
        let signer = SessionSigner::from(P256Key::generate());
        let compiled = compiled(signer.address().unwrap());
        let account = AccountDomain::keyscope_account(31337, ACCOUNT);
        let other = address!("3333333333333333333333333333333333333333");
        match sign_typed_data_for_session(
            VALIDATOR,
            &account,
            &compiled,
            &typed_data(other),
            &signer,
        ) {
            Err(Error::NoTypedDataPermission {
                verifying_contract,
                type_hash,
                session_id,
            }) => {
                assert_eq!(verifying_contract, other);
                assert_eq!(type_hash, keccak256("Cancel(uint256 nonce)"));
                assert_eq!(session_id, compiled.session_id());
            }
            other => panic!("{other:?}"),
        }
        let mut typed = typed_data(BOOK);
        typed.domain.verifying_contract = None;
        assert!(matches!(
            sign_typed_data_for_session(VALIDATOR, &account, &compiled, &typed, &signer),
            Err(Error::Signer(
                keyscope_signer::Error::AppDomainWithoutVerifyingContract
            ))
        ));
    }
}

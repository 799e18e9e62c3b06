//! A session key's message signature: EIP-712 typed data signed for the account through ERC-1271 and ERC-7739's
//! nested `TypedDataSign`, under a typed-data permission (`FLAG_TYPED_DATA`) of the session.
//!
//! The app asks the account `isValidSignature(hash, signature)` with `hash` the typed data's digest
//! ([`TypedDataMessage::hash`]); the account routes `signature = validator ‖ envelope` to the validator
//! ([`MessageSignature::account_signature`]). Wire format of the envelope (integers big-endian, no padding), as
//! `SessionKeyValidator`'s NatSpec documents it:
//!
//! ```text
//! bytes   inner                      below
//! bytes32 appSeparator               the app's EIP-712 domain separator
//! bytes32 contentsHash               hashStruct of the signed contents
//! bytes   contentsDescr              ERC-7739 contents description
//! uint16  contentsDescrLength
//!
//! inner:
//! bytes   session[288]               abi.encode(SessionTypes.Session) of an active session
//! uint16  permissionLength
//! bytes   permission                 a FLAG_TYPED_DATA permission, abi.encode(SessionTypes.Permission)
//! uint8   proofLength
//! bytes32 proof[proofLength]         sorted-pair Merkle proof of the leaf
//! uint8   appDomainFields            the app domain's ERC-5267 field bits; 0x08 (verifyingContract) required
//! bytes32 appDomain[fields]          its fields' EIP-712 encoded words, in EIP712Domain order
//! uint32  contentsLength
//! bytes   contents                   typeHash ‖ encodeData of the contents (hashing to contentsHash)
//! bytes   sessionSignature           the rest: the session signer's signature, of its kind, over the nested
//!                                    digest hashTypedData(appSeparator, TypedDataSign(contents, the account's
//!                                    ERC-5267 domain fields))
//! ```
//!
//! The session signer signs the nested digest ([`TypedDataMessage::nested_digest`]) raw, as it signs a userOpHash:
//! a secp256k1 key without EIP-191 prefix, the other kinds as [`crate::signers`] describes.

/// EIP-712 typed data in the `eth_signTypedData_v4` JSON form: alloy's (`alloy::dyn_abi::TypedData`).
pub use alloy_dyn_abi::TypedData;
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::Eip712Domain;
use keyscope_permissions::abi::{
    encode_permission_into, encode_session, encoded_permission_len, FLAG_TYPED_DATA,
};
use keyscope_permissions::{Permission, RuleOperator, Session};

use crate::error::{Error, Result};
use crate::userop::typed_data_digest;
use crate::wire::SignsSessions;

/// ERC-5267 field bit: the domain has a `name`.
pub const FIELD_NAME: u8 = 0x01;
/// ERC-5267 field bit: the domain has a `version`.
pub const FIELD_VERSION: u8 = 0x02;
/// ERC-5267 field bit: the domain has a `chainId`.
pub const FIELD_CHAIN_ID: u8 = 0x04;
/// ERC-5267 field bit: the domain has a `verifyingContract` (required in a session's message signature).
pub const FIELD_VERIFYING_CONTRACT: u8 = 0x08;
/// ERC-5267 field bit: the domain has a `salt`.
pub const FIELD_SALT: u8 = 0x10;
/// Every ERC-5267 field bit the validator reads (no extensions).
pub const ALL_FIELDS: u8 = 0x1f;

/// The reference `KeyscopeAccount`'s ERC-5267 EIP-712 domain name.
pub const KEYSCOPE_ACCOUNT_NAME: &str = "KeyscopeAccount";
/// The reference `KeyscopeAccount`'s ERC-5267 EIP-712 domain version.
pub const KEYSCOPE_ACCOUNT_VERSION: &str = "1";

/// ERC-1271's answer for a valid signature (`isValidSignature`'s selector).
pub const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];
/// The validator's (and the reference account's) answer for an invalid signature.
pub const ERC1271_INVALID: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

/// What follows the contents name in ERC-7739's `TypedDataSign` type.
const TYPED_DATA_SIGN_TAIL: &str =
    " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)";

/// An app's EIP-712 domain as the signature carries it: its ERC-5267 field bits and their EIP-712 encoded words
/// (name and version hashed) in `EIP712Domain` order. Always has a verifying contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppDomain {
    fields: u8,
    words: Vec<B256>,
}

impl AppDomain {
    /// The domain of these field bits and encoded words. [`Error::AppDomainWithoutVerifyingContract`] without
    /// the verifying contract bit; [`Error::UnsupportedAppDomain`] for bits beyond [`ALL_FIELDS`], a number of
    /// words other than the number of fields, or a verifying contract word that is not an address.
    pub fn new(fields: u8, words: Vec<B256>) -> Result<Self> {
        if fields & FIELD_VERIFYING_CONTRACT == 0 {
            return Err(Error::AppDomainWithoutVerifyingContract);
        }
        let unsupported = |reason: String| Error::UnsupportedAppDomain { fields, reason };
        if fields > ALL_FIELDS {
            return Err(unsupported("unknown ERC-5267 field bits".into()));
        }
        if words.len() != fields.count_ones() as usize {
            return Err(unsupported(format!(
                "{} words for {} fields",
                words.len(),
                fields.count_ones()
            )));
        }
        let domain = Self { fields, words };
        if domain.verifying_contract_word()[..12] != [0u8; 12] {
            return Err(unsupported(
                "the verifying contract is not an address".into(),
            ));
        }
        Ok(domain)
    }

    /// The domain of alloy's [`Eip712Domain`] (as `eth_signTypedData_v4` gives it). A domain without verifying
    /// contract is [`Error::AppDomainWithoutVerifyingContract`].
    pub fn from_eip712(domain: &Eip712Domain) -> Result<Self> {
        let fields = [
            (domain.name.is_some(), FIELD_NAME),
            (domain.version.is_some(), FIELD_VERSION),
            (domain.chain_id.is_some(), FIELD_CHAIN_ID),
            (
                domain.verifying_contract.is_some(),
                FIELD_VERIFYING_CONTRACT,
            ),
            (domain.salt.is_some(), FIELD_SALT),
        ]
        .into_iter()
        .filter(|(present, _)| *present)
        .fold(0, |fields, (_, bit)| fields | bit);
        let words = domain
            .encode_data()
            .chunks_exact(32)
            .map(B256::from_slice)
            .collect();
        Self::new(fields, words)
    }

    /// The ERC-5267 field bits.
    pub fn fields(&self) -> u8 {
        self.fields
    }

    /// The fields' EIP-712 encoded words, in `EIP712Domain` order.
    pub fn words(&self) -> &[B256] {
        &self.words
    }

    /// The `EIP712Domain(…)` type of these fields.
    pub fn encode_type(&self) -> String {
        let mut members = Vec::with_capacity(5);
        for (bit, member) in [
            (FIELD_NAME, "string name"),
            (FIELD_VERSION, "string version"),
            (FIELD_CHAIN_ID, "uint256 chainId"),
            (FIELD_VERIFYING_CONTRACT, "address verifyingContract"),
            (FIELD_SALT, "bytes32 salt"),
        ] {
            if self.fields & bit != 0 {
                members.push(member);
            }
        }
        format!("EIP712Domain({})", members.join(","))
    }

    /// The domain separator: `keccak256(typeHash ‖ words)`.
    pub fn separator(&self) -> B256 {
        let mut buffer = Vec::with_capacity(32 * (1 + self.words.len()));
        buffer.extend_from_slice(keccak256(self.encode_type()).as_slice());
        for word in &self.words {
            buffer.extend_from_slice(word.as_slice());
        }
        keccak256(buffer)
    }

    fn verifying_contract_word(&self) -> B256 {
        // the words before it: name, version and chainId, when present (`new` checked there is one for each field)
        let before = (self.fields & (FIELD_NAME | FIELD_VERSION | FIELD_CHAIN_ID)).count_ones();
        self.words.get(before as usize).copied().unwrap_or_default()
    }

    /// The verifying contract.
    pub fn verifying_contract(&self) -> Address {
        Address::from_word(self.verifying_contract_word())
    }

    /// The wire bytes: the field bits, then the words.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    fn encoded_len(&self) -> usize {
        1 + 32 * self.words.len()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.fields);
        for word in &self.words {
            out.extend_from_slice(word.as_slice());
        }
    }
}

/// An account's ERC-5267 EIP-712 domain, the five fields ERC-7739's `TypedDataSign` binds the signature to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountDomain {
    /// The domain name.
    pub name: String,
    /// The domain version.
    pub version: String,
    /// The chain id.
    pub chain_id: U256,
    /// The account (the validator requires the account's own address).
    pub verifying_contract: Address,
    /// The salt.
    pub salt: B256,
}

impl AccountDomain {
    /// The reference `KeyscopeAccount`'s domain: ("KeyscopeAccount", "1", `chain_id`, `account`, salt zero).
    pub fn keyscope_account(chain_id: u64, account: Address) -> Self {
        Self {
            name: KEYSCOPE_ACCOUNT_NAME.to_owned(),
            version: KEYSCOPE_ACCOUNT_VERSION.to_owned(),
            chain_id: U256::from(chain_id),
            verifying_contract: account,
            salt: B256::ZERO,
        }
    }

    /// `abi.encode(keccak256(name), keccak256(version), chainId, verifyingContract, salt)`, as `TypedDataSign`'s
    /// struct hash takes the domain.
    pub fn encode(&self) -> [u8; 160] {
        let mut out = [0u8; 160];
        out[..32].copy_from_slice(keccak256(&self.name).as_slice());
        out[32..64].copy_from_slice(keccak256(&self.version).as_slice());
        out[64..96].copy_from_slice(&self.chain_id.to_be_bytes::<32>());
        out[108..128].copy_from_slice(self.verifying_contract.as_slice());
        out[128..].copy_from_slice(self.salt.as_slice());
        out
    }
}

/// ERC-7739's `decodeContentsDescr` (OpenZeppelin `ERC7739Utils`): the contents name and type of a contents
/// description, in implicit mode (`contentsType`, the name before its first `(`) or explicit mode
/// (`contentsType ‖ contentsName`, the name after its last `)`). `None` when the validator finds no name: an empty
/// description, an empty name, or a name with one of `, )(` or NUL.
pub fn decode_contents_descr(descr: &str) -> Option<(&str, &str)> {
    let forbidden = |c: u8| matches!(c, 0 | b' ' | b',' | b'(' | b')');
    let bytes = descr.as_bytes();
    if *bytes.last()? == b')' {
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'(' {
                // `(` is ASCII: `i` is a character boundary
                return (i > 0).then(|| (&descr[..i], descr));
            }
            if forbidden(c) {
                return None;
            }
        }
        None
    } else {
        for i in (1..=bytes.len()).rev() {
            let c = bytes[i - 1];
            if c == b')' {
                return Some((&descr[i..], &descr[..i]));
            }
            if forbidden(c) {
                return None;
            }
        }
        None
    }
}

/// EIP-712 typed data as a session key signs it: the app domain, the contents `typeHash ‖ encodeData`, and the
/// ERC-7739 contents description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypedDataMessage {
    /// The app's domain (its verifying contract is the permission's `target`).
    pub app_domain: AppDomain,
    /// `typeHash ‖ encodeData` of the contents: word 0 is the type hash, word k >= 1 the k-th member's encoding,
    /// what the permission's rules read.
    pub contents: Bytes,
    /// The ERC-7739 contents description: the contents' `encodeType` (implicit mode), or the sorted types followed
    /// by the contents name (explicit mode).
    pub contents_descr: String,
}

impl TypedDataMessage {
    /// The message of `typed_data` (the `eth_signTypedData_v4` JSON, parsed by alloy). The description is the
    /// contents' `encodeType` (ERC-7739 implicit mode) when the primary type sorts before the types it
    /// references, so that the nested `TypedDataSign` type is EIP-712's own (always the case for a struct of
    /// atomic members); otherwise explicit mode, every type sorted then the primary type's name.
    /// [`Error::TypedData`] when the typed data does not encode, [`Error::AppDomainWithoutVerifyingContract`]
    /// when its domain has no verifying contract.
    pub fn from_typed_data(typed_data: &TypedData) -> Result<Self> {
        let app_domain = AppDomain::from_eip712(&typed_data.domain)?;
        let typed_error = |error: alloy_dyn_abi::Error| Error::TypedData(error.to_string());
        let type_hash = typed_data.type_hash().map_err(typed_error)?;
        let data = typed_data.encode_data().map_err(typed_error)?;
        let mut contents = Vec::with_capacity(32 + data.len());
        contents.extend_from_slice(type_hash.as_slice());
        contents.extend_from_slice(&data);

        let primary = typed_data.primary_type.as_str();
        let mut types = typed_data
            .resolver
            .linearize(primary)
            .map_err(typed_error)?
            .into_iter()
            .map(|def| (def.type_name().to_owned(), def.eip712_encode_type()))
            .collect::<Vec<_>>();
        types.sort();
        types.dedup();
        let mut contents_descr = types
            .iter()
            .map(|(_, encoded)| encoded.as_str())
            .collect::<String>();
        if types.first().map(|(name, _)| name.as_str()) != Some(primary) {
            contents_descr.push_str(primary);
        }
        let message = Self::new(app_domain, contents.into(), contents_descr)?;
        if message.contents_name()? != primary {
            return Err(Error::InvalidContentsDescr(format!(
                "the primary type name {primary:?} cannot be a contents name"
            )));
        }
        Ok(message)
    }

    /// A message of these parts, checked: `contents` a non-empty sequence of 32-byte words
    /// ([`Error::MalformedContents`]), a description the validator decodes ([`Error::InvalidContentsDescr`]).
    pub fn new(app_domain: AppDomain, contents: Bytes, contents_descr: String) -> Result<Self> {
        let message = Self {
            app_domain,
            contents,
            contents_descr,
        };
        message.check_contents()?;
        message.contents_name()?;
        Ok(message)
    }

    fn check_contents(&self) -> Result<()> {
        let length = self.contents.len();
        if length == 0 || !length.is_multiple_of(32) {
            return Err(Error::MalformedContents { length });
        }
        Ok(())
    }

    /// Word `index` of the contents (0: the type hash, k >= 1: the k-th member), if there is one.
    pub fn word(&self, index: usize) -> Option<B256> {
        let start = index.checked_mul(32)?;
        self.contents
            .get(start..start.checked_add(32)?)
            .map(B256::from_slice)
    }

    /// The contents' type hash (word 0; zero when the contents are empty).
    pub fn contents_type_hash(&self) -> B256 {
        self.word(0).unwrap_or_default()
    }

    /// `hashStruct` of the contents: `keccak256(typeHash ‖ encodeData)`.
    pub fn contents_hash(&self) -> B256 {
        keccak256(&self.contents)
    }

    /// The app's domain separator.
    pub fn app_separator(&self) -> B256 {
        self.app_domain.separator()
    }

    /// The digest the app asks the account about: `keccak256(0x1901 ‖ appSeparator ‖ contentsHash)`.
    pub fn hash(&self) -> B256 {
        typed_data_digest(self.app_separator(), self.contents_hash())
    }

    /// The contents name the validator reads from the description ([`decode_contents_descr`]).
    pub fn contents_name(&self) -> Result<&str> {
        Ok(self.decoded_descr()?.0)
    }

    fn decoded_descr(&self) -> Result<(&str, &str)> {
        decode_contents_descr(&self.contents_descr).ok_or_else(|| {
            Error::InvalidContentsDescr(
                "no contents name (empty, or a name with a space, comma, parenthesis or NUL)"
                    .into(),
            )
        })
    }

    /// ERC-7739's `TypedDataSign` type hash for these contents: `keccak256("TypedDataSign(" ‖ contentsName ‖
    /// " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)" ‖
    /// contentsType)`.
    pub fn typed_data_sign_typehash(&self) -> Result<B256> {
        let (name, contents_type) = self.decoded_descr()?;
        Ok(keccak256(
            ["TypedDataSign(", name, TYPED_DATA_SIGN_TAIL, contents_type].concat(),
        ))
    }

    /// The digest the session signer signs: `hashTypedData(appSeparator, TypedDataSign struct hash)` in the
    /// account's domain, exactly as OpenZeppelin's `ERC7739Utils.typedDataSignStructHash` and
    /// `MessageHashUtils.toTypedDataHash` compute it.
    pub fn nested_digest(&self, account: &AccountDomain) -> Result<B256> {
        let mut buffer = [0u8; 32 + 32 + 160];
        buffer[..32].copy_from_slice(self.typed_data_sign_typehash()?.as_slice());
        buffer[32..64].copy_from_slice(self.contents_hash().as_slice());
        buffer[64..].copy_from_slice(&account.encode());
        Ok(typed_data_digest(self.app_separator(), keccak256(buffer)))
    }

    /// Whether `permission` is a typed-data permission for this message: `FLAG_TYPED_DATA`, `target` the app's
    /// verifying contract, and rule 0 `Eq` on argument 0 with the contents' type hash.
    pub fn is_for(&self, permission: &Permission) -> bool {
        permission.flags == FLAG_TYPED_DATA
            && permission.target == self.app_domain.verifying_contract()
            && permission.rules.first().is_some_and(|rule| {
                rule.operator == RuleOperator::Eq as u8
                    && rule.argIndex == 0
                    && RuleOperator::Eq.evaluate(self.contents_type_hash(), &rule.operands)
            })
    }

    /// Whether every rule of `permission` holds on the contents, as the validator evaluates them (a rule on a
    /// word past the contents fails).
    pub fn rules_hold(&self, permission: &Permission) -> bool {
        permission.rules.iter().all(|rule| {
            match (
                RuleOperator::from_u8(rule.operator),
                self.word(usize::from(rule.argIndex)),
            ) {
                (Some(operator), Some(word)) => operator.evaluate(word, &rule.operands),
                _ => false,
            }
        })
    }

    /// The index of the permission among `permissions` that covers this message: the first one
    /// [`Self::is_for`] this message whose rules all hold ([`Self::rules_hold`]), else the first one
    /// [`Self::is_for`] it (the validator will refuse the signature on its rules); `None` when none is.
    pub fn find_permission(&self, permissions: &[Permission]) -> Option<usize> {
        let mut candidates = permissions
            .iter()
            .enumerate()
            .filter(|(_, permission)| self.is_for(permission))
            .peekable();
        let first = candidates.peek().map(|(index, _)| *index);
        candidates
            .find(|(_, permission)| self.rules_hold(permission))
            .map(|(index, _)| index)
            .or(first)
    }
}

/// A session key's message signature, to encode or being built: the session, its typed-data permission and the
/// permission's Merkle proof, the message, and the session signer's signature over the nested digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// The session (granted and active on the account).
    pub session: Session,
    /// The typed-data permission (its encoding is the leaf preimage).
    pub permission: Permission,
    /// The Merkle proof of the permission's leaf (at most 255 nodes).
    pub proof: Vec<B256>,
    /// The typed data.
    pub message: TypedDataMessage,
    /// The session signer's signature over [`TypedDataMessage::nested_digest`] (empty until signed).
    pub session_signature: Vec<u8>,
}

fn too_long(field: &'static str, length: usize, max: usize) -> Result<()> {
    if length > max {
        Err(Error::TooLong { field, length, max })
    } else {
        Ok(())
    }
}

impl MessageSignature {
    /// A message signature, not yet signed.
    pub fn new(
        session: Session,
        permission: Permission,
        proof: Vec<B256>,
        message: TypedDataMessage,
    ) -> Self {
        Self {
            session,
            permission,
            proof,
            message,
            session_signature: Vec::new(),
        }
    }

    /// Signs the nested digest for the account of domain `account` with `signer` (any session signer kind) and
    /// sets the session signature.
    pub fn sign(mut self, signer: &impl SignsSessions, account: &AccountDomain) -> Result<Self> {
        let digest = self.message.nested_digest(account)?;
        self.session_signature = signer.session_signature(&digest)?;
        Ok(self)
    }

    /// The ERC-7739 inner signature: session, permission, proof, app domain, contents, session signature.
    /// [`Error::TooLong`] when a field does not fit its length prefix; [`Error::MalformedContents`] for contents
    /// that are not words.
    pub fn inner(&self) -> Result<Vec<u8>> {
        let permission_length = encoded_permission_len(&self.permission);
        too_long(
            "permission encoding",
            permission_length,
            usize::from(u16::MAX),
        )?;
        too_long("proof", self.proof.len(), usize::from(u8::MAX))?;
        self.message.check_contents()?;
        let contents = &self.message.contents;
        let contents_length = u32::try_from(contents.len()).map_err(|_| Error::TooLong {
            field: "contents",
            length: contents.len(),
            max: u32::MAX as usize,
        })?;
        let mut out = Vec::with_capacity(
            288 + 2
                + permission_length
                + 1
                + 32 * self.proof.len()
                + self.message.app_domain.encoded_len()
                + 4
                + contents.len()
                + self.session_signature.len(),
        );
        out.extend_from_slice(&encode_session(&self.session));
        out.extend_from_slice(&(permission_length as u16).to_be_bytes());
        encode_permission_into(&self.permission, &mut out);
        out.push(self.proof.len() as u8);
        for node in &self.proof {
            out.extend_from_slice(node.as_slice());
        }
        self.message.app_domain.encode_into(&mut out);
        out.extend_from_slice(&contents_length.to_be_bytes());
        out.extend_from_slice(contents);
        out.extend_from_slice(&self.session_signature);
        Ok(out)
    }

    /// The validator's data: ERC-7739's envelope `inner ‖ appSeparator ‖ contentsHash ‖ contentsDescr ‖
    /// uint16(contentsDescr.length)`. [`Error::InvalidContentsDescr`] for a description the validator cannot read.
    pub fn envelope(&self) -> Result<Vec<u8>> {
        let descr = self.message.contents_descr.as_bytes();
        self.message.contents_name()?;
        too_long("contents description", descr.len(), usize::from(u16::MAX))?;
        let mut out = self.inner()?;
        out.extend_from_slice(self.message.app_separator().as_slice());
        out.extend_from_slice(self.message.contents_hash().as_slice());
        out.extend_from_slice(descr);
        out.extend_from_slice(&(descr.len() as u16).to_be_bytes());
        Ok(out)
    }

    /// The account's ERC-1271 signature: `validator ‖ envelope`, for an account that routes a signature to the
    /// validator module its first 20 bytes name (the reference `KeyscopeAccount`, OpenZeppelin's
    /// `AccountERC7579`).
    pub fn account_signature(&self, validator: Address) -> Result<Vec<u8>> {
        let envelope = self.envelope()?;
        let mut out = Vec::with_capacity(20 + envelope.len());
        out.extend_from_slice(validator.as_slice());
        out.extend_from_slice(&envelope);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use alloy_primitives::{address, b256, hex, U256};
    use alloy_sol_types::SolValue;
    use keyscope_permissions::{ArgRule, PermissionTree};

    use super::*;
    use crate::key::SessionKey;
    use crate::signers::{verify_session_signature, P256Key, SessionSigner};

    const OFFER_TYPE: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";
    const BOOK: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    const ITEMS: Address = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    const CURRENCY: Address = address!("9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0");
    const ACCOUNT: Address = address!("1111111111111111111111111111111111111111");
    const VALIDATOR: Address = address!("2222222222222222222222222222222222222222");
    const CHAIN_ID: u64 = 31337;

    fn offer_json(price: &str) -> TypedData {
        serde_json::from_value(serde_json::json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" }
                ],
                "Offer": [
                    { "name": "buyer", "type": "address" },
                    { "name": "collection", "type": "address" },
                    { "name": "tokenId", "type": "uint256" },
                    { "name": "currency", "type": "address" },
                    { "name": "price", "type": "uint256" },
                    { "name": "nonce", "type": "uint256" },
                    { "name": "deadline", "type": "uint256" }
                ]
            },
            "primaryType": "Offer",
            "domain": {
                "name": "Keyscope OfferBook",
                "version": "1",
                "chainId": CHAIN_ID,
                "verifyingContract": BOOK.to_string()
            },
            "message": {
                "buyer": ACCOUNT.to_string(),
                "collection": ITEMS.to_string(),
                "tokenId": "1",
                "currency": CURRENCY.to_string(),
                "price": price,
                "nonce": "7",
                "deadline": "1800000000"
            }
        }))
        .unwrap()
    }

    fn word(address: Address) -> B256 {
        address.into_word()
    }

    /// `abi.encode(OFFER_TYPEHASH, offer)`, by hand.
    fn offer_contents(price: U256) -> Vec<u8> {
        (
            keccak256(OFFER_TYPE),
            ACCOUNT,
            ITEMS,
            U256::from(1),
            CURRENCY,
            price,
            U256::from(7),
            U256::from(1_800_000_000u64),
        )
            .abi_encode_params()
    }

    fn offer_permission(max_price: U256) -> Permission {
        Permission {
            target: BOOK,
            flags: FLAG_TYPED_DATA,
            rules: vec![
                ArgRule {
                    operator: RuleOperator::Eq as u8,
                    argIndex: 0,
                    operands: vec![keccak256(OFFER_TYPE)],
                },
                ArgRule {
                    operator: RuleOperator::Eq as u8,
                    argIndex: 2,
                    operands: vec![word(ITEMS)],
                },
                ArgRule {
                    operator: RuleOperator::Lte as u8,
                    argIndex: 5,
                    operands: vec![max_price.into()],
                },
            ],
            ..Default::default()
        }
    }

    fn ether(n: u64) -> U256 {
        U256::from(n) * U256::from(10u64.pow(18))
    }

    #[test]
    fn the_message_of_an_offer_is_its_contents_and_domain() {
        let message =
            TypedDataMessage::from_typed_data(&offer_json("60000000000000000000")).unwrap();
        assert_eq!(
            message.contents.as_ref(),
            offer_contents(ether(60)).as_slice()
        );
        assert_eq!(message.contents_descr, OFFER_TYPE);
        assert_eq!(message.contents_name().unwrap(), "Offer");
        assert_eq!(message.contents_type_hash(), keccak256(OFFER_TYPE));
        assert_eq!(message.app_domain.fields(), 0x0f);
        assert_eq!(message.app_domain.verifying_contract(), BOOK);
        // the separator, by hand
        let separator = keccak256(
            (
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                U256::from(CHAIN_ID),
                BOOK,
            )
                .abi_encode_params(),
        );
        assert_eq!(message.app_separator(), separator);
        // the app's digest is alloy's signing hash of the typed data
        assert_eq!(
            message.hash(),
            offer_json("60000000000000000000")
                .eip712_signing_hash()
                .unwrap()
        );
        let mut prefixed = vec![0x19, 0x01];
        prefixed.extend_from_slice(separator.as_slice());
        prefixed.extend_from_slice(keccak256(offer_contents(ether(60))).as_slice());
        assert_eq!(message.hash(), keccak256(prefixed));
    }

    /// The nested digest of the Solidity test's `_nestedDigest`, recomputed by hand.
    fn nested_by_hand(separator: B256, contents_hash: B256, account: Address) -> B256 {
        let typehash = keccak256(
            [
                "TypedDataSign(Offer contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
                OFFER_TYPE,
            ]
            .concat(),
        );
        let struct_hash = keccak256(
            (
                typehash,
                contents_hash,
                keccak256("KeyscopeAccount"),
                keccak256("1"),
                U256::from(CHAIN_ID),
                account,
                B256::ZERO,
            )
                .abi_encode_params(),
        );
        let mut prefixed = vec![0x19, 0x01];
        prefixed.extend_from_slice(separator.as_slice());
        prefixed.extend_from_slice(struct_hash.as_slice());
        keccak256(prefixed)
    }

    #[test]
    fn the_nested_digest_is_typed_data_sign_in_the_accounts_domain() {
        let message = TypedDataMessage::from_typed_data(&offer_json("1")).unwrap();
        let account = AccountDomain::keyscope_account(CHAIN_ID, ACCOUNT);
        assert_eq!(
            message.nested_digest(&account).unwrap(),
            nested_by_hand(message.app_separator(), message.contents_hash(), ACCOUNT)
        );
        // another account, another digest
        let other = AccountDomain::keyscope_account(CHAIN_ID, VALIDATOR);
        assert_ne!(
            message.nested_digest(&account).unwrap(),
            message.nested_digest(&other).unwrap()
        );
    }

    #[test]
    fn the_account_signature_is_byte_exact() {
        let key = SessionKey::from_bytes(&[7u8; 32]).unwrap();
        let permission = offer_permission(ether(100));
        let other = Permission {
            target: ITEMS,
            selector: [1, 2, 3, 4].into(),
            ..Default::default()
        };
        let tree = PermissionTree::from_permissions(&[other, permission.clone()]).unwrap();
        let session = Session {
            signer: key.address(),
            validUntil: keyscope_permissions::abi::u48(1_900_000_000).unwrap(),
            permissionsRoot: tree.root(),
            ..Default::default()
        };
        let proof = tree.proof(1).unwrap();
        assert_eq!(proof.len(), 1);
        let message =
            TypedDataMessage::from_typed_data(&offer_json("100000000000000000000")).unwrap();
        let account = AccountDomain::keyscope_account(CHAIN_ID, ACCOUNT);
        let signed =
            MessageSignature::new(session.clone(), permission.clone(), proof.clone(), message)
                .sign(&key, &account)
                .unwrap();
        let bytes = signed.account_signature(VALIDATOR).unwrap();

        // Solidity's `_signature`: validator ‖ abi.encode(session) ‖ uint16 ‖ abi.encode(permission) ‖ uint8 ‖
        // proof ‖ 0x0f ‖ domain words ‖ uint32 ‖ contents ‖ signature ‖ separator ‖ contentsHash ‖ descr ‖ uint16
        let contents = offer_contents(ether(100));
        let separator = keccak256(
            (
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                U256::from(CHAIN_ID),
                BOOK,
            )
                .abi_encode_params(),
        );
        let contents_hash = keccak256(&contents);
        let digest = nested_by_hand(separator, contents_hash, ACCOUNT);
        let signature = key.sign_hash_bytes(&digest).unwrap();
        let permission_data = permission.abi_encode();
        let mut expected = VALIDATOR.to_vec();
        expected.extend_from_slice(&session.abi_encode());
        expected.extend_from_slice(&(permission_data.len() as u16).to_be_bytes());
        expected.extend_from_slice(&permission_data);
        expected.push(1);
        expected.extend_from_slice(proof[0].as_slice());
        expected.push(0x0f);
        expected.extend_from_slice(
            &(
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                U256::from(CHAIN_ID),
                BOOK,
            )
                .abi_encode_params(),
        );
        expected.extend_from_slice(&(contents.len() as u32).to_be_bytes());
        expected.extend_from_slice(&contents);
        expected.extend_from_slice(&signature);
        expected.extend_from_slice(separator.as_slice());
        expected.extend_from_slice(contents_hash.as_slice());
        expected.extend_from_slice(OFFER_TYPE.as_bytes());
        expected.extend_from_slice(&(OFFER_TYPE.len() as u16).to_be_bytes());
        assert_eq!(hex::encode(&bytes), hex::encode(&expected));
        assert_eq!(signed.envelope().unwrap(), expected[20..]);
        // the signature recovers to the session key over the nested digest
        assert_eq!(
            crate::key::recover(&digest, &signed.session_signature).unwrap(),
            key.address()
        );
        // the leaf is in the session
        assert!(keyscope_permissions::verify(
            session.permissionsRoot,
            permission.leaf(),
            &proof
        ));
    }

    #[test]
    fn every_signer_kind_signs_the_nested_digest() {
        let message = TypedDataMessage::from_typed_data(&offer_json("5")).unwrap();
        let account = AccountDomain::keyscope_account(CHAIN_ID, ACCOUNT);
        let digest = message.nested_digest(&account).unwrap();
        let multisig = SessionSigner::multisig(
            2,
            vec![
                (1, SessionKey::generate().into()),
                (1, P256Key::generate().into()),
            ],
        )
        .unwrap();
        for signer in [
            SessionSigner::from(SessionKey::generate()),
            P256Key::generate().into(),
            multisig,
        ] {
            let signed = MessageSignature::new(
                Session::default(),
                offer_permission(ether(1)),
                vec![],
                message.clone(),
            )
            .sign(&signer, &account)
            .unwrap();
            let check = verify_session_signature(
                &digest,
                signer.address().unwrap(),
                &signed.session_signature,
            );
            assert!(check.is_valid(), "{check}");
            let envelope = signed.envelope().unwrap();
            // the session signature ends the inner signature, before separator, contents hash and description
            let tail = 32 + 32 + OFFER_TYPE.len() + 2;
            let inner_end = envelope.len() - tail;
            assert!(envelope[..inner_end].ends_with(&signed.session_signature));
        }
    }

    #[test]
    fn the_app_separator_is_alloys_for_every_field_combination() {
        let name: Option<std::borrow::Cow<'static, str>> = Some("Keyscope OfferBook".into());
        let version: Option<std::borrow::Cow<'static, str>> = Some("1".into());
        let chain_id = Some(U256::from(CHAIN_ID));
        let salt = Some(b256!(
            "00000000000000000000000000000000000000000000000000000000000000aa"
        ));
        for fields in 0u8..=ALL_FIELDS {
            let domain = Eip712Domain::new(
                (fields & FIELD_NAME != 0).then(|| name.clone()).flatten(),
                (fields & FIELD_VERSION != 0)
                    .then(|| version.clone())
                    .flatten(),
                (fields & FIELD_CHAIN_ID != 0).then_some(chain_id).flatten(),
                (fields & FIELD_VERIFYING_CONTRACT != 0).then_some(BOOK),
                (fields & FIELD_SALT != 0).then_some(salt).flatten(),
            );
            match AppDomain::from_eip712(&domain) {
                Ok(app) => {
                    assert_ne!(fields & FIELD_VERIFYING_CONTRACT, 0);
                    assert_eq!(app.fields(), fields);
                    assert_eq!(app.separator(), domain.separator(), "fields {fields:#x}");
                    assert_eq!(app.encode_type(), domain.encode_type());
                    assert_eq!(app.verifying_contract(), BOOK);
                    let encoded = app.encode();
                    assert_eq!(encoded[0], fields);
                    assert_eq!(encoded[1..], domain.encode_data());
                }
                Err(Error::AppDomainWithoutVerifyingContract) => {
                    assert_eq!(fields & FIELD_VERIFYING_CONTRACT, 0)
                }
                Err(other) => panic!("{other}"),
            }
        }
    }

    #[test]
    fn refuses_domains_descriptions_and_contents_the_validator_cannot_read() {
        let mut typed = offer_json("1");
        typed.domain.verifying_contract = None;
        assert_eq!(
            TypedDataMessage::from_typed_data(&typed),
            Err(Error::AppDomainWithoutVerifyingContract)
        );
        assert!(matches!(
            AppDomain::new(0x28, vec![B256::ZERO]),
            Err(Error::UnsupportedAppDomain { fields: 0x28, .. })
        ));
        assert!(matches!(
            AppDomain::new(0x0c, vec![B256::ZERO]),
            Err(Error::UnsupportedAppDomain { fields: 0x0c, .. })
        ));
        assert!(matches!(
            AppDomain::new(0x08, vec![B256::repeat_byte(0xff)]),
            Err(Error::UnsupportedAppDomain { fields: 0x08, .. })
        ));
        assert_eq!(
            AppDomain::new(0x04, vec![B256::ZERO]),
            Err(Error::AppDomainWithoutVerifyingContract)
        );
        let domain = AppDomain::new(0x08, vec![word(BOOK)]).unwrap();
        let contents = Bytes::from(offer_contents(U256::from(1)));
        for descr in [
            "",
            "(uint256 a)",
            "Off er(uint256 a)",
            "A(uint256 a)B,",
            "A(uint256 a)B C",
            "noparen",
        ] {
            assert!(
                matches!(
                    TypedDataMessage::new(domain.clone(), contents.clone(), descr.into()),
                    Err(Error::InvalidContentsDescr(_))
                ),
                "{descr:?}"
            );
        }
        for length in [0, 31, 33] {
            assert_eq!(
                TypedDataMessage::new(domain.clone(), vec![0u8; length].into(), OFFER_TYPE.into()),
                Err(Error::MalformedContents { length })
            );
        }
        // a message that does not match its type
        let mut typed = offer_json("1");
        typed.message["price"] = serde_json::json!("not a number");
        assert!(matches!(
            TypedDataMessage::from_typed_data(&typed),
            Err(Error::TypedData(_))
        ));
        let mut typed = offer_json("1");
        typed.primary_type = "Missing".into();
        assert!(matches!(
            TypedDataMessage::from_typed_data(&typed),
            Err(Error::TypedData(_))
        ));
        // a proof longer than its length prefix
        let message = TypedDataMessage::from_typed_data(&offer_json("1")).unwrap();
        let long = MessageSignature::new(
            Session::default(),
            offer_permission(ether(1)),
            vec![B256::ZERO; 256],
            message,
        );
        assert!(matches!(
            long.envelope(),
            Err(Error::TooLong { field: "proof", .. })
        ));
    }

    #[test]
    fn decodes_contents_descriptions_as_openzeppelin() {
        assert_eq!(
            decode_contents_descr(OFFER_TYPE),
            Some(("Offer", OFFER_TYPE))
        );
        assert_eq!(
            decode_contents_descr("A(B b)B(uint256 x)A"),
            Some(("A", "A(B b)B(uint256 x)"))
        );
        assert_eq!(
            decode_contents_descr("B(uint256 x)Z(B b)Z"),
            Some(("Z", "B(uint256 x)Z(B b)"))
        );
        // multi-byte characters are no delimiters
        assert_eq!(
            decode_contents_descr("é(uint256 x)"),
            Some(("é", "é(uint256 x)"))
        );
        assert_eq!(decode_contents_descr("Aé(x)Bé"), Some(("Bé", "Aé(x)")));
        assert_eq!(decode_contents_descr("é"), None);
        for bad in [
            "", ")", "(x)", "A B(x)", "x)A,B", "x)A B", "A\0(x)", "noparen",
        ] {
            assert_eq!(decode_contents_descr(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nested_types_sort_and_use_explicit_mode_when_needed() {
        let typed = |primary: &str| -> TypedData {
            serde_json::from_value(serde_json::json!({
                "types": {
                    "Mail": [{ "name": "from", "type": "Person" }, { "name": "body", "type": "string" }],
                    "Person": [{ "name": "wallet", "type": "address" }],
                    "Zebra": [{ "name": "friend", "type": "Person" }]
                },
                "primaryType": primary,
                "domain": { "verifyingContract": BOOK.to_string() },
                "message": if primary == "Mail" {
                    serde_json::json!({ "from": { "wallet": ACCOUNT.to_string() }, "body": "hi" })
                } else {
                    serde_json::json!({ "friend": { "wallet": ACCOUNT.to_string() } })
                }
            }))
            .unwrap()
        };
        // Mail sorts before Person: implicit mode, the encodeType
        let mail = TypedDataMessage::from_typed_data(&typed("Mail")).unwrap();
        assert_eq!(
            mail.contents_descr,
            "Mail(Person from,string body)Person(address wallet)"
        );
        assert_eq!(mail.contents_name().unwrap(), "Mail");
        // Zebra sorts after Person: explicit mode, the types sorted then the name
        let zebra = TypedDataMessage::from_typed_data(&typed("Zebra")).unwrap();
        assert_eq!(
            zebra.contents_descr,
            "Person(address wallet)Zebra(Person friend)Zebra"
        );
        assert_eq!(zebra.contents_name().unwrap(), "Zebra");
        assert_eq!(
            zebra.typed_data_sign_typehash().unwrap(),
            keccak256("TypedDataSign(Zebra contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)Person(address wallet)Zebra(Person friend)")
        );
        // the contents type hash is still the primary type's own
        assert_eq!(
            zebra.contents_type_hash(),
            keccak256("Zebra(Person friend)Person(address wallet)")
        );
        assert_eq!(zebra.hash(), typed("Zebra").eip712_signing_hash().unwrap());
    }

    #[test]
    fn finds_the_permission_for_the_offer() {
        let message =
            TypedDataMessage::from_typed_data(&offer_json("60000000000000000000")).unwrap();
        let call = Permission {
            target: BOOK,
            selector: [1, 2, 3, 4].into(),
            ..Default::default()
        };
        let mut elsewhere = offer_permission(ether(100));
        elsewhere.target = ITEMS;
        let mut other_type = offer_permission(ether(100));
        other_type.rules[0].operands = vec![keccak256("Cancel(uint256 nonce)")];
        let cheap = offer_permission(ether(10));
        let enough = offer_permission(ether(100));
        assert_eq!(
            message.find_permission(&[call.clone(), elsewhere.clone(), other_type.clone()]),
            None
        );
        // the first whose rules hold, else the first for the type
        assert_eq!(
            message.find_permission(&[call, elsewhere, other_type, cheap.clone(), enough]),
            Some(4)
        );
        assert_eq!(message.find_permission(&[cheap]), Some(0));
        assert!(!message.rules_hold(&offer_permission(ether(10))));
        assert!(message.rules_hold(&offer_permission(ether(60))));
    }
}

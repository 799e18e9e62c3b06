//! The message-signature mirror (`isValidSignatureWithSender` with `SessionTypedDataVerifier.check`) on hand-built
//! signatures, built here from the wire format in `SessionKeyValidator`'s documentation (as
//! `TypedDataSignatures.t.sol`'s `_signature` builds them): the accepted case and every refusal, each with the
//! contract's exact error and parameters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy::primitives::{address, aliases::U48, keccak256, Address, FixedBytes, B256, U256};
use alloy::sol_types::SolValue;
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors as E;
use keyscope_permissions::abi::{encode_permission, encode_session};
use keyscope_permissions::{ArgRule, Permission, PermissionTree, RuleOperator, Session};
use keyscope_signer::SessionKey;
use proptest::prelude::*;

use super::super::{
    is_valid_signature, AccountDomain, MessageAnswer, MessageInput, MessageMismatch,
    MessageValidation, RevertKind, SessionState, ValidatorRevert,
};
use super::message::{decode_contents_descr, message_keys, ERC7739_DETECTION_HASH};
use crate::client::SessionStatus;

const VALIDATOR: Address = address!("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
const ACCOUNT: Address = address!("acacacacacacacacacacacacacacacacacacacac");
const BOOK: Address = address!("b00cb00cb00cb00cb00cb00cb00cb00cb00cb00c");
const OTHER_BOOK: Address = address!("b00cb00cb00cb00cb00cb00cb00cb00cb00cb0ff");
const ITEMS: Address = address!("1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e");
const CHAIN: u64 = 31337;
const START: u64 = 1_000_000;
const UNTIL: u64 = START + 3600;
const NOW: u64 = START + 10;
const MAX_PRICE: u64 = 100;
const OFFER_TYPE: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";
/// Word k of an Offer's `typeHash ‖ encodeData`: its members in order from 1.
const WORD_COLLECTION: u16 = 2;
const WORD_PRICE: u16 = 5;

fn key() -> SessionKey {
    SessionKey::from_bytes(&[7u8; 32]).unwrap()
}

fn offer_typehash() -> B256 {
    keccak256(OFFER_TYPE)
}

fn rule(operator: RuleOperator, arg: u16, operands: Vec<B256>) -> ArgRule {
    ArgRule {
        operator: operator as u8,
        argIndex: arg,
        operands,
    }
}

/// Offers on `target` of the demo collection at most `max_price`.
fn offer_permission(target: Address, max_price: u64) -> Permission {
    Permission {
        target,
        flags: 32,
        rules: vec![
            rule(RuleOperator::Eq, 0, vec![offer_typehash()]),
            rule(RuleOperator::Eq, WORD_COLLECTION, vec![ITEMS.into_word()]),
            rule(
                RuleOperator::Lte,
                WORD_PRICE,
                vec![B256::from(U256::from(max_price))],
            ),
        ],
        ..Default::default()
    }
}

/// `typeHash ‖ encodeData` of an offer at `price`.
fn offer(price: u64) -> Vec<u8> {
    (
        offer_typehash(),
        ACCOUNT,
        ITEMS,
        U256::from(1),
        Address::repeat_byte(0xcc),
        U256::from(price),
        U256::from(7),
        U256::from(START + 7200),
    )
        .abi_encode()
}

/// The app domain `(fields, words)` of a book at `contract`: name, version, chainId, verifyingContract.
fn book_domain(contract: Address) -> (u8, Vec<u8>) {
    (
        0x0f,
        (
            keccak256("Keyscope OfferBook"),
            keccak256("1"),
            U256::from(CHAIN),
            contract,
        )
            .abi_encode(),
    )
}

fn separator(fields: u8, words: &[u8]) -> B256 {
    let mut typehash = "EIP712Domain(".to_owned();
    for (bit, field) in [
        (1, "string name,"),
        (2, "string version,"),
        (4, "uint256 chainId,"),
    ] {
        if fields & bit != 0 {
            typehash.push_str(field);
        }
    }
    typehash.push_str("address verifyingContract");
    if fields & 0x10 != 0 {
        typehash.push_str(",bytes32 salt");
    }
    typehash.push(')');
    keccak256([keccak256(typehash).as_slice(), words].concat())
}

fn typed_data_hash(separator: B256, struct_hash: B256) -> B256 {
    keccak256(
        [
            &[0x19u8, 0x01][..],
            separator.as_slice(),
            struct_hash.as_slice(),
        ]
        .concat(),
    )
}

/// A message signature and what it is checked against, field by field.
#[derive(Clone)]
struct Message {
    session: Session,
    /// The permission's bytes as the signature carries them.
    permission: Vec<u8>,
    proof: Vec<B256>,
    fields: u8,
    domain: Vec<u8>,
    app_separator: B256,
    contents: Vec<u8>,
    /// The envelope's contents hash (default: the contents').
    contents_hash: Option<B256>,
    contents_descr: Vec<u8>,
    signer: SessionKey,
    account_domain: AccountDomain,
    now: u64,
}

impl Message {
    /// A session of `permissions` (encoded) whose leaf `index` the message presents, for an offer at `price`.
    fn of(encodings: &[Vec<u8>], index: usize, price: u64) -> Self {
        let tree = PermissionTree::from_leaves(
            encodings.iter().map(|e| keccak256(keccak256(e))).collect(),
        )
        .unwrap();
        let session = Session {
            signer: key().address(),
            validAfter: U48::from(START),
            validUntil: U48::from(UNTIL),
            permissionsRoot: tree.root(),
            paymasterPolicy: 0,
            paymaster: Address::ZERO,
            maxOperationFee: u128::MAX,
            feeBudget: u128::MAX,
            salt: B256::ZERO,
        };
        let (fields, domain) = book_domain(BOOK);
        Self {
            session,
            permission: encodings[index].clone(),
            proof: tree.proof(index).unwrap(),
            fields,
            app_separator: separator(fields, &domain),
            domain,
            contents: offer(price),
            contents_hash: None,
            contents_descr: OFFER_TYPE.as_bytes().to_vec(),
            signer: key(),
            account_domain: AccountDomain::keyscope(ACCOUNT, CHAIN),
            now: NOW,
        }
    }

    /// The offer permission alone, for an offer at `price`.
    fn offer(price: u64) -> Self {
        Self::of(
            &[encode_permission(&offer_permission(BOOK, MAX_PRICE))],
            0,
            price,
        )
    }

    /// A session of `permission` (and a sibling) presenting `permission`.
    fn with_permission(permission: &Permission) -> Self {
        Self::with_encoding(encode_permission(permission))
    }

    fn with_encoding(encoding: Vec<u8>) -> Self {
        let sibling = encode_permission(&offer_permission(OTHER_BOOK, 1));
        Self::of(&[encoding, sibling], 0, 1)
    }

    fn contents_hash(&self) -> B256 {
        self.contents_hash
            .unwrap_or_else(|| keccak256(&self.contents))
    }

    /// What the app asks about: `toTypedDataHash(appSeparator, contentsHash)`.
    fn hash(&self) -> B256 {
        typed_data_hash(self.app_separator, self.contents_hash())
    }

    /// The nested digest, computed as `TypedDataSignatures.t.sol`'s `_nestedDigest` does.
    fn nested_digest(&self) -> B256 {
        let typehash = keccak256(
            [
                b"TypedDataSign(Offer contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)".as_slice(),
                OFFER_TYPE.as_bytes(),
            ]
            .concat(),
        );
        let d = &self.account_domain;
        let struct_hash = keccak256(
            (
                typehash,
                self.contents_hash(),
                keccak256(&d.name),
                keccak256(&d.version),
                d.chain_id,
                d.verifying_contract,
                d.salt,
            )
                .abi_encode(),
        );
        typed_data_hash(self.app_separator, struct_hash)
    }

    /// The inner signature up to the session signature.
    fn inner(&self) -> Vec<u8> {
        let mut out = encode_session(&self.session).to_vec();
        out.extend_from_slice(&(self.permission.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.permission);
        out.push(self.proof.len() as u8);
        for node in &self.proof {
            out.extend_from_slice(node.as_slice());
        }
        out.push(self.fields);
        out.extend_from_slice(&self.domain);
        out.extend_from_slice(&(self.contents.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.contents);
        out
    }

    /// The ERC-7739 envelope of `inner`.
    fn envelope(&self, inner: &[u8]) -> Vec<u8> {
        let mut out = inner.to_vec();
        out.extend_from_slice(self.app_separator.as_slice());
        out.extend_from_slice(self.contents_hash().as_slice());
        out.extend_from_slice(&self.contents_descr);
        out.extend_from_slice(&(self.contents_descr.len() as u16).to_be_bytes());
        out
    }

    /// The signature (`data`): the inner signature signed by `signer`, in its envelope.
    fn data(&self) -> Vec<u8> {
        let mut inner = self.inner();
        inner.extend_from_slice(&self.signer.sign_hash_bytes(&self.nested_digest()).unwrap());
        self.envelope(&inner)
    }

    fn check(&self, state: &SessionState) -> Result<MessageValidation, ValidatorRevert> {
        self.check_data(&self.data(), self.hash(), state)
    }

    fn check_data(
        &self,
        data: &[u8],
        hash: B256,
        state: &SessionState,
    ) -> Result<MessageValidation, ValidatorRevert> {
        let result = is_valid_signature(&MessageInput {
            account: ACCOUNT,
            validator: VALIDATOR,
            hash,
            data,
            now: self.now,
            chain_id: CHAIN,
            account_domain: Some(&self.account_domain),
            state,
        });
        // every answer and revert has words
        match &result {
            Ok(validation) => assert!(!validation.to_string().is_empty()),
            Err(revert) => assert!(!revert.to_string().is_empty()),
        }
        result
    }

    fn leaf(&self) -> B256 {
        keccak256(keccak256(&self.permission))
    }
}

fn error(result: Result<MessageValidation, ValidatorRevert>) -> E {
    match result {
        Err(revert) => revert
            .error()
            .cloned()
            .unwrap_or_else(|| panic!("no custom error: {revert}")),
        Ok(validation) => panic!("answered {validation}"),
    }
}

fn empty_field(result: Result<MessageValidation, ValidatorRevert>) -> String {
    match result {
        Err(ValidatorRevert {
            kind: RevertKind::Empty { field },
            ..
        }) => field,
        other => panic!("not an empty revert: {other:?}"),
    }
}

fn mismatch(result: Result<MessageValidation, ValidatorRevert>) -> MessageMismatch {
    let validation = result.unwrap();
    assert_eq!(validation.answer, MessageAnswer::Invalid, "{validation}");
    validation.mismatch.unwrap()
}

fn active() -> SessionState {
    SessionState::active()
}

#[test]
fn accepts_a_session_signed_offer_within_scope() {
    let message = Message::offer(MAX_PRICE);
    let validation = message.check(&active()).unwrap();
    assert_eq!(validation.answer, MessageAnswer::Valid, "{validation}");
    assert_eq!(
        validation.answer.magic(),
        FixedBytes([0x16, 0x26, 0xba, 0x7e])
    );
    assert_eq!(validation.digest, Some(message.nested_digest()));
    assert_eq!(validation.leaf, Some(message.leaf()));
    assert_eq!(validation.verifying_contract, Some(BOOK));
    assert_eq!(validation.contents_name.as_deref(), Some("Offer"));
    assert_eq!(
        validation.session_id,
        Some(keyscope_permissions::session_id(&message.session))
    );
    assert!(validation.to_string().starts_with("valid (0x1626ba7e)"));
    // a session whose tree has several leaves: the proof is checked
    let message = Message::with_permission(&offer_permission(BOOK, MAX_PRICE));
    assert!(message.check(&active()).unwrap().is_valid());
    // at both ends of the window
    for now in [START, UNTIL] {
        let message = Message {
            now,
            ..Message::offer(1)
        };
        assert!(message.check(&active()).unwrap().is_valid());
    }
    // an app domain with every field, the salt too
    let mut message = Message::offer(1);
    message.fields = 0x1f;
    message.domain = [book_domain(BOOK).1, B256::repeat_byte(0x5a).to_vec()].concat();
    message.app_separator = separator(message.fields, &message.domain);
    assert!(message.check(&active()).unwrap().is_valid());
    // the verifying contract alone
    message.fields = 0x08;
    message.domain = BOOK.into_word().to_vec();
    message.app_separator = separator(message.fields, &message.domain);
    assert!(message.check(&active()).unwrap().is_valid());
    // the explicit contents description: the type, then the name after the last `)`
    let mut message = Message::offer(1);
    message.contents_descr = format!("{OFFER_TYPE}Offer").into_bytes();
    let validation = message.check(&active()).unwrap();
    assert!(validation.is_valid(), "{validation}");
    // a revoked flag counts only when the record says some permission is revoked
    let mut state = active();
    state.revoked.insert(message.leaf());
    assert!(message.check(&state).unwrap().is_valid());
}

#[test]
fn answers_the_erc7739_detection_for_an_empty_signature() {
    let message = Message::offer(1);
    let validation = message
        .check_data(&[], ERC7739_DETECTION_HASH, &active())
        .unwrap();
    assert_eq!(validation.answer, MessageAnswer::Erc7739Supported);
    assert_eq!(
        validation.answer.magic(),
        FixedBytes([0x77, 0x39, 0x00, 0x01])
    );
    // whatever the state: the detection does not read it
    let mut state = active();
    state.installed = false;
    assert_eq!(
        message
            .check_data(&[], ERC7739_DETECTION_HASH, &state)
            .unwrap()
            .answer,
        MessageAnswer::Erc7739Supported
    );
    assert_eq!(
        mismatch(message.check_data(&[], message.hash(), &state)),
        MessageMismatch::NotDetectionHash
    );
    for answer in [
        MessageAnswer::Valid,
        MessageAnswer::Invalid,
        MessageAnswer::Erc7739Supported,
    ] {
        assert_eq!(MessageAnswer::from_magic(answer.magic()), Some(answer));
    }
    assert_eq!(MessageAnswer::from_magic(FixedBytes::ZERO), None);
}

#[test]
fn refuses_by_the_session_state_first() {
    let message = Message::offer(1);
    let mut state = active();
    state.installed = false;
    assert!(matches!(error(message.check(&state)), E::NotInstalled(e) if e.account == ACCOUNT));
    // shorter than a session: truncated before anything else is read
    assert!(matches!(
        error(message.check_data(&[1; 287], message.hash(), &active())),
        E::SignatureTruncated(e) if e.offset.is_zero() && e.needed == U256::from(288)
    ));
    for status in [SessionStatus::Unknown, SessionStatus::Revoked] {
        let mut state = active();
        state.status = status;
        assert!(matches!(
            error(message.check(&state)),
            E::SessionNotActive(e) if Some(e.sessionId) == message.check(&active()).unwrap().session_id
        ));
    }
    // revoked permission: after the whole scope, before the signature
    let mut state = active();
    state.permissions_revoked = true;
    state.revoked.insert(message.leaf());
    assert!(matches!(
        error(message.check(&state)),
        E::PermissionIsRevoked(e) if e.callIndex.is_zero() && e.leaf == message.leaf()
    ));
    // a revoked permission whose scope does not match: invalid, the flag is not read
    assert_eq!(
        mismatch(message.check_data(&message.data(), B256::ZERO, &state)),
        MessageMismatch::HashMismatch {
            expected: message.hash()
        }
    );
}

#[test]
fn answers_invalid_for_envelopes_that_do_not_decode_or_match() {
    let message = Message::offer(1);
    let data = message.data();
    // a contentsDescr length longer than the envelope
    let mut long = data.clone();
    let n = long.len();
    long[n - 2..].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(
        mismatch(message.check_data(&long, message.hash(), &active())),
        MessageMismatch::MalformedEnvelope
    );
    // contents descriptions that name no type: empty, implicit without a name, explicit without `)`, forbidden
    for descr in [
        "",
        "(uint256 a)",
        "Offer",
        "Of fer(uint256 a)",
        "Offer(uint256 a) ",
        ")",
    ] {
        let message = Message {
            contents_descr: descr.as_bytes().to_vec(),
            ..Message::offer(1)
        };
        assert_eq!(
            mismatch(message.check(&active())),
            MessageMismatch::InvalidContentsDescr,
            "{descr:?}"
        );
    }
    // PersonalSign: a session and an ECDSA signature, no envelope
    let mut personal = encode_session(&message.session).to_vec();
    personal.extend_from_slice(&key().sign_hash_bytes(&B256::repeat_byte(1)).unwrap());
    assert!(matches!(
        mismatch(message.check_data(&personal, B256::repeat_byte(1), &active())),
        MessageMismatch::InvalidContentsDescr | MessageMismatch::MalformedEnvelope
    ));
    // another hash
    assert_eq!(
        mismatch(message.check_data(&data, B256::repeat_byte(9), &active())),
        MessageMismatch::HashMismatch {
            expected: message.hash()
        }
    );
    // an app domain that does not hash to the separator (another name): a mismatch, before the scope
    let mut other = Message::offer(1);
    other.domain[..32].copy_from_slice(keccak256("Other").as_slice());
    assert_eq!(
        mismatch(other.check(&active())),
        MessageMismatch::AppDomainMismatch
    );
    // contents that do not hash to the contents hash, within the rules
    let mut other = Message::offer(1);
    other.contents_hash = Some(keccak256(offer(2)));
    assert_eq!(
        mismatch(other.check(&active())),
        MessageMismatch::ContentsMismatch
    );
    // another signer; a signature of another account (its domain in the digest)
    let other = Message {
        signer: SessionKey::from_bytes(&[8u8; 32]).unwrap(),
        ..Message::offer(1)
    };
    let validation = other.check(&active()).unwrap();
    assert_eq!(validation.mismatch, Some(MessageMismatch::SessionSignature));
    assert!(!validation.session_signature.unwrap().valid());
    let mut other = Message::offer(1);
    other.account_domain.verifying_contract = Address::repeat_byte(0xad);
    let data = other.data();
    assert_eq!(
        mismatch(message.check_data(&data, message.hash(), &active())),
        MessageMismatch::SessionSignature
    );
    // no session signature at all
    let inner = message.inner();
    assert_eq!(
        mismatch(message.check_data(&message.envelope(&inner), message.hash(), &active())),
        MessageMismatch::SessionSignature
    );
}

#[test]
fn refuses_permissions_outside_the_session_or_not_typed_data() {
    // a leaf of another tree
    let mut message = Message::offer(1);
    message.permission = encode_permission(&offer_permission(BOOK, MAX_PRICE + 1));
    let leaf = message.leaf();
    assert!(matches!(
        error(message.check(&active())),
        E::PermissionNotInSession(e) if e.callIndex.is_zero() && e.leaf == leaf
    ));
    // a call permission
    let mut call = offer_permission(BOOK, 1);
    call.flags = 0;
    call.selector = FixedBytes([1, 2, 3, 4]);
    assert!(matches!(
        error(Message::with_permission(&call).check(&active())),
        E::InvalidPermissionFlags(e) if e.callIndex.is_zero() && e.flags == 0
    ));
    let mut flags = offer_permission(BOOK, 1);
    flags.flags = 32 | 2;
    assert!(matches!(
        error(Message::with_permission(&flags).check(&active())),
        E::InvalidPermissionFlags(e) if e.flags == 34
    ));
    // call fields, no rule, a rule 0 that does not pin the type
    let mut uses = offer_permission(BOOK, 1);
    uses.maxUses = 1;
    let mut value = offer_permission(BOOK, 1);
    value.valueLimit = U256::from(1);
    let mut interval = offer_permission(BOOK, 1);
    interval.rateLimitInterval = U48::from(60);
    let mut no_rules = offer_permission(BOOK, 1);
    no_rules.rules.clear();
    let mut lte = offer_permission(BOOK, 1);
    lte.rules[0].operator = RuleOperator::Lte as u8;
    let mut word1 = offer_permission(BOOK, 1);
    word1.rules[0].argIndex = 1;
    for permission in [uses, value, interval, no_rules, lte, word1] {
        let message = Message::with_permission(&permission);
        let leaf = message.leaf();
        let revert = message.check(&active()).unwrap_err();
        assert!(
            matches!(revert.error(), Some(E::InvalidTypedDataPermission(e)) if e.leaf == leaf),
            "{revert}"
        );
    }
    // its window applies, but not its target's validity as a call target
    let mut windowed = offer_permission(BOOK, MAX_PRICE);
    windowed.validAfter = U48::from(START + 20);
    windowed.validUntil = U48::from(START + 30);
    let message = Message::with_permission(&windowed);
    assert!(matches!(
        error(message.check(&active())),
        E::SignatureOutsideWindow(e) if e.timestamp == U256::from(NOW)
            && e.validAfter == U256::from(START + 20) && e.validUntil == U256::from(START + 30)
    ));
    let message = Message {
        now: START + 31,
        ..message
    };
    assert!(matches!(
        error(message.check(&active())),
        E::SignatureOutsideWindow(e) if e.timestamp == U256::from(START + 31)
    ));
    let message = Message {
        now: START + 30,
        ..message
    };
    assert!(message.check(&active()).unwrap().is_valid());
    // the session's window
    for now in [START - 1, UNTIL + 1] {
        let message = Message {
            now,
            ..Message::offer(1)
        };
        assert!(matches!(
            error(message.check(&active())),
            E::SignatureOutsideWindow(e) if e.timestamp == U256::from(now)
                && e.validAfter == U256::from(START) && e.validUntil == U256::from(UNTIL)
        ));
    }
}

#[test]
fn reads_the_permission_as_solidity_does() {
    let base = encode_permission(&offer_permission(BOOK, MAX_PRICE));
    // the encoding's words: 0 the offset, 1 target, 2 selector, 3 flags, … 12 the rules' offset
    let word = |w: usize| 32 * w;
    let with = |w: usize, value: U256| {
        let mut encoding = base.clone();
        encoding[word(w)..word(w) + 32].copy_from_slice(&value.to_be_bytes::<32>());
        Message::with_encoding(encoding).check(&active())
    };
    // flags above uint8: the checked read reverts without data
    assert_eq!(empty_field(with(3, U256::from(0x120))), "flags");
    // a target above 160 bits: read after the app domain
    assert_eq!(
        empty_field(with(
            1,
            U256::from(1) << 160 | U256::from_be_slice(BOOK.as_slice())
        )),
        "target"
    );
    // validAfter above uint48
    assert_eq!(empty_field(with(7, U256::from(1) << 48)), "validAfter");
    // a head too short, a wrong offset: MalformedPermission(0)
    let mut short = base.clone();
    short.truncate(0x1a0 - 1);
    assert!(matches!(
        error(Message::with_encoding(short).check(&active())),
        E::MalformedPermission(e) if e.callIndex.is_zero()
    ));
    assert!(matches!(
        error(with(0, U256::from(0x40))),
        E::MalformedPermission(_)
    ));
    assert!(matches!(
        error(with(12, U256::from(0x10000))),
        E::MalformedPermission(_)
    ));
    // rule 0's operator out of the enum: read raw, it is not `Eq`, so the typed-data permission is invalid
    let mut operator = offer_permission(BOOK, MAX_PRICE);
    operator.rules[0].operator = 14;
    assert!(matches!(
        error(Message::with_permission(&operator).check(&active())),
        E::InvalidTypedDataPermission(_)
    ));
    // an operator out of the enum in a later rule: the raw read gives InvalidRule
    let mut later = offer_permission(BOOK, MAX_PRICE);
    later.rules[2].operator = 14;
    assert!(matches!(
        error(Message::with_permission(&later).check(&active())),
        E::InvalidRule(e) if e.callIndex.is_zero() && e.ruleIndex == U256::from(2)
    ));
    // too many rules
    let mut many = offer_permission(BOOK, MAX_PRICE);
    while many.rules.len() <= 32 {
        many.rules
            .push(rule(RuleOperator::Eq, 0, vec![offer_typehash()]));
    }
    assert!(matches!(
        error(Message::with_permission(&many).check(&active())),
        E::TooManyRules(e) if e.count == U256::from(33) && e.max == U256::from(32)
    ));
}

#[test]
fn refuses_app_domains_and_verifying_contracts() {
    for (fields, words) in [(0x07u8, 3usize), (0x28, 1), (0xff, 5)] {
        let mut message = Message::offer(1);
        message.fields = fields;
        message.domain = vec![0; 32 * words];
        assert!(matches!(
            error(message.check(&active())),
            E::UnsupportedAppDomain(e) if e.fields == fields
        ));
    }
    // a verifying contract word above 160 bits
    let mut message = Message::offer(1);
    message.domain[96] = 1;
    assert!(matches!(
        error(message.check(&active())),
        E::UnsupportedAppDomain(e) if e.fields == 0x0f
    ));
    // the account, the validator, address(0): even with a permission that names them
    for forbidden in [ACCOUNT, VALIDATOR, Address::ZERO] {
        let mut message = Message::with_permission(&offer_permission(forbidden, MAX_PRICE));
        let (fields, domain) = book_domain(forbidden);
        message.app_separator = separator(fields, &domain);
        message.domain = domain;
        assert!(matches!(
            error(message.check(&active())),
            E::ForbiddenVerifyingContract(e) if e.verifyingContract == forbidden
        ));
    }
    // another book's domain under this book's separator: a mismatch, answered before the scope is checked
    let mut message = Message::offer(1);
    message.domain = book_domain(OTHER_BOOK).1;
    assert_eq!(
        mismatch(message.check(&active())),
        MessageMismatch::AppDomainMismatch
    );
    // the account's domain must be its own on this chain
    let mut message = Message::offer(1);
    message.account_domain.chain_id = U256::from(1);
    assert!(matches!(
        error(message.check(&active())),
        E::AccountDomainNotBound(e) if e.account == ACCOUNT
    ));
    let mut message = Message::offer(1);
    message.account_domain.verifying_contract = BOOK;
    assert!(matches!(
        error(message.check(&active())),
        E::AccountDomainNotBound(_)
    ));
    // not read at all when the contents do not match
    message.contents_hash = Some(B256::ZERO);
    assert_eq!(
        mismatch(message.check(&active())),
        MessageMismatch::ContentsMismatch
    );
    // an account without eip712Domain(): the verifier's call reverts without data
    let message = Message::offer(1);
    let data = message.data();
    let result = is_valid_signature(&MessageInput {
        account: ACCOUNT,
        validator: VALIDATOR,
        hash: message.hash(),
        data: &data,
        now: NOW,
        chain_id: CHAIN,
        account_domain: None,
        state: &active(),
    });
    assert_eq!(empty_field(result), "eip712Domain");
}

#[test]
fn checks_the_rules_on_the_contents_words() {
    // price above the rule: ArgumentRuleFailed(0, 2, 5)
    let message = Message::offer(MAX_PRICE + 1);
    let revert = message.check(&active()).unwrap_err();
    assert!(
        matches!(revert.error(), Some(E::ArgumentRuleFailed(e))
            if e.callIndex.is_zero() && e.ruleIndex == U256::from(2) && e.argIndex == U256::from(WORD_PRICE)),
        "{revert}"
    );
    assert!(
        revert.to_string().contains("word 5 of the contents"),
        "{revert}"
    );
    // contents of another type: rule 0
    let mut message = Message::offer(1);
    message.contents = (keccak256("Cancel(uint256 nonce)"), U256::from(7)).abi_encode();
    assert!(matches!(
        error(message.check(&active())),
        E::ArgumentRuleFailed(e) if e.ruleIndex.is_zero() && e.argIndex.is_zero()
    ));
    // contents too short for word 5: fails closed
    let mut message = Message::offer(1);
    message.contents.truncate(5 * 32);
    assert!(matches!(
        error(message.check(&active())),
        E::ArgumentOutOfBounds(e) if e.ruleIndex == U256::from(2) && e.argIndex == U256::from(WORD_PRICE)
    ));
    // contents that do not match the hash are a mismatch: their rules are not checked
    let mut message = Message::offer(MAX_PRICE + 1);
    message.contents_hash = Some(keccak256(offer(1)));
    assert_eq!(
        mismatch(message.check(&active())),
        MessageMismatch::ContentsMismatch
    );
}

#[test]
fn truncations_name_the_field_the_contract_reads() {
    let message = Message::offer(1);
    let inner = message.inner();
    let permission_at = 288;
    let proof_at = permission_at + 2 + message.permission.len();
    let domain_at = proof_at + 1;
    let contents_at = domain_at + 1 + 4 * 32;
    let cases = [
        (permission_at + 1, permission_at, 2),
        (
            permission_at + 2,
            permission_at + 2,
            message.permission.len(),
        ),
        (proof_at, proof_at, 1),
        (domain_at, domain_at, 1),
        (domain_at + 1 + 10, domain_at + 1, 4 * 32),
        (contents_at + 3, contents_at, 4),
        (contents_at + 4, contents_at + 4, message.contents.len()),
    ];
    for (cut, offset, needed) in cases {
        let data = message.envelope(&inner[..cut]);
        assert!(
            matches!(
                error(message.check_data(&data, message.hash(), &active())),
                E::SignatureTruncated(e) if e.offset == U256::from(offset) && e.needed == U256::from(needed)
            ),
            "cut at {cut}"
        );
    }
    // an inner signature shorter than a session, in a longer envelope
    let mut descr_heavy = Message::offer(1);
    descr_heavy.contents_descr = format!("{OFFER_TYPE}{OFFER_TYPE}").into_bytes();
    let data = descr_heavy.envelope(&inner[..100]);
    assert!(data.len() >= 288);
    assert!(matches!(
        error(message.check_data(&data, message.hash(), &active())),
        E::SignatureTruncated(e) if e.offset.is_zero() && e.needed == U256::from(288)
    ));
    // the keys `chain` reads
    let (session_id, leaf) = message_keys(&message.data());
    assert_eq!(
        session_id,
        Some(keyscope_permissions::session_id(&message.session))
    );
    assert_eq!(leaf, Some(message.leaf()));
    assert_eq!(message_keys(&[]), (None, None));
}

#[test]
fn decodes_contents_descriptions_as_openzeppelin() {
    let implicit = OFFER_TYPE.as_bytes();
    assert_eq!(
        decode_contents_descr(implicit),
        Some((&b"Offer"[..], implicit))
    );
    let explicit = b"A(uint256 x)B(uint256 y)A";
    assert_eq!(
        decode_contents_descr(explicit),
        Some((&b"A"[..], &b"A(uint256 x)B(uint256 y)"[..]))
    );
    assert_eq!(decode_contents_descr(b")A"), Some((&b"A"[..], &b")"[..])));
    for invalid in [
        &b""[..],
        b"A",
        b"(x)",
        b" A(x)",
        b"A,B(x)",
        b"A\0(x)",
        b"x)A B",
        b"x)A(B",
    ] {
        assert_eq!(decode_contents_descr(invalid), None, "{invalid:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid signature with bytes overwritten: never a panic, never valid unless unchanged.
    #[test]
    fn mutated_signatures_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        revoked in any::<bool>(),
        now in START - 5..UNTIL + 5,
    ) {
        let message = Message { now, ..Message::offer(MAX_PRICE) };
        let mut data = message.data();
        let original = data.clone();
        for (position, byte) in &edits {
            let len = data.len();
            data[position % len] = *byte;
        }
        let mut state = active();
        state.permissions_revoked = revoked;
        let result = message.check_data(&data, message.hash(), &state);
        if data == original && !revoked && (START..=UNTIL).contains(&now) {
            prop_assert!(result.unwrap().is_valid());
        } else if let Ok(validation) = &result {
            // Only the session's own fields are outside the signed digest: the state says the session is active
            // whatever its id, so a changed salt, window within `now`, paymaster or fee field still verifies here
            // (on chain such a session is another one, not granted).
            prop_assert!(
                !validation.is_valid() || data[288..] == original[288..],
                "{}",
                validation
            );
        }
    }

    /// Random bytes: never a panic.
    #[test]
    fn random_signatures_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..800),
        hash in any::<[u8; 32]>(),
    ) {
        let message = Message::offer(1);
        let _ = message.check_data(&data, B256::from(hash), &active());
        let _ = message_keys(&data);
    }
}

//! A session key's message signature (ERC-1271 through ERC-7739's nested `TypedDataSign`):
//! `SessionKeyValidator.isValidSignatureWithSender` and the stateless `SessionTypedDataVerifier.check` it calls,
//! step for step in the contracts' order, so the first failure is the contracts' (the verifier's reverts bubble up
//! through the validator unchanged). The verifier reads the permission as a calldata struct inside its own
//! calldata, `check(account, hash, data)` as the validator encodes it ([`Calldata::of_typed_data_check`]), with
//! Solidity's accessor checks, as `validateUserOp`'s mirror does.
//!
//! | Solidity                                                   | Rust                                          |
//! |------------------------------------------------------------|-----------------------------------------------|
//! | `SessionKeyValidator.isValidSignatureWithSender`           | `MessageMachine::run` (entered by [`is_valid_signature`]) |
//! | `SessionTypedDataVerifier.check`                           | `MessageMachine::check`                       |
//! | `ERC7739Utils.decodeTypedDataSig`                          | [`decode_typed_data_sig`]                     |
//! | `ERC7739Utils.decodeContentsDescr`                         | [`decode_contents_descr`]                     |
//! | `MessageHashUtils.toTypedDataHash`                         | [`to_typed_data_hash`]                        |
//! | `ERC7739Utils.typedDataSignStructHash`, `typedDataSignTypehash` | [`typed_data_sign_struct_hash`]          |
//! | `SessionTypedDataVerifier._checkScope`                     | `MessageMachine::check_scope`                 |
//! | `SessionTypedDataVerifier._checkTypedDataPermission`       | `check_typed_data_permission`                 |
//! | `SessionTypedDataVerifier._checkWindow`                    | `check_window`                                |
//! | `SessionTypedDataVerifier._appDomain`                      | `app_domain`                                  |
//! | `SessionTypedDataVerifier._accountDomainBytes`             | `MessageMachine::account_domain_bytes`        |
//! | `_checkRule` (`SessionWireFormat`)                         | `call::check_rules`, over `contents` with their length prefix |

use core::ops::Range;

use alloy::primitives::{keccak256, Address, B256, U256};
use keyscope_permissions::abi::{decode_permission, SESSION_TYPEHASH};
use keyscope_permissions::verify;

use super::super::decode::{
    address_of_word, empty_revert, take, take_prefixed, take_uint, u, word_at, Calldata,
    PermissionView, CHECK_DATA_OFFSET, P_ERC20_TOTAL_LIMIT, P_MAX_USES, P_NATIVE_TOTAL_LIMIT,
    P_RATE_LIMIT_COUNT, P_RATE_LIMIT_INTERVAL, P_RULES, P_SELECTOR, P_VALID_AFTER, P_VALID_UNTIL,
    P_VALUE_LIMIT,
};
use super::super::{
    MessageAnswer, MessageInput, MessageMismatch, MessageScope, MessageValidation, RuleDetail,
    SessionSignatureCheck, Step,
};
use super::call::check_rules;
use super::{PERMISSION_HEAD_LENGTH, SESSION_LENGTH};
use crate::client::SessionStatus;

/// `_ERC7739_DETECTION_HASH`: `0x7739…7739`.
pub(in crate::explain) const ERC7739_DETECTION_HASH: B256 = B256::new([
    0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39,
    0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39,
]);
/// `SessionTypes.FLAG_TYPED_DATA`.
const FLAG_TYPED_DATA: u8 = 32;
/// ERC-5267 field bits of an EIP-712 domain.
const FIELD_NAME: usize = 0x01;
const FIELD_VERSION: usize = 0x02;
const FIELD_CHAIN_ID: usize = 0x04;
const FIELD_VERIFYING_CONTRACT: usize = 0x08;
const FIELD_SALT: usize = 0x10;

/// `isValidSignatureWithSender(_, input.hash, input.data)` called by `input.account`: its answer or its revert.
pub(in crate::explain) fn is_valid_signature(input: &MessageInput<'_>) -> Step<MessageValidation> {
    let calldata = Calldata::of_typed_data_check(input.account, input.hash, input.data);
    let mut machine = MessageMachine {
        input,
        calldata: &calldata,
        scope: MessageScope::default(),
        rule: None,
        root: None,
    };
    let result = machine.run();
    result.map_err(|mut revert| {
        revert.rule = machine.rule.take().map(Box::new);
        revert.root = machine.root;
        revert.message = Some(Box::new(machine.scope));
        revert
    })
}

/// The session and the typed-data permission leaf a message signature names, where `data` frames them (for the
/// state to read: `sessionStatus`, `hasRevokedPermissions`, `permissionRevoked`).
pub(in crate::explain) fn message_keys(data: &[u8]) -> (Option<B256>, Option<B256>) {
    let session_id = data.get(..SESSION_LENGTH).map(session_id_of);
    let leaf = decode_typed_data_sig(data).and_then(|envelope| {
        let signature = &data[..envelope.signature_end];
        let cursor = take(signature, 0, SESSION_LENGTH).ok()?;
        let (permission, _) = take_prefixed(signature, cursor, 2).ok()?;
        Some(keccak256(keccak256(&signature[permission])))
    });
    (session_id, leaf)
}

/// `_sessionIdOf`: `keccak256(SESSION_TYPEHASH ‖ session)`.
fn session_id_of(session: &[u8]) -> B256 {
    let mut preimage = SESSION_TYPEHASH.to_vec();
    preimage.extend_from_slice(session);
    keccak256(&preimage)
}

/// What `check` returns when the envelope matches `hash`: whether the app domain and the contents match, the
/// leaf, the nested digest and where the session signature is in `data`.
struct Checked {
    leaf: B256,
    digest: B256,
    signature: Range<usize>,
}

struct MessageMachine<'a> {
    input: &'a MessageInput<'a>,
    /// The verifier's calldata, `check(account, hash, data)`.
    calldata: &'a Calldata,
    scope: MessageScope,
    rule: Option<RuleDetail>,
    root: Option<B256>,
}

impl MessageMachine<'_> {
    /// `isValidSignatureWithSender`.
    fn run(&mut self) -> Step<MessageValidation> {
        let input = self.input;
        let state = input.state;
        let data = input.data;
        let mut validation = MessageValidation {
            answer: MessageAnswer::Invalid,
            mismatch: None,
            session_id: None,
            leaf: None,
            contents_name: None,
            verifying_contract: None,
            digest: None,
            session_signature: None,
        };
        if data.is_empty() {
            if input.hash == ERC7739_DETECTION_HASH {
                validation.answer = MessageAnswer::Erc7739Supported;
            } else {
                validation.mismatch = Some(MessageMismatch::NotDetectionHash);
            }
            return Ok(validation);
        }
        if !state.installed {
            fail!(NotInstalled {
                account: input.account
            });
        }
        let end = take(data, 0, SESSION_LENGTH)?;
        let session = &data[..end];
        let session_id = session_id_of(session);
        self.scope.session_id = Some(session_id);
        validation.session_id = Some(session_id);
        // `record.epoch != state.epoch || record.status != Active`: `state.status` is the status in the epoch
        if state.status != SessionStatus::Active {
            fail!(SessionNotActive {
                sessionId: session_id
            });
        }
        let checked = match self.check(&mut validation)? {
            Ok(checked) => checked,
            Err(mismatch) => {
                validation.mismatch = Some(mismatch);
                return Ok(validation);
            }
        };
        if state.permissions_revoked && state.revoked.contains(&checked.leaf) {
            fail!(PermissionIsRevoked {
                callIndex: U256::ZERO,
                leaf: checked.leaf
            });
        }
        // `_signedBySessionKey(digest, sessionData, data[:signatureEnd], signatureStart)`
        let signer = address_of_word(word_at(session, 0));
        let check = SessionSignatureCheck {
            signer,
            check: keyscope_signer::verify_session_signature(
                &checked.digest,
                signer,
                &data[checked.signature],
            ),
        };
        if check.valid() {
            validation.answer = MessageAnswer::Valid;
        } else {
            validation.mismatch = Some(MessageMismatch::SessionSignature);
        }
        validation.session_signature = Some(check);
        Ok(validation)
    }

    /// `SessionTypedDataVerifier.check(account, hash, data)`: the envelope, the scope and the nested digest; a
    /// mismatch of the envelope with `hash` (answered invalid) as `Err`.
    fn check(
        &mut self,
        validation: &mut MessageValidation,
    ) -> Step<core::result::Result<Checked, MessageMismatch>> {
        let input = self.input;
        let Some(envelope) = decode_typed_data_sig(input.data) else {
            return Ok(Err(MessageMismatch::MalformedEnvelope));
        };
        let Some((name, contents_type)) = decode_contents_descr(envelope.contents_descr) else {
            return Ok(Err(MessageMismatch::InvalidContentsDescr));
        };
        validation.contents_name = Some(String::from_utf8_lossy(name).into_owned());
        let expected = to_typed_data_hash(envelope.app_separator, envelope.contents_hash);
        if input.hash != expected {
            return Ok(Err(MessageMismatch::HashMismatch { expected }));
        }
        let signature = &input.data[..envelope.signature_end];
        let (app_domain, contents, leaf, start) =
            self.check_scope(signature, envelope.app_separator, envelope.contents_hash)?;
        validation.leaf = Some(leaf);
        validation.verifying_contract = self.scope.verifying_contract;
        if !app_domain {
            return Ok(Err(MessageMismatch::AppDomainMismatch));
        }
        if !contents {
            return Ok(Err(MessageMismatch::ContentsMismatch));
        }
        let domain = self.account_domain_bytes()?;
        let digest = to_typed_data_hash(
            envelope.app_separator,
            typed_data_sign_struct_hash(name, contents_type, envelope.contents_hash, &domain),
        );
        validation.digest = Some(digest);
        Ok(Ok(Checked {
            leaf,
            digest,
            signature: start..envelope.signature_end,
        }))
    }

    /// `_checkScope`: the session, the typed-data permission and its proof, the window, the app domain, the
    /// contents and the rules. Returns whether the app domain and the contents match, the leaf and where the
    /// session signature starts.
    fn check_scope(
        &mut self,
        signature: &[u8],
        app_separator: B256,
        contents_hash: B256,
    ) -> Step<(bool, bool, B256, usize)> {
        let input = self.input;
        let cursor = take(signature, 0, SESSION_LENGTH)?;
        let session = &signature[..cursor];
        let (permission_range, cursor) = take_prefixed(signature, cursor, 2)?;
        let (proof_length, cursor) = take_uint(signature, cursor, 1)?;
        let proof_start = cursor;
        let cursor = take(signature, cursor, proof_length * 0x20)?;
        let proof: Vec<B256> = signature[proof_start..cursor]
            .chunks_exact(0x20)
            .map(B256::from_slice)
            .collect();
        let permission_data = &signature[permission_range.clone()];
        let leaf = keccak256(keccak256(permission_data));
        self.scope.leaf = Some(leaf);
        self.scope.permission = decode_permission(permission_data).ok();
        let root = B256::from_slice(&session[96..128]);
        self.root = Some(root);
        if !verify(root, leaf, &proof) {
            fail!(PermissionNotInSession {
                callIndex: U256::ZERO,
                leaf: leaf
            });
        }
        // _permissionView(0, permissionData)
        let length = permission_data.len();
        if length < PERMISSION_HEAD_LENGTH || word_at(permission_data, 0) != U256::from(0x20) {
            fail!(MalformedPermission {
                callIndex: U256::ZERO
            });
        }
        if word_at(permission_data, 0x20 + 11 * 0x20) > u(length - 0x40) {
            fail!(MalformedPermission {
                callIndex: U256::ZERO
            });
        }
        let view = PermissionView {
            calldata: self.calldata,
            base: u(CHECK_DATA_OFFSET + permission_range.start + 0x20),
        };
        check_typed_data_permission(&view, leaf)?;
        check_window(session, &view, input.now)?;

        // words that do not hash to the envelope's separator or contents hash: a mismatch, answered invalid before
        // any of them is checked against the scope
        let (app_domain, verifying_contract, cursor) =
            app_domain(signature, cursor, app_separator)?;
        if !app_domain {
            return Ok((false, false, leaf, cursor));
        }
        self.scope.verifying_contract = Some(verifying_contract);
        if verifying_contract == input.account
            || verifying_contract == input.validator
            || verifying_contract.is_zero()
        {
            fail!(ForbiddenVerifyingContract {
                verifyingContract: verifying_contract
            });
        }
        let allowed = view.address()?;
        if verifying_contract != allowed {
            fail!(VerifyingContractNotAllowed {
                verifyingContract: verifying_contract,
                allowed: allowed
            });
        }

        // the contents as `typeHash ‖ encodeData`, after their 4-byte length: argument k of a rule is their word k
        let contents_start = cursor;
        let (contents_range, cursor) = take_prefixed(signature, cursor, 4)?;
        self.scope.contents_len = Some(contents_range.len());
        if keccak256(&signature[contents_range]) != contents_hash {
            return Ok((true, false, leaf, cursor));
        }
        check_rules(&view, 0, &signature[contents_start..cursor], &mut self.rule)?;
        Ok((true, true, leaf, cursor))
    }

    /// `_accountDomainBytes`: the account's ERC-5267 domain, which must be its own on this chain, as
    /// `TypedDataSign` encodes it.
    fn account_domain_bytes(&self) -> Step<[u8; 160]> {
        let input = self.input;
        let Some(domain) = input.account_domain else {
            return Err(empty_revert("eip712Domain"));
        };
        if domain.verifying_contract != input.account
            || domain.chain_id != U256::from(input.chain_id)
        {
            fail!(AccountDomainNotBound {
                account: input.account
            });
        }
        Ok(domain.encoded())
    }
}

/// `_checkTypedDataPermission`: `FLAG_TYPED_DATA` alone, no call field, and rule 0 `Eq` on argument 0 (the
/// contents' type hash). Solidity's checked reads of `flags`, `rules`, `rules[0]` and its `argIndex` revert
/// without data on a value out of range; rule 0's operator is read raw.
fn check_typed_data_permission(view: &PermissionView<'_>, leaf: B256) -> Step<()> {
    let flags = view.flags()?;
    if flags != FLAG_TYPED_DATA {
        fail!(InvalidPermissionFlags {
            callIndex: U256::ZERO,
            flags: flags
        });
    }
    // selector, valueLimit, nativeTotalLimit, erc20TotalLimit, maxUses, rateLimitCount, rateLimitInterval (raw)
    let call_fields = [
        P_SELECTOR,
        P_VALUE_LIMIT,
        P_NATIVE_TOTAL_LIMIT,
        P_ERC20_TOTAL_LIMIT,
        P_MAX_USES,
        P_RATE_LIMIT_COUNT,
        P_RATE_LIMIT_INTERVAL,
    ]
    .iter()
    .any(|offset| !view.raw(*offset).is_zero());
    let invalid = || -> Step<()> {
        fail!(InvalidTypedDataPermission { leaf: leaf });
    };
    if call_fields {
        return invalid();
    }
    let calldata = view.calldata;
    let Some((rules, count)) = calldata.tail(
        view.base,
        view.base.wrapping_add(U256::from(P_RULES)),
        0x20,
        true,
    ) else {
        return Err(empty_revert("rules"));
    };
    if count.is_zero() {
        return invalid();
    }
    let Some((rule, _)) = calldata.tail(rules, rules, 0x60, false) else {
        return Err(empty_revert("rules[0]"));
    };
    // the operator word read raw (assembly): any operator but `Eq`, known or not, is this error
    if !calldata.load(rule).is_zero() {
        return invalid();
    }
    let arg_index = calldata.load(rule.wrapping_add(U256::from(0x20)));
    if arg_index >> 16 != U256::ZERO {
        return Err(empty_revert("rules[0].argIndex"));
    }
    if !arg_index.is_zero() {
        return invalid();
    }
    Ok(())
}

/// `_checkWindow`: the session's window intersected with the permission's, against `now` (`block.timestamp`).
/// The session's fields are read as a calldata struct too (`session.validAfter`: checked `uint48` reads).
fn check_window(session: &[u8], view: &PermissionView<'_>, now: u64) -> Step<()> {
    let session_after = word_at(session, 32);
    if session_after >> 48 != U256::ZERO {
        return Err(empty_revert("session.validAfter"));
    }
    let session_until = word_at(session, 64);
    if session_until >> 48 != U256::ZERO {
        return Err(empty_revert("session.validUntil"));
    }
    let permission_after = view.uint(P_VALID_AFTER, 48, "validAfter")?;
    let permission_until = view.uint(P_VALID_UNTIL, 48, "validUntil")?;
    let mut valid_after = session_after;
    let mut valid_until = session_until;
    if permission_after > valid_after {
        valid_after = permission_after;
    }
    if !permission_until.is_zero() && permission_until < valid_until {
        valid_until = permission_until;
    }
    let now = U256::from(now);
    if now < valid_after || now > valid_until {
        fail!(SignatureOutsideWindow {
            timestamp: now,
            validAfter: valid_after,
            validUntil: valid_until
        });
    }
    Ok(())
}

/// `_appDomain`: the app's EIP-712 domain at `cursor` (ERC-5267 field bits, then the fields' encoded words): whether
/// its separator is `app_separator`, its verifying contract, and the cursor after it.
fn app_domain(
    signature: &[u8],
    cursor: usize,
    app_separator: B256,
) -> Step<(bool, Address, usize)> {
    let (fields, cursor) = take_uint(signature, cursor, 1)?;
    // one byte: it fits
    let fields_byte = u8::try_from(fields).unwrap_or(u8::MAX);
    if fields & FIELD_VERIFYING_CONTRACT == 0 || fields > 0x1f {
        fail!(UnsupportedAppDomain {
            fields: fields_byte
        });
    }
    let before = (fields & FIELD_NAME) + ((fields >> 1) & 1) + ((fields >> 2) & 1);
    let words = before + 1 + ((fields >> 4) & 1);
    let start = cursor;
    let cursor = take(signature, cursor, words * 0x20)?;
    let encoded = &signature[start..cursor];
    let word = word_at(encoded, before * 0x20);
    if word >> 160 != U256::ZERO {
        fail!(UnsupportedAppDomain {
            fields: fields_byte
        });
    }
    let mut typehash = b"EIP712Domain(".to_vec();
    if fields & FIELD_NAME != 0 {
        typehash.extend_from_slice(b"string name,");
    }
    if fields & FIELD_VERSION != 0 {
        typehash.extend_from_slice(b"string version,");
    }
    if fields & FIELD_CHAIN_ID != 0 {
        typehash.extend_from_slice(b"uint256 chainId,");
    }
    typehash.extend_from_slice(b"address verifyingContract");
    if fields & FIELD_SALT != 0 {
        typehash.extend_from_slice(b",bytes32 salt");
    }
    typehash.push(b')');
    let mut preimage = keccak256(&typehash).to_vec();
    preimage.extend_from_slice(encoded);
    let matched = keccak256(&preimage) == app_separator;
    Ok((matched, address_of_word(word), cursor))
}

/// The parts of an ERC-7739 `TypedDataSign` envelope: `signature ‖ appSeparator ‖ contentsHash ‖ contentsDescr ‖
/// uint16(contentsDescr.length)`.
pub(in crate::explain) struct Envelope<'d> {
    /// Where the inner signature ends (it starts at 0).
    pub(in crate::explain) signature_end: usize,
    pub(in crate::explain) app_separator: B256,
    pub(in crate::explain) contents_hash: B256,
    pub(in crate::explain) contents_descr: &'d [u8],
}

/// OpenZeppelin's `ERC7739Utils.decodeTypedDataSig`: `None` where it returns empty values (shorter than 66 bytes
/// and the `contentsDescr` length its last two bytes give).
pub(in crate::explain) fn decode_typed_data_sig(data: &[u8]) -> Option<Envelope<'_>> {
    let length = data.len();
    if length < 66 {
        return None;
    }
    let descr_end = length - 2;
    let descr_length = usize::from(u16::from_be_bytes([data[descr_end], data[descr_end + 1]]));
    if length < 66 + descr_length {
        return None;
    }
    let hash_end = descr_end - descr_length;
    let separator_end = hash_end - 32;
    let signature_end = separator_end - 32;
    Some(Envelope {
        signature_end,
        app_separator: B256::from_slice(&data[signature_end..separator_end]),
        contents_hash: B256::from_slice(&data[separator_end..hash_end]),
        contents_descr: &data[hash_end..descr_end],
    })
}

/// OpenZeppelin's `ERC7739Utils.decodeContentsDescr`: the contents' name and type, in the implicit mode (the
/// description ends with `)`: the name is before the first `(`) or the explicit one (the name follows the last
/// `)`); `None` where it returns empty strings (an empty or forbidden name: `\0`, space, `,`, `(`, `)`).
pub(in crate::explain) fn decode_contents_descr(descr: &[u8]) -> Option<(&[u8], &[u8])> {
    let forbidden = |c: u8| matches!(c, 0 | b' ' | b',' | b'(' | b')');
    let last = *descr.last()?;
    if last == b')' {
        for (i, c) in descr.iter().copied().enumerate() {
            if c == b'(' {
                return (i != 0).then(|| (&descr[..i], descr));
            }
            if forbidden(c) {
                return None;
            }
        }
    } else {
        for i in (1..=descr.len()).rev() {
            let c = descr[i - 1];
            if c == b')' {
                return Some((&descr[i..], &descr[..i]));
            }
            if forbidden(c) {
                return None;
            }
        }
    }
    None
}

/// `MessageHashUtils.toTypedDataHash`: `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
pub(in crate::explain) fn to_typed_data_hash(domain_separator: B256, struct_hash: B256) -> B256 {
    let mut preimage = [0u8; 66];
    preimage[..2].copy_from_slice(&[0x19, 0x01]);
    preimage[2..34].copy_from_slice(domain_separator.as_slice());
    preimage[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(preimage)
}

/// `ERC7739Utils.typedDataSignStructHash(contentsName, contentsType, contentsHash, domainBytes)` for a non-empty
/// name: `keccak256(typedDataSignTypehash ‖ contentsHash ‖ domainBytes)`, the typehash being `keccak256("TypedDataSign("
/// ‖ contentsName ‖ " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)" ‖
/// contentsType)`.
pub(in crate::explain) fn typed_data_sign_struct_hash(
    contents_name: &[u8],
    contents_type: &[u8],
    contents_hash: B256,
    domain: &[u8],
) -> B256 {
    let mut typehash = b"TypedDataSign(".to_vec();
    typehash.extend_from_slice(contents_name);
    typehash.extend_from_slice(
        b" contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
    );
    typehash.extend_from_slice(contents_type);
    let mut preimage = keccak256(&typehash).to_vec();
    preimage.extend_from_slice(contents_hash.as_slice());
    preimage.extend_from_slice(domain);
    keccak256(&preimage)
}

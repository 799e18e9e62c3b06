//! Session signer kinds: P-256, WebAuthn and multisig signatures, their verification (the mirror of the
//! validator's `SessionSigners`), key validation, dummies, and mutation properties.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::sync::OnceLock;

use alloy_primitives::{b256, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::SolValue;
use keyscope_permissions::Error as PermissionsError;
use keyscope_signer::signers::{
    commitment, p256_public_key_from_sec1, p256_verify, DEFAULT_ORIGIN, DEFAULT_RP_ID, FLAG_BE,
    FLAG_BS, FLAG_UP, FLAG_UV, P256_HALF_N, P256_N, P256_P,
};
use keyscope_signer::{
    verify_session_signature, Error, MultisigMember, P256Key, SessionKey, SessionSigner,
    SignatureCheck, SignerKey, SignerKind, WebAuthnAuth, WebAuthnAuthenticator,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sha2::{Digest, Sha256};

const HASH: B256 = b256!("0x5e8ca7c3c5b4f6d1a2a8b9c0d1e2f30415263748596a7b8c9dadbecf00112233");
const OTHER_HASH: B256 =
    b256!("0x0000000000000000000000000000000000000000000000000000000000000001");

fn secp() -> SessionKey {
    SessionKey::from_hex("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d")
        .unwrap()
}

fn p256_key(seed: u8) -> P256Key {
    P256Key::from_bytes(&keccak256([b"p256 test key ".as_slice(), &[seed]].concat()).0).unwrap()
}

fn authenticator() -> WebAuthnAuthenticator {
    WebAuthnAuthenticator::new(p256_key(9), DEFAULT_RP_ID, DEFAULT_ORIGIN)
}

fn check(signer: &SessionSigner, hash: &B256, signature: &[u8]) -> SignatureCheck {
    verify_session_signature(hash, signer.address().unwrap(), signature)
}

fn assert_invalid(check: &SignatureCheck, kind: SignerKind, reason: &str) {
    assert!(!check.valid, "expected invalid: {check}");
    assert_eq!(check.kind, kind, "{check}");
    let found = check.reason.as_deref().unwrap_or_default();
    assert!(found.contains(reason), "reason {found:?} lacks {reason:?}");
}

fn word(value: U256) -> B256 {
    B256::from(value.to_be_bytes::<32>())
}

/// `3 of (secp 1, P-256 2, WebAuthn 3)`, threshold 4.
fn multisig() -> SessionSigner {
    SessionSigner::multisig(
        4,
        vec![
            (1, secp().into()),
            (2, p256_key(1).into()),
            (3, authenticator().into()),
        ],
    )
    .unwrap()
}

fn position(signer: &SessionSigner, kind: SignerKind) -> usize {
    let SessionSigner::Multisig { members, .. } = signer else {
        panic!("not a multisig")
    };
    members.iter().position(|(_, m)| m.kind() == kind).unwrap()
}

// ---------------------------------------------------------------------------------------------------------------
// round trips

#[test]
fn every_kind_round_trips() {
    let signers: Vec<(SessionSigner, SignerKind, Option<usize>)> = vec![
        (secp().into(), SignerKind::Secp256k1, Some(65)),
        (p256_key(1).into(), SignerKind::P256, Some(129)),
        (authenticator().into(), SignerKind::WebAuthn, None),
        (
            authenticator().with_flags(FLAG_UP).into(),
            SignerKind::WebAuthn,
            None,
        ),
        (
            authenticator()
                .with_flags(FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS)
                .into(),
            SignerKind::WebAuthn,
            None,
        ),
        (multisig(), SignerKind::Multisig, None),
    ];
    for (signer, kind, length) in signers {
        assert_eq!(signer.kind(), kind);
        let signature = signer.sign(&HASH).unwrap();
        if let Some(length) = length {
            assert_eq!(signature.len(), length);
        }
        let verdict = check(&signer, &HASH, &signature);
        assert!(verdict.is_valid(), "{kind}: {verdict}");
        assert_eq!(verdict.kind, kind);
        assert_eq!(verdict.reason, None);
        // another hash, another signer
        assert!(!check(&signer, &OTHER_HASH, &signature).valid);
        assert!(!verify_session_signature(&HASH, Address::repeat_byte(7), &signature).valid);
        assert_eq!(signer.address().unwrap(), signer.key().address().unwrap());
    }
}

#[test]
fn commitments_are_keccak_of_the_key_bytes() {
    let key = p256_key(1);
    let (x, y) = key.public();
    let bytes = [[1u8].as_slice(), x.as_slice(), y.as_slice()].concat();
    let p256: SessionSigner = key.clone().into();
    assert_eq!(
        p256.address().unwrap(),
        Address::from_slice(&keccak256(&bytes)[12..])
    );
    assert_eq!(
        p256.key().key_bytes().unwrap().unwrap(),
        bytes,
        "P-256 key bytes"
    );
    let signature = p256.sign(&HASH).unwrap();
    assert_eq!(&signature[..65], bytes.as_slice());

    let web: SessionSigner = WebAuthnAuthenticator::new(key, "a", "b").into();
    let mut bytes2 = bytes.clone();
    bytes2[0] = 2;
    assert_eq!(web.address().unwrap(), commitment(&bytes2));
    assert_ne!(web.address().unwrap(), p256.address().unwrap());

    let secp_signer: SessionSigner = secp().into();
    assert_eq!(secp_signer.address().unwrap(), secp().address());
    assert_eq!(secp_signer.key().key_bytes().unwrap(), None);

    // multisig: 0x03 ‖ threshold ‖ n ‖ sorted (address ‖ weight)
    let m = multisig();
    let SessionSigner::Multisig { members, .. } = &m else {
        unreachable!()
    };
    let mut expected = vec![3u8, 0, 4, 3];
    let mut sorted: Vec<(Address, u16)> = members
        .iter()
        .map(|(w, s)| (s.address().unwrap(), *w))
        .collect();
    sorted.sort();
    for (address, weight) in &sorted {
        expected.extend_from_slice(address.as_slice());
        expected.extend_from_slice(&weight.to_be_bytes());
    }
    assert_eq!(m.key().key_bytes().unwrap().unwrap(), expected);
    assert_eq!(m.address().unwrap(), commitment(&expected));
    let signature = m.sign(&HASH).unwrap();
    assert_eq!(&signature[..expected.len()], expected.as_slice());
    assert_eq!(signature[expected.len()], 3, "k");
}

// ---------------------------------------------------------------------------------------------------------------
// P-256

#[test]
fn p256_known_answers() {
    // RFC 6979 A.2.5, P-256 with SHA-256, message "sample" (the hash signed as the prehash)
    let key =
        P256Key::from_hex("0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
            .unwrap();
    assert_eq!(
        key.public(),
        (
            b256!("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"),
            b256!("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"),
        )
    );
    let hash = B256::from_slice(&Sha256::digest(b"sample"));
    let (r, s) = key.sign_prehash(&hash).unwrap();
    assert_eq!(
        r,
        b256!("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716")
    );
    // RFC 6979's s is high: normalised to n − s
    let rfc_s = U256::from_be_bytes(
        b256!("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8").0,
    );
    assert_eq!(U256::from_be_bytes(s.0), P256_N - rfc_s);
    let (x, y) = key.public();
    p256_verify(&hash, &r, &s, &x, &y).unwrap();
    assert!(p256_verify(&hash, &r, &word(rfc_s), &x, &y)
        .unwrap_err()
        .contains("high s"));

    // the vector OpenZeppelin's P256 uses to detect the precompile: sha256("123400"), r = 5, s = 1
    p256_verify(
        &B256::from_slice(&Sha256::digest(b"123400")),
        &word(U256::from(5)),
        &word(U256::from(1)),
        &b256!("a71af64de5126a4a4e02b7922d66ce9415ce88a4c9d25514d91082c8725ac957"),
        &b256!("5d47723c8fbe580bb369fec9c2665d8e30a435b9932645482e7c9f11e872296b"),
    )
    .unwrap();
}

#[test]
fn p256_keys_redact_and_parse() {
    let key = p256_key(1);
    let secret = alloy_primitives::hex::encode(key.secret_bytes().as_ref());
    let debug = format!("{key:?}");
    assert!(
        debug.contains("redacted") && !debug.contains(&secret),
        "{debug}"
    );
    let again = P256Key::from_hex(&secret).unwrap();
    assert_eq!(again.public(), key.public());
    let signer: SessionSigner = authenticator().into();
    let debug = format!("{signer:?}");
    assert!(!debug.contains(&alloy_primitives::hex::encode(
        authenticator().key().secret_bytes().as_ref()
    )));
    assert_eq!(
        P256Key::from_bytes(&[0; 32]).unwrap_err(),
        Error::InvalidP256Key
    );
    assert_eq!(
        P256Key::from_bytes(&P256_N.to_be_bytes::<32>()).unwrap_err(),
        Error::InvalidP256Key
    );
    assert_eq!(
        P256Key::from_hex("0x1234").unwrap_err(),
        Error::InvalidP256Key
    );
    assert_eq!(P256Key::from_hex("zz").unwrap_err(), Error::InvalidP256Key);
    assert_ne!(P256Key::generate().public(), P256Key::generate().public());
}

#[test]
fn p256_public_keys_parse_from_sec1() {
    for seed in 1..=8 {
        let (x, y) = p256_key(seed).public();
        let uncompressed = [&[0x04u8][..], x.as_slice(), y.as_slice()].concat();
        assert_eq!(p256_public_key_from_sec1(&uncompressed).unwrap(), (x, y));
        let parity = if y[31] & 1 == 1 { 0x03u8 } else { 0x02 };
        let compressed = [&[parity][..], x.as_slice()].concat();
        assert_eq!(p256_public_key_from_sec1(&compressed).unwrap(), (x, y));
        // the other parity is the other point of that x: on the curve, but not this key
        let flipped = [&[parity ^ 1][..], x.as_slice()].concat();
        assert_ne!(p256_public_key_from_sec1(&flipped).unwrap(), (x, y));
    }
    let (x, y) = p256_key(1).public();
    let mut off_curve = [&[0x04u8][..], x.as_slice(), y.as_slice()].concat();
    off_curve[64] ^= 1;
    assert_eq!(
        p256_public_key_from_sec1(&off_curve).unwrap_err(),
        Error::Permissions(PermissionsError::P256NotOnCurve)
    );
    let beyond_p = [&[0x04u8][..], &P256_P.to_be_bytes::<32>(), y.as_slice()].concat();
    assert_eq!(
        p256_public_key_from_sec1(&beyond_p).unwrap_err(),
        Error::Permissions(PermissionsError::P256CoordinateOutOfRange { coordinate: "x" })
    );
    // x = p is no field element: no compressed point either
    let compressed_beyond_p = [&[0x02u8][..], &P256_P.to_be_bytes::<32>()].concat();
    let raw = [x.as_slice(), y.as_slice()].concat();
    let wrong_prefix = [&[0x05u8][..], x.as_slice(), y.as_slice()].concat();
    for bytes in [
        &[][..],
        &[0x00][..],
        &compressed_beyond_p[..],
        &raw[..],
        &wrong_prefix[..],
        &off_curve[..64],
        &[&off_curve[..], &[0]].concat()[..],
    ] {
        assert_eq!(
            p256_public_key_from_sec1(bytes).unwrap_err(),
            Error::Permissions(PermissionsError::P256NotOnCurve),
            "{bytes:02x?}"
        );
    }
}

/// A P-256 signature with (r, s, qx, qy) replaced, checked against the commitment of its own key bytes (so only
/// the replaced part can fail).
fn p256_with(r: B256, s: B256, x: B256, y: B256) -> SignatureCheck {
    let signature = [
        [1u8].as_slice(),
        x.as_slice(),
        y.as_slice(),
        r.as_slice(),
        s.as_slice(),
    ]
    .concat();
    verify_session_signature(&HASH, commitment(&signature[..65]), &signature)
}

#[test]
fn p256_malformed_signatures_are_refused() {
    let key = p256_key(1);
    let signer: SessionSigner = key.clone().into();
    let signature = signer.sign(&HASH).unwrap();
    let (x, y) = key.public();
    let r = B256::from_slice(&signature[65..97]);
    let s = B256::from_slice(&signature[97..129]);
    assert!(p256_with(r, s, x, y).valid);
    let high_s = word(P256_N - U256::from_be_bytes(s.0));
    assert_invalid(&p256_with(r, high_s, x, y), SignerKind::P256, "high s");
    assert_invalid(
        &p256_with(B256::ZERO, s, x, y),
        SignerKind::P256,
        "out of range",
    );
    assert_invalid(
        &p256_with(word(P256_N), s, x, y),
        SignerKind::P256,
        "out of range",
    );
    assert_invalid(&p256_with(r, B256::ZERO, x, y), SignerKind::P256, "s is 0");
    assert!(!p256_with(r, word(P256_HALF_N), x, y).valid);
    let off_curve = word(U256::from_be_bytes(y.0) ^ U256::from(1));
    assert_invalid(
        &p256_with(r, s, x, off_curve),
        SignerKind::P256,
        "not a point of the curve",
    );
    assert_invalid(
        &p256_with(r, s, word(P256_P), y),
        SignerKind::P256,
        "x is not below",
    );
    // y and p − y are both on the curve; p + y does not fit, but y + p ≥ p is refused before the curve
    let y_plus_p = U256::from_be_bytes(y.0).checked_add(P256_P);
    if let Some(y_plus_p) = y_plus_p {
        assert_invalid(
            &p256_with(r, s, x, word(y_plus_p)),
            SignerKind::P256,
            "y is not below",
        );
    }
    // wrong commitment
    assert_invalid(
        &verify_session_signature(&HASH, secp().address(), &signature),
        SignerKind::P256,
        "key commitment",
    );
    // truncated, trailing byte
    assert_invalid(
        &check(&signer, &HASH, &signature[..128]),
        SignerKind::P256,
        "expected 129",
    );
    let mut long = signature.clone();
    long.push(0);
    assert_invalid(
        &check(&signer, &HASH, &long),
        SignerKind::P256,
        "expected 129",
    );
    // wrong hash
    assert_invalid(
        &check(&signer, &OTHER_HASH, &signature),
        SignerKind::P256,
        "does not verify",
    );
    // unknown kinds, short, empty
    let mut unknown = signature.clone();
    unknown[0] = 4;
    assert_invalid(
        &check(&signer, &HASH, &unknown),
        SignerKind::Unknown,
        "unknown signer kind 0x04",
    );
    unknown[0] = 0;
    assert_invalid(
        &check(&signer, &HASH, &unknown),
        SignerKind::Unknown,
        "unknown signer kind 0x00",
    );
    assert_invalid(&check(&signer, &HASH, &[]), SignerKind::Unknown, "empty");
    assert_invalid(
        &check(&signer, &HASH, &signature[..64]),
        SignerKind::P256,
        "too short",
    );
    // a 65-byte signature is always secp256k1, whatever its first byte
    assert_eq!(
        check(&signer, &HASH, &signature[..65]).kind,
        SignerKind::Secp256k1
    );
}

// ---------------------------------------------------------------------------------------------------------------
// WebAuthn

alloy_sol_types::sol! {
    struct SolWebAuthnAuth {
        bytes32 r;
        bytes32 s;
        uint256 challengeIndex;
        uint256 typeIndex;
        bytes authenticatorData;
        string clientDataJSON;
    }
}

#[test]
fn webauthn_auth_layout_is_the_fields_head_then_tails() {
    let authenticator = authenticator().with_counter(41);
    let auth = authenticator.assert(&HASH).unwrap();
    assert_eq!(authenticator.counter(), 42);
    // what the authenticator writes
    let mut data = Sha256::digest(b"keyscope.example").to_vec();
    data.push(FLAG_UP | FLAG_UV);
    data.extend_from_slice(&42u32.to_be_bytes());
    assert_eq!(auth.authenticator_data, data);
    let json = String::from_utf8(auth.client_data_json.clone()).unwrap();
    assert_eq!(
        json,
        format!(
            "{{\"type\":\"webauthn.get\",\"challenge\":\"{}\",\"origin\":\"https://keyscope.example\",\"crossOrigin\":false}}",
            base64_url(&HASH)
        )
    );
    assert_eq!(auth.type_index, U256::from(1));
    assert_eq!(auth.challenge_index, U256::from(23));
    assert!(json[23..].starts_with("\"challenge\":\""));

    let encoded = auth.encode();
    assert_eq!(encoded.len(), auth.encoded_len());
    // alloy's tuple encoding of the six fields (abi_encode_params): the same bytes
    let tuple = (
        auth.r,
        auth.s,
        auth.challenge_index,
        auth.type_index,
        Bytes::from(auth.authenticator_data.clone()),
        json.clone(),
    );
    assert_eq!(tuple.abi_encode_params(), encoded);
    // abi.encode(struct) has one more word in front: the offset 0x20 of the dynamic struct
    let sol = SolWebAuthnAuth {
        r: auth.r,
        s: auth.s,
        challengeIndex: auth.challenge_index,
        typeIndex: auth.type_index,
        authenticatorData: Bytes::from(auth.authenticator_data.clone()),
        clientDataJSON: json.clone(),
    };
    let outer = sol.abi_encode();
    assert_eq!(outer[..32], word(U256::from(0x20))[..]);
    assert_eq!(&outer[32..], encoded.as_slice());
    // the head: r, s, challengeIndex, typeIndex, offset(authenticatorData) = 0xc0, offset(clientDataJSON)
    assert_eq!(encoded[0..32], auth.r[..]);
    assert_eq!(encoded[32..64], auth.s[..]);
    assert_eq!(encoded[64..96], word(U256::from(23))[..]);
    assert_eq!(encoded[96..128], word(U256::from(1))[..]);
    assert_eq!(encoded[128..160], word(U256::from(0xc0))[..]);
    assert_eq!(encoded[160..192], word(U256::from(0xc0 + 32 + 64))[..]);
    assert_eq!(encoded[192..224], word(U256::from(37))[..]);
    assert_eq!(WebAuthnAuth::decode(&encoded).unwrap(), auth);

    let signer: SessionSigner = authenticator.into();
    let signature = signer.sign(&HASH).unwrap();
    assert_eq!(signature.len(), 65 + encoded.len());
    assert!(check(&signer, &HASH, &signature).valid);
}

fn base64_url(bytes: &B256) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A WebAuthn signature of `auth` (re-signed by `authenticator()`'s key after `edit`), verified over `HASH`.
fn webauthn_with(edit: impl FnOnce(&mut WebAuthnAuth)) -> SignatureCheck {
    let authenticator = authenticator();
    let mut auth = authenticator.assert(&HASH).unwrap();
    edit(&mut auth);
    let (r, s) = authenticator.key().sign_prehash(&auth.message()).unwrap();
    auth.r = r;
    auth.s = s;
    webauthn_signature(&authenticator, &auth)
}

fn webauthn_signature(
    authenticator: &WebAuthnAuthenticator,
    auth: &WebAuthnAuth,
) -> SignatureCheck {
    let (x, y) = authenticator.public();
    let signature = [[2u8].as_slice(), x.as_slice(), y.as_slice(), &auth.encode()].concat();
    verify_session_signature(&HASH, commitment(&signature[..65]), &signature)
}

fn replace(json: &mut Vec<u8>, from: &str, to: &str) {
    let text = String::from_utf8(json.clone())
        .unwrap()
        .replacen(from, to, 1);
    *json = text.into_bytes();
}

#[test]
fn webauthn_malformed_assertions_are_refused() {
    assert!(webauthn_with(|_| {}).valid);
    // UV is not required, UP is; BS needs BE
    assert!(webauthn_with(|a| a.authenticator_data[32] = FLAG_UP).valid);
    assert_invalid(
        &webauthn_with(|a| a.authenticator_data[32] = FLAG_UV),
        SignerKind::WebAuthn,
        "user-present flag not set",
    );
    assert_invalid(
        &webauthn_with(|a| a.authenticator_data[32] = FLAG_UP | FLAG_BS),
        SignerKind::WebAuthn,
        "backup-state flag set without backup-eligible",
    );
    assert!(webauthn_with(|a| a.authenticator_data[32] = FLAG_UP | FLAG_BS | FLAG_BE).valid);
    assert!(webauthn_with(|a| a.authenticator_data[32] = FLAG_UP | FLAG_BE).valid);
    // authenticator data of 36 bytes; of 38 (an extension byte) is fine
    assert_invalid(
        &webauthn_with(|a| a.authenticator_data.truncate(36)),
        SignerKind::WebAuthn,
        "at least 37",
    );
    assert!(webauthn_with(|a| a.authenticator_data.push(0xa0)).valid);
    // type
    assert_invalid(
        &webauthn_with(|a| replace(&mut a.client_data_json, "webauthn.get", "webauthn.create")),
        SignerKind::WebAuthn,
        "no \"type\":\"webauthn.get\"",
    );
    assert_invalid(
        &webauthn_with(|a| a.type_index = U256::from(2)),
        SignerKind::WebAuthn,
        "typeIndex 2",
    );
    assert_invalid(
        &webauthn_with(|a| a.type_index = U256::from(1u64 << 40)),
        SignerKind::WebAuthn,
        "runs out of gas",
    );
    // challenge: another hash, another index, cut short
    assert_invalid(
        &webauthn_with(|a| {
            let other = base64_url(&OTHER_HASH);
            let text = String::from_utf8(a.client_data_json.clone()).unwrap();
            let ours = base64_url(&HASH);
            a.client_data_json = text.replace(&ours, &other).into_bytes();
        }),
        SignerKind::WebAuthn,
        "challenge does not match",
    );
    assert_invalid(
        &webauthn_with(|a| a.challenge_index = U256::from(24)),
        SignerKind::WebAuthn,
        "challenge does not match",
    );
    assert_invalid(
        &webauthn_with(|a| a.challenge_index = U256::MAX),
        SignerKind::WebAuthn,
        "challenge does not match",
    );
    assert_invalid(
        &webauthn_with(|a| a.client_data_json.truncate(23 + 56)),
        SignerKind::WebAuthn,
        "challenge does not match",
    );
    // JSON after the challenge is free (OpenZeppelin checks no more): a different origin still verifies
    assert!(
        webauthn_with(|a| replace(
            &mut a.client_data_json,
            "keyscope.example",
            "elsewhere.example"
        ))
        .valid
    );
    // signature: high s, r = 0, not signed
    let authenticator = authenticator();
    let mut auth = authenticator.assert(&HASH).unwrap();
    assert!(webauthn_signature(&authenticator, &auth).valid);
    let s = auth.s;
    auth.s = word(P256_N - U256::from_be_bytes(s.0));
    assert_invalid(
        &webauthn_signature(&authenticator, &auth),
        SignerKind::WebAuthn,
        "high s",
    );
    auth.s = s;
    auth.r = B256::ZERO;
    assert_invalid(
        &webauthn_signature(&authenticator, &auth),
        SignerKind::WebAuthn,
        "out of range",
    );
    let mut unsigned = authenticator.assert(&HASH).unwrap();
    unsigned.authenticator_data[33] ^= 1; // the counter: signed over
    assert_invalid(
        &webauthn_signature(&authenticator, &unsigned),
        SignerKind::WebAuthn,
        "does not verify",
    );
    // the assertion of another hash
    let signer: SessionSigner = authenticator.clone().into();
    let other = signer.sign(&OTHER_HASH).unwrap();
    assert_invalid(
        &check(&signer, &HASH, &other),
        SignerKind::WebAuthn,
        "challenge does not match",
    );
    // wrong commitment: a P-256 key's commitment, the same key
    let signature = signer.sign(&HASH).unwrap();
    let p256: SessionSigner = authenticator.key().clone().into();
    assert_invalid(
        &verify_session_signature(&HASH, p256.address().unwrap(), &signature),
        SignerKind::WebAuthn,
        "key commitment",
    );
    // off-curve key, committed
    let mut off = signature.clone();
    off[64] ^= 1;
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&off[..65]), &off),
        SignerKind::WebAuthn,
        "not a point of the curve",
    );
}

#[test]
fn webauthn_decoding_mirrors_try_decode_auth() {
    let authenticator = authenticator();
    let signer: SessionSigner = authenticator.clone().into();
    let signature = signer.sign(&HASH).unwrap();
    let address = signer.address().unwrap();
    let verdict = |bytes: &[u8]| verify_session_signature(&HASH, address, bytes);
    assert!(verdict(&signature).valid);
    // truncated: the head, the tail
    assert_invalid(
        &verdict(&signature[..65 + 0xbf]),
        SignerKind::WebAuthn,
        "192-byte head",
    );
    let json_length = authenticator.assert(&HASH).unwrap().client_data_json.len();
    assert_eq!(
        U256::from_be_slice(&signature[65 + 0xc0 + 96..65 + 0xc0 + 128]),
        U256::from(json_length)
    );
    let last_data = 65 + 0xc0 + 32 + 64 + 32 + json_length - 1; // the clientDataJSON's last byte
    assert!(!json_length.is_multiple_of(32), "the JSON has padding");
    assert_invalid(
        &verdict(&signature[..last_data]),
        SignerKind::WebAuthn,
        "overruns",
    );
    // the padding after clientDataJSON is not read: cut it, the signature still verifies
    assert!(verdict(&signature[..last_data + 1]).valid);
    // nor are bytes after the tuple (tryDecodeAuth accepts them), nor padding bytes
    let mut trailing = signature.clone();
    trailing.push(0xff);
    assert!(verdict(&trailing).valid);
    let mut padding = signature.clone();
    padding[65 + 0xc0 + 32 + 37] = 0xff; // in authenticatorData's padding
    assert!(verdict(&padding).valid);
    // offsets past the data, lengths past the data
    let mut far = signature.clone();
    far[65 + 0x80..65 + 0xa0].copy_from_slice(&word(U256::MAX)[..]);
    assert_invalid(
        &verdict(&far),
        SignerKind::WebAuthn,
        "authenticatorData offset",
    );
    let mut far = signature.clone();
    far[65 + 0xa0..65 + 0xc0].copy_from_slice(&word(U256::from(signature.len() - 65 - 31))[..]);
    assert_invalid(
        &verdict(&far),
        SignerKind::WebAuthn,
        "clientDataJSON offset",
    );
    let mut long = signature.clone();
    long[65 + 0xc0..65 + 0xe0].copy_from_slice(&word(U256::from(1000))[..]);
    assert_invalid(
        &verdict(&long),
        SignerKind::WebAuthn,
        "authenticatorData length 1000",
    );
    // a non-canonical but in-bounds layout decodes as on chain: both offsets at the same tail
    let auth = WebAuthnAuth::decode(&signature[65..]).unwrap();
    let mut odd = signature[..65 + 0xc0].to_vec();
    odd[65 + 0xa0..65 + 0xc0].copy_from_slice(&word(U256::from(0xc0))[..]);
    odd.extend_from_slice(&signature[65 + 0xc0..]);
    let decoded = WebAuthnAuth::decode(&odd[65..]).unwrap();
    assert_eq!(decoded.client_data_json, auth.authenticator_data);
    assert!(!verdict(&odd).valid);
    for length in 0..signature.len() {
        let _ = WebAuthnAuth::decode(&signature[65..65 + length.min(signature.len() - 65)]);
        let _ = verdict(&signature[..length]);
    }
}

/// A `typeIndex` at or past the end of clientDataJSON is refused before OpenZeppelin's check, whose assembly
/// would read memory there (out of gas for a huge index) or wrap past 2²⁵⁶ into the length word.
#[test]
fn webauthn_type_index_past_the_end_is_refused() {
    let prefix = format!(
        "type\":\"webauthn.get\",\"challenge\":\"{}\",\"origin\":\"https://keyscope.example\",\"pad\":\"",
        base64_url(&HASH)
    );
    let mut json = prefix.clone();
    while json.len() < 0x122 - 2 {
        json.push('x');
    }
    json.push_str("\"}");
    let challenge_index = json.find("\"challenge\"").unwrap();
    let run = |type_index: U256| {
        webauthn_with(|a| {
            a.client_data_json = json.as_bytes().to_vec();
            a.type_index = type_index;
            a.challenge_index = U256::from(challenge_index);
        })
    };
    // OpenZeppelin alone would accept U256::MAX here: the last byte of the length word (0x22) is a quote
    assert!(!run(U256::MAX).valid);
    assert!(!run(U256::from(json.len())).valid);
    assert!(!run(U256::from(u64::MAX)).valid);
    assert!(!run(U256::ZERO).valid);
}

// ---------------------------------------------------------------------------------------------------------------
// multisig

/// Hand-built multisig bytes.
fn multisig_bytes(threshold: u16, members: &[(Address, u16)], subs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = vec![3];
    out.extend_from_slice(&threshold.to_be_bytes());
    out.push(members.len() as u8);
    for (address, weight) in members {
        out.extend_from_slice(address.as_slice());
        out.extend_from_slice(&weight.to_be_bytes());
    }
    out.push(subs.len() as u8);
    for (index, sub) in subs {
        out.push(*index);
        out.extend_from_slice(&(sub.len() as u16).to_be_bytes());
        out.extend_from_slice(sub);
    }
    out
}

fn key_end(signature: &[u8]) -> usize {
    4 + 22 * usize::from(signature[3])
}

#[test]
fn multisig_subsets_and_thresholds() {
    let m = multisig();
    let secp_at = position(&m, SignerKind::Secp256k1);
    let p256_at = position(&m, SignerKind::P256);
    let web_at = position(&m, SignerKind::WebAuthn);
    // 2 + 3 ≥ 4; 1 + 3 ≥ 4; 3 < 4; 1 + 2 < 4
    assert!(check(&m, &HASH, &m.sign_with(&HASH, &[web_at, p256_at]).unwrap()).valid);
    assert!(check(&m, &HASH, &m.sign_with(&HASH, &[secp_at, web_at]).unwrap()).valid);
    assert_invalid(
        &check(&m, &HASH, &m.sign_with(&HASH, &[web_at]).unwrap()),
        SignerKind::Multisig,
        "3 of threshold 4 weight signed",
    );
    assert_invalid(
        &check(&m, &HASH, &m.sign_with(&HASH, &[secp_at, p256_at]).unwrap()),
        SignerKind::Multisig,
        "3 of threshold 4 weight signed",
    );
    assert_eq!(
        m.sign_with(&HASH, &[]).unwrap_err(),
        Error::NoMemberSelected
    );
    assert_eq!(
        m.sign_with(&HASH, &[1, 1]).unwrap_err(),
        Error::DuplicateMemberIndex { index: 1 }
    );
    assert_eq!(
        m.sign_with(&HASH, &[3]).unwrap_err(),
        Error::MemberIndexOutOfRange { index: 3, count: 3 }
    );
    let single: SessionSigner = secp().into();
    assert_eq!(
        single.sign_with(&HASH, &[0]).unwrap_err(),
        Error::NotMultisig
    );
    // a 1-of-1
    let one = SessionSigner::multisig(1, vec![(1, p256_key(3).into())]).unwrap();
    assert!(check(&one, &HASH, &one.sign(&HASH).unwrap()).valid);
    // 16 members
    let many =
        SessionSigner::multisig(16, (0..16).map(|i| (1, p256_key(100 + i).into())).collect())
            .unwrap();
    assert!(check(&many, &HASH, &many.sign(&HASH).unwrap()).valid);
}

#[test]
fn multisig_members_are_sorted_whatever_the_order_given() {
    let a = SessionSigner::multisig(
        2,
        vec![
            (1, secp().into()),
            (1, p256_key(1).into()),
            (1, p256_key(2).into()),
        ],
    )
    .unwrap();
    let b = SessionSigner::multisig(
        2,
        vec![
            (1, p256_key(2).into()),
            (1, secp().into()),
            (1, p256_key(1).into()),
        ],
    )
    .unwrap();
    assert_eq!(a.address().unwrap(), b.address().unwrap());
    assert_eq!(a.key(), b.key());
    let SessionSigner::Multisig { members, .. } = &a else {
        unreachable!()
    };
    let addresses: Vec<Address> = members.iter().map(|(_, m)| m.address().unwrap()).collect();
    assert!(addresses.windows(2).all(|w| w[0] < w[1]));
    // a key given unsorted has the address of its sorted form
    let SignerKey::Multisig {
        threshold,
        mut members,
    } = a.key()
    else {
        unreachable!()
    };
    members.reverse();
    let reversed = SignerKey::Multisig { threshold, members };
    assert_eq!(reversed.address().unwrap(), a.address().unwrap());
    assert_eq!(reversed.canonical().unwrap(), a.key());
    // an unsorted Multisig built by hand signs in canonical order too
    let SessionSigner::Multisig {
        threshold,
        mut members,
    } = a.clone()
    else {
        unreachable!()
    };
    members.reverse();
    let by_hand = SessionSigner::Multisig { threshold, members };
    assert!(check(&a, &HASH, &by_hand.sign(&HASH).unwrap()).valid);
}

#[test]
fn multisig_malformed_signatures_are_refused() {
    let m = multisig();
    let address = m.address().unwrap();
    let signature = m.sign(&HASH).unwrap();
    let verdict = |bytes: &[u8]| verify_session_signature(&HASH, address, bytes);
    assert!(verdict(&signature).valid);
    let end = key_end(&signature);

    // truncated anywhere, a trailing byte
    for length in 0..signature.len() {
        assert!(
            !verdict(&signature[..length]).valid || length == 65,
            "{length}"
        );
    }
    assert_invalid(
        &verdict(&signature[..signature.len() - 1]),
        SignerKind::Multisig,
        "truncated",
    );
    assert_invalid(
        &verdict(&signature[..end]),
        SignerKind::Multisig,
        "truncated",
    );
    let mut trailing = signature.clone();
    trailing.push(0);
    assert_invalid(
        &verdict(&trailing),
        SignerKind::Multisig,
        "1 trailing bytes",
    );

    // an invalid sub-signature (the P-256 member's s), and everything else still checked
    let SessionSigner::Multisig { members, .. } = &m else {
        unreachable!()
    };
    let mut bad = signature.clone();
    let p256_index = position(&m, SignerKind::P256);
    let mut cursor = end + 1;
    for _ in 0..3 {
        let index = usize::from(bad[cursor]);
        let length = usize::from(u16::from_be_bytes([bad[cursor + 1], bad[cursor + 2]]));
        if index == p256_index {
            bad[cursor + 3 + 128] ^= 1;
        }
        cursor += 3 + length;
    }
    assert_invalid(
        &verdict(&bad),
        SignerKind::Multisig,
        &format!("member {p256_index} ("),
    );
    assert_invalid(&verdict(&bad), SignerKind::Multisig, "does not verify");

    // k = 0, k > n
    let mut zero = signature[..=end].to_vec();
    zero[end] = 0;
    assert_invalid(
        &verdict(&zero),
        SignerKind::Multisig,
        "0 sub-signatures for 3 members",
    );
    let mut four = signature.clone();
    four[end] = 4;
    assert_invalid(&verdict(&four), SignerKind::Multisig, "4 sub-signatures");

    // hand-built: sorted members, their real sub-signatures
    let mut sorted: Vec<(Address, u16, usize)> = members
        .iter()
        .enumerate()
        .map(|(i, (w, s))| (s.address().unwrap(), *w, i))
        .collect();
    sorted.sort();
    let keys: Vec<(Address, u16)> = sorted.iter().map(|(a, w, _)| (*a, *w)).collect();
    let subs: Vec<Vec<u8>> = sorted
        .iter()
        .map(|(_, _, i)| members[*i].1.sign(&HASH).unwrap())
        .collect();
    let all: Vec<(u8, &[u8])> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u8, s.as_slice()))
        .collect();
    let rebuilt = multisig_bytes(4, &keys, &all);
    assert!(verdict(&rebuilt).valid);

    // duplicate or descending member indices
    let duplicate = multisig_bytes(4, &keys, &[(1, &subs[1]), (1, &subs[1]), (2, &subs[2])]);
    assert_invalid(
        &verdict(&duplicate),
        SignerKind::Multisig,
        "not strictly ascending",
    );
    let descending = multisig_bytes(4, &keys, &[(2, &subs[2]), (1, &subs[1])]);
    assert_invalid(
        &verdict(&descending),
        SignerKind::Multisig,
        "not strictly ascending",
    );
    let out_of_range = multisig_bytes(4, &keys, &[(1, &subs[1]), (3, &subs[2])]);
    assert_invalid(
        &verdict(&out_of_range),
        SignerKind::Multisig,
        "out of range",
    );
    // a sub-signature under another member's index
    let swapped = multisig_bytes(4, &keys, &[(0, &subs[1]), (1, &subs[0]), (2, &subs[2])]);
    assert_invalid(&verdict(&swapped), SignerKind::Multisig, "member 0");

    // unsorted members (committed as such): refused
    let unsorted_keys = vec![keys[1], keys[0], keys[2]];
    let unsorted = multisig_bytes(
        4,
        &unsorted_keys,
        &[(0, &subs[1]), (1, &subs[0]), (2, &subs[2])],
    );
    let unsorted_address = commitment(&unsorted[..key_end(&unsorted)]);
    assert_invalid(
        &verify_session_signature(&HASH, unsorted_address, &unsorted),
        SignerKind::Multisig,
        "not in strictly ascending order",
    );
    // duplicate member
    let twice = vec![keys[0], keys[0], keys[2]];
    let dup = multisig_bytes(4, &twice, &[(0, &subs[0]), (1, &subs[0]), (2, &subs[2])]);
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&dup[..key_end(&dup)]), &dup),
        SignerKind::Multisig,
        "not in strictly ascending order",
    );
    // zero weight, unreachable threshold, zero threshold, no members, too many
    let mut zero_weight = keys.clone();
    zero_weight[0].1 = 0;
    let zw = multisig_bytes(4, &zero_weight, &all);
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&zw[..key_end(&zw)]), &zw),
        SignerKind::Multisig,
        "member 0 has weight 0",
    );
    let high = multisig_bytes(7, &keys, &all);
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&high[..key_end(&high)]), &high),
        SignerKind::Multisig,
        "threshold 7 is above the total weight 6",
    );
    let none = multisig_bytes(0, &keys, &all);
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&none[..key_end(&none)]), &none),
        SignerKind::Multisig,
        "threshold 0",
    );
    let empty = multisig_bytes(1, &[], &[]);
    assert_invalid(&verdict(&empty), SignerKind::Multisig, "0 members");
    let seventeen: Vec<(Address, u16)> = (1..=17u8).map(|i| (Address::repeat_byte(i), 1)).collect();
    let big = multisig_bytes(1, &seventeen, &[(0, &subs[0])]);
    assert_invalid(
        &verdict(&big),
        SignerKind::Multisig,
        "17 multisig members, at most 16",
    );
    // wrong commitment
    assert_invalid(
        &verify_session_signature(&HASH, secp().address(), &signature),
        SignerKind::Multisig,
        "key commitment",
    );

    // a nested multisig as a sub-signature: invalid even when committed as the member
    let inner = SessionSigner::multisig(1, vec![(1, p256_key(7).into())]).unwrap();
    let inner_signature = inner.sign(&HASH).unwrap();
    let outer_keys = vec![(inner.address().unwrap(), 1)];
    let nested = multisig_bytes(1, &outer_keys, &[(0, &inner_signature)]);
    assert_invalid(
        &verify_session_signature(&HASH, commitment(&nested[..key_end(&nested)]), &nested),
        SignerKind::Multisig,
        "a multisig cannot sign as a multisig member",
    );
}

#[test]
fn keys_are_validated() {
    let (x, y) = p256_key(1).public();
    assert!(SignerKey::P256 { x, y }.validate().is_ok());
    let off = word(U256::from_be_bytes(y.0) ^ U256::from(1));
    assert_eq!(
        SignerKey::P256 { x, y: off }.validate().unwrap_err(),
        PermissionsError::P256NotOnCurve
    );
    assert_eq!(
        SignerKey::WebAuthn { x: word(P256_P), y }
            .address()
            .unwrap_err(),
        PermissionsError::P256CoordinateOutOfRange { coordinate: "x" }
    );
    assert_eq!(
        SignerKey::WebAuthn {
            x,
            y: word(U256::MAX)
        }
        .validate()
        .unwrap_err(),
        PermissionsError::P256CoordinateOutOfRange { coordinate: "y" }
    );
    let member = |weight: u16, signer: SignerKey| MultisigMember { weight, signer };
    let secp_key = SignerKey::Secp256k1 {
        address: secp().address(),
    };
    let p256 = SignerKey::P256 { x, y };
    let multisig =
        |threshold: u16, members: Vec<MultisigMember>| SignerKey::Multisig { threshold, members };
    assert_eq!(
        multisig(1, vec![]).validate().unwrap_err(),
        PermissionsError::EmptyMultisig
    );
    let seventeen = (0..17)
        .map(|i| {
            member(
                1,
                SignerKey::Secp256k1 {
                    address: Address::repeat_byte(i),
                },
            )
        })
        .collect();
    assert_eq!(
        multisig(1, seventeen).validate().unwrap_err(),
        PermissionsError::TooManyMembers { count: 17, max: 16 }
    );
    assert_eq!(
        multisig(
            1,
            vec![member(1, secp_key.clone()), member(2, secp_key.clone())]
        )
        .validate()
        .unwrap_err(),
        PermissionsError::DuplicateMember {
            address: secp().address()
        }
    );
    assert_eq!(
        multisig(
            1,
            vec![member(1, secp_key.clone()), member(0, p256.clone())]
        )
        .validate()
        .unwrap_err(),
        PermissionsError::ZeroWeight { member: 1 }
    );
    assert_eq!(
        multisig(0, vec![member(1, secp_key.clone())])
            .validate()
            .unwrap_err(),
        PermissionsError::ZeroThreshold
    );
    assert_eq!(
        multisig(
            4,
            vec![member(1, secp_key.clone()), member(2, p256.clone())]
        )
        .address()
        .unwrap_err(),
        PermissionsError::ThresholdAboveWeight {
            threshold: 4,
            total: 3
        }
    );
    let inner = multisig(1, vec![member(1, p256.clone())]);
    assert_eq!(
        multisig(1, vec![member(1, secp_key.clone()), member(1, inner)])
            .validate()
            .unwrap_err(),
        PermissionsError::NestedMultisig { member: 1 }
    );
    assert_eq!(
        multisig(1, vec![member(1, SignerKey::P256 { x, y: off })])
            .validate()
            .unwrap_err(),
        PermissionsError::P256NotOnCurve
    );
    // the signer side refuses the same
    let inner_signer = SessionSigner::multisig(1, vec![(1, p256_key(1).into())]).unwrap();
    assert_eq!(
        SessionSigner::multisig(1, vec![(1, secp().into()), (1, inner_signer)]).unwrap_err(),
        Error::Permissions(PermissionsError::NestedMultisig { member: 1 })
    );
    assert_eq!(
        SessionSigner::multisig(1, vec![(1, secp().into()), (1, secp().into())]).unwrap_err(),
        Error::Permissions(PermissionsError::DuplicateMember {
            address: secp().address()
        })
    );
    assert_eq!(
        SessionSigner::multisig(3, vec![(1, secp().into()), (1, p256_key(1).into())]).unwrap_err(),
        Error::Permissions(PermissionsError::ThresholdAboveWeight {
            threshold: 3,
            total: 2
        })
    );
    // 16 × u16::MAX does not overflow
    let heavy = (0..16)
        .map(|i| {
            member(
                u16::MAX,
                SignerKey::Secp256k1 {
                    address: Address::repeat_byte(i),
                },
            )
        })
        .collect();
    assert!(multisig(u16::MAX, heavy).validate().is_ok());
}

#[test]
fn signer_keys_serialize_tagged() {
    let (x, y) = p256_key(1).public();
    let key = SignerKey::Multisig {
        threshold: 2,
        members: vec![
            MultisigMember {
                weight: 1,
                signer: SignerKey::Secp256k1 {
                    address: secp().address(),
                },
            },
            MultisigMember {
                weight: 1,
                signer: SignerKey::P256 { x, y },
            },
            MultisigMember {
                weight: 1,
                signer: SignerKey::WebAuthn { x, y },
            },
        ],
    };
    let json = serde_json::to_value(&key).unwrap();
    assert_eq!(json["kind"], "multisig");
    assert_eq!(json["threshold"], 2);
    assert_eq!(json["members"][0]["signer"]["kind"], "secp256k1");
    assert_eq!(json["members"][1]["signer"]["kind"], "p256");
    assert_eq!(json["members"][2]["signer"]["kind"], "webAuthn");
    assert_eq!(json["members"][2]["signer"]["x"], format!("{x}"));
    let back: SignerKey = serde_json::from_value(json).unwrap();
    assert_eq!(back, key);
    assert!(serde_json::from_str::<SignerKey>(r#"{"kind":"p256","x":"0x00"}"#).is_err());
    assert!(serde_json::from_str::<SignerKey>(r#"{"kind":"rsa"}"#).is_err());
    assert!(serde_json::from_str::<SignerKey>(&format!(
        r#"{{"kind":"secp256k1","address":"{}","extra":1}}"#,
        secp().address()
    ))
    .is_err());
}

// ---------------------------------------------------------------------------------------------------------------
// dummies

#[test]
fn dummies_have_the_real_length_and_never_verify() {
    let m = multisig();
    let signers: Vec<SessionSigner> = vec![
        secp().into(),
        p256_key(1).into(),
        authenticator().into(),
        authenticator()
            .with_flags(FLAG_UP)
            .with_counter(u32::MAX)
            .into(),
        m.clone(),
    ];
    for signer in &signers {
        let real = signer.sign(&HASH).unwrap();
        let dummy = signer.dummy_signature().unwrap();
        assert_eq!(dummy.len(), real.len(), "{:?}", signer.kind());
        if real.len() != 65 {
            assert_eq!(dummy[0], real[0]);
        }
        let address = signer.address().unwrap();
        for hash in [
            HASH,
            OTHER_HASH,
            B256::ZERO,
            keccak256("keyscope dummy signature"),
        ] {
            let verdict = verify_session_signature(&hash, address, &dummy);
            assert!(!verdict.valid);
            assert_eq!(verdict.kind, signer.kind());
        }
    }
    // P-256: the key is real and committed, (r, s) in range: the curve arithmetic runs and fails
    let p256: SessionSigner = p256_key(1).into();
    let dummy = p256.dummy_signature().unwrap();
    assert_eq!(dummy[..65], p256.sign(&HASH).unwrap()[..65]);
    assert_invalid(
        &verify_session_signature(&HASH, p256.address().unwrap(), &dummy),
        SignerKind::P256,
        "does not verify",
    );
    // its r is no point's x: it verifies for no hash and no key
    let r = B256::from_slice(&dummy[65..97]);
    assert!(U256::from_be_bytes(r.0) > P256_P - P256_N);
    for odd in [false, true] {
        use p256::elliptic_curve::point::DecompressPoint;
        let point = p256::AffinePoint::decompress(
            p256::FieldBytes::from_slice(r.as_slice()),
            (odd as u8).into(),
        );
        assert!(bool::from(point.is_none()));
    }
    // WebAuthn: the same shape (decodes, same lengths)
    let web: SessionSigner = authenticator().into();
    let real = WebAuthnAuth::decode(&web.sign(&HASH).unwrap()[65..]).unwrap();
    let dummy = WebAuthnAuth::decode(&web.dummy_signature().unwrap()[65..]).unwrap();
    assert_eq!(
        dummy.authenticator_data.len(),
        real.authenticator_data.len()
    );
    assert_eq!(dummy.client_data_json.len(), real.client_data_json.len());
    assert_eq!(dummy.type_index, real.type_index);
    assert_eq!(dummy.challenge_index, real.challenge_index);
    assert_eq!(
        dummy.authenticator_data[..33],
        real.authenticator_data[..33]
    );
    // multisig subsets: the same indices and lengths
    let web_at = position(&m, SignerKind::WebAuthn);
    let p256_at = position(&m, SignerKind::P256);
    let real = m.sign_with(&HASH, &[web_at, p256_at]).unwrap();
    let dummy = m.dummy_signature_with(&[p256_at, web_at]).unwrap();
    assert_eq!(real.len(), dummy.len());
    let end = key_end(&real);
    assert_eq!(real[..=end], dummy[..=end]);
    assert!(!check(&m, &HASH, &dummy).valid);
}

// ---------------------------------------------------------------------------------------------------------------
// properties

/// Proptest's default configuration (so `PROPTEST_RNG_SEED` and `PROPTEST_CASES` still apply), with a fixed seed
/// unless one is given: runs are reproducible, and a failure names its inputs.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x6b65_7973_636f_7065);
    }
    config
}

/// `(signer, its signature over HASH)` of each kind, made once.
fn fixtures() -> &'static [(Address, Vec<u8>)] {
    static FIXTURES: OnceLock<Vec<(Address, Vec<u8>)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let signers: Vec<SessionSigner> = vec![
            secp().into(),
            p256_key(1).into(),
            authenticator().into(),
            multisig(),
        ];
        signers
            .iter()
            .map(|s| (s.address().unwrap(), s.sign(&HASH).unwrap()))
            .collect()
    })
}

/// The signature with the parts the on-chain decoding ignores normalised away (WebAuthnAuth's padding, offsets and
/// trailing bytes): two signatures of the same canonical form are the same signature to the validator.
fn canonical(signature: &[u8]) -> Option<Vec<u8>> {
    if signature.len() == 65 {
        return Some(signature.to_vec());
    }
    match signature.first()? {
        2 if signature.len() >= 65 => {
            let auth = WebAuthnAuth::decode(&signature[65..]).ok()?;
            Some([&signature[..65], auth.encode().as_slice()].concat())
        }
        3 if signature.len() >= 4 => {
            let end = key_end(signature);
            let mut out = signature.get(..=end)?.to_vec();
            let mut cursor = end + 1;
            for _ in 0..*signature.get(end)? {
                let index = *signature.get(cursor)?;
                let length = usize::from(u16::from_be_bytes([
                    *signature.get(cursor + 1)?,
                    *signature.get(cursor + 2)?,
                ]));
                let sub = canonical(signature.get(cursor + 3..cursor + 3 + length)?)?;
                out.push(index);
                out.extend_from_slice(&(sub.len() as u16).to_be_bytes());
                out.extend_from_slice(&sub);
                cursor += 3 + length;
            }
            (cursor == signature.len()).then_some(out)
        }
        _ => Some(signature.to_vec()),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, value: u8 },
    Truncate { keep: usize },
    Append { bytes: Vec<u8> },
    Insert { at: usize, value: u8 },
    Remove { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| Mutation::Append { bytes }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        1 => any::<usize>().prop_map(|at| Mutation::Remove { at }),
    ]
}

fn apply(signature: &mut Vec<u8>, mutation: &Mutation) {
    let length = signature.len();
    match mutation {
        Mutation::Flip { at, mask } => signature[at % length] ^= mask,
        Mutation::Set { at, value } => signature[at % length] = *value,
        Mutation::Truncate { keep } => signature.truncate(keep % length),
        Mutation::Append { bytes } => signature.extend_from_slice(bytes),
        Mutation::Insert { at, value } => signature.insert(at % (length + 1), *value),
        Mutation::Remove { at } => {
            signature.remove(at % length);
        }
    }
}

proptest! {
    #![proptest_config(config(384))]

    /// Mutations of a valid signature of each kind never panic, and never verify unless the validator sees the
    /// same signature (only WebAuthnAuth's padding or bytes after it changed).
    #[test]
    fn mutated_signatures_never_verify(
        kind in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (signer, original) = &fixtures()[kind];
        let mut signature = original.clone();
        for m in &mutations {
            if signature.is_empty() {
                break;
            }
            apply(&mut signature, m);
        }
        let verdict = verify_session_signature(&HASH, *signer, &signature);
        if signature == *original {
            prop_assert!(verdict.valid);
        } else if verdict.valid {
            prop_assert_eq!(canonical(&signature), canonical(original), "{}", verdict);
            prop_assert!(kind >= 2, "a {} signature verified after mutation", verdict.kind);
        } else {
            prop_assert!(verdict.reason.is_some());
        }
    }

    /// Arbitrary bytes, with a kind byte in front, never panic and never verify.
    #[test]
    fn arbitrary_bytes_never_verify(
        kind in 0u8..5,
        body in prop::collection::vec(any::<u8>(), 0..700),
        signer in any::<[u8; 20]>(),
    ) {
        let signature = [[kind].as_slice(), &body].concat();
        let verdict = verify_session_signature(&HASH, Address::from(signer), &signature);
        prop_assert!(!verdict.valid);
        let _ = WebAuthnAuth::decode(&body);
    }
}

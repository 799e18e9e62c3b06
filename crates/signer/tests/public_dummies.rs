//! Dummy session signatures from the public side only (`dummy_signature_for`): byte for byte the secret signer's
//! `dummy_signature` / `dummy_signature_with`, for every kind, and never valid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use alloy_primitives::{b256, keccak256, B256};
use keyscope_signer::signers::{
    dummy_signature_for, DummyShape, DEFAULT_ORIGIN, DEFAULT_RP_ID, FLAG_BE, FLAG_UP,
};
use keyscope_signer::{
    verify_session_signature, Error, P256Key, SessionKey, SessionSigner, SignerKey, SignerKind,
    WebAuthnAuthenticator,
};

const HASHES: [B256; 2] = [
    b256!("0x5e8ca7c3c5b4f6d1a2a8b9c0d1e2f30415263748596a7b8c9dadbecf00112233"),
    B256::ZERO,
];

fn p256_key(seed: u8) -> P256Key {
    P256Key::from_bytes(&keccak256([b"public dummy key ".as_slice(), &[seed]].concat()).0).unwrap()
}

/// `signer`'s dummy equals the public side's, and is invalid (for the right reasons) over any hash.
fn assert_same(signer: &SessionSigner, shape: &DummyShape) -> Vec<u8> {
    let expected = match &shape.members {
        Some(which) => signer.dummy_signature_with(which).unwrap(),
        None => signer.dummy_signature().unwrap(),
    };
    let public = dummy_signature_for(&signer.key(), shape).unwrap();
    assert_eq!(public, expected, "{:?}", signer.kind());
    let address = signer.address().unwrap();
    for hash in HASHES {
        let check = verify_session_signature(&hash, address, &public);
        assert_eq!(check.kind, signer.kind());
        assert!(!check.is_valid(), "{check}");
        let reason = check.reason.unwrap();
        assert!(!reason.contains("commitment"), "{reason}");
    }
    public
}

#[test]
fn secp256k1_and_p256() {
    let secp = SessionSigner::from(SessionKey::generate());
    assert_eq!(assert_same(&secp, &DummyShape::default()).len(), 65);
    let p256 = SessionSigner::from(p256_key(1));
    assert_eq!(assert_same(&p256, &DummyShape::default()).len(), 129);
}

#[test]
fn webauthn_default_and_given_origin() {
    let default = SessionSigner::from(WebAuthnAuthenticator::new(
        p256_key(2),
        DEFAULT_RP_ID,
        DEFAULT_ORIGIN,
    ));
    let short = assert_same(&default, &DummyShape::default());

    let origin = "https://wallet.a-much-longer-origin-than-the-default.example.org";
    let custom = SessionSigner::from(
        WebAuthnAuthenticator::new(p256_key(2), "a-much-longer-origin.example.org", origin)
            .with_flags(FLAG_UP | FLAG_BE),
    );
    let shape = DummyShape {
        rp_id: Some("a-much-longer-origin.example.org".into()),
        origin: Some(origin.into()),
        flags: Some(FLAG_UP | FLAG_BE),
        members: None,
    };
    let long = assert_same(&custom, &shape);
    assert!(long.len() > short.len());
    // the default shape is the default authenticator's, not this one's
    assert_ne!(
        dummy_signature_for(&custom.key(), &DummyShape::default()).unwrap(),
        long
    );
}

#[test]
fn multisig_all_and_some_members() {
    let multisig = SessionSigner::multisig(
        3,
        vec![
            (1, SessionKey::generate().into()),
            (1, p256_key(3).into()),
            (
                1,
                WebAuthnAuthenticator::new(p256_key(4), DEFAULT_RP_ID, DEFAULT_ORIGIN).into(),
            ),
        ],
    )
    .unwrap();
    let all = assert_same(&multisig, &DummyShape::default());
    for which in [vec![0], vec![2, 1], vec![0, 1, 2]] {
        let shape = DummyShape {
            members: Some(which.clone()),
            ..DummyShape::default()
        };
        let some = assert_same(&multisig, &shape);
        assert!(some.len() <= all.len(), "{which:?}");
    }
    // the real signatures have the dummies' lengths
    for hash in HASHES {
        assert_eq!(multisig.sign(&hash).unwrap().len(), all.len());
    }
}

#[test]
fn real_signatures_have_the_dummies_lengths() {
    for signer in [
        SessionSigner::from(SessionKey::generate()),
        SessionSigner::from(p256_key(5)),
        SessionSigner::from(WebAuthnAuthenticator::generate()),
    ] {
        let dummy = dummy_signature_for(&signer.key(), &DummyShape::default()).unwrap();
        let real = signer.sign(&HASHES[0]).unwrap();
        assert_eq!(real.len(), dummy.len(), "{:?}", signer.kind());
        assert!(verify_session_signature(&HASHES[0], signer.address().unwrap(), &real).is_valid());
    }
}

#[test]
fn bad_shapes_are_errors() {
    let p256 = SessionSigner::from(p256_key(6)).key();
    let members = DummyShape {
        members: Some(vec![0]),
        ..DummyShape::default()
    };
    assert!(matches!(
        dummy_signature_for(&p256, &members),
        Err(Error::NotMultisig)
    ));
    let multisig = SessionSigner::multisig(
        1,
        vec![(1, SessionKey::generate().into()), (1, p256_key(7).into())],
    )
    .unwrap()
    .key();
    for (which, expected) in [
        (vec![], "none"),
        (vec![2], "range"),
        (vec![1, 1], "duplicate"),
    ] {
        let shape = DummyShape {
            members: Some(which),
            ..DummyShape::default()
        };
        let error = dummy_signature_for(&multisig, &shape).unwrap_err();
        match (expected, &error) {
            ("none", Error::NoMemberSelected)
            | ("range", Error::MemberIndexOutOfRange { index: 2, count: 2 })
            | ("duplicate", Error::DuplicateMemberIndex { index: 1 }) => {}
            _ => panic!("{expected}: {error:?}"),
        }
    }
    // an invalid key: a threshold no member set reaches
    let SignerKey::Multisig { members, .. } = multisig else {
        unreachable!()
    };
    let unreachable = SignerKey::Multisig {
        threshold: 9,
        members,
    };
    assert!(dummy_signature_for(&unreachable, &DummyShape::default()).is_err());
    assert_eq!(
        SignerKind::Multisig,
        unreachable.kind(),
        "the kind is still known"
    );
}

#[test]
fn shapes_serialize_in_camel_case() {
    let shape: DummyShape = serde_json::from_str(
        r#"{"rpId":"example.org","origin":"https://example.org","members":[1,0]}"#,
    )
    .unwrap();
    assert_eq!(shape.rp_id(), "example.org");
    assert_eq!(shape.origin(), "https://example.org");
    assert_eq!(shape.members, Some(vec![1, 0]));
    assert!(serde_json::from_str::<DummyShape>(r#"{"origin":"x","extra":1}"#).is_err());
    assert_eq!(serde_json::to_string(&DummyShape::default()).unwrap(), "{}");
}

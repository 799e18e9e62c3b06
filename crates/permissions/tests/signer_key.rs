//! A session's `signer_key` in the JSON format: read, checked against `signer`, written back, and described in the
//! consent summary.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use keyscope_permissions::primitives::{address, b256, Address};
use keyscope_permissions::{Error, MultisigMember, SessionSpec, SignerKey, SummaryOptions};

/// The P-256 generator point: a valid public key.
const GX: &str = "0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const GY: &str = "0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

fn spec(signer: Address, signer_key: &str) -> String {
    format!(
        r#"{{ "signer": "{signer}", "signer_key": {signer_key}, "valid_until": 2000000000,
             "permissions": [ {{ "target": "0x00000000000000000000000000000000000000aa",
                                "function": "mint(address to)" }} ] }}"#
    )
}

fn p256_key() -> SignerKey {
    SignerKey::P256 {
        x: GX.parse().unwrap(),
        y: GY.parse().unwrap(),
    }
}

#[test]
fn test_signer_key_round_trips_and_is_described() {
    let key = p256_key();
    let signer = key.address().unwrap();
    let text = spec(
        signer,
        &format!(r#"{{ "kind": "p256", "x": "{GX}", "y": "{GY}" }}"#),
    );
    let parsed = SessionSpec::from_json(&text).unwrap();
    assert_eq!(parsed.signer_key, Some(key));
    assert_eq!(SessionSpec::from_json(&parsed.to_json()).unwrap(), parsed);
    let summary = parsed.summary(&SummaryOptions::default()).unwrap();
    assert!(
        summary.starts_with(&format!(
            "Session signer {} (a P-256 key) may act",
            signer.to_checksum(None)
        )),
        "{summary}"
    );
    // without a key, the summary names the address only, and nothing is written
    let plain = SessionSpec {
        signer_key: None,
        ..parsed
    };
    assert!(!plain.to_json().contains("signer_key"));
    assert!(plain
        .summary(&SummaryOptions::default())
        .unwrap()
        .starts_with("Session key "));
}

#[test]
fn test_signer_key_describes_multisigs() {
    let member = |weight, signer| MultisigMember { weight, signer };
    let secp = |byte| SignerKey::Secp256k1 {
        address: Address::repeat_byte(byte),
    };
    let equal = SignerKey::Multisig {
        threshold: 2,
        members: vec![
            member(1, secp(1)),
            member(1, secp(2)),
            member(1, p256_key()),
        ],
    };
    assert_eq!(
        equal.description(),
        "a multisig: 2 of 3 secp256k1 and P-256 keys must sign"
    );
    let weighted = SignerKey::Multisig {
        threshold: 3,
        members: vec![member(2, secp(1)), member(3, secp(2))],
    };
    assert_eq!(
        weighted.description(),
        "a multisig: secp256k1 keys of total weight 3 of 5 must sign (2 keys)"
    );
    let text = spec(
        equal.address().unwrap(),
        &serde_json::to_string(&equal).unwrap(),
    );
    let summary = SessionSpec::from_json(&text)
        .unwrap()
        .summary(&SummaryOptions::default())
        .unwrap();
    assert!(
        summary.contains("(a multisig: 2 of 3 secp256k1 and P-256 keys must sign) may act"),
        "{summary}"
    );
}

#[test]
fn test_compile_refuses_signer_key_of_another_signer_or_invalid() {
    let other = address!("00000000000000000000000000000000000000bb");
    let text = spec(
        other,
        &format!(r#"{{ "kind": "webAuthn", "x": "{GX}", "y": "{GY}" }}"#),
    );
    let error = SessionSpec::from_json(&text)
        .unwrap()
        .compile()
        .unwrap_err();
    assert!(
        matches!(&error, Error::Conflict { path, .. } if path == "signer_key"),
        "{error}"
    );
    // a point off the curve
    let off = b256!("0000000000000000000000000000000000000000000000000000000000000001");
    let text = spec(
        other,
        &format!(r#"{{ "kind": "p256", "x": "{GX}", "y": "{off}" }}"#),
    );
    let error = SessionSpec::from_json(&text)
        .unwrap()
        .compile()
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidValue { path, reason, .. }
            if path == "signer_key" && reason.contains("not a point of the curve")),
        "{error}"
    );
    // a multisig above its weight, and an unknown kind
    let multisig = format!(
        r#"{{ "kind": "multisig", "threshold": 3, "members": [ {{ "weight": 1, "signer": {{ "kind": "p256", "x": "{GX}", "y": "{GY}" }} }} ] }}"#
    );
    let error = SessionSpec::from_json(&spec(other, &multisig))
        .unwrap()
        .compile()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("above the members' total weight"),
        "{error}"
    );
    let error = SessionSpec::from_json(&spec(other, r#"{ "kind": "ed25519" }"#)).unwrap_err();
    assert!(matches!(error, Error::Parse { .. }), "{error}");
}

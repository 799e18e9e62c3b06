//! Session signer files of every kind: P-256 and passkey keystores, multisig files naming member keystores.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use alloy_primitives::B256;
use keyscope_permissions::Error as PermissionsError;
use keyscope_signer::keystore::{self, MemberFile};
use keyscope_signer::{
    verify_session_signature, Error, Kdf, P256Key, SessionKey, SessionSigner, SignerKey,
    WebAuthnAuthenticator,
};

const PASSWORD: &str = "correct horse";
const FAST: Kdf = Kdf::Pbkdf2 { c: 2 };

fn p256(seed: u8) -> SessionSigner {
    SessionSigner::from(P256Key::from_bytes(&[seed; 32]).unwrap())
}

fn passkey(seed: u8) -> SessionSigner {
    let key = P256Key::from_bytes(&[seed; 32]).unwrap();
    SessionSigner::from(WebAuthnAuthenticator::new(
        key,
        "game.example",
        "https://game.example",
    ))
}

fn secp(seed: u8) -> SessionSigner {
    SessionSigner::from(SessionKey::from_bytes(&[seed; 32]).unwrap())
}

fn write(dir: &Path, name: &str, signer: &SessionSigner) {
    let json = keystore::encrypt_signer(signer, PASSWORD, FAST).unwrap();
    std::fs::write(dir.join(name), json).unwrap();
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keyscope-signer-files-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn test_decrypt_signer_round_trips_each_single_kind() {
    let hash = B256::repeat_byte(0x42);
    for signer in [secp(1), p256(2), passkey(3)] {
        let json = keystore::encrypt_signer(&signer, PASSWORD, FAST).unwrap();
        let read = keystore::decrypt_signer(&json, PASSWORD).unwrap();
        assert_eq!(read.key(), signer.key());
        let signature = read.sign(&hash).unwrap();
        let address = signer.address().unwrap();
        assert!(verify_session_signature(&hash, address, &signature).is_valid());
        // the public side is readable without the password
        let key = keystore::signer_key(&json, Path::new(".")).unwrap();
        assert_eq!(key, signer.key());
    }
}

#[test]
fn test_decrypt_signer_keeps_passkey_relying_party() {
    let json = keystore::encrypt_signer(&passkey(3), PASSWORD, FAST).unwrap();
    let SessionSigner::WebAuthn(read) = keystore::decrypt_signer(&json, PASSWORD).unwrap() else {
        panic!("not a passkey");
    };
    assert_eq!(read.rp_id(), "game.example");
    assert_eq!(read.origin(), "https://game.example");
}

#[test]
fn test_decrypt_refuses_p256_keystore_as_secp256k1() {
    let json = keystore::encrypt_signer(&p256(2), PASSWORD, FAST).unwrap();
    assert!(matches!(
        keystore::decrypt(&json, PASSWORD),
        Err(Error::UnsupportedKeystore { .. })
    ));
}

#[test]
fn test_decrypt_signer_refuses_wrong_password_and_swapped_public_key() {
    let json = keystore::encrypt_signer(&p256(2), PASSWORD, FAST).unwrap();
    assert!(matches!(
        keystore::decrypt_signer(&json, "wrong"),
        Err(Error::WrongPassword)
    ));
    // the stated public key of another key: the decrypted secret does not match it
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let SessionSigner::P256(other) = p256(9) else {
        unreachable!()
    };
    let (x, y) = other.public();
    value["keyscope"]["x"] = serde_json::json!(x);
    value["keyscope"]["y"] = serde_json::json!(y);
    assert!(matches!(
        keystore::decrypt_signer(&value.to_string(), PASSWORD),
        Err(Error::KeystoreAddressMismatch { .. })
    ));
}

#[test]
fn test_encrypt_signer_refuses_multisig() {
    let multisig = SessionSigner::multisig(1, vec![(1, secp(1)), (1, p256(2))]).unwrap();
    assert!(matches!(
        keystore::encrypt_signer(&multisig, PASSWORD, FAST),
        Err(Error::UnsupportedKeystore { .. })
    ));
}

#[test]
fn test_read_signer_file_reads_multisig_members() {
    let dir = tempdir("multisig");
    write(&dir, "a.json", &secp(1));
    write(&dir, "b.json", &p256(2));
    write(&dir, "c.json", &passkey(3));
    let members = ["a.json", "b.json", "c.json"].map(|name| MemberFile {
        weight: 1,
        keystore: name.into(),
    });
    std::fs::write(
        dir.join("multisig.json"),
        keystore::multisig_file_json(2, &members).unwrap(),
    )
    .unwrap();

    let expected =
        SessionSigner::multisig(2, vec![(1, secp(1)), (1, p256(2)), (1, passkey(3))]).unwrap();
    let key = keystore::read_signer_key_file(dir.join("multisig.json")).unwrap();
    assert_eq!(key.address().unwrap(), expected.address().unwrap());
    let read = keystore::read_signer_file(dir.join("multisig.json"), PASSWORD).unwrap();
    assert_eq!(read.address().unwrap(), expected.address().unwrap());
    let hash = B256::repeat_byte(7);
    let signature = read.sign(&hash).unwrap();
    assert!(verify_session_signature(&hash, expected.address().unwrap(), &signature).is_valid());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn test_read_signer_file_refuses_bad_multisig_files() {
    let dir = tempdir("bad-multisig");
    write(&dir, "a.json", &secp(1));
    let member = |name: &str, weight| MemberFile {
        weight,
        keystore: name.into(),
    };
    let cases: [(&str, u16, Vec<MemberFile>); 4] = [
        (
            "threshold above the total weight",
            3,
            vec![member("a.json", 2)],
        ),
        (
            "a duplicate member",
            1,
            vec![member("a.json", 1), member("a.json", 1)],
        ),
        ("a zero weight", 1, vec![member("a.json", 0)]),
        ("a missing member file", 1, vec![member("missing.json", 1)]),
    ];
    for (what, threshold, members) in cases {
        let path = dir.join("multisig.json");
        std::fs::write(
            &path,
            keystore::multisig_file_json(threshold, &members).unwrap(),
        )
        .unwrap();
        let by_key = keystore::read_signer_key_file(&path);
        let by_secret = keystore::read_signer_file(&path, PASSWORD);
        assert!(by_key.is_err() && by_secret.is_err(), "{what} accepted");
    }
    // a multisig naming a multisig file
    let path = dir.join("outer.json");
    std::fs::write(
        &path,
        keystore::multisig_file_json(1, &[member("multisig.json", 1)]).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        keystore::read_signer_file(&path, PASSWORD),
        Err(Error::Permissions(PermissionsError::NestedMultisig {
            member: 0
        }))
    ));
    assert!(matches!(
        keystore::read_signer_key_file(&path),
        Err(Error::Permissions(PermissionsError::NestedMultisig { .. }))
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn test_signer_key_refuses_secp256k1_keystore_without_address() {
    let json = keystore::encrypt_signer(&secp(1), PASSWORD, FAST).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value.as_object_mut().unwrap().remove("address");
    assert!(matches!(
        keystore::signer_key(&value.to_string(), Path::new(".")),
        Err(Error::MalformedKeystore { .. })
    ));
    let _: SignerKey = keystore::signer_key(&json, Path::new(".")).unwrap();
}

#[test]
fn test_read_signer_file_checks_multisig_shape_before_reading_members() {
    let dir = tempdir("shape-first");
    write(&dir, "a.json", &secp(1));
    // 17 members, the last a missing file: refused for the count, before any file is read
    let mut members = (0..16)
        .map(|i| MemberFile {
            weight: 1,
            keystore: format!("m{i}.json").into(),
        })
        .collect::<Vec<_>>();
    members.push(MemberFile {
        weight: 1,
        keystore: "missing.json".into(),
    });
    let path = dir.join("many.json");
    std::fs::write(&path, keystore::multisig_file_json(1, &members).unwrap()).unwrap();
    assert!(matches!(
        keystore::read_signer_file(&path, PASSWORD),
        Err(Error::Permissions(PermissionsError::TooManyMembers {
            count: 17,
            max: 16
        }))
    ));
    // one keystore named twice (once through another spelling of its path): refused before decrypting it
    let twice = [("a.json", 1), ("./a.json", 1)].map(|(name, weight)| MemberFile {
        weight,
        keystore: name.into(),
    });
    std::fs::write(&path, keystore::multisig_file_json(2, &twice).unwrap()).unwrap();
    let error = keystore::read_signer_file(&path, "wrong password").unwrap_err();
    assert!(
        matches!(&error, Error::MalformedKeystore { reason } if reason.contains("names the file of")),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn test_read_signer_file_refuses_devices_and_oversized_files() {
    let dir = tempdir("hostile-files");
    let member = |name: &str| MemberFile {
        weight: 1,
        keystore: name.into(),
    };
    std::fs::write(dir.join("big.json"), vec![b' '; 70 * 1024]).unwrap();
    for name in ["/dev/zero", "big.json", "."] {
        let path = dir.join("multisig.json");
        std::fs::write(
            &path,
            keystore::multisig_file_json(1, &[member(name)]).unwrap(),
        )
        .unwrap();
        assert!(
            keystore::read_signer_file(&path, PASSWORD).is_err(),
            "{name} read"
        );
        assert!(
            keystore::read_signer_key_file(&path).is_err(),
            "{name} read"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn test_signer_file_errors_do_not_quote_values() {
    let secret = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    let json = format!(r#"{{ "version": 3, "crypto": "{secret}" }}"#);
    let error = keystore::decrypt_signer(&json, PASSWORD).unwrap_err();
    assert!(matches!(error, Error::MalformedKeystore { .. }), "{error}");
    assert!(!error.to_string().contains(secret), "{error}");
    // a multisig file with an unknown field is reported as one
    let typo = r#"{ "keyscope": { "kind": "multisig", "quorum": 1, "members": [] } }"#;
    let error = keystore::signer_key(typo, Path::new(".")).unwrap_err();
    assert!(error.to_string().contains("quorum"), "{error}");
}

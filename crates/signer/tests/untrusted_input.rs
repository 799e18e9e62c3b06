//! Fuzzing of every parser that reads untrusted input besides the signature wire format (see `properties.rs`):
//! keystore JSON, hex secret keys and raw ECDSA signatures. Each input either parses or is a typed error; nothing
//! panics, and a keystore is only ever accepted when it decrypts to the key it was made from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::OnceLock;

use alloy_primitives::B256;
use keyscope_signer::keystore::{decrypt, encrypt};
use keyscope_signer::{recover, Error, Kdf, SessionKey};
use proptest::prelude::*;
use serde_json::Value;

const PASSWORD: &str = "correct horse";

/// One keystore for the whole run (PBKDF2 with few rounds keeps each decrypt cheap).
fn keystore() -> &'static (SessionKey, Value) {
    static KEYSTORE: OnceLock<(SessionKey, Value)> = OnceLock::new();
    KEYSTORE.get_or_init(|| {
        let key = SessionKey::generate();
        let json = encrypt(&key, PASSWORD, Kdf::Pbkdf2 { c: 2 }).unwrap();
        (key, serde_json::from_str(&json).unwrap())
    })
}

/// The JSON paths of every leaf of a keystore.
fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn set(value: &mut Value, path: &[String], new: Value) {
    let mut at = value;
    for k in path {
        at = at.get_mut(k).unwrap();
    }
    *at = new;
}

fn remove(value: &mut Value, path: &[String]) {
    let (last, parents) = path.split_last().unwrap();
    let mut at = value;
    for k in parents {
        at = at.get_mut(k).unwrap();
    }
    at.as_object_mut().unwrap().remove(last);
}

/// Replacement values: other types, hex of the wrong length, huge and hostile numbers.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1u64 << 40)),
        "[0-9a-fA-F]{0,80}".prop_map(Value::from),
        "0x[0-9a-f]{0,70}".prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        Just(serde_json::json!({})),
        Just(serde_json::json!([1, 2, 3])),
    ]
}

/// Errors a hostile keystore may produce: every one typed, none an I/O or signing error.
fn is_keystore_error(error: &Error) -> bool {
    matches!(
        error,
        Error::WrongPassword
            | Error::MalformedKeystore { .. }
            | Error::UnsupportedKeystore { .. }
            | Error::KeystoreAddressMismatch { .. }
            | Error::InvalidKey
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn keystore_decrypt_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let error = decrypt(&text, PASSWORD).unwrap_err();
        prop_assert!(is_keystore_error(&error), "{error:?}");
    }

    /// Any one field replaced, removed, or the file truncated: a typed error, or the very same key (when the
    /// change is immaterial, e.g. the optional `id`).
    #[test]
    fn keystore_decrypt_rejects_or_preserves_every_mutation(
        pick in any::<prop::sample::Index>(),
        new in replacement(),
        drop_field in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (key, original) = keystore();
        let mut paths = vec![];
        leaves(original, &mut vec![], &mut paths);
        let path = pick.get(&paths);
        let mut mutated = original.clone();
        if drop_field {
            remove(&mut mutated, path);
        } else {
            set(&mut mutated, path, new);
        }
        let mut text = serde_json::to_string(&mutated).unwrap();
        if truncate {
            // at a character boundary: the replacement may hold multi-byte characters
            let mut at = cut.index(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
        }
        match decrypt(&text, PASSWORD) {
            Ok(decrypted) => prop_assert_eq!(decrypted.address(), key.address()),
            Err(error) => prop_assert!(is_keystore_error(&error), "{error:?}"),
        }
    }

    #[test]
    fn keystore_wrong_password_is_a_typed_error(password in ".{0,40}") {
        prop_assume!(password != PASSWORD);
        let (_, original) = keystore();
        prop_assert_eq!(decrypt(&original.to_string(), &password).unwrap_err(), Error::WrongPassword);
    }

    #[test]
    fn secret_key_hex_never_panics(text in "(0x)?[0-9a-fA-F]{0,70}|.{0,80}") {
        match SessionKey::from_hex(&text) {
            Ok(key) => {
                // whatever parsed is exactly the 32 bytes written
                let trimmed = text.trim();
                let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
                prop_assert_eq!(alloy_primitives::hex::encode(key.secret_bytes().as_slice()), digits.to_lowercase());
            }
            Err(error) => prop_assert_eq!(error, Error::InvalidKey),
        }
    }

    #[test]
    fn recover_never_panics(hash in any::<[u8; 32]>(), signature in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Err(error) = recover(&B256::from(hash), &signature) {
            prop_assert!(matches!(error, Error::InvalidSignature(_)), "{error:?}");
        }
    }
}

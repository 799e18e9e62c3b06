//! The session-signer part of the agreement vectors: signatures of every signer kind, valid, dummy and mutated,
//! each with the verdict of [`verify_session_signature`], for `SignerVectors.t.sol` to check against the
//! validator's `SessionSigners.isValid`. One line per vector: `hash signer signature valid`.

use alloy_primitives::{hex, keccak256, Address, B256, U256};
use keyscope_signer::signers::{
    commitment, DEFAULT_ORIGIN, DEFAULT_RP_ID, FLAG_BE, FLAG_BS, FLAG_UP,
};
use keyscope_signer::{
    verify_session_signature, P256Key, SessionKey, SessionSigner, WebAuthnAuth,
    WebAuthnAuthenticator,
};

/// xorshift64: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mutations per signer and hash.
const MUTATIONS: usize = 24;

fn line(out: &mut String, hash: &B256, signer: Address, signature: &[u8]) {
    let valid = verify_session_signature(hash, signer, signature).valid;
    out.push_str(&format!(
        "{hash} {signer} 0x{} {valid}\n",
        hex::encode(signature)
    ));
}

/// One to three random edits: a flipped byte, a cut, an appended or a removed byte.
fn mutate(rng: &mut Rng, signature: &[u8]) -> Vec<u8> {
    let mut mutated = signature.to_vec();
    for _ in 0..1 + rng.below(3) {
        if mutated.is_empty() {
            break;
        }
        let at = rng.below(mutated.len());
        match rng.below(6) {
            0..=2 => mutated[at] ^= 1 + rng.below(255) as u8,
            3 => mutated.truncate(at),
            4 => mutated.push(rng.next() as u8),
            _ => {
                mutated.remove(at);
            }
        }
    }
    mutated
}

/// A WebAuthn assertion edited after the authenticator made it, then signed again: the checks other than the
/// signature's.
fn edited_assertions(out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let authenticator = WebAuthnAuthenticator::new(
        P256Key::from_bytes(&keccak256("keyscope.vectors.webauthn.edits").0)?,
        DEFAULT_RP_ID,
        DEFAULT_ORIGIN,
    );
    let hash = keccak256("edits");
    let (x, y) = authenticator.public();
    type Edit = fn(&mut WebAuthnAuth);
    let edits: [Edit; 11] = [
        |_| {},
        |a| a.authenticator_data[32] = 0x04, // UV without UP
        |a| a.authenticator_data[32] = FLAG_UP | FLAG_BS, // backed up, not eligible
        |a| a.authenticator_data[32] = FLAG_UP | FLAG_BE,
        |a| a.authenticator_data.truncate(36),
        |a| a.authenticator_data.push(1),
        |a| a.type_index = U256::from(2),
        |a| a.type_index = U256::MAX - U256::from(3),
        |a| a.type_index = U256::MAX,
        |a| a.challenge_index = U256::from(24),
        |a| a.client_data_json.truncate(60),
    ];
    for edit in edits {
        let mut assertion = authenticator.assert(&hash)?;
        edit(&mut assertion);
        (assertion.r, assertion.s) = authenticator.key().sign_prehash(&assertion.message())?;
        let signature = [&[2u8][..], x.as_slice(), y.as_slice(), &assertion.encode()].concat();
        let signer = commitment(&signature[..65]);
        line(out, &hash, signer, &signature);
        let mut longer = signature.clone();
        longer.push(7);
        line(out, &hash, signer, &longer);
    }
    Ok(())
}

/// The vectors, as text.
pub(crate) fn signer_vectors() -> Result<String, Box<dyn std::error::Error>> {
    let mut rng = Rng(0x6b65_7973_636f_7065);
    let p256 = |label: &str| P256Key::from_bytes(&keccak256(label).0);
    let webauthn = |label: &str| -> Result<WebAuthnAuthenticator, keyscope_signer::Error> {
        Ok(WebAuthnAuthenticator::new(
            p256(label)?,
            DEFAULT_RP_ID,
            DEFAULT_ORIGIN,
        ))
    };
    let secp256k1 = SessionKey::from_bytes(&keccak256("keyscope.vectors.secp256k1").0)?;
    let multisig = SessionSigner::multisig(
        4,
        vec![
            (1, secp256k1.clone().into()),
            (2, p256("keyscope.vectors.member.p256")?.into()),
            (3, webauthn("keyscope.vectors.member.webauthn")?.into()),
        ],
    )?;
    let signers: Vec<SessionSigner> = vec![
        secp256k1.into(),
        p256("keyscope.vectors.p256")?.into(),
        webauthn("keyscope.vectors.webauthn")?.into(),
        webauthn("keyscope.vectors.webauthn.up")?
            .with_flags(FLAG_UP)
            .into(),
        webauthn("keyscope.vectors.webauthn.backup")?
            .with_flags(FLAG_UP | FLAG_BE | FLAG_BS)
            .into(),
        multisig.clone(),
    ];
    let mut out = String::new();
    for round in 0..2u8 {
        let hash = keccak256([round, 0xaa]);
        for signer in &signers {
            let address = signer.address()?;
            let signature = signer.sign(&hash)?;
            line(&mut out, &hash, address, &signature);
            line(&mut out, &hash, address, &signer.dummy_signature()?);
            line(&mut out, &keccak256([round]), address, &signature);
            for _ in 0..MUTATIONS {
                line(&mut out, &hash, address, &mutate(&mut rng, &signature));
            }
        }
        let address = multisig.address()?;
        for which in [&[0usize][..], &[1], &[2], &[0, 1], &[0, 2], &[1, 2]] {
            line(&mut out, &hash, address, &multisig.sign_with(&hash, which)?);
        }
    }
    edited_assertions(&mut out)?;
    // OpenZeppelin's precompile probe (r = 5, s = 1), as a P-256 session signature
    let probe = hex!(
        "01a71af64de5126a4a4e02b7922d66ce9415ce88a4c9d25514d91082c8725ac9575d47723c8fbe580bb369fec9c2665d8e30a435b9932645482e7c9f11e872296b"
    );
    let mut signature = probe.to_vec();
    signature.extend_from_slice(&U256::from(5).to_be_bytes::<32>());
    signature.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
    let hash = B256::from(hex!(
        "bb5a52f42f9c9261ed4361f59422a1e30036e7c32b270c8807a419feca605023"
    ));
    line(&mut out, &hash, commitment(&probe), &signature);
    Ok(out)
}

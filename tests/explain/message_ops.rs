//! Differential test of `explain`'s message-signature mirror against the chain: a session key's ERC-1271 signatures
//! (ERC-7739 TypedDataSign envelopes of `OfferBook` offers) explained off-chain
//! ([`Client::explain_message_signature`](keyscope::Client::explain_message_signature)) and asked of the validator
//! (`isValidSignatureWithSender`, `eth_call` from the account at the same block): the same magic value, or the same
//! revert data (custom error with its parameters, or none). Valid signatures; every refusal of the validator and
//! its typed-data verifier (state, envelope, permission, flags, call fields, window, app domain, verifying
//! contract, contents, rules, truncations, non-canonical permission encodings, revocation); accounts whose
//! ERC-5267 domain is not bound (or missing: a code-less caller), through a caller whose code answers a fixed
//! `eip712Domain()`; and seeded random mutations of valid signatures (`KEYSCOPE_EXPLAIN_SEED=<u64>`).

use std::collections::BTreeMap;

use alloy::eips::BlockId;
use alloy::network::TransactionBuilder;
use alloy::primitives::{aliases::U48, keccak256, Address, Bytes, FixedBytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolValue};
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::bindings::OfferBook;
use keyscope::explain::{MessageAnswer, MessageExplanation};
use keyscope::permissions::abi::{encode_permission, encode_session};
use keyscope::permissions::{ArgRule, Permission, PermissionTree, RuleOperator, Session};
use keyscope::signer::SessionKey;
use keyscope::{Client, GasSettings, Version};

use crate::generators::Rng;

const OFFER_TYPE: &str = "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";
const ITEMS: Address = Address::new([0x1e; 20]);
const MAX_PRICE: u64 = 100;
const WORD_PRICE: u16 = 5;
const DETECTION: B256 = B256::new([
    0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39,
    0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39, 0x77, 0x39,
]);

fn rule(operator: RuleOperator, arg: u16, operands: Vec<B256>) -> ArgRule {
    ArgRule {
        operator: operator as u8,
        argIndex: arg,
        operands,
    }
}

fn offer_permission(target: Address) -> Permission {
    Permission {
        target,
        flags: 32,
        rules: vec![
            rule(RuleOperator::Eq, 0, vec![keccak256(OFFER_TYPE)]),
            rule(RuleOperator::Eq, 2, vec![ITEMS.into_word()]),
            rule(
                RuleOperator::Lte,
                WORD_PRICE,
                vec![B256::from(U256::from(MAX_PRICE))],
            ),
        ],
        ..Default::default()
    }
}

/// `typeHash ‖ encodeData` of an offer by `buyer` at `price`.
fn offer(buyer: Address, price: u64) -> Vec<u8> {
    (
        keccak256(OFFER_TYPE),
        buyer,
        ITEMS,
        U256::from(1),
        Address::repeat_byte(0xcc),
        U256::from(price),
        U256::from(7),
        U256::from(u64::MAX),
    )
        .abi_encode()
}

/// The account domain a signature is signed for: (name, version, chainId, verifyingContract, salt).
#[derive(Clone)]
struct Domain {
    name: String,
    version: String,
    chain_id: u64,
    verifying_contract: Address,
    salt: B256,
}

impl Domain {
    fn keyscope(account: Address, chain_id: u64) -> Self {
        Self {
            name: "KeyscopeAccount".into(),
            version: "1".into(),
            chain_id,
            verifying_contract: account,
            salt: B256::ZERO,
        }
    }
}

/// A message signature, field by field (the wire format in `SessionKeyValidator`'s documentation).
#[derive(Clone)]
struct Message {
    session: Session,
    permission: Vec<u8>,
    proof: Vec<B256>,
    fields: u8,
    app_domain: Vec<u8>,
    app_separator: B256,
    contents: Vec<u8>,
    contents_hash: Option<B256>,
    contents_descr: Vec<u8>,
    signer: SessionKey,
    account_domain: Domain,
}

impl Message {
    fn contents_hash(&self) -> B256 {
        self.contents_hash
            .unwrap_or_else(|| keccak256(&self.contents))
    }

    fn hash(&self) -> B256 {
        typed_data_hash(self.app_separator, self.contents_hash())
    }

    fn nested_digest(&self) -> B256 {
        let descr = String::from_utf8_lossy(&self.contents_descr).into_owned();
        let (name, ty) = match descr.find('(') {
            Some(i) if descr.ends_with(')') => (descr[..i].to_owned(), descr.clone()),
            _ => {
                let i = descr.rfind(')').map_or(0, |i| i + 1);
                (descr[i..].to_owned(), descr[..i].to_owned())
            }
        };
        let typehash = keccak256(format!(
            "TypedDataSign({name} contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt){ty}"
        ));
        let d = &self.account_domain;
        let struct_hash = keccak256(
            (
                typehash,
                self.contents_hash(),
                keccak256(&d.name),
                keccak256(&d.version),
                U256::from(d.chain_id),
                d.verifying_contract,
                d.salt,
            )
                .abi_encode(),
        );
        typed_data_hash(self.app_separator, struct_hash)
    }

    fn inner(&self) -> Vec<u8> {
        let mut out = encode_session(&self.session).to_vec();
        out.extend_from_slice(&(self.permission.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.permission);
        out.push(self.proof.len() as u8);
        for node in &self.proof {
            out.extend_from_slice(node.as_slice());
        }
        out.push(self.fields);
        out.extend_from_slice(&self.app_domain);
        out.extend_from_slice(&(self.contents.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.contents);
        out
    }

    fn envelope(&self, inner: &[u8]) -> Vec<u8> {
        let mut out = inner.to_vec();
        out.extend_from_slice(self.app_separator.as_slice());
        out.extend_from_slice(self.contents_hash().as_slice());
        out.extend_from_slice(&self.contents_descr);
        out.extend_from_slice(&(self.contents_descr.len() as u16).to_be_bytes());
        out
    }

    fn data(&self) -> Vec<u8> {
        let mut inner = self.inner();
        inner.extend_from_slice(&self.signer.sign_hash_bytes(&self.nested_digest()).unwrap());
        self.envelope(&inner)
    }
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

fn app_separator(fields: u8, words: &[u8]) -> B256 {
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

/// A session of `encodings` granted (or not) somewhere, and messages under its leaf `index`.
struct TypedSession {
    session: Session,
    encodings: Vec<Vec<u8>>,
    tree: PermissionTree,
    key: SessionKey,
}

impl TypedSession {
    fn new(key: &SessionKey, encodings: Vec<Vec<u8>>, after: u64, until: u64, salt: u64) -> Self {
        let tree = PermissionTree::from_leaves(
            encodings.iter().map(|e| keccak256(keccak256(e))).collect(),
        )
        .unwrap();
        let session = Session {
            signer: key.address(),
            validAfter: U48::from(after),
            validUntil: U48::from(until),
            permissionsRoot: tree.root(),
            paymasterPolicy: 0,
            paymaster: Address::ZERO,
            maxOperationFee: u128::MAX,
            feeBudget: u128::MAX,
            salt: B256::from(U256::from(salt)),
        };
        Self {
            session,
            encodings,
            tree,
            key: key.clone(),
        }
    }

    fn leaf(&self, index: usize) -> B256 {
        keccak256(keccak256(&self.encodings[index]))
    }

    /// An offer of `buyer` at `price` on `book` (chain `chain_id`), under leaf `index`, for `account`.
    fn message(
        &self,
        index: usize,
        book: Address,
        chain_id: u64,
        account: Address,
        price: u64,
    ) -> Message {
        let app_domain = (
            keccak256("Keyscope OfferBook"),
            keccak256("1"),
            U256::from(chain_id),
            book,
        )
            .abi_encode();
        Message {
            session: self.session.clone(),
            permission: self.encodings[index].clone(),
            proof: self.tree.proof(index).unwrap(),
            fields: 0x0f,
            app_separator: app_separator(0x0f, &app_domain),
            app_domain,
            contents: offer(account, price),
            contents_hash: None,
            contents_descr: OFFER_TYPE.as_bytes().to_vec(),
            signer: self.key.clone(),
            account_domain: Domain::keyscope(account, chain_id),
        }
    }
}

/// Revert data of an `eth_call` error (`None`: not a revert); see `compare::revert_data`.
fn revert_data(error: &alloy::transports::TransportError) -> Option<Bytes> {
    let payload = error.as_error_resp()?;
    if let Some(data) = payload.as_revert_data() {
        return Some(data);
    }
    (payload.message == "execution reverted" && payload.data.is_none()).then(Bytes::new)
}

#[derive(Default)]
struct Tally {
    compared: usize,
    by_outcome: BTreeMap<String, usize>,
    samples: BTreeMap<String, String>,
}

/// Explains `data` for `account` and asks the validator on chain at the same block; they must agree exactly.
async fn compare(
    client: &Client,
    tally: &mut Tally,
    label: &str,
    account: Address,
    hash: B256,
    data: &[u8],
) -> MessageExplanation {
    let explained = client
        .explain_message_signature(account, hash, data)
        .await
        .unwrap();
    let validator = client.stack().session_key_validator;
    let mut input = SessionKeyValidator::isValidSignatureWithSenderCall::SELECTOR.to_vec();
    input.extend_from_slice(
        &(Address::ZERO, hash, Bytes::copy_from_slice(data)).abi_encode_params(),
    );
    let tx = TransactionRequest::default()
        .with_from(account)
        .with_to(validator)
        .with_input(input);
    let chain = client
        .provider()
        .call(tx)
        .block(BlockId::number(explained.block))
        .await;
    let context = || {
        format!(
            "[{label}; data {}] explain: {explained}",
            Bytes::copy_from_slice(data)
        )
    };
    let outcome = match (&chain, &explained.result) {
        (Ok(returned), Ok(validation)) => {
            assert_eq!(returned.len(), 32, "{}", context());
            let magic = FixedBytes::<4>::from_slice(&returned[..4]);
            assert_eq!(
                MessageAnswer::from_magic(magic),
                Some(validation.answer),
                "{}: chain answered {magic}",
                context()
            );
            match validation.answer {
                MessageAnswer::Valid => "valid".to_owned(),
                MessageAnswer::Erc7739Supported => "ERC-7739 detection".to_owned(),
                MessageAnswer::Invalid => format!(
                    "invalid: {}",
                    validation
                        .mismatch
                        .as_ref()
                        .map(|m| format!("{m:?}"))
                        .unwrap_or_default()
                        .split([' ', '{'])
                        .next()
                        .unwrap_or_default()
                ),
            }
        }
        (Err(error), Err(revert)) => {
            let data = revert_data(error).unwrap_or_else(|| panic!("{}: {error}", context()));
            assert_eq!(
                data,
                revert.revert_data(),
                "{}: chain reverted with {data}",
                context()
            );
            format!("revert {}", revert.name())
        }
        (chain, _) => panic!("{}: chain {chain:?}", context()),
    };
    assert!(!explained.to_string().is_empty());
    tally.compared += 1;
    *tally.by_outcome.entry(outcome.clone()).or_default() += 1;
    tally
        .samples
        .entry(outcome)
        .or_insert_with(|| format!("{label}: {explained}"));
    explained
}

async fn anvil_call(client: &Client, method: &'static str, params: serde_json::Value) {
    let _: serde_json::Value = client
        .provider()
        .raw_request(method.into(), params)
        .await
        .unwrap();
}

/// Sends `data` to the validator from `from` (impersonated).
async fn send_as(client: &Client, from: Address, data: Vec<u8>) {
    let validator = client.stack().session_key_validator;
    let tx = serde_json::json!({
        "from": from,
        "to": validator,
        "data": Bytes::from(data),
        "gas": "0x200000",
    });
    let hash: B256 = client
        .provider()
        .raw_request("eth_sendTransaction".into(), (tx,))
        .await
        .unwrap();
    let receipt = client
        .provider()
        .get_transaction_receipt(hash)
        .await
        .unwrap()
        .unwrap();
    assert!(receipt.status(), "{receipt:?}");
}

/// Runtime code answering every call with `returned`: `codecopy(0, 15, n) return(0, n)`.
fn answering(returned: &[u8]) -> Bytes {
    let n = (returned.len() as u16).to_be_bytes();
    let mut code = vec![0x61, n[0], n[1], 0x60, 15, 0x60, 0x00, 0x39];
    code.extend_from_slice(&[0x61, n[0], n[1], 0x60, 0x00, 0xf3]);
    code.push(0x00);
    assert_eq!(code.len(), 15);
    code.extend_from_slice(returned);
    code.into()
}

/// An `eip712Domain()` return value.
fn domain_answer(domain: &Domain) -> Vec<u8> {
    (
        FixedBytes::<1>([0x1f]),
        domain.name.clone(),
        domain.version.clone(),
        U256::from(domain.chain_id),
        domain.verifying_contract,
        domain.salt,
        Vec::<U256>::new(),
    )
        .abi_encode_params()
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_of_message_signatures_agrees_with_the_chain() {
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await.with_gas(GasSettings {
        max_priority_fee_per_gas: Some(1_000_000_000),
        max_fee_per_gas: Some(20_000_000_000),
        ..GasSettings::default()
    });
    let seed = std::env::var("KEYSCOPE_EXPLAIN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b65_7973_636f_7065u64);
    println!("KEYSCOPE_EXPLAIN_SEED={seed}");
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let chain_id = client.chain_id();
    let owner = SessionKey::from_bytes(&[0x0a; 32]).unwrap();
    let key = SessionKey::from_bytes(&[0x0c; 32]).unwrap();
    let other_key = SessionKey::from_bytes(&[0x0d; 32]).unwrap();
    let validator = client.stack().session_key_validator;

    let book = *OfferBook::deploy(client.provider().clone())
        .await
        .unwrap()
        .address();
    let other_book = *OfferBook::deploy(client.provider().clone())
        .await
        .unwrap()
        .address();
    let account = client
        .create_account(owner.address(), U256::from(1), Version::V08)
        .await
        .unwrap();
    let other_account = client
        .create_account(owner.address(), U256::from(3), Version::V08)
        .await
        .unwrap();
    let uninstalled = client
        .create_account_with(owner.address(), U256::from(2), Version::V08, false)
        .await
        .unwrap();
    for a in [&account, &other_account, &uninstalled] {
        client
            .fund(a.address, U256::from(10u128.pow(19)))
            .await
            .unwrap();
        client.deposit(a, U256::from(10u128.pow(18))).await.unwrap();
    }
    let now = keyscope_e2e::now(client.provider()).await;

    // The main session's leaves: the offer permission, then every ill-formed or refused one.
    let base = encode_permission(&offer_permission(book));
    let with_word = |w: usize, value: U256| {
        let mut encoding = base.clone();
        encoding[32 * w..32 * w + 32].copy_from_slice(&value.to_be_bytes::<32>());
        encoding
    };
    let tweak = |edit: &dyn Fn(&mut Permission)| {
        let mut p = offer_permission(book);
        edit(&mut p);
        encode_permission(&p)
    };
    let account_address = account.address;
    let mut short = base.clone();
    short.truncate(0x1a0 - 1);
    let encodings: Vec<(&str, Vec<u8>)> = vec![
        ("offer", base.clone()),
        (
            "verifying contract: the validator",
            tweak(&|p: &mut Permission| p.target = validator),
        ),
        (
            "verifying contract: the account",
            tweak(&|p: &mut Permission| p.target = account_address),
        ),
        (
            "verifying contract: zero",
            tweak(&|p: &mut Permission| p.target = Address::ZERO),
        ),
        ("maxUses", tweak(&|p: &mut Permission| p.maxUses = 1)),
        (
            "rule 0 lte",
            tweak(&|p: &mut Permission| p.rules[0].operator = RuleOperator::Lte as u8),
        ),
        (
            "rule 0 on word 1",
            tweak(&|p: &mut Permission| p.rules[0].argIndex = 1),
        ),
        ("no rules", tweak(&|p: &mut Permission| p.rules.clear())),
        (
            "call permission",
            tweak(&|p: &mut Permission| {
                p.flags = 0;
                p.selector = FixedBytes([1, 2, 3, 4]);
            }),
        ),
        ("flags 0x21", tweak(&|p: &mut Permission| p.flags = 0x21)),
        ("flags dirty", with_word(3, U256::from(0x120))),
        (
            "target dirty",
            with_word(
                1,
                U256::from(1) << 160 | U256::from_be_slice(book.as_slice()),
            ),
        ),
        ("validAfter dirty", with_word(7, U256::from(1) << 48)),
        (
            "rule 0 operator 14",
            tweak(&|p: &mut Permission| p.rules[0].operator = 14),
        ),
        (
            "33 rules",
            tweak(&|p: &mut Permission| {
                while p.rules.len() <= 32 {
                    p.rules
                        .push(rule(RuleOperator::Eq, 0, vec![keccak256(OFFER_TYPE)]));
                }
            }),
        ),
        (
            "rule 2 operator 14",
            tweak(&|p: &mut Permission| p.rules[2].operator = 14),
        ),
        (
            "rule 2 with no operand",
            tweak(&|p: &mut Permission| p.rules[2].operands.clear()),
        ),
        (
            "future window",
            tweak(&|p: &mut Permission| {
                p.validAfter = U48::from(now + 10_000);
                p.validUntil = U48::from(now + 20_000);
            }),
        ),
        (
            "past window",
            tweak(&|p: &mut Permission| {
                p.validAfter = U48::from(now - 90);
                p.validUntil = U48::from(now - 50);
            }),
        ),
        ("head too short", short),
        ("offset 0x40", with_word(0, U256::from(0x40))),
        (
            "rules offset out of bounds",
            with_word(12, U256::from(0x10000)),
        ),
        ("rules length out of bounds", {
            let mut e = base.clone();
            let at = 0x20 + 0x180;
            e[at..at + 32].copy_from_slice(&U256::from(u64::MAX).to_be_bytes::<32>());
            e
        }),
    ];
    // seeded mutants of the offer permission's encoding, leaves of the tree too: Solidity's calldata reads
    let mutant_labels: Vec<String> = (0..40).map(|i| format!("mutant {i}")).collect();
    let mut encodings = encodings;
    for label in &mutant_labels {
        let mut e = base.clone();
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(e.len());
            if rng.chance(50) {
                // a small value in the low byte of a word: offsets, lengths, enums, flags
                let word = at / 32 * 32;
                e[word..word + 32].fill(0);
                e[word + 31] = rng.pick(&[0, 1, 0x13, 0x20, 0x21, 0x40, 0x60, 0xff]);
                if rng.chance(30) {
                    e[word] = 1;
                }
            } else {
                e[at] = rng.next() as u8;
            }
        }
        if rng.chance(15) {
            let at = rng.below(e.len());
            e.truncate(at.max(1));
        }
        encodings.push((label.as_str(), e));
    }
    let main = TypedSession::new(
        &key,
        encodings.iter().map(|(_, e)| e.clone()).collect(),
        now - 100,
        now + 1_000_000,
        1,
    );
    let revocable = TypedSession::new(&key, vec![base.clone()], now - 100, now + 1_000_000, 2);
    let revoked = TypedSession::new(&key, vec![base.clone()], now - 100, now + 1_000_000, 3);
    let ended = TypedSession::new(&key, vec![base.clone()], now - 100, now - 10, 4);
    for (a, s) in [
        (&account, &main),
        (&account, &revocable),
        (&account, &revoked),
        (&account, &ended),
        (&other_account, &main),
    ] {
        client.grant_session(a, &owner, &s.session).await.unwrap();
    }
    client
        .revoke_session(&account, &owner, revoked.session.id())
        .await
        .unwrap();
    client
        .revoke_permission(&account, &owner, revocable.session.id(), revocable.leaf(0))
        .await
        .unwrap();

    let a = account.address;
    let valid = main.message(0, book, chain_id, a, MAX_PRICE);
    let mut cases: Vec<(String, Address, B256, Vec<u8>)> = Vec::new();
    let mut push = |label: &str, account: Address, message: &Message| {
        cases.push((label.to_owned(), account, message.hash(), message.data()));
    };
    push("valid offer", a, &valid);
    push(
        "valid offer on the other account",
        other_account.address,
        &main.message(0, book, chain_id, other_account.address, 1),
    );
    push(
        "the other account's signature",
        a,
        &Message {
            account_domain: Domain::keyscope(other_account.address, chain_id),
            ..valid.clone()
        },
    );
    push(
        "another signer",
        a,
        &Message {
            signer: other_key.clone(),
            ..valid.clone()
        },
    );
    push("uninstalled account", uninstalled.address, &valid);
    push(
        "revoked session",
        a,
        &revoked.message(0, book, chain_id, a, 1),
    );
    push(
        "revoked permission",
        a,
        &revocable.message(0, book, chain_id, a, 1),
    );
    push("ended session", a, &ended.message(0, book, chain_id, a, 1));
    push(
        "price above the rule",
        a,
        &main.message(0, book, chain_id, a, MAX_PRICE + 1),
    );
    let mut m = valid.clone();
    m.contents = (keccak256("Cancel(uint256 nonce)"), U256::from(7)).abi_encode();
    push("contents of another type", a, &m);
    let mut m = valid.clone();
    m.contents.truncate(5 * 32);
    push("contents too short", a, &m);
    let mut m = valid.clone();
    m.contents_hash = Some(keccak256(offer(a, 1)));
    push("contents not hashing to contentsHash", a, &m);
    let mut m = valid.clone();
    m.app_domain[..32].copy_from_slice(keccak256("Other").as_slice());
    push("app domain not hashing to appSeparator", a, &m);
    let mut m = valid.clone();
    m.app_domain = (
        keccak256("Keyscope OfferBook"),
        keccak256("1"),
        U256::from(chain_id),
        other_book,
    )
        .abi_encode();
    m.app_separator = app_separator(0x0f, &m.app_domain);
    push("another verifying contract", a, &m);
    for (fields, words) in [(0x07u8, 3usize), (0x28, 1), (0xff, 5)] {
        let mut m = valid.clone();
        m.fields = fields;
        m.app_domain = vec![0; 32 * words];
        push(&format!("app domain fields {fields:#x}"), a, &m);
    }
    let mut m = valid.clone();
    m.app_domain[96] = 1;
    push("app domain verifying contract word above 160 bits", a, &m);
    let mut m = valid.clone();
    m.fields = 0x1f;
    m.app_domain = [m.app_domain.clone(), B256::repeat_byte(0x5a).to_vec()].concat();
    m.app_separator = app_separator(0x1f, &m.app_domain);
    push("app domain with a salt", a, &m);
    let mut m = valid.clone();
    m.fields = 0x08;
    m.app_domain = book.into_word().to_vec();
    m.app_separator = app_separator(0x08, &m.app_domain);
    push("app domain: verifying contract alone", a, &m);
    let mut m = valid.clone();
    m.contents_descr = format!("{OFFER_TYPE}Offer").into_bytes();
    push("explicit contents description", a, &m);
    for descr in ["", "Offer", "(uint256 a)", "Of fer(uint256 a)"] {
        let mut m = valid.clone();
        m.contents_descr = descr.as_bytes().to_vec();
        push(&format!("contents description {descr:?}"), a, &m);
    }
    for (index, (label, _)) in encodings.iter().enumerate().skip(1) {
        let mut m = main.message(index, book, chain_id, a, 1);
        if [1usize, 2, 3].contains(&index) {
            // the app domain of the permission's own verifying contract
            let target = [validator, a, Address::ZERO][index - 1];
            m.app_domain = (
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                U256::from(chain_id),
                target,
            )
                .abi_encode();
            m.app_separator = app_separator(0x0f, &m.app_domain);
        }
        push(&format!("permission: {label}"), a, &m);
    }
    let mut m = valid.clone();
    m.permission = encode_permission(&offer_permission(other_book));
    push("permission not in the session", a, &m);

    let inner = valid.inner();
    let permission_at = 288;
    let proof_at = permission_at + 2 + valid.permission.len();
    let domain_at = proof_at + 1 + 32 * valid.proof.len();
    let contents_at = domain_at + 1 + 4 * 32;
    for cut in [
        100,
        permission_at + 1,
        permission_at + 2,
        proof_at,
        proof_at + 1 + 5,
        domain_at,
        domain_at + 11,
        contents_at + 3,
        contents_at + 4,
        inner.len(),
    ] {
        cases.push((
            format!("inner signature cut at {cut}"),
            a,
            valid.hash(),
            valid.envelope(&inner[..cut]),
        ));
    }
    let data = valid.data();
    cases.push(("another hash".into(), a, B256::repeat_byte(9), data.clone()));
    cases.push(("detection".into(), a, DETECTION, vec![]));
    cases.push(("empty, another hash".into(), a, valid.hash(), vec![]));
    cases.push((
        "shorter than a session".into(),
        a,
        valid.hash(),
        data[..287].to_vec(),
    ));
    let mut long = data.clone();
    let n = long.len();
    long[n - 2..].copy_from_slice(&u16::MAX.to_be_bytes());
    cases.push((
        "contentsDescr length past the start".into(),
        a,
        valid.hash(),
        long,
    ));
    let mut personal = encode_session(&main.session).to_vec();
    personal.extend_from_slice(&key.sign_hash_bytes(&B256::repeat_byte(1)).unwrap());
    cases.push(("PersonalSign".into(), a, B256::repeat_byte(1), personal));
    // seeded mutations of valid signatures
    for i in 0..160 {
        let message = if i % 2 == 0 {
            valid.clone()
        } else {
            main.message(
                0,
                book,
                chain_id,
                a,
                rng.below(2 * MAX_PRICE as usize) as u64,
            )
        };
        let mut data = message.data();
        let mut hash = message.hash();
        let label = match rng.below(4) {
            0 => {
                let at = rng.below(data.len());
                data.truncate(at);
                format!("mutation {i}: cut at {at}")
            }
            1 => {
                hash = B256::from(rng.word());
                format!("mutation {i}: random hash")
            }
            _ => {
                let edits = 1 + rng.below(3);
                let mut positions = vec![];
                for _ in 0..edits {
                    let at = rng.below(data.len());
                    data[at] = rng.next() as u8;
                    positions.push(at);
                }
                format!("mutation {i}: bytes {positions:?}")
            }
        };
        cases.push((label, a, hash, data));
    }
    for (label, account, hash, data) in &cases {
        compare(&client, &mut tally, label, *account, *hash, data).await;
    }

    // A caller whose code answers a fixed eip712Domain(): installed and granted the main session, then its domain
    // bound (any name, version and salt), of another verifying contract, of another chain, and no code at all.
    let fake = Address::repeat_byte(0xfa);
    anvil_call(
        &client,
        "anvil_setBalance",
        serde_json::json!([fake, U256::from(10u128.pow(18))]),
    )
    .await;
    anvil_call(
        &client,
        "anvil_impersonateAccount",
        serde_json::json!([fake]),
    )
    .await;
    send_as(
        &client,
        fake,
        SessionKeyValidator::onInstallCall { data: Bytes::new() }.abi_encode(),
    )
    .await;
    send_as(
        &client,
        fake,
        SessionKeyValidator::grantSessionCall {
            session: keyscope::bindings::session_key_validator::SessionTypes::Session::abi_decode(
                &encode_session(&main.session),
            )
            .unwrap(),
        }
        .abi_encode(),
    )
    .await;
    let bound = Domain {
        name: "Fake".into(),
        version: "2".into(),
        chain_id,
        verifying_contract: fake,
        salt: B256::repeat_byte(0x5a),
    };
    let domains = [
        ("bound custom domain", bound.clone()),
        (
            "domain of another verifying contract",
            Domain {
                verifying_contract: book,
                ..bound.clone()
            },
        ),
        (
            "domain of another chain",
            Domain {
                chain_id: chain_id + 1,
                ..bound.clone()
            },
        ),
    ];
    for (label, domain) in domains {
        anvil_call(
            &client,
            "anvil_setCode",
            serde_json::json!([fake, answering(&domain_answer(&domain))]),
        )
        .await;
        let mut m = main.message(0, book, chain_id, fake, 1);
        m.account_domain = domain;
        compare(&client, &mut tally, label, fake, m.hash(), &m.data()).await;
    }
    anvil_call(
        &client,
        "anvil_setCode",
        serde_json::json!([fake, Bytes::new()]),
    )
    .await;
    let m = main.message(0, book, chain_id, fake, 1);
    compare(
        &client,
        &mut tally,
        "caller without code",
        fake,
        m.hash(),
        &m.data(),
    )
    .await;

    println!("{} message signatures compared", tally.compared);
    for (outcome, count) in &tally.by_outcome {
        println!("{count:5}  {outcome}");
    }
    println!("sample explanations:");
    for (outcome, sample) in &tally.samples {
        println!("  [{outcome}] {sample}");
    }
    for expected in [
        "valid",
        "ERC-7739 detection",
        "invalid: NotDetectionHash",
        "invalid: MalformedEnvelope",
        "invalid: InvalidContentsDescr",
        "invalid: HashMismatch",
        "invalid: AppDomainMismatch",
        "invalid: ContentsMismatch",
        "invalid: SessionSignature",
        "revert NotInstalled",
        "revert SignatureTruncated",
        "revert SessionNotActive",
        "revert PermissionNotInSession",
        "revert MalformedPermission",
        "revert InvalidPermissionFlags",
        "revert InvalidTypedDataPermission",
        "revert SignatureOutsideWindow",
        "revert UnsupportedAppDomain",
        "revert ForbiddenVerifyingContract",
        "revert VerifyingContractNotAllowed",
        "revert TooManyRules",
        "revert InvalidRule",
        "revert ArgumentOutOfBounds",
        "revert ArgumentRuleFailed",
        "revert AccountDomainNotBound",
        "revert PermissionIsRevoked",
        "revert (empty revert)",
    ] {
        assert!(tally.by_outcome.contains_key(expected), "no {expected}");
    }
}

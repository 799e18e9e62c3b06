//! Writes `contracts/test/vectors/agreement.json`: what the Rust crates compute, for
//! `contracts/test/agreement/RustVectors.t.sol` to check against the contracts on chain; and
//! `contracts/test/vectors/signers.txt`, session signatures of every signer kind with their verdicts, for
//! `contracts/test/agreement/SignerVectors.t.sol`.
//!
//! Everything is derived from fixed keys and constants, so the file is the same on every run (CI regenerates it
//! and fails on a difference):
//!
//! ```text
//! cargo run -q -p keyscope-signer --example vectors
//! ```

use alloy_primitives::{address, hex, keccak256, Address, Bytes, FixedBytes, B256, U256};
use alloy_sol_types::{sol, SolCall};
use keyscope_permissions::{
    abi::u48, ArgRule, Permission, PermissionTree, RuleOperator, Session, FLAG_ANY_TARGET,
    FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD, UNLIMITED_FEE,
};
use keyscope_signer::{
    enable_digest, owner_signature, sign_user_op, CallEntry, CallProof, EntryPoint,
    MultichainEnable, MultichainEntry, PackedUserOperation, SessionKey, SessionSignature,
};
use serde_json::{json, Value};

#[path = "vectors/signers.rs"]
mod signer_vectors;

sol! {
    /// ERC-7579 `execute`.
    function execute(bytes32 mode, bytes executionCalldata);
    /// `SessionKeyValidator.revokeSession`.
    function revokeSession(bytes32 sessionId);
}

// The addresses that `RustVectors.t.sol`'s deterministic setUp (SessionTestBase) produces; the forge test asserts
// that they still match. Printed once by that test (`forge test --match-contract RustVectors -vv`).
/// `validator` of SessionTestBase.
const VALIDATOR: Address = address!("0x1d1499e622D69689cdf9004d05Ec547d650Ff211");
/// `ownerValidator` of AccountTestBase.
const OWNER_VALIDATOR: Address = address!("0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f");
/// `accountV07` of AccountTestBase.
const ACCOUNT_V07: Address = address!("0x2D7e29eaf85a33F0A9e8853a4Ea4a2027b5BC0A0");
/// `accountV08` of AccountTestBase.
const ACCOUNT_V08: Address = address!("0x923B1f66334b9EEEC643583BdE21f23A7E2eab89");
/// `token` (DemoToken) of AccountTestBase.
const TOKEN: Address = address!("0xa0Cb889707d426A7A386870A03bc70d1b0697598");

/// `validator.epochOf(account)` after setUp (installing the validator starts a new epoch).
const EPOCH: u64 = 1;
/// Anvil's and forge's default chain id.
const CHAIN_ID: u64 = 31_337;
/// SessionTestBase's START.
const START: u64 = 1_800_000_000;
/// Recipient of the native transfer the handleOps vectors make.
const RECIPIENT: Address = address!("0x000000000000000000000000000000000000bEEF");
/// Wei sent by the handleOps vectors' call.
const SEND_VALUE: u64 = 1_000;
/// Index of the native-transfer permission in every tree.
const NATIVE_INDEX: usize = 1;
/// Tree sizes with a vector each.
const TREE_SIZES: [usize; 5] = [1, 2, 3, 7, 64];
/// The handleOps vectors' gas: verificationGasLimit, callGasLimit, preVerificationGas.
const OP_GAS: (u128, u128, u128) = (2_000_000, 2_000_000, 100_000);
/// The handleOps vectors' maxPriorityFeePerGas and maxFeePerGas.
const OP_GAS_FEES: (u128, u128) = (1_000_000_000, 2_000_000_000);
/// The handleOps vectors' maximum cost, what the fee scope charges: 4.1M gas x 2 gwei = 0.0082 ether.
const OP_MAX_FEE: u128 = (OP_GAS.0 + OP_GAS.1 + OP_GAS.2) * OP_GAS_FEES.1;
/// Index of the session (and tree) of the use-mode handleOps vectors.
const USE_INDEX: usize = 2;
/// Index of the session (and tree) of the enable-mode handleOps vectors.
const ENABLE_INDEX: usize = 3;
/// Index of the permission with an allowance per period, in the trees of 7 permissions and more.
const PERIODIC_INDEX: usize = 4;
/// Its period length: one hour.
const PERIOD_LENGTH: u64 = 3_600;
/// The start of its period 0: 7 periods before START, so that the periodic vectors name period 7.
const PERIOD_START: u64 = START - 7 * PERIOD_LENGTH;
/// The time the periodic vectors are signed for: SessionTestBase's block time.
const PERIODIC_NOW: u64 = START + 1;
/// The multichain enable vectors' other chains (OP Mainnet and Base) and the account's epoch on each.
const OTHER_CHAINS: [(u64, u64); 2] = [(10, 3), (8_453, 1)];
/// Index of this chain's entry in the multichain enable vectors' entries (the others follow OTHER_CHAINS).
const MULTICHAIN_INDEX: usize = 1;

fn hex_of(bytes: impl AsRef<[u8]>) -> String {
    hex::encode_prefixed(bytes)
}

fn word(value: u64) -> B256 {
    B256::from(U256::from(value))
}

fn word_of(address: Address) -> B256 {
    address.into_word()
}

fn rule(operator: RuleOperator, arg_index: u16, operands: Vec<B256>) -> ArgRule {
    ArgRule {
        operator: operator as u8,
        argIndex: arg_index,
        operands,
    }
}

/// Permission `index`: five hand-written shapes first, then generated ones with every field varied.
fn permission(index: usize) -> Permission {
    let transfer = FixedBytes([0xa9, 0x05, 0x9c, 0xbb]);
    let approve = FixedBytes([0x09, 0x5e, 0xa7, 0xb3]);
    match index {
        // ERC-20 transfer with rules and a total limit, use and rate limits.
        0 => Permission {
            target: TOKEN,
            selector: transfer,
            flags: FLAG_ERC20_TOTAL,
            erc20TotalLimit: U256::from(1_000_000u64),
            maxUses: 10,
            rateLimitCount: 2,
            rateLimitInterval: u48(3_600).unwrap_or_default(),
            rules: vec![
                rule(RuleOperator::Eq, 0, vec![word_of(RECIPIENT)]),
                rule(RuleOperator::Lte, 1, vec![word(100)]),
            ],
            ..Default::default()
        },
        // Native transfers to one recipient, with a per-call and a total limit (used by the handleOps vectors).
        1 => Permission {
            target: RECIPIENT,
            flags: FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL,
            valueLimit: U256::from(10 * SEND_VALUE),
            nativeTotalLimit: U256::from(100 * SEND_VALUE),
            ..Default::default()
        },
        // Any target: approve to one of two spenders, within a value range.
        2 => Permission {
            selector: approve,
            flags: FLAG_ANY_TARGET,
            rules: vec![
                rule(
                    RuleOperator::OneOf,
                    0,
                    vec![word_of(RECIPIENT), word_of(TOKEN)],
                ),
                rule(RuleOperator::InRange, 1, vec![word(1), word(1 << 40)]),
            ],
            ..Default::default()
        },
        // Limits only: value, window, uses, rate limit.
        3 => Permission {
            target: address!("0x1111111111111111111111111111111111111111"),
            selector: FixedBytes([0xde, 0xad, 0xbe, 0xef]),
            valueLimit: U256::MAX,
            validAfter: u48(START).unwrap_or_default(),
            validUntil: u48(START + 86_400).unwrap_or_default(),
            maxUses: u32::MAX,
            rateLimitCount: 5,
            rateLimitInterval: u48(60).unwrap_or_default(),
            ..Default::default()
        },
        // Native transfers to one recipient with an allowance per period (FLAG_PER_PERIOD): 2 sends per hour, in
        // hours counted from 7 hours before START (used by the periodic handleOps vectors).
        PERIODIC_INDEX => Permission {
            target: RECIPIENT,
            flags: FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL | FLAG_PER_PERIOD,
            valueLimit: U256::from(10 * SEND_VALUE),
            nativeTotalLimit: U256::from(2 * SEND_VALUE),
            validAfter: u48(PERIOD_START).unwrap_or_default(),
            rateLimitInterval: u48(PERIOD_LENGTH).unwrap_or_default(),
            ..Default::default()
        },
        _ => {
            let seed = keccak256(format!("keyscope.vectors.permission.{index}"));
            let rules = (0..index % 4)
                .map(|r| {
                    let operand = keccak256([seed.as_slice(), &[r as u8]].concat());
                    match r {
                        0 => rule(RuleOperator::Bitmask, 2, vec![operand, operand]),
                        1 => rule(RuleOperator::SignedGte, 3, vec![operand]),
                        _ => rule(RuleOperator::Ne, r as u16, vec![operand]),
                    }
                })
                .collect();
            Permission {
                target: Address::from_slice(&seed[12..]),
                selector: FixedBytes::from_slice(&seed[..4]),
                valueLimit: U256::from(index as u64 * 1_000),
                maxUses: index as u32,
                rules,
                ..Default::default()
            }
        }
    }
}

/// The fee scope (maxOperationFee, feeBudget) of session `index`: every shape the format has.
fn fees(index: usize) -> (u128, u128) {
    match index {
        // the JSON format's default: 0.01 ether per operation, 0.1 ether in all
        0 => (10_000_000_000_000_000, 100_000_000_000_000_000),
        // no bound on either
        1 => (UNLIMITED_FEE, UNLIMITED_FEE),
        // the use-mode handleOps vectors: bounded, the operation exactly at the per-operation bound, room for 5
        USE_INDEX => (OP_MAX_FEE, 5 * OP_MAX_FEE),
        // the enable-mode handleOps vectors: unlimited (the validator computes no fee)
        ENABLE_INDEX => (UNLIMITED_FEE, UNLIMITED_FEE),
        // the largest bounded values, and a budget below the per-operation bound
        _ => (UNLIMITED_FEE - 1, 12_345),
    }
}

fn session(signer: Address, root: B256, index: usize) -> Session {
    let (max_operation_fee, fee_budget) = fees(index);
    Session {
        signer,
        validAfter: u48(START).unwrap_or_default(),
        validUntil: u48(START + 86_400).unwrap_or_default(),
        permissionsRoot: root,
        paymasterPolicy: 0,
        paymaster: Address::ZERO,
        maxOperationFee: max_operation_fee,
        feeBudget: fee_budget,
        salt: word(index as u64),
    }
}

/// `uint192(bytes24(bytes20(validator))) | lane` shifted into the nonce's key, sequence 0.
fn session_nonce(lane: u32) -> U256 {
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(VALIDATOR.as_slice());
    key[20..24].copy_from_slice(&lane.to_be_bytes());
    U256::from_be_bytes(key)
}

/// `execute(single, recipient ‖ value ‖ "")`.
fn native_transfer_call_data() -> Bytes {
    let mut execution = Vec::with_capacity(52);
    execution.extend_from_slice(RECIPIENT.as_slice());
    execution.extend_from_slice(&U256::from(SEND_VALUE).to_be_bytes::<32>());
    executeCall {
        mode: B256::ZERO,
        executionCalldata: execution.into(),
    }
    .abi_encode()
    .into()
}

/// `execute(single, validator ‖ 0 ‖ revokeSession(sessionId))`: the session key's own revocation.
fn self_revocation_call_data(session_id: B256) -> Bytes {
    let mut execution = Vec::with_capacity(88);
    execution.extend_from_slice(VALIDATOR.as_slice());
    execution.extend_from_slice(&[0u8; 32]);
    execution.extend_from_slice(
        &revokeSessionCall {
            sessionId: session_id,
        }
        .abi_encode(),
    );
    executeCall {
        mode: B256::ZERO,
        executionCalldata: execution.into(),
    }
    .abi_encode()
    .into()
}

fn op_json(op: &PackedUserOperation) -> Value {
    json!({
        "sender": op.sender.to_string(),
        "nonce": format!("{:#x}", op.nonce),
        "initCode": hex_of(&op.initCode),
        "callData": hex_of(&op.callData),
        "accountGasLimits": hex_of(op.accountGasLimits),
        "preVerificationGas": format!("{:#x}", op.preVerificationGas),
        "gasFees": hex_of(op.gasFees),
        "paymasterAndData": hex_of(&op.paymasterAndData),
        "signature": hex_of(&op.signature),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let session_key = SessionKey::from_bytes(&keccak256("keyscope.test.session").0)?;
    let owner = SessionKey::from_bytes(&keccak256("keyscope.test.owner").0)?;

    // Permissions: encodings and leaves.
    let max = TREE_SIZES.iter().copied().max().unwrap_or(1);
    let permissions: Vec<Permission> = (0..max).map(permission).collect();
    let permissions_json: Vec<Value> = permissions
        .iter()
        .map(|p| json!({ "encoding": hex_of(p.encode()), "leaf": hex_of(p.leaf()) }))
        .collect();

    // Trees over the first n permissions, and one session over each.
    let mut trees = Vec::new();
    let mut sessions = Vec::new();
    for (i, &size) in TREE_SIZES.iter().enumerate() {
        let tree = PermissionTree::from_permissions(&permissions[..size])?;
        let proofs: Vec<Vec<String>> = (0..size)
            .map(|leaf| Ok(tree.proof(leaf)?.iter().map(hex_of).collect()))
            .collect::<Result<_, keyscope_permissions::Error>>()?;
        trees.push(json!({ "size": size, "root": hex_of(tree.root()), "proofs": proofs }));

        let session = session(session_key.address(), tree.root(), i);
        let id = session.id();
        sessions.push(json!({
            "encoding": hex_of(session.encode()),
            "id": hex_of(id),
            "enableDigestV07": hex_of(enable_digest(VALIDATOR, CHAIN_ID, ACCOUNT_V07, EPOCH, id)),
            "enableDigestV08": hex_of(enable_digest(VALIDATOR, CHAIN_ID, ACCOUNT_V08, EPOCH, id)),
        }));
    }

    // A userOp with every field set, hashed by both EntryPoints.
    let mut any_op = PackedUserOperation {
        sender: address!("0x2222222222222222222222222222222222222222"),
        nonce: U256::from_be_bytes(keccak256("keyscope.vectors.nonce").0),
        initCode: Bytes::from_static(&[0x33; 57]),
        callData: native_transfer_call_data(),
        preVerificationGas: U256::from(123_456u64),
        paymasterAndData: keyscope_signer::userop::paymaster_and_data(
            address!("0x4444444444444444444444444444444444444444"),
            70_000,
            30_000,
            &[0x55; 11],
        ),
        signature: Bytes::from_static(&[0x66; 65]),
        ..Default::default()
    };
    any_op.set_gas_limits(1_234_567, 7_654_321);
    any_op.set_gas_fees(3_000_000_000, 40_000_000_000);
    let any_op_json = json!({
        "op": op_json(&any_op),
        "hashV07": hex_of(EntryPoint::CANONICAL_V07.user_op_hash(&any_op, CHAIN_ID)?),
        "hashV08": hex_of(EntryPoint::CANONICAL_V08.user_op_hash(&any_op, CHAIN_ID)?),
    });

    // handleOps vectors: the native transfer under the 3-permission session (use mode: granted first) and under
    // the 7-permission session (enable mode), the 3-permission session's own revocation, and the native transfer
    // under the 7-permission session's allowance per period (use mode), and the native transfer under the
    // 7-permission session enabled in multichain mode, on each EntryPoint.
    let mut handle_ops = serde_json::Map::new();
    for (name, entry_point, account) in [
        ("v07", EntryPoint::CANONICAL_V07, ACCOUNT_V07),
        ("v08", EntryPoint::CANONICAL_V08, ACCOUNT_V08),
    ] {
        let mut ops = serde_json::Map::new();
        for (mode, tree_index) in [("use", USE_INDEX), ("enable", ENABLE_INDEX)] {
            let size = TREE_SIZES[tree_index];
            let tree = PermissionTree::from_permissions(&permissions[..size])?;
            let session = session(session_key.address(), tree.root(), tree_index);
            let mut op = vector_op(account);
            let hash = entry_point.user_op_hash(&op, CHAIN_ID)?;
            let owner_sig = if mode == "enable" {
                let digest = enable_digest(VALIDATOR, CHAIN_ID, account, EPOCH, session.id());
                Some(owner_signature(
                    &owner,
                    OWNER_VALIDATOR.as_slice(),
                    &digest,
                )?)
            } else {
                None
            };
            let call = CallProof {
                permission: permissions[NATIVE_INDEX].clone(),
                proof: tree.proof(NATIVE_INDEX)?,
                rate_limit_window: 0,
            };
            op.signature =
                sign_user_op(&session_key, &hash, &session, owner_sig, vec![call.into()])?.into();
            ops.insert(
                mode.to_owned(),
                json!({
                    "op": op_json(&op),
                    "hash": hex_of(hash),
                    "session": hex_of(session.encode()),
                    "permission": hex_of(permissions[NATIVE_INDEX].encode()),
                }),
            );
        }
        // The session's own revocation under the use-mode session (granted first): `revokeSession(id)` on the
        // validator, presented with an empty permission entry (nothing after its two length bytes).
        let size = TREE_SIZES[USE_INDEX];
        let tree = PermissionTree::from_permissions(&permissions[..size])?;
        let session = session(session_key.address(), tree.root(), USE_INDEX);
        let mut op = PackedUserOperation {
            sender: account,
            nonce: session_nonce(1),
            callData: self_revocation_call_data(session.id()),
            preVerificationGas: U256::from(OP_GAS.2),
            ..Default::default()
        };
        op.set_gas_limits(OP_GAS.0, OP_GAS.1);
        op.set_gas_fees(OP_GAS_FEES.0, OP_GAS_FEES.1);
        let hash = entry_point.user_op_hash(&op, CHAIN_ID)?;
        op.signature = sign_user_op(
            &session_key,
            &hash,
            &session,
            None,
            vec![CallEntry::SelfRevocation],
        )?
        .into();
        ops.insert(
            "selfRevoke".to_owned(),
            json!({
                "op": op_json(&op),
                "hash": hex_of(hash),
                "session": hex_of(session.encode()),
                "sessionId": hex_of(session.id()),
            }),
        );
        // The native transfer under the permission with an allowance per period, in use mode under the
        // 7-permission session (granted first): the signature names the period Rust computes for PERIODIC_NOW.
        let tree_index = ENABLE_INDEX;
        let size = TREE_SIZES[tree_index];
        let tree = PermissionTree::from_permissions(&permissions[..size])?;
        let periodic_session = self::session(session_key.address(), tree.root(), tree_index);
        let mut op = vector_op(account);
        let hash = entry_point.user_op_hash(&op, CHAIN_ID)?;
        let permission = permissions[PERIODIC_INDEX].clone();
        let period = permission.rate_limit_window(PERIODIC_NOW);
        let call = CallProof {
            proof: tree.proof(PERIODIC_INDEX)?,
            rate_limit_window: period,
            permission,
        };
        op.signature = sign_user_op(
            &session_key,
            &hash,
            &periodic_session,
            None,
            vec![call.into()],
        )?
        .into();
        ops.insert(
            "periodic".to_owned(),
            json!({
                "op": op_json(&op),
                "hash": hex_of(hash),
                "session": hex_of(periodic_session.encode()),
                "permission": hex_of(permissions[PERIODIC_INDEX].encode()),
                "period": period,
                "periodLength": PERIOD_LENGTH,
                "periodStart": PERIOD_START,
            }),
        );
        // The native transfer under the 7-permission session, enabled in multichain mode: the owner signs once the
        // root of a tree of 3 entries (this chain with this account, and OTHER_CHAINS), and the signature carries
        // the proof of this chain's entry.
        let size = TREE_SIZES[ENABLE_INDEX];
        let tree = PermissionTree::from_permissions(&permissions[..size])?;
        let session = self::session(session_key.address(), tree.root(), ENABLE_INDEX);
        let mut entries: Vec<MultichainEntry> = OTHER_CHAINS
            .iter()
            .map(|&(chain_id, epoch)| MultichainEntry::new(chain_id, account, epoch, session.id()))
            .collect();
        entries.insert(
            MULTICHAIN_INDEX,
            MultichainEntry::new(CHAIN_ID, account, EPOCH, session.id()),
        );
        let multichain = MultichainEnable::new(entries)?;
        let digest = multichain.digest(VALIDATOR);
        let mut op = vector_op(account);
        let hash = entry_point.user_op_hash(&op, CHAIN_ID)?;
        let call = CallProof {
            permission: permissions[NATIVE_INDEX].clone(),
            proof: tree.proof(NATIVE_INDEX)?,
            rate_limit_window: 0,
        };
        op.signature = SessionSignature::enable_multichain(
            session.clone(),
            multichain.proof(MULTICHAIN_INDEX)?,
            owner_signature(&owner, OWNER_VALIDATOR.as_slice(), &digest)?,
            vec![call.into()],
        )
        .sign(&session_key, &hash)?
        .encode()?
        .into();
        let entries_json = multichain
            .entries()
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                Ok(json!({
                    "chainId": entry.chain_id,
                    "account": entry.account.to_string(),
                    "epoch": entry.epoch,
                    "sessionId": hex_of(entry.session_id),
                    "leaf": hex_of(entry.leaf()),
                    "proof": multichain.proof(i)?.iter().map(hex_of).collect::<Vec<_>>(),
                }))
            })
            .collect::<Result<Vec<Value>, keyscope_signer::Error>>()?;
        ops.insert(
            "enableMultichain".to_owned(),
            json!({
                "op": op_json(&op),
                "hash": hex_of(hash),
                "session": hex_of(session.encode()),
                "entryCount": entries_json.len(),
                "entries": entries_json,
                "index": MULTICHAIN_INDEX,
                "root": hex_of(multichain.root()),
                "digest": hex_of(digest),
            }),
        );
        handle_ops.insert(name.to_owned(), Value::Object(ops));
    }

    let vectors = json!({
        "comment": "Generated by `cargo run -q -p keyscope-signer --example vectors`; checked by contracts/test/agreement/RustVectors.t.sol. Do not edit.",
        "chainId": CHAIN_ID,
        "epoch": EPOCH,
        "validator": VALIDATOR.to_string(),
        "ownerValidator": OWNER_VALIDATOR.to_string(),
        "accountV07": ACCOUNT_V07.to_string(),
        "accountV08": ACCOUNT_V08.to_string(),
        "token": TOKEN.to_string(),
        "sessionSigner": session_key.address().to_string(),
        "recipient": RECIPIENT.to_string(),
        "sendValue": SEND_VALUE,
        "nativeIndex": NATIVE_INDEX,
        "permissionCount": permissions.len(),
        "permissions": permissions_json,
        "treeCount": TREE_SIZES.len(),
        "trees": trees,
        "sessions": sessions,
        "anyOp": any_op_json,
        "handleOps": handle_ops,
    });

    let mut text = serde_json::to_string_pretty(&vectors)?;
    text.push('\n');
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/test/vectors/agreement.json");
    std::fs::write(&path, text)?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/test/vectors/signers.txt");
    std::fs::write(&path, signer_vectors::signer_vectors()?)?;
    Ok(())
}

/// The vectors' session operation of `account`: a native transfer with the fixed gas fields, unsigned.
fn vector_op(account: Address) -> PackedUserOperation {
    let mut op = PackedUserOperation {
        sender: account,
        nonce: session_nonce(1),
        callData: native_transfer_call_data(),
        preVerificationGas: U256::from(OP_GAS.2),
        ..Default::default()
    };
    op.set_gas_limits(OP_GAS.0, OP_GAS.1);
    op.set_gas_fees(OP_GAS_FEES.0, OP_GAS_FEES.1);
    op
}

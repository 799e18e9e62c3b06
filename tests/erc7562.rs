//! ERC-7562 at the opcode level, on anvil, for every kind of session operation and on EntryPoint v0.7 and v0.8.
//!
//! Each operation is traced with `debug_traceCall` of `handleOps` (the real EntryPoint bytecode) and a JS tracer
//! that records, per call frame, the opcodes run, the storage slots read and written (by the contract whose storage
//! it is), the KECCAK256 preimages, the EXTCODE* targets and the calls. The validation phase is the EntryPoint's
//! call to `account.validateUserOp` and everything under it, plus the `SenderCreator` call deploying a new account
//! from `initCode`; the execution phase (the EntryPoint's self-call `innerHandleOp`) is left out. The validation
//! phase must use no banned opcode, touch only the account's own storage or slots associated with it
//! (`keccak256(account ‖ x) + n`, n < 128, found from the traced preimages), call only contracts with code (or the
//! account, or precompiles), call the EntryPoint only to deposit, and use CREATE2 only to deploy the account.
//! Then the operation is sent and must succeed, so every traced operation is a valid one.
//!
//! Operations: a single call, a batch, ERC-20 transfers under a cumulative limit, native transfers under a total
//! limit, a permission with max uses and a rate limit (first use and later uses, so counters are both created and
//! updated), a batch of all counted permissions, enable mode (grant and use in one operation) on a deployed account,
//! and enable mode in a counterfactual account's first operation (`initCode`); an operation of a session with a
//! revoked permission (its permission's slot is read too) and a session key revoking its own session. Every session but one has a fee
//! budget, so each of these operations is also charged its maximum cost in the session's record (the slot
//! validation reads anyway): the single call writes the validator's storage for that alone; the one session with
//! an unlimited fee scope writes nothing there. The last one complies only once the
//! account factory is staked (STO-022: creating the account writes its entries in both validators' storage), which
//! the test shows both ways: the operation's `initCode` names a `StakedAccountFactory` (the stakeable front of the
//! stack's factory, deployed with `Stack::deploy_staked_account_factory`), traced before and after its owner stakes
//! it with `Stack::stake_account_factory`.
//!
//! Negative controls prove that the tracer sees what the checks look for: the same checks run on the execution
//! phase find the EntryPoint's bare `GAS` and the token's writes to the recipient's balance, and the EntryPoint's own
//! frame reads TIMESTAMP (it compares the validator's time range with the block's time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::{SolCall, SolValue};
use keyscope::bindings::entry_point_v07::EntryPoint;
use keyscope::bindings::{KeyscopeAccountFactory, SessionKeyValidator};
use keyscope::explain::OperationCost;
use keyscope::permissions::CompiledSession;
use keyscope::signer::signers::{DEFAULT_ORIGIN, DEFAULT_RP_ID};
use keyscope::signer::{
    enable_digest, owner_signature, Mode, P256Key, SessionKey, SessionSignature, SessionSigner,
    WebAuthnAuthenticator,
};
use keyscope::{Account, Client, GasSettings, PreparedOp, SessionCall, Stack, Version};
use keyscope_e2e::{
    anvil, client, deploy_token, funded_account, grant, mint_call, mint_tokens, now, resign,
    SessionJson, ETHER, TRANSFER,
};
use serde::Deserialize;
use serde_json::json;

/// The JS tracer (geth's JS tracer API, as anvil implements it). One record per call frame; `GAS` is counted as
/// `GAS_BEFORE_CALL` when the next opcode is a `*CALL` (ERC-7562 OP-012).
const TRACER: &str = r#"{
    frames: [],
    open: [],
    afterGas: false,
    addFrame: function (type, from, to, input, value) {
        var parent = this.open.length ? this.open[this.open.length - 1] : -1;
        this.frames.push({ id: this.frames.length, parent: parent, type: type, from: from, to: to,
            selector: input.slice(0, 10), inputLength: (input.length - 2) / 2, value: value,
            ops: {}, storage: [], keccak: [], ext: [] });
        this.open.push(this.frames.length - 1);
    },
    word: function (value) {
        return "0x" + value.toString(16);
    },
    address: function (value) {
        var hex = "0000000000000000000000000000000000000000" + value.toString(16);
        return "0x" + hex.slice(hex.length - 40);
    },
    enter: function (frame) {
        this.addFrame(frame.getType(), toHex(frame.getFrom()), toHex(frame.getTo()), toHex(frame.getInput()),
            String(frame.getValue()));
    },
    exit: function (result) {
        this.open.pop();
    },
    step: function (log, db) {
        if (this.open.length === 0) {
            this.addFrame("ROOT", toHex(log.contract.getCaller()), toHex(log.contract.getAddress()),
                toHex(log.contract.getInput()), String(log.contract.getValue()));
        }
        var frame = this.frames[this.open[this.open.length - 1]];
        var op = log.op.toString();
        if (this.afterGas) {
            this.afterGas = false;
            var call = op === "CALL" || op === "STATICCALL" || op === "DELEGATECALL" || op === "CALLCODE";
            var gas = call ? "GAS_BEFORE_CALL" : "GAS";
            frame.ops[gas] = (frame.ops[gas] || 0) + 1;
        }
        if (op === "GAS") {
            this.afterGas = true;
            return;
        }
        frame.ops[op] = (frame.ops[op] || 0) + 1;
        if (op === "SLOAD" || op === "SSTORE") {
            frame.storage.push([toHex(log.contract.getAddress()), this.word(log.stack.peek(0)), op === "SSTORE"]);
        } else if (op === "KECCAK256" || op === "SHA3") {
            var offset = Number(log.stack.peek(0));
            var size = Number(log.stack.peek(1));
            if (size <= 1024) {
                frame.keccak.push(toHex(log.memory.slice(offset, offset + size)));
            }
        } else if (op === "EXTCODESIZE" || op === "EXTCODEHASH" || op === "EXTCODECOPY" || op === "BALANCE") {
            frame.ext.push(this.address(log.stack.peek(0)));
        }
    },
    fault: function (log, db) {},
    result: function (ctx, db) {
        return { frames: this.frames, error: ctx.error ? String(ctx.error) : null };
    }
}"#;

/// ERC-7562 OP-011 (GAS: OP-012, recorded only when not followed by a `*CALL`; CREATE2: OP-031, checked apart).
const BANNED: &[&str] = &[
    "GASPRICE",
    "GASLIMIT",
    "DIFFICULTY",
    "PREVRANDAO",
    "TIMESTAMP",
    "BASEFEE",
    "BLOCKHASH",
    "NUMBER",
    "SELFBALANCE",
    "BALANCE",
    "ORIGIN",
    "GAS",
    "CREATE",
    "COINBASE",
    "SELFDESTRUCT",
    "BLOBHASH",
    "BLOBBASEFEE",
];

/// The account's `validateUserOp(PackedUserOperation,bytes32,uint256)` (ERC-4337 `IAccount`).
const VALIDATE_USER_OP: [u8; 4] = [0x19, 0x82, 0x2f, 0x7c];
/// `SenderCreator.createSender(bytes)`.
const CREATE_SENDER: [u8; 4] = [0x57, 0x0e, 0x1a, 0x36];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Frame {
    id: usize,
    parent: i64,
    #[serde(rename = "type")]
    kind: String,
    to: Address,
    selector: Bytes,
    input_length: usize,
    ops: BTreeMap<String, u64>,
    storage: Vec<(Address, U256, bool)>,
    keccak: Vec<Bytes>,
    ext: Vec<Address>,
}

#[derive(Debug, Deserialize)]
struct Trace {
    frames: Vec<Frame>,
    error: Option<String>,
}

/// Where a frame runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The EntryPoint's own `handleOps` frame.
    EntryPoint,
    /// Deploying the sender from `initCode` (the `SenderCreator` call).
    Factory,
    /// `account.validateUserOp` and below.
    Validation,
    /// `innerHandleOp` and below.
    Execution,
    /// Any other call of the EntryPoint (the beneficiary's payment).
    Other,
}

impl Trace {
    /// The phase of every frame (by its ancestor among the root's children).
    fn phases(&self, sender: Address, entry_point: Address) -> Vec<Phase> {
        let mut phases: Vec<Phase> = Vec::with_capacity(self.frames.len());
        for frame in &self.frames {
            let phase = match frame.parent {
                -1 => Phase::EntryPoint,
                0 => {
                    if frame.to == sender && frame.selector.as_ref() == VALIDATE_USER_OP {
                        Phase::Validation
                    } else if frame.selector.as_ref() == CREATE_SENDER {
                        Phase::Factory
                    } else if frame.to == entry_point
                        && frame.selector.as_ref() == EntryPoint::innerHandleOpCall::SELECTOR
                    {
                        Phase::Execution
                    } else {
                        Phase::Other
                    }
                }
                parent => phases[usize::try_from(parent).unwrap()],
            };
            phases.push(phase);
        }
        phases
    }

    fn frames_in<'a>(&'a self, phases: &'a [Phase], wanted: &'a [Phase]) -> Vec<&'a Frame> {
        self.frames
            .iter()
            .filter(|f| wanted.contains(&phases[f.id]))
            .collect()
    }
}

/// What the rules need to know besides the trace.
struct Context {
    sender: Address,
    entry_point: Address,
    /// The factory of the operation's `initCode`, when it is not staked.
    unstaked_factory: Option<Address>,
    /// Addresses the frames call or inspect that have code (before the operation runs).
    with_code: BTreeSet<Address>,
}

/// The precompiles ERC-7562 (OP-062) lets validation call: the core ones, and RIP-7212's secp256r1 verifier at
/// 0x100 on chains that have it (anvil does).
fn is_precompile(address: Address) -> bool {
    (address <= Address::with_last_byte(0xff) && address != Address::ZERO)
        || address == Address::left_padding_from(&[0x01, 0x00])
}

/// The ERC-7562 rules for the entity code of `frames` (one operation's validation phase); one line per violation.
fn violations(frames: &[&Frame], phases: &[Phase], cx: &Context) -> Vec<String> {
    let mut found = vec![];
    // Slots associated with the sender: keccak256(sender ‖ x) for every traced preimage starting with it.
    let padded = cx.sender.into_word();
    let associated_bases: Vec<U256> = frames
        .iter()
        .flat_map(|f| f.keccak.iter())
        .filter(|preimage| preimage.len() >= 32 && preimage[..32] == padded[..])
        .map(|preimage| U256::from_be_bytes(keccak256(preimage).0))
        .collect();
    let associated = |slot: U256| {
        slot == U256::from_be_bytes(padded.0)
            || associated_bases
                .iter()
                .any(|base| slot >= *base && slot - *base < U256::from(128))
    };
    let mut create2 = 0;
    for frame in frames {
        for (op, count) in &frame.ops {
            if BANNED.contains(&op.as_str()) {
                found.push(format!(
                    "banned opcode {op} ×{count} in {} frame {} of {}",
                    frame.kind, frame.id, frame.to
                ));
            }
        }
        create2 += frame.ops.get("CREATE2").copied().unwrap_or(0);
        if frame.kind == "CREATE2" && (phases[frame.id] != Phase::Factory || frame.to != cx.sender)
        {
            found.push(format!(
                "CREATE2 of {} outside the sender's deployment",
                frame.to
            ));
        }
        if frame.kind == "CREATE" {
            found.push(format!("CREATE of {}", frame.to));
        }
        for (address, slot, write) in &frame.storage {
            let access = if *write { "SSTORE" } else { "SLOAD" };
            if *address == cx.sender {
                continue; // STO-010
            }
            if !associated(*slot) {
                found.push(format!(
                    "{access} of slot {slot:#x} of {address}, not associated with the sender"
                ));
            } else if let Some(factory) = cx.unstaked_factory {
                // STO-021/STO-022: associated storage in another contract while the sender is being created needs
                // a staked factory (the EntryPoint's own deposit bookkeeping is not an entity's access).
                if *address != cx.entry_point {
                    found.push(format!(
                        "STO-022: {access} of slot {slot:#x} of {address} during account creation by unstaked \
                         factory {factory}"
                    ));
                }
            }
        }
        // The calls this frame is (the frame at the top of the phase is the EntryPoint's own call).
        if frame.parent > 0 {
            let target = frame.to;
            let has_code =
                cx.with_code.contains(&target) || target == cx.sender || is_precompile(target);
            if frame.kind.contains("CALL") && !has_code {
                found.push(format!("{} to {target}, which has no code", frame.kind));
            }
            let deposit = EntryPoint::depositToCall::SELECTOR;
            if target == cx.entry_point
                && phases[frame.id] != Phase::Execution
                && !(frame.input_length == 0 || frame.selector.as_ref() == deposit)
            {
                found.push(format!(
                    "call to the EntryPoint with selector {}",
                    frame.selector
                ));
            }
        }
        for target in &frame.ext {
            if !cx.with_code.contains(target) && *target != cx.sender && !is_precompile(*target) {
                found.push(format!("EXTCODE*/BALANCE of {target}, which has no code"));
            }
        }
    }
    if create2 > 1 {
        found.push(format!("{create2} CREATE2"));
    }
    found
}

/// `debug_traceCall` of `handleOps([op])` from the bundler, with the tracer.
async fn trace(client: &Client, op: &PreparedOp) -> Trace {
    let entry_point = client.stack().version(op.version).entry_point;
    let call = EntryPoint::handleOpsCall {
        ops: vec![EntryPoint::PackedUserOperation::abi_decode(&op.op.abi_encode()).unwrap()],
        beneficiary: client.sender(),
    };
    let tx = serde_json::json!({
        "from": client.sender(),
        "to": entry_point,
        "data": Bytes::from(call.abi_encode()),
        "gas": format!("{:#x}", GasSettings::default().handle_ops_gas),
    });
    let options = serde_json::json!({ "tracer": TRACER });
    let value: serde_json::Value = client
        .provider()
        .raw_request("debug_traceCall".into(), (tx, "latest", options))
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

async fn code_of(provider: &DynProvider, frames: &[Frame]) -> BTreeSet<Address> {
    let mut with_code = BTreeSet::new();
    let targets: BTreeSet<Address> = frames
        .iter()
        .flat_map(|f| f.ext.iter().copied().chain([f.to]))
        .collect();
    for target in targets {
        if !provider.get_code_at(target).await.unwrap().is_empty() {
            with_code.insert(target);
        }
    }
    with_code
}

/// What one checked operation showed.
struct Checked {
    /// ERC-7562 violations of the validation phase.
    violations: Vec<String>,
    /// Contracts whose storage validation touched.
    storage_of: BTreeSet<Address>,
    /// Contracts whose storage validation wrote.
    written: BTreeSet<Address>,
    /// Contracts validation called.
    called: BTreeSet<Address>,
    /// Violations the same rules find in the execution phase.
    execution_violations: Vec<String>,
}

/// Traces `op` at the latest block and checks its validation phase.
async fn check(client: &Client, what: &str, op: &PreparedOp) -> Checked {
    let sender = op.op.sender;
    let entry_point = client.stack().version(op.version).entry_point;
    let trace = trace(client, op).await;
    assert!(
        trace.error.is_none(),
        "{what}: handleOps failed: {:?}",
        trace.error
    );
    let phases = trace.phases(sender, entry_point);
    let unstaked_factory = match op.op.initCode.get(..20) {
        Some(factory) => {
            let factory = Address::from_slice(factory);
            let info = EntryPoint::new(entry_point, client.provider().clone())
                .getDepositInfo(factory)
                .call()
                .await
                .unwrap();
            (!info.staked).then_some(factory)
        }
        None => None,
    };
    let cx = Context {
        sender,
        entry_point,
        unstaked_factory,
        with_code: code_of(client.provider(), &trace.frames).await,
    };
    let validation = trace.frames_in(&phases, &[Phase::Validation, Phase::Factory]);
    assert!(
        validation
            .iter()
            .any(|f| f.to == client.stack().session_key_validator
                && f.selector.as_ref() == SessionKeyValidator::validateUserOpCall::SELECTOR),
        "{what}: no call to the SessionKeyValidator's validateUserOp in the validation phase"
    );
    // Sanity: the tracer saw the validator's storage and the EntryPoint's own TIMESTAMP (negative control: the
    // opcode is there, only not in validation).
    let storage_of: BTreeSet<Address> = validation
        .iter()
        .flat_map(|f| f.storage.iter().map(|(address, _, _)| *address))
        .collect();
    let written: BTreeSet<Address> = validation
        .iter()
        .flat_map(|f| {
            f.storage
                .iter()
                .filter(|(_, _, write)| *write)
                .map(|(address, _, _)| *address)
        })
        .collect();
    assert!(
        storage_of.contains(&client.stack().session_key_validator),
        "{what}: no validator storage access traced"
    );
    assert!(
        trace.frames[0].ops.contains_key("TIMESTAMP"),
        "{what}: the EntryPoint's frame reads TIMESTAMP to check the validator's time range: {:?}",
        trace.frames[0].ops
    );
    let execution = trace.frames_in(&phases, &[Phase::Execution]);
    assert!(!execution.is_empty(), "{what}: no execution phase traced");
    Checked {
        violations: violations(&validation, &phases, &cx),
        storage_of,
        written,
        called: validation.iter().map(|f| f.to).collect(),
        execution_violations: violations(&execution, &phases, &cx),
    }
}

/// [`check`], asserts that validation follows every rule, then sends `op` (it must succeed).
async fn check_and_send(client: &Client, what: &str, op: &PreparedOp) -> Checked {
    let checked = check(client, what, op).await;
    assert!(
        checked.violations.is_empty(),
        "{what} on {:?}: ERC-7562 violations in validation:\n{}",
        op.version,
        checked.violations.join("\n")
    );
    let outcome = client.send(op).await.unwrap();
    assert!(outcome.success, "{what}: {outcome:?}");
    checked
}

/// `feesChargedOf(account, sessionId)`.
async fn fees_charged(client: &Client, account: &Account, session_id: B256) -> U256 {
    SessionKeyValidator::new(
        client.stack().session_key_validator,
        client.provider().clone(),
    )
    .feesChargedOf(account.address, session_id)
    .call()
    .await
    .unwrap()
}

/// The fee scope of the sessions: 0.01 ether per operation, 0.1 ether in all (the JSON format's default).
const BUDGETED: &str = r#"{ "per_operation": "0.01 ether", "budget": "0.1 ether" }"#;

/// Permissions: 0 transfer of `plain` ≤ 100 (no counters), 1 transfer of `token` with a cumulative ERC-20 limit,
/// 2 native transfers to `recipient` with a total limit, 3 `mint` of `token` with max uses and a rate limit; the
/// fee scope [`BUDGETED`].
fn session(
    key: &SessionKey,
    tokens: [Address; 2],
    recipient: Address,
    t: u64,
    salt: u8,
) -> CompiledSession {
    session_with_fees(key, tokens, recipient, t, salt, BUDGETED)
}

/// [`session`] with the fee scope `fees` (JSON).
fn session_with_fees(
    key: &SessionKey,
    [plain, token]: [Address; 2],
    recipient: Address,
    t: u64,
    salt: u8,
    fees: &str,
) -> CompiledSession {
    let (token, recipient) = (token.to_string(), recipient.to_string());
    SessionJson::new(key, t)
        .valid_until(t + 86_400)
        .salt(salt)
        .fees(fees)
        .transfer_of_at_most(plain, 100)
        .permission(json!({
            "target": token, "function": TRANSFER,
            "erc20_total_limit": "1000", "rules": [{ "arg": "to", "op": "eq", "value": recipient }],
        }))
        .permission(json!({
            "target": recipient, "native_transfer": true, "value_limit": "1000 gwei",
            "native_total_limit": "5000 gwei",
        }))
        .permission(json!({
            "target": token, "function": "mint(address to,uint256 amount)", "max_uses": 5,
            "rate_limit": { "count": 3, "interval": "1h" },
        }))
        .permission(json!({
            "target": token, "function": TRANSFER, "valid_after": t - 1,
            "erc20_period_limit": "500", "period": "1h",
        }))
        .compile()
}

/// `token.transfer(to, amount)` under permission `permission`.
fn transfer(token: Address, to: Address, amount: u64, permission: usize) -> SessionCall {
    SessionCall {
        permission,
        ..keyscope_e2e::transfer(token, to, amount)
    }
}

/// `wei` to `to`, under permission 2.
fn native(to: Address, wei: u64) -> SessionCall {
    SessionCall {
        target: to,
        value: U256::from(wei),
        data: Bytes::new(),
        permission: 2,
    }
}

/// `token.mint(to, 1)` under permission 3.
fn mint(token: Address, to: Address) -> SessionCall {
    SessionCall {
        permission: 3,
        ..mint_call(token, to, 1)
    }
}

/// `owner`'s account on `version` (salt `salt`) with ETH, a deposit, and 1,000,000 of each of `tokens`.
async fn new_account(
    client: &Client,
    owner: &SessionKey,
    salt: u64,
    version: Version,
    tokens: [Address; 2],
) -> Account {
    let account =
        funded_account(client, owner.address(), version, salt, Some(10u128.pow(17))).await;
    for token in tokens {
        mint_tokens(client, token, account.address, 1_000_000).await;
    }
    account
}

/// An enable-mode operation from a counterfactual account: `initCode` deploys it through `factory` (with the
/// SessionKeyValidator installed, epoch 1), and the account pays its prefund to the EntryPoint from its own balance.
async fn counterfactual_enable_op(
    client: &Client,
    factory: Address,
    owner: &SessionKey,
    key: &SessionKey,
    session: &CompiledSession,
    version: Version,
    calls: &[SessionCall],
) -> PreparedOp {
    let stack = client.stack();
    let salt = U256::from(99);
    let address = client
        .account_address(owner.address(), salt, version, true)
        .await
        .unwrap();
    assert!(client
        .provider()
        .get_code_at(address)
        .await
        .unwrap()
        .is_empty());
    client.fund(address, U256::from(ETHER)).await.unwrap();
    let account = Account { address, version };
    // The SDK builds the operation (nonce, calldata, proofs) for the address; the epoch it read is that of an
    // account without the validator (0), so the enable signature is redone for epoch 1 with the init code.
    let mut prepared = client
        .prepare_enable_session_op(&account, owner, key, session, calls)
        .await
        .unwrap();
    let create = KeyscopeAccountFactory::createAccountCall {
        owner: owner.address(),
        salt,
        extraValidators: vec![stack.session_key_validator],
        extraInitData: vec![Bytes::new()],
    };
    let mut init_code = factory.to_vec();
    init_code.extend_from_slice(&create.abi_encode());
    prepared.op.initCode = init_code.into();
    let digest = enable_digest(
        stack.session_key_validator,
        client.chain_id(),
        address,
        1,
        session.session_id(),
    );
    let mut signature = SessionSignature::decode(&prepared.op.signature).unwrap();
    assert!(matches!(signature.mode, Mode::Enable { .. }));
    signature.mode = Mode::Enable {
        owner_signature: owner_signature(owner, stack.owner_validator.as_slice(), &digest).unwrap(),
    };
    prepared.op.signature = signature.encode().unwrap().into();
    resign(client, &mut prepared, key);
    prepared
}

async fn run(version: Version) {
    let anvil = anvil();
    let client = client(&anvil).await;
    let stack = client.stack().clone();
    let provider = client.provider().clone();
    let plain = deploy_token(&client).await;
    let token = deploy_token(&client).await;
    let tokens = [plain, token];
    let recipient = Address::repeat_byte(0x42);
    let owner = SessionKey::generate();
    let key = SessionKey::generate();
    let account = new_account(&client, &owner, 1, version, tokens).await;
    let t = now(&provider).await;
    let granted = session(&key, tokens, recipient, t, 1);
    grant(&client, &account, &owner, &granted).await;

    let ops: Vec<(&str, Vec<SessionCall>)> = vec![
        ("single call", vec![transfer(plain, recipient, 7, 0)]),
        (
            "batch",
            vec![
                transfer(plain, recipient, 5, 0),
                transfer(plain, recipient, 6, 0),
            ],
        ),
        (
            "ERC-20 cumulative limit",
            vec![transfer(token, recipient, 300, 1)],
        ),
        (
            "ERC-20 cumulative limit, again",
            vec![transfer(token, recipient, 300, 1)],
        ),
        (
            "native transfer with total limit",
            vec![native(recipient, 1_000_000_000_000)],
        ),
        (
            "native transfer with total limit, again",
            vec![native(recipient, 1_000_000_000_000)],
        ),
        (
            "ERC-20 allowance per period",
            vec![transfer(token, recipient, 200, 4)],
        ),
        (
            "ERC-20 allowance per period, again",
            vec![transfer(token, recipient, 200, 4)],
        ),
        ("max uses + rate limit", vec![mint(token, recipient)]),
        ("max uses + rate limit, again", vec![mint(token, recipient)]),
        (
            "batch of every counted permission",
            vec![
                transfer(token, recipient, 10, 1),
                native(recipient, 1_000),
                mint(token, recipient),
            ],
        ),
    ];
    let mut storage_of = BTreeSet::new();
    let mut execution_violations: HashMap<&str, Vec<String>> = HashMap::new();
    let mut charged = U256::ZERO;
    for (what, calls) in &ops {
        let op = client
            .prepare_session_op(&account, &key, &granted, calls)
            .await
            .unwrap();
        let checked = check_and_send(&client, what, &op).await;
        // The fee budget: each operation is charged its maximum cost, in the validator's storage.
        charged += OperationCost::of(&op.op).fee;
        assert!(
            checked.written.contains(&stack.session_key_validator),
            "{what}: the validator charges the fee budget in validation: {:?}",
            checked.written
        );
        storage_of.extend(checked.storage_of);
        // Use mode: the account (a clone of the implementation), its validator, the ecrecover precompile.
        let allowed = [
            account.address,
            stack.version(version).account_implementation,
            stack.session_key_validator,
            Address::with_last_byte(1),
        ];
        assert!(
            checked.called.iter().all(|a| allowed.contains(a)),
            "{what}: validation called {:?}",
            checked.called
        );
        execution_violations.insert(what, checked.execution_violations);
    }
    assert!(charged > U256::ZERO);
    assert_eq!(
        fees_charged(&client, &account, granted.session_id()).await,
        charged,
        "the fee counter is the sum of the operations' maximum costs"
    );

    // An unlimited fee scope: the validator neither computes nor counts fees, so an operation that moves no
    // other counter writes nothing in its storage.
    let unlimited = session_with_fees(
        &key,
        tokens,
        recipient,
        t,
        4,
        r#"{ "per_operation": "unlimited", "budget": "unlimited" }"#,
    );
    grant(&client, &account, &owner, &unlimited).await;
    let calls = [transfer(plain, recipient, 3, 0)];
    let op = client
        .prepare_session_op(&account, &key, &unlimited, &calls)
        .await
        .unwrap();
    let checked = check_and_send(&client, "unlimited fee scope", &op).await;
    assert!(
        !checked.written.contains(&stack.session_key_validator),
        "{:?}",
        checked.written
    );
    storage_of.extend(checked.storage_of);
    assert_eq!(
        fees_charged(&client, &account, unlimited.session_id()).await,
        U256::ZERO
    );

    // Every other signer kind: P-256 and WebAuthn (the validator's SessionSignerVerifier, stateless, and the P-256
    // precompile at 0x100) and a 2-of-3 multisig of the three kinds.
    let webauthn =
        || WebAuthnAuthenticator::new(P256Key::generate(), DEFAULT_RP_ID, DEFAULT_ORIGIN);
    let multisig = SessionSigner::multisig(
        2,
        vec![
            (1, SessionKey::generate().into()),
            (1, P256Key::generate().into()),
            (1, webauthn().into()),
        ],
    )
    .unwrap();
    let kinds: [(&str, SessionSigner); 3] = [
        ("P-256 signer", P256Key::generate().into()),
        ("WebAuthn signer", webauthn().into()),
        ("2-of-3 multisig signer", multisig),
    ];
    for (salt, (what, signer)) in (10u8..).zip(kinds) {
        let mut kind_session = session(&key, tokens, recipient, t, salt);
        kind_session.session.signer = signer.address().unwrap();
        grant(&client, &account, &owner, &kind_session).await;
        let calls = [transfer(plain, recipient, 1, 0)];
        let op = client
            .prepare_session_op(&account, &signer, &kind_session, &calls)
            .await
            .unwrap();
        let checked = check_and_send(&client, what, &op).await;
        assert!(
            checked
                .called
                .contains(&Address::left_padding_from(&[0x01, 0x00])),
            "{what}: the P-256 precompile verifies: {:?}",
            checked.called
        );
        storage_of.extend(checked.storage_of);
    }

    // Revocations. The owner revokes permission 1 of the first session: an operation under permission 0 then also
    // reads permission 0's slot (the session's record says some permission is revoked), associated with the
    // account like every other.
    client
        .revoke_permission(
            &account,
            &owner,
            granted.session_id(),
            granted.tree.leaf(1).unwrap(),
        )
        .await
        .unwrap();
    let calls = [transfer(plain, recipient, 2, 0)];
    let op = client
        .prepare_session_op(&account, &key, &granted, &calls)
        .await
        .unwrap();
    let checked = check_and_send(&client, "session with a revoked permission", &op).await;
    storage_of.extend(checked.storage_of);
    // The key's kill switch: its one call to the validator, with no permission.
    let calls = [SessionCall::revoke_own_session(
        stack.session_key_validator,
        granted.session_id(),
    )];
    let op = client
        .prepare_session_op(&account, &key, &granted, &calls)
        .await
        .unwrap();
    let checked = check_and_send(&client, "self-revocation", &op).await;
    storage_of.extend(checked.storage_of);
    assert_eq!(
        client
            .session_status(&account, granted.session_id())
            .await
            .unwrap(),
        keyscope::SessionStatus::Revoked
    );

    // Use mode touches the account's and the validator's storage (and the EntryPoint's deposit slot only if a
    // prefund is due, which the deposit covers). The implementation's reads under the clone's DELEGATECALL count as
    // the account's: the tracer attributes storage to the contract whose storage it is.
    assert!(
        storage_of
            .iter()
            .all(|a| [account.address, stack.session_key_validator].contains(a)),
        "{storage_of:?}"
    );

    // Enable mode on a deployed account: grant and use in one operation.
    let second = session(&key, tokens, recipient, t, 2);
    let calls = [transfer(token, recipient, 9, 1)];
    let op = client
        .prepare_enable_session_op(&account, &owner, &key, &second, &calls)
        .await
        .unwrap();
    let checked = check_and_send(&client, "enable mode", &op).await;
    assert_eq!(
        fees_charged(&client, &account, second.session_id()).await,
        OperationCost::of(&op.op).fee,
        "enable mode starts the session's fee counter"
    );
    assert!(
        checked.called.contains(&stack.owner_validator),
        "enable mode asks the owner validator through ERC-1271: {:?}",
        checked.called
    );
    assert!(
        checked.storage_of.contains(&stack.owner_validator),
        "enable mode reads the owner: {:?}",
        checked.storage_of
    );
    let status = client
        .session_status(&account, second.session_id())
        .await
        .unwrap();
    assert_eq!(status, keyscope::SessionStatus::Active);

    // Enable mode in the very first operation of a counterfactual account (initCode, prefund from its balance).
    let fresh_owner = SessionKey::generate();
    let third = session(&key, tokens, recipient, t, 3);
    let factory = stack
        .deploy_staked_account_factory(&provider, client.sender(), version, client.sender())
        .await
        .unwrap()
        .address;
    let op = counterfactual_enable_op(
        &client,
        factory,
        &fresh_owner,
        &key,
        &third,
        version,
        &[native(recipient, 1_000)],
    )
    .await;
    // Creating the account installs both validators, which write the account's entries in their storage: ERC-7562
    // allows that only with a staked factory (STO-022). Everything else already complies.
    let unstaked = check(&client, "enable mode with initCode, unstaked factory", &op).await;
    assert!(!unstaked.violations.is_empty());
    assert!(
        unstaked
            .violations
            .iter()
            .all(|v| v.starts_with("STO-022") && v.contains(&factory.to_string())),
        "{:#?}",
        unstaked.violations
    );
    for validator in [stack.session_key_validator, stack.owner_validator] {
        assert!(
            unstaked
                .violations
                .iter()
                .any(|v| v.contains(&validator.to_string())),
            "{:#?}",
            unstaked.violations
        );
    }
    Stack::stake_account_factory(
        &provider,
        client.sender(),
        factory,
        U256::from(ETHER),
        86_400,
    )
    .await
    .unwrap();
    let checked = check_and_send(&client, "enable mode with initCode, staked factory", &op).await;
    assert!(checked.called.contains(&factory));
    assert!(
        checked
            .called
            .contains(&stack.version(version).account_factory),
        "the front creates the account through the stack's factory: {:?}",
        checked.called
    );
    assert!(
        checked.called.contains(&stack.version(version).entry_point),
        "the new account pays its prefund to the EntryPoint: {:?}",
        checked.called
    );
    assert!(!client
        .provider()
        .get_code_at(op.op.sender)
        .await
        .unwrap()
        .is_empty());

    // Negative control: the rules do flag what execution does (the EntryPoint's bare GAS, the token's write to the
    // recipient's balance, which is not associated with the account).
    let single = &execution_violations["single call"];
    assert!(
        single.iter().any(|v| v.starts_with("banned opcode GAS ")),
        "{single:?}"
    );
    assert!(
        single
            .iter()
            .any(|v| v.starts_with("SSTORE of slot") && v.contains(&plain.to_string())),
        "{single:?}"
    );
    let native_exec = &execution_violations["native transfer with total limit"];
    assert!(
        native_exec
            .iter()
            .any(|v| v.starts_with("banned opcode GAS ")),
        "{native_exec:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn session_ops_follow_erc7562_on_entry_point_v07() {
    run(Version::V07).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn session_ops_follow_erc7562_on_entry_point_v08() {
    run(Version::V08).await;
}

//! Differential test of `explain` against the chain: a few hundred session operations (valid ones, every kind of
//! violation, rule boundaries, random mutations of calldata, signatures and permission encodings), each explained
//! off-chain and run through `EntryPoint.handleOps` (`eth_call`) and `SessionKeyValidator.validateUserOp` called
//! from the account (`eth_call`), on EntryPoint v0.7 and v0.8. The verdicts must agree exactly: `AA23` with the
//! same revert data (custom error and parameters, or no data), `AA24`, `AA22`, or acceptance with the same
//! `validationData`. Accepted operations are also sent, so that usage, rate-limit, spending and fee counters move,
//! and the limits they reach are explained too.
//!
//! The fee scope: sessions with bounded per-operation fees and budgets, unlimited ones, and operations whose gas
//! fields and `maxFeePerGas` are at the bound, one wei over, far over, with and without paymaster gas limits, and
//! past what naive arithmetic holds (the EntryPoint itself refuses any gas value above 2^120 − 1 with `AA94`
//! before it calls the account, and an operation the account cannot pay for with `AA21`: the validator's own
//! answer is still compared through the direct call); budgets used up across sent operations and enable-mode
//! replays. After every sent operation the validator's `feesChargedOf` is what `explain` said it would be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::time::Instant;

use alloy::network::TransactionBuilder;
use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{aliases::U48, keccak256, Address, Bytes, FixedBytes, B256, I256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolValue};
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::explain::{validate_user_op, ExplainInput, OperationCost, Rejection, Verdict};
use keyscope::permissions::abi::encode_permission;
use keyscope::permissions::abi::SESSION_LENGTH;
use keyscope::permissions::{
    ArgRule, Permission, PermissionTree, RuleOperator, Session, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, UNLIMITED_FEE,
};
use keyscope::signer::{enable_digest, owner_signature, SessionKey};
use keyscope::{
    execute_batch, execute_single, nonce_key, session_lane, Account, Client, Error, GasSettings,
    PreparedOp, Revert, Version,
};

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------------------------

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn word(&mut self) -> U256 {
        U256::from_limbs([self.next(), self.next(), self.next(), self.next()])
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Permissions and sessions
// ---------------------------------------------------------------------------------------------------------------

fn int(value: i64) -> U256 {
    I256::try_from(value).unwrap().into_raw()
}

fn w(value: U256) -> B256 {
    B256::from(value)
}

fn n(value: u64) -> B256 {
    w(U256::from(value))
}

fn rule(operator: RuleOperator, arg: u16, operands: Vec<B256>) -> ArgRule {
    ArgRule {
        operator: operator as u8,
        argIndex: arg,
        operands,
    }
}

fn permission(target: Address, selector: [u8; 4], flags: u8) -> Permission {
    Permission {
        target,
        selector: FixedBytes(selector),
        flags,
        ..Default::default()
    }
}

const RULES_TARGET: Address = Address::new([0x10; 20]);
const TOKEN: Address = Address::new([0x20; 20]);
const RATE_TARGET: Address = Address::new([0x30; 20]);
const TIMED_TARGET: Address = Address::new([0x40; 20]);
const MUTANT_TARGET: Address = Address::new([0x50; 20]);
const ANY_SELECTOR: [u8; 4] = [0xa1, 0xa2, 0xa3, 0xa4];
const RULES_SELECTOR: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const RATE_SELECTOR: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];
const FUTURE_SELECTOR: [u8; 4] = [0x0f, 0x0f, 0x0f, 0x0f];
const BOUNDARY_SELECTOR: [u8; 4] = [0xb0, 0xb0, 0xb0, 0xb0];
const MUTANT_SELECTOR: [u8; 4] = [0x5e, 0x1e, 0xc7, 0x00];
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

/// The 16 rules of the rules permission: every operator, on arguments 0 to 15.
fn operator_rules() -> Vec<ArgRule> {
    use RuleOperator::*;
    vec![
        rule(Eq, 0, vec![n(7)]),
        rule(Ne, 1, vec![n(0)]),
        rule(Lt, 2, vec![n(100)]),
        rule(Lte, 3, vec![n(100)]),
        rule(Gt, 4, vec![n(100)]),
        rule(Gte, 5, vec![n(100)]),
        rule(SignedLt, 6, vec![w(int(-5))]),
        rule(SignedLte, 7, vec![w(int(-5))]),
        rule(SignedGt, 8, vec![w(int(-5))]),
        rule(SignedGte, 9, vec![w(int(-5))]),
        rule(OneOf, 10, vec![n(1), n(2), n(3)]),
        rule(InRange, 11, vec![n(10), n(20)]),
        rule(SignedInRange, 12, vec![w(int(-10)), w(int(10))]),
        rule(Bitmask, 13, vec![n(0xf0), n(0x30)]),
        rule(Lte, 14, vec![w(U256::MAX - U256::from(1))]),
        rule(SignedGte, 15, vec![w(I256::MIN.into_raw() + U256::from(1))]),
    ]
}

/// Argument values that pass every operator rule.
fn valid_args() -> Vec<U256> {
    [
        7, 1, 99, 100, 101, 100, -6, -5, -4, -5, 2, 15, 0, 0x35, 0, 0,
    ]
    .iter()
    .map(|v| int(*v))
    .collect()
}

/// Values around rule `r`'s operands, and the extremes.
fn boundaries(r: usize) -> Vec<U256> {
    let rules = operator_rules();
    let mut out = vec![
        U256::ZERO,
        U256::from(1),
        U256::MAX,
        U256::MAX - U256::from(1),
        int(-1),
        I256::MIN.into_raw(),
        I256::MAX.into_raw(),
    ];
    for operand in &rules[r].operands {
        let value = U256::from_be_bytes(operand.0);
        out.extend([
            value,
            value.wrapping_add(U256::from(1)),
            value.wrapping_sub(U256::from(1)),
        ]);
    }
    if r == 13 {
        out.extend([
            U256::from(0x30),
            U256::from(0x3f),
            U256::from(0x130),
            U256::from(0x20),
        ]);
    }
    out
}

fn call_data(selector: [u8; 4], args: &[U256]) -> Bytes {
    let mut data = selector.to_vec();
    for arg in args {
        data.extend_from_slice(&arg.to_be_bytes::<32>());
    }
    data.into()
}

fn erc20(selector: [u8; 4], amount: u64) -> Bytes {
    call_data(selector, &[U256::from(0x4242), U256::from(amount)])
}

struct Times {
    /// Start of the sessions.
    start: u64,
    /// validAfter of the boundary permission.
    boundary: u64,
}

/// Indices of the main session's permissions.
mod idx {
    pub const RULES: usize = 0;
    pub const NATIVE: usize = 1;
    pub const TRANSFER: usize = 2;
    pub const APPROVE: usize = 3;
    pub const RATE: usize = 4;
    pub const FUTURE: usize = 5;
    pub const BOUNDARY: usize = 6;
    pub const ANY: usize = 7;
    /// Permissions that the validator refuses as such (bad flags, rules …): `WEIRD..MUTANTS`.
    pub const WEIRD: usize = 8;
}

/// The main session's permissions, as leaf preimages: the well-formed ones, the ill-formed ones (canonically
/// encoded), and `mutants` non-canonical encodings of a 3-rule permission.
fn main_permissions(times: &Times, rng: &mut Rng, mutants: usize) -> (Vec<Vec<u8>>, usize) {
    use RuleOperator::*;
    let mut rules = permission(RULES_TARGET, RULES_SELECTOR, 0);
    rules.valueLimit = U256::from(1000);
    rules.rules = operator_rules();

    let mut native = permission(
        Address::ZERO,
        [0; 4],
        FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL,
    );
    native.valueLimit = U256::from(1_000_000_000_000_000u64);
    native.nativeTotalLimit = U256::from(3_000_000_000_000_000u64);

    let mut transfer = permission(TOKEN, TRANSFER, FLAG_ERC20_TOTAL);
    transfer.erc20TotalLimit = U256::from(1000);
    transfer.maxUses = 4;
    transfer.rules = vec![rule(Lte, 1, vec![n(600)])];

    let mut approve = permission(TOKEN, APPROVE, FLAG_ERC20_TOTAL);
    approve.erc20TotalLimit = U256::from(1000);

    let mut rate = permission(RATE_TARGET, RATE_SELECTOR, 0);
    rate.validAfter = U48::from(times.start - 1000);
    rate.rateLimitCount = 2;
    rate.rateLimitInterval = U48::from(50);

    let mut future = permission(TIMED_TARGET, FUTURE_SELECTOR, 0);
    future.validAfter = U48::from(times.start + 1_000_000);

    let mut boundary = permission(TIMED_TARGET, BOUNDARY_SELECTOR, 0);
    boundary.validAfter = U48::from(times.boundary);
    boundary.validUntil = U48::from(times.boundary + 2);

    let any = permission(Address::ZERO, ANY_SELECTOR, FLAG_ANY_TARGET);

    let mut weird = vec![
        // an unknown flag
        permission(RULES_TARGET, RULES_SELECTOR, 0x10),
        // any target, with a target
        permission(RULES_TARGET, RULES_SELECTOR, FLAG_ANY_TARGET),
        // a native transfer with a selector
        permission(
            Address::ZERO,
            RULES_SELECTOR,
            FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER,
        ),
        // a native transfer counted as an ERC-20 movement
        permission(
            Address::ZERO,
            [0; 4],
            FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER | FLAG_ERC20_TOTAL,
        ),
    ];
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, 0);
    p.rateLimitCount = 1; // interval 0
    weird.push(p);
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, 0);
    p.rules = (0..33).map(|i| rule(Gte, i, vec![n(0)])).collect();
    weird.push(p);
    for bad in [
        rule(Eq, 0, vec![]),
        rule(Eq, 0, vec![n(1), n(2)]),
        rule(OneOf, 0, vec![]),
        rule(OneOf, 0, (0..65).map(n).collect()),
        rule(InRange, 0, vec![n(1)]),
        rule(Bitmask, 0, vec![n(1), n(2), n(3)]),
    ] {
        let mut p = permission(RULES_TARGET, RULES_SELECTOR, 0);
        p.rules = vec![rule(Gte, 0, vec![n(0)]), bad];
        weird.push(p);
    }
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, 0);
    p.rules = vec![rule(Gte, 0, vec![n(0)])];
    let mut encoded = encode_permission(&p);
    // operator 14
    let operator_word = encoded.len() - 0x20 * 3;
    encoded[operator_word - 0x20 + 31] = 14;
    let mut ill_formed: Vec<Vec<u8>> = weird.iter().map(encode_permission).collect();
    ill_formed.push(encoded);
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, FLAG_ERC20_TOTAL); // not an ERC-20 movement
    p.erc20TotalLimit = U256::from(5);
    ill_formed.push(encode_permission(&p));
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, 0); // reads past the calldata
    p.rules = vec![rule(Eq, 40, vec![n(0)])];
    ill_formed.push(encode_permission(&p));

    let mut encodings: Vec<Vec<u8>> = [
        rules, native, transfer, approve, rate, future, boundary, any,
    ]
    .iter()
    .map(encode_permission)
    .collect();
    encodings.extend(ill_formed);
    let mutants_start = encodings.len();

    // Non-canonical encodings of a 3-rule permission: the contract reads them through Solidity's calldata checks.
    let mut base = permission(MUTANT_TARGET, MUTANT_SELECTOR, 0);
    base.valueLimit = U256::from(10);
    base.maxUses = 1000;
    base.rules = vec![
        rule(Lte, 0, vec![n(100)]),
        rule(OneOf, 1, vec![n(1), n(2), n(3)]),
        rule(Bitmask, 2, vec![n(0xff), n(0x11)]),
    ];
    let base = encode_permission(&base);
    while encodings.len() < mutants_start + mutants {
        let mut bytes = base.clone();
        for _ in 0..1 + rng.below(2) {
            mutate_encoding(&mut bytes, rng);
        }
        if !encodings.contains(&bytes) {
            encodings.push(bytes);
        }
    }
    (encodings, mutants_start)
}

/// One random change to a permission encoding: a word set to an interesting value, a byte, or the length.
fn mutate_encoding(bytes: &mut Vec<u8>, rng: &mut Rng) {
    let len = bytes.len();
    let interesting = [
        U256::ZERO,
        U256::from(1),
        U256::from(0x20),
        U256::from(0x40),
        U256::from(0x60),
        U256::from(0x80),
        U256::from(0x180),
        U256::from(0x1a0),
        U256::from(len),
        U256::from(len - 0x20),
        U256::from(len - 0x40),
        U256::from(len + 0x20),
        U256::from(1000),
        U256::from(u64::MAX),
        U256::from(u64::MAX) + U256::from(1),
        U256::from(1) << 255,
        U256::MAX,
        U256::MAX - U256::from(31),
        U256::from(0x100),
        U256::from(1) << 160,
        U256::from(13),
        U256::from(14),
        U256::from(3),
        U256::from(33),
        U256::from(65),
    ];
    let words = len / 32;
    match rng.below(6) {
        // a word: of the head, or of the rules' tail
        choice @ 0..=3 => {
            let word = if choice >= 2 && words > 13 {
                13 + rng.below(words - 13)
            } else {
                rng.below(words.min(13))
            };
            let value = rng.pick(&interesting);
            bytes[word * 32..word * 32 + 32].copy_from_slice(&value.to_be_bytes::<32>());
        }
        4 => {
            let at = rng.below(len);
            bytes[at] = rng.next() as u8;
        }
        _ => {
            if rng.chance(50) {
                let keep = rng.below(len);
                bytes.truncate(keep.max(0x140));
            } else {
                let extra = 32 * (1 + rng.below(3));
                for _ in 0..extra {
                    bytes.push(rng.next() as u8);
                }
            }
        }
    }
}

struct TestSession {
    session: Session,
    encodings: Vec<Vec<u8>>,
    tree: PermissionTree,
    key: SessionKey,
}

impl TestSession {
    fn new(
        key: SessionKey,
        valid_after: u64,
        valid_until: u64,
        policy: u8,
        paymaster: Address,
        encodings: Vec<Vec<u8>>,
        salt: u64,
    ) -> Self {
        let leaves = encodings.iter().map(|e| keccak256(keccak256(e))).collect();
        let tree = PermissionTree::from_leaves(leaves).unwrap();
        let session = Session {
            signer: key.address(),
            validAfter: U48::from(valid_after),
            validUntil: U48::from(valid_until),
            permissionsRoot: tree.root(),
            paymasterPolicy: policy,
            paymaster,
            maxOperationFee: DEFAULT_FEES.0,
            feeBudget: DEFAULT_FEES.1,
            salt: n(salt),
        };
        Self {
            session,
            encodings,
            tree,
            key,
        }
    }

    /// The same session with the fee scope `(maxOperationFee, feeBudget)` (another session id).
    fn with_fees(mut self, (max_operation_fee, fee_budget): (u128, u128)) -> Self {
        self.session.maxOperationFee = max_operation_fee;
        self.session.feeBudget = fee_budget;
        self
    }

    fn id(&self) -> B256 {
        self.session.id()
    }

    fn rate_window(&self, index: usize, now: u64) -> u32 {
        keyscope::permissions::decode_permission(&self.encodings[index])
            .map(|p| p.rate_limit_window(now))
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Building operations
// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Entry {
    permission: usize,
    window: u32,
    bad_proof: bool,
}

impl Entry {
    fn new(permission: usize) -> Self {
        Self {
            permission,
            window: 0,
            bad_proof: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Use,
    /// Enable mode; `true`: a valid owner signature.
    Enable(bool),
    Raw(u8),
}

#[derive(Clone)]
enum SigEdit {
    None,
    Truncate(usize),
    Append(usize),
    Byte(usize, u8),
}

/// An operation's gas fields, set over the client's before the operation is hashed.
#[derive(Clone, Copy)]
struct Gas {
    verification: u128,
    call: u128,
    pre_verification: U256,
    priority: u128,
    max_fee: u128,
}

impl Gas {
    /// `verification + call + pre_verification` gas at `max_fee` wei (and priority fee) a gas.
    fn new(verification: u128, call: u128, pre_verification: u128, max_fee: u128) -> Self {
        Self {
            verification,
            call,
            pre_verification: U256::from(pre_verification),
            priority: max_fee,
            max_fee,
        }
    }

    /// Gas fields whose maximum cost is exactly `fee` wei at `max_fee` wei a gas (`max_fee` divides `fee`), with
    /// `extra` gas more in preVerificationGas; `paymaster_gas` is the paymaster's share of the total.
    fn costing(fee: u128, max_fee: u128, paymaster_gas: u128, extra: u128) -> Self {
        assert_eq!(fee % max_fee, 0);
        let total = fee / max_fee;
        let (verification, call) = (600_000, 300_000);
        Self::new(
            verification,
            call,
            total - verification - call - paymaster_gas + extra,
            max_fee,
        )
    }
}

#[derive(Clone)]
struct Plan {
    mode: Mode,
    call_data: Bytes,
    entries: Vec<Entry>,
    paymaster_and_data: Bytes,
    gas: Option<Gas>,
    wrong_key: bool,
    session_override: Option<Vec<u8>>,
    edit: SigEdit,
    label: &'static str,
}

impl Plan {
    fn new(label: &'static str, call_data: Bytes, entries: Vec<Entry>) -> Self {
        Self {
            mode: Mode::Use,
            call_data,
            entries,
            paymaster_and_data: Bytes::new(),
            gas: None,
            wrong_key: false,
            session_override: None,
            edit: SigEdit::None,
            label,
        }
    }

    fn single(
        label: &'static str,
        target: Address,
        value: U256,
        data: Bytes,
        permission: usize,
    ) -> Self {
        Self::new(
            label,
            execute_single(target, value, &data),
            vec![Entry::new(permission)],
        )
    }

    fn batch(label: &'static str, calls: &[(Address, U256, Bytes, usize)]) -> Self {
        let executions: Vec<_> = calls
            .iter()
            .map(|(t, v, d, _)| (*t, *v, d.clone()))
            .collect();
        let entries = calls.iter().map(|c| Entry::new(c.3)).collect();
        Self::new(label, execute_batch(&executions), entries)
    }
}

struct Env {
    _anvil: AnvilInstance,
    client: Client,
    owner: SessionKey,
    other_key: SessionKey,
}

/// The test's session signature encoder: raw permission bytes, any mode byte.
fn encode_signature(
    session: &TestSession,
    plan: &Plan,
    owner_signature: &[u8],
    ecdsa: &[u8],
) -> Vec<u8> {
    let mut out = vec![match plan.mode {
        Mode::Use => 0,
        Mode::Enable(_) => 1,
        Mode::Raw(byte) => byte,
    }];
    match &plan.session_override {
        Some(bytes) => out.extend_from_slice(bytes),
        None => out.extend_from_slice(&session.session.encode()),
    }
    if matches!(plan.mode, Mode::Enable(_)) {
        out.extend_from_slice(&(owner_signature.len() as u16).to_be_bytes());
        out.extend_from_slice(owner_signature);
    }
    out.push(plan.entries.len() as u8);
    for entry in &plan.entries {
        let encoding = &session.encodings[entry.permission];
        out.extend_from_slice(&(encoding.len() as u16).to_be_bytes());
        out.extend_from_slice(encoding);
        let mut proof = session.tree.proof(entry.permission).unwrap();
        if entry.bad_proof {
            match proof.first_mut() {
                Some(node) => node.0[0] ^= 1,
                None => proof.push(B256::repeat_byte(1)),
            }
        }
        out.push(proof.len() as u8);
        for node in &proof {
            out.extend_from_slice(node.as_slice());
        }
        out.extend_from_slice(&entry.window.to_be_bytes());
    }
    out.push(ecdsa.len() as u8);
    out.extend_from_slice(ecdsa);
    out
}

async fn build(env: &Env, account: &Account, session: &TestSession, plan: &Plan) -> PreparedOp {
    let client = &env.client;
    let validator = client.stack().session_key_validator;
    let key = nonce_key(validator, session_lane(session.id()));
    let mut op = client
        .unsigned_op(account, key, plan.call_data.clone())
        .await
        .unwrap();
    op.paymasterAndData = plan.paymaster_and_data.clone();
    if let Some(gas) = plan.gas {
        op.set_gas_limits(gas.verification, gas.call);
        op.preVerificationGas = gas.pre_verification;
        op.set_gas_fees(gas.priority, gas.max_fee);
    }
    let user_op_hash = client
        .stack()
        .entry_point(account.version)
        .user_op_hash(&op, client.chain_id())
        .unwrap();
    let owner_sig = if let Mode::Enable(valid) = plan.mode {
        let epoch = SessionKeyValidator::new(validator, client.provider().clone())
            .epochOf(account.address)
            .call()
            .await
            .unwrap();
        let digest = enable_digest(
            validator,
            client.chain_id(),
            account.address,
            epoch,
            session.id(),
        );
        let signer = if valid { &env.owner } else { &env.other_key };
        owner_signature(signer, client.stack().owner_validator.as_slice(), &digest).unwrap()
    } else {
        vec![]
    };
    let signer = if plan.wrong_key {
        &env.other_key
    } else {
        &session.key
    };
    let ecdsa = signer.sign_hash_bytes(&user_op_hash).unwrap();
    let mut signature = encode_signature(session, plan, &owner_sig, &ecdsa);
    match plan.edit {
        SigEdit::None => {}
        SigEdit::Truncate(len) => signature.truncate(len),
        SigEdit::Append(extra) => signature.extend(std::iter::repeat_n(0x5a, extra)),
        SigEdit::Byte(at, byte) => {
            let len = signature.len();
            signature[at % len] = byte;
        }
    }
    op.signature = signature.into();
    PreparedOp {
        version: account.version,
        op,
        user_op_hash,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    compared: usize,
    sent: usize,
    by_outcome: BTreeMap<String, usize>,
    samples: BTreeMap<String, String>,
}

/// Revert data of an `eth_call` error (`None`: not a revert). A revert without data is only anvil's exact
/// "execution reverted" with no `data`: any other error (out of gas, a node error) must not pass for an empty
/// revert.
fn revert_data(error: &alloy::transports::TransportError) -> Option<Bytes> {
    let payload = error.as_error_resp()?;
    if let Some(data) = payload.as_revert_data() {
        return Some(data);
    }
    (payload.message == "execution reverted" && payload.data.is_none()).then(Bytes::new)
}

/// Explains `op`, runs it on chain both ways, and checks that everything agrees. Returns the verdict.
async fn compare(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    op: &PreparedOp,
    label: &str,
) -> Verdict {
    let client = &env.client;
    let explained = client.explain(&op.op, op.version, None).await.unwrap();
    assert_eq!(explained.user_op_hash, op.user_op_hash);
    let verdict = explained.verdict.clone();
    let context = || {
        format!(
            "[{label} on {:?}; gas limits {:?}, preVerificationGas {:#x}, fees {:?}, paymasterAndData {}] explain: \
             {verdict}",
            op.version,
            op.op.gas_limits(),
            op.op.preVerificationGas,
            op.op.gas_fees(),
            op.op.paymasterAndData,
        )
    };

    // The validator alone, called by the account.
    let validator = client.stack().session_key_validator;
    let call = SessionKeyValidator::validateUserOpCall {
        userOp: SessionKeyValidator::PackedUserOperation::abi_decode(&op.op.abi_encode()).unwrap(),
        userOpHash: op.user_op_hash,
    };
    let tx = TransactionRequest::default()
        .with_from(account.address)
        .with_to(validator)
        .with_input(call.abi_encode());
    let direct = client.provider().call(tx).await;
    let input = ExplainInput {
        op: &op.op,
        user_op_hash: op.user_op_hash,
        validator,
        version: op.version,
        now: explained.now,
        state: &explained.state,
    };
    let offline = validate_user_op(&input, account.address);
    match (&direct, &offline) {
        (Ok(returned), Ok(validation)) => {
            let returned = U256::abi_decode(returned).unwrap();
            assert_eq!(returned, validation.validation_data, "{}", context());
        }
        (Err(error), Err(revert)) => {
            let data = revert_data(error).unwrap_or_else(|| panic!("{}: {error}", context()));
            assert_eq!(
                data,
                revert.revert_data(),
                "{}: chain reverted with {data}",
                context()
            );
        }
        (direct, offline) => panic!(
            "{}: validateUserOp on chain {direct:?}, offline {offline:?}",
            context()
        ),
    }

    // The EntryPoint.
    let chain = client.simulate(op).await;
    let outcome = match (&verdict, &chain) {
        // The EntryPoint's own checks of the gas fields, before it calls the account: the validator's answer was
        // compared above through the direct call.
        (_, Err(error))
            if entry_point_require(error) == Some("AA94") && gas_values_overflow(&op.op) =>
        {
            "AA94 (gas values overflow)".to_owned()
        }
        (_, Err(error))
            if entry_point_require(error) == Some("AA93")
                && (1..52).contains(&op.op.paymasterAndData.len()) =>
        {
            "AA93 (short paymasterAndData)".to_owned()
        }
        (Verdict::Accepted(validation), Err(Error::EntryPoint { code, .. }))
            if code == "AA21" && op.op.paymasterAndData.is_empty() =>
        {
            // The validator accepts (an unlimited or loose fee scope); what the account holds bounds the rest.
            let funds = funds(env, account).await;
            assert_eq!(OperationCost::of(&op.op).fee, validation.fees.fee());
            assert!(
                validation.fees.fee() > funds,
                "{}: AA21 although the account holds {funds} wei",
                context()
            );
            "accepted by the validator, AA21 (prefund)".to_owned()
        }
        (Verdict::Accepted(validation), Err(Error::Reverted(Revert::Other(data))))
            if data.is_empty()
                && !op.op.paymasterAndData.is_empty()
                && validation.fees.fee().is_zero() =>
        {
            // The validator accepts; with nothing to prefund the EntryPoint skips AA31 and calls the paymaster,
            // which has no code: Solidity's extcodesize check reverts the whole bundle without data.
            "accepted by the validator, paymaster without code".to_owned()
        }
        (Verdict::Accepted(_), Ok(())) => "accepted".to_owned(),
        (Verdict::Accepted(_), Err(Error::EntryPoint { code, .. }))
            if !op.op.paymasterAndData.is_empty() && code.starts_with("AA3") =>
        {
            // The validator accepts; the (undeployed) paymaster is the EntryPoint's next step.
            format!("accepted by the validator, {code} (paymaster)")
        }
        (
            Verdict::Rejected(Rejection::Reverted(expected)),
            Err(Error::EntryPoint {
                code,
                revert: Some(revert),
                ..
            }),
        ) if code == "AA23" => {
            let data = match revert {
                Revert::Validator(error) => {
                    alloy::sol_types::SolInterface::abi_encode(error.as_ref()).into()
                }
                Revert::Other(data) => data.clone(),
            };
            assert_eq!(
                data,
                expected.revert_data(),
                "{}: chain {revert}",
                context()
            );
            format!("AA23 {}", expected.name())
        }
        (
            Verdict::Rejected(Rejection::SignatureInvalid(_) | Rejection::ModuleNotInstalled),
            Err(Error::EntryPoint { code, .. }),
        ) if code == "AA24" => "AA24".to_owned(),
        (
            Verdict::Rejected(Rejection::OutsideWindow { .. }),
            Err(Error::EntryPoint { code, .. }),
        ) if code == "AA22" => "AA22".to_owned(),
        (_, chain) => panic!("{}: the EntryPoint says {chain:?}", context()),
    };
    assert!(!verdict.to_string().is_empty());
    stats.compared += 1;
    *stats.by_outcome.entry(outcome.clone()).or_default() += 1;
    stats
        .samples
        .entry(outcome)
        .or_insert_with(|| format!("{label}: {verdict}"));
    verdict
}

/// Builds, compares, and sends the operation when it is accepted and `send` is set.
async fn check(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    session: &TestSession,
    plan: &Plan,
    send: bool,
) -> Verdict {
    let op = build(env, account, session, plan).await;
    let verdict = compare(env, stats, account, &op, plan.label).await;
    if send && verdict.is_accepted() {
        let outcome = env.client.send(&op).await.unwrap();
        assert!(outcome.success, "{}: {outcome:?}", plan.label);
        stats.sent += 1;
        // The fee counter moved as explained: by the operation's maximum cost, for a session with a budget.
        let validation = verdict.validation().unwrap();
        assert_eq!(
            fees_charged(env, account, validation.session_id).await,
            validation.fees.charged_after,
            "{}: {verdict}",
            plan.label
        );
    }
    verdict
}

/// The `AAxx` code of an EntryPoint rejection that is a `require` string of its own (`"AA94 gas values
/// overflow"`), or a `FailedOp`.
fn entry_point_require(error: &Error) -> Option<&'static str> {
    let reason = match error {
        Error::EntryPoint { code, .. } => code.clone(),
        Error::Reverted(Revert::Other(data)) => {
            <alloy::sol_types::Revert as alloy::sol_types::SolError>::abi_decode(data)
                .ok()?
                .reason
        }
        _ => return None,
    };
    ["AA93", "AA94"]
        .into_iter()
        .find(|code| reason.starts_with(code))
}

/// `feesChargedOf(account, sessionId)`.
async fn fees_charged(env: &Env, account: &Account, session_id: B256) -> U256 {
    let validator = env.client.stack().session_key_validator;
    SessionKeyValidator::new(validator, env.client.provider().clone())
        .feesChargedOf(account.address, session_id)
        .call()
        .await
        .unwrap()
}

/// What the account can pay a prefund with: its balance and its EntryPoint deposit.
async fn funds(env: &Env, account: &Account) -> U256 {
    let provider = env.client.provider();
    let entry_point = env.client.stack().entry_point(account.version).address();
    let deposit =
        keyscope::bindings::entry_point_v07::EntryPoint::new(entry_point, provider.clone())
            .balanceOf(account.address)
            .call()
            .await
            .unwrap();
    provider.get_balance(account.address).await.unwrap() + deposit
}

/// Whether the EntryPoint refuses the operation's gas values (`AA94`): any gas limit or fee above 2^120 − 1.
fn gas_values_overflow(op: &keyscope::signer::PackedUserOperation) -> bool {
    let (verification, call) = op.gas_limits();
    let (priority, max_fee) = op.gas_fees();
    let (paymaster_verification, post_op) = op.paymaster_gas_limits().unwrap_or_default();
    let max = (1u128 << 120) - 1;
    op.preVerificationGas > U256::from(max)
        || [
            verification,
            call,
            priority,
            max_fee,
            paymaster_verification,
            post_op,
        ]
        .iter()
        .any(|v| *v > max)
}

fn expect_error(verdict: &Verdict, name: &str) {
    let revert = verdict
        .revert()
        .unwrap_or_else(|| panic!("expected {name}, got {verdict}"));
    assert_eq!(revert.name(), name, "{verdict}");
}

async fn set_time(env: &Env, timestamp: u64) {
    let provider = env.client.provider();
    let _: serde_json::Value = provider
        .raw_request("anvil_setNextBlockTimestamp".into(), (timestamp,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    assert_eq!(keyscope_e2e::now(provider).await, timestamp);
}

// ---------------------------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------------------------

struct Setup {
    account: Account,
    uninstalled: Account,
    main: TestSession,
    mutants_start: usize,
    none_policy: TestSession,
    required_policy: TestSession,
    exact_policy: TestSession,
    revoked: TestSession,
    unknown: TestSession,
    enable: TestSession,
    fees: FeeSessions,
}

const PAYMASTER: Address = Address::new([0x9a; 20]);

/// 0.01 ether.
const CENTI_ETHER: u128 = 10_000_000_000_000_000;
/// The fee scope of the sessions that are not about fees: at most 0.05 ether per operation (the client's gas
/// settings make an operation cost at most 0.0312 ether), 5 ether in all.
const DEFAULT_FEES: (u128, u128) = (5 * CENTI_ETHER, 500 * CENTI_ETHER);

/// The sessions of the fee scenario, all with paymaster policy `any` (paymaster gas limits count too).
struct FeeSessions {
    /// 0.01 ether per operation, 0.035 ether in all.
    bounded: TestSession,
    /// No bound at all: only what the account holds limits it (`AA21`).
    unlimited: TestSession,
    /// 0.02 ether per operation, no budget.
    per_operation_only: TestSession,
    /// No per-operation bound, 0.035 ether in all.
    budget_only: TestSession,
    /// Zero on both bounds: only operations with maxFeePerGas 0.
    zero: TestSession,
    /// 0.02 ether per operation, 0.025 ether in all; not granted: enabled by its first operation.
    enabled: TestSession,
}

async fn setup(env: &Env, version: Version, times: &Times, rng: &mut Rng) -> Setup {
    let client = &env.client;
    let account = client
        .create_account(env.owner.address(), U256::from(1), version)
        .await
        .unwrap();
    let uninstalled = client
        .create_account_with(env.owner.address(), U256::from(2), version, false)
        .await
        .unwrap();
    for a in [&account, &uninstalled] {
        client
            .fund(a.address, U256::from(10u128.pow(19)))
            .await
            .unwrap();
        client.deposit(a, U256::from(10u128.pow(18))).await.unwrap();
    }
    let (encodings, mutants_start) = main_permissions(times, rng, 80);
    let key = SessionKey::from_bytes(&[0x0c; 32]).unwrap();
    let until = times.start + 1_000_000;
    let main = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        encodings,
        1,
    );
    let any = vec![encode_permission(&permission(
        Address::ZERO,
        ANY_SELECTOR,
        FLAG_ANY_TARGET,
    ))];
    let none_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        1,
        Address::ZERO,
        any.clone(),
        2,
    )
    .with_fees((UNLIMITED_FEE, UNLIMITED_FEE));
    let required_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        2,
        Address::ZERO,
        any.clone(),
        3,
    )
    .with_fees((4 * CENTI_ETHER, UNLIMITED_FEE));
    let exact_policy = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        3,
        PAYMASTER,
        any.clone(),
        4,
    )
    .with_fees((UNLIMITED_FEE, 100 * CENTI_ETHER));
    let revoked = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        5,
    );
    let unknown = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        6,
    );
    let enable = TestSession::new(
        key.clone(),
        times.start - 100,
        until,
        0,
        Address::ZERO,
        any.clone(),
        7,
    );
    let fee_session = |salt, fees| {
        TestSession::new(
            key.clone(),
            times.start - 100,
            until,
            0,
            Address::ZERO,
            any.clone(),
            salt,
        )
        .with_fees(fees)
    };
    let fees = FeeSessions {
        bounded: fee_session(10, (CENTI_ETHER, 35 * CENTI_ETHER / 10)),
        unlimited: fee_session(11, (UNLIMITED_FEE, UNLIMITED_FEE)),
        per_operation_only: fee_session(12, (2 * CENTI_ETHER, UNLIMITED_FEE)),
        budget_only: fee_session(13, (UNLIMITED_FEE, 35 * CENTI_ETHER / 10)),
        zero: fee_session(14, (0, 0)),
        enabled: fee_session(15, (2 * CENTI_ETHER, 25 * CENTI_ETHER / 10)),
    };
    for session in [
        &main,
        &none_policy,
        &required_policy,
        &exact_policy,
        &revoked,
        &fees.bounded,
        &fees.unlimited,
        &fees.per_operation_only,
        &fees.budget_only,
        &fees.zero,
    ] {
        client
            .grant_session(&account, &env.owner, &session.session)
            .await
            .unwrap();
    }
    client
        .revoke_session(&account, &env.owner, revoked.id())
        .await
        .unwrap();
    Setup {
        account,
        uninstalled,
        main,
        mutants_start,
        none_policy,
        required_policy,
        exact_policy,
        revoked,
        unknown,
        enable,
        fees,
    }
}

/// Valid and invalid operations of every kind against the sessions as granted (nothing is sent).
async fn static_ops(env: &Env, stats: &mut Stats, s: &Setup, rng: &mut Rng) {
    let a = &s.account;
    let m = &s.main;
    let validator = env.client.stack().session_key_validator;
    let rules_call = |args: &[U256]| call_data(RULES_SELECTOR, args);
    let any_call = || Bytes::from(ANY_SELECTOR.to_vec());
    let one = |label, target, value, data, p| Plan::single(label, target, value, data, p);

    // In scope.
    let v = check(
        env,
        stats,
        a,
        m,
        &one(
            "rules ok",
            RULES_TARGET,
            U256::from(1000),
            rules_call(&valid_args()),
            idx::RULES,
        ),
        false,
    )
    .await;
    assert!(v.is_accepted(), "{v}");
    let plan = Plan::batch(
        "batch ok",
        &[
            (
                RULES_TARGET,
                U256::ZERO,
                rules_call(&valid_args()),
                idx::RULES,
            ),
            (
                Address::new([0x77; 20]),
                U256::from(5),
                Bytes::new(),
                idx::NATIVE,
            ),
            (Address::new([0x78; 20]), U256::ZERO, any_call(), idx::ANY),
            (TOKEN, U256::ZERO, erc20(TRANSFER, 10), idx::TRANSFER),
        ],
    );
    assert!(check(env, stats, a, m, &plan, false).await.is_accepted());

    // Every rule at and around its boundaries, one argument at a time.
    for r in 0..16 {
        for value in boundaries(r) {
            let mut args = valid_args();
            args[r] = value;
            check(
                env,
                stats,
                a,
                m,
                &one(
                    "rule boundary",
                    RULES_TARGET,
                    U256::ZERO,
                    rules_call(&args),
                    idx::RULES,
                ),
                false,
            )
            .await;
        }
    }
    // Several arguments at once (the first failing rule wins), and short calldata (rules fail closed).
    for _ in 0..30 {
        let mut args = valid_args();
        for _ in 0..1 + rng.below(3) {
            let r = rng.below(16);
            args[r] = if rng.chance(20) {
                rng.word()
            } else {
                rng.pick(&boundaries(r))
            };
        }
        if rng.chance(25) {
            args.truncate(rng.below(16));
        }
        let mut data = rules_call(&args).to_vec();
        if rng.chance(15) {
            data.truncate((4 + 32 * args.len()).saturating_sub(1 + rng.below(31)));
        }
        check(
            env,
            stats,
            a,
            m,
            &one(
                "rule mix",
                RULES_TARGET,
                U256::ZERO,
                data.into(),
                idx::RULES,
            ),
            false,
        )
        .await;
    }

    // Scope: target, selector, value, native transfers, forbidden targets.
    let cases: Vec<(&'static str, Address, U256, Bytes, usize)> = vec![
        (
            "other target",
            TOKEN,
            U256::ZERO,
            rules_call(&valid_args()),
            idx::RULES,
        ),
        (
            "other selector",
            RULES_TARGET,
            U256::ZERO,
            call_data(ANY_SELECTOR, &valid_args()),
            idx::RULES,
        ),
        (
            "short calldata",
            RULES_TARGET,
            U256::ZERO,
            Bytes::from(vec![0x12, 0x34]),
            idx::RULES,
        ),
        (
            "value over limit",
            RULES_TARGET,
            U256::from(1001),
            rules_call(&valid_args()),
            idx::RULES,
        ),
        (
            "native with calldata",
            Address::new([0x77; 20]),
            U256::ZERO,
            any_call(),
            idx::NATIVE,
        ),
        (
            "native over limit",
            Address::new([0x77; 20]),
            U256::from(10u64.pow(15) + 1),
            Bytes::new(),
            idx::NATIVE,
        ),
        ("account", a.address, U256::ZERO, any_call(), idx::ANY),
        ("validator", validator, U256::ZERO, any_call(), idx::ANY),
        ("zero", Address::ZERO, U256::ZERO, Bytes::new(), idx::NATIVE),
        (
            "transfer over rule",
            TOKEN,
            U256::ZERO,
            erc20(TRANSFER, 601),
            idx::TRANSFER,
        ),
        (
            "transfer short",
            TOKEN,
            U256::ZERO,
            Bytes::from(TRANSFER.to_vec()),
            idx::TRANSFER,
        ),
        (
            "future permission",
            TIMED_TARGET,
            U256::ZERO,
            Bytes::from(FUTURE_SELECTOR.to_vec()),
            idx::FUTURE,
        ),
        (
            "boundary permission",
            TIMED_TARGET,
            U256::ZERO,
            Bytes::from(BOUNDARY_SELECTOR.to_vec()),
            idx::BOUNDARY,
        ),
    ];
    for (label, target, value, data, p) in cases {
        check(env, stats, a, m, &one(label, target, value, data, p), false).await;
    }
    // Ill-formed permissions: each against the call it names.
    for p in idx::WEIRD..s.mutants_start {
        let data = if p == idx::WEIRD + 3 {
            Bytes::new()
        } else {
            rules_call(&valid_args())
        };
        let target = if matches!(p - idx::WEIRD, 2 | 3) {
            Address::new([0x77; 20])
        } else {
            RULES_TARGET
        };
        check(
            env,
            stats,
            a,
            m,
            &one("ill-formed permission", target, U256::ZERO, data, p),
            false,
        )
        .await;
    }
    // Non-canonical permission encodings, each in the tree.
    for p in s.mutants_start..m.encodings.len() {
        let args: Vec<U256> = [100u64, 2, 0x11, 0]
            .iter()
            .map(|v| U256::from(*v))
            .collect();
        let value = U256::from(rng.below(12));
        check(
            env,
            stats,
            a,
            m,
            &one(
                "mutant permission",
                MUTANT_TARGET,
                value,
                call_data(MUTANT_SELECTOR, &args),
                p,
            ),
            false,
        )
        .await;
    }

    // Signature: wrong key, bad proof, truncations, trailing bytes, mode, counts.
    let base = one(
        "base",
        Address::new([0x78; 20]),
        U256::ZERO,
        any_call(),
        idx::ANY,
    );
    let mut plan = base.clone();
    plan.wrong_key = true;
    plan.label = "wrong session key";
    assert_eq!(
        check(env, stats, a, m, &plan, false).await.aa_code(),
        Some("AA24")
    );
    let mut plan = base.clone();
    plan.entries[0].bad_proof = true;
    plan.label = "bad proof";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "PermissionNotInSession",
    );
    let full = build(env, a, m, &base).await.op.signature.len();
    for cut in [
        0,
        1,
        100,
        225,
        226,
        227,
        SESSION_LENGTH,
        SESSION_LENGTH + 1,
        SESSION_LENGTH + 2,
        SESSION_LENGTH + 3,
        400,
        full - 70,
        full - 66,
        full - 65,
        full - 1,
    ] {
        let mut plan = base.clone();
        plan.edit = SigEdit::Truncate(cut);
        plan.label = "truncated signature";
        check(env, stats, a, m, &plan, false).await;
    }
    for _ in 0..10 {
        let mut plan = base.clone();
        plan.edit = SigEdit::Truncate(rng.below(full));
        plan.label = "truncated signature";
        check(env, stats, a, m, &plan, false).await;
    }
    let mut plan = base.clone();
    plan.edit = SigEdit::Append(3);
    plan.label = "trailing bytes";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "SignatureTrailingBytes",
    );
    for byte in [2u8, 0xff] {
        let mut plan = base.clone();
        plan.mode = Mode::Raw(byte);
        plan.label = "unknown mode";
        expect_error(
            &check(env, stats, a, m, &plan, false).await,
            "UnknownSignatureMode",
        );
    }
    for _ in 0..25 {
        let mut plan = base.clone();
        plan.edit = SigEdit::Byte(rng.below(full), rng.next() as u8);
        plan.label = "signature byte";
        check(env, stats, a, m, &plan, false).await;
    }
    let mut plan = base.clone();
    plan.entries.push(Entry::new(idx::ANY));
    plan.label = "two entries, one call";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "CallCountMismatch",
    );

    // Execute calldata: other functions, modes, batch sizes, random corruption.
    let mut plan = base.clone();
    plan.call_data = call_data([0xde, 0xad, 0xbe, 0xef], &[]);
    plan.label = "not execute";
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "UnsupportedAccountCall",
    );
    for (position, byte) in [(4usize, 0xfe), (5, 0x01), (5, 0x02), (10, 0x01), (35, 0x01)] {
        let mut data = base.call_data.to_vec();
        data[position] = byte;
        let mut plan = base.clone();
        plan.call_data = data.into();
        plan.label = "execution mode";
        check(env, stats, a, m, &plan, false).await;
    }
    let batch = |count: usize| -> Plan {
        let calls: Vec<_> = (0..count)
            .map(|i| {
                (
                    Address::new([0x60 + (i % 16) as u8; 20]),
                    U256::ZERO,
                    any_call(),
                    idx::ANY,
                )
            })
            .collect();
        Plan::batch("batch", &calls)
    };
    for count in [0usize, 2, 32, 33] {
        let mut plan = batch(count);
        if count == 0 {
            plan.entries = vec![Entry::new(idx::ANY)];
        }
        check(env, stats, a, m, &plan, false).await;
    }
    let mut plan = batch(3);
    plan.entries.pop();
    expect_error(
        &check(env, stats, a, m, &plan, false).await,
        "CallCountMismatch",
    );
    for _ in 0..30 {
        let mut plan = batch(1 + rng.below(3));
        let mut data = plan.call_data.to_vec();
        match rng.below(3) {
            0 => {
                let at = 100 + rng.below(data.len() - 100);
                data[at] = rng.next() as u8;
            }
            1 => {
                let word = (rng.below(data.len() - 100) / 32) * 32 + 100;
                let value = rng.pick(&[
                    U256::ZERO,
                    U256::from(0x20),
                    U256::from(0x60),
                    U256::from(0x80),
                    U256::MAX,
                ]);
                data[word..word + 32].copy_from_slice(&value.to_be_bytes::<32>());
            }
            _ => {
                let keep = 100 + rng.below(data.len() - 100);
                data.truncate(keep);
            }
        }
        plan.call_data = data.into();
        plan.label = "corrupted batch";
        check(env, stats, a, m, &plan, false).await;
    }

    // Paymaster policies and session states.
    let pm = |address: Address| -> Bytes {
        let mut data = address.to_vec();
        data.extend_from_slice(&[0u8; 32]);
        data[20 + 15] = 0x01; // paymasterVerificationGasLimit 1 (counted in the fee)
        data.into()
    };
    let any_plan = |label| one(label, Address::new([0x78; 20]), U256::ZERO, any_call(), 0);
    let mut plan = any_plan("policy none, paymaster");
    plan.paymaster_and_data = pm(PAYMASTER);
    expect_error(
        &check(env, stats, a, &s.none_policy, &plan, false).await,
        "PaymasterNotAllowed",
    );
    assert!(check(
        env,
        stats,
        a,
        &s.none_policy,
        &any_plan("policy none, self-paid"),
        false
    )
    .await
    .is_accepted());
    expect_error(
        &check(
            env,
            stats,
            a,
            &s.required_policy,
            &any_plan("policy required, self-paid"),
            false,
        )
        .await,
        "PaymasterNotAllowed",
    );
    let mut plan = any_plan("policy exactly, other paymaster");
    plan.paymaster_and_data = pm(Address::new([0x9b; 20]));
    expect_error(
        &check(env, stats, a, &s.exact_policy, &plan, false).await,
        "PaymasterNotAllowed",
    );
    let mut plan = any_plan("policy exactly, its paymaster");
    plan.paymaster_and_data = pm(PAYMASTER);
    assert!(check(env, stats, a, &s.exact_policy, &plan, false)
        .await
        .is_accepted());
    expect_error(
        &check(
            env,
            stats,
            a,
            &s.revoked,
            &any_plan("revoked session"),
            false,
        )
        .await,
        "SessionNotActive",
    );
    expect_error(
        &check(
            env,
            stats,
            a,
            &s.unknown,
            &any_plan("unknown session"),
            false,
        )
        .await,
        "SessionNotActive",
    );
    let mut plan = any_plan("enable revoked session");
    plan.mode = Mode::Enable(true);
    expect_error(
        &check(env, stats, a, &s.revoked, &plan, false).await,
        "SessionIsRevoked",
    );
    let mut plan = any_plan("enable, bad owner signature");
    plan.mode = Mode::Enable(false);
    assert_eq!(
        check(env, stats, a, &s.enable, &plan, false)
            .await
            .aa_code(),
        Some("AA24")
    );
    for (word, value) in [
        (0usize, U256::from(1) << 160),
        (1, U256::from(1) << 48),
        (2, U256::ZERO),
        (1, U256::from(u64::MAX >> 16)),
        (4, U256::from(4)),
        (4, U256::from(0x103)),
        (4, U256::from(3)),
        (5, U256::from(1)),
        (0, U256::ZERO),
        // the fee words: uint128, so the high half must be zero; all ones in the low half is UNLIMITED_FEE
        (6, U256::from(1) << 128),
        (7, U256::from(1) << 255),
        (6, U256::MAX),
        (6, U256::from(u128::MAX)),
        (7, U256::from(u128::MAX)),
        (6, U256::ZERO),
        (7, U256::ZERO),
    ] {
        let mut bytes = s.enable.session.encode().to_vec();
        bytes[word * 32..word * 32 + 32].copy_from_slice(&value.to_be_bytes::<32>());
        let mut plan = any_plan("enable, session fields");
        plan.mode = Mode::Enable(true);
        plan.session_override = Some(bytes);
        check(env, stats, a, &s.enable, &plan, false).await;
    }
    let v = check(
        env,
        stats,
        &s.uninstalled,
        m,
        &any_plan("module not installed"),
        false,
    )
    .await;
    assert_eq!(v, Verdict::Rejected(Rejection::ModuleNotInstalled));
}

/// Sends accepted operations so that the counters move, and explains the limits as they are reached.
async fn counter_ops(env: &Env, stats: &mut Stats, s: &Setup, times: &Times) {
    let a = &s.account;
    let m = &s.main;
    let recipient = Address::new([0x77; 20]);

    // Native total 3e15, per call 1e15.
    for i in 0..4 {
        let plan = Plan::single(
            "native total",
            recipient,
            U256::from(10u64.pow(15)),
            Bytes::new(),
            idx::NATIVE,
        );
        let v = check(env, stats, a, m, &plan, true).await;
        if i == 3 {
            expect_error(&v, "NativeTotalExceeded");
        }
    }
    // ERC-20: transfer (≤ 600 each, 4 uses) and approve share the token's total of 1000.
    let transfer = |amount| {
        Plan::single(
            "erc20 transfer",
            TOKEN,
            U256::ZERO,
            erc20(TRANSFER, amount),
            idx::TRANSFER,
        )
    };
    assert!(check(env, stats, a, m, &transfer(600), true)
        .await
        .is_accepted());
    let approve = Plan::single(
        "erc20 approve",
        TOKEN,
        U256::ZERO,
        erc20(APPROVE, 401),
        idx::APPROVE,
    );
    expect_error(
        &check(env, stats, a, m, &approve, true).await,
        "Erc20TotalExceeded",
    );
    let approve = Plan::single(
        "erc20 approve",
        TOKEN,
        U256::ZERO,
        erc20(APPROVE, 300),
        idx::APPROVE,
    );
    assert!(check(env, stats, a, m, &approve, true).await.is_accepted());
    let both = Plan::batch(
        "erc20 batch",
        &[
            (TOKEN, U256::ZERO, erc20(TRANSFER, 50), idx::TRANSFER),
            (TOKEN, U256::ZERO, erc20(TRANSFER, 51), idx::TRANSFER),
        ],
    );
    expect_error(
        &check(env, stats, a, m, &both, true).await,
        "Erc20TotalExceeded",
    );
    assert!(check(env, stats, a, m, &transfer(50), true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, m, &transfer(0), true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, m, &transfer(0), true)
        .await
        .is_accepted());
    expect_error(
        &check(env, stats, a, m, &transfer(0), true).await,
        "UsageLimitReached",
    );

    // Rate limit: 2 uses per 50-second window, windows counted from `start - 1000`.
    let rate_start = times.start - 1000;
    let now = keyscope_e2e::now(env.client.provider()).await;
    let window = (now - rate_start) / 50 + 1;
    set_time(env, rate_start + window * 50 + 1).await;
    let rate = |k: u32| {
        let mut plan = Plan::single(
            "rate limit",
            RATE_TARGET,
            U256::ZERO,
            Bytes::from(RATE_SELECTOR.to_vec()),
            idx::RATE,
        );
        plan.entries[0].window = k;
        plan
    };
    let k = m.rate_window(idx::RATE, keyscope_e2e::now(env.client.provider()).await);
    assert_eq!(u64::from(k), window);
    // A window not yet open, and one that has closed: the EntryPoint's window check (AA22).
    assert_eq!(
        check(env, stats, a, m, &rate(k + 1), false).await.aa_code(),
        Some("AA22")
    );
    assert_eq!(
        check(env, stats, a, m, &rate(k - 1), false).await.aa_code(),
        Some("AA22")
    );
    assert!(check(env, stats, a, m, &rate(k), true).await.is_accepted());
    assert!(check(env, stats, a, m, &rate(k), true).await.is_accepted());
    expect_error(
        &check(env, stats, a, m, &rate(k), true).await,
        "RateLimitReached",
    );
    expect_error(
        &check(env, stats, a, m, &rate(k - 1), true).await,
        "RateLimitWindowPassed",
    );
    set_time(env, rate_start + (window + 1) * 50 + 1).await;
    let v = check(env, stats, a, m, &rate(k + 1), true).await;
    assert!(v.is_accepted(), "{v}");
    expect_error(
        &check(env, stats, a, m, &rate(k), true).await,
        "RateLimitWindowPassed",
    );

    // Enable mode, for real: the session becomes active.
    let plan = Plan::single(
        "enable",
        Address::new([0x78; 20]),
        U256::ZERO,
        Bytes::from(ANY_SELECTOR.to_vec()),
        0,
    );
    let mut enable = plan.clone();
    enable.mode = Mode::Enable(true);
    assert!(check(env, stats, a, &s.enable, &enable, true)
        .await
        .is_accepted());
    assert!(check(env, stats, a, &s.enable, &plan, true)
        .await
        .is_accepted());
}

/// The fee scope: every bound at and around its edge, arithmetic past 64 and 128 bits, budgets used up by sent
/// operations (single calls and batches alike count once), enable-mode replays that must not refill a budget.
async fn fee_ops(env: &Env, stats: &mut Stats, s: &Setup, rng: &mut Rng) {
    const GWEI: u128 = 1_000_000_000;
    const MAX_GAS_VALUE: u128 = (1 << 120) - 1;
    let a = &s.account;
    let f = &s.fees;
    let base = |label: &'static str, gas: Gas| {
        let mut plan = Plan::single(
            label,
            Address::new([0x78; 20]),
            U256::ZERO,
            Bytes::from(ANY_SELECTOR.to_vec()),
            0,
        );
        plan.gas = Some(gas);
        plan
    };
    let batch = |label: &'static str, gas: Gas| {
        let calls: Vec<_> = (0..3u8)
            .map(|i| {
                (
                    Address::new([0x60 + i; 20]),
                    U256::ZERO,
                    Bytes::from(ANY_SELECTOR.to_vec()),
                    0,
                )
            })
            .collect();
        let mut plan = Plan::batch(label, &calls);
        plan.gas = Some(gas);
        plan
    };
    let with_paymaster = |mut plan: Plan, verification: u128, post_op: u128| {
        plan.paymaster_and_data =
            keyscope::signer::userop::paymaster_and_data(PAYMASTER, verification, post_op, &[0xaa]);
        plan
    };
    let accepted = |v: &Verdict| assert!(v.is_accepted(), "{v}");

    // The per-operation bound, at the bound and one wei or one gas over, in gas at 1 wei and at 10 gwei.
    for (session, bound) in [
        (&f.bounded, CENTI_ETHER),
        (&f.per_operation_only, 2 * CENTI_ETHER),
    ] {
        let at = base("fee at the bound", Gas::costing(bound, 1, 0, 0));
        accepted(&check(env, stats, a, session, &at, false).await);
        let over = base("fee one wei over", Gas::costing(bound, 1, 0, 1));
        let v = check(env, stats, a, session, &over, false).await;
        expect_error(&v, "OperationFeeExceeded");
        assert!(
            v.to_string()
                .contains("over the session's per-operation fee limit of"),
            "{v}"
        );
        let at = base(
            "fee at the bound, 10 gwei",
            Gas::costing(bound, 10 * GWEI, 0, 0),
        );
        accepted(&check(env, stats, a, session, &at, false).await);
        let over = base(
            "fee one gas over, 10 gwei",
            Gas::costing(bound, 10 * GWEI, 0, 1),
        );
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        let far = base(
            "fee far over",
            Gas::new(600_000, 300_000, 100_000, 10_000 * GWEI),
        );
        expect_error(
            &check(env, stats, a, session, &far, false).await,
            "OperationFeeExceeded",
        );
        let over = batch("fee batch one wei over", Gas::costing(bound, 1, 0, 1));
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        // The paymaster's gas limits count, whoever pays: at the bound the validator accepts (and the
        // EntryPoint turns to the undeployed paymaster), one gas of post-op more and it refuses.
        let at = with_paymaster(
            base(
                "fee at the bound, paymaster gas",
                Gas::costing(bound, 10 * GWEI, 100_000, 0),
            ),
            60_000,
            40_000,
        );
        let v = check(env, stats, a, session, &at, false).await;
        accepted(&v);
        assert_eq!(v.validation().unwrap().fees.fee(), U256::from(bound), "{v}");
        let over = with_paymaster(
            base(
                "fee over, paymaster gas",
                Gas::costing(bound, 10 * GWEI, 100_000, 0),
            ),
            60_000,
            40_001,
        );
        expect_error(
            &check(env, stats, a, session, &over, false).await,
            "OperationFeeExceeded",
        );
        // Fewer than 52 bytes of paymasterAndData carry no gas limits for the validator (the EntryPoint
        // refuses them: AA93).
        let mut short = with_paymaster(
            base(
                "fee, short paymasterAndData",
                Gas::costing(bound, 10 * GWEI, 100_000, 0),
            ),
            u128::MAX,
            u128::MAX,
        );
        short.paymaster_and_data = short.paymaster_and_data.slice(..51);
        check(env, stats, a, session, &short, false).await;
    }

    // Values past what u64 and u128 arithmetic hold, and past the EntryPoint's 2^120 − 1 (AA94): refused by a
    // bounded scope, accepted by the validator under an unlimited one (then only the account's funds bound the
    // cost: AA21), refused by the zero scope unless maxFeePerGas is 0.
    let max = MAX_GAS_VALUE;
    let huge = [
        (
            "fee past u64",
            Gas::new(u128::from(u64::MAX), u128::from(u64::MAX), 1, 1),
        ),
        (
            "fee past u128",
            Gas::new(600_000, 300_000, 1 << 70, 1 << 70),
        ),
        (
            "fee of 2^127 gas",
            Gas::new(1 << 100, 1 << 100, 1 << 100, 1 << 27),
        ),
        (
            "fee at the EntryPoint's largest values",
            Gas {
                verification: max,
                call: max,
                pre_verification: U256::from(max),
                priority: max,
                max_fee: max,
            },
        ),
        (
            "fee, preVerificationGas 2^120",
            Gas::new(600_000, 300_000, max + 1, 1),
        ),
        (
            "fee, maxFeePerGas 2^120",
            Gas::new(600_000, 300_000, 100_000, max + 1),
        ),
        (
            "fee, preVerificationGas 2^128",
            Gas {
                pre_verification: U256::from(1) << 128,
                ..Gas::new(600_000, 300_000, 0, 1)
            },
        ),
        (
            "fee, preVerificationGas 2^256 - 1",
            Gas {
                pre_verification: U256::MAX,
                ..Gas::new(600_000, 300_000, 0, 0)
            },
        ),
        (
            "fee, gas limits summing past 2^128",
            Gas::new(u128::MAX, u128::MAX, 0, 1),
        ),
        (
            "fee, huge gas at maxFeePerGas 0",
            Gas::new(600_000, 300_000, 1 << 100, 0),
        ),
    ];
    for (label, gas) in huge {
        // zero only at maxFeePerGas 0 and gas that fits 128 bits: else the validator saturates to 2^256 - 1
        let fits = gas.pre_verification < U256::from(1) << 128
            && U256::from(gas.verification) + U256::from(gas.call) + gas.pre_verification
                < U256::from(1) << 128;
        let free = gas.max_fee == 0 && fits;
        let v = check(env, stats, a, &f.bounded, &base(label, gas), false).await;
        if !free {
            expect_error(&v, "OperationFeeExceeded");
        }
        let v = check(env, stats, a, &f.unlimited, &base(label, gas), false).await;
        accepted_by_validator(&v, label);
        let v = check(env, stats, a, &f.zero, &base(label, gas), false).await;
        if free {
            accepted_by_validator(&v, label);
        } else {
            expect_error(&v, "OperationFeeExceeded");
        }
        let v = check(env, stats, a, &f.budget_only, &base(label, gas), false).await;
        if !free {
            expect_error(&v, "FeeBudgetExceeded");
        }
    }
    let with_paymaster_gas = with_paymaster(
        base(
            "fee, paymaster gas past 2^128",
            Gas::new(600_000, 300_000, 0, 1),
        ),
        u128::MAX,
        1,
    );
    check(env, stats, a, &f.bounded, &with_paymaster_gas, false).await;
    check(env, stats, a, &f.unlimited, &with_paymaster_gas, false).await;

    // Random gas fields from values around the bounds and past the arithmetic's edges, under every fee scope.
    // (Verification and call gas stay where the account can run: gas itself is not what is compared here.)
    let bound_gas = CENTI_ETHER - 900_000;
    for _ in 0..20 {
        let pre_verification = rng.pick(&[
            U256::ZERO,
            U256::from(100_000),
            U256::from(bound_gas),
            U256::from(bound_gas + 1),
            U256::from(bound_gas - 1),
            U256::from(u64::MAX),
            U256::from(1) << 64,
            U256::from(max),
            U256::from(max) + U256::from(1),
            U256::from(1) << 128,
            U256::MAX,
        ]);
        let gas = Gas {
            verification: rng.pick(&[600_000, 1_000_000, 1 << 64, max, max + 1, u128::MAX]),
            call: rng.pick(&[0, 300_000]),
            pre_verification,
            priority: 0,
            max_fee: rng.pick(&[0, 1, 2, 10 * GWEI, u128::from(u64::MAX), max, max + 1]),
        };
        let gas = Gas {
            priority: gas.max_fee,
            ..gas
        };
        let session = rng.pick(&[
            &f.bounded,
            &f.unlimited,
            &f.per_operation_only,
            &f.budget_only,
            &f.zero,
        ]);
        let mut plan = if rng.chance(30) {
            batch("fee, random gas", gas)
        } else {
            base("fee, random gas", gas)
        };
        if rng.chance(30) {
            plan = with_paymaster(
                plan,
                rng.pick(&[0, 50_000, max, u128::MAX]),
                rng.pick(&[0, 1, 50_000, max + 1]),
            );
        }
        check(env, stats, a, session, &plan, false).await;
    }

    // Unlimited: sent ops leave the counter at zero; a per-operation bound alone does too.
    let ordinary = || {
        base(
            "fee, ordinary",
            Gas::new(600_000, 300_000, 100_000, 10 * GWEI),
        )
    };
    accepted(&check(env, stats, a, &f.unlimited, &ordinary(), true).await);
    let at = base(
        "fee at the bound, no budget",
        Gas::costing(2 * CENTI_ETHER, 10 * GWEI, 0, 0),
    );
    accepted(&check(env, stats, a, &f.per_operation_only, &at, true).await);
    assert_eq!(
        fees_charged(env, a, f.per_operation_only.id()).await,
        U256::ZERO
    );
    // The zero scope: only free operations, sent too.
    let free = base("fee, free", Gas::new(600_000, 300_000, 100_000, 0));
    accepted(&check(env, stats, a, &f.zero, &free, true).await);
    expect_error(
        &check(
            env,
            stats,
            a,
            &f.zero,
            &base("fee, one wei a gas", Gas::new(600_000, 300_000, 100_000, 1)),
            false,
        )
        .await,
        "OperationFeeExceeded",
    );

    // Budgets used up by sent operations: 0.035 ether, operations of 0.01 ether (batches count once).
    for (session, per_operation) in [(&f.bounded, true), (&f.budget_only, false)] {
        if per_operation {
            // over the per-operation bound with the whole budget left: the per-operation bound is checked first
            let over = base(
                "budget, one wei over the bound",
                Gas::costing(CENTI_ETHER, 1, 0, 1),
            );
            expect_error(
                &check(env, stats, a, session, &over, false).await,
                "OperationFeeExceeded",
            );
        }
        for i in 0..3 {
            let plan = if i == 1 {
                batch("budget, batch", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0))
            } else {
                base("budget", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0))
            };
            let v = check(env, stats, a, session, &plan, true).await;
            accepted(&v);
            assert_eq!(
                v.validation().unwrap().fees.charged_after,
                U256::from((i + 1) * CENTI_ETHER)
            );
        }
        let v = check(
            env,
            stats,
            a,
            session,
            &base("budget, over", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0)),
            true,
        )
        .await;
        expect_error(&v, "FeeBudgetExceeded");
        assert!(v.to_string().contains("already charged"), "{v}");
        let half = CENTI_ETHER / 2;
        expect_error(
            &check(
                env,
                stats,
                a,
                session,
                &base("budget, one wei over", Gas::costing(half, 1, 0, 1)),
                true,
            )
            .await,
            "FeeBudgetExceeded",
        );
        let v = check(
            env,
            stats,
            a,
            session,
            &base("budget, exactly the rest", Gas::costing(half, GWEI, 0, 0)),
            true,
        )
        .await;
        accepted(&v);
        assert_eq!(v.validation().unwrap().fees.budget_left(), Some(U256::ZERO));
        accepted(&check(env, stats, a, session, &free, true).await);
        expect_error(
            &check(
                env,
                stats,
                a,
                session,
                &base(
                    "budget spent, one wei a gas",
                    Gas::new(600_000, 300_000, 100_000, 1),
                ),
                true,
            )
            .await,
            "FeeBudgetExceeded",
        );
        assert_eq!(
            fees_charged(env, a, session.id()).await,
            U256::from(35 * CENTI_ETHER / 10)
        );
    }

    // Enable mode: the session starts at zero; enabling it again (replaying the owner's signature) keeps the
    // counter. 0.02 ether per operation, 0.025 ether in all.
    let enabled = &f.enabled;
    let mut plan = base("enable, fee", Gas::costing(CENTI_ETHER, 10 * GWEI, 0, 0));
    plan.mode = Mode::Enable(true);
    let v = check(env, stats, a, enabled, &plan, true).await;
    accepted(&v);
    assert_eq!(v.validation().unwrap().fees.charged_before, U256::ZERO);
    plan.label = "enable again, fee";
    let v = check(env, stats, a, enabled, &plan, true).await;
    accepted(&v);
    assert_eq!(
        v.validation().unwrap().fees.charged_after,
        U256::from(2 * CENTI_ETHER)
    );
    let mut use_mode = plan.clone();
    use_mode.mode = Mode::Use;
    use_mode.label = "enabled, budget over";
    expect_error(
        &check(env, stats, a, enabled, &use_mode, true).await,
        "FeeBudgetExceeded",
    );
    plan.label = "enable again, budget over";
    expect_error(
        &check(env, stats, a, enabled, &plan, true).await,
        "FeeBudgetExceeded",
    );
    let mut rest = base(
        "enable again, the rest",
        Gas::costing(CENTI_ETHER / 2, GWEI, 0, 0),
    );
    rest.mode = Mode::Enable(true);
    accepted(&check(env, stats, a, enabled, &rest, true).await);
    assert_eq!(
        fees_charged(env, a, enabled.id()).await,
        U256::from(25 * CENTI_ETHER / 10)
    );
}

/// The validator accepts (the chain may still refuse: AA94, AA21, the paymaster).
fn accepted_by_validator(verdict: &Verdict, label: &str) {
    assert!(
        verdict.is_accepted(),
        "{label}: expected the validator to accept, got {verdict}"
    );
}

/// The permission whose window is `[times.boundary, times.boundary + 2]`, at `times.boundary - 1 + offset`: v0.7
/// accepts from its first second on, v0.8 only after it; both until its last second.
async fn boundary_ops(env: &Env, stats: &mut Stats, s: &Setup, offset: u64) {
    let plan = Plan::single(
        "window boundary",
        TIMED_TARGET,
        U256::ZERO,
        Bytes::from(BOUNDARY_SELECTOR.to_vec()),
        idx::BOUNDARY,
    );
    let v = check(env, stats, &s.account, &s.main, &plan, false).await;
    let first = match s.account.version {
        Version::V07 => 1,
        Version::V08 => 2,
    };
    let expected = if (first..=3).contains(&offset) {
        None
    } else {
        Some("AA22")
    };
    assert_eq!(v.aa_code(), expected, "{v}");
}

/// After revokeAllSessions nothing of the old epoch works.
async fn epoch_ops(env: &Env, stats: &mut Stats, s: &Setup) {
    // the main session's budget was charged by the operations sent
    assert!(fees_charged(env, &s.account, s.main.id()).await > U256::ZERO);
    env.client
        .revoke_all_sessions(&s.account, &env.owner)
        .await
        .unwrap();
    let plan = Plan::single(
        "after revoke all",
        RULES_TARGET,
        U256::ZERO,
        call_data(RULES_SELECTOR, &valid_args()),
        idx::RULES,
    );
    expect_error(
        &check(env, stats, &s.account, &s.main, &plan, false).await,
        "SessionNotActive",
    );
    // Granted again in the new epoch: the counters start over.
    env.client
        .grant_session(&s.account, &env.owner, &s.main.session)
        .await
        .unwrap();
    let transfer = Plan::single(
        "new epoch",
        TOKEN,
        U256::ZERO,
        erc20(TRANSFER, 600),
        idx::TRANSFER,
    );
    let v = check(env, stats, &s.account, &s.main, &transfer, false).await;
    assert!(v.is_accepted(), "{v}");
    // ... the fee counter too
    assert_eq!(v.validation().unwrap().fees.charged_before, U256::ZERO);
    assert_eq!(fees_charged(env, &s.account, s.main.id()).await, U256::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_agrees_with_the_chain() {
    let started = Instant::now();
    let anvil = keyscope_e2e::anvil();
    let client = keyscope_e2e::client(&anvil).await.with_gas(GasSettings {
        max_priority_fee_per_gas: Some(1_000_000_000),
        max_fee_per_gas: Some(20_000_000_000),
        ..GasSettings::default()
    });
    let env = Env {
        _anvil: anvil,
        client,
        owner: SessionKey::from_bytes(&[0x0a; 32]).unwrap(),
        other_key: SessionKey::from_bytes(&[0x0b; 32]).unwrap(),
    };
    // Deterministic; `KEYSCOPE_EXPLAIN_SEED=<u64>` explores other operations.
    let seed = std::env::var("KEYSCOPE_EXPLAIN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b65_7973_636f_7065);
    let mut rng = Rng(seed);
    let mut stats = Stats::default();
    let start = keyscope_e2e::now(env.client.provider()).await;
    let times = Times {
        start,
        boundary: start + 100_000,
    };
    let mut setups = vec![];
    for version in [Version::V07, Version::V08] {
        setups.push(setup(&env, version, &times, &mut rng).await);
    }
    for s in &setups {
        static_ops(&env, &mut stats, s, &mut rng).await;
    }
    for s in &setups {
        counter_ops(&env, &mut stats, s, &times).await;
    }
    for s in &setups {
        fee_ops(&env, &mut stats, s, &mut rng).await;
    }
    // The boundary permission's window is [boundary, boundary + 2].
    for at in times.boundary - 1..=times.boundary + 3 {
        set_time(&env, at).await;
        for s in &setups {
            boundary_ops(&env, &mut stats, s, at + 1 - times.boundary).await;
        }
    }
    for s in &setups {
        epoch_ops(&env, &mut stats, s).await;
    }

    let elapsed = started.elapsed();
    println!(
        "{} operations compared ({} sent) in {:.1} s",
        stats.compared,
        stats.sent,
        elapsed.as_secs_f64()
    );
    for (outcome, count) in &stats.by_outcome {
        println!("{count:5}  {outcome}");
    }
    println!("sample explanations:");
    for (outcome, sample) in &stats.samples {
        println!("  [{outcome}] {sample}");
    }
    assert!(stats.compared >= 300, "{} operations", stats.compared);
    // Every kind of outcome was exercised.
    for expected in [
        "accepted",
        "AA22",
        "AA24",
        "AA23 ArgumentRuleFailed",
        "AA23 (empty revert)",
        "AA23 OperationFeeExceeded",
        "AA23 FeeBudgetExceeded",
        "AA23 MalformedSession",
        "AA94 (gas values overflow)",
        "AA93 (short paymasterAndData)",
        "accepted by the validator, AA21 (prefund)",
    ] {
        assert!(stats.by_outcome.contains_key(expected), "no {expected}");
    }
}

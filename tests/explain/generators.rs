//! The generators: deterministic randomness, the permissions and sessions under test (well-formed, ill-formed
//! and non-canonically encoded), and the calldata and rule boundaries the operations use.

use alloy::primitives::{aliases::U48, keccak256, Address, Bytes, FixedBytes, B256, I256, U256};
use keyscope::permissions::abi::encode_permission;
use keyscope::permissions::{
    ArgRule, Permission, PermissionTree, RuleOperator, Session, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD,
};
use keyscope::signer::SessionKey;

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------------------------

/// SplitMix64: deterministic, no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn word(&mut self) -> U256 {
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

pub(crate) fn rule(operator: RuleOperator, arg: u16, operands: Vec<B256>) -> ArgRule {
    ArgRule {
        operator: operator as u8,
        argIndex: arg,
        operands,
    }
}

pub(crate) fn permission(target: Address, selector: [u8; 4], flags: u8) -> Permission {
    Permission {
        target,
        selector: FixedBytes(selector),
        flags,
        ..Default::default()
    }
}

pub(crate) const RULES_TARGET: Address = Address::new([0x10; 20]);
pub(crate) const TOKEN: Address = Address::new([0x20; 20]);
pub(crate) const RATE_TARGET: Address = Address::new([0x30; 20]);
pub(crate) const TIMED_TARGET: Address = Address::new([0x40; 20]);
pub(crate) const MUTANT_TARGET: Address = Address::new([0x50; 20]);
pub(crate) const ANY_SELECTOR: [u8; 4] = [0xa1, 0xa2, 0xa3, 0xa4];
pub(crate) const RULES_SELECTOR: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
pub(crate) const RATE_SELECTOR: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];
pub(crate) const FUTURE_SELECTOR: [u8; 4] = [0x0f, 0x0f, 0x0f, 0x0f];
pub(crate) const BOUNDARY_SELECTOR: [u8; 4] = [0xb0, 0xb0, 0xb0, 0xb0];
pub(crate) const MUTANT_SELECTOR: [u8; 4] = [0x5e, 0x1e, 0xc7, 0x00];
pub(crate) const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
pub(crate) const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

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
pub(crate) fn valid_args() -> Vec<U256> {
    [
        7, 1, 99, 100, 101, 100, -6, -5, -4, -5, 2, 15, 0, 0x35, 0, 0,
    ]
    .iter()
    .map(|v| int(*v))
    .collect()
}

/// Values around rule `r`'s operands, and the extremes.
pub(crate) fn boundaries(r: usize) -> Vec<U256> {
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

pub(crate) fn call_data(selector: [u8; 4], args: &[U256]) -> Bytes {
    let mut data = selector.to_vec();
    for arg in args {
        data.extend_from_slice(&arg.to_be_bytes::<32>());
    }
    data.into()
}

pub(crate) fn erc20(selector: [u8; 4], amount: u64) -> Bytes {
    call_data(selector, &[U256::from(0x4242), U256::from(amount)])
}

pub(crate) struct Times {
    /// Start of the sessions.
    pub(crate) start: u64,
    /// validAfter of the boundary permission.
    pub(crate) boundary: u64,
}

/// Indices of the main session's permissions.
pub(crate) mod idx {
    pub(crate) const RULES: usize = 0;
    pub(crate) const NATIVE: usize = 1;
    pub(crate) const TRANSFER: usize = 2;
    pub(crate) const APPROVE: usize = 3;
    pub(crate) const RATE: usize = 4;
    pub(crate) const FUTURE: usize = 5;
    pub(crate) const BOUNDARY: usize = 6;
    pub(crate) const ANY: usize = 7;
    /// Permissions that the validator refuses as such (bad flags, rules …): `WEIRD..MUTANTS`.
    pub(crate) const WEIRD: usize = 8;
}

/// The main session's permissions, as leaf preimages: the well-formed ones, the ill-formed ones (canonically
/// encoded), and `mutants` non-canonical encodings of a 3-rule permission.
pub(crate) fn main_permissions(
    times: &Times,
    rng: &mut Rng,
    mutants: usize,
) -> (Vec<Vec<u8>>, usize) {
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
        permission(RULES_TARGET, RULES_SELECTOR, 0x20),
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
    // Allowances per period: FLAG_PER_PERIOD alone (no total flag; a period of 60 s from 0), ...
    let mut p = permission(RULES_TARGET, RULES_SELECTOR, FLAG_PER_PERIOD);
    p.rateLimitInterval = U48::from(60);
    ill_formed.push(encode_permission(&p));
    // ... with a total flag but periods of length 0, ...
    let mut p = permission(
        RULES_TARGET,
        RULES_SELECTOR,
        FLAG_PER_PERIOD | FLAG_NATIVE_TOTAL,
    );
    p.nativeTotalLimit = U256::from(5);
    ill_formed.push(encode_permission(&p));
    // ... and an ERC-20 allowance per period on a call that is not an ERC-20 movement.
    let mut p = permission(
        RULES_TARGET,
        RULES_SELECTOR,
        FLAG_PER_PERIOD | FLAG_ERC20_TOTAL,
    );
    p.erc20TotalLimit = U256::from(5);
    p.rateLimitInterval = U48::from(60);
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

/// Indices of the periods session's permissions ([`period_permissions`]).
pub(crate) mod pidx {
    /// Native transfers to anyone: 0.001 ether per call, 0.002 ether per period.
    pub(crate) const NATIVE: usize = 0;
    /// TOKEN transfers, 1000 per period.
    pub(crate) const TRANSFER: usize = 1;
    /// TOKEN approvals, 500 per period, summed with the transfers (same period definition).
    pub(crate) const APPROVE: usize = 2;
    /// TOKEN transfers, 1000 per period, periods 30 s later: their own spending.
    pub(crate) const SHIFTED: usize = 3;
    /// TOKEN transfers with a rate limit of 2 per period, summed with the transfers.
    pub(crate) const RATE: usize = 4;
    /// TOKEN2 transfers with an allowance of 2^256 − 1 per period (the validator caps spending at 2^224 − 1).
    pub(crate) const UNBOUNDED: usize = 5;
    /// Native transfers, 1000 wei per UTC day (periods of 86400 s from 0).
    pub(crate) const DAILY: usize = 6;
    /// Native transfers whose first period starts in the future.
    pub(crate) const FUTURE: usize = 7;
}

/// A second token (no code: its calls succeed without effect).
pub(crate) const TOKEN2: Address = Address::new([0x21; 20]);
/// The length of the periods session's periods.
pub(crate) const PERIOD: u64 = 100;

/// The start of period 0 of the periods session's permissions (but the shifted, daily and future ones).
pub(crate) fn period_zero(times: &Times) -> u64 {
    times.start - 10_000
}

/// The periods session's permissions (see [`pidx`]): allowances per period (`FLAG_PER_PERIOD`).
pub(crate) fn period_permissions(times: &Times) -> Vec<Vec<u8>> {
    let start = period_zero(times);
    let periodic = |target: Address, selector: [u8; 4], flags: u8, limit: U256| {
        let mut p = permission(target, selector, flags | FLAG_PER_PERIOD);
        if flags & FLAG_NATIVE_TOTAL != 0 {
            p.nativeTotalLimit = limit;
        } else {
            p.erc20TotalLimit = limit;
        }
        p.validAfter = U48::from(start);
        p.rateLimitInterval = U48::from(PERIOD);
        p
    };
    let native_flags = FLAG_ANY_TARGET | FLAG_NATIVE_TRANSFER | FLAG_NATIVE_TOTAL;
    let mut native = periodic(
        Address::ZERO,
        [0; 4],
        native_flags,
        U256::from(2_000_000_000_000_000u64),
    );
    native.valueLimit = U256::from(1_000_000_000_000_000u64);
    let transfer = periodic(TOKEN, TRANSFER, FLAG_ERC20_TOTAL, U256::from(1000));
    let approve = periodic(TOKEN, APPROVE, FLAG_ERC20_TOTAL, U256::from(500));
    let mut shifted = transfer.clone();
    shifted.validAfter = U48::from(start + 30);
    let mut rate = transfer.clone();
    rate.rateLimitCount = 2;
    let unbounded = periodic(TOKEN2, TRANSFER, FLAG_ERC20_TOTAL, U256::MAX);
    let mut daily = periodic(Address::ZERO, [0; 4], native_flags, U256::from(1000));
    daily.valueLimit = U256::from(1000);
    daily.validAfter = U48::ZERO;
    daily.rateLimitInterval = U48::from(86_400);
    let mut future = native.clone();
    future.validAfter = U48::from(times.start + 500_000);
    [
        native, transfer, approve, shifted, rate, unbounded, daily, future,
    ]
    .iter()
    .map(encode_permission)
    .collect()
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
        // FLAG_PER_PERIOD, alone and with FLAG_NATIVE_TOTAL
        U256::from(0x10),
        U256::from(0x14),
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

/// 0.01 ether.
pub(crate) const CENTI_ETHER: u128 = 10_000_000_000_000_000;
/// The fee scope of the sessions that are not about fees: at most 0.05 ether per operation (the client's gas
/// settings make an operation cost at most 0.0312 ether), 5 ether in all.
const DEFAULT_FEES: (u128, u128) = (5 * CENTI_ETHER, 500 * CENTI_ETHER);

pub(crate) struct TestSession {
    pub(crate) session: Session,
    pub(crate) encodings: Vec<Vec<u8>>,
    pub(crate) tree: PermissionTree,
    pub(crate) key: SessionKey,
}

impl TestSession {
    pub(crate) fn new(
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
    pub(crate) fn with_fees(mut self, (max_operation_fee, fee_budget): (u128, u128)) -> Self {
        self.session.maxOperationFee = max_operation_fee;
        self.session.feeBudget = fee_budget;
        self
    }

    pub(crate) fn id(&self) -> B256 {
        self.session.id()
    }

    pub(crate) fn rate_window(&self, index: usize, now: u64) -> u32 {
        keyscope::permissions::decode_permission(&self.encodings[index])
            .map(|p| p.rate_limit_window(now))
            .unwrap_or(0)
    }
}

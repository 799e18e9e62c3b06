//! The contract's types, byte for byte: `SessionTypes` of `ISessionKeyValidator.sol`.
//!
//! The structs are declared with [`alloy_sol_types::sol!`] exactly as in Solidity, except that the two enums are
//! declared `uint8` (their ABI and EIP-712 encoding), so that any byte can be represented and decoded; the typed
//! enums are [`RuleOperator`] and [`PaymasterPolicyKind`].

#![allow(missing_docs)] // the sol! expansion documents the structs, not every generated item

use alloy_primitives::{aliases::U48, b256, keccak256, Address, FixedBytes, B256, U256};
use alloy_sol_types::{SolStruct, SolValue};

use crate::error::{Error, Result};

alloy_sol_types::sol! {
    /// A session granted by an account's owner to a temporary signing key (`SessionTypes.Session`).
    #[derive(Debug, PartialEq, Eq, Hash, Default)]
    struct Session {
        /// The session key (secp256k1 address). Never zero.
        address signer;
        /// First second the session is valid (inclusive).
        uint48 validAfter;
        /// Last second the session is valid (inclusive); non-zero and >= validAfter.
        uint48 validUntil;
        /// Merkle root of the session's permissions.
        bytes32 permissionsRoot;
        /// `PaymasterPolicy` as its `uint8` value.
        uint8 paymasterPolicy;
        /// The paymaster for `PaymasterPolicy.Exactly`; zero otherwise.
        address paymaster;
        /// Most wei one operation may cost (its required prefund, whoever pays); `UNLIMITED_FEE`: no bound.
        uint128 maxOperationFee;
        /// Most wei all the session's operations may cost together, each charged its maximum;
        /// `UNLIMITED_FEE`: no budget.
        uint128 feeBudget;
        /// Free value that tells apart sessions that are otherwise identical.
        bytes32 salt;
    }

    /// A condition on one static argument of a call (`SessionTypes.ArgRule`).
    #[derive(Debug, PartialEq, Eq, Hash, Default)]
    struct ArgRule {
        /// `RuleOperator` as its `uint8` value.
        uint8 operator;
        /// Index of the argument's 32-byte head word.
        uint16 argIndex;
        /// The comparison's operands.
        bytes32[] operands;
    }

    /// One thing a session key may do: one Merkle leaf (`SessionTypes.Permission`).
    #[derive(Debug, PartialEq, Eq, Hash, Default)]
    struct Permission {
        /// The contract called; zero with `FLAG_ANY_TARGET`.
        address target;
        /// The function selector; zero with `FLAG_NATIVE_TRANSFER`.
        bytes4 selector;
        /// Bit set of `FLAG_*`.
        uint8 flags;
        /// Most native value one call may send.
        uint256 valueLimit;
        /// With `FLAG_NATIVE_TOTAL`: most native value the session may send in all.
        uint256 nativeTotalLimit;
        /// With `FLAG_ERC20_TOTAL`: most amount of the target token the session may move.
        uint256 erc20TotalLimit;
        /// First second the permission is valid.
        uint48 validAfter;
        /// Last second the permission is valid (0: the session's).
        uint48 validUntil;
        /// Most uses of this permission in the session (0: unlimited).
        uint32 maxUses;
        /// Most uses per rate-limit window (0: no rate limit).
        uint32 rateLimitCount;
        /// Length of a rate-limit window in seconds.
        uint48 rateLimitInterval;
        /// Conditions on static arguments; all must hold.
        ArgRule[] rules;
    }
}

/// The permission matches native transfers only: calls with empty calldata.
pub const FLAG_NATIVE_TRANSFER: u8 = 1;
/// The permission matches any target (but never the account, the validator or address(0)).
pub const FLAG_ANY_TARGET: u8 = 2;
/// The call's native value counts against `nativeTotalLimit`.
pub const FLAG_NATIVE_TOTAL: u8 = 4;
/// The call is an ERC-20 movement whose amount counts against `erc20TotalLimit`.
pub const FLAG_ERC20_TOTAL: u8 = 8;
/// `nativeTotalLimit` and `erc20TotalLimit` are allowances per period of `rateLimitInterval` seconds from
/// `validAfter`, not lifetime totals; needs `FLAG_NATIVE_TOTAL` or `FLAG_ERC20_TOTAL` and a non-zero interval.
pub const FLAG_PER_PERIOD: u8 = 16;
/// Every flag a call permission may carry (`SessionTypes.ALL_FLAGS`); a permission with a flag outside it is never
/// usable for calls. [`FLAG_TYPED_DATA`] is not in it.
pub const ALL_FLAGS: u8 = 31;
/// The permission lets the session key sign EIP-712 typed data for the account (ERC-1271 through ERC-7739's nested
/// `TypedDataSign`), never make a call: a user operation presenting it fails (`InvalidPermissionFlags`). It carries
/// no other flag; `target` is the app's verifying contract (never the account, the validator or address(0));
/// argument k of its rules is word k of the contents' `typeHash ‖ encodeData` (0 is the type hash, k >= 1 the k-th
/// member), and rule 0 must pin the type: `Eq` on argument 0. Its window applies; selector, value, totals, uses and
/// rate limits must be zero (a signature check cannot count). Call permissions are never usable for signatures.
pub const FLAG_TYPED_DATA: u8 = 32;

/// userOp.signature mode: use an already granted session.
pub const MODE_USE: u8 = 0;
/// userOp.signature mode: grant the session with the owner's signature, then use it.
pub const MODE_ENABLE: u8 = 1;
/// userOp.signature mode: grant the session with the owner's one signature for several chains (over the root of a
/// tree of (chainId, account, epoch, sessionId) leaves, this chain's leaf proven in the signature), then use it.
pub const MODE_ENABLE_MULTICHAIN: u8 = 2;

/// Most calls in one batch (`SessionKeyValidator.MAX_CALLS`).
pub const MAX_CALLS: usize = 32;
/// Most argument rules in one permission (`SessionKeyValidator.MAX_RULES`).
pub const MAX_RULES: usize = 32;
/// Most operands of a OneOf rule (`SessionKeyValidator.MAX_ONE_OF`).
pub const MAX_ONE_OF: usize = 64;
/// Length of `abi.encode(Session)`: nine words.
pub const SESSION_LENGTH: usize = 288;

/// `Session.maxOperationFee` / `Session.feeBudget` value that turns that bound off (`SessionTypes.UNLIMITED_FEE`).
pub const UNLIMITED_FEE: u128 = u128::MAX;

/// The EIP-712 type string of a session.
pub const SESSION_TYPE: &str = "Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)";
/// `keccak256(SESSION_TYPE)`.
pub const SESSION_TYPEHASH: B256 =
    b256!("f2e43984693d37835ec342616e9d34a2b61559dd131090b2e4592e58fd0cf8df");
/// The EIP-712 type string the owner signs to enable a session.
pub const ENABLE_SESSION_TYPE: &str = "EnableSession(address account,uint64 epoch,Session session)Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)";
/// `keccak256(ENABLE_SESSION_TYPE)`.
pub const ENABLE_SESSION_TYPEHASH: B256 =
    b256!("74be129fc9b2c9d6df91f9591bdbae6b3dfc24e1cac7a2787b66a48027f3e3d3");

/// The EIP-712 type string the owner signs once to enable sessions on several chains: `chainsRoot` is the root of
/// a sorted-pair Merkle tree of `keccak256(bytes.concat(keccak256(abi.encode(chainId, account, epoch, sessionId))))`
/// leaves.
pub const ENABLE_SESSIONS_TYPE: &str = "EnableSessions(bytes32 chainsRoot)";
/// `keccak256(ENABLE_SESSIONS_TYPE)` (`SessionTypes.ENABLE_SESSIONS_TYPEHASH`).
pub const ENABLE_SESSIONS_TYPEHASH: B256 =
    b256!("5330057733ef7c65ac71cc9567e131ed5bb3c9b5e92ad9927d84739a236417ad");
/// The EIP-712 domain type of the multichain digest: name, version and verifying contract, no chain id.
pub const MULTICHAIN_DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,address verifyingContract)";
/// `keccak256(MULTICHAIN_DOMAIN_TYPE)` (`SessionTypes.MULTICHAIN_DOMAIN_TYPEHASH`).
pub const MULTICHAIN_DOMAIN_TYPEHASH: B256 =
    b256!("91ab3d17e3a50a9d89e63fd30b92be7f5336b03b287bb946787a83a9d62a2766");

/// `transfer(address,uint256)`.
pub const SELECTOR_TRANSFER: FixedBytes<4> = FixedBytes([0xa9, 0x05, 0x9c, 0xbb]);
/// `transferFrom(address,address,uint256)`.
pub const SELECTOR_TRANSFER_FROM: FixedBytes<4> = FixedBytes([0x23, 0xb8, 0x72, 0xdd]);
/// `approve(address,uint256)`.
pub const SELECTOR_APPROVE: FixedBytes<4> = FixedBytes([0x09, 0x5e, 0xa7, 0xb3]);
/// `increaseAllowance(address,uint256)`.
pub const SELECTOR_INCREASE_ALLOWANCE: FixedBytes<4> = FixedBytes([0x39, 0x50, 0x93, 0x51]);

/// Whether `selector` is one of the four ERC-20 movements `FLAG_ERC20_TOTAL` counts, and if so the head-word
/// index of its amount argument.
pub fn erc20_amount_arg(selector: FixedBytes<4>) -> Option<u16> {
    if selector == SELECTOR_TRANSFER
        || selector == SELECTOR_APPROVE
        || selector == SELECTOR_INCREASE_ALLOWANCE
    {
        Some(1)
    } else if selector == SELECTOR_TRANSFER_FROM {
        Some(2)
    } else {
        None
    }
}

/// How an argument rule compares an argument word with its operands (`SessionTypes.RuleOperator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RuleOperator {
    /// `arg == operands[0]`
    Eq = 0,
    /// `arg != operands[0]`
    Ne = 1,
    /// `arg < operands[0]`, unsigned
    Lt = 2,
    /// `arg <= operands[0]`, unsigned
    Lte = 3,
    /// `arg > operands[0]`, unsigned
    Gt = 4,
    /// `arg >= operands[0]`, unsigned
    Gte = 5,
    /// `arg < operands[0]`, signed
    SignedLt = 6,
    /// `arg <= operands[0]`, signed
    SignedLte = 7,
    /// `arg > operands[0]`, signed
    SignedGt = 8,
    /// `arg >= operands[0]`, signed
    SignedGte = 9,
    /// arg is one of the operands (1 to 64)
    OneOf = 10,
    /// `operands[0] <= arg <= operands[1]`, unsigned
    InRange = 11,
    /// `operands[0] <= arg <= operands[1]`, signed
    SignedInRange = 12,
    /// `(arg & operands[0]) == operands[1]`
    Bitmask = 13,
}

impl RuleOperator {
    /// Every operator, in contract order.
    pub const ALL: [Self; 14] = [
        Self::Eq,
        Self::Ne,
        Self::Lt,
        Self::Lte,
        Self::Gt,
        Self::Gte,
        Self::SignedLt,
        Self::SignedLte,
        Self::SignedGt,
        Self::SignedGte,
        Self::OneOf,
        Self::InRange,
        Self::SignedInRange,
        Self::Bitmask,
    ];

    /// The operator with this `uint8` value.
    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// Its JSON name: `eq`, `signed_lt`, `one_of` …
    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::SignedLt => "signed_lt",
            Self::SignedLte => "signed_lte",
            Self::SignedGt => "signed_gt",
            Self::SignedGte => "signed_gte",
            Self::OneOf => "one_of",
            Self::InRange => "in_range",
            Self::SignedInRange => "signed_in_range",
            Self::Bitmask => "bitmask",
        }
    }

    /// The operator of a JSON name (see [`Self::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether it compares as two's complement signed integers.
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Self::SignedLt
                | Self::SignedLte
                | Self::SignedGt
                | Self::SignedGte
                | Self::SignedInRange
        )
    }

    /// The signed variant of an unsigned comparison (itself for the others).
    pub fn to_signed(self) -> Self {
        match self {
            Self::Lt => Self::SignedLt,
            Self::Lte => Self::SignedLte,
            Self::Gt => Self::SignedGt,
            Self::Gte => Self::SignedGte,
            Self::InRange => Self::SignedInRange,
            other => other,
        }
    }

    /// The unsigned variant of a signed comparison (itself for the others).
    pub fn to_unsigned(self) -> Self {
        match self {
            Self::SignedLt => Self::Lt,
            Self::SignedLte => Self::Lte,
            Self::SignedGt => Self::Gt,
            Self::SignedGte => Self::Gte,
            Self::SignedInRange => Self::InRange,
            other => other,
        }
    }

    /// Whether `count` operands is what the contract accepts for this operator.
    pub fn accepts_operand_count(self, count: usize) -> bool {
        match self {
            Self::OneOf => (1..=MAX_ONE_OF).contains(&count),
            Self::InRange | Self::SignedInRange | Self::Bitmask => count == 2,
            _ => count == 1,
        }
    }

    /// Evaluates the rule on an argument word exactly as `SessionKeyValidator._checkRule` does (operand count
    /// not checked: a wrong count is `false`).
    pub fn evaluate(self, arg: B256, operands: &[B256]) -> bool {
        if !self.accepts_operand_count(operands.len()) {
            return false;
        }
        let a = U256::from_be_bytes(arg.0);
        let word = |i: usize| U256::from_be_bytes(operands[i].0);
        let signed = |x: U256| alloy_primitives::I256::from_raw(x);
        match self {
            Self::Eq => arg == operands[0],
            Self::Ne => arg != operands[0],
            Self::Lt => a < word(0),
            Self::Lte => a <= word(0),
            Self::Gt => a > word(0),
            Self::Gte => a >= word(0),
            Self::SignedLt => signed(a) < signed(word(0)),
            Self::SignedLte => signed(a) <= signed(word(0)),
            Self::SignedGt => signed(a) > signed(word(0)),
            Self::SignedGte => signed(a) >= signed(word(0)),
            Self::OneOf => operands.contains(&arg),
            Self::InRange => word(0) <= a && a <= word(1),
            Self::SignedInRange => signed(word(0)) <= signed(a) && signed(a) <= signed(word(1)),
            Self::Bitmask => (arg & operands[0]) == operands[1],
        }
    }
}

impl core::fmt::Display for RuleOperator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who may pay for a session's operations (`SessionTypes.PaymasterPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PaymasterPolicyKind {
    /// Any paymaster, or none.
    Any = 0,
    /// Only self-paid operations.
    None = 1,
    /// Some non-zero paymaster must pay.
    Required = 2,
    /// Exactly `Session.paymaster` must pay.
    Exactly = 3,
}

impl PaymasterPolicyKind {
    /// The policy with this `uint8` value.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Any),
            1 => Some(Self::None),
            2 => Some(Self::Required),
            3 => Some(Self::Exactly),
            _ => None,
        }
    }
}

/// `uint48` from a `u64`, if it fits.
pub fn u48(value: u64) -> Option<U48> {
    U48::try_from(value).ok()
}

/// A `uint48` as `u64`.
pub fn u48_to_u64(value: U48) -> u64 {
    value.to::<u64>()
}

/// Largest `uint48`.
pub const U48_MAX: u64 = (1 << 48) - 1;

/// `sessionId = hashStruct(session)` (EIP-712): `keccak256(SESSION_TYPEHASH ‖ abi.encode(session))`.
pub fn session_id(session: &Session) -> B256 {
    keccak256(session_preimage(session))
}

fn session_preimage(session: &Session) -> [u8; 32 + SESSION_LENGTH] {
    let mut out = [0u8; 32 + SESSION_LENGTH];
    out[..32].copy_from_slice(SESSION_TYPEHASH.as_slice());
    out[32..].copy_from_slice(&encode_session(session));
    out
}

/// `abi.encode(session)`: 9 words, 288 bytes.
pub fn encode_session(session: &Session) -> [u8; SESSION_LENGTH] {
    let mut out = [0u8; SESSION_LENGTH];
    out[12..32].copy_from_slice(session.signer.as_slice());
    out[32..64].copy_from_slice(&U256::from(session.validAfter).to_be_bytes::<32>());
    out[64..96].copy_from_slice(&U256::from(session.validUntil).to_be_bytes::<32>());
    out[96..128].copy_from_slice(session.permissionsRoot.as_slice());
    out[159] = session.paymasterPolicy;
    out[172..192].copy_from_slice(session.paymaster.as_slice());
    out[208..224].copy_from_slice(&session.maxOperationFee.to_be_bytes());
    out[240..256].copy_from_slice(&session.feeBudget.to_be_bytes());
    out[256..288].copy_from_slice(session.salt.as_slice());
    out
}

/// Decodes `abi.encode(session)` strictly: exactly 288 bytes, every field's unused high bits zero.
///
/// Like the contract (`MalformedSession`), it does not check the field values themselves (window, policy), only
/// that each fits its type; see [`check_session_fields`].
pub fn decode_session(data: &[u8]) -> Result<Session> {
    let malformed = |reason: &str| Error::MalformedAbi {
        what: "Session",
        reason: reason.into(),
    };
    if data.len() != SESSION_LENGTH {
        return Err(malformed(&format!(
            "{} bytes, expected {SESSION_LENGTH}",
            data.len()
        )));
    }
    let word = |i: usize| -> &[u8] { &data[32 * i..32 * (i + 1)] };
    let zero_prefix = |w: &[u8], n: usize| w[..n].iter().all(|b| *b == 0);
    if !zero_prefix(word(0), 12) || !zero_prefix(word(5), 12) {
        return Err(malformed("address word with non-zero high bytes"));
    }
    if !zero_prefix(word(1), 26) || !zero_prefix(word(2), 26) {
        return Err(malformed("uint48 word with non-zero high bytes"));
    }
    if !zero_prefix(word(4), 31) {
        return Err(malformed("uint8 word with non-zero high bytes"));
    }
    if !zero_prefix(word(6), 16) || !zero_prefix(word(7), 16) {
        return Err(malformed("uint128 word with non-zero high bytes"));
    }
    let uint128 = |w: &[u8]| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&w[16..]);
        u128::from_be_bytes(b)
    };
    let uint48 = |w: &[u8]| {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&w[26..]);
        U48::from(u64::from_be_bytes(b))
    };
    Ok(Session {
        signer: Address::from_slice(&word(0)[12..]),
        validAfter: uint48(word(1)),
        validUntil: uint48(word(2)),
        permissionsRoot: B256::from_slice(word(3)),
        paymasterPolicy: word(4)[31],
        paymaster: Address::from_slice(&word(5)[12..]),
        maxOperationFee: uint128(word(6)),
        feeBudget: uint128(word(7)),
        salt: B256::from_slice(word(8)),
    })
}

/// The checks `SessionKeyValidator` makes on a session before granting it (`_grant`, `_checkSessionFields`).
pub fn check_session_fields(session: &Session) -> Result<()> {
    if session.signer.is_zero() {
        return Err(Error::Missing {
            path: "signer".into(),
            reason: "the session signer must not be zero".into(),
        });
    }
    let (after, until) = (
        u48_to_u64(session.validAfter),
        u48_to_u64(session.validUntil),
    );
    if until == 0 {
        return Err(Error::Missing {
            path: "valid_until".into(),
            reason: "a session needs an end (valid_until must not be 0)".into(),
        });
    }
    if after > until {
        return Err(Error::WindowOutOfOrder {
            path: "valid_until".into(),
            valid_after: after,
            valid_until: until,
        });
    }
    let Some(policy) = PaymasterPolicyKind::from_u8(session.paymasterPolicy) else {
        return Err(Error::range(
            "paymaster",
            session.paymasterPolicy.to_string(),
            "PaymasterPolicy",
        ));
    };
    if (policy == PaymasterPolicyKind::Exactly) == session.paymaster.is_zero() {
        return Err(Error::Conflict {
            path: "paymaster".into(),
            reason: "a paymaster address is needed with, and only with, the `exactly` policy"
                .into(),
        });
    }
    Ok(())
}

/// Length of the head of `abi.encode(permission)`: the 0x20 offset word and the 12 field words.
const PERMISSION_HEAD: usize = 0x20 + 12 * 0x20;

/// Length of `abi.encode(permission)` in bytes.
pub fn encoded_permission_len(permission: &Permission) -> usize {
    PERMISSION_HEAD
        + 0x20
        + permission
            .rules
            .iter()
            .map(|rule| 0x20 + 0x60 + 0x20 + 0x20 * rule.operands.len())
            .sum::<usize>()
}

/// `abi.encode(permission)`: one dynamic tuple parameter, so it starts with the 0x20 offset word.
pub fn encode_permission(permission: &Permission) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_permission_len(permission));
    encode_permission_into(permission, &mut out);
    out
}

#[inline]
fn push_word(out: &mut Vec<u8>, value: u64) {
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&value.to_be_bytes());
    out.extend_from_slice(&word);
}

/// Appends `abi.encode(permission)` to `out` (no allocation once `out` has room).
pub fn encode_permission_into(permission: &Permission, out: &mut Vec<u8>) {
    out.reserve(encoded_permission_len(permission));
    push_word(out, 0x20);
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(permission.target.as_slice());
    out.extend_from_slice(&word);
    let mut word = [0u8; 32];
    word[..4].copy_from_slice(permission.selector.as_slice());
    out.extend_from_slice(&word);
    push_word(out, u64::from(permission.flags));
    out.extend_from_slice(&permission.valueLimit.to_be_bytes::<32>());
    out.extend_from_slice(&permission.nativeTotalLimit.to_be_bytes::<32>());
    out.extend_from_slice(&permission.erc20TotalLimit.to_be_bytes::<32>());
    push_word(out, u48_to_u64(permission.validAfter));
    push_word(out, u48_to_u64(permission.validUntil));
    push_word(out, u64::from(permission.maxUses));
    push_word(out, u64::from(permission.rateLimitCount));
    push_word(out, u48_to_u64(permission.rateLimitInterval));
    push_word(out, 12 * 0x20);
    // rules: length, offsets (relative to after the length word), then each rule
    let rules = &permission.rules;
    push_word(out, rules.len() as u64);
    let mut offset = 0x20 * rules.len();
    for rule in rules {
        push_word(out, offset as u64);
        offset += 0x80 + 0x20 * rule.operands.len();
    }
    for rule in rules {
        push_word(out, u64::from(rule.operator));
        push_word(out, u64::from(rule.argIndex));
        push_word(out, 0x60);
        push_word(out, rule.operands.len() as u64);
        for operand in &rule.operands {
            out.extend_from_slice(operand.as_slice());
        }
    }
}

/// Decodes `abi.encode(permission)`, accepting only the canonical encoding (the one [`encode_permission`]
/// gives), so that the decoded permission has the same leaf as the bytes.
pub fn decode_permission(data: &[u8]) -> Result<Permission> {
    let permission =
        <Permission as SolValue>::abi_decode_validate(data).map_err(|e| Error::MalformedAbi {
            what: "Permission",
            reason: e.to_string(),
        })?;
    if encoded_permission_len(&permission) != data.len() || encode_permission(&permission) != data {
        return Err(Error::MalformedAbi {
            what: "Permission",
            reason: "not the canonical encoding".into(),
        });
    }
    Ok(permission)
}

/// The permission's Merkle leaf: `keccak256(bytes.concat(keccak256(abi.encode(permission))))`.
pub fn leaf_hash(permission: &Permission) -> B256 {
    let mut buffer = Vec::with_capacity(encoded_permission_len(permission));
    leaf_hash_with(permission, &mut buffer)
}

/// [`leaf_hash`] reusing `buffer` for the encoding (cleared first).
#[inline]
pub fn leaf_hash_with(permission: &Permission, buffer: &mut Vec<u8>) -> B256 {
    buffer.clear();
    encode_permission_into(permission, buffer);
    leaf_hash_of_encoding(buffer)
}

/// The leaf of an already encoded permission: `keccak256(keccak256(encoding))`.
#[inline]
pub fn leaf_hash_of_encoding(encoding: &[u8]) -> B256 {
    keccak256(keccak256(encoding))
}

/// Checks that [`session_id`] agrees with alloy's own EIP-712 `hashStruct` (used by tests).
#[doc(hidden)]
pub fn session_id_via_alloy(session: &Session) -> B256 {
    session.eip712_hash_struct()
}

impl Permission {
    /// The permission's Merkle leaf (see [`leaf_hash`]).
    pub fn leaf(&self) -> B256 {
        leaf_hash(self)
    }

    /// `abi.encode(self)` (see [`encode_permission`]).
    pub fn encode(&self) -> Vec<u8> {
        encode_permission(self)
    }

    /// Whether `flag` (one of the `FLAG_*` bits) is set.
    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether the permission counts in periods (a rate limit, or allowances with [`FLAG_PER_PERIOD`]): an
    /// operation then names its period and validation narrows the operation's window to it.
    pub fn is_periodic(&self) -> bool {
        self.rateLimitCount != 0 || self.has_flag(FLAG_PER_PERIOD)
    }

    /// The period index `k` to put in the signature for a call at unix time `now`: periods span
    /// `[validAfter + k * interval, validAfter + (k + 1) * interval - 1]`. Zero when the permission does not
    /// count in periods or before it starts.
    pub fn rate_limit_window(&self, now: u64) -> u32 {
        let interval = u48_to_u64(self.rateLimitInterval);
        if !self.is_periodic() || interval == 0 {
            return 0;
        }
        let start = u48_to_u64(self.validAfter);
        u32::try_from(now.saturating_sub(start) / interval).unwrap_or(u32::MAX)
    }

    /// The first second of window (period) `window` of this permission and the first second of the next one (see
    /// [`window_bounds`]).
    pub fn window_bounds(&self, window: u32) -> (u128, u128) {
        window_bounds(
            u48_to_u64(self.validAfter),
            u48_to_u64(self.rateLimitInterval),
            window,
        )
    }
}

/// Window (period) `window` of windows of `interval` seconds from `start`, as the validator counts them: its first
/// second, `start + window × interval`, and the first second of the next window (no overflow: 48-bit times and a
/// 32-bit index fit in 128 bits).
pub fn window_bounds(start: u64, interval: u64, window: u32) -> (u128, u128) {
    let first = u128::from(start) + u128::from(window) * u128::from(interval);
    (first, first + u128::from(interval))
}

impl Session {
    /// The session's id (see [`session_id`]).
    pub fn id(&self) -> B256 {
        session_id(self)
    }

    /// `abi.encode(self)` (see [`encode_session`]).
    pub fn encode(&self) -> [u8; SESSION_LENGTH] {
        encode_session(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typehashes are the keccak of the type strings `SessionTypes` hashes.
    #[test]
    fn multichain_typehashes_are_the_contracts() {
        assert_eq!(
            ENABLE_SESSIONS_TYPEHASH,
            keccak256("EnableSessions(bytes32 chainsRoot)")
        );
        assert_eq!(ENABLE_SESSIONS_TYPEHASH, keccak256(ENABLE_SESSIONS_TYPE));
        assert_eq!(
            MULTICHAIN_DOMAIN_TYPEHASH,
            keccak256("EIP712Domain(string name,string version,address verifyingContract)")
        );
        assert_eq!(
            MULTICHAIN_DOMAIN_TYPEHASH,
            keccak256(MULTICHAIN_DOMAIN_TYPE)
        );
        assert_eq!(MODE_ENABLE_MULTICHAIN, 2);
    }
}

//! The JSON format: the types people write, and how they are read and written.

use alloy_primitives::{Address, FixedBytes, B256, U256};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::CompiledSession;
use crate::abi;
use crate::error::{Error, Result};
use crate::signer_key::SignerKey;
use crate::values;

/// Longest list of rule values read (far above the 64 `one_of` operands the contract takes; stops runaway input).
const MAX_LIST: usize = 4096;

/// A session as people write it.
///
/// ```json
/// {
///   "signer": "0x…", "signer_key": { "kind": "p256", "x": "0x…", "y": "0x…" },
///   "valid_until": "2026-12-01T12:00:00Z", "paymaster": "none",
///   "fees": { "per_operation": "0.01 ether", "budget": "0.1 ether" },
///   "permissions": [ { "target": "0x…", "function": "transfer(address to,uint256 amount)",
///                      "rules": [ { "arg": "amount", "op": "lte", "value": "100" } ], "max_uses": 10 } ],
///   "typed_data": [ { "verifying_contract": "0x…", "type": "Offer(address buyer,uint256 price)",
///                     "rules": [ { "field": "price", "op": "lte", "value": "100" } ] } ]
/// }
/// ```
///
/// `typed_data` ([`TypedDataSpec`]) is optional; `permissions` may be empty (or left out) when it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// The session signer's address: a secp256k1 key's own, or the commitment to a P-256 key, a passkey or a
    /// multisig ([`SignerKey::address`]).
    #[serde(with = "address_serde")]
    pub signer: Address,
    /// What `signer` is, when it is known: the key it commits to (`{"kind":"p256","x":…,"y":…}`, see
    /// [`SignerKey`]). Optional; given, it must be valid and commit to `signer`, and summaries describe it
    /// ("a passkey", "2 of 3 keys").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_key: Option<SignerKey>,
    /// First valid second (unix seconds or RFC 3339); default 0.
    #[serde(default, with = "timestamp_serde", skip_serializing_if = "is_zero_u64")]
    pub valid_after: u64,
    /// Last valid second (unix seconds or RFC 3339); required.
    #[serde(with = "timestamp_serde")]
    pub valid_until: u64,
    /// Who may pay for the session's operations; default `"none"` (self-paid only).
    #[serde(default)]
    pub paymaster: PaymasterSpec,
    /// What the session's operations may cost; default [`FeeScopeSpec::default`] (0.01 ether per operation,
    /// 0.1 ether in all).
    #[serde(default)]
    pub fees: FeeScopeSpec,
    /// A free 32-byte value telling apart otherwise identical sessions (`0x` + 64 hex digits, or a number).
    #[serde(default, with = "salt_serde", skip_serializing_if = "B256::is_zero")]
    pub salt: B256,
    /// The calls the session key may make. May be empty (or left out) when `typed_data` is not.
    #[serde(default)]
    pub permissions: Vec<PermissionSpec>,
    /// The EIP-712 typed data the session key may sign for the account (`FLAG_TYPED_DATA` leaves, after the call
    /// permissions in the tree's value order); default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub typed_data: Vec<TypedDataSpec>,
}

/// EIP-712 typed data the session key may sign for the account, checked through the account's ERC-1271
/// `isValidSignature` (ERC-7739 nested `TypedDataSign`): one `FLAG_TYPED_DATA` leaf.
///
/// ```json
/// { "verifying_contract": "0x…",
///   "type": "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)",
///   "rules": [ { "field": "price", "op": "lte", "value": "100000000000000000000" } ],
///   "valid_until": "2026-12-01T12:00:00Z" }
/// ```
///
/// `type` is the full EIP-712 `encodeType` string (primary type first, referenced struct types appended sorted by
/// name, see [`crate::typed_data`]); `type_hash` may stand for it (rules then name words, not fields). The leaf's rule 0
/// pins the type hash; each rule here adds one, on a static member of the primary type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedDataSpec {
    /// The app's EIP-712 verifying contract (the leaf's `target`); never zero.
    #[serde(with = "address_serde")]
    pub verifying_contract: Address,
    /// The full EIP-712 `encodeType` string of the contents, e.g.
    /// `"Offer(address buyer,uint256 price)"`; its keccak256 is the type hash.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_string: Option<String>,
    /// The type hash (`0x` + 64 hex digits), instead of `type` (or with it, then they must agree).
    #[serde(
        default,
        with = "opt_word_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub type_hash: Option<B256>,
    /// Conditions on the contents' static members; all must hold. At most `MAX_RULES - 1` (the type rule counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TypedDataRuleSpec>,
    /// First valid second; default: the session's.
    #[serde(
        default,
        with = "opt_timestamp_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_after: Option<u64>,
    /// Last valid second; default: the session's.
    #[serde(
        default,
        with = "opt_timestamp_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<u64>,
}

/// A condition on one member of typed data: `{"field": "price", "op": "lte", "value": "100"}`, or by word index
/// `{"word": 5, …}` (word k >= 1 of `typeHash ‖ encodeData` is the k-th member). Operators and values as
/// [`RuleSpec`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedDataRuleSpec {
    /// The member of the primary type, by name (needs `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The member by word index (1 = the first member), instead of `field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word: Option<u16>,
    /// `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `one_of`, `in_range`, `bitmask`; comparisons are signed for `intN`
    /// members. `signed_lt` … and `unsigned_lt` … force the signedness.
    pub op: String,
    /// The operand, or the list of operands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<RuleValue>,
    /// The mask of a `bitmask` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Scalar>,
    /// The type values are read as: the member's by default (raw 32-byte words, `word`, when only the type hash
    /// is known), or another static type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
}

impl TypedDataSpec {
    /// Typed data of type `type_string` (the full `encodeType`) for `verifying_contract`, no rules, the session's
    /// window.
    pub fn new(verifying_contract: Address, type_string: &str) -> Self {
        Self {
            verifying_contract,
            type_string: Some(type_string.to_owned()),
            type_hash: None,
            rules: Vec::new(),
            valid_after: None,
            valid_until: None,
        }
    }

    /// Adds a rule on member `field`.
    pub fn rule(mut self, field: &str, op: &str, value: RuleValue) -> Self {
        self.rules.push(TypedDataRuleSpec {
            field: Some(field.to_owned()),
            word: None,
            op: op.to_owned(),
            value: Some(value),
            mask: None,
            ty: None,
        });
        self
    }

    /// Parses one entry's JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        from_json(text)
    }
}

/// Who may pay: `"any"`, `"none"`, `"required"` or `{"exactly": "0x…"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymasterSpec {
    /// Any paymaster, or none.
    Any,
    /// Only self-paid operations (the default).
    #[default]
    None,
    /// Some paymaster must pay.
    Required,
    /// Exactly this paymaster must pay.
    Exactly(#[serde(with = "address_serde")] Address),
}

/// What a session's operations may cost, in wei of the chain's native token. Each operation counts at its
/// maximum cost, the prefund the EntryPoint computes from its own gas limits and `maxFeePerGas`, whoever pays
/// (a paymaster may recover its cost from the account).
///
/// ```json
/// { "per_operation": "0.01 ether", "budget": "0.1 ether" }
/// ```
///
/// Either bound may be `"unlimited"`: an explicit choice that the consent summary warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeScopeSpec {
    /// Most one operation may cost (`Session.maxOperationFee`).
    #[serde(with = "fee_bound_serde")]
    pub per_operation: FeeBound,
    /// Most all the session's operations may cost together (`Session.feeBudget`).
    #[serde(with = "fee_bound_serde")]
    pub budget: FeeBound,
}

/// One bound of a fee scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeeBound {
    /// At most this many wei (below `UNLIMITED_FEE`).
    Wei(u128),
    /// No bound (`UNLIMITED_FEE` on chain).
    Unlimited,
}

/// Default most wei per operation: 0.01 ether.
pub const DEFAULT_MAX_OPERATION_FEE: u128 = 10_000_000_000_000_000;
/// Default fee budget of a session: 0.1 ether.
pub const DEFAULT_FEE_BUDGET: u128 = 100_000_000_000_000_000;

impl Default for FeeScopeSpec {
    /// 0.01 ether per operation, 0.1 ether in all.
    fn default() -> Self {
        Self {
            per_operation: FeeBound::Wei(DEFAULT_MAX_OPERATION_FEE),
            budget: FeeBound::Wei(DEFAULT_FEE_BUDGET),
        }
    }
}

impl FeeScopeSpec {
    /// No bound at all: a leaked key can make the account pay any fee. Only by the owner's explicit choice.
    pub const UNLIMITED: Self = Self {
        per_operation: FeeBound::Unlimited,
        budget: FeeBound::Unlimited,
    };

    /// The on-chain `(maxOperationFee, feeBudget)`.
    pub fn to_contract(self) -> (u128, u128) {
        (self.per_operation.to_contract(), self.budget.to_contract())
    }

    /// The fee scope of contract values.
    pub fn from_contract(max_operation_fee: u128, fee_budget: u128) -> Self {
        Self {
            per_operation: FeeBound::from_contract(max_operation_fee),
            budget: FeeBound::from_contract(fee_budget),
        }
    }
}

impl FeeBound {
    /// The contract value: the wei, or `UNLIMITED_FEE`.
    pub fn to_contract(self) -> u128 {
        match self {
            Self::Wei(wei) => wei,
            Self::Unlimited => abi::UNLIMITED_FEE,
        }
    }

    /// The bound a contract value means.
    pub fn from_contract(value: u128) -> Self {
        if value == abi::UNLIMITED_FEE {
            Self::Unlimited
        } else {
            Self::Wei(value)
        }
    }

    /// The bound in wei, `None` when unlimited.
    pub fn wei(self) -> Option<u128> {
        match self {
            Self::Wei(wei) => Some(wei),
            Self::Unlimited => None,
        }
    }
}

impl core::fmt::Display for FeeBound {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Wei(wei) => f.write_str(&values::format_native(U256::from(*wei))),
            Self::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// The contract a permission allows: an address, or `"*"` for any (`FLAG_ANY_TARGET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Any contract except the account, the validator and address(0).
    Any,
    /// This contract.
    Address(Address),
}

/// One permission as people write it. Setting a limit turns on its flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionSpec {
    /// The contract called, or `"*"`.
    pub target: Target,
    /// The function, e.g. `"transfer(address to,uint256 amount)"`; names let rules refer to arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The selector as `0x` + 8 hex digits, when no `function` is given.
    #[serde(
        default,
        with = "selector_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub selector: Option<FixedBytes<4>>,
    /// Matches plain native transfers (empty calldata) instead of a function call.
    #[serde(default, skip_serializing_if = "is_false")]
    pub native_transfer: bool,
    /// Most native value one call may send (`"0.1 ether"`); default 0.
    #[serde(
        default,
        with = "native_amount_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub value_limit: Option<U256>,
    /// Most native value the session may send through permissions with this limit, in all.
    #[serde(
        default,
        with = "native_amount_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub native_total_limit: Option<U256>,
    /// Most amount of the target token the session may move through transfer, transferFrom, approve and
    /// increaseAllowance, in the token's raw units.
    #[serde(
        default,
        with = "raw_amount_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub erc20_total_limit: Option<U256>,
    /// The length of a spending period (`"1d"`, `"1h"`, seconds), for `native_period_limit` and
    /// `erc20_period_limit`. Periods start at the permission's `valid_after` (0 if not given, so `"1d"` periods
    /// are UTC days); with `rate_limit`, its interval must be the same.
    #[serde(
        default,
        with = "opt_duration_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub period: Option<u64>,
    /// Most native value the session may send through permissions with this limit, per `period`
    /// (`FLAG_NATIVE_TOTAL` + `FLAG_PER_PERIOD`); unused allowance does not carry over. Not with
    /// `native_total_limit` or `erc20_total_limit`.
    #[serde(
        default,
        with = "native_amount_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub native_period_limit: Option<U256>,
    /// Most amount of the target token the session may move, per `period`, in raw units (`FLAG_ERC20_TOTAL` +
    /// `FLAG_PER_PERIOD`); same functions as `erc20_total_limit`, not with a lifetime total.
    #[serde(
        default,
        with = "raw_amount_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub erc20_period_limit: Option<U256>,
    /// First valid second; default: the session's.
    #[serde(
        default,
        with = "opt_timestamp_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_after: Option<u64>,
    /// Last valid second; default: the session's.
    #[serde(
        default,
        with = "opt_timestamp_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<u64>,
    /// Most uses in the session; default unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Most uses per window of time (with `period`: per period, and `interval` must equal `period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Conditions on the call's arguments; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
}

/// `{"count": 5, "interval": "1h"}`: at most `count` uses per window of `interval`; windows start at the
/// permission's `valid_after` (0 if not given, so `"1h"` windows are clock hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Uses per window.
    pub count: u32,
    /// Window length: seconds, or `"90s"`, `"15m"`, `"1h"`, `"1d"`, `"1w"`, `"1h30m"`.
    #[serde(with = "duration_serde")]
    pub interval: u64,
}

/// A condition on one argument.
///
/// `{"arg": "amount", "op": "lte", "value": "100"}`; `one_of` and `in_range` take a list (`[min, max]`),
/// `bitmask` takes `mask` and `value` and holds when `arg & mask == value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The argument: its name in `function`, or its head-word index.
    pub arg: ArgRef,
    /// `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `one_of`, `in_range`, `bitmask`; comparisons are signed for
    /// `intN` arguments. `signed_lt` … and `unsigned_lt` … force the signedness.
    pub op: String,
    /// The operand, or the list of operands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<RuleValue>,
    /// The mask of a `bitmask` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Scalar>,
    /// The argument's type when no `function` gives it (`uint256`, `address`, `int128`, …; `word` for raw
    /// 32-byte words, the default), or to read values under another type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
}

/// An argument: by name or by head-word index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArgRef {
    /// The `index`-th 32-byte word after the selector.
    Index(u16),
    /// The argument named so in the function signature (`pair.amount`, `ids[2]` for parts of static
    /// tuples and arrays).
    Name(String),
}

/// A rule operand as written: one value or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleValue {
    /// One value.
    One(Scalar),
    /// A list of values.
    Many(Vec<Scalar>),
}

/// A JSON value: a boolean, an integer, or a string (`"1.5 ether"`, `"0x…"`, `"-5"`, an address …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative JSON integer.
    Unsigned(u64),
    /// A negative JSON integer.
    Signed(i64),
    /// A string.
    Text(String),
}

impl core::fmt::Display for Scalar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Unsigned(n) => write!(f, "{n}"),
            Self::Signed(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<u64> for Scalar {
    fn from(n: u64) -> Self {
        Self::Unsigned(n)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and writing JSON
// ---------------------------------------------------------------------------------------------------------------

impl SessionSpec {
    /// Parses the JSON format (no checks beyond each field's own syntax; see [`Self::compile`]).
    pub fn from_json(text: &str) -> Result<Self> {
        from_json(text)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no map keys other than strings, no non-finite floats.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and compiles in one go.
    pub fn compile_json(text: &str) -> Result<CompiledSession> {
        Self::from_json(text)?.compile()
    }
}

impl PermissionSpec {
    /// A permission on `target` with nothing set: no function, no limits, no rules.
    fn bare(target: Target) -> Self {
        Self {
            target,
            function: None,
            selector: None,
            native_transfer: false,
            value_limit: None,
            native_total_limit: None,
            erc20_total_limit: None,
            period: None,
            native_period_limit: None,
            erc20_period_limit: None,
            valid_after: None,
            valid_until: None,
            max_uses: None,
            rate_limit: None,
            rules: Vec::new(),
        }
    }

    /// A permission to call `function` on `target`, nothing else set.
    pub fn call(target: Address, function: &str) -> Self {
        Self {
            function: Some(function.to_owned()),
            ..Self::bare(Target::Address(target))
        }
    }

    /// A permission to send native value to `target`, at most `value_limit` per call.
    pub fn native_transfer(target: Target, value_limit: U256) -> Self {
        Self {
            native_transfer: true,
            value_limit: Some(value_limit),
            ..Self::bare(target)
        }
    }

    /// Parses one permission's JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        from_json(text)
    }
}

/// Parses JSON text into `T`, naming the field of any error; trailing text is an error at `.`.
fn from_json<T: de::DeserializeOwned>(text: &str) -> Result<T> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|e| Error::Parse {
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok(value)
}

const CHECKSUM_MARK: &str = "wrong EIP-55 checksum, expected ";

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    if let Some(rest) = message.strip_prefix(CHECKSUM_MARK) {
        if let Some((expected, value)) = rest.split_once(" for ") {
            let value = value.split(" at line").next().unwrap_or(value);
            return Error::BadChecksum {
                path,
                value: value.to_owned(),
                expected: expected.to_owned(),
            };
        }
    }
    Error::Parse { path, message }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn address_de_error<E: de::Error>(text: &str, problem: Option<String>) -> E {
    match problem {
        Some(expected) => E::custom(format!("{CHECKSUM_MARK}{expected} for {text}")),
        None => E::custom(format!("{text:?} is not an address (0x and 40 hex digits)")),
    }
}

mod address_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        address: &Address,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&address.to_checksum(None))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        values::parse_address(&text).map_err(|p| address_de_error(&text, p))
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            Self::Any => s.serialize_str("*"),
            Self::Address(a) => s.serialize_str(&a.to_checksum(None)),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "*" {
            return Ok(Self::Any);
        }
        values::parse_address(&text)
            .map(Self::Address)
            .map_err(|p| address_de_error(&text, p))
    }
}

/// Accepts a JSON integer or string and hands the text to `parse`.
struct TextOrInteger<F>(F, &'static str);

impl<'de, T, F: FnOnce(&str) -> core::result::Result<T, String>> de::Visitor<'de>
    for TextOrInteger<F>
{
    type Value = T;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.1)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> core::result::Result<T, E> {
        // serde_json reads integers past 64 bits as floats: they would lose digits
        if v.fract() == 0.0 && v.abs() >= 18_446_744_073_709_551_616.0 {
            return Err(E::custom(format!(
                "expected {}; write integers above 2^64 - 1 as strings (a JSON number that large loses digits)",
                self.1
            )));
        }
        Err(E::custom(format!(
            "expected {}; write fractions as strings such as \"1.5 ether\"",
            self.1
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

mod timestamp_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &u64, s: S) -> core::result::Result<S::Ok, S::Error> {
        match values::format_rfc3339(*t) {
            Some(text) if *t != 0 => s.serialize_str(&text),
            _ => s.serialize_u64(*t),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<u64, D::Error> {
        d.deserialize_any(TextOrInteger(
            values::parse_timestamp,
            "unix seconds or an RFC 3339 time",
        ))
    }
}

mod opt_timestamp_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        t: &Option<u64>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::timestamp_serde::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<u64>, D::Error> {
        super::timestamp_serde::deserialize(d).map(Some)
    }
}

mod duration_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &u64, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&values::format_duration(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<u64, D::Error> {
        d.deserialize_any(TextOrInteger(
            values::parse_duration,
            "a duration such as 3600, \"1h\" or \"1h30m\"",
        ))
    }
}

mod opt_duration_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        t: &Option<u64>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::duration_serde::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<u64>, D::Error> {
        super::duration_serde::deserialize(d).map(Some)
    }
}

mod fee_bound_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &FeeBound,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<FeeBound, D::Error> {
        d.deserialize_any(TextOrInteger(
            parse_fee_bound,
            "a fee such as \"0.01 ether\", \"500000 gwei\" or wei, or \"unlimited\"",
        ))
    }
}

/// `None` as JSON null, a value as the string `text` makes of it.
fn serialize_some_str<T, S: Serializer>(
    v: &Option<T>,
    s: S,
    text: impl FnOnce(&T) -> String,
) -> core::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&text(v)),
        None => s.serialize_none(),
    }
}

fn parse_fee_bound(text: &str) -> core::result::Result<FeeBound, String> {
    if text.trim() == "unlimited" {
        return Ok(FeeBound::Unlimited);
    }
    let wei = parse_amount(text)?;
    match u128::try_from(wei) {
        Ok(wei) if wei != abi::UNLIMITED_FEE => Ok(FeeBound::Wei(wei)),
        _ => Err(format!(
            "{wei} wei does not fit a fee bound (at most 2^128 - 2 wei); write \"unlimited\" for no bound"
        )),
    }
}

fn parse_amount(text: &str) -> core::result::Result<U256, String> {
    let number = values::parse_number(text)?;
    if number.negative {
        return Err("an amount cannot be negative".into());
    }
    Ok(number.magnitude)
}

mod native_amount_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<U256>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        serialize_some_str(v, s, |v| values::format_native(*v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<U256>, D::Error> {
        d.deserialize_any(TextOrInteger(
            parse_amount,
            "an amount such as \"0.1 ether\", \"100 gwei\" or wei",
        ))
        .map(Some)
    }
}

mod raw_amount_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<U256>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        serialize_some_str(v, s, ToString::to_string)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<U256>, D::Error> {
        d.deserialize_any(TextOrInteger(
            parse_amount,
            "an amount in the token's raw units",
        ))
        .map(Some)
    }
}

mod salt_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &B256,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<B256, D::Error> {
        d.deserialize_any(TextOrInteger(
            |text: &str| {
                if text.starts_with("0x") && text.len() == 66 {
                    values::parse_hex_exact::<32>(text)
                } else {
                    parse_amount(text).map(B256::from)
                }
            },
            "0x and 64 hex digits, or a number",
        ))
    }
}

mod opt_word_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<B256>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        serialize_some_str(v, s, ToString::to_string)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<B256>, D::Error> {
        let text = String::deserialize(d)?;
        values::parse_hex_exact::<32>(&text)
            .map(Some)
            .map_err(de::Error::custom)
    }
}

mod selector_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<FixedBytes<4>>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        serialize_some_str(v, s, ToString::to_string)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> core::result::Result<Option<FixedBytes<4>>, D::Error> {
        let text = String::deserialize(d)?;
        values::parse_hex_exact::<4>(&text)
            .map(Some)
            .map_err(de::Error::custom)
    }
}

impl Serialize for ArgRef {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            Self::Index(i) => s.serialize_u16(*i),
            Self::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for ArgRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ArgRef;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an argument name or a head-word index (0 to 65535)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<ArgRef, E> {
                u16::try_from(v)
                    .map(ArgRef::Index)
                    .map_err(|_| E::custom("argument index over 65535"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<ArgRef, E> {
                u16::try_from(v)
                    .map(ArgRef::Index)
                    .map_err(|_| E::custom("argument index out of 0..=65535"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<ArgRef, E> {
                if v.is_empty() {
                    return Err(E::custom("empty argument name"));
                }
                Ok(ArgRef::Name(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Unsigned(n) => s.serialize_u64(*n),
            Self::Signed(n) => s.serialize_i64(*n),
            Self::Text(t) => s.serialize_str(t),
        }
    }
}

struct ScalarVisitor;

impl<'de> de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a boolean, an integer or a string")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> core::result::Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<Scalar, E> {
        Ok(Scalar::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<Scalar, E> {
        Ok(if v >= 0 {
            Scalar::Unsigned(v as u64)
        } else {
            Scalar::Signed(v)
        })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> core::result::Result<Scalar, E> {
        Err(E::custom("fractional or huge JSON numbers are not exact: write them as strings, e.g. \"1.5 ether\""))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

impl Serialize for RuleValue {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        match self {
            Self::One(v) => v.serialize(s),
            Self::Many(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RuleValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RuleValue;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> core::result::Result<RuleValue, E> {
                ScalarVisitor.visit_bool(v).map(RuleValue::One)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> core::result::Result<RuleValue, E> {
                ScalarVisitor.visit_u64(v).map(RuleValue::One)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> core::result::Result<RuleValue, E> {
                ScalarVisitor.visit_i64(v).map(RuleValue::One)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> core::result::Result<RuleValue, E> {
                ScalarVisitor.visit_f64(v).map(RuleValue::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> core::result::Result<RuleValue, E> {
                ScalarVisitor.visit_str(v).map(RuleValue::One)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> core::result::Result<RuleValue, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    if list.len() >= MAX_LIST {
                        return Err(de::Error::custom(format!("more than {MAX_LIST} values")));
                    }
                    list.push(item);
                }
                Ok(RuleValue::Many(list))
            }
        }
        d.deserialize_any(V)
    }
}

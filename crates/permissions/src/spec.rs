//! The human JSON format of sessions, its checks, and its compilation into contract structs.

use std::collections::HashMap;

use alloy_primitives::{aliases::U48, Address, FixedBytes, B256, U256};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::abi::{
    self, encoded_permission_len, erc20_amount_arg, u48, u48_to_u64, ArgRule, Permission,
    RuleOperator, Session, ALL_FLAGS, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL,
    FLAG_NATIVE_TRANSFER, MAX_ONE_OF, MAX_RULES, U48_MAX,
};
use crate::error::{Error, Result};
use crate::function::{FunctionSignature, ParamType};
use crate::merkle::PermissionTree;
use crate::values::{self, ValueError};

/// Longest list of rule values read (far above the 64 `one_of` operands the contract takes; stops runaway input).
const MAX_LIST: usize = 4096;

/// Most permissions in one session: 2^20.
pub const MAX_PERMISSIONS: usize = 1 << 20;

/// A session as people write it.
///
/// ```json
/// {
///   "signer": "0x…", "valid_until": "2026-12-01T12:00:00Z", "paymaster": "none",
///   "fees": { "per_operation": "0.01 ether", "budget": "0.1 ether" },
///   "permissions": [ { "target": "0x…", "function": "transfer(address to,uint256 amount)",
///                      "rules": [ { "arg": "amount", "op": "lte", "value": "100" } ], "max_uses": 10 } ]
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// The session key's address.
    #[serde(with = "address_serde")]
    pub signer: Address,
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
    /// What the session key may do.
    pub permissions: Vec<PermissionSpec>,
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
    /// Most uses per window of time.
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

/// Something worth a second look that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field.
    pub path: String,
    /// What to look at.
    pub message: String,
}

impl core::fmt::Display for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A checked session: the contract structs, the tree, and what to warn about.
#[derive(Debug, Clone)]
pub struct CompiledSession {
    /// The session, with its `permissionsRoot`.
    pub session: Session,
    /// The permissions, in the order of the spec (the tree's value order).
    pub permissions: Vec<Permission>,
    /// The permissions' Merkle tree.
    pub tree: PermissionTree,
    /// Warnings.
    pub warnings: Vec<Warning>,
}

impl CompiledSession {
    /// The session id.
    pub fn session_id(&self) -> B256 {
        abi::session_id(&self.session)
    }

    /// The proof of permission `index`.
    pub fn proof(&self, index: usize) -> Result<Vec<B256>> {
        self.tree.proof(index)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and writing JSON
// ---------------------------------------------------------------------------------------------------------------

impl SessionSpec {
    /// Parses the JSON format (no checks beyond each field's own syntax; see [`Self::compile`]).
    pub fn from_json(text: &str) -> Result<Self> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let spec: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
        deserializer.end().map_err(|e| Error::Parse {
            path: ".".into(),
            message: e.to_string(),
        })?;
        Ok(spec)
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
    /// A permission to call `function` on `target`, nothing else set.
    pub fn call(target: Address, function: &str) -> Self {
        Self {
            target: Target::Address(target),
            function: Some(function.to_owned()),
            selector: None,
            native_transfer: false,
            value_limit: None,
            native_total_limit: None,
            erc20_total_limit: None,
            valid_after: None,
            valid_until: None,
            max_uses: None,
            rate_limit: None,
            rules: Vec::new(),
        }
    }

    /// A permission to send native value to `target`, at most `value_limit` per call.
    pub fn native_transfer(target: Target, value_limit: U256) -> Self {
        Self {
            target,
            function: None,
            selector: None,
            native_transfer: true,
            value_limit: Some(value_limit),
            native_total_limit: None,
            erc20_total_limit: None,
            valid_after: None,
            valid_until: None,
            max_uses: None,
            rate_limit: None,
            rules: Vec::new(),
        }
    }

    /// Parses one permission's JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let spec: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
        deserializer.end().map_err(|e| Error::Parse {
            path: ".".into(),
            message: e.to_string(),
        })?;
        Ok(spec)
    }
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
        match v {
            Some(v) => s.serialize_str(&values::format_native(*v)),
            None => s.serialize_none(),
        }
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
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
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

mod selector_serde {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<FixedBytes<4>>,
        s: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
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

// ---------------------------------------------------------------------------------------------------------------
// Compiling and checking
// ---------------------------------------------------------------------------------------------------------------

/// What compiling a permission learnt, for the session-wide checks and the summary.
#[derive(Debug, Clone)]
pub(crate) struct PermissionInfo {
    pub(crate) signature: Option<FunctionSignature>,
}

impl SessionSpec {
    /// Checks everything and builds the contract structs and the tree.
    pub fn compile(&self) -> Result<CompiledSession> {
        let (compiled, _) = self.compile_with_info()?;
        Ok(compiled)
    }

    /// Checks the session (see [`Self::compile`]) and returns its warnings.
    pub fn check(&self) -> Result<Vec<Warning>> {
        Ok(self.compile()?.warnings)
    }

    pub(crate) fn compile_with_info(&self) -> Result<(CompiledSession, Vec<PermissionInfo>)> {
        let mut warnings = Vec::new();
        if self.signer.is_zero() {
            return Err(Error::Missing {
                path: "signer".into(),
                reason: "the session signer must not be zero".into(),
            });
        }
        let valid_after = to_u48("valid_after", self.valid_after)?;
        let valid_until = to_u48("valid_until", self.valid_until)?;
        if self.valid_until == 0 {
            return Err(Error::Missing {
                path: "valid_until".into(),
                reason: "a session needs an end: valid_until must not be 0".into(),
            });
        }
        if self.valid_after > self.valid_until {
            return Err(Error::WindowOutOfOrder {
                path: "valid_until".into(),
                valid_after: self.valid_after,
                valid_until: self.valid_until,
            });
        }
        let (policy, paymaster) = match self.paymaster {
            PaymasterSpec::Any => (abi::PaymasterPolicyKind::Any, Address::ZERO),
            PaymasterSpec::None => (abi::PaymasterPolicyKind::None, Address::ZERO),
            PaymasterSpec::Required => (abi::PaymasterPolicyKind::Required, Address::ZERO),
            PaymasterSpec::Exactly(a) => {
                if a.is_zero() {
                    return Err(Error::Missing {
                        path: "paymaster.exactly".into(),
                        reason: "the paymaster must not be zero".into(),
                    });
                }
                (abi::PaymasterPolicyKind::Exactly, a)
            }
        };
        if self.permissions.is_empty() {
            return Err(Error::Missing {
                path: "permissions".into(),
                reason: "a session needs at least one permission".into(),
            });
        }
        if self.permissions.len() > MAX_PERMISSIONS {
            return Err(Error::TooMany {
                path: "permissions".into(),
                what: "permissions",
                count: self.permissions.len(),
                max: MAX_PERMISSIONS,
            });
        }

        let mut permissions = Vec::with_capacity(self.permissions.len());
        let mut infos = Vec::with_capacity(self.permissions.len());
        for (i, spec) in self.permissions.iter().enumerate() {
            let (permission, info) =
                compile_permission(&format!("permissions[{i}]"), spec, self, &mut warnings)?;
            permissions.push(permission);
            infos.push(info);
        }

        // duplicates
        let mut buffer = Vec::with_capacity(1024);
        let leaves: Vec<B256> = permissions
            .iter()
            .map(|p| abi::leaf_hash_with(p, &mut buffer))
            .collect();
        let mut seen: HashMap<B256, usize> = HashMap::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            if let Some(first) = seen.insert(*leaf, i) {
                return Err(Error::DuplicatePermission {
                    path: format!("permissions[{i}]"),
                    first,
                });
            }
        }
        check_erc20_bypass(&permissions)?;
        check_limits_consistent(&permissions, &mut warnings);

        check_fee_scope(&self.fees, &mut warnings);
        let (max_operation_fee, fee_budget) = self.fees.to_contract();
        let tree = PermissionTree::from_leaves(leaves)?;
        let session = Session {
            signer: self.signer,
            validAfter: valid_after,
            validUntil: valid_until,
            permissionsRoot: tree.root(),
            paymasterPolicy: policy as u8,
            paymaster,
            maxOperationFee: max_operation_fee,
            feeBudget: fee_budget,
            salt: self.salt,
        };
        Ok((
            CompiledSession {
                session,
                permissions,
                tree,
                warnings,
            },
            infos,
        ))
    }
}

/// Warnings for fee scopes that let a leaked key make the account pay more than a bounded amount, or that let
/// the session send nothing.
fn check_fee_scope(fees: &FeeScopeSpec, warnings: &mut Vec<Warning>) {
    if fees.per_operation == FeeBound::Wei(0) || fees.budget == FeeBound::Wei(0) {
        warnings.push(Warning {
            path: "fees".into(),
            message: "a zero fee bound: only operations with maxFeePerGas 0 can be sent".into(),
        });
    }
    match (fees.per_operation, fees.budget) {
        (FeeBound::Unlimited, FeeBound::Unlimited) => warnings.push(Warning {
            path: "fees".into(),
            message: "UNLIMITED FEES: a leaked session key can make the account pay any amount in gas fees \
                      (its whole balance and EntryPoint deposit)"
                .into(),
        }),
        (_, FeeBound::Unlimited) => warnings.push(Warning {
            path: "fees.budget".into(),
            message: "UNLIMITED FEE BUDGET: each operation is bounded, but a leaked session key can send \
                      operations until the account's balance and EntryPoint deposit are gone"
                .into(),
        }),
        (FeeBound::Unlimited, FeeBound::Wei(_)) => warnings.push(Warning {
            path: "fees.per_operation".into(),
            message: "no per-operation fee bound: one operation may spend the whole fee budget".into(),
        }),
        (FeeBound::Wei(per_operation), FeeBound::Wei(budget)) => {
            if per_operation > budget && budget != 0 {
                warnings.push(Warning {
                    path: "fees.per_operation".into(),
                    message: "above the budget: no operation can cost more than the budget".into(),
                });
            }
        }
    }
}

fn to_u48(path: &str, value: u64) -> Result<U48> {
    u48(value).ok_or_else(|| Error::range(path, value.to_string(), "uint48"))
}

fn compile_permission(
    path: &str,
    spec: &PermissionSpec,
    session: &SessionSpec,
    warnings: &mut Vec<Warning>,
) -> Result<(Permission, PermissionInfo)> {
    let mut flags = 0u8;
    let target = match spec.target {
        Target::Any => {
            flags |= FLAG_ANY_TARGET;
            Address::ZERO
        }
        Target::Address(a) if a.is_zero() => {
            return Err(Error::ForbiddenTarget {
                path: format!("{path}.target"),
                target: a,
            });
        }
        Target::Address(a) => a,
    };

    let mut signature = None;
    let selector = if spec.native_transfer {
        if spec.function.is_some() || spec.selector.is_some() {
            return Err(Error::Conflict {
                path: format!("{path}.native_transfer"),
                reason: "a native transfer calls no function: remove `function`/`selector`".into(),
            });
        }
        if !spec.rules.is_empty() {
            return Err(Error::Conflict {
                path: format!("{path}.rules"),
                reason: "a native transfer has no arguments to check".into(),
            });
        }
        if spec.erc20_total_limit.is_some() {
            return Err(Error::Conflict {
                path: format!("{path}.erc20_total_limit"),
                reason: "a native transfer moves no ERC-20 token".into(),
            });
        }
        if spec.value_limit.unwrap_or_default().is_zero() {
            warnings.push(Warning {
                path: format!("{path}.value_limit"),
                message: "a native transfer with value_limit 0 can only send nothing".into(),
            });
        }
        flags |= FLAG_NATIVE_TRANSFER;
        FixedBytes::ZERO
    } else {
        match (&spec.function, spec.selector) {
            (Some(text), selector) => {
                let sig = FunctionSignature::parse(text).map_err(|reason| Error::BadSignature {
                    path: format!("{path}.function"),
                    signature: text.clone(),
                    reason,
                })?;
                let derived = sig.selector();
                if let Some(given) = selector {
                    if given != derived {
                        return Err(Error::Conflict {
                            path: format!("{path}.selector"),
                            reason: format!(
                                "selector {given} is not {derived} of {}",
                                sig.canonical()
                            ),
                        });
                    }
                }
                signature = Some(sig);
                derived
            }
            (None, Some(selector)) => selector,
            (None, None) => {
                return Err(Error::Missing {
                    path: format!("{path}.function"),
                    reason: "give `function` (e.g. \"transfer(address to,uint256 amount)\"), `selector`, or \
                             `native_transfer: true`"
                        .into(),
                });
            }
        }
    };

    if let Some(limit) = spec.native_total_limit {
        flags |= FLAG_NATIVE_TOTAL;
        if limit < spec.value_limit.unwrap_or_default() {
            warnings.push(Warning {
                path: format!("{path}.native_total_limit"),
                message: "below value_limit: the total limit binds first".into(),
            });
        }
    }
    if spec.erc20_total_limit.is_some() {
        if erc20_amount_arg(selector).is_none() {
            return Err(Error::Erc20LimitSelector {
                path: format!("{path}.erc20_total_limit"),
                selector: selector.to_string(),
            });
        }
        if let Some(sig) = &signature {
            let expected = [
                "transfer(address,uint256)",
                "approve(address,uint256)",
                "increaseAllowance(address,uint256)",
                "transferFrom(address,address,uint256)",
            ];
            if !expected.contains(&sig.canonical().as_str()) {
                return Err(Error::Erc20LimitSelector {
                    path: format!("{path}.erc20_total_limit"),
                    selector: selector.to_string(),
                });
            }
        }
        if spec.target == Target::Any {
            warnings.push(Warning {
                path: format!("{path}.erc20_total_limit"),
                message: "with target \"*\" the limit applies to every token separately".into(),
            });
        }
        flags |= FLAG_ERC20_TOTAL;
    }

    // windows
    let valid_after = spec.valid_after.unwrap_or(0);
    let valid_until = spec.valid_until.unwrap_or(0);
    let after48 = to_u48(&format!("{path}.valid_after"), valid_after)?;
    let until48 = to_u48(&format!("{path}.valid_until"), valid_until)?;
    if valid_until != 0 && valid_after > valid_until {
        return Err(Error::WindowOutOfOrder {
            path: format!("{path}.valid_until"),
            valid_after,
            valid_until,
        });
    }
    let effective_after = valid_after.max(session.valid_after);
    let effective_until = if valid_until == 0 {
        session.valid_until
    } else {
        valid_until.min(session.valid_until)
    };
    if effective_after > effective_until {
        return Err(Error::Conflict {
            path: format!("{path}.valid_after"),
            reason:
                "the permission's window does not overlap the session's: it could never be used"
                    .into(),
        });
    }

    if spec.max_uses == Some(0) {
        return Err(Error::Missing {
            path: format!("{path}.max_uses"),
            reason: "max_uses must be at least 1 (leave it out for no limit)".into(),
        });
    }
    let (rate_count, rate_interval) = match spec.rate_limit {
        Some(rate) => {
            if rate.count == 0 {
                return Err(Error::Missing {
                    path: format!("{path}.rate_limit.count"),
                    reason: "count must be at least 1 (leave rate_limit out for no limit)".into(),
                });
            }
            if rate.interval == 0 {
                return Err(Error::Missing {
                    path: format!("{path}.rate_limit.interval"),
                    reason: "interval must be at least 1 second".into(),
                });
            }
            (
                rate.count,
                to_u48(&format!("{path}.rate_limit.interval"), rate.interval)?,
            )
        }
        None => (0, U48::ZERO),
    };

    if spec.rules.len() > MAX_RULES {
        return Err(Error::TooMany {
            path: format!("{path}.rules"),
            what: "rules",
            count: spec.rules.len(),
            max: MAX_RULES,
        });
    }
    let mut rules = Vec::with_capacity(spec.rules.len());
    for (j, rule) in spec.rules.iter().enumerate() {
        rules.push(compile_rule(
            &format!("{path}.rules[{j}]"),
            rule,
            signature.as_ref(),
            warnings,
        )?);
    }

    let permission = Permission {
        target,
        selector,
        flags,
        valueLimit: spec.value_limit.unwrap_or_default(),
        nativeTotalLimit: spec.native_total_limit.unwrap_or_default(),
        erc20TotalLimit: spec.erc20_total_limit.unwrap_or_default(),
        validAfter: after48,
        validUntil: until48,
        maxUses: spec.max_uses.unwrap_or(0),
        rateLimitCount: rate_count,
        rateLimitInterval: rate_interval,
        rules,
    };
    let length = encoded_permission_len(&permission);
    if length > usize::from(u16::MAX) {
        return Err(Error::TooMany {
            path: format!("{path}.rules"),
            what: "bytes of encoded permission (the signature's length field is a uint16)",
            count: length,
            max: usize::from(u16::MAX),
        });
    }
    Ok((permission, PermissionInfo { signature }))
}

/// The type a rule's values are read as: a Solidity type, or a raw word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueType {
    Typed(ParamType),
    Word,
}

impl ValueType {
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Typed(t) => t.canonical(),
            Self::Word => "word".into(),
        }
    }

    pub(crate) fn is_signed(&self) -> bool {
        matches!(self, Self::Typed(ParamType::Int(_)))
    }
}

/// The head word a rule reads, and the type its values are read as.
pub(crate) fn resolve_arg(
    path: &str,
    rule: &RuleSpec,
    signature: Option<&FunctionSignature>,
) -> Result<(u16, ValueType, Option<String>)> {
    let arg_path = format!("{path}.arg");
    let (index, from_signature, label) = match (&rule.arg, signature) {
        (ArgRef::Name(name), Some(sig)) => {
            let words = sig.head_words();
            match words.iter().position(|w| &w.label == name) {
                Some(i) => {
                    let index = u16::try_from(i).map_err(|_| Error::UnknownArgument {
                        path: arg_path.clone(),
                        arg: name.clone(),
                    })?;
                    (index, Some(words[i].ty.clone()), Some(name.clone()))
                }
                None => {
                    // a whole static tuple / array named: say so
                    if let Some(p) = sig
                        .params
                        .iter()
                        .find(|p| p.name.as_deref() == Some(name.as_str()))
                    {
                        return Err(Error::UnsupportedArgument {
                            path: arg_path,
                            arg: name.clone(),
                            ty: p.ty.canonical(),
                        });
                    }
                    return Err(Error::UnknownArgument {
                        path: arg_path,
                        arg: name.clone(),
                    });
                }
            }
        }
        (ArgRef::Name(name), None) => {
            return Err(Error::UnknownArgument {
                path: arg_path,
                arg: format!("{name} (arguments can be named only with a `function` signature; use an index)"),
            });
        }
        (ArgRef::Index(i), Some(sig)) => {
            let words = sig.head_words();
            match words.get(usize::from(*i)) {
                Some(word) => (*i, Some(word.ty.clone()), Some(word.label.clone())),
                None => {
                    return Err(Error::UnknownArgument {
                        path: arg_path,
                        arg: format!(
                            "{i} (the head of {} has {} words)",
                            sig.canonical(),
                            words.len()
                        ),
                    });
                }
            }
        }
        (ArgRef::Index(i), None) => (*i, None, None),
    };
    if let Some(ty) = &from_signature {
        if !ty.is_elementary() {
            return Err(Error::UnsupportedArgument {
                path: arg_path,
                arg: label.unwrap_or_else(|| index.to_string()),
                ty: ty.canonical(),
            });
        }
    }
    let value_type = match &rule.ty {
        Some(text) if text == "word" => ValueType::Word,
        Some(text) => {
            let ty = crate::function::parse_type(text)
                .map_err(|reason| Error::invalid(format!("{path}.type"), text.clone(), reason))?;
            if !ty.is_elementary() {
                return Err(Error::UnsupportedArgument {
                    path: format!("{path}.type"),
                    arg: label.unwrap_or_else(|| index.to_string()),
                    ty: ty.canonical(),
                });
            }
            ValueType::Typed(ty)
        }
        None => from_signature.map_or(ValueType::Word, ValueType::Typed),
    };
    Ok((index, value_type, label))
}

/// The operator a rule's `op` names for an argument of type `ty`.
pub(crate) fn resolve_operator(path: &str, name: &str, ty: &ValueType) -> Result<RuleOperator> {
    let unknown = || Error::UnknownOperator {
        path: format!("{path}.op"),
        name: name.to_owned(),
    };
    if let Some(rest) = name.strip_prefix("unsigned_") {
        let op = RuleOperator::from_name(rest).ok_or_else(unknown)?;
        if op.is_signed() || op.to_signed() == op {
            return Err(unknown());
        }
        return Ok(op);
    }
    let op = RuleOperator::from_name(name).ok_or_else(unknown)?;
    if op.is_signed() {
        return Ok(op);
    }
    Ok(if ty.is_signed() { op.to_signed() } else { op })
}

fn compile_rule(
    path: &str,
    rule: &RuleSpec,
    signature: Option<&FunctionSignature>,
    warnings: &mut Vec<Warning>,
) -> Result<ArgRule> {
    let (arg_index, ty, _) = resolve_arg(path, rule, signature)?;
    let operator = resolve_operator(path, &rule.op, &ty)?;
    let word = |field: &str, value: &Scalar| -> Result<B256> {
        let field_path = format!("{path}.{field}");
        let result = match &ty {
            ValueType::Typed(t) => values::word_for(t, value),
            ValueType::Word => values::raw_word(value),
        };
        result.map_err(|e| match e {
            ValueError::Range => Error::range(field_path, value.to_string(), ty.name()),
            ValueError::Checksum(expected) => Error::BadChecksum {
                path: field_path,
                value: value.to_string(),
                expected,
            },
            ValueError::Syntax(reason) => Error::invalid(field_path, value.to_string(), reason),
        })
    };
    let count_error = |expected: &str, got: usize| Error::OperandCount {
        path: format!("{path}.value"),
        operator: operator.name().to_owned(),
        expected: expected.to_owned(),
        got,
    };
    if rule.mask.is_some() && operator != RuleOperator::Bitmask {
        return Err(Error::Conflict {
            path: format!("{path}.mask"),
            reason: "only a bitmask rule has a mask".into(),
        });
    }
    let operands: Vec<B256> = match operator {
        RuleOperator::OneOf => {
            let list: Vec<&Scalar> = match &rule.value {
                Some(RuleValue::One(v)) => vec![v],
                Some(RuleValue::Many(list)) => list.iter().collect(),
                None => Vec::new(),
            };
            if list.is_empty() {
                return Err(count_error("1 to 64", 0));
            }
            if list.len() > MAX_ONE_OF {
                return Err(Error::TooMany {
                    path: format!("{path}.value"),
                    what: "one_of values",
                    count: list.len(),
                    max: MAX_ONE_OF,
                });
            }
            let words = list
                .iter()
                .enumerate()
                .map(|(k, v)| word(&format!("value[{k}]"), v))
                .collect::<Result<Vec<_>>>()?;
            for (k, w) in words.iter().enumerate() {
                if words[..k].contains(w) {
                    warnings.push(Warning {
                        path: format!("{path}.value[{k}]"),
                        message: "repeated value".into(),
                    });
                }
            }
            words
        }
        RuleOperator::InRange | RuleOperator::SignedInRange => match &rule.value {
            Some(RuleValue::Many(list)) if list.len() == 2 => {
                let low = word("value[0]", &list[0])?;
                let high = word("value[1]", &list[1])?;
                if !operator.evaluate(low, &[low, high]) {
                    return Err(Error::Conflict {
                        path: format!("{path}.value"),
                        reason: "empty range: the minimum is above the maximum".into(),
                    });
                }
                vec![low, high]
            }
            Some(RuleValue::Many(list)) => return Err(count_error("2 ([min, max])", list.len())),
            Some(RuleValue::One(_)) => return Err(count_error("2 ([min, max])", 1)),
            None => return Err(count_error("2 ([min, max])", 0)),
        },
        RuleOperator::Bitmask => {
            let Some(mask) = &rule.mask else {
                return Err(Error::Missing {
                    path: format!("{path}.mask"),
                    reason: "a bitmask rule needs a mask".into(),
                });
            };
            let value = match &rule.value {
                Some(RuleValue::One(v)) => v,
                Some(RuleValue::Many(list)) => {
                    return Err(count_error("1 (with `mask`)", list.len()))
                }
                None => return Err(count_error("1 (with `mask`)", 0)),
            };
            let (mask, value) = (word("mask", mask)?, word("value", value)?);
            if (value & mask) != value {
                return Err(Error::Conflict {
                    path: format!("{path}.value"),
                    reason: "value has bits outside mask: the rule could never hold".into(),
                });
            }
            vec![mask, value]
        }
        _ => match &rule.value {
            Some(RuleValue::One(v)) => vec![word("value", v)?],
            Some(RuleValue::Many(list)) => return Err(count_error("1", list.len())),
            None => return Err(count_error("1", 0)),
        },
    };
    Ok(ArgRule {
        operator: operator as u8,
        argIndex: arg_index,
        operands,
    })
}

/// A permission on a token without an ERC-20 total limit, with one of the four movement selectors, while another
/// permission limits that token: the limit could be bypassed.
fn check_erc20_bypass(permissions: &[Permission]) -> Result<()> {
    let mut limited: HashMap<Option<Address>, usize> = HashMap::new();
    for (i, p) in permissions.iter().enumerate() {
        if p.has_flag(FLAG_ERC20_TOTAL) {
            let key = if p.has_flag(FLAG_ANY_TARGET) {
                None
            } else {
                Some(p.target)
            };
            limited.entry(key).or_insert(i);
        }
    }
    if limited.is_empty() {
        return Ok(());
    }
    for (i, p) in permissions.iter().enumerate() {
        if p.has_flag(FLAG_ERC20_TOTAL)
            || p.has_flag(FLAG_NATIVE_TRANSFER)
            || erc20_amount_arg(p.selector).is_none()
        {
            continue;
        }
        let any = p.has_flag(FLAG_ANY_TARGET);
        let by = if any {
            limited.values().min().copied()
        } else {
            limited
                .get(&Some(p.target))
                .or_else(|| limited.get(&None))
                .copied()
        };
        if let Some(by) = by {
            return Err(Error::Erc20LimitBypass {
                path: format!("permissions[{i}]"),
                token: if any {
                    "*".into()
                } else {
                    p.target.to_checksum(None)
                },
                limited_by: format!("permissions[{by}]"),
            });
        }
    }
    Ok(())
}

fn check_limits_consistent(permissions: &[Permission], warnings: &mut Vec<Warning>) {
    let mut native: Option<(usize, U256)> = None;
    let mut tokens: HashMap<Address, (usize, U256)> = HashMap::new();
    for (i, p) in permissions.iter().enumerate() {
        if p.has_flag(FLAG_NATIVE_TOTAL) {
            match native {
                Some((first, limit)) if limit != p.nativeTotalLimit => warnings.push(Warning {
                    path: format!("permissions[{i}].native_total_limit"),
                    message: format!(
                        "differs from permissions[{first}]: the spending is shared, each permission checks the total against its own limit"
                    ),
                }),
                Some(_) => {}
                None => native = Some((i, p.nativeTotalLimit)),
            }
        }
        if p.has_flag(FLAG_ERC20_TOTAL) && !p.has_flag(FLAG_ANY_TARGET) {
            match tokens.get(&p.target) {
                Some((first, limit)) if *limit != p.erc20TotalLimit => warnings.push(Warning {
                    path: format!("permissions[{i}].erc20_total_limit"),
                    message: format!(
                        "differs from permissions[{first}] on the same token: the total is shared, each permission checks it against its own limit"
                    ),
                }),
                Some(_) => {}
                None => {
                    tokens.insert(p.target, (i, p.erc20TotalLimit));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// From contract structs back to the JSON format
// ---------------------------------------------------------------------------------------------------------------

/// Function signatures the decompiler knows by default (the four ERC-20 movements).
pub const KNOWN_FUNCTIONS: [&str; 4] = [
    "transfer(address to,uint256 amount)",
    "transferFrom(address from,address to,uint256 amount)",
    "approve(address spender,uint256 amount)",
    "increaseAllowance(address spender,uint256 addedValue)",
];

impl PermissionSpec {
    /// The JSON form of a contract permission. With `function` (whose selector must match), rules are written by
    /// argument name with typed values; otherwise by index with raw words. Fails on permissions the format cannot
    /// express (unknown flags, limits without their flag, …); the result compiles back to the same permission.
    pub fn from_permission(permission: &Permission, function: Option<&str>) -> Result<Self> {
        Self::from_permission_at("permission", permission, function)
    }

    fn from_permission_at(path: &str, p: &Permission, function: Option<&str>) -> Result<Self> {
        let non_canonical = |field: &str, reason: &str| Error::NonCanonical {
            path: format!("{path}{field}"),
            reason: reason.to_owned(),
        };
        if p.flags & !ALL_FLAGS != 0 {
            return Err(non_canonical(".flags", "unknown flag bits"));
        }
        let target = if p.has_flag(FLAG_ANY_TARGET) {
            if !p.target.is_zero() {
                return Err(non_canonical(
                    ".target",
                    "FLAG_ANY_TARGET with a non-zero target",
                ));
            }
            Target::Any
        } else {
            if p.target.is_zero() {
                return Err(non_canonical(
                    ".target",
                    "target address(0) is never allowed",
                ));
            }
            Target::Address(p.target)
        };
        let native_transfer = p.has_flag(FLAG_NATIVE_TRANSFER);
        let mut signature = None;
        let (function, selector) = if native_transfer {
            if p.selector != FixedBytes::ZERO || p.has_flag(FLAG_ERC20_TOTAL) || !p.rules.is_empty()
            {
                return Err(non_canonical(
                    ".flags",
                    "FLAG_NATIVE_TRANSFER with a selector, an ERC-20 limit or rules",
                ));
            }
            (None, None)
        } else {
            match function {
                Some(text) => {
                    let sig =
                        FunctionSignature::parse(text).map_err(|reason| Error::BadSignature {
                            path: format!("{path}.function"),
                            signature: text.to_owned(),
                            reason,
                        })?;
                    if sig.selector() != p.selector {
                        return Err(Error::Conflict {
                            path: format!("{path}.function"),
                            reason: format!(
                                "{} has selector {}, not {}",
                                sig.canonical(),
                                sig.selector(),
                                p.selector
                            ),
                        });
                    }
                    signature = Some(sig);
                    (Some(text.to_owned()), None)
                }
                None => (None, Some(p.selector)),
            }
        };
        if !p.has_flag(FLAG_NATIVE_TOTAL) && !p.nativeTotalLimit.is_zero() {
            return Err(non_canonical(
                ".native_total_limit",
                "a limit without FLAG_NATIVE_TOTAL",
            ));
        }
        if !p.has_flag(FLAG_ERC20_TOTAL) && !p.erc20TotalLimit.is_zero() {
            return Err(non_canonical(
                ".erc20_total_limit",
                "a limit without FLAG_ERC20_TOTAL",
            ));
        }
        let rate_limit = match (p.rateLimitCount, u48_to_u64(p.rateLimitInterval)) {
            (0, 0) => None,
            (0, _) => return Err(non_canonical(".rate_limit", "an interval without a count")),
            (_, 0) => return Err(non_canonical(".rate_limit", "a count without an interval")),
            (count, interval) => Some(RateLimitSpec { count, interval }),
        };
        let mut rules = Vec::with_capacity(p.rules.len());
        for (j, rule) in p.rules.iter().enumerate() {
            rules.push(decompile_rule(
                &format!("{path}.rules[{j}]"),
                rule,
                signature.as_ref(),
            )?);
        }
        let nonzero = |v: u64| (v != 0).then_some(v);
        Ok(Self {
            target,
            function,
            selector,
            native_transfer,
            value_limit: (!p.valueLimit.is_zero()).then_some(p.valueLimit),
            native_total_limit: p.has_flag(FLAG_NATIVE_TOTAL).then_some(p.nativeTotalLimit),
            erc20_total_limit: p.has_flag(FLAG_ERC20_TOTAL).then_some(p.erc20TotalLimit),
            valid_after: nonzero(u48_to_u64(p.validAfter)),
            valid_until: nonzero(u48_to_u64(p.validUntil)),
            max_uses: (p.maxUses != 0).then_some(p.maxUses),
            rate_limit,
            rules,
        })
    }
}

fn decompile_rule(
    path: &str,
    rule: &ArgRule,
    signature: Option<&FunctionSignature>,
) -> Result<RuleSpec> {
    let Some(operator) = RuleOperator::from_u8(rule.operator) else {
        return Err(Error::NonCanonical {
            path: format!("{path}.op"),
            reason: format!("unknown operator {}", rule.operator),
        });
    };
    if !operator.accepts_operand_count(rule.operands.len()) {
        return Err(Error::NonCanonical {
            path: format!("{path}.value"),
            reason: format!("{} operands for {operator}", rule.operands.len()),
        });
    }
    // the argument and its type, from the signature when it describes this word
    let word =
        signature.and_then(|sig| sig.head_words().into_iter().nth(usize::from(rule.argIndex)));
    let (arg, elementary) = match word {
        Some(w) if w.ty.is_elementary() => {
            let arg = if signature
                .and_then(|s| s.word_of_name(&w.label))
                .map(|(i, _)| i)
                == Some(rule.argIndex)
            {
                ArgRef::Name(w.label.clone())
            } else {
                ArgRef::Index(rule.argIndex)
            };
            (arg, Some(w.ty))
        }
        Some(w) => {
            return Err(Error::UnsupportedArgument {
                path: format!("{path}.arg"),
                arg: w.label,
                ty: w.ty.canonical(),
            });
        }
        None => match signature {
            Some(sig) => {
                return Err(Error::UnknownArgument {
                    path: format!("{path}.arg"),
                    arg: format!("{} (past the head of {})", rule.argIndex, sig.canonical()),
                });
            }
            None => (ArgRef::Index(rule.argIndex), None),
        },
    };
    // values typed if every operand is canonical for the type; else raw words with an explicit type
    let typed: Option<Vec<Scalar>> = elementary.as_ref().and_then(|ty| {
        rule.operands
            .iter()
            .map(|w| values::format_word(ty, *w))
            .collect()
    });
    let (operands, ty, value_type) = match (typed, elementary) {
        (Some(list), Some(ty)) => (list, None, ValueType::Typed(ty)),
        (_, Some(_)) => (
            rule.operands
                .iter()
                .map(|w| values::format_raw_word(*w))
                .collect(),
            Some("word".to_owned()),
            ValueType::Word,
        ),
        (_, None) => (
            rule.operands
                .iter()
                .map(|w| values::format_raw_word(*w))
                .collect(),
            None,
            ValueType::Word,
        ),
    };
    // operator name that reads back to the same operator for this value type
    let op = if operator.is_signed() {
        if value_type.is_signed() {
            operator.to_unsigned().name().to_owned()
        } else {
            operator.name().to_owned()
        }
    } else if value_type.is_signed() && operator.to_signed() != operator {
        format!("unsigned_{}", operator.name())
    } else {
        operator.name().to_owned()
    };
    let (value, mask) = match operator {
        RuleOperator::Bitmask => (
            Some(RuleValue::One(operands[1].clone())),
            Some(operands[0].clone()),
        ),
        RuleOperator::OneOf | RuleOperator::InRange | RuleOperator::SignedInRange => {
            (Some(RuleValue::Many(operands)), None)
        }
        _ => (Some(RuleValue::One(operands[0].clone())), None),
    };
    Ok(RuleSpec {
        arg,
        op,
        value,
        mask,
        ty,
    })
}

impl SessionSpec {
    /// The JSON form of a session and its permissions. `functions` are signatures to name rules' arguments by
    /// (matched by selector; [`KNOWN_FUNCTIONS`] are always known). The session's root must be the permissions'.
    pub fn from_contract(
        session: &Session,
        permissions: &[Permission],
        functions: &[&str],
    ) -> Result<Self> {
        abi::check_session_fields(session)?;
        let tree = PermissionTree::from_permissions(permissions)?;
        if tree.root() != session.permissionsRoot {
            return Err(Error::RootMismatch {
                expected: tree.root(),
                actual: session.permissionsRoot,
            });
        }
        let mut by_selector: HashMap<FixedBytes<4>, &str> = HashMap::new();
        for text in KNOWN_FUNCTIONS.iter().chain(functions) {
            if let Ok(sig) = FunctionSignature::parse(text) {
                by_selector.insert(sig.selector(), text);
            }
        }
        let permissions = permissions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let function = if p.has_flag(FLAG_NATIVE_TRANSFER) {
                    None
                } else {
                    by_selector.get(&p.selector).copied()
                };
                let path = format!("permissions[{i}]");
                // a rule the signature cannot describe: fall back to the selector and raw head words
                PermissionSpec::from_permission_at(&path, p, function)
                    .or_else(|_| PermissionSpec::from_permission_at(&path, p, None))
            })
            .collect::<Result<Vec<_>>>()?;
        let paymaster = match abi::PaymasterPolicyKind::from_u8(session.paymasterPolicy) {
            Some(abi::PaymasterPolicyKind::Any) => PaymasterSpec::Any,
            Some(abi::PaymasterPolicyKind::None) => PaymasterSpec::None,
            Some(abi::PaymasterPolicyKind::Required) => PaymasterSpec::Required,
            Some(abi::PaymasterPolicyKind::Exactly) => PaymasterSpec::Exactly(session.paymaster),
            None => {
                return Err(Error::range(
                    "paymaster",
                    session.paymasterPolicy.to_string(),
                    "PaymasterPolicy",
                ))
            }
        };
        Ok(Self {
            signer: session.signer,
            valid_after: u48_to_u64(session.validAfter),
            valid_until: u48_to_u64(session.validUntil),
            paymaster,
            fees: FeeScopeSpec::from_contract(session.maxOperationFee, session.feeBudget),
            salt: session.salt,
            permissions,
        })
    }
}

/// `U48_MAX` re-exported for callers building windows.
pub const MAX_TIME: u64 = U48_MAX;

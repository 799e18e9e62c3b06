//! `explain`: evaluates a session user operation off-chain, bit for bit as `SessionKeyValidator.validateUserOp`
//! and the EntryPoint would, and names the rule or limit that rejects it.
//!
//! - [`validate_user_op`] mirrors the validator alone: the `validationData` it returns, or the revert it raises
//!   (its custom error with the same parameters, or the empty revert of a Solidity calldata check).
//! - [`evaluate`] adds what the account and the EntryPoint make of it: routing by the nonce key, `AA23` (revert),
//!   `AA24` (signature), `AA22` (window: v0.7 accepts from `validAfter` on, v0.8 only strictly after it).
//! - [`Client::explain`] reads the state the validator would read (epoch, session record and its fee counter,
//!   usage and spending counters, the owner's ERC-1271 answer in enable mode) at one block and runs [`evaluate`].
//!
//! The fee scope is mirrored too: the operation's maximum cost ([`OperationCost`], the prefund EntryPoint v0.7 and
//! v0.8 require, saturated exactly as the validator saturates it), the per-operation bound and the budget
//! ([`FeeCheck`]), checked after the paymaster policy and before the calls, as the contract does; a refusal names
//! the bound that fails with the values in ETH and gwei.
//!
//! Every step follows the contract's order, so the first failure is the contract's. The permission is read the way
//! the compiled contract reads it: as a calldata struct inside the `validateUserOp` calldata, with Solidity's
//! offset, length and value-range checks (which revert without data) applied where the contract touches a field.
//!
//! Not modelled: gas (`AA13`, `AA26`, out of gas), nonces (`AA25`), prefund (`AA21`), `initCode` (`AA1x`), the
//! paymaster's own validation (`AA3x`) and the EntryPoint's checks of the operation's shape (`AA9x`; e.g. `AA94`:
//! the EntryPoint refuses a gas field above 2^120 − 1 before it calls the account, where [`validate_user_op`] still
//! says what the validator itself would answer).

use std::collections::BTreeMap;
use std::fmt;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{aliases::U48, keccak256, Address, Bytes, FixedBytes, B256, I256, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolInterface, SolValue};
use keyscope_bindings::session_key_validator::SessionKeyValidator::{
    self, SessionKeyValidatorErrors,
};
use keyscope_bindings::KeyscopeAccount;
use keyscope_permissions::abi::{decode_permission, erc20_amount_arg, SESSION_TYPEHASH};
use keyscope_permissions::values::format_decimal;
use keyscope_permissions::{
    verify, Permission, RuleOperator, ALL_FLAGS, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, MAX_CALLS, MAX_ONE_OF, MAX_RULES, MODE_ENABLE,
    MODE_USE,
};
use keyscope_signer::PackedUserOperation;

use crate::client::{Client, SessionStatus};
use crate::error::{Error, Result};
use crate::stack::Version;

/// `execute(bytes32,bytes)`.
const EXECUTE: [u8; 4] = [0xe9, 0xae, 0x5c, 0x53];
/// `abi.encode(Session)`: nine words (`_SESSION_LENGTH`).
const SESSION_LENGTH: usize = 288;
/// Where the session's `maxOperationFee` word starts in `abi.encode(Session)` (word 6).
const SESSION_MAX_OPERATION_FEE: usize = 192;
/// Where the session's `feeBudget` word starts (word 7).
const SESSION_FEE_BUDGET: usize = 224;
/// `SessionTypes.UNLIMITED_FEE` (`type(uint128).max`), compared with whole words as the contract does.
const UNLIMITED_FEE: U256 = U256::from_limbs([u64::MAX, u64::MAX, 0, 0]);
/// `_PAYMASTER_GAS_END`: the paymaster, then paymasterVerificationGasLimit and paymasterPostOpGasLimit.
const PAYMASTER_GAS_END: usize = 52;
/// The 0x20 offset word and the 12 head words of `abi.encode(Permission)`.
const PERMISSION_HEAD_LENGTH: usize = 0x20 + 12 * 0x20;
/// ERC-1271 magic value.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];
/// Largest `uint48`.
const MAX_U48: u64 = (1 << 48) - 1;

// Offsets of the `Permission` calldata struct's head words.
const P_TARGET: u64 = 0x00;
const P_SELECTOR: u64 = 0x20;
const P_FLAGS: u64 = 0x40;
const P_VALUE_LIMIT: u64 = 0x60;
const P_NATIVE_TOTAL_LIMIT: u64 = 0x80;
const P_ERC20_TOTAL_LIMIT: u64 = 0xa0;
const P_VALID_AFTER: u64 = 0xc0;
const P_VALID_UNTIL: u64 = 0xe0;
const P_MAX_USES: u64 = 0x100;
const P_RATE_LIMIT_COUNT: u64 = 0x120;
const P_RATE_LIMIT_INTERVAL: u64 = 0x140;
const P_RULES: u64 = 0x160;

// ---------------------------------------------------------------------------------------------------------------
// State and input
// ---------------------------------------------------------------------------------------------------------------

/// A permission's counters (`SessionKeyValidator.usageOf`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uses in all.
    pub uses: u64,
    /// The latest rate-limit window used.
    pub window: u32,
    /// Uses in that window.
    pub window_uses: u32,
}

/// What the validator reads from its storage when it validates an operation of one session on one account.
///
/// Counters are per (account, session, epoch): read them for the account's current epoch (the validator's views
/// do). A leaf or asset missing from the maps reads as zero, as unwritten storage does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// Whether the validator is installed on the account (`isInitialized`). The account only routes to installed
    /// modules; without it the operation fails the signature check (`AA24`).
    pub installed: bool,
    /// The account's epoch (`epochOf`).
    pub epoch: u64,
    /// The status of the session the signature names, in the current epoch (`sessionStatus`).
    pub status: SessionStatus,
    /// In enable mode: whether the account's ERC-1271 `isValidSignature(enableDigest, ownerSignature)` answers the
    /// magic value. Ignored in use mode.
    pub owner_signature_valid: bool,
    /// Usage counters per permission leaf (`usageOf`).
    pub usage: BTreeMap<B256, Usage>,
    /// Cumulative spending per asset (`spentOf`): `Address::ZERO` for native value, else the ERC-20 token.
    pub spent: BTreeMap<Address, U256>,
    /// The fees charged to the session's budget in the current epoch (`feesChargedOf`; the record's `uint128
    /// feesCharged`, so only its low 128 bits count). Read only when the session is active: a session enabled by
    /// the operation starts at zero.
    pub fees_charged: U256,
}

impl SessionState {
    /// An installed validator and an active session with fresh counters (epoch 1).
    pub fn active() -> Self {
        Self {
            installed: true,
            epoch: 1,
            status: SessionStatus::Active,
            owner_signature_valid: true,
            usage: BTreeMap::new(),
            spent: BTreeMap::new(),
            fees_charged: U256::ZERO,
        }
    }

    /// The usage of `leaf` (zero when absent).
    pub fn usage_of(&self, leaf: &B256) -> Usage {
        self.usage.get(leaf).copied().unwrap_or_default()
    }

    /// The spending of `asset` (zero when absent).
    pub fn spent_of(&self, asset: &Address) -> U256 {
        self.spent.get(asset).copied().unwrap_or_default()
    }
}

/// A user operation to evaluate, and everything the evaluation depends on.
#[derive(Debug, Clone, Copy)]
pub struct ExplainInput<'a> {
    /// The operation, as it would be sent.
    pub op: &'a PackedUserOperation,
    /// Its userOpHash (what the session key signs), for the EntryPoint `version`.
    pub user_op_hash: B256,
    /// The `SessionKeyValidator`.
    pub validator: Address,
    /// The EntryPoint version (decides whether `validAfter` itself is inside the window).
    pub version: Version,
    /// The block timestamp to evaluate the window at.
    pub now: u64,
    /// The validator's state for the account and the session.
    pub state: &'a SessionState,
}

/// The storage slots an evaluation reads: what [`Client::explain`] fetches before evaluating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateKeys {
    /// The session the signature names.
    pub session_id: Option<B256>,
    /// In enable mode, the owner's signature to check through the account's ERC-1271.
    pub owner_signature: Option<Bytes>,
    /// Permission leaves whose usage counters are read.
    pub leaves: Vec<B256>,
    /// Assets whose cumulative spending is read (`Address::ZERO`: native value).
    pub assets: Vec<Address>,
    /// Whether the session's fee counter is read (`feesChargedOf`): the session has a fee budget and the
    /// operation reaches the fee check.
    pub fees_charged: bool,
}

// ---------------------------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------------------------

/// What set one end of the operation's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSource {
    /// The session's `validAfter` / `validUntil`.
    Session,
    /// The window of call `call`'s permission.
    Permission {
        /// The call.
        call: usize,
    },
    /// Rate-limit window `window` of call `call`'s permission.
    RateLimitWindow {
        /// The call.
        call: usize,
        /// The window index the signature names.
        window: u32,
    },
}

impl fmt::Display for WindowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session => f.write_str("the session"),
            Self::Permission { call } => write!(f, "call {call}'s permission"),
            Self::RateLimitWindow { call, window } => {
                write!(f, "call {call}'s rate-limit window {window}")
            }
        }
    }
}

/// One call of the operation as the validator checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    /// Index of the call in the execution.
    pub index: usize,
    /// The call's target.
    pub target: Address,
    /// The native value it sends.
    pub value: U256,
    /// Its selector (`None`: calldata shorter than 4 bytes).
    pub selector: Option<FixedBytes<4>>,
    /// Length of its calldata.
    pub data_len: usize,
    /// The leaf of the permission the signature presents for it (once read).
    pub leaf: Option<B256>,
    /// That permission, when its encoding is canonical.
    pub permission: Option<Permission>,
    /// The rate-limit window index the signature names (once read).
    pub rate_limit_window: Option<u32>,
    /// The permission's usage counters after this call (when it has a usage or rate limit).
    pub usage: Option<Usage>,
}

/// The detail of a failed argument rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDetail {
    /// Index of the rule in the permission.
    pub rule_index: usize,
    /// The argument word it reads.
    pub arg_index: u64,
    /// The operator word as encoded.
    pub operator_raw: U256,
    /// The operator, when the word is one.
    pub operator: Option<RuleOperator>,
    /// The argument word (`None`: past the end of the calldata).
    pub arg: Option<B256>,
    /// The operands (when their count is valid for the operator).
    pub operands: Vec<B256>,
    /// The number of operands encoded.
    pub operand_count: U256,
}

/// An operation's maximum cost, as the validator computes it (`_maxOperationFee`): the prefund EntryPoint v0.7
/// and v0.8 require, the sum of its gas limits times its `maxFeePerGas`, whoever pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationCost {
    /// `verificationGasLimit` (the high 128 bits of `accountGasLimits`).
    pub verification_gas_limit: u128,
    /// `callGasLimit` (the low 128 bits of `accountGasLimits`).
    pub call_gas_limit: u128,
    /// `preVerificationGas`.
    pub pre_verification_gas: U256,
    /// `paymasterVerificationGasLimit` and `paymasterPostOpGasLimit`, counted when `paymasterAndData` holds them
    /// (52 bytes or more).
    pub paymaster_gas_limits: Option<(u128, u128)>,
    /// `maxFeePerGas` (the low 128 bits of `gasFees`).
    pub max_fee_per_gas: u128,
    /// The gas added up; `None` where the validator saturates: `preVerificationGas` or the sum is 2^128 or more.
    pub gas: Option<u128>,
    /// The cost in wei: `gas × maxFeePerGas`, or 2^256 − 1 where the gas does not fit 128 bits.
    pub fee: U256,
}

impl OperationCost {
    /// The cost of `op`, step for step as `_maxOperationFee` computes it (in 256-bit words).
    pub fn of(op: &PackedUserOperation) -> Self {
        let gas_limits = U256::from_be_bytes(op.accountGasLimits.0);
        let verification = gas_limits >> 128;
        let call = low_bits(gas_limits, 128);
        let pre_verification = op.preVerificationGas;
        let paymaster = (op.paymasterAndData.len() >= PAYMASTER_GAS_END).then(|| {
            let word = word_at(&op.paymasterAndData, 20);
            (word >> 128, low_bits(word, 128))
        });
        let max_fee_per_gas = low_bits(U256::from_be_bytes(op.gasFees.0), 128);
        let gas = if pre_verification >> 128 != U256::ZERO {
            None
        } else {
            // each term is below 2^128: the sum is below 2^131
            let mut gas = verification + call + pre_verification;
            if let Some((verification, post_op)) = paymaster {
                gas += verification + post_op;
            }
            (gas >> 128 == U256::ZERO).then_some(gas)
        };
        let fee = match gas {
            // both below 2^128: the product fits
            Some(gas) => gas * max_fee_per_gas,
            None => U256::MAX,
        };
        let narrow = |value: U256| value.saturating_to::<u128>();
        Self {
            verification_gas_limit: narrow(verification),
            call_gas_limit: narrow(call),
            pre_verification_gas: pre_verification,
            paymaster_gas_limits: paymaster.map(|(v, p)| (narrow(v), narrow(p))),
            max_fee_per_gas: narrow(max_fee_per_gas),
            gas: gas.map(narrow),
            fee,
        }
    }
}

impl fmt::Display for OperationCost {
    /// `"410,000 gas x 30 gwei maxFeePerGas"`, or why the cost saturates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.gas {
            Some(gas) => write!(
                f,
                "{} gas x {} maxFeePerGas",
                grouped(U256::from(gas)),
                gwei(U256::from(self.max_fee_per_gas))
            ),
            None if self.pre_verification_gas >> 128 != U256::ZERO => write!(
                f,
                "preVerificationGas {} is 2^128 or more, so the validator counts the most a word holds",
                show(self.pre_verification_gas)
            ),
            None => f.write_str(
                "its gas limits add up to 2^128 or more, so the validator counts the most a word holds",
            ),
        }
    }
}

/// The fee scope check of an operation (`_chargeFee`): the session's bounds, the operation's maximum cost, and
/// what the session was charged before and after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeCheck {
    /// The session's `maxOperationFee` word ([`UNLIMITED_FEE`](keyscope_permissions::UNLIMITED_FEE): no bound).
    pub max_operation_fee: U256,
    /// The session's `feeBudget` word ([`UNLIMITED_FEE`](keyscope_permissions::UNLIMITED_FEE): no budget).
    pub fee_budget: U256,
    /// The operation's maximum cost (the validator computes it only when a bound is set).
    pub cost: OperationCost,
    /// The session's charges before the operation (zero for a session the operation enables).
    pub charged_before: U256,
    /// The session's charges after it, as the validator stores them: `charged_before + cost.fee` when the session
    /// has a budget, else unchanged.
    pub charged_after: U256,
}

impl FeeCheck {
    /// The most wei per operation; `None`: unlimited.
    pub fn per_operation_limit(&self) -> Option<U256> {
        (self.max_operation_fee != UNLIMITED_FEE).then_some(self.max_operation_fee)
    }

    /// The budget in wei; `None`: unlimited.
    pub fn budget(&self) -> Option<U256> {
        (self.fee_budget != UNLIMITED_FEE).then_some(self.fee_budget)
    }

    /// What is left of the budget after the operation; `None`: unlimited.
    pub fn budget_left(&self) -> Option<U256> {
        self.budget()
            .map(|budget| budget.saturating_sub(self.charged_after))
    }

    /// Whether the validator checks the operation's cost at all (a bound is set).
    pub fn is_checked(&self) -> bool {
        self.per_operation_limit().is_some() || self.budget().is_some()
    }

    /// The operation's maximum cost in wei.
    pub fn fee(&self) -> U256 {
        self.cost.fee
    }
}

impl fmt::Display for FeeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the operation may cost up to {} ({})",
            eth(self.cost.fee),
            self.cost
        )?;
        match self.per_operation_limit() {
            Some(limit) => write!(f, ", per-operation fee limit {}", eth(limit))?,
            None => f.write_str(", no per-operation fee limit")?,
        }
        match (self.budget(), self.budget_left()) {
            (Some(budget), Some(left)) => write!(
                f,
                "; {} of the {} fee budget left after it",
                eth(left),
                eth(budget)
            ),
            _ => f.write_str("; no fee budget"),
        }
    }
}

/// How the validator reverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertKind {
    /// With one of its custom errors.
    Error(Box<SessionKeyValidatorErrors>),
    /// Without data: a Solidity calldata check on a permission encoding that is a leaf of the tree but not
    /// canonical (a field out of its type's range, or an offset or length out of bounds).
    Empty {
        /// The field whose read reverted, e.g. `"flags"` or `"rules[2].operands"`.
        field: String,
    },
}

/// A revert of `validateUserOp`, with what led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorRevert {
    /// The revert.
    pub kind: RevertKind,
    /// The call being checked, for per-call errors.
    pub call: Option<Box<CallReport>>,
    /// The failing rule, for rule errors.
    pub rule: Option<Box<RuleDetail>>,
    /// The session's permissions root (once read).
    pub root: Option<B256>,
    /// The fee check, once the operation reached it (for `OperationFeeExceeded` and `FeeBudgetExceeded`: the
    /// cost and the charges the error's values come from).
    pub fee: Option<Box<FeeCheck>>,
}

impl ValidatorRevert {
    /// The revert that `data`, the validator's revert data as the chain returns it, encodes: one of its custom
    /// errors (`None` for other data). Without the operation, its description has only the error's values.
    pub fn from_revert_data(data: &[u8]) -> Option<Self> {
        let error = SessionKeyValidatorErrors::abi_decode(data).ok()?;
        Some(Self {
            kind: RevertKind::Error(Box::new(error)),
            call: None,
            rule: None,
            root: None,
            fee: None,
        })
    }

    /// The custom error, if the revert is one.
    pub fn error(&self) -> Option<&SessionKeyValidatorErrors> {
        match &self.kind {
            RevertKind::Error(error) => Some(error),
            RevertKind::Empty { .. } => None,
        }
    }

    /// The revert data, byte for byte as the contract reverts.
    pub fn revert_data(&self) -> Bytes {
        match &self.kind {
            RevertKind::Error(error) => error.abi_encode().into(),
            RevertKind::Empty { .. } => Bytes::new(),
        }
    }

    /// The custom error's name (`"ArgumentRuleFailed"` …), or `"(empty revert)"`.
    pub fn name(&self) -> &'static str {
        match &self.kind {
            RevertKind::Error(error) => {
                SessionKeyValidatorErrors::name_by_selector(error.selector()).unwrap_or("(unknown)")
            }
            RevertKind::Empty { .. } => "(empty revert)",
        }
    }
}

/// The session-key signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSignatureCheck {
    /// The session's signer.
    pub signer: Address,
    /// Whom the signature recovers to, or why it does not recover (as OpenZeppelin's `ECDSA.tryRecover`).
    pub recovered: core::result::Result<Address, String>,
}

impl SessionSignatureCheck {
    /// Whether it is the signer's signature.
    pub fn valid(&self) -> bool {
        matches!(&self.recovered, Ok(address) if *address == self.signer)
    }
}

/// What `validateUserOp` returns when it does not revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The returned `validationData`: `sigFailed | validUntil << 160 | validAfter << 208`.
    pub validation_data: U256,
    /// `validAfter` as encoded (the latest start of the session, the permissions and the rate-limit windows).
    pub valid_after: u64,
    /// `validUntil` as encoded (the earliest end).
    pub valid_until: u64,
    /// What set `valid_after`.
    pub valid_after_source: WindowSource,
    /// What set `valid_until`.
    pub valid_until_source: WindowSource,
    /// The session.
    pub session_id: B256,
    /// In enable mode, whether the owner's signature was accepted by the account (`None`: use mode).
    pub owner_signature_valid: Option<bool>,
    /// The session-key signature check.
    pub session_signature: SessionSignatureCheck,
    /// Each call and the permission it matched.
    pub calls: Vec<CallReport>,
    /// The fee scope check: the operation's maximum cost and, for a session with a budget, what is left of it
    /// after the operation.
    pub fees: FeeCheck,
}

impl Validation {
    /// Whether the signature check failed (`validationData`'s low bit: `SIG_VALIDATION_FAILED`).
    pub fn signature_failed(&self) -> bool {
        self.validation_data.bit(0)
    }

    /// Whether the EntryPoint of `version` accepts the window at time `now` (after it treats `validUntil == 0`
    /// as "no end").
    pub fn in_window(&self, version: Version, now: u64) -> bool {
        let until = if self.valid_until == 0 {
            MAX_U48
        } else {
            self.valid_until
        };
        let after = self.valid_after;
        let too_early = match version {
            Version::V07 => now < after,
            Version::V08 => now <= after,
        };
        !(now > until || too_early)
    }
}

/// Why the EntryPoint would reject the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The nonce key names another validator module: the session validator never sees the operation.
    NotSessionValidator {
        /// The module the nonce key names.
        module: Address,
    },
    /// The validator is not installed on the account, which then fails the signature (`AA24`).
    ModuleNotInstalled,
    /// The validator reverts (`AA23 reverted`).
    Reverted(ValidatorRevert),
    /// The validator returns `SIG_VALIDATION_FAILED` (`AA24 signature error`).
    SignatureInvalid(Validation),
    /// The time is outside the returned window (`AA22 expired or not due`).
    OutsideWindow {
        /// The time evaluated.
        now: u64,
        /// The EntryPoint version.
        version: Version,
        /// The validation.
        validation: Validation,
    },
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The EntryPoint accepts the operation's validation.
    Accepted(Validation),
    /// It rejects it.
    Rejected(Rejection),
}

impl Verdict {
    /// Whether accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }

    /// The EntryPoint's `AAxx` code of the rejection (`None` when accepted, or when the operation does not reach
    /// the session validator).
    pub fn aa_code(&self) -> Option<&'static str> {
        match self {
            Self::Accepted(_) | Self::Rejected(Rejection::NotSessionValidator { .. }) => None,
            Self::Rejected(Rejection::Reverted(_)) => Some("AA23"),
            Self::Rejected(Rejection::ModuleNotInstalled | Rejection::SignatureInvalid(_)) => {
                Some("AA24")
            }
            Self::Rejected(Rejection::OutsideWindow { .. }) => Some("AA22"),
        }
    }

    /// The validator's revert, for `AA23`.
    pub fn revert(&self) -> Option<&ValidatorRevert> {
        match self {
            Self::Rejected(Rejection::Reverted(revert)) => Some(revert),
            _ => None,
        }
    }

    /// The validator's custom error, for `AA23`.
    pub fn validator_error(&self) -> Option<&SessionKeyValidatorErrors> {
        self.revert().and_then(ValidatorRevert::error)
    }

    /// What `validateUserOp` returned, when it did not revert.
    pub fn validation(&self) -> Option<&Validation> {
        match self {
            Self::Accepted(validation)
            | Self::Rejected(Rejection::SignatureInvalid(validation))
            | Self::Rejected(Rejection::OutsideWindow { validation, .. }) => Some(validation),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------------------------

/// `SessionKeyValidator.validateUserOp(input.op, input.user_op_hash)` called by `caller`: the `validationData` it
/// returns or the revert it raises, bit-exact.
pub fn validate_user_op(
    input: &ExplainInput<'_>,
    caller: Address,
) -> core::result::Result<Validation, ValidatorRevert> {
    let calldata = Calldata::of(input);
    Machine::new(input, caller, &calldata).validate().0
}

/// What the EntryPoint makes of the operation's validation: accepted with its window, or rejected with the
/// validator's error (`AA23`), a failed signature (`AA24`) or a window that excludes `input.now` (`AA22`).
pub fn evaluate(input: &ExplainInput<'_>) -> Verdict {
    let nonce = input.op.nonce.to_be_bytes::<32>();
    let module = Address::from_slice(&nonce[..20]);
    if module != input.validator {
        return Verdict::Rejected(Rejection::NotSessionValidator { module });
    }
    if !input.state.installed {
        return Verdict::Rejected(Rejection::ModuleNotInstalled);
    }
    match validate_user_op(input, input.op.sender) {
        Err(revert) => Verdict::Rejected(Rejection::Reverted(revert)),
        Ok(validation) if validation.signature_failed() => {
            Verdict::Rejected(Rejection::SignatureInvalid(validation))
        }
        Ok(validation) if !validation.in_window(input.version, input.now) => {
            Verdict::Rejected(Rejection::OutsideWindow {
                now: input.now,
                version: input.version,
                validation,
            })
        }
        Ok(validation) => Verdict::Accepted(validation),
    }
}

/// The state an evaluation of `op` reads: its session, the owner signature to check in enable mode, the leaves of
/// the permissions with usage or rate limits, and the assets with cumulative limits.
///
/// Found by evaluating against an active session with zero counters, which goes at least as far through the
/// operation as any real state, so it names every slot a real evaluation may read.
pub fn state_keys(op: &PackedUserOperation, validator: Address) -> StateKeys {
    let state = SessionState::active();
    let input = ExplainInput {
        op,
        user_op_hash: B256::ZERO,
        validator,
        version: Version::V07,
        now: 0,
        state: &state,
    };
    let calldata = Calldata::of(&input);
    Machine::new(&input, op.sender, &calldata).validate().1
}

// ---------------------------------------------------------------------------------------------------------------
// The calldata the validator sees
// ---------------------------------------------------------------------------------------------------------------

/// The `validateUserOp` calldata, for Solidity's calldata reads (`calldataload` reads zeros past the end).
struct Calldata {
    bytes: Vec<u8>,
}

impl Calldata {
    /// `validateUserOp(op, userOpHash)` as the account encodes it (canonically).
    fn of(input: &ExplainInput<'_>) -> Self {
        let mut bytes = SessionKeyValidator::validateUserOpCall::SELECTOR.to_vec();
        bytes.extend_from_slice(&(input.op.clone(), input.user_op_hash).abi_encode_params());
        Self { bytes }
    }

    fn size(&self) -> U256 {
        U256::from(self.bytes.len())
    }

    fn load(&self, position: U256) -> U256 {
        let Ok(start) = usize::try_from(position) else {
            return U256::ZERO;
        };
        let mut word = [0u8; 32];
        if let Some(rest) = self.bytes.get(start..) {
            let n = rest.len().min(32);
            word[..n].copy_from_slice(&rest[..n]);
        }
        U256::from_be_bytes(word)
    }

    /// Solidity's `access_calldata_tail`: follows the offset at `pointer` from `base`; for dynamic arrays also
    /// reads the length (32-byte stride). `None` where Solidity reverts without data.
    fn tail(&self, base: U256, pointer: U256, needed: u64, array: bool) -> Option<(U256, U256)> {
        let relative = self.load(pointer);
        let bound = self
            .size()
            .wrapping_sub(base)
            .wrapping_sub(U256::from(needed - 1));
        if I256::from_raw(relative) >= I256::from_raw(bound) {
            return None;
        }
        let address = base.wrapping_add(relative);
        if !array {
            return Some((address, U256::ZERO));
        }
        let length = self.load(address);
        if length > U256::from(u64::MAX) {
            return None;
        }
        let address = address.wrapping_add(U256::from(32));
        let end = self
            .size()
            .wrapping_sub(length.wrapping_mul(U256::from(32)));
        if I256::from_raw(address) > I256::from_raw(end) {
            return None;
        }
        Some((address, length))
    }
}

fn padded(length: usize) -> usize {
    length.div_ceil(32).saturating_mul(32)
}

/// The 32-byte word at `position` of `data`, zero-padded (callers check bounds first, as the contract does).
fn word_at(data: &[u8], position: usize) -> U256 {
    let mut word = [0u8; 32];
    if let Some(rest) = data.get(position..) {
        let n = rest.len().min(32);
        word[..n].copy_from_slice(&rest[..n]);
    }
    U256::from_be_bytes(word)
}

fn low_bits(value: U256, bits: usize) -> U256 {
    value & ((U256::from(1) << bits) - U256::from(1))
}

fn to_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn to_usize(value: U256) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn address_of_word(value: U256) -> Address {
    Address::from_word(B256::from(value))
}

// ---------------------------------------------------------------------------------------------------------------
// The validator, step by step
// ---------------------------------------------------------------------------------------------------------------

type Step<T> = core::result::Result<T, ValidatorRevert>;

macro_rules! fail {
    ($name:ident { $($field:ident : $value:expr),* $(,)? }) => {
        return Err(ValidatorRevert {
            kind: RevertKind::Error(Box::new(SessionKeyValidatorErrors::$name(SessionKeyValidator::$name {
                $($field: $value),*
            }))),
            call: None,
            rule: None,
            root: None,
            fee: None,
        })
    };
}

fn empty_revert(field: impl Into<String>) -> ValidatorRevert {
    ValidatorRevert {
        kind: RevertKind::Empty {
            field: field.into(),
        },
        call: None,
        rule: None,
        root: None,
        fee: None,
    }
}

fn u(value: usize) -> U256 {
    U256::from(value)
}

/// `_take`: `length` bytes at `cursor`; the cursor after them.
fn take(data: &[u8], cursor: usize, length: usize) -> Step<usize> {
    if data.len() < cursor || data.len() - cursor < length {
        fail!(SignatureTruncated {
            offset: u(cursor),
            needed: u(length)
        });
    }
    Ok(cursor + length)
}

/// `_takeUint`: a big-endian integer of `size` bytes (at most 4 here).
fn take_uint(data: &[u8], cursor: usize, size: usize) -> Step<(usize, usize)> {
    let next = take(data, cursor, size)?;
    let value = data[cursor..next]
        .iter()
        .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
    Ok((value, next))
}

/// `_takeLengthPrefixed`: the byte range and the cursor after it.
fn take_prefixed(
    data: &[u8],
    cursor: usize,
    size: usize,
) -> Step<(core::ops::Range<usize>, usize)> {
    let (length, start) = take_uint(data, cursor, size)?;
    let next = take(data, start, length)?;
    Ok((start..next, next))
}

/// The running window of a validation.
struct Window {
    after: U256,
    until: U256,
    after_source: WindowSource,
    until_source: WindowSource,
}

/// A `Permission` calldata struct at `base` in the validator's calldata, read field by field with Solidity's
/// checks.
struct PermissionView<'c> {
    calldata: &'c Calldata,
    base: U256,
}

impl PermissionView<'_> {
    fn raw(&self, offset: u64) -> U256 {
        self.calldata
            .load(self.base.wrapping_add(U256::from(offset)))
    }

    /// A value-type field of `bits` bits (right-aligned), reverting when its high bits are set.
    fn uint(&self, offset: u64, bits: usize, field: &str) -> Step<U256> {
        let value = self.raw(offset);
        if bits < 256 && value >> bits != U256::ZERO {
            return Err(empty_revert(field));
        }
        Ok(value)
    }

    fn address(&self) -> Step<Address> {
        Ok(address_of_word(self.uint(P_TARGET, 160, "target")?))
    }

    /// `bytes4`: left-aligned, the low 28 bytes must be zero.
    fn selector(&self) -> Step<FixedBytes<4>> {
        let value = self.raw(P_SELECTOR);
        if low_bits(value, 224) != U256::ZERO {
            return Err(empty_revert("selector"));
        }
        let bytes = value.to_be_bytes::<32>();
        Ok(FixedBytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn flags(&self) -> Step<u8> {
        Ok(self.uint(P_FLAGS, 8, "flags")?.saturating_to::<u8>())
    }
}

struct Machine<'a> {
    input: &'a ExplainInput<'a>,
    op: &'a PackedUserOperation,
    caller: Address,
    calldata: &'a Calldata,
    /// Where `userOp.signature`'s bytes start in the calldata.
    signature_offset: usize,
    usage: BTreeMap<B256, Usage>,
    spent: BTreeMap<Address, U256>,
    keys: StateKeys,
    calls: Vec<CallReport>,
    current: Option<CallReport>,
    rule: Option<RuleDetail>,
    root: Option<B256>,
    fee: Option<FeeCheck>,
}

impl<'a> Machine<'a> {
    fn new(input: &'a ExplainInput<'a>, caller: Address, calldata: &'a Calldata) -> Self {
        let op = input.op;
        // The signature is the last tail of the canonical encoding.
        let signature_offset = calldata
            .bytes
            .len()
            .saturating_sub(padded(op.signature.len()));
        Self {
            input,
            op,
            caller,
            calldata,
            signature_offset,
            usage: input.state.usage.clone(),
            spent: input.state.spent.clone(),
            keys: StateKeys::default(),
            calls: Vec::new(),
            current: None,
            rule: None,
            root: None,
            fee: None,
        }
    }

    fn validate(mut self) -> (core::result::Result<Validation, ValidatorRevert>, StateKeys) {
        let result = self.run().map_err(|mut revert| {
            revert.call = self.current.take().map(Box::new);
            revert.rule = self.rule.take().map(Box::new);
            revert.root = self.root;
            revert.fee = self.fee.map(Box::new);
            revert
        });
        (result, self.keys)
    }

    /// `validateUserOp`.
    fn run(&mut self) -> Step<Validation> {
        let op = self.op;
        let state = self.input.state;
        if op.sender != self.caller {
            fail!(SenderMismatch {
                sender: op.sender,
                caller: self.caller
            });
        }
        if !state.installed {
            fail!(NotInstalled {
                account: self.caller
            });
        }
        let signature: &'a [u8] = &op.signature;
        let mut cursor = take(signature, 1, SESSION_LENGTH)?;
        let session: &'a [u8] = &signature[1..cursor];
        let mode = signature[0];
        let mut preimage = SESSION_TYPEHASH.to_vec();
        preimage.extend_from_slice(session);
        let session_id = keccak256(&preimage);
        self.keys.session_id = Some(session_id);
        let mut owner_signature_valid = None;
        if mode == MODE_ENABLE {
            let (owner_signature, next) = take_prefixed(signature, cursor, 2)?;
            cursor = next;
            self.keys.owner_signature = Some(Bytes::copy_from_slice(&signature[owner_signature]));
            check_session_fields(session)?;
            if state.status == SessionStatus::Revoked {
                fail!(SessionIsRevoked {
                    sessionId: session_id
                });
            }
            owner_signature_valid = Some(state.owner_signature_valid);
        } else if mode == MODE_USE {
            if state.status != SessionStatus::Active {
                fail!(SessionNotActive {
                    sessionId: session_id
                });
            }
        } else {
            fail!(UnknownSignatureMode { mode: mode });
        }

        check_paymaster(session, &op.paymasterAndData)?;
        // The record read before the mode: a session not active in this epoch (enabled now) starts at zero.
        let charged = if state.status == SessionStatus::Active {
            low_bits(state.fees_charged, 128)
        } else {
            U256::ZERO
        };
        let fees = self.charge_fee(session, charged)?;

        let root = B256::from_slice(&session[96..128]);
        self.root = Some(root);
        let mut window = Window {
            after: low_bits(word_at(session, 32), 48),
            until: low_bits(word_at(session, 64), 48),
            after_source: WindowSource::Session,
            until_source: WindowSource::Session,
        };
        cursor = self.check_calls(root, &mut window, cursor)?;

        let (session_signature, next) = take_prefixed(signature, cursor, 1)?;
        if next != signature.len() {
            fail!(SignatureTrailingBytes {
                extra: u(signature.len() - next)
            });
        }
        let check = SessionSignatureCheck {
            signer: address_of_word(word_at(session, 0)),
            recovered: keyscope_signer::recover(
                &self.input.user_op_hash,
                &signature[session_signature],
            )
            .map_err(|e| e.to_string()),
        };
        let failed = owner_signature_valid == Some(false) || !check.valid();
        let validation_data =
            U256::from(u8::from(failed)) | (window.until << 160) | (window.after << 208);
        Ok(Validation {
            validation_data,
            valid_after: to_u64(window.after),
            valid_until: to_u64(window.until),
            valid_after_source: window.after_source,
            valid_until_source: window.until_source,
            session_id,
            owner_signature_valid,
            session_signature: check,
            calls: std::mem::take(&mut self.calls),
            fees,
        })
    }

    /// `_chargeFee`: the operation's maximum cost against the session's bounds, charged to its budget.
    fn charge_fee(&mut self, session: &[u8], charged: U256) -> Step<FeeCheck> {
        let limit = word_at(session, SESSION_MAX_OPERATION_FEE);
        let budget = word_at(session, SESSION_FEE_BUDGET);
        let mut check = FeeCheck {
            max_operation_fee: limit,
            fee_budget: budget,
            cost: OperationCost::of(self.op),
            charged_before: charged,
            charged_after: charged,
        };
        self.fee = Some(check);
        if limit == UNLIMITED_FEE && budget == UNLIMITED_FEE {
            return Ok(check);
        }
        let fee = check.cost.fee;
        if limit != UNLIMITED_FEE && fee > limit {
            fail!(OperationFeeExceeded {
                fee: fee,
                limit: limit
            });
        }
        if budget == UNLIMITED_FEE {
            return Ok(check);
        }
        self.keys.fees_charged = true;
        let total = fee.saturating_add(charged);
        if total > budget {
            fail!(FeeBudgetExceeded {
                total: total,
                budget: budget
            });
        }
        // `record.feesCharged = uint128(total)`
        check.charged_after = low_bits(total, 128);
        self.fee = Some(check);
        Ok(check)
    }

    /// `_checkCalls`.
    fn check_calls(&mut self, root: B256, window: &mut Window, cursor: usize) -> Step<usize> {
        let op: &'a PackedUserOperation = self.op;
        let (batch, execution) = decode_execute(&op.callData)?;
        let calls = if batch { batch_length(execution)? } else { 1 };
        let signature: &'a [u8] = &op.signature;
        let (permissions, mut cursor) = take_uint(signature, cursor, 1)?;
        if permissions != calls {
            fail!(CallCountMismatch {
                calls: u(calls),
                permissions: u(permissions)
            });
        }
        let mut next_element = calls * 0x20;
        for index in 0..calls {
            let (target, value, data) = if batch {
                decode_batch_element(execution, index, &mut next_element)?
            } else {
                decode_single(execution)?
            };
            self.current = Some(CallReport {
                index,
                target,
                value,
                selector: data.get(..4).map(FixedBytes::<4>::from_slice),
                data_len: data.len(),
                leaf: None,
                permission: None,
                rate_limit_window: None,
                usage: None,
            });
            cursor = self.check_call(index, target, value, data, root, window, cursor)?;
            if let Some(call) = self.current.take() {
                self.calls.push(call);
            }
        }
        if batch && 0x40 + next_element != execution.len() {
            fail!(MalformedExecutionCalldata {
                offset: u(100 + 0x40 + next_element)
            });
        }
        Ok(cursor)
    }

    /// `_checkNthCall` after decoding: `_provenPermission`, `_checkScope`, `_narrowWindow`, `_count`, `_spend`.
    #[allow(clippy::too_many_arguments)]
    fn check_call(
        &mut self,
        index: usize,
        target: Address,
        value: U256,
        data: &[u8],
        root: B256,
        window: &mut Window,
        cursor: usize,
    ) -> Step<usize> {
        let op: &'a PackedUserOperation = self.op;
        let signature: &'a [u8] = &op.signature;
        let (permission_range, cursor) = take_prefixed(signature, cursor, 2)?;
        let (proof_length, cursor) = take_uint(signature, cursor, 1)?;
        let proof_start = cursor;
        let cursor = take(signature, cursor, proof_length * 0x20)?;
        let proof: Vec<B256> = signature[proof_start..cursor]
            .chunks_exact(32)
            .map(B256::from_slice)
            .collect();
        let (rate_window, cursor) = take_uint(signature, cursor, 4)?;
        let rate_window = u32::try_from(rate_window).unwrap_or(u32::MAX);

        let permission_start = permission_range.start;
        let permission_data = &signature[permission_range];
        let leaf = keccak256(keccak256(permission_data));
        if let Some(call) = self.current.as_mut() {
            call.leaf = Some(leaf);
            call.permission = decode_permission(permission_data).ok();
            call.rate_limit_window = Some(rate_window);
        }
        if !verify(root, leaf, &proof) {
            fail!(PermissionNotInSession {
                callIndex: u(index),
                leaf: leaf
            });
        }

        // _permissionView
        let length = permission_data.len();
        if length < PERMISSION_HEAD_LENGTH || word_at(permission_data, 0) != U256::from(0x20) {
            fail!(MalformedPermission {
                callIndex: u(index)
            });
        }
        let rules_offset = word_at(permission_data, 0x20 + 11 * 0x20);
        if rules_offset > u(length - 0x40) {
            fail!(MalformedPermission {
                callIndex: u(index)
            });
        }
        let view = PermissionView {
            calldata: self.calldata,
            base: u(self.signature_offset + permission_start + 0x20),
        };

        check_scope(
            &view,
            index,
            self.caller,
            self.input.validator,
            target,
            value,
            data,
            &mut self.rule,
        )?;
        narrow_window(&view, index, rate_window, window)?;
        self.count(&view, index, rate_window, leaf)?;
        self.spend(&view, index, target, value, data)?;
        Ok(cursor)
    }

    /// `_count`.
    fn count(
        &mut self,
        view: &PermissionView<'_>,
        index: usize,
        window: u32,
        leaf: B256,
    ) -> Step<()> {
        let max_uses = view.uint(P_MAX_USES, 32, "maxUses")?;
        let per_window = view.uint(P_RATE_LIMIT_COUNT, 32, "rateLimitCount")?;
        if max_uses.is_zero() && per_window.is_zero() {
            return Ok(());
        }
        if !self.keys.leaves.contains(&leaf) {
            self.keys.leaves.push(leaf);
        }
        let current = self.usage.get(&leaf).copied().unwrap_or_default();
        let uses = U256::from(current.uses) + U256::from(1);
        if !max_uses.is_zero() && uses > max_uses {
            fail!(UsageLimitReached {
                callIndex: u(index),
                uses: uses,
                maxUses: max_uses
            });
        }
        let mut updated = current;
        if !per_window.is_zero() {
            if window < current.window {
                fail!(RateLimitWindowPassed {
                    callIndex: u(index),
                    window: U256::from(window),
                    latestWindow: U256::from(current.window)
                });
            }
            let window_uses = if window == current.window {
                U256::from(current.window_uses) + U256::from(1)
            } else {
                U256::from(1)
            };
            if window_uses > per_window {
                fail!(RateLimitReached {
                    callIndex: u(index),
                    window: U256::from(window),
                    maxPerWindow: per_window
                });
            }
            updated.window = window;
            updated.window_uses = window_uses.saturating_to::<u32>();
        }
        // uint64(uses): truncating, as the contract stores it
        updated.uses = current.uses.wrapping_add(1);
        self.usage.insert(leaf, updated);
        if let Some(call) = self.current.as_mut() {
            call.usage = Some(updated);
        }
        Ok(())
    }

    /// `_addSpent`: saturating.
    fn add_spent(&mut self, asset: Address, amount: U256) -> U256 {
        if !self.keys.assets.contains(&asset) {
            self.keys.assets.push(asset);
        }
        let total = self
            .spent
            .get(&asset)
            .copied()
            .unwrap_or_default()
            .saturating_add(amount);
        self.spent.insert(asset, total);
        total
    }

    /// `_spend`.
    fn spend(
        &mut self,
        view: &PermissionView<'_>,
        index: usize,
        target: Address,
        value: U256,
        data: &[u8],
    ) -> Step<()> {
        let flags = view.flags()?;
        if flags & FLAG_NATIVE_TOTAL != 0 {
            let total = self.add_spent(Address::ZERO, value);
            let limit = view.raw(P_NATIVE_TOTAL_LIMIT);
            if total > limit {
                fail!(NativeTotalExceeded {
                    callIndex: u(index),
                    total: total,
                    limit: limit
                });
            }
        }
        if flags & FLAG_ERC20_TOTAL != 0 {
            let selector = FixedBytes::<4>::from_slice(&word_at(data, 0).to_be_bytes::<32>()[..4]);
            let Some(argument) = erc20_amount_arg(selector) else {
                fail!(NotAnErc20Movement {
                    callIndex: u(index),
                    selector: selector
                });
            };
            let start = 4 + usize::from(argument) * 0x20;
            if data.len() < start + 0x20 {
                fail!(NotAnErc20Movement {
                    callIndex: u(index),
                    selector: selector
                });
            }
            let total = self.add_spent(target, word_at(data, start));
            let limit = view.raw(P_ERC20_TOTAL_LIMIT);
            if total > limit {
                fail!(Erc20TotalExceeded {
                    callIndex: u(index),
                    token: target,
                    total: total,
                    limit: limit
                });
            }
        }
        Ok(())
    }
}

/// `_checkSessionFields` (enable mode).
fn check_session_fields(session: &[u8]) -> Step<()> {
    let words: Vec<U256> = (0..9).map(|i| word_at(session, 32 * i)).collect();
    if words[0] >> 160 != U256::ZERO
        || words[1] >> 48 != U256::ZERO
        || words[2] >> 48 != U256::ZERO
        || words[5] >> 160 != U256::ZERO
        || words[6] >> 128 != U256::ZERO
        || words[7] >> 128 != U256::ZERO
    {
        fail!(MalformedSession {});
    }
    let signer = address_of_word(words[0]);
    let valid_after = U48::saturating_from(words[1]);
    let valid_until = U48::saturating_from(words[2]);
    let policy = words[4];
    let paymaster = address_of_word(words[5]);
    if signer.is_zero() {
        fail!(ZeroSessionSigner {});
    }
    if valid_until.is_zero() || valid_after > valid_until {
        fail!(InvalidSessionWindow {
            validAfter: valid_after,
            validUntil: valid_until
        });
    }
    let policy_byte = policy.to_be_bytes::<32>()[31];
    if policy > U256::from(3) {
        fail!(InvalidPaymasterPolicy {
            policy: policy_byte,
            paymaster: paymaster
        });
    }
    if (policy == U256::from(3)) == paymaster.is_zero() {
        fail!(InvalidPaymasterPolicy {
            policy: policy_byte,
            paymaster: paymaster
        });
    }
    Ok(())
}

/// `_checkPaymaster`.
fn check_paymaster(session: &[u8], paymaster_and_data: &[u8]) -> Step<()> {
    let policy = session[159];
    if policy == 0 {
        return Ok(());
    }
    let paymaster = if paymaster_and_data.len() >= 20 {
        Address::from_slice(&paymaster_and_data[..20])
    } else {
        Address::ZERO
    };
    let allowed = match policy {
        1 => paymaster_and_data.is_empty(),
        2 => !paymaster.is_zero(),
        _ => !paymaster.is_zero() && paymaster == Address::from_slice(&session[172..192]),
    };
    if !allowed {
        fail!(PaymasterNotAllowed {
            policy: policy,
            paymaster: paymaster
        });
    }
    Ok(())
}

/// `_decodeExecute`: whether it is a batch, and the execution data.
fn decode_execute(call_data: &[u8]) -> Step<(bool, &[u8])> {
    if call_data.len() < 4 || call_data[..4] != EXECUTE {
        let selector = if call_data.len() < 4 {
            FixedBytes::ZERO
        } else {
            FixedBytes::<4>::from_slice(&call_data[..4])
        };
        fail!(UnsupportedAccountCall { selector: selector });
    }
    if call_data.len() < 100 {
        fail!(MalformedExecutionCalldata {
            offset: u(call_data.len())
        });
    }
    let mode = B256::from_slice(&call_data[4..36]);
    let call_type = mode[0];
    let exec_type = mode[1];
    if (call_type != 0 && call_type != 1)
        || (exec_type != 0 && exec_type != 1)
        || mode[2..].iter().any(|b| *b != 0)
    {
        fail!(UnsupportedExecutionMode { mode: mode });
    }
    if word_at(call_data, 36) != U256::from(0x40) {
        fail!(MalformedExecutionCalldata { offset: u(36) });
    }
    let length = word_at(call_data, 68);
    if length > u(call_data.len()) || call_data.len() != 100 + padded(to_usize(length)) {
        fail!(MalformedExecutionCalldata { offset: u(68) });
    }
    let length = to_usize(length);
    Ok((call_type == 1, &call_data[100..100 + length]))
}

/// `_decodeSingle`.
fn decode_single(execution: &[u8]) -> Step<(Address, U256, &[u8])> {
    if execution.len() < 52 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + execution.len())
        });
    }
    Ok((
        Address::from_slice(&execution[..20]),
        word_at(execution, 20),
        &execution[52..],
    ))
}

/// `_batchLength`.
fn batch_length(execution: &[u8]) -> Step<usize> {
    if execution.len() < 0x40 || word_at(execution, 0) != U256::from(0x20) {
        fail!(MalformedExecutionCalldata { offset: u(100) });
    }
    let count = word_at(execution, 32);
    if count.is_zero() || count > u(MAX_CALLS) {
        fail!(InvalidBatchSize {
            count: count,
            max: u(MAX_CALLS)
        });
    }
    let count = to_usize(count);
    if execution.len() < 0x40 + count * 0x20 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + 0x40)
        });
    }
    Ok(count)
}

/// `_decodeBatchElement`.
fn decode_batch_element<'d>(
    execution: &'d [u8],
    index: usize,
    next_element: &mut usize,
) -> Step<(Address, U256, &'d [u8])> {
    let expected = *next_element;
    let head = 0x40 + index * 0x20;
    if word_at(execution, head) != u(expected) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + head)
        });
    }
    let element = 0x40 + expected;
    if execution.len() < element + 0x80 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element)
        });
    }
    let target = word_at(execution, element);
    if target >> 160 != U256::ZERO {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element)
        });
    }
    let value = word_at(execution, element + 0x20);
    if word_at(execution, element + 0x40) != U256::from(0x60) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element + 0x40)
        });
    }
    let length = word_at(execution, element + 0x60);
    let data_start = element + 0x80;
    if length > u(execution.len()) || execution.len() < data_start + padded(to_usize(length)) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element + 0x60)
        });
    }
    let length = to_usize(length);
    *next_element = expected + 0x80 + padded(length);
    Ok((
        address_of_word(target),
        value,
        &execution[data_start..data_start + length],
    ))
}

/// `_checkScope`: flags, target, selector, value, rules.
#[allow(clippy::too_many_arguments)]
fn check_scope(
    view: &PermissionView<'_>,
    index: usize,
    account: Address,
    validator: Address,
    target: Address,
    value: U256,
    data: &[u8],
    rule_detail: &mut Option<RuleDetail>,
) -> Step<()> {
    let flags = view.flags()?;
    if flags & !ALL_FLAGS != 0 {
        fail!(InvalidPermissionFlags {
            callIndex: u(index),
            flags: flags
        });
    }
    if target == account || target == validator || target.is_zero() {
        fail!(ForbiddenTarget {
            callIndex: u(index),
            target: target
        });
    }
    let allowed = view.address()?;
    if flags & FLAG_ANY_TARGET != 0 {
        if !allowed.is_zero() {
            fail!(InvalidPermissionFlags {
                callIndex: u(index),
                flags: flags
            });
        }
    } else if target != allowed {
        fail!(TargetNotAllowed {
            callIndex: u(index),
            target: target,
            allowed: allowed
        });
    }
    if flags & FLAG_NATIVE_TRANSFER != 0 {
        if !view.selector()?.is_zero() || flags & FLAG_ERC20_TOTAL != 0 {
            fail!(InvalidPermissionFlags {
                callIndex: u(index),
                flags: flags
            });
        }
        if !data.is_empty() {
            fail!(NativeTransferWithCalldata {
                callIndex: u(index)
            });
        }
    } else {
        let selector = data
            .get(..4)
            .map(FixedBytes::<4>::from_slice)
            .unwrap_or_default();
        // `data.length < 4 || selector != permission.selector`: the field is read either way (in the revert's
        // arguments when the calldata is short).
        let allowed = view.selector()?;
        if data.len() < 4 || selector != allowed {
            fail!(SelectorNotAllowed {
                callIndex: u(index),
                selector: selector,
                allowed: allowed
            });
        }
    }
    let limit = view.raw(P_VALUE_LIMIT);
    if value > limit {
        fail!(ValueLimitExceeded {
            callIndex: u(index),
            value: value,
            limit: limit
        });
    }

    let calldata = view.calldata;
    let Some((rules, count)) = calldata.tail(
        view.base,
        view.base.wrapping_add(U256::from(P_RULES)),
        0x20,
        true,
    ) else {
        return Err(empty_revert("rules"));
    };
    if count > u(MAX_RULES) {
        fail!(TooManyRules {
            callIndex: u(index),
            count: count,
            max: u(MAX_RULES)
        });
    }
    for r in 0..to_usize(count) {
        let pointer = rules.wrapping_add(u(r * 0x20));
        let Some((rule, _)) = calldata.tail(rules, pointer, 0x60, false) else {
            return Err(empty_revert(format!("rules[{r}]")));
        };
        check_rule(calldata, index, r, data, rule, rule_detail)?;
    }
    Ok(())
}

/// `_checkRule`.
fn check_rule(
    calldata: &Calldata,
    index: usize,
    rule_index: usize,
    data: &[u8],
    rule: U256,
    detail: &mut Option<RuleDetail>,
) -> Step<()> {
    let arg_index = calldata.load(rule.wrapping_add(U256::from(0x20)));
    if arg_index >> 16 != U256::ZERO {
        return Err(empty_revert(format!("rules[{rule_index}].argIndex")));
    }
    let arg_index = to_usize(arg_index);
    let start = 4 + arg_index * 0x20;
    let operator_raw = calldata.load(rule);
    let operator = u8::try_from(operator_raw)
        .ok()
        .and_then(RuleOperator::from_u8);
    let mut rule_detail = RuleDetail {
        rule_index,
        arg_index: arg_index as u64,
        operator_raw,
        operator,
        arg: None,
        operands: Vec::new(),
        operand_count: U256::ZERO,
    };
    if data.len() < start + 0x20 {
        *detail = Some(rule_detail);
        fail!(ArgumentOutOfBounds {
            callIndex: u(index),
            ruleIndex: u(rule_index),
            argIndex: u(arg_index)
        });
    }
    let arg = B256::from(word_at(data, start));
    rule_detail.arg = Some(arg);
    let Some((operands, count)) =
        calldata.tail(rule, rule.wrapping_add(U256::from(0x40)), 0x20, true)
    else {
        return Err(empty_revert(format!("rules[{rule_index}].operands")));
    };
    rule_detail.operand_count = count;
    let invalid = |detail: &mut Option<RuleDetail>, rule_detail: RuleDetail| -> Step<()> {
        *detail = Some(rule_detail);
        fail!(InvalidRule {
            callIndex: u(index),
            ruleIndex: u(rule_index)
        });
    };
    let Some(operator) = operator else {
        return invalid(detail, rule_detail);
    };
    if !operator.accepts_operand_count(to_usize(count)) || count > u(MAX_ONE_OF) {
        return invalid(detail, rule_detail);
    }
    let words: Vec<B256> = (0..to_usize(count))
        .map(|k| B256::from(calldata.load(operands.wrapping_add(u(k * 0x20)))))
        .collect();
    let passed = operator.evaluate(arg, &words);
    rule_detail.operands = words;
    if !passed {
        *detail = Some(rule_detail);
        fail!(ArgumentRuleFailed {
            callIndex: u(index),
            ruleIndex: u(rule_index),
            argIndex: u(arg_index)
        });
    }
    Ok(())
}

/// `_narrowWindow`.
fn narrow_window(
    view: &PermissionView<'_>,
    index: usize,
    rate_window: u32,
    window: &mut Window,
) -> Step<()> {
    let mut valid_after = view.uint(P_VALID_AFTER, 48, "validAfter")?;
    let until = view.uint(P_VALID_UNTIL, 48, "validUntil")?;
    let mut valid_until = if until.is_zero() {
        U256::from(MAX_U48)
    } else {
        until
    };
    let mut after_source = WindowSource::Permission { call: index };
    let mut until_source = after_source;
    if !view
        .uint(P_RATE_LIMIT_COUNT, 32, "rateLimitCount")?
        .is_zero()
    {
        let interval = view.uint(P_RATE_LIMIT_INTERVAL, 48, "rateLimitInterval")?;
        if interval.is_zero() {
            fail!(MalformedPermission {
                callIndex: u(index)
            });
        }
        let start = valid_after + U256::from(rate_window) * interval;
        let end = start + interval - U256::from(1);
        let source = WindowSource::RateLimitWindow {
            call: index,
            window: rate_window,
        };
        if start > valid_after {
            valid_after = start;
            after_source = source;
        }
        if end < valid_until {
            valid_until = if end.is_zero() { U256::from(1) } else { end };
            until_source = source;
        }
    }
    if valid_after > window.after {
        window.after = valid_after.min(U256::from(MAX_U48));
        window.after_source = after_source;
    }
    if valid_until < window.until {
        window.until = valid_until;
        window.until_source = until_source;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Explanations
// ---------------------------------------------------------------------------------------------------------------

/// A word for people: decimal up to 2^128, else hex.
fn show(value: U256) -> String {
    if value <= U256::from(u128::MAX) {
        value.to_string()
    } else {
        format!("{value:#x}")
    }
}

/// A word as a signed integer.
fn show_signed(value: U256) -> String {
    let signed = I256::from_raw(value);
    if signed.unsigned_abs() <= U256::from(u128::MAX) {
        signed.to_string()
    } else {
        format!("{value:#x}")
    }
}

/// Wei in ETH, exact (`"0.0123 ETH"`), with the wei for amounts below a gwei; 2^256 − 1, a saturated cost,
/// spelt out.
fn eth(wei: U256) -> String {
    if wei == U256::MAX {
        return "2^256 − 1 wei".to_owned();
    }
    let text = format!("{} ETH", format_decimal(wei, 18));
    if !wei.is_zero() && wei < U256::from(1_000_000_000u64) {
        format!("{text} ({wei} wei)")
    } else {
        text
    }
}

/// Wei in gwei, exact (`"30 gwei"`); below 0.001 gwei, in wei.
fn gwei(wei: U256) -> String {
    if !wei.is_zero() && wei < U256::from(1_000_000u64) {
        return format!("{wei} wei");
    }
    format!("{} gwei", format_decimal(wei, 9))
}

/// An integer with thousands separators (`"410,000"`).
fn grouped(value: U256) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn short(hash: &B256) -> String {
    let text = hash.to_string();
    format!("{}…", &text[..10])
}

fn policy_name(policy: u8) -> &'static str {
    match policy {
        0 => "any",
        1 => "none (self-paid only)",
        2 => "required",
        _ => "exactly",
    }
}

fn describe_call(call: &CallReport) -> String {
    let what = match call.selector {
        Some(selector) => format!("{}.{selector}", call.target),
        None if call.data_len == 0 => format!("{} (native transfer)", call.target),
        None => format!("{} ({} bytes of calldata)", call.target, call.data_len),
    };
    let permission = match (&call.leaf, &call.permission) {
        (Some(leaf), Some(p)) => {
            let target = if p.flags & FLAG_ANY_TARGET != 0 {
                "any target".to_owned()
            } else {
                p.target.to_string()
            };
            let function = if p.flags & FLAG_NATIVE_TRANSFER != 0 {
                "native transfer".to_owned()
            } else {
                p.selector.to_string()
            };
            format!(", permission {} ({target}, {function})", short(leaf))
        }
        (Some(leaf), None) => format!(", permission {} (non-canonical encoding)", short(leaf)),
        (None, _) => String::new(),
    };
    format!("{what}{permission}")
}

/// One sentence on what the failed rule compared.
fn describe_rule(detail: &RuleDetail) -> String {
    let Some(operator) = detail.operator else {
        return format!(
            "operator {} is not a RuleOperator (0 to 13)",
            show(detail.operator_raw)
        );
    };
    let Some(arg) = detail.arg else {
        return format!("{operator}");
    };
    let signed = operator.is_signed();
    let value = |word: &B256| {
        let word = U256::from_be_bytes(word.0);
        if signed {
            show_signed(word)
        } else {
            show(word)
        }
    };
    if detail.operands.is_empty() || !operator.accepts_operand_count(detail.operands.len()) {
        return format!(
            "{operator} takes {}, the rule has {} operands",
            match operator {
                RuleOperator::OneOf => "1 to 64 operands",
                RuleOperator::InRange | RuleOperator::SignedInRange | RuleOperator::Bitmask =>
                    "2 operands",
                _ => "1 operand",
            },
            show(detail.operand_count)
        );
    }
    let ops = &detail.operands;
    let a = value(&arg);
    match operator {
        RuleOperator::Eq => format!("{a} is not equal to {}", value(&ops[0])),
        RuleOperator::Ne => format!("{a} must differ from {}", value(&ops[0])),
        RuleOperator::Lt | RuleOperator::SignedLt => {
            format!("{a} is not < {} ({operator})", value(&ops[0]))
        }
        RuleOperator::Lte | RuleOperator::SignedLte => {
            format!("{a} is not ≤ {} ({operator})", value(&ops[0]))
        }
        RuleOperator::Gt | RuleOperator::SignedGt => {
            format!("{a} is not > {} ({operator})", value(&ops[0]))
        }
        RuleOperator::Gte | RuleOperator::SignedGte => {
            format!("{a} is not ≥ {} ({operator})", value(&ops[0]))
        }
        RuleOperator::OneOf => format!(
            "{a} is not one of [{}]",
            ops.iter().map(value).collect::<Vec<_>>().join(", ")
        ),
        RuleOperator::InRange | RuleOperator::SignedInRange => format!(
            "{a} is not in [{}, {}] ({operator})",
            value(&ops[0]),
            value(&ops[1])
        ),
        RuleOperator::Bitmask => {
            format!("{arg} & mask {} = {} ≠ {}", ops[0], arg & ops[0], ops[1])
        }
    }
}

impl fmt::Display for ValidatorRevert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SessionKeyValidatorErrors as E;
        let call = |index: &U256| -> String {
            match &self.call {
                Some(report) if U256::from(report.index) == *index => {
                    format!("call {index} ({})", describe_call(report))
                }
                _ => format!("call {index}"),
            }
        };
        let rule = || {
            self.rule
                .as_deref()
                .map(describe_rule)
                .unwrap_or_else(|| "(rule not decoded)".into())
        };
        let error = match &self.kind {
            RevertKind::Empty { field } => {
                let at = self
                    .call
                    .as_ref()
                    .map(|c| format!("call {} ({}): ", c.index, describe_call(c)))
                    .unwrap_or_default();
                return write!(
                    f,
                    "{at}the permission's `{field}` is not validly ABI-encoded: the validator reverts without data"
                );
            }
            RevertKind::Error(error) => error,
        };
        match &**error {
            E::NotInstalled(e) => write!(f, "the SessionKeyValidator is not installed on {}", e.account),
            E::AlreadyInstalled(e) => write!(f, "the SessionKeyValidator is already installed on {}", e.account),
            E::SenderMismatch(e) => {
                write!(f, "userOp.sender {} is not the calling account {}", e.sender, e.caller)
            }
            E::ZeroSessionSigner(_) => f.write_str("the session's signer is address(0)"),
            E::InvalidSessionWindow(e) => write!(
                f,
                "the session's window is empty: validAfter {}, validUntil {} (must be non-zero and ≥ validAfter)",
                e.validAfter, e.validUntil
            ),
            E::MalformedSession(_) => f.write_str(
                "the session in the signature is not canonically ABI-encoded (a field has bits beyond its type)",
            ),
            E::InvalidPaymasterPolicy(e) => write!(
                f,
                "paymaster policy {} with paymaster {}: a paymaster address goes with, and only with, policy 3 (exactly)",
                e.policy, e.paymaster
            ),
            E::SessionIsRevoked(e) => write!(
                f,
                "session {} was revoked in the account's current epoch and cannot be enabled again",
                e.sessionId
            ),
            E::SessionNotActive(e) => write!(
                f,
                "session {} is not active on the account (never granted, revoked, or voided by a new epoch)",
                e.sessionId
            ),
            E::SignatureTruncated(e) => write!(
                f,
                "userOp.signature ends before its field at byte {}, which needs {} bytes",
                e.offset, e.needed
            ),
            E::SignatureTrailingBytes(e) => {
                write!(f, "userOp.signature has {} bytes after the session signature", e.extra)
            }
            E::UnknownSignatureMode(e) => {
                write!(f, "signature mode {} is neither 0 (use) nor 1 (enable)", e.mode)
            }
            E::UnsupportedAccountCall(e) => write!(
                f,
                "callData calls {}, not the account's execute(bytes32,bytes) (0xe9ae5c53)",
                e.selector
            ),
            E::UnsupportedExecutionMode(e) => write!(
                f,
                "execution mode {} is not a single or batch call with default or try exec type",
                e.mode
            ),
            E::MalformedExecutionCalldata(e) => write!(
                f,
                "the execute calldata is not canonically encoded: decoding stopped at byte {} of callData",
                e.offset
            ),
            E::InvalidBatchSize(e) => {
                write!(f, "a batch of {} calls: 1 to {} are allowed", show(e.count), e.max)
            }
            E::CallCountMismatch(e) => write!(
                f,
                "execute runs {} call(s) but the signature carries {} permission entr{}",
                e.calls,
                e.permissions,
                if e.permissions == U256::from(1) { "y" } else { "ies" }
            ),
            E::MalformedPermission(e) => {
                let reason = match self.call.as_ref().and_then(|c| c.permission.as_ref()) {
                    Some(p) if p.rateLimitCount != 0 && p.rateLimitInterval.is_zero() => format!(
                        "its rate limit of {} per window has interval 0",
                        p.rateLimitCount
                    ),
                    _ => "its encoding is not a canonical abi.encode(Permission)".to_owned(),
                };
                write!(f, "{}: {reason}", call(&e.callIndex))
            }
            E::PermissionNotInSession(e) => write!(
                f,
                "{}: the permission (leaf {}) is not in the session's tree{}",
                call(&e.callIndex),
                e.leaf,
                self.root
                    .map(|root| format!(" (root {root})"))
                    .unwrap_or_default()
            ),
            E::ForbiddenTarget(e) => write!(
                f,
                "{}: target {} is the account, the validator or address(0), which no session may call",
                call(&e.callIndex),
                e.target
            ),
            E::TargetNotAllowed(e) => write!(
                f,
                "{}: target {} is not allowed, the permission allows only {}",
                call(&e.callIndex),
                e.target,
                e.allowed
            ),
            E::SelectorNotAllowed(e) => write!(
                f,
                "{}: selector {}{} is not allowed, the permission allows only {}",
                call(&e.callIndex),
                e.selector,
                match &self.call {
                    Some(c) if c.data_len < 4 => format!(" (calldata of {} bytes)", c.data_len),
                    _ => String::new(),
                },
                e.allowed
            ),
            E::NativeTransferWithCalldata(e) => write!(
                f,
                "{}: the permission is for plain native transfers, but the call carries calldata",
                call(&e.callIndex)
            ),
            E::ValueLimitExceeded(e) => write!(
                f,
                "{}: sends {} wei, over the permission's per-call limit of {} wei",
                call(&e.callIndex),
                show(e.value),
                show(e.limit)
            ),
            E::InvalidPermissionFlags(e) => write!(
                f,
                "{}: permission flags {:#x} are unknown or contradict its fields",
                call(&e.callIndex),
                e.flags
            ),
            E::TooManyRules(e) => write!(
                f,
                "{}: the permission has {} argument rules, at most {} are allowed",
                call(&e.callIndex),
                show(e.count),
                e.max
            ),
            E::InvalidRule(e) => write!(
                f,
                "{}, rule {}: {}",
                call(&e.callIndex),
                e.ruleIndex,
                rule()
            ),
            E::ArgumentOutOfBounds(e) => write!(
                f,
                "{}, rule {}: argument {} (bytes {}..{}) is past the end of the {}-byte calldata, so the rule fails closed",
                call(&e.callIndex),
                e.ruleIndex,
                e.argIndex,
                U256::from(4) + e.argIndex * U256::from(32),
                U256::from(36) + e.argIndex * U256::from(32),
                self.call.as_ref().map(|c| c.data_len).unwrap_or_default()
            ),
            E::ArgumentRuleFailed(e) => write!(
                f,
                "{}, rule {}: argument {} fails: {}",
                call(&e.callIndex),
                e.ruleIndex,
                e.argIndex,
                rule()
            ),
            E::UsageLimitReached(e) => write!(
                f,
                "{}: would be use {} of a permission allowed {} uses",
                call(&e.callIndex),
                e.uses,
                e.maxUses
            ),
            E::RateLimitReached(e) => write!(
                f,
                "{}: the permission's rate limit of {} uses per window is used up in window {}{}",
                call(&e.callIndex),
                e.maxPerWindow,
                e.window,
                self.call
                    .as_ref()
                    .and_then(|c| c.permission.as_ref())
                    .map(|p| {
                        let interval = U256::from(p.rateLimitInterval);
                        let start = U256::from(p.validAfter) + e.window * interval;
                        format!(" (seconds {start} to {})", start + interval - U256::from(1))
                    })
                    .unwrap_or_default()
            ),
            E::RateLimitWindowPassed(e) => write!(
                f,
                "{}: names rate-limit window {}, but window {} was already used (windows only move forward)",
                call(&e.callIndex),
                e.window,
                e.latestWindow
            ),
            E::NativeTotalExceeded(e) => write!(
                f,
                "{}: would bring the session's native spending to {} wei, over its limit of {} wei",
                call(&e.callIndex),
                show(e.total),
                show(e.limit)
            ),
            E::Erc20TotalExceeded(e) => write!(
                f,
                "{}: would bring the session's movements of token {} to {}, over its limit of {}",
                call(&e.callIndex),
                e.token,
                show(e.total),
                show(e.limit)
            ),
            E::NotAnErc20Movement(e) => write!(
                f,
                "{}: counted as an ERC-20 movement, but {} is not transfer, transferFrom, approve or increaseAllowance with its arguments",
                call(&e.callIndex),
                e.selector
            ),
            E::PaymasterNotAllowed(e) => write!(
                f,
                "paymaster {} is not allowed by the session's paymaster policy {} ({})",
                e.paymaster,
                e.policy,
                policy_name(e.policy)
            ),
            E::OperationFeeExceeded(e) => match self.fee.as_deref() {
                Some(check) if check.cost.fee == e.fee => write!(
                    f,
                    "the operation may cost up to {} ({}), over the session's per-operation fee limit of {}",
                    eth(e.fee),
                    check.cost,
                    eth(e.limit)
                ),
                _ => write!(
                    f,
                    "the operation may cost up to {}, over the session's per-operation fee limit of {}",
                    eth(e.fee),
                    eth(e.limit)
                ),
            },
            E::FeeBudgetExceeded(e) => match self.fee.as_deref() {
                Some(check) => write!(
                    f,
                    "the operation may cost up to {} ({}); with the {} already charged to the session that makes {}, over its fee budget of {} ({} left)",
                    eth(check.cost.fee),
                    check.cost,
                    eth(check.charged_before),
                    eth(e.total),
                    eth(e.budget),
                    eth(e.budget.saturating_sub(check.charged_before))
                ),
                None => write!(
                    f,
                    "the operation would bring the fees charged to the session to {}, over its fee budget of {}",
                    eth(e.total),
                    eth(e.budget)
                ),
            },
            // OpenZeppelin's ShortStrings, in the EIP-712 domain's constructor: never raised by validateUserOp.
            E::InvalidShortString(_) => f.write_str("OpenZeppelin ShortStrings: invalid short string"),
            E::StringTooLong(e) => write!(f, "OpenZeppelin ShortStrings: string too long: {:?}", e.str),
        }
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "valid from {} (set by {}) to {} (set by {})",
            self.valid_after, self.valid_after_source, self.valid_until, self.valid_until_source
        )?;
        write!(f, "; fees: {}", self.fees)?;
        for call in &self.calls {
            write!(f, "; call {}: {}", call.index, describe_call(call))?;
            if let Some(usage) = call.usage {
                write!(f, " (use {})", usage.uses)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSessionValidator { module } => write!(
                f,
                "the nonce key routes the operation to module {module}, not to the SessionKeyValidator"
            ),
            Self::ModuleNotInstalled => f.write_str(
                "the SessionKeyValidator is not installed on the account, which then refuses the signature",
            ),
            Self::Reverted(revert) => revert.fmt(f),
            Self::SignatureInvalid(validation) => {
                if validation.owner_signature_valid == Some(false) {
                    f.write_str("the account's ERC-1271 check refuses the owner's enable signature")?;
                    if !validation.session_signature.valid() {
                        f.write_str(", and ")?;
                    }
                }
                let check = &validation.session_signature;
                match &check.recovered {
                    Ok(_) if check.valid() => Ok(()),
                    Ok(recovered) => write!(
                        f,
                        "the session signature recovers to {recovered}, not to the session key {}",
                        check.signer
                    ),
                    Err(reason) => write!(
                        f,
                        "the session signature does not recover ({reason}); the session key is {}",
                        check.signer
                    ),
                }
            }
            Self::OutsideWindow {
                now,
                version,
                validation,
            } => {
                let (label, strict) = match version {
                    Version::V07 => ("v0.7", "from"),
                    Version::V08 => ("v0.8", "strictly after"),
                };
                if *now > validation.valid_until && validation.valid_until != 0 {
                    write!(
                        f,
                        "expired: at {now} the operation is past validUntil {} (set by {})",
                        validation.valid_until, validation.valid_until_source
                    )
                } else {
                    write!(
                        f,
                        "not due: at {now} the operation is not yet valid; EntryPoint {label} accepts it {strict} validAfter {} (set by {})",
                        validation.valid_after, validation.valid_after_source
                    )
                }
            }
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted(validation) => write!(f, "accepted: {validation}"),
            Self::Rejected(rejection) => match self.aa_code() {
                Some(code) => write!(f, "rejected ({code}): {rejection}"),
                None => write!(f, "not a session operation: {rejection}"),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the state from the chain
// ---------------------------------------------------------------------------------------------------------------

/// [`Client::explain`]'s answer: the verdict and what it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The verdict.
    pub verdict: Verdict,
    /// The validator state read.
    pub state: SessionState,
    /// The session the signature names.
    pub session_id: Option<B256>,
    /// The operation's userOpHash.
    pub user_op_hash: B256,
    /// The block the state was read at.
    pub block: u64,
    /// The time evaluated.
    pub now: u64,
}

impl Client {
    /// Explains what the EntryPoint of `version` would make of `op` at time `now` (default: the latest block's
    /// timestamp, which is what an `eth_call` simulation sees; an operation is included in a later block), without
    /// sending anything: reads the validator's state for the operation at the latest block (`isInitialized`,
    /// `epochOf`, `sessionStatus`, `usageOf` for each rate- or usage-limited permission, `spentOf` for each asset
    /// with a cumulative limit, `feesChargedOf` for a session with a fee budget and, in enable mode, the account's
    /// ERC-1271 answer to the owner's signature) and runs [`evaluate`].
    pub async fn explain(
        &self,
        op: &PackedUserOperation,
        version: Version,
        now: Option<u64>,
    ) -> Result<Explanation> {
        let block = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| {
                Error::Transport(alloy::transports::TransportErrorKind::custom_str(
                    "the node has no latest block",
                ))
            })?;
        let number = block.header.number;
        let now = now.unwrap_or(block.header.timestamp);
        let user_op_hash = self
            .stack()
            .entry_point(version)
            .user_op_hash(op, self.chain_id())?;
        let validator = self.stack().session_key_validator;
        let keys = state_keys(op, validator);
        let state = self.read_session_state(op.sender, &keys, number).await?;
        let verdict = evaluate(&ExplainInput {
            op,
            user_op_hash,
            validator,
            version,
            now,
            state: &state,
        });
        Ok(Explanation {
            verdict,
            state,
            session_id: keys.session_id,
            user_op_hash,
            block: number,
            now,
        })
    }

    /// The validator's state for `account` and the slots in `keys`, at block `number`.
    async fn read_session_state(
        &self,
        account: Address,
        keys: &StateKeys,
        number: u64,
    ) -> Result<SessionState> {
        let at = BlockId::Number(BlockNumberOrTag::Number(number));
        let validator_address = self.stack().session_key_validator;
        let validator = SessionKeyValidator::new(validator_address, self.provider().clone());
        let installed = validator.isInitialized(account).block(at).call().await?;
        let epoch = validator.epochOf(account).block(at).call().await?;
        let mut state = SessionState {
            installed,
            epoch,
            status: SessionStatus::Unknown,
            owner_signature_valid: false,
            usage: BTreeMap::new(),
            spent: BTreeMap::new(),
            fees_charged: U256::ZERO,
        };
        let Some(session_id) = keys.session_id else {
            return Ok(state);
        };
        let status = validator
            .sessionStatus(account, session_id)
            .block(at)
            .call()
            .await?;
        state.status = SessionStatus::from_raw(status);
        if keys.fees_charged {
            state.fees_charged = validator
                .feesChargedOf(account, session_id)
                .block(at)
                .call()
                .await?;
        }
        for leaf in &keys.leaves {
            let usage = validator
                .usageOf(account, session_id, *leaf)
                .block(at)
                .call()
                .await?;
            state.usage.insert(
                *leaf,
                Usage {
                    uses: usage.uses,
                    window: usage.window,
                    window_uses: usage.windowUses,
                },
            );
        }
        for asset in &keys.assets {
            let spent = validator
                .spentOf(account, session_id, *asset)
                .block(at)
                .call()
                .await?;
            state.spent.insert(*asset, spent);
        }
        if let Some(owner_signature) = &keys.owner_signature {
            let digest = keyscope_signer::enable_digest(
                validator_address,
                self.chain_id(),
                account,
                epoch,
                session_id,
            );
            let answer = KeyscopeAccount::new(account, self.provider().clone())
                .isValidSignature(digest, owner_signature.clone())
                .from(validator_address)
                .block(at)
                .call()
                .await;
            state.owner_signature_valid = match answer {
                Ok(magic) => magic.0 == ERC1271_MAGIC,
                // The validator's try/catch turns a revert into "invalid".
                Err(error) if error.as_revert_data().is_some() => false,
                Err(error) => return Err(error.into()),
            };
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::client::{execute_batch, execute_single, nonce_key};
    use alloy::primitives::{address, keccak256};
    use keyscope_permissions::abi::encode_permission;
    use keyscope_permissions::{
        CompiledSession, PermissionTree, SessionSpec, DEFAULT_FEE_BUDGET, DEFAULT_MAX_OPERATION_FEE,
    };
    use keyscope_signer::{CallProof, EntryPoint, SessionKey, SessionSignature};
    use proptest::prelude::*;

    const VALIDATOR: Address = address!("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
    const ACCOUNT: Address = address!("acacacacacacacacacacacacacacacacacacacac");
    const TOKEN: Address = address!("7070707070707070707070707070707070707070");
    const START: u64 = 1_000_000;

    fn key() -> SessionKey {
        SessionKey::from_bytes(&[7u8; 32]).unwrap()
    }

    /// A session: transfer ≤ 100 of TOKEN (at most 3 uses, ERC-20 total 250), and native transfers to anyone;
    /// the default fee scope (0.01 ether per operation, 0.1 ether in all).
    fn compiled() -> CompiledSession {
        compiled_with_fees(r#"{"per_operation": "0.01 ether", "budget": "0.1 ether"}"#)
    }

    /// [`compiled`] with the fee scope `fees` (JSON).
    fn compiled_with_fees(fees: &str) -> CompiledSession {
        let json = format!(
            r#"{{
                "signer": "{}",
                "valid_after": {START},
                "valid_until": {},
                "fees": {fees},
                "permissions": [
                    {{
                        "target": "{TOKEN}",
                        "function": "transfer(address to,uint256 amount)",
                        "rules": [{{ "arg": "amount", "op": "lte", "value": "100" }}],
                        "max_uses": 3,
                        "erc20_total_limit": "250"
                    }},
                    {{ "target": "*", "native_transfer": true, "value_limit": "1000" }}
                ]
            }}"#,
            key().address(),
            START + 3600
        );
        SessionSpec::compile_json(&json).unwrap()
    }

    fn transfer(amount: u64) -> Bytes {
        let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
        data.extend_from_slice(Address::repeat_byte(0x42).into_word().as_slice());
        data.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
        data.into()
    }

    /// A signed use-mode operation: `calls` (target, value, data) under the permissions `indices`.
    fn signed_op(
        session: &CompiledSession,
        calls: &[(Address, U256, Bytes)],
        indices: &[usize],
        signer: &SessionKey,
    ) -> (PackedUserOperation, B256) {
        signed_op_with(session, calls, indices, signer, |_| {})
    }

    /// [`signed_op`] with the operation's gas fields (or anything else hashed) set by `edit` before signing.
    fn signed_op_with(
        session: &CompiledSession,
        calls: &[(Address, U256, Bytes)],
        indices: &[usize],
        signer: &SessionKey,
        edit: impl Fn(&mut PackedUserOperation),
    ) -> (PackedUserOperation, B256) {
        let call_data = match calls {
            [(target, value, data)] => execute_single(*target, *value, data),
            calls => execute_batch(calls),
        };
        let proofs = indices
            .iter()
            .map(|i| CallProof::from_compiled(session, *i, START).unwrap())
            .collect();
        let mut op = PackedUserOperation {
            sender: ACCOUNT,
            nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
            callData: call_data,
            ..Default::default()
        };
        edit(&mut op);
        let unsigned = SessionSignature::use_session(session.session.clone(), proofs);
        let hash = EntryPoint::CANONICAL_V07.user_op_hash(&op, 1).unwrap();
        op.signature = unsigned
            .sign(signer, &hash)
            .unwrap()
            .encode()
            .unwrap()
            .into();
        (op, hash)
    }

    fn input<'a>(
        op: &'a PackedUserOperation,
        hash: B256,
        state: &'a SessionState,
        now: u64,
        version: Version,
    ) -> ExplainInput<'a> {
        ExplainInput {
            op,
            user_op_hash: hash,
            validator: VALIDATOR,
            version,
            now,
            state,
        }
    }

    fn error_of(verdict: &Verdict) -> SessionKeyValidatorErrors {
        verdict
            .validator_error()
            .cloned()
            .unwrap_or_else(|| panic!("no validator error: {verdict}"))
    }

    #[test]
    fn accepts_in_scope_and_encodes_the_window() {
        let session = compiled();
        let (op, hash) = signed_op(
            &session,
            &[(TOKEN, U256::ZERO, transfer(100))],
            &[0],
            &key(),
        );
        let state = SessionState::active();
        let verdict = evaluate(&input(&op, hash, &state, START + 10, Version::V08));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert_eq!(validation.valid_after, START);
        assert_eq!(validation.valid_until, START + 3600);
        assert_eq!(
            validation.validation_data,
            (U256::from(START + 3600) << 160) | (U256::from(START) << 208)
        );
        assert_eq!(validation.calls.len(), 1);
        assert_eq!(
            validation.calls[0].leaf,
            Some(session.permissions[0].leaf())
        );
        assert_eq!(validation.calls[0].usage.map(|u| u.uses), Some(1));
        assert!(
            verdict.to_string().starts_with("accepted: valid from"),
            "{verdict}"
        );
    }

    #[test]
    fn names_the_failing_rule_with_its_values() {
        let session = compiled();
        let (op, hash) = signed_op(
            &session,
            &[(TOKEN, U256::ZERO, transfer(101))],
            &[0],
            &key(),
        );
        let state = SessionState::active();
        let verdict = evaluate(&input(&op, hash, &state, START + 10, Version::V07));
        assert_eq!(verdict.aa_code(), Some("AA23"));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::ArgumentRuleFailed(e)
                if e.callIndex.is_zero() && e.ruleIndex.is_zero() && e.argIndex == U256::from(1)
        ));
        let text = verdict.to_string();
        assert!(
            text.contains("rule 0: argument 1 fails: 101 is not ≤ 100 (lte)"),
            "{text}"
        );
        // The revert data is the custom error's ABI encoding.
        let revert = verdict.revert().unwrap();
        assert_eq!(
            SessionKeyValidatorErrors::abi_decode(&revert.revert_data()).unwrap(),
            error_of(&verdict)
        );
    }

    #[test]
    fn signature_and_window_failures() {
        let session = compiled();
        let other = SessionKey::from_bytes(&[8u8; 32]).unwrap();
        let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &other);
        let state = SessionState::active();
        let verdict = evaluate(&input(&op, hash, &state, START + 10, Version::V07));
        assert_eq!(verdict.aa_code(), Some("AA24"), "{verdict}");
        assert!(verdict.to_string().contains(&other.address().to_string()));

        // validAfter itself: v0.7 accepts, v0.8 does not; after validUntil neither does.
        let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
        assert!(evaluate(&input(&op, hash, &state, START, Version::V07)).is_accepted());
        let verdict = evaluate(&input(&op, hash, &state, START, Version::V08));
        assert_eq!(verdict.aa_code(), Some("AA22"));
        assert!(
            verdict.to_string().contains("strictly after validAfter"),
            "{verdict}"
        );
        let verdict = evaluate(&input(&op, hash, &state, START + 3601, Version::V07));
        assert!(verdict.to_string().contains("expired"), "{verdict}");
        assert!(evaluate(&input(&op, hash, &state, START + 3600, Version::V08)).is_accepted());
    }

    #[test]
    fn counters_move_within_a_batch() {
        let session = compiled();
        let calls = vec![(TOKEN, U256::ZERO, transfer(100)); 3];
        let (op, hash) = signed_op(&session, &calls, &[0, 0, 0], &key());
        // 300 > 250 on the third call.
        let state = SessionState::active();
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::Erc20TotalExceeded(e)
                if e.callIndex == U256::from(2) && e.total == U256::from(300) && e.token == TOKEN
        ));
        // Two uses already: the second call of a batch is use 4 of 3.
        let mut state = SessionState::active();
        state.usage.insert(
            session.permissions[0].leaf(),
            Usage {
                uses: 2,
                ..Usage::default()
            },
        );
        let calls = vec![(TOKEN, U256::ZERO, transfer(1)); 2];
        let (op, hash) = signed_op(&session, &calls, &[0, 0], &key());
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::UsageLimitReached(e)
                if e.callIndex == U256::from(1) && e.uses == U256::from(4) && e.maxUses == U256::from(3)
        ));
        // What the evaluation reads.
        let keys = state_keys(&op, VALIDATOR);
        assert_eq!(keys.session_id, Some(session.session_id()));
        assert_eq!(keys.leaves, vec![session.permissions[0].leaf()]);
        assert_eq!(keys.assets, vec![TOKEN]);
        assert_eq!(keys.owner_signature, None);
    }

    #[test]
    fn forbidden_targets_routing_and_session_state() {
        let session = compiled();
        let state = SessionState::active();
        for target in [ACCOUNT, VALIDATOR, Address::ZERO] {
            let (op, hash) = signed_op(
                &session,
                &[(target, U256::ZERO, Bytes::new())],
                &[1],
                &key(),
            );
            let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
            assert!(matches!(
                error_of(&verdict),
                SessionKeyValidatorErrors::ForbiddenTarget(e) if e.target == target
            ));
        }
        let (mut op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
        let mut revoked = SessionState::active();
        revoked.status = SessionStatus::Revoked;
        let verdict = evaluate(&input(&op, hash, &revoked, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::SessionNotActive(_)
        ));
        revoked.installed = false;
        assert_eq!(
            evaluate(&input(&op, hash, &revoked, START + 1, Version::V07)),
            Verdict::Rejected(Rejection::ModuleNotInstalled)
        );
        op.nonce = U256::from(nonce_key(ACCOUNT, 0)) << 64;
        assert_eq!(
            evaluate(&input(&op, hash, &state, START + 1, Version::V07)),
            Verdict::Rejected(Rejection::NotSessionValidator { module: ACCOUNT })
        );
    }

    /// A permission leaf whose encoding is not canonical reverts where Solidity's calldata checks do.
    #[test]
    fn non_canonical_permission_reverts_without_data() {
        let mut session = compiled();
        let mut bytes = encode_permission(&session.permissions[0]);
        bytes[0x20 + 0x40 + 30] = 1; // flags word 0x100 | 0
        let mut leaves: Vec<B256> = session.permissions.iter().map(Permission::leaf).collect();
        leaves.push(keccak256(keccak256(&bytes)));
        let tree = PermissionTree::from_leaves(leaves).unwrap();
        session.session.permissionsRoot = tree.root();
        let proof = tree.proof(2).unwrap();

        let mut op = PackedUserOperation {
            sender: ACCOUNT,
            nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
            callData: execute_single(TOKEN, U256::ZERO, &transfer(1)),
            ..Default::default()
        };
        let mut signature = vec![0u8];
        signature.extend_from_slice(&session.session.encode());
        signature.push(1);
        signature.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        signature.extend_from_slice(&bytes);
        signature.push(proof.len() as u8);
        for node in &proof {
            signature.extend_from_slice(node.as_slice());
        }
        signature.extend_from_slice(&[0, 0, 0, 0, 65]);
        signature.extend_from_slice(&[0u8; 65]);
        op.signature = signature.into();
        let state = SessionState::active();
        let verdict = evaluate(&input(&op, B256::ZERO, &state, START + 1, Version::V07));
        let revert = verdict.revert().unwrap();
        assert_eq!(
            revert.kind,
            RevertKind::Empty {
                field: "flags".into()
            }
        );
        assert!(revert.revert_data().is_empty());
        assert!(
            verdict
                .to_string()
                .contains("`flags` is not validly ABI-encoded"),
            "{verdict}"
        );
    }

    /// An operation whose gas fields are `(verification, call, preVerification, maxFeePerGas)`.
    fn op_with_gas(
        session: &CompiledSession,
        gas: (u128, u128, u128, u128),
        paymaster: Option<(u128, u128)>,
    ) -> (PackedUserOperation, B256) {
        signed_op_with(
            session,
            &[(TOKEN, U256::ZERO, transfer(1))],
            &[0],
            &key(),
            |op| {
                op.set_gas_limits(gas.0, gas.1);
                op.preVerificationGas = U256::from(gas.2);
                op.set_gas_fees(7, gas.3);
                if let Some((verification, post_op)) = paymaster {
                    op.paymasterAndData = keyscope_signer::userop::paymaster_and_data(
                        Address::repeat_byte(0x9a),
                        verification,
                        post_op,
                        &[1, 2, 3],
                    );
                }
            },
        )
    }

    #[test]
    fn operation_cost_is_the_validators_arithmetic() {
        let op = |limits: (u128, u128), pre: U256, fees: (u128, u128), paymaster: &[u8]| {
            let mut op = PackedUserOperation::default();
            op.set_gas_limits(limits.0, limits.1);
            op.preVerificationGas = pre;
            op.set_gas_fees(fees.0, fees.1);
            op.paymasterAndData = Bytes::copy_from_slice(paymaster);
            OperationCost::of(&op)
        };
        // (verification + call + preVerification) x maxFeePerGas; the priority fee is not counted
        let cost = op((200_000, 150_000), U256::from(60_000), (u128::MAX, 30), &[]);
        assert_eq!(cost.gas, Some(410_000));
        assert_eq!(cost.fee, U256::from(410_000u64 * 30));
        assert_eq!(cost.paymaster_gas_limits, None);
        // the paymaster's two limits count from 52 bytes of paymasterAndData on
        let paymaster = keyscope_signer::userop::paymaster_and_data(
            Address::repeat_byte(1),
            70_000,
            30_000,
            &[],
        );
        assert_eq!(paymaster.len(), 52);
        let cost = op((1, 2), U256::from(3), (0, 10), &paymaster);
        assert_eq!(cost.paymaster_gas_limits, Some((70_000, 30_000)));
        assert_eq!(cost.fee, U256::from(100_006u64 * 10));
        let cost = op((1, 2), U256::from(3), (0, 10), &paymaster[..51]);
        assert_eq!(cost.paymaster_gas_limits, None);
        assert_eq!(cost.fee, U256::from(60));
        // the largest gas that fits 128 bits, times the largest maxFeePerGas: no overflow
        let max = u128::MAX;
        let cost = op((max - 2, 1), U256::from(1), (0, max), &[]);
        assert_eq!(cost.gas, Some(max));
        assert_eq!(cost.fee, U256::from(max) * U256::from(max));
        // saturated: preVerificationGas of 2^128 or more, or a sum of 2^128 or more (paymaster limits included)
        for cost in [
            op((0, 0), U256::from(1) << 128, (0, 0), &[]),
            op((0, 0), U256::MAX, (0, 1), &[]),
            op((max, 1), U256::ZERO, (0, 0), &[]),
            op((max, max), U256::from(max), (0, 1), &[]),
            op(
                (max - 1, 0),
                U256::ZERO,
                (0, 1),
                &keyscope_signer::userop::paymaster_and_data(Address::ZERO, 1, 1, &[]),
            ),
        ] {
            assert_eq!(cost.gas, None);
            assert_eq!(cost.fee, U256::MAX, "saturated even with maxFeePerGas 0");
        }
        assert!(op((0, 0), U256::MAX, (0, 1), &[])
            .to_string()
            .contains("preVerificationGas"));
        // a naive u128 product or u64 sum would overflow here; the words do not
        let cost = op(
            (1 << 100, 1 << 100),
            U256::from(1u128 << 100),
            (0, 1 << 27),
            &[],
        );
        assert_eq!(
            cost.fee,
            U256::from(3u8) * (U256::from(1) << 100) * (U256::from(1) << 27)
        );
    }

    #[test]
    fn amounts_read_in_eth_and_gwei() {
        assert_eq!(eth(U256::from(12_300_000_000_000_000u64)), "0.0123 ETH");
        assert_eq!(eth(U256::from(10u64.pow(18) * 3)), "3 ETH");
        assert_eq!(eth(U256::ZERO), "0 ETH");
        assert_eq!(
            eth(U256::from(12_345u64)),
            "0.000000000000012345 ETH (12345 wei)"
        );
        assert_eq!(eth(U256::MAX), "2^256 − 1 wei");
        assert_eq!(gwei(U256::from(30_000_000_000u64)), "30 gwei");
        assert_eq!(gwei(U256::from(1_500_000_001u64)), "1.500000001 gwei");
        assert_eq!(gwei(U256::from(1_000_000u64)), "0.001 gwei");
        assert_eq!(gwei(U256::from(999_999u64)), "999999 wei");
        assert_eq!(gwei(U256::ZERO), "0 gwei");
        assert_eq!(grouped(U256::from(410_000u64)), "410,000");
        assert_eq!(grouped(U256::from(1_234_567u64)), "1,234,567");
        assert_eq!(grouped(U256::from(999u64)), "999");
        assert_eq!(grouped(U256::ZERO), "0");
    }

    #[test]
    fn per_operation_fee_limit_at_and_over_the_bound() {
        // 0.01 ether per operation: 410,000 gas x 30 gwei = 0.0123 ether is over it
        let session = compiled();
        let state = SessionState::active();
        let (op, hash) = op_with_gas(&session, (200_000, 150_000, 60_000, 30_000_000_000), None);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert_eq!(verdict.aa_code(), Some("AA23"));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::OperationFeeExceeded(e)
                if e.fee == U256::from(12_300_000_000_000_000u64)
                    && e.limit == U256::from(DEFAULT_MAX_OPERATION_FEE)
        ));
        assert_eq!(
            verdict.to_string(),
            "rejected (AA23): the operation may cost up to 0.0123 ETH (410,000 gas x 30 gwei maxFeePerGas), \
             over the session's per-operation fee limit of 0.01 ETH"
        );
        // nothing after the fee check is read: no usage counter, no spending, no fee counter
        let keys = state_keys(&op, VALIDATOR);
        assert!(keys.leaves.is_empty() && keys.assets.is_empty() && !keys.fees_charged);

        // exactly at the bound: 1,000,000 gas x 10 gwei; one wei over: preVerificationGas + 1 at 1 wei a gas
        let (op, hash) = op_with_gas(&session, (500_000, 400_000, 100_000, 10_000_000_000), None);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert_eq!(validation.fees.fee(), U256::from(DEFAULT_MAX_OPERATION_FEE));
        assert_eq!(
            validation.fees.charged_after,
            U256::from(DEFAULT_MAX_OPERATION_FEE)
        );
        assert_eq!(
            validation.fees.budget_left(),
            Some(U256::from(DEFAULT_FEE_BUDGET - DEFAULT_MAX_OPERATION_FEE))
        );
        assert!(
            verdict.to_string().contains(
                "fees: the operation may cost up to 0.01 ETH (1,000,000 gas x 10 gwei maxFeePerGas), \
                 per-operation fee limit 0.01 ETH; 0.09 ETH of the 0.1 ETH fee budget left after it"
            ),
            "{verdict}"
        );
        let limit = DEFAULT_MAX_OPERATION_FEE;
        let (op, hash) = op_with_gas(&session, (0, 0, limit, 1), None);
        assert!(evaluate(&input(&op, hash, &state, START + 1, Version::V07)).is_accepted());
        let (op, hash) = op_with_gas(&session, (0, 0, limit + 1, 1), None);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::OperationFeeExceeded(e) if e.fee == U256::from(limit + 1)
        ));
        // the paymaster's gas limits count, whoever pays
        let (op, hash) = op_with_gas(&session, (0, 0, limit - 2, 1), Some((1, 1)));
        let session_any = compiled_with_paymaster_any();
        let (op_any, hash_any) = op_with_gas(&session_any, (0, 0, limit - 2, 1), Some((1, 2)));
        assert!(matches!(
            error_of(&evaluate(&input(&op_any, hash_any, &state, START + 1, Version::V07))),
            SessionKeyValidatorErrors::OperationFeeExceeded(e) if e.fee == U256::from(limit + 1)
        ));
        // (the default paymaster policy is "none": the paymaster check comes first)
        assert!(matches!(
            error_of(&evaluate(&input(
                &op,
                hash,
                &state,
                START + 1,
                Version::V07
            ))),
            SessionKeyValidatorErrors::PaymasterNotAllowed(_)
        ));
        let (op_any, hash_any) = op_with_gas(&session_any, (0, 0, limit - 2, 1), Some((1, 1)));
        assert!(evaluate(&input(&op_any, hash_any, &state, START + 1, Version::V07)).is_accepted());
    }

    /// The default-fee session with paymaster policy `any`.
    fn compiled_with_paymaster_any() -> CompiledSession {
        let mut spec = SessionSpec::from_contract(
            &compiled().session,
            &compiled().permissions,
            &["transfer(address to,uint256 amount)"],
        )
        .unwrap();
        spec.paymaster = keyscope_permissions::PaymasterSpec::Any;
        spec.compile().unwrap()
    }

    #[test]
    fn fee_budget_counts_what_was_charged() {
        let session = compiled();
        let fee = 4_100_000u128 * 2_000_000_000; // 0.0082 ether
        let budget = U256::from(DEFAULT_FEE_BUDGET);
        let (op, hash) = op_with_gas(
            &session,
            (2_000_000, 2_000_000, 100_000, 2_000_000_000),
            None,
        );
        // exactly the budget after the operation
        let mut state = SessionState::active();
        state.fees_charged = budget - U256::from(fee);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert_eq!(validation.fees.charged_before, budget - U256::from(fee));
        assert_eq!(validation.fees.charged_after, budget);
        assert_eq!(validation.fees.budget_left(), Some(U256::ZERO));
        assert!(
            verdict
                .to_string()
                .contains("0 ETH of the 0.1 ETH fee budget left"),
            "{verdict}"
        );
        assert!(state_keys(&op, VALIDATOR).fees_charged);
        // one wei more charged before: over
        state.fees_charged += U256::from(1);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::FeeBudgetExceeded(e)
                if e.total == budget + U256::from(1) && e.budget == budget
        ));
        let text = verdict.to_string();
        assert_eq!(
            text,
            "rejected (AA23): the operation may cost up to 0.0082 ETH (4,100,000 gas x 2 gwei maxFeePerGas); \
             with the 0.091800000000000001 ETH already charged to the session that makes 0.100000000000000001 ETH, \
             over its fee budget of 0.1 ETH (0.008199999999999999 ETH left)"
        );
        // the revert data decodes back to the same error, described from its values alone
        let revert = verdict.revert().unwrap();
        let decoded = ValidatorRevert::from_revert_data(&revert.revert_data()).unwrap();
        assert_eq!(decoded.error(), revert.error());
        assert_eq!(
            decoded.to_string(),
            "the operation would bring the fees charged to the session to 0.100000000000000001 ETH, over its fee \
             budget of 0.1 ETH"
        );
        assert!(ValidatorRevert::from_revert_data(&[1, 2, 3]).is_none());
        // the record is a uint128: only the low 128 bits count, and a saturating sum never wraps around
        state.fees_charged = (U256::from(1) << 200) | U256::from(5);
        assert!(evaluate(&input(&op, hash, &state, START + 1, Version::V08)).is_accepted());
    }

    #[test]
    fn a_session_enabled_by_the_operation_starts_with_nothing_charged() {
        let session = compiled();
        let (mut op, hash) = op_with_gas(
            &session,
            (2_000_000, 2_000_000, 100_000, 2_000_000_000),
            None,
        );
        // the same operation in enable mode (the owner's signature as the state says)
        let mut signature = op.signature.to_vec();
        signature[0] = MODE_ENABLE;
        let owner = [0x11u8; 85];
        let at = 1 + SESSION_LENGTH;
        let mut enabled = signature[..at].to_vec();
        enabled.extend_from_slice(&(owner.len() as u16).to_be_bytes());
        enabled.extend_from_slice(&owner);
        enabled.extend_from_slice(&signature[at..]);
        op.signature = enabled.into();
        let mut state = SessionState::active();
        state.fees_charged = U256::from(DEFAULT_FEE_BUDGET);
        // active: its counter stands (replaying the enable signature never refills the budget)
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::FeeBudgetExceeded(_)
        ));
        // not active in this epoch: it starts at zero
        state.status = SessionStatus::Unknown;
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert_eq!(validation.fees.charged_before, U256::ZERO);
        assert_eq!(validation.owner_signature_valid, Some(true));
    }

    #[test]
    fn unlimited_bounds_are_not_checked() {
        let session =
            compiled_with_fees(r#"{"per_operation": "unlimited", "budget": "unlimited"}"#);
        let state = SessionState::active();
        let max = (1u128 << 120) - 1;
        let (op, hash) = op_with_gas(&session, (max, max, max, max), None);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert!(!validation.fees.is_checked());
        assert_eq!(validation.fees.budget_left(), None);
        assert_eq!(
            validation.fees.charged_after,
            validation.fees.charged_before
        );
        assert!(
            verdict
                .to_string()
                .contains("no per-operation fee limit; no fee budget"),
            "{verdict}"
        );
        assert!(!state_keys(&op, VALIDATOR).fees_charged);
        // a per-operation bound only: checked, never charged
        let session = compiled_with_fees(r#"{"per_operation": "1 ether", "budget": "unlimited"}"#);
        let (op, hash) = op_with_gas(&session, (0, 0, 1_000_000, 1_000_000_000_000), None);
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        let Verdict::Accepted(validation) = &verdict else {
            panic!("{verdict}")
        };
        assert!(validation.fees.is_checked());
        assert_eq!(validation.fees.charged_after, U256::ZERO);
        assert!(!state_keys(&op, VALIDATOR).fees_charged);
        let (op, hash) = op_with_gas(&session, (0, 0, 1_000_001, 1_000_000_000_000), None);
        assert!(matches!(
            error_of(&evaluate(&input(
                &op,
                hash,
                &state,
                START + 1,
                Version::V07
            ))),
            SessionKeyValidatorErrors::OperationFeeExceeded(_)
        ));
        // a budget only: a saturated cost is over any budget
        let session = compiled_with_fees(
            r#"{"per_operation": "unlimited", "budget": "340282366920938463463374607431768211454"}"#,
        );
        let (mut op, hash) = op_with_gas(&session, (0, 0, 0, 1), None);
        op.preVerificationGas = U256::from(1) << 128;
        let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V07));
        assert!(matches!(
            error_of(&verdict),
            SessionKeyValidatorErrors::FeeBudgetExceeded(e) if e.total == U256::MAX
        ));
        assert!(verdict.to_string().contains("2^256 − 1 wei"), "{verdict}");
    }

    #[test]
    fn enable_mode_refuses_dirty_fee_words() {
        let session = compiled();
        let (op, hash) = signed_op(&session, &[(TOKEN, U256::ZERO, transfer(1))], &[0], &key());
        for (byte, expect_malformed) in [
            (6 * 32, true),
            (6 * 32 + 15, true),
            (7 * 32, true),
            (7 * 32 + 15, true),
            // the low half is the value itself: a bound like any other
            (7 * 32 + 16, false),
        ] {
            let mut signature = vec![MODE_ENABLE];
            let mut encoded = session.session.encode().to_vec();
            encoded[byte] = 1;
            signature.extend_from_slice(&encoded);
            signature.extend_from_slice(&op.signature[1 + SESSION_LENGTH..]);
            // the owner signature: empty, prefixed by its length
            let at = 1 + SESSION_LENGTH;
            signature.splice(at..at, [0u8, 0u8]);
            let mut dirty = op.clone();
            dirty.signature = signature.into();
            let mut state = SessionState::active();
            state.status = SessionStatus::Unknown;
            let verdict = evaluate(&input(&dirty, hash, &state, START + 1, Version::V07));
            let malformed = matches!(
                verdict.validator_error(),
                Some(SessionKeyValidatorErrors::MalformedSession(_))
            );
            assert_eq!(malformed, expect_malformed, "byte {byte}: {verdict}");
        }
    }

    fn arbitrary_state() -> impl Strategy<Value = SessionState> {
        (
            any::<bool>(),
            0u8..3,
            any::<bool>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<[u8; 32]>(),
            prop_oneof![
                Just(U256::ZERO),
                Just(U256::from(DEFAULT_FEE_BUDGET)),
                Just(U256::from(DEFAULT_FEE_BUDGET + 1)),
                any::<u128>().prop_map(U256::from),
                any::<[u8; 32]>().prop_map(U256::from_be_bytes),
            ],
        )
            .prop_map(
                |(installed, status, owner, uses, window, window_uses, spent, fees_charged)| {
                    let session = compiled();
                    let mut state = SessionState::active();
                    state.installed = installed;
                    state.status = SessionStatus::from_raw(status);
                    state.owner_signature_valid = owner;
                    state.usage.insert(
                        session.permissions[0].leaf(),
                        Usage {
                            uses,
                            window,
                            window_uses,
                        },
                    );
                    state.spent.insert(TOKEN, U256::from_be_bytes(spent));
                    state.fees_charged = fees_charged;
                    state
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes for callData and signature: never a panic, always an explainable verdict.
        #[test]
        fn random_bytes_never_panic(
            call_data in proptest::collection::vec(any::<u8>(), 0..400),
            signature in proptest::collection::vec(any::<u8>(), 0..700),
            paymaster in proptest::collection::vec(any::<u8>(), 0..60),
            mode in 0u8..3,
            state in arbitrary_state(),
            now in any::<u64>(),
            gas in (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
        ) {
            let mut signature = signature;
            if let Some(first) = signature.first_mut() {
                *first = mode;
            }
            let op = PackedUserOperation {
                sender: ACCOUNT,
                nonce: U256::from(nonce_key(VALIDATOR, 1)) << 64,
                callData: call_data.into(),
                paymasterAndData: paymaster.into(),
                signature: signature.into(),
                accountGasLimits: B256::from(gas.0),
                preVerificationGas: U256::from_be_bytes(gas.1),
                gasFees: B256::from(gas.2),
                ..Default::default()
            };
            let cost = OperationCost::of(&op);
            prop_assert!(cost.gas.is_some() || cost.fee == U256::MAX);
            // the SDK's fee estimation counts the same cost
            prop_assert_eq!(cost.fee, crate::fees::max_operation_cost(&op));
            prop_assert!(!cost.to_string().is_empty());
            for version in [Version::V07, Version::V08] {
                let verdict = evaluate(&input(&op, B256::ZERO, &state, now, version));
                prop_assert!(!verdict.to_string().is_empty());
            }
            let _ = state_keys(&op, VALIDATOR);
        }

        /// A valid operation with bytes of its callData or signature overwritten: never a panic, and an
        /// untouched operation is accepted.
        #[test]
        fn mutated_operations_never_panic(
            amounts in proptest::collection::vec(0u64..200, 1..4),
            edits in proptest::collection::vec((any::<bool>(), any::<usize>(), any::<u8>()), 0..6),
            state in arbitrary_state(),
        ) {
            let session = compiled();
            let calls: Vec<_> = amounts.iter().map(|a| (TOKEN, U256::ZERO, transfer(*a))).collect();
            let (mut op, hash) = signed_op(&session, &calls, &vec![0; calls.len()], &key());
            let mut call_data = op.callData.to_vec();
            let mut signature = op.signature.to_vec();
            for (in_signature, position, byte) in &edits {
                let target = if *in_signature { &mut signature } else { &mut call_data };
                let len = target.len();
                target[position % len] = *byte;
            }
            op.callData = call_data.into();
            op.signature = signature.into();
            let verdict = evaluate(&input(&op, hash, &state, START + 1, Version::V08));
            prop_assert!(!verdict.to_string().is_empty());
            if edits.is_empty() && state.installed && state.status == SessionStatus::Active
                && amounts.iter().all(|a| *a <= 100)
                && state.spent_of(&TOKEN).saturating_add(U256::from(amounts.iter().sum::<u64>())) <= U256::from(250)
                && state.usage_of(&session.permissions[0].leaf()).uses + (amounts.len() as u64) <= 3
                && low_bits(state.fees_charged, 128) <= U256::from(DEFAULT_FEE_BUDGET)
            {
                prop_assert!(verdict.is_accepted(), "{}", verdict);
            }
        }
    }
}

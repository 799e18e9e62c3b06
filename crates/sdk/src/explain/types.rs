//! The public types: what an evaluation reads ([`SessionState`], [`ExplainInput`]) and what it answers
//! ([`Verdict`], [`Validation`], [`ValidatorRevert`], [`FeeCheck`] …). Their descriptions (`Display`) are in
//! `describe`, `OperationCost::of` is in the `machine`.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, Bytes, FixedBytes, B256, U256};
use alloy::sol_types::SolInterface;
use keyscope_bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope_permissions::{window_bounds, Permission, RuleOperator};
use keyscope_signer::PackedUserOperation;

use super::decode::MAX_U48;
use super::machine::UNLIMITED_FEE;
use crate::client::SessionStatus;
use crate::stack::Version;

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

/// One period definition of a session's allowances per period (`FLAG_PER_PERIOD`): the asset, the period length
/// and the start of period 0. The validator sums spending per key over the session's permissions with the flag
/// (its `_periodKey(scope, asset, interval, start)`), as it sums lifetime totals per asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeriodKey {
    /// The ERC-20 token, or `Address::ZERO` for native value.
    pub asset: Address,
    /// The period length in seconds (the permissions' `rateLimitInterval`).
    pub interval: u64,
    /// The start of period 0 (the permissions' `validAfter`).
    pub start: u64,
}

/// What a session spent under one [`PeriodKey`] (`SessionKeyValidator.periodSpentOf`): the latest period it spent
/// in and the amount spent in it. An operation naming a later period starts that period from zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodSpent {
    /// The latest period spent in (0 when none).
    pub period: u32,
    /// The amount spent in it.
    pub spent: U256,
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
    /// magic value (in multichain enable mode, `isValidSignature` of the multichain digest of the root the chain
    /// proof leads to from this chain's leaf). Ignored in use mode.
    pub owner_signature_valid: bool,
    /// Usage counters per permission leaf (`usageOf`).
    pub usage: BTreeMap<B256, Usage>,
    /// Cumulative spending per asset (`spentOf`): `Address::ZERO` for native value, else the ERC-20 token.
    pub spent: BTreeMap<Address, U256>,
    /// Spending per period definition, for allowances per period (`periodSpentOf`).
    pub period_spent: BTreeMap<PeriodKey, PeriodSpent>,
    /// The fees charged to the session's budget in the current epoch (`feesChargedOf`; the record's `uint128
    /// feesCharged`, so only its low 128 bits count). Read only when the session is active: a session enabled by
    /// the operation starts at zero.
    pub fees_charged: U256,
    /// Whether the account's owner revoked some permission of the session in the current epoch
    /// (`hasRevokedPermissions`: the record's `permissionsRevoked`, which enabling the session keeps). Only then
    /// does the validator read each call's revoked flag.
    pub permissions_revoked: bool,
    /// The permission leaves the owner revoked in the current epoch (`permissionRevoked`; the usage slot's
    /// `revoked`). Read only when `permissions_revoked` is set: a leaf here counts only then.
    pub revoked: BTreeSet<B256>,
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
            period_spent: BTreeMap::new(),
            fees_charged: U256::ZERO,
            permissions_revoked: false,
            revoked: BTreeSet::new(),
        }
    }

    /// The usage of `leaf` (zero when absent).
    pub fn usage_of(&self, leaf: &B256) -> Usage {
        self.usage.get(leaf).copied().unwrap_or_default()
    }

    /// Whether the validator finds `leaf` revoked: the session has revoked permissions and `leaf` is one of them.
    pub fn is_revoked(&self, leaf: &B256) -> bool {
        self.permissions_revoked && self.revoked.contains(leaf)
    }

    /// The spending of `asset` (zero when absent).
    pub fn spent_of(&self, asset: &Address) -> U256 {
        self.spent.get(asset).copied().unwrap_or_default()
    }

    /// The spending under the period definition `key` (period 0 and zero when absent).
    pub fn period_spent_of(&self, key: &PeriodKey) -> PeriodSpent {
        self.period_spent.get(key).copied().unwrap_or_default()
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

/// The storage slots an evaluation reads: what [`Client::explain`](crate::Client::explain) fetches before evaluating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateKeys {
    /// The session the signature names.
    pub session_id: Option<B256>,
    /// In enable mode, the owner's signature to check through the account's ERC-1271.
    pub owner_signature: Option<Bytes>,
    /// In multichain enable mode (mode 2), the chain proof: the owner's signature is checked against the
    /// multichain digest of the root it leads to from this chain's leaf (chain id, account, epoch, session).
    pub chain_proof: Option<Vec<B256>>,
    /// Permission leaves whose usage counters are read.
    pub leaves: Vec<B256>,
    /// Assets whose cumulative spending is read (`Address::ZERO`: native value).
    pub assets: Vec<Address>,
    /// Period definitions whose spending is read (`periodSpentOf`), for allowances per period.
    pub periods: Vec<PeriodKey>,
    /// Whether the session's fee counter is read (`feesChargedOf`): the session has a fee budget and the
    /// operation reaches the fee check.
    pub fees_charged: bool,
    /// Permission leaves whose revoked flag (`permissionRevoked`) is read when the session has revoked
    /// permissions (`hasRevokedPermissions`, always read): the leaf of every call whose proof passes.
    pub revocation_leaves: Vec<B256>,
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
    /// Rate-limit window `window` of call `call`'s permission (a rate limit without allowances per period).
    RateLimitWindow {
        /// The call.
        call: usize,
        /// The window index the signature names.
        window: u32,
    },
    /// Period `period` of call `call`'s permission, whose allowances are per period (`FLAG_PER_PERIOD`; its rate
    /// limit, if any, counts in the same periods).
    Period {
        /// The call.
        call: usize,
        /// The period index the signature names.
        period: u32,
    },
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
    /// The period (rate-limit window) index the signature names (once read); it counts for permissions with a
    /// rate limit or allowances per period.
    pub rate_limit_window: Option<u32>,
    /// The permission's usage counters after this call (when it has a usage or rate limit).
    pub usage: Option<Usage>,
    /// The call's spending against allowances per period (`FLAG_PER_PERIOD`): native value first, then the
    /// ERC-20 amount, as the validator counts them. On a revert, the last entry is the spending that failed.
    pub periods: Vec<PeriodSpending>,
    /// Whether the signature presents the call as the session's own revocation (an empty permission entry): it
    /// must then be `revokeSession(sessionId)` of this session on the validator, with no value, and no permission,
    /// window or counter applies.
    pub self_revocation: bool,
}

/// One amount a call spends against an allowance per period (`FLAG_PER_PERIOD`), as the validator counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSpending {
    /// The period definition (asset, period length, start of period 0) the spending is summed under.
    pub key: PeriodKey,
    /// The period the signature names.
    pub period: u32,
    /// The amount the call spends.
    pub amount: U256,
    /// Spent in the period before the call (zero when the period is later than the latest one spent in).
    pub spent_before: U256,
    /// Spent in the period with the call (saturating, as the validator adds).
    pub spent_after: U256,
    /// The permission's allowance per period.
    pub limit: U256,
}

impl PeriodSpending {
    /// What is left of the allowance in the period after the call (zero when over it).
    pub fn left(&self) -> U256 {
        self.limit.saturating_sub(self.spent_after)
    }

    /// The first second of the period: `start + period × interval`.
    pub fn period_start(&self) -> u128 {
        window_bounds(self.key.start, self.key.interval, self.period).0
    }

    /// The first second of the next period (unix seconds), when the allowance is whole again:
    /// `start + (period + 1) × interval`.
    pub fn next_period_start(&self) -> u128 {
        window_bounds(self.key.start, self.key.interval, self.period).1
    }
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

/// How the validator reverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertKind {
    /// With one of its custom errors.
    Error(Box<SessionKeyValidatorErrors>),
    /// Without data: a Solidity calldata check on a permission encoding that is a leaf of the tree but not
    /// canonical (a field out of its type's range, or an offset or length out of bounds); for a message signature,
    /// also a failed call of the account's `eip712Domain()` (field `"eip712Domain"`).
    Empty {
        /// The field whose read reverted, e.g. `"flags"` or `"rules[2].operands"`.
        field: String,
    },
}

/// A revert of `validateUserOp` (or of `isValidSignatureWithSender`, a message signature's check), with what led to
/// it.
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
    /// For a revert of a message signature's check (`isValidSignatureWithSender`): what it had read; `None` for
    /// `validateUserOp`. Its errors' `callIndex` is then 0, standing for the typed-data permission.
    pub message: Option<Box<MessageScope>>,
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
            message: None,
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

/// The session signature check (`SessionSigners.isValid`), for every signer kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSignatureCheck {
    /// The session's signer: a secp256k1 address or a key commitment.
    pub signer: Address,
    /// The kind the signature's length and first byte say, whether it is valid, and why not.
    pub check: keyscope_signer::SignatureCheck,
}

impl SessionSignatureCheck {
    /// Whether it is the signer's signature.
    pub fn valid(&self) -> bool {
        self.check.is_valid()
    }
}

/// What `validateUserOp` returns when it does not revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The returned `validationData`: `sigFailed | validUntil << 160 | validAfter << 208`.
    pub validation_data: U256,
    /// `validAfter` as encoded (the latest start of the session, the permissions and the periods named).
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

/// The outcome of [`evaluate`](super::evaluate).
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

/// [`Client::explain`](crate::Client::explain)'s answer: the verdict and what it was computed from.
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

// ---------------------------------------------------------------------------------------------------------------
// Message signatures (ERC-1271 through ERC-7739)
// ---------------------------------------------------------------------------------------------------------------

/// An account's ERC-5267 EIP-712 domain (`eip712Domain()`): the fields ERC-7739's nested `TypedDataSign` binds a
/// session key's message signature to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDomain {
    /// The domain's name (`"KeyscopeAccount"` for a Keyscope account).
    pub name: String,
    /// Its version (`"1"`).
    pub version: String,
    /// Its chain id.
    pub chain_id: U256,
    /// Its verifying contract: the account itself, for a domain the validator accepts.
    pub verifying_contract: Address,
    /// Its salt.
    pub salt: B256,
}

impl AccountDomain {
    /// The domain of a Keyscope account `account` on chain `chain_id`: ("KeyscopeAccount", "1", `chain_id`,
    /// `account`, zero salt).
    pub fn keyscope(account: Address, chain_id: u64) -> Self {
        Self {
            name: "KeyscopeAccount".to_owned(),
            version: "1".to_owned(),
            chain_id: U256::from(chain_id),
            verifying_contract: account,
            salt: B256::ZERO,
        }
    }

    /// The domain as ERC-7739's `TypedDataSign` encodes it (`_accountDomainBytes`): `abi.encode(keccak256(name),
    /// keccak256(version), chainId, verifyingContract, salt)`.
    pub fn encoded(&self) -> [u8; 160] {
        let mut out = [0u8; 160];
        out[..32].copy_from_slice(alloy::primitives::keccak256(self.name.as_bytes()).as_slice());
        out[32..64]
            .copy_from_slice(alloy::primitives::keccak256(self.version.as_bytes()).as_slice());
        out[64..96].copy_from_slice(&self.chain_id.to_be_bytes::<32>());
        out[96..128].copy_from_slice(self.verifying_contract.into_word().as_slice());
        out[128..].copy_from_slice(self.salt.as_slice());
        out
    }
}

/// A message signature to check: `SessionKeyValidator.isValidSignatureWithSender(_, hash, data)` called by
/// `account` (the account forwards its ERC-1271 `isValidSignature(hash, validator ‖ data)` so), and everything the
/// answer depends on.
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    /// The account asked (the validator's caller).
    pub account: Address,
    /// The `SessionKeyValidator` (its typed-data verifier's `VALIDATOR`).
    pub validator: Address,
    /// The digest the app asks about.
    pub hash: B256,
    /// The signature after the validator's address: ERC-7739's TypedDataSign envelope of the session's inner
    /// signature (wire format in `SessionKeyValidator`'s documentation).
    pub data: &'a [u8],
    /// The block timestamp (the verifier reads `block.timestamp`).
    pub now: u64,
    /// The chain id (`block.chainid`).
    pub chain_id: u64,
    /// The account's ERC-5267 domain; `None` when the account's `eip712Domain()` fails (the verifier's call to it
    /// then reverts: without data when the account has no such function).
    pub account_domain: Option<&'a AccountDomain>,
    /// The validator's state for the account and the session: `installed`, `status`, `permissions_revoked` and
    /// `revoked` are read.
    pub state: &'a SessionState,
}

/// What `isValidSignatureWithSender` answers when it does not revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageAnswer {
    /// `0x1626ba7e`: the session key signed the hash within its scope.
    Valid,
    /// `0xffffffff`: the signature does not match.
    Invalid,
    /// `0x77390001`: the ERC-7739 detection answer (the detection hash with an empty signature).
    Erc7739Supported,
}

impl MessageAnswer {
    /// The `bytes4` the validator returns.
    pub const fn magic(self) -> FixedBytes<4> {
        match self {
            Self::Valid => FixedBytes([0x16, 0x26, 0xba, 0x7e]),
            Self::Invalid => FixedBytes([0xff, 0xff, 0xff, 0xff]),
            Self::Erc7739Supported => FixedBytes([0x77, 0x39, 0x00, 0x01]),
        }
    }

    /// The answer whose `bytes4` is `magic` (`None` for any other value).
    pub fn from_magic(magic: FixedBytes<4>) -> Option<Self> {
        [Self::Valid, Self::Invalid, Self::Erc7739Supported]
            .into_iter()
            .find(|answer| answer.magic() == magic)
    }
}

/// Why the validator answers a message signature `0xffffffff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageMismatch {
    /// An empty signature with another hash than ERC-7739's detection hash.
    NotDetectionHash,
    /// The ERC-7739 envelope is shorter than its 66 bytes and the `contentsDescr` length its last two bytes give
    /// (OpenZeppelin's `decodeTypedDataSig` then yields empty values).
    MalformedEnvelope,
    /// The `contentsDescr` names no valid contents type (empty, or a name with a forbidden character): only
    /// TypedDataSign is accepted, never PersonalSign.
    InvalidContentsDescr,
    /// `hash` is not `toTypedDataHash(appSeparator, contentsHash)` of the envelope.
    HashMismatch {
        /// The digest the envelope stands for.
        expected: B256,
    },
    /// The inner signature's app domain does not hash to the envelope's `appSeparator` (nothing after it is
    /// checked).
    AppDomainMismatch,
    /// The inner signature's contents do not hash to the envelope's `contentsHash` (their rules are not checked).
    ContentsMismatch,
    /// The session signature is not the session signer's over the nested digest.
    SessionSignature,
}

/// `isValidSignatureWithSender`'s answer and what it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageValidation {
    /// The answer.
    pub answer: MessageAnswer,
    /// Why the answer is [`MessageAnswer::Invalid`] (`None` otherwise).
    pub mismatch: Option<MessageMismatch>,
    /// The session the signature names (once read).
    pub session_id: Option<B256>,
    /// The typed-data permission's leaf (once its scope was checked).
    pub leaf: Option<B256>,
    /// The contents type's name, from the envelope's `contentsDescr` (once decoded).
    pub contents_name: Option<String>,
    /// The app domain's verifying contract (once its scope was checked).
    pub verifying_contract: Option<Address>,
    /// The nested `TypedDataSign` digest the session signer signs (once computed).
    pub digest: Option<B256>,
    /// The session signature check (when the scope matched).
    pub session_signature: Option<SessionSignatureCheck>,
}

impl MessageValidation {
    /// Whether the answer is the ERC-1271 magic value.
    pub fn is_valid(&self) -> bool {
        self.answer == MessageAnswer::Valid
    }
}

/// What a message signature's check had read when it reverted (in [`ValidatorRevert::message`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageScope {
    /// The session the signature names (once read).
    pub session_id: Option<B256>,
    /// The typed-data permission's leaf (once read).
    pub leaf: Option<B256>,
    /// That permission, when its encoding is canonical.
    pub permission: Option<Permission>,
    /// The app domain's verifying contract (once read).
    pub verifying_contract: Option<Address>,
    /// The contents' length in bytes (`typeHash ‖ encodeData`, once read).
    pub contents_len: Option<usize>,
}

/// [`Client::explain_message_signature`](crate::Client::explain_message_signature)'s answer: the validator's answer
/// or revert and what it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExplanation {
    /// `isValidSignatureWithSender`'s answer, or its revert.
    pub result: core::result::Result<MessageValidation, ValidatorRevert>,
    /// The validator state read.
    pub state: SessionState,
    /// The account's ERC-5267 domain (`None`: its `eip712Domain()` failed).
    pub account_domain: Option<AccountDomain>,
    /// The block the state was read at.
    pub block: u64,
    /// The time evaluated (that block's timestamp).
    pub now: u64,
}

impl MessageExplanation {
    /// The answer, when the validator does not revert.
    pub fn answer(&self) -> Option<MessageAnswer> {
        self.result
            .as_ref()
            .ok()
            .map(|validation| validation.answer)
    }
}

//! The descriptions: what a verdict, a revert, a validation and a fee check say to people (`Display`), with
//! amounts in ETH and gwei and each custom error of the validator in words. The match over the validator's
//! errors is exhaustive: a new error does not compile until it is described.

use std::fmt;

use alloy::primitives::{Address, FixedBytes, B256, I256, U256};
use alloy::sol_types::SolCall;
use keyscope_bindings::session_key_validator::SessionKeyValidator::{
    revokeSessionCall, SessionKeyValidatorErrors,
};
use keyscope_permissions::values::format_decimal;
use keyscope_permissions::{
    RuleOperator, ALL_FLAGS, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL,
    FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD,
};

use super::{
    CallReport, FeeCheck, MessageAnswer, MessageExplanation, MessageMismatch, MessageScope,
    MessageValidation, OperationCost, PeriodSpending, Rejection, RevertKind, RuleDetail,
    Validation, ValidatorRevert, Verdict, WindowSource,
};
use crate::stack::Version;

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

/// `"native value"` or `"token 0x…"`.
fn asset_name(asset: &Address) -> String {
    if asset.is_zero() {
        "native value".to_owned()
    } else {
        format!("token {asset}")
    }
}

/// An amount of `asset`: wei for native value, the raw amount for a token.
fn amount_of(asset: &Address, amount: U256) -> String {
    if asset.is_zero() {
        format!("{} wei", show(amount))
    } else {
        show(amount)
    }
}

/// A call's spending against an allowance per period: the period, what is left of it after the call, and when
/// the next period starts (unix seconds).
fn describe_period(spending: &PeriodSpending) -> String {
    let asset = &spending.key.asset;
    format!(
        "{} in period {} (seconds {} to {}): {} spent in it with this call, {} of the {} allowance left; the next period starts at {}",
        asset_name(asset),
        spending.period,
        spending.period_start(),
        spending.next_period_start() - 1,
        amount_of(asset, spending.spent_after),
        amount_of(asset, spending.left()),
        amount_of(asset, spending.limit),
        spending.next_period_start()
    )
}

fn describe_call(call: &CallReport) -> String {
    let what = match call.selector {
        Some(selector) => format!("{}.{selector}", call.target),
        None if call.data_len == 0 => format!("{} (native transfer)", call.target),
        None => format!("{} ({} bytes of calldata)", call.target, call.data_len),
    };
    if call.self_revocation {
        return format!("{what}, the session's own revocation (no permission)");
    }
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

/// What makes call `call`, presented as the session's own revocation, not one: what its report shows (its value,
/// calldata length, selector), else its target or its argument.
fn self_revocation_fault(call: Option<&CallReport>) -> String {
    let expected = revokeSessionCall::SELECTOR;
    let Some(call) = call else {
        return "is not revokeSession(sessionId) of this session on the validator with no value"
            .to_owned();
    };
    let mut faults = Vec::new();
    if !call.value.is_zero() {
        faults.push(format!("sends {} wei", show(call.value)));
    }
    match call.selector {
        Some(selector) if selector.0 != expected => faults.push(format!(
            "calls {selector}, not revokeSession(bytes32) ({})",
            FixedBytes(expected)
        )),
        None => faults.push("has no selector".to_owned()),
        Some(_) => {}
    }
    if call.data_len != 36 {
        faults.push(format!("has {} bytes of calldata, not 36", call.data_len));
    }
    if faults.is_empty() {
        "is revokeSession, but either not on the validator or not of the session the operation is signed under"
            .to_owned()
    } else {
        faults.join(", ")
    }
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
        let message = self.message.as_deref();
        let call = |index: &U256| -> String {
            if let Some(scope) = message {
                return describe_message_permission(scope);
            }
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
            RevertKind::Empty { field } if message.is_some() => {
                return match field.as_str() {
                    "eip712Domain" => f.write_str(
                        "the account's ERC-5267 eip712Domain() fails (no such function, a revert or a return value \
                         that does not decode): the typed-data verifier reverts",
                    ),
                    field if field.starts_with("session.") => write!(
                        f,
                        "the session's `{}` is not validly ABI-encoded: the typed-data verifier reverts without data",
                        &field["session.".len()..]
                    ),
                    field => write!(
                        f,
                        "{}: its `{field}` is not validly ABI-encoded: the typed-data verifier reverts without data",
                        message.map(describe_message_permission).unwrap_or_default()
                    ),
                };
            }
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
            E::SignatureTruncated(e) if message.is_some() => write!(
                f,
                "the message signature (the ERC-7739 envelope's inner signature) ends before its field at byte {}, \
                 which needs {} bytes",
                e.offset, e.needed
            ),
            E::SignatureTruncated(e) => write!(
                f,
                "userOp.signature ends before its field at byte {}, which needs {} bytes",
                e.offset, e.needed
            ),
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
                    Some(p) if p.flags & FLAG_PER_PERIOD != 0 && p.rateLimitInterval.is_zero() => {
                        "its allowances are per period (FLAG_PER_PERIOD) but its period length (rateLimitInterval) is 0"
                            .to_owned()
                    }
                    _ => "its encoding is not a canonical abi.encode(Permission)".to_owned(),
                };
                write!(f, "{}: {reason}", call(&e.callIndex))
            }
            E::PermissionNotInSession(e) if message.is_some() => write!(
                f,
                "the typed-data permission (leaf {}) is not in the session's tree{}",
                e.leaf,
                self.root
                    .map(|root| format!(" (root {root})"))
                    .unwrap_or_default()
            ),
            E::PermissionIsRevoked(e) if message.is_some() => write!(
                f,
                "the typed-data permission (leaf {}) was revoked by the account's owner (revokePermission)",
                e.leaf
            ),
            E::PermissionNotInSession(e) => write!(
                f,
                "{}: the permission (leaf {}) is not in the session's tree{}",
                call(&e.callIndex),
                e.leaf,
                self.root
                    .map(|root| format!(" (root {root})"))
                    .unwrap_or_default()
            ),
            E::PermissionIsRevoked(e) => write!(
                f,
                "{}: the permission (leaf {}) was revoked by the account's owner (revokePermission); the session's \
                 other permissions still work",
                call(&e.callIndex),
                e.leaf
            ),
            E::InvalidSelfRevocation(e) => write!(
                f,
                "{}: an empty permission entry stands for the session's own revocation, which must be \
                 revokeSession(sessionId) of this session on the validator with no value; this call to {} {}",
                call(&e.callIndex),
                e.target,
                self_revocation_fault(
                    self.call
                        .as_deref()
                        .filter(|c| U256::from(c.index) == e.callIndex)
                )
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
            E::InvalidPermissionFlags(e) if message.is_some() => write!(
                f,
                "{}: its flags {:#x} are not FLAG_TYPED_DATA (0x20) alone: a call permission cannot sign messages",
                call(&e.callIndex),
                e.flags
            ),
            E::InvalidPermissionFlags(e)
                if e.flags & !ALL_FLAGS == 0
                    && e.flags & FLAG_PER_PERIOD != 0
                    && e.flags & (FLAG_NATIVE_TOTAL | FLAG_ERC20_TOTAL) == 0 =>
            {
                write!(
                    f,
                    "{}: permission flags {:#x}: FLAG_PER_PERIOD (allowances per period) without FLAG_NATIVE_TOTAL or \
                     FLAG_ERC20_TOTAL, so there is no allowance to count per period",
                    call(&e.callIndex),
                    e.flags
                )
            }
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
            E::ArgumentOutOfBounds(e) if message.is_some() => write!(
                f,
                "{}, rule {}: word {} of the contents (typeHash ‖ encodeData, bytes {}..{}) is past their end{}, so \
                 the rule fails closed",
                call(&e.callIndex),
                e.ruleIndex,
                e.argIndex,
                e.argIndex * U256::from(32),
                U256::from(32) + e.argIndex * U256::from(32),
                message
                    .and_then(|scope| scope.contents_len)
                    .map(|len| format!(" ({len} bytes)"))
                    .unwrap_or_default()
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
            E::ArgumentRuleFailed(e) if message.is_some() => write!(
                f,
                "{}, rule {}: word {} of the contents ({}) fails: {}",
                call(&e.callIndex),
                e.ruleIndex,
                e.argIndex,
                if e.argIndex.is_zero() {
                    "the type hash".to_owned()
                } else {
                    format!("member {}", e.argIndex)
                },
                rule()
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
                    .and_then(|p| {
                        let (start, next) = p.window_bounds(u32::try_from(e.window).ok()?);
                        Some(format!(" (seconds {start} to {})", next.saturating_sub(1)))
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
            E::PeriodAllowanceExceeded(e) => {
                let spending = self.call.as_ref().and_then(|c| c.periods.last()).filter(|p| {
                    p.key.asset == e.asset && U256::from(p.period) == e.period && p.spent_after == e.total
                });
                match spending {
                    Some(p) => write!(
                        f,
                        "{}: would bring the session's spending of {} in period {} (seconds {} to {}) to {}, over \
                         its allowance of {} per period ({} spent in it before, this call {}); the allowance is \
                         whole again when the next period starts at {}",
                        call(&e.callIndex),
                        asset_name(&e.asset),
                        e.period,
                        p.period_start(),
                        p.next_period_start() - 1,
                        amount_of(&e.asset, e.total),
                        amount_of(&e.asset, e.limit),
                        amount_of(&e.asset, p.spent_before),
                        amount_of(&e.asset, p.amount),
                        p.next_period_start()
                    ),
                    None => write!(
                        f,
                        "{}: would bring the session's spending of {} in period {} to {}, over its allowance of {} \
                         per period",
                        call(&e.callIndex),
                        asset_name(&e.asset),
                        e.period,
                        amount_of(&e.asset, e.total),
                        amount_of(&e.asset, e.limit)
                    ),
                }
            }
            E::SpendingPeriodPassed(e) => write!(
                f,
                "{}: names period {} for its spending of {}, but the session already spent it in period {} under \
                 the same period definition (periods only move forward)",
                call(&e.callIndex),
                e.period,
                asset_name(&e.asset),
                e.latestPeriod
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
            E::InvalidTypedDataPermission(e) => write!(
                f,
                "the typed-data permission (leaf {}) is not a valid one: {}",
                e.leaf,
                typed_data_permission_fault(message)
            ),
            E::SignatureOutsideWindow(e) => write!(
                f,
                "{}: at {} the message signature is outside the session's and the permission's window, seconds {} \
                 to {}",
                if e.timestamp < e.validAfter { "not due" } else { "expired" },
                e.timestamp,
                e.validAfter,
                e.validUntil
            ),
            E::ForbiddenVerifyingContract(e) => write!(
                f,
                "the typed data's verifying contract {} is the account, the validator or address(0), for which a \
                 session key never signs (an owner-level message or a session's enable digest)",
                e.verifyingContract
            ),
            E::VerifyingContractNotAllowed(e) => write!(
                f,
                "the typed data's verifying contract {} is not allowed, the permission allows only {}",
                e.verifyingContract, e.allowed
            ),
            E::UnsupportedAppDomain(e) => write!(
                f,
                "the app domain in the signature has ERC-5267 fields {:#04x}: it must name its verifying contract \
                 (0x08, an address), and only name, version, chainId, verifyingContract and salt (at most 0x1f)",
                e.fields
            ),
            E::AccountDomainNotBound(e) => write!(
                f,
                "the ERC-5267 domain of account {} is not its own on this chain (its verifyingContract and chainId), \
                 so a nested signature would not be bound to it",
                e.account
            ),
            // OpenZeppelin's ShortStrings, in the EIP-712 domain's constructor: never raised by validateUserOp.
            E::InvalidShortString(_) => f.write_str("OpenZeppelin ShortStrings: invalid short string"),
            E::StringTooLong(e) => write!(f, "OpenZeppelin ShortStrings: string too long: {:?}", e.str),
        }
    }
}

/// `"the typed-data permission (leaf 0x…, verifying contract 0x…)"`.
fn describe_message_permission(scope: &MessageScope) -> String {
    let mut parts = Vec::new();
    if let Some(leaf) = &scope.leaf {
        parts.push(format!("leaf {}", short(leaf)));
    }
    if let Some(permission) = &scope.permission {
        parts.push(format!("verifying contract {}", permission.target));
    }
    if parts.is_empty() {
        "the typed-data permission".to_owned()
    } else {
        format!("the typed-data permission ({})", parts.join(", "))
    }
}

/// What makes a permission presented for a message signature not a typed-data permission, from its decoding.
fn typed_data_permission_fault(scope: Option<&MessageScope>) -> String {
    let Some(p) = scope.and_then(|scope| scope.permission.as_ref()) else {
        return "it carries a call field (selector, value, totals, uses or rate limit), or its rule 0 is not Eq on \
                word 0 (the contents' type hash)"
            .to_owned();
    };
    let mut fields = Vec::new();
    if !p.selector.is_zero() {
        fields.push("selector");
    }
    if !p.valueLimit.is_zero() {
        fields.push("valueLimit");
    }
    if !p.nativeTotalLimit.is_zero() {
        fields.push("nativeTotalLimit");
    }
    if !p.erc20TotalLimit.is_zero() {
        fields.push("erc20TotalLimit");
    }
    if p.maxUses != 0 {
        fields.push("maxUses");
    }
    if p.rateLimitCount != 0 {
        fields.push("rateLimitCount");
    }
    if !p.rateLimitInterval.is_zero() {
        fields.push("rateLimitInterval");
    }
    if !fields.is_empty() {
        return format!(
            "it carries call fields ({}), which a signature check cannot enforce",
            fields.join(", ")
        );
    }
    match p.rules.first() {
        None => "it has no rules: rule 0 must pin the contents' type (Eq on word 0)".to_owned(),
        Some(rule) => format!(
            "its rule 0 is operator {} on word {}: it must be Eq on word 0 (the contents' type hash)",
            RuleOperator::from_u8(rule.operator)
                .map(|operator| operator.to_string())
                .unwrap_or_else(|| rule.operator.to_string()),
            rule.argIndex
        ),
    }
}

impl fmt::Display for MessageAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => write!(f, "valid ({})", self.magic()),
            Self::Invalid => write!(f, "invalid ({})", self.magic()),
            Self::Erc7739Supported => write!(f, "ERC-7739 supported ({})", self.magic()),
        }
    }
}

impl fmt::Display for MessageMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDetectionHash => f.write_str(
                "the signature is empty and the hash is not ERC-7739's detection hash (0x7739…7739)",
            ),
            Self::MalformedEnvelope => f.write_str(
                "the signature is not an ERC-7739 TypedDataSign envelope: it is shorter than its 66 bytes and the \
                 contentsDescr length its last two bytes give",
            ),
            Self::InvalidContentsDescr => f.write_str(
                "the envelope's contentsDescr names no contents type (empty, or a name with \\0, space, comma or \
                 parenthesis): only TypedDataSign is accepted, never PersonalSign",
            ),
            Self::HashMismatch { expected } => write!(
                f,
                "the hash asked about is not the envelope's typed data: it stands for {expected} \
                 (toTypedDataHash(appSeparator, contentsHash))"
            ),
            Self::AppDomainMismatch => {
                f.write_str("the app domain's fields do not hash to the envelope's appSeparator")
            }
            Self::ContentsMismatch => {
                f.write_str("the contents do not hash to the envelope's contentsHash")
            }
            Self::SessionSignature => f.write_str(
                "the session signature is not the session signer's over the nested TypedDataSign digest",
            ),
        }
    }
}

impl fmt::Display for MessageValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.answer)?;
        if let Some(mismatch) = &self.mismatch {
            write!(f, ": {mismatch}")?;
        }
        if let (Some(MessageMismatch::SessionSignature), Some(check)) =
            (&self.mismatch, &self.session_signature)
        {
            if let Some(reason) = &check.check.reason {
                write!(
                    f,
                    " ({} signature, signer {}: {reason})",
                    check.check.kind, check.signer
                )?;
            }
        }
        if self.answer == MessageAnswer::Valid {
            if let Some(name) = &self.contents_name {
                write!(f, ": {name} typed data")?;
            }
            if let Some(contract) = &self.verifying_contract {
                write!(f, " for {contract}")?;
            }
            if let Some(leaf) = &self.leaf {
                write!(f, ", under the typed-data permission {}", short(leaf))?;
            }
            if let Some(check) = &self.session_signature {
                write!(f, ", signed by {} ({})", check.signer, check.check.kind)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for MessageExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(validation) => write!(f, "{validation}"),
            Err(revert) => write!(f, "reverts (the account answers 0xffffffff): {revert}"),
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
            for spending in &call.periods {
                write!(f, " ({})", describe_period(spending))?;
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
                match &check.check.reason {
                    Some(reason) if !check.valid() => write!(
                        f,
                        "the {} session signature is not the session signer {}'s: {reason}",
                        check.check.kind, check.signer
                    ),
                    _ => Ok(()),
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

impl fmt::Display for WindowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session => f.write_str("the session"),
            Self::Permission { call } => write!(f, "call {call}'s permission"),
            Self::RateLimitWindow { call, window } => {
                write!(f, "call {call}'s rate-limit window {window}")
            }
            Self::Period { call, period } => write!(f, "call {call}'s period {period}"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

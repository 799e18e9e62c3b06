//! Plain-language summaries of sessions, for consent screens and the CLI.

use std::collections::HashMap;
use std::fmt::Write as _;

use alloy_primitives::{Address, B256, I256, U256};

use crate::abi::{
    erc20_amount_arg, u48_to_u64, Permission, RuleOperator, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL,
    FLAG_PER_PERIOD,
};
use crate::error::Result;
use crate::function::ParamType;
use crate::spec::{
    resolve_arg, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionInfo, SessionSpec, Target,
    TypedDataInfo, ValueType,
};
use crate::values;

/// What a token is called and how many decimals its amounts have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Symbol, e.g. `USDC`.
    pub symbol: String,
    /// Decimals, e.g. 6.
    pub decimals: u8,
}

/// Extra knowledge for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryOptions {
    /// Known tokens by address: their ERC-20 amounts are shown in whole units with the symbol.
    pub tokens: HashMap<Address, TokenInfo>,
}

impl SessionSpec {
    /// A summary in plain English, one line per permission. Fails where [`SessionSpec::compile`] fails.
    pub fn summary(&self, options: &SummaryOptions) -> Result<String> {
        let (compiled, info) = self.compile_with_info()?;
        let infos = &info.permissions;
        let mut out = String::new();
        let from = if self.valid_after == 0 {
            String::new()
        } else {
            format!(" from {}", values::format_human_time(self.valid_after))
        };
        let signer = match &self.signer_key {
            Some(key) => format!(
                "Session signer {} ({})",
                self.signer.to_checksum(None),
                key.description()
            ),
            None => format!("Session key {}", self.signer.to_checksum(None)),
        };
        let _ = writeln!(
            out,
            "{signer} may act for the account{from} until {}.",
            values::format_human_time(self.valid_until)
        );
        let gas = match self.paymaster {
            PaymasterSpec::Any => "Gas: paid by the account or any paymaster.".to_owned(),
            PaymasterSpec::None => "Gas: paid by the account itself (no paymaster).".to_owned(),
            PaymasterSpec::Required => "Gas: must be paid by a paymaster.".to_owned(),
            PaymasterSpec::Exactly(a) => {
                format!("Gas: must be paid by paymaster {}.", a.to_checksum(None))
            }
        };
        let _ = writeln!(out, "{gas}");
        let _ = writeln!(out, "{}", fee_line(&self.fees));
        let _ = writeln!(
            out,
            "It may do only the following ({} permission{}):",
            compiled.permissions.len(),
            if compiled.permissions.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        for (i, ((spec, permission), info)) in self
            .permissions
            .iter()
            .zip(&compiled.permissions)
            .zip(infos)
            .enumerate()
        {
            let line = permission_line(self, i, spec, permission, info, options);
            let _ = writeln!(out, "{}. {line}", i + 1);
        }
        let calls = self.permissions.len();
        for (i, (spec, typed)) in self.typed_data.iter().zip(&info.typed_data).enumerate() {
            let Some(permission) = compiled.permissions.get(calls + i) else {
                continue;
            };
            let line = typed_data_line(self, spec, permission, typed);
            let _ = writeln!(out, "{}. {line}", calls + i + 1);
        }
        if !self.typed_data.is_empty() {
            let _ = writeln!(
                out,
                "Signatures: apps check them through the account's ERC-1271 isValidSignature (ERC-7739 nested \
                 typed data), which accepts them only within the session window (and the permission's) and while \
                 the session is not revoked."
            );
        }
        if !compiled.warnings.is_empty() {
            let _ = writeln!(out, "Warnings:");
            for warning in &compiled.warnings {
                let _ = writeln!(out, "- {warning}");
            }
        }
        Ok(out)
    }
}

/// The fee scope in one line; an unlimited bound is spelt out in capitals (the warnings say why).
fn fee_line(fees: &FeeScopeSpec) -> String {
    let per_operation = match fees.per_operation {
        FeeBound::Wei(_) => format!("at most {} per operation", fees.per_operation),
        FeeBound::Unlimited => "NO LIMIT per operation".to_owned(),
    };
    let budget = match fees.budget {
        FeeBound::Wei(_) => format!("at most {} in all", fees.budget),
        FeeBound::Unlimited => "NO LIMIT in all".to_owned(),
    };
    format!(
        "Fees: {per_operation}, {budget} (each operation counts at its maximum: gas limits x maxFeePerGas, whoever pays)."
    )
}

fn token_amount(options: &SummaryOptions, token: Option<Address>, amount: U256) -> String {
    match token.and_then(|t| options.tokens.get(&t)) {
        Some(info) => format!(
            "{} {}",
            values::format_decimal(amount, info.decimals),
            info.symbol
        ),
        None => format!("{amount} (raw units)"),
    }
}

fn permission_line(
    session: &SessionSpec,
    index: usize,
    spec: &crate::spec::PermissionSpec,
    permission: &Permission,
    info: &PermissionInfo,
    options: &SummaryOptions,
) -> String {
    let token = match spec.target {
        Target::Address(a) => Some(a),
        Target::Any => None,
    };
    let target_text = match spec.target {
        Target::Address(a) => {
            let name = options
                .tokens
                .get(&a)
                .map(|t| format!(" ({})", t.symbol))
                .unwrap_or_default();
            format!("{}{name}", a.to_checksum(None))
        }
        Target::Any => "any contract".to_owned(),
    };
    let mut text = if spec.native_transfer {
        let to = if spec.target == Target::Any {
            "any address".to_owned()
        } else {
            target_text
        };
        format!("may send native value to {to}")
    } else {
        let function = match &info.signature {
            Some(sig) => sig.canonical(),
            None => format!("the function with selector {}", permission.selector),
        };
        format!("may call {function} on {target_text}")
    };
    let mut clauses: Vec<String> = Vec::new();

    // argument rules
    let amount_arg = erc20_amount_arg(permission.selector).filter(|_| !spec.native_transfer);
    let mut conditions = Vec::new();
    for (j, (rule_spec, rule)) in spec.rules.iter().zip(&permission.rules).enumerate() {
        let path = format!("permissions[{index}].rules[{j}]");
        let Ok((_, ty, label)) = resolve_arg(&path, rule_spec, info.signature.as_ref()) else {
            continue;
        };
        let label = label.unwrap_or_else(|| format!("argument {}", rule.argIndex));
        let Some(operator) = RuleOperator::from_u8(rule.operator) else {
            continue;
        };
        let is_amount =
            amount_arg == Some(rule.argIndex) && matches!(ty, ValueType::Typed(ParamType::Uint(_)));
        let show = |word: &B256| -> String {
            if is_amount {
                return token_amount(options, token, U256::from_be_bytes(word.0));
            }
            show_word(&ty, operator, *word)
        };
        let condition = rule_condition(&label, &ty, operator, &rule.operands, show);
        conditions.push(condition);
    }
    if !conditions.is_empty() {
        clauses.push(format!("with {}", conditions.join(" and ")));
    }

    // value
    if spec.native_transfer {
        clauses.push(format!(
            "up to {} per transfer",
            values::format_native(permission.valueLimit)
        ));
    } else if !permission.valueLimit.is_zero() {
        clauses.push(format!(
            "sending up to {} per call",
            values::format_native(permission.valueLimit)
        ));
    }
    // with FLAG_PER_PERIOD the totals are allowances per period of rateLimitInterval from validAfter
    let period = permission
        .has_flag(FLAG_PER_PERIOD)
        .then(|| u48_to_u64(permission.rateLimitInterval));
    if permission.has_flag(FLAG_NATIVE_TOTAL) {
        let amount = values::format_native(permission.nativeTotalLimit);
        clauses.push(match period {
            Some(period) => format!(
                "at most {amount} of native value per {} (shared by every permission with the same period and \
                 start)",
                human_duration(period)
            ),
            None => {
                format!("{amount} of native value in all (shared by every permission with a total)")
            }
        });
    }
    if permission.has_flag(FLAG_ERC20_TOTAL) {
        let what = if spec.target == Target::Any {
            "of each token"
        } else {
            "of the token"
        };
        let amount = token_amount(options, token, permission.erc20TotalLimit);
        let when = match period {
            Some(period) => format!("per {}", human_duration(period)),
            None => "in all".to_owned(),
        };
        clauses.push(format!(
            "moving at most {amount} {what} {when} through transfer, transferFrom, approve and increaseAllowance"
        ));
    }
    if let Some(period) = period {
        // the start of the period the permission's usable window opens in: periods are counted from validAfter
        let start = u48_to_u64(permission.validAfter);
        let open = start.max(session.valid_after);
        let first = match period {
            0 => start,
            _ => start + (open - start) / period * period,
        };
        clauses.push(format!(
            "periods of {} from {} (unused allowance does not carry over)",
            human_duration(period),
            values::format_human_time(first)
        ));
    }
    // counts
    match permission.maxUses {
        0 => {}
        1 => clauses.push("once".into()),
        n => clauses.push(format!("at most {n} times")),
    }
    if permission.rateLimitCount != 0 {
        clauses.push(format!(
            "at most {} per {}",
            permission.rateLimitCount,
            values::format_duration(u48_to_u64(permission.rateLimitInterval))
        ));
    }
    // window
    let after = u48_to_u64(permission.validAfter).max(session.valid_after);
    let until = match u48_to_u64(permission.validUntil) {
        0 => session.valid_until,
        t => t.min(session.valid_until),
    };
    if after > session.valid_after {
        clauses.push(format!("from {}", values::format_human_time(after)));
    }
    clauses.push(format!("until {}", values::format_human_time(until)));
    let mut clauses = clauses.into_iter();
    if let Some(first) = clauses.next() {
        text.push_str(if first.starts_with("with ") {
            " "
        } else {
            ", "
        });
        text.push_str(&first);
    }
    for clause in clauses {
        text.push_str(", ");
        text.push_str(&clause);
    }
    text
}

fn typed_data_line(
    session: &SessionSpec,
    spec: &crate::spec::TypedDataSpec,
    permission: &Permission,
    info: &TypedDataInfo,
) -> String {
    let what = match &info.type_name {
        Some(name) => format!("{name} typed data"),
        None => match permission.rules.first().and_then(|r| r.operands.first()) {
            Some(hash) => format!("typed data of type hash {hash}"),
            None => "typed data".to_owned(),
        },
    };
    let mut text = format!(
        "may sign {what} for {}",
        spec.verifying_contract.to_checksum(None)
    );
    // rule 0 pins the type; the others are the entry's rules, in order
    let conditions: Vec<String> = permission
        .rules
        .iter()
        .skip(1)
        .zip(&info.rules)
        .filter_map(|(rule, (label, ty))| {
            let operator = RuleOperator::from_u8(rule.operator)?;
            Some(rule_condition(label, ty, operator, &rule.operands, |w| {
                show_word(ty, operator, *w)
            }))
        })
        .collect();
    if !conditions.is_empty() {
        text.push_str(" with ");
        text.push_str(&conditions.join(" and "));
    }
    let after = u48_to_u64(permission.validAfter).max(session.valid_after);
    let until = match u48_to_u64(permission.validUntil) {
        0 => session.valid_until,
        t => t.min(session.valid_until),
    };
    if after > session.valid_after {
        let _ = write!(text, ", from {}", values::format_human_time(after));
    }
    let _ = write!(text, ", until {}", values::format_human_time(until));
    text
}

/// A rule in words: `amount ≤ 100`, `to one of 0x…, 0x…`, `flags & 0x… = 0x…`.
fn rule_condition(
    label: &str,
    ty: &ValueType,
    operator: RuleOperator,
    ops: &[B256],
    show: impl Fn(&B256) -> String,
) -> String {
    let unsigned_note =
        if ty.is_signed() && !operator.is_signed() && operator.to_signed() != operator {
            " (unsigned)"
        } else {
            ""
        };
    let first = || ops.first().map(&show).unwrap_or_default();
    match operator {
        RuleOperator::Eq => format!("{label} = {}", first()),
        RuleOperator::Ne => format!("{label} ≠ {}", first()),
        RuleOperator::Lt | RuleOperator::SignedLt => {
            format!("{label} < {}{unsigned_note}", first())
        }
        RuleOperator::Lte | RuleOperator::SignedLte => {
            format!("{label} ≤ {}{unsigned_note}", first())
        }
        RuleOperator::Gt | RuleOperator::SignedGt => {
            format!("{label} > {}{unsigned_note}", first())
        }
        RuleOperator::Gte | RuleOperator::SignedGte => {
            format!("{label} ≥ {}{unsigned_note}", first())
        }
        RuleOperator::OneOf => {
            let list: Vec<String> = ops.iter().map(&show).collect();
            if list.len() == 1 {
                format!("{label} = {}", list[0])
            } else {
                format!("{label} one of {}", list.join(", "))
            }
        }
        RuleOperator::InRange | RuleOperator::SignedInRange => format!(
            "{label} between {} and {}{unsigned_note}",
            first(),
            ops.get(1).map(&show).unwrap_or_default()
        ),
        RuleOperator::Bitmask => format!(
            "{label} & {} = {}",
            ops.first()
                .map(|w| show_word(&ValueType::Word, operator, *w))
                .unwrap_or_default(),
            ops.get(1)
                .map(|w| show_word(&ValueType::Word, operator, *w))
                .unwrap_or_default()
        ),
    }
}

/// A duration in words: `1 day`, `2 weeks`, `1 hour 30 minutes`, `45 seconds`.
fn human_duration(seconds: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("week", 604_800),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
        ("second", 1),
    ];
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (name, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            rest %= size;
        }
    }
    if parts.is_empty() {
        "0 seconds".to_owned()
    } else {
        parts.join(" ")
    }
}

fn show_word(ty: &ValueType, operator: RuleOperator, word: B256) -> String {
    match ty {
        ValueType::Typed(t) => match values::format_word(t, word) {
            Some(scalar) => scalar.to_string(),
            None => word.to_string(),
        },
        ValueType::Word => {
            let value = U256::from_be_bytes(word.0);
            if operator.is_signed() {
                I256::from_raw(value).to_string()
            } else if value.bit_len() <= 128 {
                value.to_string()
            } else {
                word.to_string()
            }
        }
    }
}

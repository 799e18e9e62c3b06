//! Decompilation: from contract structs back to the JSON format.

use std::collections::HashMap;

use alloy_primitives::FixedBytes;

use super::compile::ValueType;
use super::{
    ArgRef, FeeScopeSpec, PaymasterSpec, PermissionSpec, RateLimitSpec, RuleSpec, RuleValue,
    Scalar, SessionSpec, Target, TypedDataRuleSpec, TypedDataSpec,
};
use crate::abi::{
    self, u48_to_u64, ArgRule, Permission, RuleOperator, Session, ALL_FLAGS, FLAG_ANY_TARGET,
    FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD, FLAG_TYPED_DATA,
    U48_MAX,
};
use crate::error::{Error, Result};
use crate::function::{FunctionSignature, ParamType};
use crate::merkle::PermissionTree;
use crate::typed_data::TypedDataType;
use crate::values;

/// Function signatures the decompiler knows by default (the four ERC-20 movements).
pub const KNOWN_FUNCTIONS: [&str; 4] = [
    "transfer(address to,uint256 amount)",
    "transferFrom(address from,address to,uint256 amount)",
    "approve(address spender,uint256 amount)",
    "increaseAllowance(address spender,uint256 addedValue)",
];

impl PermissionSpec {
    /// The JSON form of a contract permission. With `function` (whose selector must match), rules are written by
    /// argument name with typed values; otherwise by index with raw words. With `FLAG_PER_PERIOD` the totals are
    /// written as `native_period_limit` / `erc20_period_limit` with `period` = `rateLimitInterval`. Fails on
    /// permissions the format cannot express (unknown flags, limits without their flag, `FLAG_PER_PERIOD` without a
    /// total or an interval, …); the result compiles back to the same permission.
    pub fn from_permission(permission: &Permission, function: Option<&str>) -> Result<Self> {
        Self::from_permission_at("permission", permission, function)
    }

    fn from_permission_at(path: &str, p: &Permission, function: Option<&str>) -> Result<Self> {
        let non_canonical = |field: &str, reason: &str| Error::NonCanonical {
            path: format!("{path}{field}"),
            reason: reason.to_owned(),
        };
        if p.has_flag(FLAG_TYPED_DATA) {
            return Err(non_canonical(
                ".flags",
                "FLAG_TYPED_DATA: a typed-data permission, see TypedDataSpec::from_permission",
            ));
        }
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
        let per_period = p.has_flag(FLAG_PER_PERIOD);
        let interval = u48_to_u64(p.rateLimitInterval);
        if per_period {
            if !p.has_flag(FLAG_NATIVE_TOTAL) && !p.has_flag(FLAG_ERC20_TOTAL) {
                return Err(non_canonical(
                    ".flags",
                    "FLAG_PER_PERIOD without FLAG_NATIVE_TOTAL or FLAG_ERC20_TOTAL",
                ));
            }
            if interval == 0 {
                return Err(non_canonical(
                    ".period",
                    "FLAG_PER_PERIOD without an interval (rateLimitInterval 0)",
                ));
            }
        }
        let rate_limit = match (p.rateLimitCount, interval) {
            (0, 0) => None,
            // the interval is the period of the period limits
            (0, _) if per_period => None,
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
            native_total_limit: (p.has_flag(FLAG_NATIVE_TOTAL) && !per_period)
                .then_some(p.nativeTotalLimit),
            erc20_total_limit: (p.has_flag(FLAG_ERC20_TOTAL) && !per_period)
                .then_some(p.erc20TotalLimit),
            period: per_period.then_some(interval),
            native_period_limit: (p.has_flag(FLAG_NATIVE_TOTAL) && per_period)
                .then_some(p.nativeTotalLimit),
            erc20_period_limit: (p.has_flag(FLAG_ERC20_TOTAL) && per_period)
                .then_some(p.erc20TotalLimit),
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
    let (op, value, mask, ty) = rule_parts(operator, rule, elementary);
    Ok(RuleSpec {
        arg,
        op,
        value,
        mask,
        ty,
    })
}

/// A rule's operator name, value, mask and explicit value type (if any), its values read as `elementary` (raw words
/// when `None`), such that they compile back to the same rule.
fn rule_parts(
    operator: RuleOperator,
    rule: &ArgRule,
    elementary: Option<ParamType>,
) -> (String, Option<RuleValue>, Option<Scalar>, Option<String>) {
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
    (op, value, mask, ty)
}

impl TypedDataSpec {
    /// The JSON form of a typed-data permission (`flags == FLAG_TYPED_DATA`). With `type_string` (whose keccak256
    /// must be the leaf's type hash) the entry has `type` and rules by member name with typed values; otherwise
    /// `type_hash` and rules by `word` with raw words. Fails on permissions the contract would refuse (other flags,
    /// call fields, no type rule); the result compiles back to the same permission.
    pub fn from_permission(permission: &Permission, type_string: Option<&str>) -> Result<Self> {
        Self::from_permission_at("permission", permission, type_string)
    }

    fn from_permission_at(path: &str, p: &Permission, type_string: Option<&str>) -> Result<Self> {
        let non_canonical = |field: &str, reason: &str| Error::NonCanonical {
            path: format!("{path}{field}"),
            reason: reason.to_owned(),
        };
        if p.flags != FLAG_TYPED_DATA {
            return Err(non_canonical(
                ".flags",
                "a typed-data permission carries FLAG_TYPED_DATA alone",
            ));
        }
        if p.target.is_zero() {
            return Err(non_canonical(
                ".target",
                "a typed-data permission needs its verifying contract",
            ));
        }
        if p.selector != FixedBytes::ZERO
            || !p.valueLimit.is_zero()
            || !p.nativeTotalLimit.is_zero()
            || !p.erc20TotalLimit.is_zero()
            || p.maxUses != 0
            || p.rateLimitCount != 0
            || u48_to_u64(p.rateLimitInterval) != 0
        {
            return Err(non_canonical(
                "",
                "a typed-data permission has no selector, value, totals, uses or rate limit",
            ));
        }
        let type_hash = match p.rules.first() {
            Some(rule)
                if rule.operator == RuleOperator::Eq as u8
                    && rule.argIndex == 0
                    && rule.operands.len() == 1 =>
            {
                rule.operands[0]
            }
            _ => {
                return Err(non_canonical(
                    ".rules[0]",
                    "rule 0 of a typed-data permission must be eq on word 0 (the type hash)",
                ))
            }
        };
        let ty = match type_string {
            Some(text) => {
                let ty = TypedDataType::parse(text).map_err(|reason| Error::BadTypeString {
                    path: format!("{path}.type"),
                    type_string: text.to_owned(),
                    reason,
                })?;
                if ty.type_hash() != type_hash {
                    return Err(Error::Conflict {
                        path: format!("{path}.type"),
                        reason: format!(
                            "its type hash is {}, not the permission's {type_hash}",
                            ty.type_hash()
                        ),
                    });
                }
                Some(ty)
            }
            None => None,
        };
        let mut rules = Vec::with_capacity(p.rules.len().saturating_sub(1));
        for (j, rule) in p.rules.iter().enumerate().skip(1) {
            let rule_path = format!("{path}.rules[{j}]");
            let Some(operator) = RuleOperator::from_u8(rule.operator) else {
                return Err(Error::NonCanonical {
                    path: format!("{rule_path}.op"),
                    reason: format!("unknown operator {}", rule.operator),
                });
            };
            if !operator.accepts_operand_count(rule.operands.len()) {
                return Err(Error::NonCanonical {
                    path: format!("{rule_path}.value"),
                    reason: format!("{} operands for {operator}", rule.operands.len()),
                });
            }
            if rule.argIndex == 0 {
                return Err(Error::NonCanonical {
                    path: format!("{rule_path}.word"),
                    reason: "a second rule on the type hash".into(),
                });
            }
            let (field, elementary) = match &ty {
                Some(ty) => {
                    let Some(member) = ty.member_at(rule.argIndex) else {
                        return Err(Error::UnknownMember {
                            path: format!("{rule_path}.word"),
                            member: format!("word {}", rule.argIndex),
                            type_name: ty.name.clone(),
                        });
                    };
                    let Some(static_type) = member.static_type() else {
                        return Err(Error::UnsupportedMember {
                            path: format!("{rule_path}.field"),
                            member: member.name.clone(),
                            ty: member.ty.clone(),
                        });
                    };
                    (Some(member.name.clone()), Some(static_type.clone()))
                }
                None => (None, None),
            };
            let (op, value, mask, value_type) = rule_parts(operator, rule, elementary);
            rules.push(TypedDataRuleSpec {
                word: field.is_none().then_some(rule.argIndex),
                field,
                op,
                value,
                mask,
                ty: value_type,
            });
        }
        let nonzero = |v: u64| (v != 0).then_some(v);
        Ok(Self {
            verifying_contract: p.target,
            type_hash: ty.is_none().then_some(type_hash),
            type_string: type_string.map(str::to_owned),
            rules,
            valid_after: nonzero(u48_to_u64(p.validAfter)),
            valid_until: nonzero(u48_to_u64(p.validUntil)),
        })
    }
}

impl SessionSpec {
    /// The JSON form of a session and its permissions. `functions` are signatures to name rules' arguments by
    /// (matched by selector; [`KNOWN_FUNCTIONS`] are always known). The session's root must be the permissions'.
    /// Typed-data permissions (`FLAG_TYPED_DATA`) become `typed_data` entries by type hash and word (see
    /// [`TypedDataSpec::from_permission`]); the tree's root does not depend on the order of its leaves.
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
        let typed_data = permissions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.has_flag(FLAG_TYPED_DATA))
            .map(|(i, p)| TypedDataSpec::from_permission_at(&format!("permissions[{i}]"), p, None))
            .collect::<Result<Vec<_>>>()?;
        let permissions = permissions
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.has_flag(FLAG_TYPED_DATA))
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
            signer_key: None,
            valid_after: u48_to_u64(session.validAfter),
            valid_until: u48_to_u64(session.validUntil),
            paymaster,
            fees: FeeScopeSpec::from_contract(session.maxOperationFee, session.feeBudget),
            salt: session.salt,
            permissions,
            typed_data,
        })
    }
}

/// `U48_MAX` re-exported for callers building windows.
pub const MAX_TIME: u64 = U48_MAX;

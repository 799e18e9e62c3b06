//! Compilation: from the JSON format to the contract structs and the tree, with every check and warning.

use std::collections::HashMap;

use alloy_primitives::{aliases::U48, Address, FixedBytes, B256, U256};

use super::{
    ArgRef, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionSpec, RuleSpec, RuleValue, Scalar,
    SessionSpec, Target, TypedDataRuleSpec, TypedDataSpec,
};
use crate::abi::{
    self, encoded_permission_len, erc20_amount_arg, u48, ArgRule, Permission, RuleOperator,
    Session, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER,
    FLAG_PER_PERIOD, FLAG_TYPED_DATA, MAX_ONE_OF, MAX_RULES,
};
use crate::error::{Error, Result};
use crate::function::{FunctionSignature, ParamType};
use crate::merkle::PermissionTree;
use crate::typed_data::{TypeMember, TypedDataType};
use crate::values::{self, ValueError};

/// Most permissions in one session: 2^20.
pub const MAX_PERMISSIONS: usize = 1 << 20;

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

    /// The index in [`Self::permissions`] (and the tree) of the spec's `typed_data[entry]`: the typed-data leaves
    /// follow the call permissions, in order.
    pub fn typed_data_index(&self, entry: usize) -> Option<usize> {
        self.permissions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.flags == FLAG_TYPED_DATA)
            .nth(entry)
            .map(|(i, _)| i)
    }

    /// The proof of permission `index`.
    pub fn proof(&self, index: usize) -> Result<Vec<B256>> {
        self.tree.proof(index)
    }
}

/// What compiling a permission learnt, for the session-wide checks and the summary.
#[derive(Debug, Clone)]
pub(crate) struct PermissionInfo {
    pub(crate) signature: Option<FunctionSignature>,
}

/// What compiling a typed-data entry learnt, for the summary.
#[derive(Debug, Clone)]
pub(crate) struct TypedDataInfo {
    /// The primary type's name, when the type string is given.
    pub(crate) type_name: Option<String>,
    /// Each rule's (after the type rule) label (the member's name, or `word k`) and value type.
    pub(crate) rules: Vec<(String, ValueType)>,
}

/// What [`SessionSpec::compile_with_info`] learnt about each entry.
#[derive(Debug, Clone)]
pub(crate) struct CompileInfo {
    pub(crate) permissions: Vec<PermissionInfo>,
    pub(crate) typed_data: Vec<TypedDataInfo>,
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

    pub(crate) fn compile_with_info(&self) -> Result<(CompiledSession, CompileInfo)> {
        let mut warnings = Vec::new();
        if self.signer.is_zero() {
            return Err(Error::Missing {
                path: "signer".into(),
                reason: "the session signer must not be zero".into(),
            });
        }
        if let Some(key) = &self.signer_key {
            let committed = key.address().map_err(|error| Error::InvalidValue {
                path: "signer_key".into(),
                value: key.kind().to_string(),
                reason: error.to_string(),
            })?;
            if committed != self.signer {
                return Err(Error::Conflict {
                    path: "signer_key".into(),
                    reason: format!(
                        "the key commits to {}, not to the signer {}",
                        committed.to_checksum(None),
                        self.signer.to_checksum(None)
                    ),
                });
            }
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
        if self.permissions.is_empty() && self.typed_data.is_empty() {
            return Err(Error::Missing {
                path: "permissions".into(),
                reason: "a session needs at least one permission (or typed_data entry)".into(),
            });
        }
        let total = self.permissions.len().saturating_add(self.typed_data.len());
        if total > MAX_PERMISSIONS {
            let (path, what) = if self.typed_data.is_empty() {
                ("permissions", "permissions")
            } else {
                ("typed_data", "permissions and typed_data entries")
            };
            return Err(Error::TooMany {
                path: path.into(),
                what,
                count: total,
                max: MAX_PERMISSIONS,
            });
        }

        let mut permissions = Vec::with_capacity(total);
        let mut infos = Vec::with_capacity(self.permissions.len());
        for (i, spec) in self.permissions.iter().enumerate() {
            let (permission, info) =
                compile_permission(&format!("permissions[{i}]"), spec, self, &mut warnings)?;
            permissions.push(permission);
            infos.push(info);
        }
        check_erc20_bypass(&permissions)?;
        check_limits_consistent(&permissions, &mut warnings);
        let mut typed_infos = Vec::with_capacity(self.typed_data.len());
        for (i, spec) in self.typed_data.iter().enumerate() {
            let (permission, info) =
                compile_typed_data(&format!("typed_data[{i}]"), spec, self, &mut warnings)?;
            permissions.push(permission);
            typed_infos.push(info);
        }

        // duplicates (a call leaf never equals a typed-data leaf: their flags differ)
        let mut buffer = Vec::with_capacity(1024);
        let leaves: Vec<B256> = permissions
            .iter()
            .map(|p| abi::leaf_hash_with(p, &mut buffer))
            .collect();
        let calls = self.permissions.len();
        let mut seen: HashMap<B256, usize> = HashMap::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            if let Some(first) = seen.insert(*leaf, i) {
                return Err(if i < calls {
                    Error::DuplicatePermission {
                        path: format!("permissions[{i}]"),
                        first,
                    }
                } else {
                    Error::DuplicateTypedData {
                        path: format!("typed_data[{}]", i - calls),
                        first: first.saturating_sub(calls),
                    }
                });
            }
        }

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
            CompileInfo {
                permissions: infos,
                typed_data: typed_infos,
            },
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
        for (field, limit) in [
            ("erc20_total_limit", spec.erc20_total_limit),
            ("erc20_period_limit", spec.erc20_period_limit),
        ] {
            if limit.is_some() {
                return Err(Error::Conflict {
                    path: format!("{path}.{field}"),
                    reason: "a native transfer moves no ERC-20 token".into(),
                });
            }
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

    let period = compile_period(path, spec)?;
    if period.is_some() {
        flags |= FLAG_PER_PERIOD;
    }
    let (native_field, native_limit, erc20_field, erc20_limit) = if period.is_some() {
        (
            "native_period_limit",
            spec.native_period_limit,
            "erc20_period_limit",
            spec.erc20_period_limit,
        )
    } else {
        (
            "native_total_limit",
            spec.native_total_limit,
            "erc20_total_limit",
            spec.erc20_total_limit,
        )
    };
    if let Some(limit) = native_limit {
        flags |= FLAG_NATIVE_TOTAL;
        if limit < spec.value_limit.unwrap_or_default() {
            warnings.push(Warning {
                path: format!("{path}.{native_field}"),
                message: if period.is_some() {
                    "below value_limit: the period limit binds first".into()
                } else {
                    "below value_limit: the total limit binds first".into()
                },
            });
        }
    }
    if erc20_limit.is_some() {
        if erc20_amount_arg(selector).is_none() {
            return Err(Error::Erc20LimitSelector {
                path: format!("{path}.{erc20_field}"),
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
                    path: format!("{path}.{erc20_field}"),
                    selector: selector.to_string(),
                });
            }
        }
        if spec.target == Target::Any {
            warnings.push(Warning {
                path: format!("{path}.{erc20_field}"),
                message: "with target \"*\" the limit applies to every token separately".into(),
            });
        }
        flags |= FLAG_ERC20_TOTAL;
    }

    let (after48, until48) = compile_window(path, spec.valid_after, spec.valid_until, session)?;

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
            let interval = to_u48(&format!("{path}.rate_limit.interval"), rate.interval)?;
            match spec.period {
                Some(period) if period != rate.interval => {
                    return Err(Error::Conflict {
                        path: format!("{path}.rate_limit.interval"),
                        reason: format!(
                            "{} is not the period {}: a permission has one interval, for its rate limit and its \
                             spending periods alike",
                            values::format_duration(rate.interval),
                            values::format_duration(period)
                        ),
                    });
                }
                _ => {}
            }
            (rate.count, interval)
        }
        // with period limits and no rate limit, the leaf's interval is the period
        None => (0, period.unwrap_or(U48::ZERO)),
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
        nativeTotalLimit: native_limit.unwrap_or_default(),
        erc20TotalLimit: erc20_limit.unwrap_or_default(),
        validAfter: after48,
        validUntil: until48,
        maxUses: spec.max_uses.unwrap_or(0),
        rateLimitCount: rate_count,
        rateLimitInterval: rate_interval,
        rules,
    };
    check_encoded_len(path, &permission)?;
    Ok((permission, PermissionInfo { signature }))
}

/// A typed-data entry's leaf: `FLAG_TYPED_DATA` alone, `target` = the verifying contract, rule 0 `Eq` on word 0
/// with the type hash, then the entry's rules; every call field zero.
fn compile_typed_data(
    path: &str,
    spec: &TypedDataSpec,
    session: &SessionSpec,
    warnings: &mut Vec<Warning>,
) -> Result<(Permission, TypedDataInfo)> {
    if spec.verifying_contract.is_zero() {
        return Err(Error::ForbiddenTarget {
            path: format!("{path}.verifying_contract"),
            target: spec.verifying_contract,
        });
    }
    let ty = match &spec.type_string {
        Some(text) => Some(
            TypedDataType::parse(text).map_err(|reason| Error::BadTypeString {
                path: format!("{path}.type"),
                type_string: text.clone(),
                reason,
            })?,
        ),
        None => None,
    };
    let type_hash = match (&ty, spec.type_hash) {
        (Some(ty), Some(given)) if given != ty.type_hash() => {
            return Err(Error::Conflict {
                path: format!("{path}.type_hash"),
                reason: format!("{given} is not {}, the keccak256 of `type`", ty.type_hash()),
            });
        }
        (Some(ty), _) => ty.type_hash(),
        (None, Some(given)) if given.is_zero() => {
            return Err(Error::Missing {
                path: format!("{path}.type_hash"),
                reason: "the type hash must not be zero".into(),
            });
        }
        (None, Some(given)) => given,
        (None, None) => {
            return Err(Error::Missing {
                path: format!("{path}.type"),
                reason: "give `type`, the full EIP-712 type string (e.g. \"Offer(address buyer,uint256 price)\"), \
                         or `type_hash`"
                    .into(),
            });
        }
    };
    let count = spec.rules.len().saturating_add(1);
    if count > MAX_RULES {
        return Err(Error::TooMany {
            path: format!("{path}.rules"),
            what: "rules (the type rule included)",
            count,
            max: MAX_RULES,
        });
    }
    let (after48, until48) = compile_window(path, spec.valid_after, spec.valid_until, session)?;

    let mut rules = Vec::with_capacity(count);
    rules.push(ArgRule {
        operator: RuleOperator::Eq as u8,
        argIndex: 0,
        operands: vec![type_hash],
    });
    let mut labels = Vec::with_capacity(spec.rules.len());
    for (j, rule) in spec.rules.iter().enumerate() {
        let rule_path = format!("{path}.rules[{j}]");
        let (word, value_type, label) = resolve_member(&rule_path, rule, ty.as_ref())?;
        rules.push(build_rule(
            &rule_path,
            RuleParts {
                op: &rule.op,
                value: rule.value.as_ref(),
                mask: rule.mask.as_ref(),
            },
            word,
            &value_type,
            warnings,
        )?);
        labels.push((label, value_type));
    }
    let permission = Permission {
        target: spec.verifying_contract,
        flags: FLAG_TYPED_DATA,
        validAfter: after48,
        validUntil: until48,
        rules,
        ..Permission::default()
    };
    check_encoded_len(path, &permission)?;
    Ok((
        permission,
        TypedDataInfo {
            type_name: ty.map(|ty| ty.name),
            rules: labels,
        },
    ))
}

/// The word a typed-data rule checks, the type its values are read as, and a label for it.
fn resolve_member(
    path: &str,
    rule: &TypedDataRuleSpec,
    ty: Option<&TypedDataType>,
) -> Result<(u16, ValueType, String)> {
    let static_type = |member: &TypeMember, field: &str| -> Result<ParamType> {
        member
            .static_type()
            .cloned()
            .ok_or_else(|| Error::UnsupportedMember {
                path: format!("{path}.{field}"),
                member: member.name.clone(),
                ty: member.ty.clone(),
            })
    };
    let (word, own, label) = match (&rule.field, rule.word, ty) {
        (Some(_), Some(_), _) => {
            return Err(Error::Conflict {
                path: format!("{path}.word"),
                reason: "name the member by `field` or by `word`, not both".into(),
            });
        }
        (None, None, _) => {
            return Err(Error::Missing {
                path: format!("{path}.field"),
                reason: "a rule needs `field` (a member of the type) or `word` (its index, from 1)"
                    .into(),
            });
        }
        (Some(name), None, Some(ty)) => match ty.member(name) {
            Some((word, member)) => (word, Some(static_type(member, "field")?), name.clone()),
            None => {
                return Err(Error::UnknownMember {
                    path: format!("{path}.field"),
                    member: format!("{name:?}"),
                    type_name: ty.name.clone(),
                });
            }
        },
        (Some(name), None, None) => {
            return Err(Error::Conflict {
                path: format!("{path}.field"),
                reason: format!(
                    "{name:?}: members can be named only with `type` (the full EIP-712 type string); with \
                     `type_hash` alone give their `word` (1 = the first member)"
                ),
            });
        }
        (None, Some(0), _) => {
            return Err(Error::Conflict {
                path: format!("{path}.word"),
                reason:
                    "word 0 is the type hash, which the type rule pins already; members start at 1"
                        .into(),
            });
        }
        (None, Some(word), Some(ty)) => match ty.member_at(word) {
            Some(member) => (
                word,
                Some(static_type(member, "word")?),
                member.name.clone(),
            ),
            None => {
                return Err(Error::UnknownMember {
                    path: format!("{path}.word"),
                    member: format!(
                        "word {word} (its {} members are words 1 to {})",
                        ty.members.len(),
                        ty.members.len()
                    ),
                    type_name: ty.name.clone(),
                });
            }
        },
        (None, Some(word), None) => (word, None, format!("word {word}")),
    };
    let value_type = value_type(path, rule.ty.as_deref(), own, || label.clone())?;
    Ok((word, value_type, label))
}

/// A permission's own window (0: none), checked for order and overlap with the session's.
fn compile_window(
    path: &str,
    valid_after: Option<u64>,
    valid_until: Option<u64>,
    session: &SessionSpec,
) -> Result<(U48, U48)> {
    let valid_after = valid_after.unwrap_or(0);
    let valid_until = valid_until.unwrap_or(0);
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
    Ok((after48, until48))
}

/// Refuses a permission whose encoding does not fit the signature's `uint16` length field.
fn check_encoded_len(path: &str, permission: &Permission) -> Result<()> {
    let length = encoded_permission_len(permission);
    if length > usize::from(u16::MAX) {
        return Err(Error::TooMany {
            path: format!("{path}.rules"),
            what: "bytes of encoded permission (the signature's length field is a uint16)",
            count: length,
            max: usize::from(u16::MAX),
        });
    }
    Ok(())
}

/// Checks `period` and the period limits; the period as `uint48` when the permission has period limits
/// (`FLAG_PER_PERIOD`), `None` otherwise (no period, or a period that only restates `rate_limit.interval`).
fn compile_period(path: &str, spec: &PermissionSpec) -> Result<Option<U48>> {
    let period_limit = if spec.native_period_limit.is_some() {
        Some("native_period_limit")
    } else if spec.erc20_period_limit.is_some() {
        Some("erc20_period_limit")
    } else {
        None
    };
    if let Some(field) = period_limit {
        let total = if spec.native_total_limit.is_some() {
            Some("native_total_limit")
        } else if spec.erc20_total_limit.is_some() {
            Some("erc20_total_limit")
        } else {
            None
        };
        if let Some(total) = total {
            return Err(Error::Conflict {
                path: format!("{path}.{field}"),
                reason: format!(
                    "a permission has either lifetime totals or period limits, not both: remove `{total}` or \
                     `{field}` (or split them into two permissions)"
                ),
            });
        }
    }
    let Some(period) = spec.period else {
        return match period_limit {
            Some(field) => Err(Error::Missing {
                path: format!("{path}.{field}"),
                reason: "a period limit needs `period`, the length of a period (e.g. \"1d\")"
                    .into(),
            }),
            None => Ok(None),
        };
    };
    if period == 0 {
        return Err(Error::Missing {
            path: format!("{path}.period"),
            reason: "period must be at least 1 second".into(),
        });
    }
    let period48 = to_u48(&format!("{path}.period"), period)?;
    if period_limit.is_none() {
        if spec.rate_limit.is_none() {
            return Err(Error::Missing {
                path: format!("{path}.period"),
                reason: "a period alone does nothing: add native_period_limit, erc20_period_limit or rate_limit \
                         (or remove period)"
                    .into(),
            });
        }
        return Ok(None);
    }
    Ok(Some(period48))
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
    let value_type = value_type(path, rule.ty.as_deref(), from_signature, || {
        label.clone().unwrap_or_else(|| index.to_string())
    })?;
    Ok((index, value_type, label))
}

/// The type a rule's values are read as: its `type` (`word`, or a static one-word type) if given, else the
/// argument's own type, else raw words.
fn value_type(
    path: &str,
    given: Option<&str>,
    own: Option<ParamType>,
    label: impl FnOnce() -> String,
) -> Result<ValueType> {
    Ok(match given {
        Some("word") => ValueType::Word,
        Some(text) => {
            let ty = crate::function::parse_type(text)
                .map_err(|reason| Error::invalid(format!("{path}.type"), text, reason))?;
            if !ty.is_elementary() {
                return Err(Error::UnsupportedArgument {
                    path: format!("{path}.type"),
                    arg: label(),
                    ty: ty.canonical(),
                });
            }
            ValueType::Typed(ty)
        }
        None => own.map_or(ValueType::Word, ValueType::Typed),
    })
}

/// The operator a rule's `op` names for an argument of type `ty`.
fn resolve_operator(path: &str, name: &str, ty: &ValueType) -> Result<RuleOperator> {
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
    build_rule(
        path,
        RuleParts {
            op: &rule.op,
            value: rule.value.as_ref(),
            mask: rule.mask.as_ref(),
        },
        arg_index,
        &ty,
        warnings,
    )
}

/// What a rule says about its operands, whatever names its argument.
#[derive(Clone, Copy)]
struct RuleParts<'a> {
    op: &'a str,
    value: Option<&'a RuleValue>,
    mask: Option<&'a Scalar>,
}

/// The contract rule on head word `arg_index`, its values read as `ty`.
fn build_rule(
    path: &str,
    rule: RuleParts<'_>,
    arg_index: u16,
    ty: &ValueType,
    warnings: &mut Vec<Warning>,
) -> Result<ArgRule> {
    let operator = resolve_operator(path, rule.op, ty)?;
    let word = |field: &str, value: &Scalar| -> Result<B256> {
        let field_path = format!("{path}.{field}");
        let result = match ty {
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
            let list: Vec<&Scalar> = match rule.value {
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
        RuleOperator::InRange | RuleOperator::SignedInRange => match rule.value {
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
            let Some(mask) = rule.mask else {
                return Err(Error::Missing {
                    path: format!("{path}.mask"),
                    reason: "a bitmask rule needs a mask".into(),
                });
            };
            let value = match rule.value {
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
        _ => match rule.value {
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

/// Which counter a permission's totals count against: the lifetime one (`None`), or the periodic one of its
/// `(interval, validAfter)`.
type Counter = Option<(U48, U48)>;

fn counter(p: &Permission) -> Counter {
    p.has_flag(FLAG_PER_PERIOD)
        .then_some((p.rateLimitInterval, p.validAfter))
}

fn check_limits_consistent(permissions: &[Permission], warnings: &mut Vec<Warning>) {
    let mut native: HashMap<Counter, (usize, U256)> = HashMap::new();
    let mut tokens: HashMap<(Address, Counter), (usize, U256)> = HashMap::new();
    for (i, p) in permissions.iter().enumerate() {
        let counter = counter(p);
        let (native_field, native_shared, erc20_field, erc20_shared) = match counter {
            None => (
                "native_total_limit",
                ": the spending is shared, each permission checks the total against its own limit",
                "erc20_total_limit",
                "on the same token: the total is shared, each permission checks it against its own limit",
            ),
            Some(_) => (
                "native_period_limit",
                " with the same period and start: the period's spending is shared, each permission checks it \
                 against its own limit",
                "erc20_period_limit",
                "on the same token with the same period and start: the period's spending is shared, each \
                 permission checks it against its own limit",
            ),
        };
        if p.has_flag(FLAG_NATIVE_TOTAL) {
            match native.get(&counter) {
                Some((first, limit)) if *limit != p.nativeTotalLimit => warnings.push(Warning {
                    path: format!("permissions[{i}].{native_field}"),
                    message: format!("differs from permissions[{first}]{native_shared}"),
                }),
                Some(_) => {}
                None => {
                    native.insert(counter, (i, p.nativeTotalLimit));
                }
            }
        }
        if p.has_flag(FLAG_ERC20_TOTAL) && !p.has_flag(FLAG_ANY_TARGET) {
            match tokens.get(&(p.target, counter)) {
                Some((first, limit)) if *limit != p.erc20TotalLimit => warnings.push(Warning {
                    path: format!("permissions[{i}].{erc20_field}"),
                    message: format!("differs from permissions[{first}] {erc20_shared}"),
                }),
                Some(_) => {}
                None => {
                    tokens.insert((p.target, counter), (i, p.erc20TotalLimit));
                }
            }
        }
    }
}

//! One call of the operation: `_checkNthCall` after decoding: an empty permission is the session's own
//! revocation (`_selfRevoke`); else `_provenPermission` (with `_permissionView`), `_checkNotRevoked`
//! when the session has revoked permissions, then `_checkScope` (with `_checkRule`), `_narrowWindow`, `_count` and
//! `_spend`, in the contract's order.

use alloy::primitives::{keccak256, Address, FixedBytes, B256, U256};
use alloy::sol_types::SolCall;
use keyscope_bindings::session_key_validator::SessionKeyValidator::revokeSessionCall;
use keyscope_permissions::abi::{decode_permission, erc20_amount_arg};
use keyscope_permissions::{
    verify, RuleOperator, ALL_FLAGS, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL,
    FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD, MAX_ONE_OF, MAX_RULES,
};
use keyscope_signer::PackedUserOperation;

use super::super::decode::{
    empty_revert, take, take_prefixed, take_uint, to_u64, to_usize, u, word_at, Calldata,
    PermissionView, MAX_U48, P_ERC20_TOTAL_LIMIT, P_MAX_USES, P_NATIVE_TOTAL_LIMIT,
    P_RATE_LIMIT_COUNT, P_RATE_LIMIT_INTERVAL, P_RULES, P_VALID_AFTER, P_VALID_UNTIL,
    P_VALUE_LIMIT,
};
use super::super::{PeriodKey, PeriodSpending, RuleDetail, Step, WindowSource};
use super::{Machine, PeriodSpent, Window, PERMISSION_HEAD_LENGTH};

/// The most a period's spending may reach (`type(uint224).max`): it is stored above the period's 32 bits.
const MAX_PERIOD_SPENT: U256 = U256::from_limbs([u64::MAX, u64::MAX, u64::MAX, u32::MAX as u64]);

impl<'a> Machine<'a> {
    /// `_checkNthCall` after decoding: the permission entry; if empty, `_selfRevoke` and nothing more;
    /// else `_provenPermission`, `_checkNotRevoked` (if the session has revoked permissions), `_checkScope`,
    /// `_narrowWindow`, `_count`, `_spend`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_call(
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
        if permission_range.is_empty() {
            if let Some(call) = self.current.as_mut() {
                call.self_revocation = true;
            }
            self.check_self_revocation(index, target, value, data)?;
            return Ok(cursor);
        }
        // _provenPermission
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
        // the slot `_checkNotRevoked` reads, when the session has revoked permissions
        if !self.keys.revocation_leaves.contains(&leaf) {
            self.keys.revocation_leaves.push(leaf);
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

        if self.input.state.permissions_revoked {
            self.check_not_revoked(index, leaf)?;
        }
        let flags = check_scope(
            &view,
            index,
            self.caller,
            self.input.validator,
            target,
            value,
            data,
            &mut self.rule,
        )?;
        narrow_window(&view, index, rate_window, flags, window)?;
        self.count(&view, index, rate_window, leaf)?;
        self.spend(&view, index, target, value, data, flags, rate_window)?;
        Ok(cursor)
    }

    /// `_selfRevoke`: the one call a session may make without a permission is `revokeSession` of its own session
    /// on the validator, with no value. The contract then marks the session revoked in its record (and emits
    /// `SessionRevoked`) during validation: a write that changes no verdict of this operation, so it is not
    /// mirrored (operations validated after it find the session revoked).
    fn check_self_revocation(
        &self,
        index: usize,
        target: Address,
        value: U256,
        data: &[u8],
    ) -> Step<()> {
        if target != self.input.validator
            || !value.is_zero()
            || data.len() != 36
            || data[..4] != revokeSessionCall::SELECTOR
            || data[4..36] != self.session_id[..]
        {
            fail!(InvalidSelfRevocation {
                callIndex: u(index),
                target: target
            });
        }
        Ok(())
    }

    /// `_checkNotRevoked`: a permission the owner revoked fails, whatever the call.
    fn check_not_revoked(&self, index: usize, leaf: B256) -> Step<()> {
        if self.input.state.revoked.contains(&leaf) {
            fail!(PermissionIsRevoked {
                callIndex: u(index),
                leaf: leaf
            });
        }
        Ok(())
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

    /// `_spend`: lifetime totals, or with `FLAG_PER_PERIOD` allowances per period; native value first, then the
    /// ERC-20 amount. `period`: the period the signature names (`context.window`).
    #[allow(clippy::too_many_arguments)]
    fn spend(
        &mut self,
        view: &PermissionView<'_>,
        index: usize,
        target: Address,
        value: U256,
        data: &[u8],
        flags: u8,
        period: u32,
    ) -> Step<()> {
        if flags & (FLAG_NATIVE_TOTAL | FLAG_ERC20_TOTAL) == 0 {
            if flags & FLAG_PER_PERIOD != 0 {
                fail!(InvalidPermissionFlags {
                    callIndex: u(index),
                    flags: flags
                });
            }
            return Ok(());
        }
        let per_period = flags & FLAG_PER_PERIOD != 0;
        if flags & FLAG_NATIVE_TOTAL != 0 {
            let limit = view.raw(P_NATIVE_TOTAL_LIMIT);
            if per_period {
                self.spend_in_period(view, index, period, Address::ZERO, value, limit)?;
            } else {
                let total = self.add_spent(Address::ZERO, value);
                if total > limit {
                    fail!(NativeTotalExceeded {
                        callIndex: u(index),
                        total: total,
                        limit: limit
                    });
                }
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
            let amount = word_at(data, start);
            let limit = view.raw(P_ERC20_TOTAL_LIMIT);
            if per_period {
                self.spend_in_period(view, index, period, target, amount, limit)?;
            } else {
                let total = self.add_spent(target, amount);
                if total > limit {
                    fail!(Erc20TotalExceeded {
                        callIndex: u(index),
                        token: target,
                        total: total,
                        limit: limit
                    });
                }
            }
        }
        Ok(())
    }

    /// `_spendInPeriod`: adds `amount` to the session's spending of `asset` in the period the signature names,
    /// under the permission's period definition (`rateLimitInterval`, `validAfter`), against `limit`. A later
    /// period than the latest one spent in starts from zero; an earlier one is refused. The spending accumulates
    /// within the operation: a later call of the batch under the same definition sees this one's.
    fn spend_in_period(
        &mut self,
        view: &PermissionView<'_>,
        index: usize,
        period: u32,
        asset: Address,
        amount: U256,
        limit: U256,
    ) -> Step<()> {
        // `permission.rateLimitInterval`, `permission.validAfter`: read (and range-checked) by `_narrowWindow`
        // already, so these reads do not revert.
        let interval = view.uint(P_RATE_LIMIT_INTERVAL, 48, "rateLimitInterval")?;
        let start = view.uint(P_VALID_AFTER, 48, "validAfter")?;
        let key = PeriodKey {
            asset,
            interval: to_u64(interval),
            start: to_u64(start),
        };
        if !self.keys.periods.contains(&key) {
            self.keys.periods.push(key);
        }
        let current = self.period_spent.get(&key).copied().unwrap_or_default();
        if period < current.period {
            fail!(SpendingPeriodPassed {
                callIndex: u(index),
                asset: asset,
                period: U256::from(period),
                latestPeriod: U256::from(current.period)
            });
        }
        let before = if period == current.period {
            current.spent
        } else {
            U256::ZERO
        };
        let total = before.saturating_add(amount);
        if let Some(call) = self.current.as_mut() {
            call.periods.push(PeriodSpending {
                key,
                period,
                amount,
                spent_before: before,
                spent_after: total,
                limit,
            });
        }
        if total > limit || total > MAX_PERIOD_SPENT {
            fail!(PeriodAllowanceExceeded {
                callIndex: u(index),
                asset: asset,
                period: U256::from(period),
                total: total,
                limit: limit
            });
        }
        self.period_spent.insert(
            key,
            PeriodSpent {
                period,
                spent: total,
            },
        );
        Ok(())
    }
}

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
) -> Step<u8> {
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

    check_rules(view, index, data, rule_detail)?;
    Ok(flags)
}

/// `_checkRule` (`SessionWireFormat`, shared with the typed-data verifier).
/// The loop over `permission.rules` (`_checkScope` and the typed-data verifier's `_checkScope`): at most
/// `MAX_RULES`, each read as a calldata struct (Solidity's offset checks revert without data) and checked over `data`.
pub(super) fn check_rules(
    view: &PermissionView<'_>,
    index: usize,
    data: &[u8],
    rule_detail: &mut Option<RuleDetail>,
) -> Step<()> {
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

/// `_narrowWindow`: the permission's window and, for a permission counting per period (a rate limit or
/// `FLAG_PER_PERIOD`), the period the signature names.
fn narrow_window(
    view: &PermissionView<'_>,
    index: usize,
    rate_window: u32,
    flags: u8,
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
    let rate_limited = !view
        .uint(P_RATE_LIMIT_COUNT, 32, "rateLimitCount")?
        .is_zero();
    if rate_limited || flags & FLAG_PER_PERIOD != 0 {
        let interval = view.uint(P_RATE_LIMIT_INTERVAL, 48, "rateLimitInterval")?;
        if interval.is_zero() {
            fail!(MalformedPermission {
                callIndex: u(index)
            });
        }
        let start = valid_after + U256::from(rate_window) * interval;
        let end = start + interval - U256::from(1);
        let source = if flags & FLAG_PER_PERIOD != 0 {
            WindowSource::Period {
                call: index,
                period: rate_window,
            }
        } else {
            WindowSource::RateLimitWindow {
                call: index,
                window: rate_window,
            }
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

//! Periodic allowances: what a permission with [`FLAG_PER_PERIOD`] leaves in the current period.
//!
//! With the flag, a permission's `nativeTotalLimit` (with `FLAG_NATIVE_TOTAL`) and `erc20TotalLimit` (with
//! `FLAG_ERC20_TOTAL`, on the permission's target token) are allowances per period of `rateLimitInterval` seconds:
//! period `k` spans `[validAfter + k * interval, validAfter + (k + 1) * interval - 1]`. The validator keeps, per
//! (session, asset, interval, validAfter), the latest period spent in and what was spent in it
//! (`periodSpentOf`); a later period starts from zero and an unused allowance does not roll over. The current
//! period is the one the signer names for an operation at the same time ([`Permission::rate_limit_window`]):
//! [`Client::prepare_session_op`] puts the period of the latest block's time in each call's signature entry.
//!
//! [`Client::period_allowances`] answers, for one permission at a time `now`, each of its allowances: the period
//! index, its start and the next period's, the limit, what was spent in it and what is left.

use alloy::eips::BlockId;
use alloy::primitives::{aliases::U48, Address, B256, U256};
use keyscope_bindings::SessionKeyValidator;
use keyscope_permissions::{Permission, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL, FLAG_PER_PERIOD};
use serde::Serialize;

use crate::client::{Account, Client};
use crate::error::Result;
use crate::explain::PeriodSpent;

/// One periodic allowance of a permission, in the period that is current at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodAllowance {
    /// The asset: the ERC-20 token (the permission's target), or `Address::ZERO` for native value.
    pub asset: Address,
    /// The period length in seconds (the permission's `rateLimitInterval`).
    pub interval: u64,
    /// When period 0 starts (the permission's `validAfter`).
    pub start: u64,
    /// The current period's index (what the signer names for an operation now).
    pub period: u32,
    /// When the current period started (its first second).
    pub period_start: u64,
    /// When the next period starts (the current one's last second plus one): the allowance is whole again then.
    pub next_period_start: u64,
    /// The allowance per period.
    pub limit: U256,
    /// Spent in the current period so far (counted over every permission of the session with the same asset,
    /// interval and start).
    pub spent: U256,
    /// What is left in the current period: `limit - spent`, or 0.
    pub left: U256,
    /// The latest period the validator has spending in, under this period definition.
    pub latest_period: u32,
}

impl PeriodAllowance {
    /// The allowance of `asset` with `limit` per period of `permission` at time `now`, from what the validator
    /// answers for it (`on_chain`). A latest period later than the current one (a `now` behind the chain's
    /// spending) leaves nothing: an operation naming the current period would be refused (`SpendingPeriodPassed`).
    pub fn at(
        permission: &Permission,
        asset: Address,
        limit: U256,
        now: u64,
        on_chain: PeriodSpent,
    ) -> Self {
        let interval = u48(permission.rateLimitInterval);
        let start = u48(permission.validAfter);
        let period = permission.rate_limit_window(now);
        let (period_start, next_period_start) = permission.window_bounds(period);
        let (period_start, next_period_start) =
            (saturated(period_start), saturated(next_period_start));
        let (spent, left) = match on_chain.period.cmp(&period) {
            core::cmp::Ordering::Less => (U256::ZERO, limit),
            core::cmp::Ordering::Equal => (on_chain.spent, limit.saturating_sub(on_chain.spent)),
            core::cmp::Ordering::Greater => (U256::ZERO, U256::ZERO),
        };
        Self {
            asset,
            interval,
            start,
            period,
            period_start,
            next_period_start,
            limit,
            spent,
            left,
            latest_period: on_chain.period,
        }
    }

    /// Whether this is the native-value allowance.
    pub fn is_native(&self) -> bool {
        self.asset == Address::ZERO
    }
}

/// The periodic allowances of `permission` as `(asset, limit per period)`: native value (`Address::ZERO`) with
/// `FLAG_NATIVE_TOTAL`, the target token with `FLAG_ERC20_TOTAL` (none for a permission on any target, whose
/// token is each call's target). Empty without [`FLAG_PER_PERIOD`] or without an interval.
pub fn periodic_limits(permission: &Permission) -> Vec<(Address, U256)> {
    if !permission.has_flag(FLAG_PER_PERIOD) || u48(permission.rateLimitInterval) == 0 {
        return Vec::new();
    }
    let mut limits = Vec::with_capacity(2);
    if permission.has_flag(FLAG_NATIVE_TOTAL) {
        limits.push((Address::ZERO, permission.nativeTotalLimit));
    }
    if permission.has_flag(FLAG_ERC20_TOTAL) && permission.target != Address::ZERO {
        limits.push((permission.target, permission.erc20TotalLimit));
    }
    limits
}

fn u48(value: U48) -> u64 {
    value.to::<u64>()
}

fn saturated(seconds: u128) -> u64 {
    u64::try_from(seconds).unwrap_or(u64::MAX)
}

impl Client {
    /// `periodSpentOf(account, sessionId, asset, interval, start)` at block `at` (the latest when `None`): the
    /// latest period the session spent `asset` (`Address::ZERO`: native value) in, under the period definition
    /// `(interval, start)`, and what it spent in it, in the account's current epoch.
    pub async fn period_spent(
        &self,
        account: Address,
        session_id: B256,
        asset: Address,
        interval: U48,
        start: U48,
        at: Option<BlockId>,
    ) -> Result<PeriodSpent> {
        let validator =
            SessionKeyValidator::new(self.stack().session_key_validator, self.provider().clone());
        let call = validator.periodSpentOf(account, session_id, asset, interval, start);
        let call = match at {
            Some(at) => call.block(at),
            None => call,
        };
        let answer = call.call().await?;
        Ok(PeriodSpent {
            period: answer.period,
            spent: answer.spent,
        })
    }

    /// What each periodic allowance of `permission` (of session `session_id`) leaves on `account` in the period
    /// current at `now` (unix seconds; pass the latest block's time, as the signer does), read at the latest
    /// block. Empty for a permission without [`FLAG_PER_PERIOD`].
    pub async fn period_allowances(
        &self,
        account: &Account,
        session_id: B256,
        permission: &Permission,
        now: u64,
    ) -> Result<Vec<PeriodAllowance>> {
        self.period_allowances_at(account.address, session_id, permission, now, None)
            .await
    }

    /// [`Client::period_allowances`] read at block `at` (the latest when `None`), whose time `now` should be.
    pub async fn period_allowances_at(
        &self,
        account: Address,
        session_id: B256,
        permission: &Permission,
        now: u64,
        at: Option<BlockId>,
    ) -> Result<Vec<PeriodAllowance>> {
        let mut allowances = Vec::new();
        for (asset, limit) in periodic_limits(permission) {
            let on_chain = self
                .period_spent(
                    account,
                    session_id,
                    asset,
                    permission.rateLimitInterval,
                    permission.validAfter,
                    at,
                )
                .await?;
            allowances.push(PeriodAllowance::at(permission, asset, limit, now, on_chain));
        }
        Ok(allowances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn periodic(flags: u8, start: u64, interval: u64) -> Permission {
        Permission {
            target: Address::repeat_byte(7),
            selector: [0xa9, 0x05, 0x9c, 0xbb].into(),
            flags,
            nativeTotalLimit: U256::from(5),
            erc20TotalLimit: U256::from(100),
            validAfter: U48::from(start),
            rateLimitInterval: U48::from(interval),
            ..Default::default()
        }
    }

    #[test]
    fn limits_follow_the_flags() {
        let erc20 = periodic(FLAG_ERC20_TOTAL | FLAG_PER_PERIOD, 0, DAY);
        assert_eq!(
            periodic_limits(&erc20),
            vec![(Address::repeat_byte(7), U256::from(100))]
        );
        let both = periodic(
            FLAG_NATIVE_TOTAL | FLAG_ERC20_TOTAL | FLAG_PER_PERIOD,
            0,
            DAY,
        );
        assert_eq!(periodic_limits(&both).len(), 2);
        assert_eq!(periodic_limits(&both)[0], (Address::ZERO, U256::from(5)));
        // Lifetime totals, or no interval: nothing periodic.
        assert!(periodic_limits(&periodic(FLAG_ERC20_TOTAL, 0, DAY)).is_empty());
        assert!(periodic_limits(&periodic(FLAG_ERC20_TOTAL | FLAG_PER_PERIOD, 0, 0)).is_empty());
    }

    #[test]
    fn left_in_the_current_period() {
        let start = 1_000;
        let permission = periodic(FLAG_ERC20_TOTAL | FLAG_PER_PERIOD, start, DAY);
        let token = Address::repeat_byte(7);
        let limit = U256::from(100);
        // Day 2, 1 hour in; 30 spent in day 2.
        let now = start + 2 * DAY + 3600;
        let spent = |period, spent: u64| PeriodSpent {
            period,
            spent: U256::from(spent),
        };
        let same = PeriodAllowance::at(&permission, token, limit, now, spent(2, 30));
        assert_eq!(
            (same.period, same.period_start, same.next_period_start),
            (2, start + 2 * DAY, start + 3 * DAY)
        );
        assert_eq!((same.spent, same.left), (U256::from(30), U256::from(70)));
        // Spent in an earlier period only: the current one is whole.
        let earlier = PeriodAllowance::at(&permission, token, limit, now, spent(1, 100));
        assert_eq!((earlier.spent, earlier.left), (U256::ZERO, limit));
        assert_eq!(earlier.latest_period, 1);
        // Never spent (the view answers 0, 0).
        let never = PeriodAllowance::at(&permission, token, limit, now, PeriodSpent::default());
        assert_eq!(never.left, limit);
        // Over the limit (another permission with a higher limit shares the spending): nothing left.
        let over = PeriodAllowance::at(&permission, token, limit, now, spent(2, 150));
        assert_eq!(over.left, U256::ZERO);
        // A later period already spent in: the current one has passed for the validator.
        let passed = PeriodAllowance::at(&permission, token, limit, now, spent(3, 1));
        assert_eq!((passed.spent, passed.left), (U256::ZERO, U256::ZERO));
        // Before the permission starts: period 0.
        let before = PeriodAllowance::at(&permission, token, limit, 10, PeriodSpent::default());
        assert_eq!(
            (before.period, before.period_start, before.next_period_start),
            (0, start, start + DAY)
        );
        // The last second of a period is in it; the next second starts the next one.
        let last = PeriodAllowance::at(&permission, token, limit, start + DAY - 1, spent(0, 1));
        assert_eq!((last.period, last.left), (0, U256::from(99)));
        let next = PeriodAllowance::at(&permission, token, limit, start + DAY, spent(0, 1));
        assert_eq!((next.period, next.left), (1, limit));
    }
}

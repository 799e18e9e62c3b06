//! Fee scopes: what a session's operations may cost, counted as the `SessionKeyValidator` counts it.
//!
//! A session commits to a most-wei-per-operation bound (`Session.maxOperationFee`) and a budget for its whole
//! life (`Session.feeBudget`), either of which may be unlimited (`UNLIMITED_FEE`, an explicit owner choice). The
//! validator charges every operation its *maximum* cost, [`max_operation_cost`]: the prefund EntryPoint v0.7 and
//! v0.8 require, the sum of the operation's gas limits times its `maxFeePerGas`, whoever pays (a paymaster may
//! recover its cost from the account). It refuses an operation over the per-operation bound
//! (`OperationFeeExceeded`) or one that would take the session's charges past the budget (`FeeBudgetExceeded`),
//! and keeps the charges in `feesChargedOf(account, sessionId)`.
//!
//! The [`Client`](crate::Client) and the [`BundlerClient`](crate::BundlerClient) keep the session operations
//! they prepare within that scope *before signing*: when an operation's maximum cost is over
//! [`FeeUsage::allowance`], they lower its `maxFeePerGas` to fit, but never below what the chain takes now (the
//! latest block's base fee plus the operation's `maxPriorityFeePerGas`); when even that does not fit, nothing
//! is signed and the answer is [`Error::FeeScopeExceeded`](crate::Error::FeeScopeExceeded), in ETH and gwei.

use alloy::primitives::U256;
use keyscope_permissions::{values, FeeBound, FeeScopeSpec, Session};
use keyscope_signer::PackedUserOperation;

/// The gas an operation may use in all, as the EntryPoint (and the validator) add it up: `verificationGasLimit +
/// callGasLimit + preVerificationGas`, plus `paymasterVerificationGasLimit + paymasterPostOpGasLimit` when
/// `paymasterAndData` holds them (52 bytes or more). `None` when `preVerificationGas` or the sum is 2^128 or more,
/// where the validator saturates the fee to 2^256 − 1.
pub fn operation_gas(op: &PackedUserOperation) -> Option<u128> {
    let pre_verification = u128::try_from(op.preVerificationGas).ok()?;
    let (verification, call) = op.gas_limits();
    let (paymaster_verification, post_op) = op.paymaster_gas_limits().unwrap_or_default();
    verification
        .checked_add(call)?
        .checked_add(pre_verification)?
        .checked_add(paymaster_verification)?
        .checked_add(post_op)
}

/// The most `op` can cost, in wei: [`operation_gas`] × `maxFeePerGas`, the prefund EntryPoint v0.7 and v0.8
/// require and what the `SessionKeyValidator` charges to a session's fee scope, bit for bit (2^256 − 1 where the
/// gas does not fit 128 bits, as the validator saturates).
pub fn max_operation_cost(op: &PackedUserOperation) -> U256 {
    match operation_gas(op) {
        Some(gas) => U256::from(gas) * U256::from(op.gas_fees().1),
        None => U256::MAX,
    }
}

/// Which bound of a fee scope an operation would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeeLimit {
    /// The session's most wei per operation (`maxOperationFee`; the validator's `OperationFeeExceeded`).
    PerOperation,
    /// What is left of the session's fee budget (`feeBudget − feesChargedOf`; the validator's
    /// `FeeBudgetExceeded`).
    Budget,
}

impl core::fmt::Display for FeeLimit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::PerOperation => "per-operation fee bound",
            Self::Budget => "fee budget",
        })
    }
}

/// A session's fee scope and what its operations were charged so far on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeUsage {
    /// The scope the session commits to.
    pub scope: FeeScopeSpec,
    /// `feesChargedOf(account, sessionId)`: the maximum costs of the session's operations validated in the
    /// account's current epoch, added up (0 for a session never used, granted in an earlier epoch, or whose
    /// budget is unlimited: the validator then keeps no count).
    pub charged: U256,
}

impl FeeUsage {
    /// The usage of `session` with `charged` wei charged.
    pub fn new(session: &Session, charged: U256) -> Self {
        Self {
            scope: FeeScopeSpec::from_contract(session.maxOperationFee, session.feeBudget),
            charged,
        }
    }

    /// The most wei one operation may cost (`None`: unlimited).
    pub fn per_operation(&self) -> Option<U256> {
        self.scope.per_operation.wei().map(U256::from)
    }

    /// The budget in wei (`None`: unlimited).
    pub fn budget(&self) -> Option<U256> {
        self.scope.budget.wei().map(U256::from)
    }

    /// What is left of the budget (`None`: unlimited); zero once it is spent.
    pub fn left(&self) -> Option<U256> {
        self.budget()
            .map(|budget| budget.saturating_sub(self.charged))
    }

    /// Whether neither bound is set: the validator then charges nothing.
    pub fn is_unlimited(&self) -> bool {
        self.scope == FeeScopeSpec::UNLIMITED
    }

    /// The most the next operation may cost, and the bound that sets it: the per-operation bound or what is
    /// left of the budget, whichever is lower (the per-operation bound on a tie). `None` when both are unlimited.
    pub fn allowance(&self) -> Option<(U256, FeeLimit)> {
        match (self.per_operation(), self.left()) {
            (None, None) => None,
            (Some(limit), None) => Some((limit, FeeLimit::PerOperation)),
            (None, Some(left)) => Some((left, FeeLimit::Budget)),
            (Some(limit), Some(left)) if left < limit => Some((left, FeeLimit::Budget)),
            (Some(limit), Some(_)) => Some((limit, FeeLimit::PerOperation)),
        }
    }

    /// The bound an operation costing at most `cost` wei would break, as the validator checks it (the
    /// per-operation bound first), and that bound in wei (for [`FeeLimit::Budget`]: what is left).
    pub fn exceeded_by(&self, cost: U256) -> Option<(FeeLimit, U256)> {
        if let Some(limit) = self.per_operation() {
            if cost > limit {
                return Some((FeeLimit::PerOperation, limit));
            }
        }
        let left = self.left()?;
        (cost > left).then_some((FeeLimit::Budget, left))
    }
}

impl core::fmt::Display for FeeUsage {
    /// `"0.0031 ETH charged of a 0.1 ETH budget (0.0969 ETH left); at most 0.01 ETH per operation"`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.scope.budget {
            FeeBound::Wei(budget) => write!(
                f,
                "{} charged of a {} budget ({} left)",
                ether(self.charged),
                ether(U256::from(budget)),
                ether(self.left().unwrap_or_default())
            )?,
            FeeBound::Unlimited => write!(
                f,
                "NO fee budget (unlimited; the validator keeps no count, {} charged)",
                ether(self.charged)
            )?,
        }
        match self.scope.per_operation {
            FeeBound::Wei(limit) => {
                write!(f, "; at most {} per operation", ether(U256::from(limit)))
            }
            FeeBound::Unlimited => f.write_str("; NO per-operation bound"),
        }
    }
}

/// `wei` in ETH, exactly: `"0.00312 ETH"`.
pub fn ether(wei: U256) -> String {
    if wei == U256::MAX {
        return "2^256 - 1 wei (saturated)".to_owned();
    }
    format!("{} ETH", values::format_decimal(wei, 18))
}

/// `wei` per gas in gwei, exactly: `"2.000000007 gwei"`.
pub fn gwei(wei: u128) -> String {
    format!("{} gwei", values::format_decimal(U256::from(wei), 9))
}

/// Why a session operation was not signed: its maximum cost is over its session's fee scope, and lowering its
/// `maxFeePerGas` to what the chain takes now would not make it fit ([`crate::Error::FeeScopeExceeded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeScopeExceeded {
    /// The bound the operation cannot fit: the lower of the per-operation bound and what is left of the budget
    /// ([`FeeUsage::allowance`]).
    pub limit_kind: FeeLimit,
    /// The bound in wei: the per-operation bound, or what is left of the budget.
    pub limit: U256,
    /// The operation's maximum cost in wei at its `maxFeePerGas` ([`max_operation_cost`]).
    pub max_cost: U256,
    /// Its gas ([`operation_gas`]; `None`: 2^128 or more).
    pub gas: Option<u128>,
    /// Its `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// The lowest `maxFeePerGas` the chain takes now (the latest base fee plus the operation's
    /// `maxPriorityFeePerGas`): how far the SDK would have lowered it.
    pub min_fee_per_gas: u128,
    /// What the session's operations were charged so far (`feesChargedOf`).
    pub charged: U256,
}

impl FeeScopeExceeded {
    /// The operation's cost at [`Self::min_fee_per_gas`].
    pub fn min_cost(&self) -> U256 {
        match self.gas {
            Some(gas) => U256::from(gas) * U256::from(self.min_fee_per_gas),
            None => U256::MAX,
        }
    }
}

impl core::fmt::Display for FeeScopeExceeded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let gas = self
            .gas
            .map_or_else(|| "2^128 or more".to_owned(), |gas| gas.to_string());
        write!(
            f,
            "the operation may cost up to {} ({gas} gas × {} maxFeePerGas)",
            ether(self.max_cost),
            gwei(self.max_fee_per_gas),
        )?;
        if self.min_fee_per_gas < self.max_fee_per_gas {
            write!(
                f,
                ", {} even at the lowest fee the chain takes now ({})",
                ether(self.min_cost()),
                gwei(self.min_fee_per_gas)
            )?;
        }
        match self.limit_kind {
            FeeLimit::PerOperation => write!(
                f,
                ": over the session's per-operation fee bound of {}",
                ether(self.limit)
            ),
            FeeLimit::Budget => write!(
                f,
                ": over what is left of the session's fee budget, {} ({} charged of {})",
                ether(self.limit),
                ether(self.charged),
                ether(self.limit.saturating_add(self.charged))
            ),
        }
    }
}

/// Lowers `op`'s `maxFeePerGas` so that its maximum cost fits `allowance`, but not below `min_fee_per_gas`;
/// `Err` (with the operation unchanged) when it cannot fit. An operation that fits already is left as it is.
pub(crate) fn fit(
    op: &mut PackedUserOperation,
    usage: &FeeUsage,
    min_fee_per_gas: u128,
) -> Result<(), Box<FeeScopeExceeded>> {
    let cost = max_operation_cost(op);
    if usage.exceeded_by(cost).is_none() {
        return Ok(());
    }
    // Over a bound: the lower of the two is what the operation must fit (and what the error names).
    let Some((limit, limit_kind)) = usage.allowance() else {
        return Ok(());
    };
    let (priority, max_fee) = op.gas_fees();
    let gas = operation_gas(op);
    if let Some(gas) = gas.filter(|gas| *gas > 0) {
        let fitting = u128::try_from(limit / U256::from(gas)).unwrap_or(u128::MAX);
        if fitting >= min_fee_per_gas && fitting < max_fee {
            op.set_gas_fees(priority.min(fitting), fitting);
            return Ok(());
        }
    }
    Err(Box::new(FeeScopeExceeded {
        limit_kind,
        limit,
        max_cost: cost,
        gas,
        max_fee_per_gas: max_fee,
        min_fee_per_gas,
        charged: usage.charged,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, B256};
    use keyscope_permissions::UNLIMITED_FEE;
    use keyscope_signer::userop::paymaster_and_data;

    fn op(
        verification: u128,
        call: u128,
        pre_verification: U256,
        max_fee: u128,
    ) -> PackedUserOperation {
        let mut op = PackedUserOperation {
            preVerificationGas: pre_verification,
            ..Default::default()
        };
        op.set_gas_limits(verification, call);
        op.set_gas_fees(1, max_fee);
        op
    }

    fn usage(per_operation: u128, budget: u128, charged: u64) -> FeeUsage {
        let session = Session {
            signer: Address::ZERO,
            validAfter: Default::default(),
            validUntil: Default::default(),
            permissionsRoot: B256::ZERO,
            paymasterPolicy: 0,
            paymaster: Address::ZERO,
            maxOperationFee: per_operation,
            feeBudget: budget,
            salt: B256::ZERO,
        };
        FeeUsage::new(&session, U256::from(charged))
    }

    #[test]
    fn max_cost_is_the_entry_points_prefund() {
        let mut o = op(100_000, 50_000, U256::from(21_000), 3_000_000_000);
        assert_eq!(operation_gas(&o), Some(171_000));
        assert_eq!(
            max_operation_cost(&o),
            U256::from(171_000u64 * 3_000_000_000)
        );
        // The paymaster's limits count once paymasterAndData holds them (52 bytes).
        o.paymasterAndData = paymaster_and_data(Address::repeat_byte(1), 40_000, 9_000, &[7]);
        assert_eq!(operation_gas(&o), Some(220_000));
        o.paymasterAndData = o.paymasterAndData.slice(..51);
        assert_eq!(operation_gas(&o), Some(171_000));
        // maxPriorityFeePerGas does not count.
        o.set_gas_fees(u128::MAX, 2);
        assert_eq!(max_operation_cost(&o), U256::from(342_000));
        // Saturation where the validator saturates: a preVerificationGas of 2^128, a sum of 2^128.
        let big = op(1, 1, U256::from(1) << 128, 1);
        assert_eq!(max_operation_cost(&big), U256::MAX);
        let sum = op(u128::MAX, 1, U256::ZERO, 0);
        assert_eq!(operation_gas(&sum), None);
        assert_eq!(max_operation_cost(&sum), U256::MAX);
        // Just under 2^128 gas times the largest fee still fits 256 bits.
        let edge = op(u128::MAX - 1, 1, U256::ZERO, u128::MAX);
        assert_eq!(
            max_operation_cost(&edge),
            U256::from(u128::MAX) * U256::from(u128::MAX)
        );
    }

    #[test]
    fn allowance_is_the_lower_bound() {
        let u = usage(10, 100, 95);
        assert_eq!(u.left(), Some(U256::from(5)));
        assert_eq!(u.allowance(), Some((U256::from(5), FeeLimit::Budget)));
        assert_eq!(u.exceeded_by(U256::from(5)), None);
        assert_eq!(
            u.exceeded_by(U256::from(6)),
            Some((FeeLimit::Budget, U256::from(5)))
        );
        // The per-operation bound is checked first, as the validator does.
        assert_eq!(
            u.exceeded_by(U256::from(11)),
            Some((FeeLimit::PerOperation, U256::from(10)))
        );
        let spent = usage(10, 100, 150);
        assert_eq!(spent.left(), Some(U256::ZERO));
        let open = usage(UNLIMITED_FEE, UNLIMITED_FEE, 0);
        assert!(open.is_unlimited());
        assert_eq!(open.allowance(), None);
        assert_eq!(open.exceeded_by(U256::MAX), None);
        let per_op_only = usage(10, UNLIMITED_FEE, 0);
        assert_eq!(per_op_only.left(), None);
        assert_eq!(
            per_op_only.allowance(),
            Some((U256::from(10), FeeLimit::PerOperation))
        );
        assert_eq!(
            usage(UNLIMITED_FEE, 100, 30).allowance(),
            Some((U256::from(70), FeeLimit::Budget))
        );
    }

    #[test]
    fn fit_lowers_the_fee_down_to_the_chains_floor_only() {
        // 100 000 gas at 30 gwei = 0.003 ETH, bound 0.002 ETH: 20 gwei fits, above a 5 gwei floor.
        let bound = 2_000_000_000_000_000u128;
        let u = usage(bound, 10 * bound, 0);
        let mut o = op(50_000, 29_000, U256::from(21_000), 30_000_000_000);
        fit(&mut o, &u, 5_000_000_000).unwrap();
        assert_eq!(o.gas_fees(), (1, 20_000_000_000));
        assert_eq!(max_operation_cost(&o), U256::from(bound));
        // Fitting already: unchanged.
        let before = o.clone();
        fit(&mut o, &u, 5_000_000_000).unwrap();
        assert_eq!(o, before);
        // A floor of 25 gwei: no fee the chain takes fits; the error says what it would cost.
        let mut o = op(50_000, 29_000, U256::from(21_000), 30_000_000_000);
        let error = fit(&mut o, &u, 25_000_000_000).unwrap_err();
        assert_eq!(o.gas_fees(), (1, 30_000_000_000), "unchanged");
        assert_eq!(error.limit_kind, FeeLimit::PerOperation);
        assert_eq!(error.limit, U256::from(bound));
        assert_eq!(error.max_cost, U256::from(3_000_000_000_000_000u64));
        assert_eq!(error.min_cost(), U256::from(2_500_000_000_000_000u64));
        let text = error.to_string();
        assert!(
            text.contains("may cost up to 0.003 ETH (100000 gas × 30 gwei maxFeePerGas)")
                && text.contains("0.0025 ETH even at the lowest fee the chain takes now (25 gwei)")
                && text.contains("over the session's per-operation fee bound of 0.002 ETH"),
            "{text}"
        );
        // The budget: 0.0015 ETH left of 0.1 ETH; 15 gwei fits; the priority fee follows a lower max fee.
        let u = usage(
            UNLIMITED_FEE,
            100_000_000_000_000_000,
            98_500_000_000_000_000,
        );
        let mut o = op(50_000, 29_000, U256::from(21_000), 30_000_000_000);
        o.set_gas_fees(20_000_000_000, 30_000_000_000);
        fit(&mut o, &u, 0).unwrap();
        assert_eq!(o.gas_fees(), (15_000_000_000, 15_000_000_000));
        let mut o = op(50_000, 29_000, U256::from(21_000), 30_000_000_000);
        let error = fit(&mut o, &u, 16_000_000_000).unwrap_err();
        assert_eq!(error.limit_kind, FeeLimit::Budget);
        let text = error.to_string();
        assert!(
            text.contains(
                "over what is left of the session's fee budget, 0.0015 ETH (0.0985 ETH charged of 0.1 ETH)"
            ),
            "{text}"
        );
        // Saturated gas never fits.
        let mut o = op(u128::MAX, 1, U256::ZERO, 1);
        let error = fit(&mut o, &usage(10, 100, 0), 0).unwrap_err();
        assert_eq!((error.gas, error.max_cost), (None, U256::MAX));
        assert!(error.to_string().contains("2^128 or more gas"), "{error}");
        // Unlimited: anything goes, untouched.
        let mut o = op(u128::MAX, 1, U256::ZERO, u128::MAX);
        fit(&mut o, &usage(UNLIMITED_FEE, UNLIMITED_FEE, 0), u128::MAX).unwrap();
    }

    #[test]
    fn usage_reads_in_ether() {
        let u = usage(
            10_000_000_000_000_000,
            100_000_000_000_000_000,
            3_120_000_000_000_000,
        );
        assert_eq!(
            u.to_string(),
            "0.00312 ETH charged of a 0.1 ETH budget (0.09688 ETH left); at most 0.01 ETH per operation"
        );
        assert_eq!(
            usage(UNLIMITED_FEE, UNLIMITED_FEE, 0).to_string(),
            "NO fee budget (unlimited; the validator keeps no count, 0 ETH charged); NO per-operation bound"
        );
        assert_eq!(gwei(2_000_000_007), "2.000000007 gwei");
    }
}

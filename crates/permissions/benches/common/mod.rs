//! The permissions the tree benchmark and the `tree_timing` example build trees of, so both time the same trees.

use alloy_primitives::{aliases::U48, keccak256, Address, B256, U256};
use keyscope_permissions::{
    abi::{RuleOperator, SELECTOR_TRANSFER},
    ArgRule, Permission, FLAG_ERC20_TOTAL,
};

/// Realistic permissions: one token transfer each, half of them with a rule on the amount, all with limits.
pub fn permissions(n: usize) -> Vec<Permission> {
    (0..n)
        .map(|i| {
            let seed = keccak256((i as u64).to_be_bytes());
            let mut p = Permission {
                target: Address::from_slice(&seed[..20]),
                selector: SELECTOR_TRANSFER,
                flags: FLAG_ERC20_TOTAL,
                erc20TotalLimit: U256::from(1_000_000u64) * U256::from(i as u64 + 1),
                validAfter: U48::from(1_767_225_600u64),
                validUntil: U48::from(1_796_126_400u64),
                maxUses: 10,
                ..Default::default()
            };
            if i % 2 == 0 {
                p.rules.push(ArgRule {
                    operator: RuleOperator::Lte as u8,
                    argIndex: 1,
                    operands: vec![B256::from(U256::from(100u64 * (i as u64 + 1)))],
                });
            }
            p
        })
        .collect()
}

//! The Rust half of `script/merkle-ratio.sh`: builds a [`PermissionTree`] of `N` deterministic, realistic
//! permissions on one thread (best wall-clock time of `REPEAT` runs, and mean thread CPU time), and writes
//! everything the JavaScript half (`script/merkle-ratio.cjs`) needs to time `StandardMerkleTree.of` on the very
//! same permissions:
//!
//! ```text
//! cargo run --release -p keyscope-permissions --example merkle_ratio -- N OUT.json [REPEAT]
//! ```
//!
//! `OUT.json` is `{"n", "leafEncoding", "root", "rustSeconds", "rustCpuSeconds", "repeat", "values"}`, `values`
//! being the permissions in the `values` format of `StandardMerkleTree.of(values, [LEAF_ENCODING])`: one
//! `[tuple]` per leaf, `uint256` as decimal strings, smaller integers as numbers, addresses and bytes as `0x` hex.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use alloy_primitives::{aliases::U48, keccak256, Address, FixedBytes, B256, U256};
use keyscope_permissions::{
    abi::{SELECTOR_APPROVE, SELECTOR_TRANSFER},
    ArgRule, Permission, PermissionTree, RuleOperator, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL,
    FLAG_NATIVE_TOTAL, FLAG_NATIVE_TRANSFER,
};
use serde_json::{json, Value};

/// `StandardMerkleTree` leaf encoding of a `Permission`.
const LEAF_ENCODING: &str = "(address,bytes4,uint8,uint256,uint256,uint256,uint48,uint48,uint32,uint32,uint48,(uint8,uint16,bytes32[])[])";

/// Permission `i` of every run: a mix of the shapes a session grants, all fields drawn from `keccak256(i)`.
/// - ERC-20 `transfer` to one of 1–3 recipients, amount ≤ a cap, total limit, use and rate limits;
/// - ERC-20 `approve` of one spender, amount ≤ a cap, total limit;
/// - plain native transfers to any target, per-call and total value limits;
/// - a call of some other function of some contract, in a time window, sometimes with a bitmask rule.
fn permission(i: u64) -> Permission {
    let seed = keccak256(i.to_be_bytes());
    let word = |k: u8| keccak256([seed.as_slice(), &[k]].concat());
    let address = |k: u8| Address::from_slice(&word(k)[12..]);
    let small =
        |k: u8, modulus: u64| u64::from_be_bytes(word(k)[..8].try_into().unwrap()) % modulus;
    let amount =
        |k: u8| U256::from(1 + small(k, 1_000_000)) * U256::from(10u64).pow(U256::from(18));
    let valid_after = 1_767_225_600 + small(1, 86_400 * 30);
    let mut p = Permission {
        target: address(0),
        validAfter: U48::from(valid_after),
        validUntil: U48::from(valid_after + 86_400 * (1 + small(2, 365))),
        ..Default::default()
    };
    match i % 4 {
        0 => {
            p.selector = SELECTOR_TRANSFER;
            p.flags = FLAG_ERC20_TOTAL;
            p.erc20TotalLimit = amount(3);
            p.maxUses = 1 + small(4, 100) as u32;
            p.rateLimitCount = 1 + small(5, 10) as u32;
            p.rateLimitInterval = U48::from(3_600u64);
            let recipients = 1 + small(6, 3) as u8;
            p.rules = vec![
                ArgRule {
                    operator: RuleOperator::OneOf as u8,
                    argIndex: 0,
                    operands: (0..recipients)
                        .map(|k| address(10 + k).into_word())
                        .collect(),
                },
                ArgRule {
                    operator: RuleOperator::Lte as u8,
                    argIndex: 1,
                    operands: vec![B256::from(amount(7))],
                },
            ];
        }
        1 => {
            p.selector = SELECTOR_APPROVE;
            p.flags = FLAG_ERC20_TOTAL;
            p.erc20TotalLimit = amount(3);
            p.maxUses = 1 + small(4, 5) as u32;
            p.rules = vec![
                ArgRule {
                    operator: RuleOperator::Eq as u8,
                    argIndex: 0,
                    operands: vec![address(10).into_word()],
                },
                ArgRule {
                    operator: RuleOperator::Lte as u8,
                    argIndex: 1,
                    operands: vec![B256::from(amount(7))],
                },
            ];
        }
        2 => {
            p.target = Address::ZERO;
            p.flags = FLAG_NATIVE_TRANSFER | FLAG_ANY_TARGET | FLAG_NATIVE_TOTAL;
            p.valueLimit = amount(3) / U256::from(1_000u64);
            p.nativeTotalLimit = amount(4);
            p.rateLimitCount = 1 + small(5, 10) as u32;
            p.rateLimitInterval = U48::from(86_400u64);
        }
        _ => {
            p.selector = FixedBytes::from_slice(&word(3)[..4]);
            p.maxUses = small(4, 1_000) as u32;
            if small(5, 2) == 0 {
                p.rules.push(ArgRule {
                    operator: RuleOperator::Bitmask as u8,
                    argIndex: small(6, 4) as u16,
                    operands: vec![B256::with_last_byte(0xff), B256::with_last_byte(0x01)],
                });
            }
        }
    }
    p
}

/// The `StandardMerkleTree` value of a permission: `[tuple]`.
fn value(p: &Permission) -> Value {
    let small = |v: U48| json!(v.to::<u64>());
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| {
            let operands: Vec<String> = r.operands.iter().map(B256::to_string).collect();
            json!([r.operator, r.argIndex, operands])
        })
        .collect();
    json!([[
        p.target.to_string(),
        p.selector.to_string(),
        p.flags,
        p.valueLimit.to_string(),
        p.nativeTotalLimit.to_string(),
        p.erc20TotalLimit.to_string(),
        small(p.validAfter),
        small(p.validUntil),
        p.maxUses,
        p.rateLimitCount,
        small(p.rateLimitInterval),
        rules
    ]])
}

/// User + system CPU seconds of the calling thread, from /proc (Linux; 0 elsewhere).
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .skip(11) // state … cmajflt: utime and stime are the 12th and 13th fields after the name
        .take(2)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: merkle_ratio N OUT.json [REPEAT]";
    let n: u64 = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let out = args.next().expect(usage);
    let repeat: usize = args.next().map_or(3, |a| a.parse().expect(usage));

    let permissions: Vec<Permission> = (0..n).map(permission).collect();
    let build = || {
        PermissionTree::from_permissions(black_box(&permissions))
            .unwrap()
            .root()
    };
    // Wall clock: the best of `repeat` builds.
    let mut best = f64::INFINITY;
    let mut root = B256::ZERO;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        root = build();
        best = best.min(start.elapsed().as_secs_f64());
    }
    // CPU time: the mean over at least `repeat` builds and 1 s of CPU (the clock ticks in hundredths), or 10 s.
    let (start, wall, mut runs) = (thread_cpu(), Instant::now(), 0u32);
    while runs < repeat.max(1) as u32
        || (thread_cpu() - start < 1.0 && wall.elapsed().as_secs() < 10)
    {
        assert_eq!(build(), root);
        runs += 1;
    }
    let cpu = (thread_cpu() - start) / f64::from(runs);
    let values: Vec<Value> = permissions.iter().map(value).collect();
    let report = json!({
        "n": n,
        "leafEncoding": LEAF_ENCODING,
        "root": root.to_string(),
        "rustSeconds": best,
        "rustCpuSeconds": cpu,
        "repeat": repeat,
        "values": values,
    });
    let file = std::io::BufWriter::new(std::fs::File::create(&out).expect("create OUT.json"));
    serde_json::to_writer(file, &report).expect("write OUT.json");
    println!(
        "rust: {n} leaves: wall {best:.4} s (best of {repeat}), cpu {cpu:.4} s (mean of {runs}), root {root}"
    );
}

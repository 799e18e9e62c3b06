//! One-shot timing of userOpHash + session-key signing, wall clock and this thread's CPU time (Linux), so the
//! figure can be read on a busy machine: `cargo run --release --example sign_timing`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use alloy_primitives::{Address, Bytes, U256};
use keyscope_signer::{
    user_op_hash_v07, user_op_hash_v08, PackedUserOperation, SessionKey, ENTRY_POINT_V07,
    ENTRY_POINT_V08,
};

fn thread_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let key = SessionKey::from_bytes(&[7u8; 32]).unwrap();
    let mut op = PackedUserOperation {
        sender: Address::repeat_byte(0x11),
        nonce: U256::from(42u8),
        callData: Bytes::from(vec![0xab; 228]),
        ..Default::default()
    };
    op.set_gas_limits(300_000, 100_000);
    let n = 20_000u64;
    for version in ["v0.7", "v0.8"] {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        for i in 0..n {
            op.nonce = U256::from(i);
            let hash = if version == "v0.7" {
                user_op_hash_v07(&op, ENTRY_POINT_V07, 1)
            } else {
                user_op_hash_v08(&op, ENTRY_POINT_V08, 1, None).unwrap()
            };
            std::hint::black_box(key.sign_hash_bytes(&hash).unwrap());
        }
        println!(
            "{version} userOpHash + sign: wall {:.1} µs, cpu {:.1} µs per op",
            wall.elapsed().as_secs_f64() * 1e6 / n as f64,
            (thread_cpu() - cpu) * 1e6 / n as f64
        );
    }
}

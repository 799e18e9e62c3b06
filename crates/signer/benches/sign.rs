//! userOpHash and session-key signing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use criterion::{criterion_group, criterion_main, Criterion};
use keyscope_signer::{
    user_op_hash_v07, user_op_hash_v08, PackedUserOperation, SessionKey, ENTRY_POINT_V07,
    ENTRY_POINT_V08,
};

fn op() -> PackedUserOperation {
    let mut op = PackedUserOperation {
        sender: Address::repeat_byte(0x11),
        nonce: U256::from(42u8),
        callData: Bytes::from(vec![0xab; 228]), // execute(single transfer)
        preVerificationGas: U256::from(50_000u32),
        ..Default::default()
    };
    op.set_gas_limits(300_000, 100_000);
    op.set_gas_fees(1_000_000_000, 30_000_000_000);
    op
}

fn bench(c: &mut Criterion) {
    let key = SessionKey::from_bytes(&[7u8; 32]).unwrap();
    let op = op();
    let mut group = c.benchmark_group("userop");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("hash_v07", |b| {
        b.iter(|| user_op_hash_v07(black_box(&op), ENTRY_POINT_V07, 1))
    });
    group.bench_function("hash_v08", |b| {
        b.iter(|| user_op_hash_v08(black_box(&op), ENTRY_POINT_V08, 1, None).unwrap())
    });
    let hash = B256::repeat_byte(5);
    group.bench_function("sign", |b| {
        b.iter(|| key.sign_hash_bytes(black_box(&hash)).unwrap())
    });
    group.bench_function("hash_v07_and_sign", |b| {
        b.iter(|| {
            key.sign_hash_bytes(&user_op_hash_v07(black_box(&op), ENTRY_POINT_V07, 1))
                .unwrap()
        })
    });
    group.bench_function("hash_v08_and_sign", |b| {
        b.iter(|| {
            key.sign_hash_bytes(
                &user_op_hash_v08(black_box(&op), ENTRY_POINT_V08, 1, None).unwrap(),
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Permission tree benchmarks: build (leaf hashing, sorting, internal nodes), proofs and verification.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use alloy_primitives::{keccak256, B256};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use keyscope_permissions::{verify, Permission, PermissionTree};

mod common;

use common::permissions;

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree_build");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let all = permissions(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("from_permissions", n), &all, |b, all| {
            b.iter(|| {
                PermissionTree::from_permissions(black_box(all))
                    .unwrap()
                    .root()
            })
        });
        let leaves: Vec<B256> = all.iter().map(Permission::leaf).collect();
        group.bench_with_input(BenchmarkId::new("from_leaves", n), &leaves, |b, leaves| {
            b.iter_batched(
                || leaves.clone(),
                |l| PermissionTree::from_leaves(l).unwrap().root(),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let n = 1 << 20; // depth 20
    let leaves: Vec<B256> = (0..n as u64).map(|i| keccak256(i.to_be_bytes())).collect();
    let tree = PermissionTree::from_leaves(leaves.clone()).unwrap();
    let root = tree.root();
    let mut group = c.benchmark_group("proof_depth_20");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut buffer = Vec::with_capacity(32);
    let mut i = 0usize;
    group.bench_function("make_into_buffer", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            tree.proof_into(black_box(i), &mut buffer).unwrap();
            buffer.len()
        })
    });
    group.bench_function("make_vec", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            tree.proof(black_box(i)).unwrap()
        })
    });
    let proof = tree.proof(12345).unwrap();
    assert_eq!(proof.len(), 20);
    group.bench_function("verify", |b| {
        b.iter(|| verify(black_box(root), black_box(leaves[12345]), black_box(&proof)))
    });
    let one = permissions(1).remove(0);
    group.bench_function("leaf_hash_with_rule", |b| b.iter(|| black_box(&one).leaf()));
    group.finish();
}

criterion_group!(benches, build, proofs);
criterion_main!(benches);

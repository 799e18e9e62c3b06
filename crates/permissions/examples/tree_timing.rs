//! One-shot timing of a permission tree build, wall clock and this thread's CPU time (Linux), so the figure can be
//! read on a busy machine: `cargo run --release --example tree_timing -- 1000000`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use alloy_primitives::B256;
use keyscope_permissions::{Permission, PermissionTree};

/// The tree benchmark's permissions.
#[path = "../benches/common/mod.rs"]
mod common;

use common::permissions;

/// User + system CPU seconds of the calling thread, from /proc (0 where unavailable).
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
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let permissions = permissions(n);
    let leaves: Vec<B256> = permissions.iter().map(Permission::leaf).collect();
    for (name, run) in [
        (
            "from_permissions (1 thread)",
            &(|| {
                PermissionTree::from_permissions(&permissions)
                    .unwrap()
                    .root()
            }) as &dyn Fn() -> B256,
        ),
        ("from_leaves (1 thread)", &|| {
            PermissionTree::from_leaves(leaves.clone()).unwrap().root()
        }),
    ] {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let root = run();
        println!(
            "{name}: {n} leaves, wall {:.3} s, cpu {:.3} s, root {root}",
            wall.elapsed().as_secs_f64(),
            thread_cpu() - cpu
        );
    }
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let wall = Instant::now();
    let root = PermissionTree::from_permissions_parallel(&permissions, threads)
        .unwrap()
        .root();
    println!(
        "from_permissions_parallel ({threads} threads): wall {:.3} s, root {root}",
        wall.elapsed().as_secs_f64()
    );
}

#!/usr/bin/env bash
# How much faster keyscope-permissions builds a permission Merkle tree than @openzeppelin/merkle-tree
# (the issue's goal: ≥ 125×), measured in one run on the same leaves:
#   1. the Rust example merkle_ratio (crates/permissions/examples/merkle_ratio.rs) generates N deterministic,
#      realistic permissions, times PermissionTree::from_permissions on one thread and writes the permissions,
#      in StandardMerkleTree `values` format, with its root and times to a temporary JSON file;
#   2. script/merkle-ratio.cjs times StandardMerkleTree.of on those values, checks the roots are equal and
#      prints the table (sizes, wall and CPU times, ratios). Exits non-zero if any root differs.
#
# Usage: script/merkle-ratio.sh [N...]          (default: 10000 30000; about a minute on 2 busy cores)
# Environment: REPEAT (timed runs per side, default 3), JS_BUDGET (seconds after which JS stops repeating,
# default 30; a JS build of 100,000 leaves takes 1–3 minutes), CARGO_TARGET_DIR as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -d node_modules/@openzeppelin/merkle-tree ] || source script/toolchain.sh  # npm ci when missing

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 30000)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet -p keyscope-permissions --example merkle_ratio
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/merkle_ratio"
reports=()
for n in "${sizes[@]}"; do
  "$bin" "$n" "$work/$n.json" "${REPEAT:-3}"
  reports+=("$work/$n.json")
done
# Up to 1e6 leaves the values (~240 MB of JSON) need more than node's default heap.
node --expose-gc --max-old-space-size=8192 script/merkle-ratio.cjs "${reports[@]}"

#!/usr/bin/env bash
# All tests, from a fresh clone: installs the toolchain, then runs every forge and cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
source script/toolchain.sh

# Every random input is seeded and the seeds are printed, so that a failure can be replayed exactly: forge's fuzz
# and invariant seed is in foundry.toml; proptest and the explain differential test take theirs from the
# environment (set one of these to explore other inputs, or to replay a CI log's run).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-7738725071202512997}"
export KEYSCOPE_EXPLAIN_SEED="${KEYSCOPE_EXPLAIN_SEED:-7738725071202512997}"
echo "==> seeds: forge fuzz $(sed -n 's/^seed = "\(.*\)"/\1/p' foundry.toml | head -1), PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED, KEYSCOPE_EXPLAIN_SEED=$KEYSCOPE_EXPLAIN_SEED"

echo "==> [${SECONDS}s] forge test (profile ${FOUNDRY_PROFILE:=ci})"
export FOUNDRY_PROFILE
forge test

if [ -f Cargo.toml ]; then
  echo "==> [${SECONDS}s] cargo test --workspace"
  cargo test --workspace --locked
fi

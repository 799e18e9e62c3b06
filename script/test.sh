#!/usr/bin/env bash
# All tests, from a fresh clone: installs the toolchain, then runs every forge and cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
source script/toolchain.sh

echo "==> [${SECONDS}s] forge test (profile ${FOUNDRY_PROFILE:=ci})"
export FOUNDRY_PROFILE
forge test

if [ -f Cargo.toml ]; then
  echo "==> [${SECONDS}s] cargo test --workspace"
  cargo test --workspace --locked
fi
